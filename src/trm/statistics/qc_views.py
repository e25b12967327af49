"""The node administrator's quality-control view of a count table's exact
figures (issue "Statistics, monitoring and data standards" item 3).

The figures are neither suppressed nor rounded
(:func:`~trm.statistics.disclosure.unrounded`), so they may identify persons:
only a node administrator sees them, and every view is audited
(``statistics.unrounded_viewed``, with the table's dimensions, sources and
period: codes only). Nothing here is downloadable.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from trm.accounts.models import Role, User
from trm.audit import services as audit
from trm.statistics.disclosure import unrounded_parts
from trm.statistics.tables import DIMENSIONS, SOURCES, Period, part_tables

#: Who may see exact figures.
UNROUNDED_ROLES = frozenset({Role.NODE_ADMINISTRATOR})
_SOURCE_LABELS = {"historical": _("Historical records"), "live": _("Live cases")}


class UnroundedForm(forms.Form):
    """Which table to show (a GET form: no personal data in it)."""

    rows = forms.ChoiceField(
        label=_("Rows"), choices=list(DIMENSIONS.items()), initial="year"
    )
    columns = forms.ChoiceField(
        label=_("Columns"),
        choices=[("", _("(total only)")), *DIMENSIONS.items()],
        required=False,
        initial="exploitation_type",
    )
    sources = forms.MultipleChoiceField(
        label=_("Sources"),
        choices=[(s, _SOURCE_LABELS[s]) for s in sorted(SOURCES)],
        widget=forms.CheckboxSelectMultiple,
        initial=["historical"],
    )
    first_year = forms.IntegerField(
        label=_("From year"), required=False, min_value=1900, max_value=2100
    )
    last_year = forms.IntegerField(
        label=_("To year"), required=False, min_value=1900, max_value=2100
    )


@login_required
@never_cache
@require_http_methods(["GET"])
def unrounded_view(request: HttpRequest) -> HttpResponse:
    """Show one count table's exact figures and how publication treats each.

    Node administrators only (403 otherwise). Every table shown is audited as
    ``statistics.unrounded_viewed`` in the same transaction as the read.
    """
    user = request.user
    if not isinstance(user, User) or not user.has_role(*UNROUNDED_ROLES):
        raise PermissionDenied
    form = UnroundedForm(request.GET or None)
    table = None
    if form.is_valid():
        data = form.cleaned_data
        period = Period(data["first_year"], data["last_year"])
        with transaction.atomic():
            # Marked as the dashboard publishes it: each part on its own.
            table = unrounded_parts(
                part_tables(
                    rows=data["rows"],
                    columns=data["columns"] or None,
                    period=period,
                    sources=data["sources"],
                )
            )
            audit.record(
                actor=user,
                action="statistics.unrounded_viewed",
                target_type="statistics.table",
                data={
                    "rows": data["rows"],
                    "columns": data["columns"],
                    "sources": sorted(data["sources"]),
                    "first_year": data["first_year"],
                    "last_year": data["last_year"],
                },
            )
    return render(
        request,
        "statistics/unrounded.html",
        {
            "form": form,
            "table": table,
            "rows": (
                list(zip(table.rows, table.cells, table.row_totals, strict=True))
                if table
                else []
            ),
        },
    )
