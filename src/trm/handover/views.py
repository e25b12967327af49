"""Handover pages: the journey's handover on either node and, on the origin
node, the arrival confirmation.

Each page reads the case through :func:`trm.cases.selectors.case_get_for_user`
(no access answers 404), refuses a legal-track-only user (403) and a user
whose role may not confirm (403); writes only through
:mod:`trm.handover.services`. Nothing personal is in a URL.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from trm.accounts.models import User
from trm.cases import selectors as case_selectors
from trm.cases.errors import CaseRoleRequired
from trm.common.errors import DomainError, NotFound, PermissionDenied
from trm.common.forms import add_domain_error
from trm.handover import selectors, services
from trm.handover.forms import ArrivalForm
from trm.handover.models import HandoverStatus, ReturnHandover, Side
from trm.returns.errors import ReturnNotForLegalTrack


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - login_required guarantees it
    return user


@login_required
@never_cache
@require_GET
def page_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Show the case's handovers with their arrival point and itinerary."""
    user = _user(request)
    case, access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    handovers = selectors.handovers_for_user(user=user, case=case)
    return render(
        request,
        "handover/page.html",
        {
            "case": case,
            "handovers": handovers,
            "may_confirm": selectors.may_confirm(access),
            "announced": HandoverStatus.ANNOUNCED,
            "origin": Side.ORIGIN,
        },
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def arrival_view(
    request: HttpRequest, case_id: UUID, handover_id: UUID
) -> HttpResponse:
    """Confirm the arrival of an origin handover (or that the person did not
    arrive); the form asks for a confirmation before it is sent."""
    user = _user(request)
    case, access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    if not selectors.may_read(access):
        raise ReturnNotForLegalTrack(
            _("The handover is part of assistance, which the legal track does not see.")
        )
    if not selectors.may_confirm(access):
        raise CaseRoleRequired(
            _("Only the case team's assistance roles confirm an arrival.")
        )
    row = ReturnHandover.objects.filter(
        pk=handover_id, case=case, side=Side.ORIGIN
    ).first()
    if row is None:
        raise Http404
    posted = request.method == "POST"
    form = ArrivalForm(request.POST if posted else None)
    if posted and form.is_valid():
        data = form.cleaned_data
        try:
            services.return_arrival_confirm(
                actor=user,
                case_id=case.pk,
                handover_id=row.pk,
                arrived=data["arrived"],
                at=data["at"],
                note=data["note"],
            )
        except (NotFound, PermissionDenied):
            raise
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(
                request,
                _("The arrival is confirmed; the sending country is told.")
                if data["arrived"]
                else _(
                    "Recorded that the person did not arrive; the sending country "
                    "is told."
                ),
            )
            return HttpResponseRedirect(reverse("cases:detail", args=[case.pk]))
    return render(
        request,
        "handover/arrival.html",
        {"case": case, "handover": row, "form": form},
        status=400 if posted else 200,
    )
