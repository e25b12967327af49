"""Pages of reintegration and follow-up (SOP 4 steps 9–10).

The record (the plan, the follow-ups with their state, the reports received
from the origin node), the plan form and one follow-up's report form. Each
page reads the case through :func:`trm.cases.selectors.case_get_for_user`
(no access answers 404), refuses a legal-track-only user (403), a user whose
roles may not act (403) or a state that does not allow it (409), and writes
only through :mod:`trm.reintegration.services`. A refusal re-displays the form
with the message next to its field.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from trm.accounts.models import User
from trm.cases import selectors as case_selectors
from trm.cases.errors import TransitionNotAllowed
from trm.cases.messages import conversation_peers
from trm.cases.models import Case
from trm.common.errors import DomainError, NotFound, PermissionDenied
from trm.common.forms import add_domain_error
from trm.identification.common import require_roles
from trm.reintegration import forms as reintegration_forms
from trm.reintegration import selectors, services
from trm.reintegration.errors import FollowUpNotFound


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - login_required guarantees it
    return user


def _detail_url(case: Case, anchor: str = "") -> str:
    url = reverse("reintegration:detail", args=[case.pk])
    return f"{url}#{anchor}" if anchor else url


def _writable(request: HttpRequest, case_id: UUID) -> tuple[User, Case]:
    user = _user(request)
    case, access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    selectors.reintegration_access_for_user(user=user, case=case)
    require_roles(access, services.PLAN_ROLES)
    if not selectors.may_act(case, access):
        raise TransitionNotAllowed(
            _(
                "Reintegration is planned and followed up once the person has "
                "returned and been handed over (SOP 4)."
            )
        )
    return user, case


@login_required
@never_cache
@require_GET
def detail_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Show the plan, the follow-ups and the reports received."""
    user = _user(request)
    case, access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    record = selectors.reintegration_record_for_user(user=user, case=case)
    return render(
        request,
        "reintegration/detail.html",
        {"case": case, "record": record, "may_act": selectors.may_act(case, access)},
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def plan_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Record the reintegration plan (it schedules the follow-ups)."""
    user, case = _writable(request, case_id)
    nodes = (
        [p.node_id for p in conversation_peers(case.trm_case_ref)]
        if case.trm_case_ref
        else []
    )
    posted = request.method == "POST"
    form = reintegration_forms.PlanForm(request.POST if posted else None, nodes=nodes)
    if posted and form.is_valid():
        try:
            services.reintegration_plan_record(
                actor=user, case_id=case.pk, **form.cleaned_data
            )
        except (NotFound, PermissionDenied):
            raise
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(
                request,
                _("The reintegration plan is recorded and its follow-ups scheduled."),
            )
            return HttpResponseRedirect(_detail_url(case, "follow-ups"))
    return render(
        request,
        "reintegration/form.html",
        {"case": case, "title": _("Reintegration plan"), "form": form},
        status=400 if posted else 200,
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def report_view(
    request: HttpRequest, case_id: UUID, follow_up_id: UUID
) -> HttpResponse:
    """Record one follow-up's report and, if the person agrees, send it back."""
    user, case = _writable(request, case_id)
    follow_up = selectors.follow_up_for_user(
        user=user, case=case, follow_up_id=follow_up_id
    )
    if follow_up is None:
        raise FollowUpNotFound(_("No such follow-up on this case."))
    if follow_up.is_reported:
        raise TransitionNotAllowed(_("This follow-up is already reported."))
    destination = services.destination_node(case, services.current_plan(case))
    consents = selectors.consents_for_report(case, destination)
    posted = request.method == "POST"
    form = reintegration_forms.ReportForm(
        request.POST if posted else None, consents=consents
    )
    if posted and form.is_valid():
        data = form.cleaned_data
        chosen = data["consent_id"]
        try:
            services.followup_report_record(
                actor=user,
                case_id=case.pk,
                follow_up_id=follow_up.pk,
                reported_on=data["reported_on"],
                services_given=data["services_given"],
                status=form.status(),
                risk_level=data["risk_level"],
                risk_note=data["risk_note"],
                contact_kept=data["contact_kept"],
                send=data["send"],
                consent_id=chosen.pk if chosen else None,
            )
        except (NotFound, PermissionDenied) as exc:
            # The consent's refusal is the person's choice, shown at its field.
            if exc.code != "consent.missing":
                raise
            form.add_error("consent_id", exc.message)
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(
                request,
                _("The follow-up report is recorded and sent.")
                if data["send"]
                else _("The follow-up report is recorded (not sent)."),
            )
            return HttpResponseRedirect(_detail_url(case, "follow-ups"))
    return render(
        request,
        "reintegration/report.html",
        {
            "case": case,
            "follow_up": follow_up,
            "form": form,
            "destination": destination,
            "consents": consents,
        },
        status=400 if posted else 200,
    )
