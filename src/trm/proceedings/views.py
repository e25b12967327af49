"""Pages of SOP 5 proceedings, under ``cases/<uuid:case_id>/proceedings/``.

Every page reads the case through :func:`trm.cases.selectors.case_get_for_user`
(no access answers 404) and the records through :mod:`trm.proceedings.selectors`
(audited; a role that does not read them answers 403). Each action page is one
form calling one service: a role that may not use it answers 403, a case that
does not allow it now (closed) 409; a refusal of the service re-displays the
form (400) with the message next to the field it names and keeps what was
typed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from django_stubs_ext import StrOrPromise

from trm.accounts.models import Role, User
from trm.cases import selectors as case_selectors
from trm.cases.access import CaseAccess
from trm.cases.errors import CaseRoleRequired, TransitionNotAllowed
from trm.cases.models import Case
from trm.common.errors import DomainError, NotFound, PermissionDenied
from trm.common.forms import add_domain_error
from trm.consent.errors import ConsentMissing
from trm.proceedings import forms as pf
from trm.proceedings import notices, selectors, services
from trm.proceedings.common import (
    CHARGE_ROLES,
    COMPENSATION_ROLES,
    HEARING_ROLES,
    NON_PUNISHMENT_DECIDERS,
    NOTICE_READERS,
    NOTICE_SENDERS,
    PROTECTION_ROLES,
    RIGHTS_ROLES,
    may_read,
    may_write,
)
from trm.proceedings.errors import ProceedingsRecordNotFound
from trm.proceedings.models import (
    CompensationClaim,
    NonPunishment,
    ProtectionMeasure,
)

Call = Callable[[User, Case, UUID | None, dict[str, Any], forms.Form], object]


@dataclass(frozen=True)
class Action:
    """One form of the proceedings pages: who may use it and the service it calls."""

    title: StrOrPromise
    submit: StrOrPromise
    roles: frozenset[str]
    form: type[forms.Form]
    call: Call
    record: type[ProtectionMeasure | CompensationClaim | NonPunishment] | None = None
    done: StrOrPromise = ""


def _kw(data: dict[str, Any], *names: str) -> dict[str, Any]:
    return {n: data.get(n) for n in names}


def _text(data: dict[str, Any], name: str) -> str:
    return str(data.get(name) or "")


ACTIONS: dict[str, Action] = {
    "rights": Action(
        gettext_lazy("Record that the person was informed of their rights"),
        gettext_lazy("Record the rights information"),
        RIGHTS_ROLES,
        pf.RightsForm,
        lambda u, c, r, d, f: services.rights_inform(
            actor=u,
            case_id=c.pk,
            informed_on=d.get("informed_on"),
            language=_text(d, "language"),
            interpreter=d.get("interpreter"),
            has_lawyer=d.get("has_lawyer"),
            lawyer=_text(d, "lawyer"),
        ),
    ),
    "lawyer": Action(
        gettext_lazy("Record the lawyer"),
        gettext_lazy("Record the lawyer"),
        RIGHTS_ROLES,
        pf.LawyerForm,
        lambda u, c, r, d, f: services.legal_aid_appoint(
            actor=u, case_id=c.pk, lawyer=_text(d, "lawyer")
        ),
    ),
    "protection_assess": Action(
        gettext_lazy("Record a risk assessment for a protection measure"),
        gettext_lazy("Record the assessment"),
        PROTECTION_ROLES,
        pf.ProtectionAssessForm,
        lambda u, c, r, d, f: services.protection_assess(
            actor=u,
            case_id=c.pk,
            kind=_text(d, "kind"),
            assessed_on=d.get("assessed_on"),
        ),
    ),
    "protection_order": Action(
        gettext_lazy("Record that the protection measure was ordered"),
        gettext_lazy("Record the order"),
        PROTECTION_ROLES,
        pf.ProtectionOrderForm,
        lambda u, c, r, d, f: services.protection_order(
            actor=u,
            case_id=c.pk,
            measure_id=r,  # type: ignore[arg-type]
            ordering_authority=_text(d, "ordering_authority"),
            ordered_on=d.get("ordered_on"),
        ),
        ProtectionMeasure,
    ),
    "protection_lift": Action(
        gettext_lazy("Record that the protection measure was lifted"),
        gettext_lazy("Record the lifting"),
        PROTECTION_ROLES,
        pf.ProtectionLiftForm,
        lambda u, c, r, d, f: services.protection_lift(
            actor=u,
            case_id=c.pk,
            measure_id=r,  # type: ignore[arg-type]
            lifted_on=d.get("lifted_on"),
        ),
        ProtectionMeasure,
    ),
    "compensation_file": Action(
        gettext_lazy("Record a compensation claim"),
        gettext_lazy("Record the claim"),
        COMPENSATION_ROLES,
        pf.ClaimFileForm,
        lambda u, c, r, d, f: services.compensation_file(
            actor=u,
            case_id=c.pk,
            route=_text(d, "route"),
            filed_on=d.get("filed_on"),
            amount=d.get("amount"),
            currency=_text(d, "currency"),
        ),
    ),
    "compensation_award": Action(
        gettext_lazy("Record that compensation was awarded"),
        gettext_lazy("Record the award"),
        COMPENSATION_ROLES,
        pf.ClaimAwardForm,
        lambda u, c, r, d, f: services.compensation_award(
            actor=u,
            case_id=c.pk,
            claim_id=r,  # type: ignore[arg-type]
            decided_on=d.get("decided_on"),
            amount=d.get("amount"),
            currency=_text(d, "currency"),
        ),
        CompensationClaim,
    ),
    "compensation_reject": Action(
        gettext_lazy("Record that the claim was rejected"),
        gettext_lazy("Record the rejection"),
        COMPENSATION_ROLES,
        pf.ClaimRejectForm,
        lambda u, c, r, d, f: services.compensation_reject(
            actor=u,
            case_id=c.pk,
            claim_id=r,  # type: ignore[arg-type]
            decided_on=d.get("decided_on"),
        ),
        CompensationClaim,
    ),
    "compensation_paid": Action(
        gettext_lazy("Record that the compensation was paid"),
        gettext_lazy("Record the payment"),
        COMPENSATION_ROLES,
        pf.ClaimPaidForm,
        lambda u, c, r, d, f: services.compensation_record_paid(
            actor=u,
            case_id=c.pk,
            claim_id=r,  # type: ignore[arg-type]
            settled_on=d.get("settled_on"),
            amount=d.get("amount"),
            currency=_text(d, "currency"),
        ),
        CompensationClaim,
    ),
    "compensation_unpaid": Action(
        gettext_lazy("Record that the compensation was not paid"),
        gettext_lazy("Record it as unpaid"),
        COMPENSATION_ROLES,
        pf.ClaimUnpaidForm,
        lambda u, c, r, d, f: services.compensation_record_unpaid(
            actor=u,
            case_id=c.pk,
            claim_id=r,  # type: ignore[arg-type]
            settled_on=d.get("settled_on"),
        ),
        CompensationClaim,
    ),
    "charge_flag": Action(
        gettext_lazy("Flag a charge linked to the trafficking"),
        gettext_lazy("Flag the charge"),
        CHARGE_ROLES,
        pf.ChargeForm,
        lambda u, c, r, d, f: services.charge_flag(
            actor=u,
            case_id=c.pk,
            offence=_text(d, "offence"),
            flagged_on=d.get("flagged_on"),
            charge=_text(d, "charge"),
        ),
    ),
    "non_punishment_request": Action(
        gettext_lazy("Record that a non-punishment assessment was asked for"),
        gettext_lazy("Record the request"),
        CHARGE_ROLES,
        pf.AssessmentRequestForm,
        lambda u, c, r, d, f: services.non_punishment_request(
            actor=u,
            case_id=c.pk,
            record_id=r,  # type: ignore[arg-type]
            requested_on=d.get("requested_on"),
        ),
        NonPunishment,
    ),
    "non_punishment_decide": Action(
        gettext_lazy("Record the outcome of the non-punishment assessment"),
        gettext_lazy("Record the outcome"),
        NON_PUNISHMENT_DECIDERS,
        pf.NonPunishmentDecisionForm,
        lambda u, c, r, d, f: services.non_punishment_decide(
            actor=u,
            case_id=c.pk,
            record_id=r,  # type: ignore[arg-type]
            outcome=_text(d, "outcome"),
            decided_on=d.get("decided_on"),
            legal_reference=_text(d, "legal_reference"),
        ),
        NonPunishment,
    ),
    "hearing_add": Action(
        gettext_lazy("Record a hearing"),
        gettext_lazy("Record the hearing"),
        HEARING_ROLES,
        pf.HearingForm,
        lambda u, c, r, d, f: services.hearing_record(
            actor=u,
            case_id=c.pk,
            at=d.get("at"),
            court=_text(d, "court"),
            kind=_text(d, "kind"),
            remote_country=_text(d, "remote_country"),
            interpreter_needed=bool(d.get("interpreter_needed")),
        ),
    ),
    "notice_send": Action(
        gettext_lazy("Send a proceedings notice to the counterpart node"),
        gettext_lazy("Send the notice"),
        NOTICE_SENDERS,
        pf.NoticeForm,
        lambda u, c, r, d, f: notices.proceedings_notice_send(
            actor=u,
            case_id=c.pk,
            peer_node=_text(d, "peer_node"),
            kind=_text(d, "kind"),
            legal_basis=f.legal_basis() if isinstance(f, pf.NoticeForm) else "",
            hearing_at=d.get("hearing_at"),
            support_needed=d.get("support_needed") or [],
            outcome=_text(d, "outcome"),
            judicial_reference=_text(d, "judicial_reference"),
        ),
        done=gettext_lazy("The notice is queued for the counterpart node."),
    ),
}


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - login_required guarantees it
    return user


def may_send_notice(access: CaseAccess) -> bool:
    """Whether ``access`` may send a notice (the NCP also through node policy)."""
    if access.via_policy:
        return Role.NATIONAL_CONTACT_POINT in access.roles
    return bool(access.roles & NOTICE_SENDERS)


def _check(case: Case, access: CaseAccess, name: str, action: Action) -> None:
    allowed = (
        may_send_notice(access)
        if name == "notice_send"
        else may_write(access, action.roles)
    )
    if not allowed:
        if access.via_policy:
            raise CaseRoleRequired(_("Join the case team to do this."))
        raise CaseRoleRequired(
            _("Only these roles on the case may do this: %(roles)s.")
            % {"roles": ", ".join(str(Role(r).label) for r in sorted(action.roles))}
        )
    if case.is_closed:
        raise TransitionNotAllowed(_("The case is closed."))


def _notice_form_options(user: User, case: Case) -> dict[str, list[tuple[str, str]]]:
    """The nodes sharing the case, and the person's consents a notice may rest on
    (valid consents to a transfer abroad covering legal data, read through the
    consent selector, which audits the read)."""
    from trm.consent.models import Purpose
    from trm.consent.selectors import VALID, consent_list_for_case

    consents = []
    for row in consent_list_for_case(user=user, case=case):
        consent = row.consent
        if (
            consent.purpose == Purpose.CROSS_BORDER_TRANSFER
            and row.state == VALID
            and "legal" in consent.categories
        ):
            label = _(
                "The person's consent to a transfer to %(country)s, given on %(date)s"
            ) % {
                "country": consent.recipient_country.name or "—",
                "date": f"{timezone.localdate(consent.given_at):%Y-%m-%d}",
            }
            consents.append((f"consent:{consent.pk}", label))
    peers = [(p, p) for p in notices.notice_peers(case)]
    return {"peers": peers, "consents": consents}


def _form(name: str, user: User, case: Case, data: Any = None) -> forms.Form:
    action = ACTIONS[name]
    if action.form is pf.NoticeForm:
        return pf.NoticeForm(data, **_notice_form_options(user, case))
    return action.form(data)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def action_view(
    request: HttpRequest, case_id: UUID, action: str, record_id: UUID | None = None
) -> HttpResponse:
    """Show one proceedings form and record it through its service."""
    spec = ACTIONS[action]
    user = _user(request)
    case, access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    _check(case, access, action, spec)
    if spec.record is not None and (
        record_id is None
        or not spec.record.objects.filter(pk=record_id, case=case).exists()
    ):
        raise ProceedingsRecordNotFound(_("No such record on this case."))
    form = _form(action, user, case, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            spec.call(user, case, record_id, form.cleaned_data, form)
        except DomainError as exc:
            if isinstance(exc, NotFound | PermissionDenied) and not isinstance(
                exc, ConsentMissing
            ):
                raise
            add_domain_error(form, exc)
        else:
            messages.success(request, str(spec.done or _("Recorded.")))
            return HttpResponseRedirect(reverse("proceedings:page", args=[case.pk]))
    return render(
        request,
        "proceedings/form.html",
        {"case": case, "form": form, "title": spec.title, "submit": spec.submit},
        status=400 if request.method == "POST" else 200,
    )


@login_required
@never_cache
@require_GET
def page_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Show the legal track, the rights information, the sub-tracks and the
    notices of a case, with the forms the user may use."""
    user = _user(request)
    case, access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    readable = may_read(access)
    view = selectors.proceedings_for_user(user=user, case=case) if readable else None
    notice_views = (
        selectors.notices_for_user(user=user, case=case)
        if may_read(access, NOTICE_READERS)
        else None
    )
    if view is None and notice_views is None:
        # Neither: the selector says why (403).
        selectors.proceedings_access_for_user(user=user, case=case)
    open_case = not case.is_closed
    can = {
        name: open_case and may_write(access, spec.roles)
        for name, spec in ACTIONS.items()
    }
    can["notice_send"] = (
        open_case and may_send_notice(access) and bool(notices.notice_peers(case))
    )
    return render(
        request,
        "proceedings/page.html",
        {
            "case": case,
            "view": view,
            "notices": notice_views,
            "can": can,
            "legal_state": case.get_legal_display(),
        },
    )
