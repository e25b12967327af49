"""Data-protection pages: a person's page, erasure requests, subject-access export.

Views only parse input and render; the rules are in
:mod:`trm.dataprotection.services` (writes) and
:mod:`trm.dataprotection.selectors` (reads, access). A refusal raised there
becomes an error page (404/403/409) through ``DomainErrorMiddleware``.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from trm.accounts.models import User
from trm.cases.errors import PersonErased
from trm.common.forms import add_domain_error
from trm.dataprotection import export, selectors, services
from trm.dataprotection.access import may_decide
from trm.dataprotection.errors import (
    DataProtectionInvalidInput,
    ErasureAlreadyRequested,
)
from trm.dataprotection.forms import CaseLookupForm, ErasureRequestForm

#: Refusals shown on the form; other refusals (404, 403) become error pages.
_INPUT_ERRORS = (DataProtectionInvalidInput, ErasureAlreadyRequested, PersonErased)


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - login_required guarantees it
    return user


def _person_page(
    request: HttpRequest,
    user: User,
    case_id: UUID,
    form: ErasureRequestForm,
    *,
    status: int = 200,
) -> HttpResponse:
    overview = selectors.person_overview_for_user(user=user, case_id=case_id)
    return render(
        request,
        "dataprotection/person.html",
        {"o": overview, "form": form},
        status=status,
    )


@login_required
@require_GET
def person_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Show the person's erasure status, the request form and the export links."""
    return _person_page(request, _user(request), case_id, ErasureRequestForm())


@login_required
@require_POST
def erasure_request_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    user = _user(request)
    form = ErasureRequestForm(request.POST)
    if form.is_valid():
        try:
            services.erasure_request(
                actor=user,
                case_id=case_id,
                reason=form.cleaned_data["reason"],
                note=form.cleaned_data["note"],
            )
        except (
            DataProtectionInvalidInput,
            ErasureAlreadyRequested,
            PersonErased,
        ) as exc:
            add_domain_error(form, exc)
        else:
            messages.success(
                request,
                _(
                    "Erasure requested. It takes effect when the data-protection "
                    "officer or the node administrator confirms it."
                ),
            )
            return redirect("dataprotection:person", case_id=case_id)
    return _person_page(request, user, case_id, form, status=400)


@login_required
@require_GET
def request_list_view(request: HttpRequest) -> HttpResponse:
    """List pending erasure requests and the register of decided ones."""
    user = _user(request)
    pending = list(selectors.pending_requests_for_user(user=user))
    decided = list(selectors.decided_requests_for_user(user=user))
    lookup = CaseLookupForm(request.GET if "number" in request.GET else None)
    if lookup.is_bound and lookup.is_valid():
        case_id = selectors.case_id_by_number(
            user=user, number=lookup.cleaned_data["number"]
        )
        if case_id is not None:
            return redirect("dataprotection:person", case_id=case_id)
        lookup.add_error("number", _("No case with this number that you may handle."))
    return render(
        request,
        "dataprotection/request_list.html",
        {"pending": pending, "decided": decided, "lookup": lookup, "user_id": user.pk},
    )


@login_required
@require_http_methods(["GET", "POST"])
def request_confirm_view(request: HttpRequest, request_id: UUID) -> HttpResponse:
    """Confirm an erasure (POST) after a page saying it cannot be undone (GET)."""
    user = _user(request)
    selectors.require_decider(user)
    erasure = selectors.erasure_request_for_user(user=user, request_id=request_id)
    if request.method == "POST":
        services.erasure_confirm(actor=user, request_id=request_id)
        messages.success(
            request,
            _("The person's data is erased. Case %(number)s keeps only its statistics.")
            % {"number": erasure.case.number},
        )
        return redirect("dataprotection:requests")
    if not erasure.is_pending:
        messages.info(request, _("This request was already decided."))
        return redirect("dataprotection:requests")
    return render(
        request,
        "dataprotection/confirm_erasure.html",
        {"erasure": erasure, "own": not erasure.is_second_pair_of_eyes(user.pk)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def request_cancel_view(request: HttpRequest, request_id: UUID) -> HttpResponse:
    """Cancel a pending erasure request (decider, or the requester withdrawing it)."""
    user = _user(request)
    erasure = selectors.erasure_request_for_user(user=user, request_id=request_id)
    if request.method == "POST":
        services.erasure_cancel(actor=user, request_id=request_id)
        messages.success(request, _("The erasure request is cancelled."))
        if may_decide(user):
            return redirect("dataprotection:requests")
        return redirect("dataprotection:person", case_id=erasure.case_id)
    if not erasure.is_pending:
        messages.info(request, _("This request was already decided."))
        return redirect("dataprotection:requests")
    back = (
        reverse("dataprotection:requests")
        if may_decide(user)
        else reverse("dataprotection:person", kwargs={"case_id": erasure.case_id})
    )
    return render(
        request,
        "dataprotection/cancel_erasure.html",
        {"erasure": erasure, "back": back},
    )


@login_required
@require_GET
def export_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Download everything held about the case's person: ?format=json|html|pdf."""
    fmt = request.GET.get("format", "html")
    result = selectors.subject_access_export(
        user=_user(request), case_id=case_id, fmt=fmt
    )
    if fmt == "json":
        response = HttpResponse(
            export.render_json(result), content_type="application/json; charset=utf-8"
        )
        disposition = "attachment"
    elif fmt == "pdf":
        response = HttpResponse(
            export.render_pdf(result), content_type="application/pdf"
        )
        disposition = "attachment"
    else:
        response = HttpResponse(
            export.render_html(result), content_type="text/html; charset=utf-8"
        )
        disposition = "inline"
    response["Content-Disposition"] = (
        f'{disposition}; filename="{export.filename(result, fmt)}"'
    )
    response["Content-Language"] = result.language
    patch_cache_control(response, no_store=True, private=True)
    return response
