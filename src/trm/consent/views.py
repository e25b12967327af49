"""Pages to record, read and withdraw a person's consent, and fetch its evidence.

Reads go through :mod:`trm.consent.selectors` (access-checked, audited), writes
through :mod:`trm.consent.services`. A consent on a case the user may not see
answers 404.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from trm.accounts import selectors as account_selectors
from trm.accounts.models import User
from trm.cases import selectors as case_selectors
from trm.cases.errors import PersonErased
from trm.common.errors import DomainError, NotFound
from trm.common.forms import add_domain_error
from trm.consent import selectors, services
from trm.consent.forms import ConsentForm, read_evidence
from trm.consent.messages import withdrawal_status
from trm.consent.models import DataCategory

EXTENSIONS = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - login_required guarantees it
    return user


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def consent_record_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Record an informed consent of the case's person."""
    user = _user(request)
    case, _access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    if case.person.is_erased:
        raise PersonErased(_("The person's data was erased."))
    organisations = account_selectors.organisation_list(actor=user).filter(
        is_active=True
    )
    initial = {"language": case.person.languages[0]} if case.person.languages else {}
    if request.method == "POST":
        form = ConsentForm(request.POST, request.FILES, organisations=organisations)
    else:
        form = ConsentForm(initial=initial, organisations=organisations)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        evidence, content_type = read_evidence(data["evidence"])
        organisation = data["recipient_organisation"]
        try:
            consent = services.consent_record(
                actor=user,
                case_id=case.pk,
                purpose=data["purpose"],
                categories=data["categories"],
                given_by=data["given_by"],
                language=data["language"],
                recipient_organisation_id=organisation.pk if organisation else None,
                recipient_country=data["recipient_country"],
                interpreter_used=data["interpreter_used"],
                declaration=data["declaration"],
                evidence=evidence,
                evidence_content_type=content_type,
                given_at=data["given_at"],
                expires_at=data["expires_at"],
            )
        except DomainError as exc:
            if isinstance(exc, NotFound):
                raise
            add_domain_error(form, exc)
        else:
            messages.success(request, _("The consent is recorded."))
            return HttpResponseRedirect(reverse("consent:detail", args=[consent.pk]))
    return render(
        request,
        "consent/record.html",
        {"case": case, "form": form},
        status=400 if request.method == "POST" else 200,
    )


@login_required
@never_cache
@require_GET
def consent_detail_view(request: HttpRequest, consent_id: UUID) -> HttpResponse:
    """Show one consent, with the person's declaration."""
    detail = selectors.consent_get_for_user(user=_user(request), consent_id=consent_id)
    labels = dict(DataCategory.choices)
    return render(
        request,
        "consent/detail.html",
        {
            "detail": detail,
            "consent": detail.consent,
            "case": detail.case,
            "categories": [labels.get(c, c) for c in detail.consent.categories],
            "extension": EXTENSIONS.get(detail.consent.evidence_content_type, ""),
            # Where the withdrawal stands with each node that received data
            # under the consent (no personal data: nodes, states, times).
            "withdrawals": (
                withdrawal_status(detail.consent)
                if detail.consent.withdrawn_at is not None
                else []
            ),
        },
    )


@login_required
@never_cache
@require_GET
def consent_evidence_view(request: HttpRequest, consent_id: UUID) -> HttpResponse:
    """Download the signed form: always as an attachment, never rendered inline."""
    evidence = selectors.consent_evidence_for_user(
        user=_user(request), consent_id=consent_id
    )
    extension = EXTENSIONS.get(evidence.content_type, "bin")
    response = HttpResponse(evidence.content, content_type=evidence.content_type)
    response["Content-Disposition"] = (
        content_disposition_header(
            as_attachment=True, filename=f"consent-{evidence.consent.pk}.{extension}"
        )
        or "attachment"
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Content-Length"] = str(len(evidence.content))
    return response


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def consent_withdraw_view(request: HttpRequest, consent_id: UUID) -> HttpResponse:
    """Confirm, then withdraw a consent."""
    user = _user(request)
    detail = selectors.consent_get_for_user(user=user, consent_id=consent_id)
    detail_url = reverse("consent:detail", args=[detail.consent.pk])
    if detail.consent.withdrawn_at is not None:
        messages.info(request, _("This consent was already withdrawn."))
        return HttpResponseRedirect(detail_url)
    if request.method == "POST":
        try:
            services.consent_withdraw(actor=user, consent_id=detail.consent.pk)
        except DomainError as exc:
            if isinstance(exc, NotFound):
                raise
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                _("The consent is withdrawn. Data is no longer shared under it."),
            )
        return HttpResponseRedirect(detail_url)
    return render(
        request,
        "confirm.html",
        {
            "title": _("Withdraw this consent?"),
            "body": _(
                "From now on no data is shared under it. This cannot be undone: if "
                "the person agrees again, record a new consent."
            ),
            "confirm_label": _("Withdraw the consent"),
            "cancel_href": detail_url,
        },
    )
