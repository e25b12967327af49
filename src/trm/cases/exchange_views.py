"""Pages of the transnational channel on a case: alert a counterpart node (M1)
and send an urgent safety alert (M14).

Reads go through :func:`trm.cases.selectors.case_get_for_user`; writes through
:func:`trm.cases.services.case_alert_send` and
:func:`~trm.cases.services.safety_alert_send`. Nothing personal is in a URL.
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
from django.views.decorators.http import require_http_methods

from trm.accounts.models import Role, User
from trm.cases import selectors, services
from trm.cases.errors import CaseRoleRequired, TransitionNotAllowed
from trm.cases.forms import AlertForm, SafetyAlertForm
from trm.cases.messages import alert_peers
from trm.common.errors import DomainError, NotFound
from trm.common.forms import add_domain_error


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - login_required guarantees it
    return user


def _back(case_id: UUID) -> str:
    return reverse("cases:detail", args=[case_id]) + "#transnational"


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def case_alert_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Alert a counterpart node about the case (the national contact point)."""
    user = _user(request)
    case, access = selectors.case_get_for_user(user=user, case_id=case_id)
    if Role.NATIONAL_CONTACT_POINT not in access.roles:
        raise CaseRoleRequired(
            _("Only the national contact point alerts a counterpart node.")
        )
    if case.is_closed:
        raise TransitionNotAllowed(_("The case is closed."))
    peers = [(p.node_id, label) for p, label in alert_peers(case)]
    form = AlertForm(request.POST or None, peers=peers)
    if request.method == "POST" and form.is_valid():
        try:
            services.case_alert_send(
                actor=user,
                case_id=case.pk,
                peer_node=form.cleaned_data["peer_node"],
                urgency=form.cleaned_data["urgency"],
                requests=form.cleaned_data["requests"],
            )
        except DomainError as exc:
            if isinstance(exc, NotFound):
                raise
            add_domain_error(form, exc)
        else:
            messages.success(
                request,
                _(
                    "The alert is queued; the counterpart's acknowledgement "
                    "links the case."
                ),
            )
            return HttpResponseRedirect(_back(case.pk))
    return render(
        request,
        "cases/transnational_form.html",
        {
            "title": _("Alert a counterpart node"),
            "case": case,
            "intro": _(
                "The alert is pseudonymous: sex, age group, whether the person may be "
                "a child, claimed nationality, type of exploitation, urgency and what "
                "you ask. No name or document travels with it."
            ),
            "form": form,
            "submit": _("Send the alert"),
            "back": _back(case.pk),
        },
        status=400 if request.method == "POST" else 200,
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def case_safety_alert_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Send an urgent safety alert about the case to a counterpart node."""
    user = _user(request)
    case, access = selectors.case_get_for_user(user=user, case_id=case_id)
    if not (access.roles & services.SAFETY_ALERT_ROLES) or (
        access.via_policy and Role.NATIONAL_CONTACT_POINT not in access.roles
    ):
        raise CaseRoleRequired(_("Your role on this case does not send safety alerts."))
    if case.is_closed:
        raise TransitionNotAllowed(_("The case is closed."))
    peers = [(p.node_id, label) for p, label in alert_peers(case)]
    form = SafetyAlertForm(request.POST or None, peers=peers)
    if request.method == "POST" and form.is_valid():
        try:
            services.safety_alert_send(
                actor=user,
                case_id=case.pk,
                peer_node=form.cleaned_data["peer_node"],
                nature=form.cleaned_data["nature"],
                reason=form.cleaned_data["reason"],
                actions_requested=form.cleaned_data["actions_requested"],
                people_at_risk=form.cleaned_data["people_at_risk"],
            )
        except DomainError as exc:
            if isinstance(exc, NotFound):
                raise
            add_domain_error(form, exc)
        else:
            messages.success(request, _("The urgent safety alert is queued."))
            return HttpResponseRedirect(_back(case.pk))
    return render(
        request,
        "cases/transnational_form.html",
        {
            "title": _("Send an urgent safety alert"),
            "case": case,
            "intro": _(
                "Use this when someone's life or safety is at risk: it goes without "
                "the person's consent, so the reason is recorded and audited."
            ),
            "form": form,
            "submit": _("Send the urgent alert"),
            "danger": True,
            "back": _back(case.pk),
        },
        status=400 if request.method == "POST" else 200,
    )
