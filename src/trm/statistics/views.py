"""The statistics dashboard (issue 8 item 5): charts, table views and downloads
of disclosure-controlled figures only (:mod:`trm.statistics.dashboard`).

Who may see it: :data:`trm.statistics.services.DASHBOARD_ROLES` (others: 403).
Every download is audited (``statistics.downloaded``, the table spec only).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import content_disposition_header
from django.utils.safestring import SafeString
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from trm.accounts.models import User
from trm.cases.models import Case
from trm.statistics import dashboard, releases, services
from trm.statistics.charts import bar_chart
from trm.statistics.forms import StatisticsFilterForm
from trm.statistics.htcds_io import EXPORT_ROLES
from trm.statistics.models import HistoricalRecord
from trm.statistics.regional import COORDINATOR_ROLES
from trm.statistics.tables import LIVE_IDENTIFICATION, Period, count_table

#: Chart code → drawn as vertical columns (a trend) rather than horizontal bars.
_VERTICAL = {"trend": True}
_FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class _Chart:
    table: dashboard.Published
    svg: SafeString


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - login_required guarantees it
    return user


def _form(request: HttpRequest) -> StatisticsFilterForm:
    return StatisticsFilterForm(request.GET or None)


@login_required
@require_GET
@never_cache
def dashboard_view(request: HttpRequest) -> HttpResponse:
    """The dashboard: a filter form, then each chart with its table and downloads."""
    user = services.require_dashboard_reader(_user(request))
    form = _form(request)
    valid = form.is_valid() if form.is_bound else True
    charts: list[_Chart] = []
    # Anything to count at all: imported records or this node's counted cases.
    any_records = (
        HistoricalRecord.objects.exists()
        or Case.objects.filter(identification__in=LIVE_IDENTIFICATION).exists()
    )
    empty = False
    if valid:
        period = form.period() if form.is_bound else Period()
        sources = form.sources() if form.is_bound else ("historical", "live")
        # Whether anyone is counted at all (exact, never shown): the empty state.
        counted = count_table(rows="year", period=period, sources=sources)
        empty = counted.grand_total == 0
    if valid and not empty:
        for code in dashboard.CHARTS:
            table = dashboard.published(code, period=period, sources=sources)
            svg = bar_chart(table, vertical=_VERTICAL.get(code, False))
            charts.append(_Chart(table=table, svg=svg))
    return render(
        request,
        "statistics/dashboard.html",
        {
            "form": form,
            "valid": valid,
            "charts": charts,
            "empty": empty,
            "any_records": any_records,
            "query": request.GET.urlencode(),
            "may_request_regional": user.has_role(*sorted(COORDINATOR_ROLES)),
            "may_export_htcds": user.has_role(*sorted(EXPORT_ROLES)),
            "dataset_releases": releases.current(),
        },
        status=200,
    )


@login_required
@require_GET
@never_cache
def download_view(request: HttpRequest, chart: str, file_format: str) -> HttpResponse:
    """One chart's published table as CSV or XLSX, exactly as the page shows it."""
    user = services.require_dashboard_reader(_user(request))
    if chart not in dashboard.CHARTS or file_format not in _FORMATS:
        raise Http404
    form = _form(request)
    if form.is_bound and not form.is_valid():
        return render(
            request,
            "statistics/dashboard.html",
            {"form": form, "valid": False, "charts": [], "any_records": True},
            status=400,
        )
    period = form.period() if form.is_bound else Period()
    sources = form.sources() if form.is_bound else ("historical", "live")
    table = dashboard.published(chart, period=period, sources=sources)
    services.record_download(
        actor=user, spec=dashboard.spec(chart, period, sources), file_format=file_format
    )
    if file_format == "csv":
        content: str | bytes = dashboard.to_csv(table)
    else:
        content = dashboard.to_xlsx(table)
    response = HttpResponse(content, content_type=_FORMATS[file_format])
    response["Content-Disposition"] = (
        content_disposition_header(
            as_attachment=True, filename=f"trm-statistics-{chart}.{file_format}"
        )
        or "attachment"
    )
    return response
