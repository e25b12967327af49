"""Pages of regional statistics (issue 8, item 6; docs/statistics.md,
"Regional statistics"): the requests this node sent, a regional table with
each node's status, and the request form with a confirmation step. National
contact points only (:func:`trm.statistics.regional.require_coordinator`).
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
from trm.common.errors import DomainError, NotFound, PermissionDenied
from trm.common.forms import add_domain_error
from trm.statistics import regional
from trm.statistics.regional_forms import RegionalRequestForm
from trm.statistics.tables import DIMENSIONS, Period


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - login_required guarantees it
    return user


@login_required
@never_cache
@require_GET
def request_list_view(request: HttpRequest) -> HttpResponse:
    """List the regional table requests this node sent."""
    rows = regional.request_list(user=_user(request))
    return render(
        request,
        "statistics/regional_list.html",
        {"requests": rows, "dimensions": DIMENSIONS},
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def request_new_view(request: HttpRequest) -> HttpResponse:
    """Ask peer nodes for an agreed table: fill in, confirm, send."""
    user = _user(request)
    regional.require_coordinator(user)
    posted = request.method == "POST"
    form = RegionalRequestForm(
        request.POST if posted else None, peers=regional.active_peers()
    )
    if posted and form.is_valid():
        data = form.cleaned_data
        if not data["confirmed"]:
            hidden = [
                (name, value)
                for name, values in request.POST.lists()
                if name not in {"csrfmiddlewaretoken", "confirmed"}
                for value in values
            ]
            return render(
                request,
                "statistics/regional_confirm.html",
                {
                    "hidden": hidden,
                    "data": data,
                    "rows_label": DIMENSIONS[data["rows"]],
                    "columns_label": DIMENSIONS.get(data["columns"] or ""),
                },
            )
        try:
            sent = regional.regional_table_request(
                actor=user,
                rows=data["rows"],
                columns=data["columns"] or None,
                period=Period(data["first_year"], data["last_year"]),
                peers=data["peers"],
                sources=data["sources"],
            )
        except DomainError as exc:
            if isinstance(exc, NotFound | PermissionDenied):
                raise
            add_domain_error(form, exc)
        else:
            messages.success(
                request,
                _("The request was sent to %(n)s nodes.") % {"n": len(data["peers"])},
            )
            return HttpResponseRedirect(
                reverse("regional_statistics:detail", args=[sent.pk])
            )
    return render(
        request,
        "statistics/regional_new.html",
        {"form": form},
        status=400 if posted else 200,
    )


@login_required
@never_cache
@require_GET
def request_detail_view(request: HttpRequest, request_id: UUID) -> HttpResponse:
    """Show the regional table of one request and each node's status."""
    sent = regional.request_get(user=_user(request), request_id=request_id)
    table = regional.regional_table(sent)
    return render(
        request,
        "statistics/regional_detail.html",
        {
            "sent": sent,
            "table": table,
            "rows_label": DIMENSIONS.get(sent.rows, sent.rows),
            "columns_label": DIMENSIONS.get(sent.columns, _("Total")),
            "lines": list(zip(table.rows, table.cells, table.row_totals, strict=True)),
        },
    )
