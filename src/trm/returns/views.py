"""Pages of the return record: the record with what still blocks the journey,
and one form per service.

Each page reads the case through :func:`trm.cases.selectors.case_get_for_user`
(no access answers 404), refuses a legal-track-only user (403), a user whose
roles may not do this (403) or a state that does not allow it (409), and
writes only through :mod:`trm.returns.services`. A refusal re-displays the form
with the message next to its field; a blocked journey lists every blocker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from trm.accounts.models import Role, User
from trm.cases import selectors as case_selectors
from trm.cases.errors import TransitionNotAllowed
from trm.cases.models import Case
from trm.common.errors import DomainError, NotFound, PermissionDenied
from trm.common.forms import add_domain_error
from trm.identification.common import require_roles
from trm.returns import forms as return_forms
from trm.returns import selectors, services
from trm.returns.errors import ReturnBlocked
from trm.returns.models import JointRiskAssessment
from trm.returns.services import across


@dataclass(frozen=True)
class FormPage:
    """One form of the return record: who, when, what it calls."""

    title: Callable[[], str]
    form: type[forms.Form]
    roles: frozenset[str]
    allowed: Callable[[selectors.Permissions], bool]
    perform: Callable[[User, Case, dict[str, Any]], object]
    success: Callable[[], str]
    #: The national contact point may act through node policy (the origin
    #: node's pages: the linked case is led by its organisation).
    policy_ok: bool = False
    #: Where a success goes back to (``returns:detail`` or ``returns:across``).
    back: str = "returns:detail"
    options: Callable[[User, Case], dict[str, Any]] | None = None


def _current_joint(case: Case) -> JointRiskAssessment:
    joint = JointRiskAssessment.objects.filter(case=case).first()
    if joint is None:
        raise TransitionNotAllowed(_("Record the joint risk assessment first."))
    return joint


def _transfer_consents(user: User, case: Case) -> list[tuple[str, str]]:
    """The person's valid consents to a transfer abroad covering the case
    summary (what the arrival point and itinerary travel under), read through
    the consent selector (which audits the read)."""
    from django.utils import timezone

    from trm.consent.models import Purpose
    from trm.consent.selectors import VALID, consent_list_for_case

    choices = []
    for row in consent_list_for_case(user=user, case=case):
        consent = row.consent
        if (
            consent.purpose == Purpose.CROSS_BORDER_TRANSFER
            and row.state == VALID
            and "case_summary" in consent.categories
        ):
            label = _(
                "Yes: the person's consent to a transfer to %(country)s, given on "
                "%(date)s"
            ) % {
                "country": consent.recipient_country.name or "—",
                "date": f"{timezone.localdate(consent.given_at):%Y-%m-%d}",
            }
            choices.append((f"consent:{consent.pk}", label))
    return choices


PAGES: dict[str, FormPage] = {
    "bid": FormPage(
        lambda: _("Best-interests determination"),
        return_forms.BidForm,
        services.BID_ROLES,
        lambda p: p.bid,
        lambda user, case, d: services.bid_record(
            actor=user,
            case_id=case.pk,
            determined_on=d["determined_on"],
            panel=d["panel"],
            outcome=d["outcome"],
            guardian_opinion=d["guardian_opinion"],
            child_views=d["child_views"],
            guardian_note=d["guardian_note"],
        ),
        lambda: _("The best-interests determination is recorded."),
    ),
    "joint_risk": FormPage(
        lambda: _("Joint pre-return risk and needs assessment"),
        return_forms.JointRiskForm,
        services.PLANNING_ROLES,
        lambda p: p.planning,
        lambda user, case, d: services.joint_risk_record(
            actor=user,
            case_id=case.pk,
            assessed_on=d["assessed_on"],
            valid_until=d["valid_until"],
            ratings=return_forms.ratings_of(d, "destination"),
            overall_level=d["overall_level"],
            mitigations=d["mitigations"],
            first_needs=d["first_needs"],
            needs_note=d["needs_note"],
            origin_ratings=return_forms.ratings_of(d, "origin") or None,
            origin_organisation=d["origin_organisation"],
        ),
        lambda: _("The joint risk assessment is recorded."),
    ),
    "joint_risk_origin": FormPage(
        lambda: _("Ratings of the country of origin"),
        return_forms.OriginRatingsForm,
        services.PLANNING_ROLES,
        lambda p: p.planning,
        lambda user, case, d: services.joint_risk_origin_record(
            actor=user,
            case_id=case.pk,
            assessment_id=_current_joint(case).pk,
            ratings=return_forms.ratings_of(d, "origin"),
            origin_organisation=d["origin_organisation"],
            rated_on=d["origin_rated_on"],
        ),
        lambda: _("The origin side's ratings are recorded."),
    ),
    "logistics": FormPage(
        lambda: _("Documents and journey"),
        return_forms.LogisticsForm,
        services.PLANNING_ROLES,
        lambda p: p.planning,
        lambda user, case, d: services.return_plan_update(
            actor=user, case_id=case.pk, **d
        ),
        lambda: _("The documents and the journey are saved."),
    ),
    "receiver": FormPage(
        lambda: _("Answer of the receiving organisation"),
        return_forms.ReceiverForm,
        services.PLANNING_ROLES,
        lambda p: p.planning,
        lambda user, case, d: services.receiver_decision_record(
            actor=user, case_id=case.pk, **d
        ),
        lambda: _("The receiving organisation's answer is recorded."),
    ),
    "in_transit": FormPage(
        lambda: _("Start the journey"),
        return_forms.TransitForm,
        services.TRANSIT_ROLES,
        lambda p: p.transit,
        lambda user, case, d: services.return_in_transit(
            actor=user, case_id=case.pk, **d
        ),
        lambda: _("The person is in transit; the country of origin is told."),
        options=lambda user, case: {"consents": _transfer_consents(user, case)},
    ),
    # --- across nodes -----------------------------------------------------------
    "joint_risk_share": FormPage(
        lambda: _("Send the joint assessment to the country of origin"),
        return_forms.ShareForm,
        services.PLANNING_ROLES,
        lambda p: p.planning,
        lambda user, case, d: across.joint_risk_share(
            actor=user, case_id=case.pk, to_node=d["to_node"] or None
        ),
        lambda: _("The joint assessment is on its way to the country of origin."),
        back="returns:across",
    ),
    "joint_risk_rate": FormPage(
        lambda: _("Our ratings of the joint assessment"),
        return_forms.OriginRateForm,
        services.PLANNING_ROLES,
        lambda p: p.origin,
        lambda user, case, d: across.joint_risk_origin_rate(
            actor=user,
            case_id=case.pk,
            ratings=return_forms.ratings_of(d, "origin"),
            rated_on=d["rated_on"],
        ),
        lambda: _("Our ratings are recorded and sent back."),
        policy_ok=True,
        back="returns:across",
    ),
    "plan_send": FormPage(
        lambda: _("Send the return plan to the country of origin"),
        return_forms.PlanSendForm,
        services.TRANSIT_ROLES,
        lambda p: p.plan_send,
        lambda user, case, d: across.return_plan_send(
            actor=user,
            case_id=case.pk,
            consent_id=d["consent_id"],
            to_node=d["to_node"] or None,
            medical_needs=d["medical_needs"],
        ),
        lambda: _("The return plan is on its way to the country of origin."),
        back="returns:across",
    ),
    "plan_answer": FormPage(
        lambda: _("Answer the return plan"),
        return_forms.PlanAnswerForm,
        services.PLANNING_ROLES,
        lambda p: p.origin,
        lambda user, case, d: across.return_plan_answer(
            actor=user,
            case_id=case.pk,
            decision=d["decision"],
            decline_reason=d["decline_reason"],
            receiving_organisation=d["receiving_organisation"],
            decided_on=d["decided_on"],
            case_manager_function=d["case_manager_function"],
            services=d["services"],
            carer_kind=d["carer_kind"],
            carer_confirmed_on=d["carer_confirmed_on"],
        ),
        lambda: _("Our answer is recorded and sent."),
        policy_ok=True,
        back="returns:across",
    ),
    "family_request": FormPage(
        lambda: _("Ask for a family assessment or tracing"),
        return_forms.FamilyRequestForm,
        across.FAMILY_ROLES,
        lambda p: p.family,
        lambda user, case, d: across.family_request_send(
            actor=user,
            case_id=case.pk,
            kind=d["kind"],
            questions=d["questions"],
            consent_id=d["consent_id"],
            to_node=d["to_node"] or None,
        ),
        lambda: _("The request is on its way to the country of origin."),
        back="returns:across",
    ),
    "family_report": FormPage(
        lambda: _("Answer the family request"),
        return_forms.FamilySendReportForm,
        services.PLANNING_ROLES,
        lambda p: p.origin,
        lambda user, case, d: across.family_report_send(
            actor=user,
            case_id=case.pk,
            legal_basis=d["legal_basis"],
            reported_on=d["reported_on"],
            assessor_function=d["assessor_function"],
            recommendation=d["recommendation"],
            findings=d["findings"],
        ),
        lambda: _("The report is recorded and sent."),
        policy_ok=True,
        back="returns:across",
    ),
    "family_record": FormPage(
        lambda: _("Record a family report received outside TRM"),
        return_forms.FamilyRecordForm,
        across.FAMILY_ROLES,
        lambda p: p.family,
        lambda user, case, d: across.family_report_record(
            actor=user,
            case_id=case.pk,
            kind=d["kind"],
            reported_on=d["reported_on"],
            assessor_function=d["assessor_function"],
            recommendation=d["recommendation"],
            findings=d["findings"],
        ),
        lambda: _("The family report is recorded."),
        back="returns:across",
    ),
}


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - login_required guarantees it
    return user


@login_required
@never_cache
@require_GET
def detail_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Show the return record and what still blocks the journey."""
    user = _user(request)
    case, access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    record = selectors.return_record_for_user(user=user, case=case)
    started = selectors.journey_started(case)
    return render(
        request,
        "returns/detail.html",
        {
            "case": case,
            "record": record,
            # Once the journey started, nothing is missing before it any more.
            "journey_started": started,
            "blockers": [] if started else record.status.blockers,
            "may": selectors.permissions(case, access),
            "child": case.person.presumed_child,
        },
    )


