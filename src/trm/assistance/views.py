"""Pages of the assistance pathway: one form per move.

Each page reads the case through :func:`trm.cases.selectors.case_get_for_user`
(no access answers 404), refuses a user whose roles on the case do not move the
pathway (403) or a move the state does not allow (409), and writes only
through :mod:`trm.assistance.services`. A refusal of the service — a missing
consent, a missing needs assessment, a required note — re-displays the form
with the message and what was typed.
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
from django.views.decorators.http import require_http_methods

from trm.accounts.models import User
from trm.assistance import forms as assistance_forms
from trm.assistance import selectors, services
from trm.cases import selectors as case_selectors
from trm.cases.errors import CaseRoleRequired, TransitionNotAllowed
from trm.cases.models import Case
from trm.cases.tracks import TRACKS
from trm.common.errors import DomainError, NotFound
from trm.common.forms import add_domain_error
from trm.consent.errors import ConsentMissing


@dataclass(frozen=True)
class MovePage:
    """How one move's page asks and what it calls."""

    form: type[forms.Form]
    intro: Callable[[Case], list[str]]
    submit: Callable[[], str]
    success: Callable[[], str]
    perform: Callable[[User, Case, dict[str, Any]], object]


def _start_intro(case: Case) -> list[str]:
    intro = [
        _(
            "First assistance: safe accommodation, medical and psychological help, "
            "legal information and interpretation. It never depends on cooperating "
            "with the authorities."
        )
    ]
    try:
        services.require_assistance_consent(case)
    except ConsentMissing as exc:
        intro.append(exc.message)
    return intro


PAGES: dict[str, MovePage] = {
    "start": MovePage(
        assistance_forms.StartForm,
        _start_intro,
        lambda: _("Start first assistance"),
        lambda: _("First assistance has started."),
        lambda user, case, data: services.assistance_start(
            actor=user, case_id=case.pk, basis=data["basis"], reason=data["reason"]
        ),
    ),
    "decline": MovePage(
        assistance_forms.DeclineForm,
        lambda case: [
            _(
                "The person may decline assistance and come back at any time. "
                "Before recording it, tell them what help exists and how to reach it."
            )
        ],
        lambda: _("Record that assistance is declined"),
        lambda: _("Recorded: the person declines assistance for now."),
        lambda user, case, data: services.assistance_decline(
            actor=user,
            case_id=case.pk,
            information_given=data["information_given"],
            contact_details_given=data["contact_details_given"],
            reason=data["reason"],
        ),
    ),
    "long_term": MovePage(
        assistance_forms.ReasonForm,
        lambda case: [
            _(
                "Long-term assistance (SOP 3) starts from the person's assessed "
                "needs and a service agreement they consent to. The individual care "
                "plan then falls due within the days the national procedure sets."
            )
        ],
        lambda: _("Start long-term assistance"),
        lambda: _("Long-term assistance has started."),
        lambda user, case, data: services.long_term_start(
            actor=user, case_id=case.pk, reason=data["reason"]
        ),
    ),
    "return_preparation": MovePage(
        assistance_forms.ReasonForm,
        lambda case: [
            _(
                "A return is prepared only on the person's voluntary decision; for a "
                "child, with the guardian's agreement. The return itself is planned "
                "in SOP 4."
            )
        ],
        lambda: _("Start preparing the return"),
        lambda: _("Return preparation has started."),
        lambda user, case, data: services.return_preparation_start(
            actor=user, case_id=case.pk, reason=data["reason"]
        ),
    ),
    "close": MovePage(
        assistance_forms.CloseForm,
        lambda case: [
            _(
                "Closing assistance does not close the case: proceedings and other "
                "tracks go on. The person can come back to assistance later."
            )
        ],
        lambda: _("Close assistance"),
        lambda: _("Assistance is closed."),
        lambda user, case, data: services.assistance_close(
            actor=user,
            case_id=case.pk,
            closure=data["closure"],
            reason=data["reason"],
        ),
    ),
}


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - login_required guarantees it
    return user


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def move_view(request: HttpRequest, case_id: UUID, name: str) -> HttpResponse:
    """Show one move's form; on a valid POST call its service and go back."""
    page = PAGES.get(name)
    if page is None:
        raise Http404
    user = _user(request)
    case, access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    if not selectors.may_move(access):
        raise CaseRoleRequired(
            _("Only these roles on the case may do this: %(roles)s.")
            % {"roles": selectors.pathway_roles_text()}
        )
    if case.is_closed:
        raise TransitionNotAllowed(_("The case is closed."))
    label, target = selectors.MOVES[name]
    if not TRACKS["assistance"].allowed(case.assistance, target):
        raise TransitionNotAllowed(
            _("This is not possible while assistance is “%(state)s”.")
            % {"state": selectors.state_label(case)}
        )
    posted = request.method == "POST"
    form = page.form(request.POST if posted else None)
    consent_missing = False
    if posted and form.is_valid():
        try:
            page.perform(user, case, form.cleaned_data)
        except NotFound:
            raise
        except ConsentMissing as exc:
            consent_missing = True
            add_domain_error(form, exc)
        except DomainError as exc:
            if isinstance(exc, CaseRoleRequired):
                raise
            add_domain_error(form, exc)
        else:
            messages.success(request, page.success())
            return HttpResponseRedirect(
                reverse("cases:detail", args=[case.pk]) + "#assistance"
            )
    return render(
        request,
        "assistance/move.html",
        {
            "case": case,
            "title": str(label),
            "state_label": selectors.state_label(case),
            "intro": page.intro(case),
            "submit": page.submit(),
            "form": form,
            "consent_missing": consent_missing,
        },
        status=400 if posted else 200,
    )