#: The SOP 4 steps each form serves ("Guidance for this step", trm.guidance);
#: a form not listed shows the guidance of every SOP 4 step.
GUIDANCE_STEPS: dict[str, tuple[str, ...]] = {
    "bid": ("sop4.best_interests_determination",),
    "joint_risk": ("sop4.joint_risk_assessment",),
    "joint_risk_origin": ("sop4.joint_risk_assessment",),
    "joint_risk_share": ("sop4.joint_risk_assessment",),
    "joint_risk_rate": ("sop4.joint_risk_assessment",),
    "receiver": ("sop4.receiver_confirmation",),
    "logistics": ("sop4.travel_documents",),
    "in_transit": ("sop4.handover",),
}


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def form_view(request: HttpRequest, case_id: UUID, name: str) -> HttpResponse:
    """Show one form of the return record; on a valid POST call its service."""
    page = PAGES.get(name)
    if page is None:
        raise Http404
    user = _user(request)
    case, access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    selectors.return_access_for_user(user=user, case=case)
    if not (
        page.policy_ok
        and access.via_policy
        and Role.NATIONAL_CONTACT_POINT in access.roles
    ):
        require_roles(access, page.roles)
    if not page.allowed(selectors.permissions(case, access)):
        raise TransitionNotAllowed(_("This is not possible in the case's state now."))
    posted = request.method == "POST"
    options = page.options(user, case) if page.options else {}
    form = page.form(request.POST if posted else None, **options)
    blockers: list[dict[str, str]] = []
    if posted and form.is_valid():
        try:
            page.perform(user, case, form.cleaned_data)
        except (NotFound, PermissionDenied):
            raise
        except ReturnBlocked as exc:
            blockers = exc.details["blockers"]
            form.add_error(None, _("The journey cannot start yet."))
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, page.success())
            return HttpResponseRedirect(reverse(page.back, args=[case.pk]))
    return render(
        request,
        "returns/form.html",
        {
            "case": case,
            "title": page.title(),
            "form": form,
            "blockers": blockers,
            "guidance_steps": GUIDANCE_STEPS.get(name, ("sop4",)),
        },
        status=400 if posted else 200,
    )


@login_required
@never_cache
@require_GET
def across_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Show what crossed the border about the return (both roles: the
    destination's messages and what arrived on the origin node) with the
    forms that answer it."""
    user = _user(request)
    case, access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    record = selectors.across_for_user(user=user, case=case)
    return render(
        request,
        "returns/across.html",
        {
            "case": case,
            "record": record,
            "may": selectors.permissions(case, access),
            "child": case.person.presumed_child,
        },
    )
