"""The statistics dashboard's figures (issue 8 item 5; SOPS §4): what each chart,
its table view and its CSV/XLSX download publish.

Every figure comes from :func:`trm.statistics.tables.protected_table` (each
source counted and disclosure controlled on its own, then added) before it
reaches this module's
:class:`Published` tables, so a chart, its table and its downloads show the same
disclosure-controlled figures and nothing else: suppressed figures are ``None``
("not shown"), published ones are rounded to base 5.

Charts (:data:`CHARTS`): ``trend`` (people by year of registration),
``exploitation`` (by type of exploitation), ``flows`` (the largest published
citizenship → country of exploitation pairs), ``sex_age`` (sex × child/adult),
``compliance`` (the share indicators of :mod:`trm.statistics.indicators`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from trm.common.htcds import Gender, TypeOfExploitation
from trm.statistics.disclosure import Figure, ProtectedTable, protect_counts
from trm.statistics.tables import DIMENSIONS, UNKNOWN, Period, protected_table

#: How many citizenship → country of exploitation pairs the flows chart shows.
TOP_FLOWS = 10

#: Chart code → (title, description for screen readers and under the title).
CHARTS: dict[str, tuple[Promise, Promise]] = {
    "trend": (
        _("People identified by year of registration"),
        _("Number of people by the year their case was registered."),
    ),
    "exploitation": (
        _("Types of exploitation"),
        _(
            "Number of people by type of exploitation. A person exploited in "
            "several ways counts once in each type."
        ),
    ),
    "flows": (
        _("Largest flows: citizenship to country of exploitation"),
        _(
            "The largest published numbers of people by citizenship and country "
            "where they were exploited (unknown countries and figures not shown "
            "are left out)."
        ),
    ),
    "sex_age": (
        _("Sex and age"),
        _("Number of people by sex, children and adults."),
    ),
    "compliance": (
        _("SOP compliance"),
        _(
            "For each monitoring indicator with a time limit or a required "
            "step, the share of this node's cases opened in the period that "
            "met it (from the published, rounded counts; this node's cases "
            "only)."
        ),
    ),
}

Value = int | None
"""A published figure: a rounded count, or ``None`` when not shown."""


@dataclass(frozen=True)
class Published:
    """One chart's published table: exactly what the page, CSV and XLSX show.

    ``header`` labels the columns; each row of ``rows`` is a list of labels
    (``label_columns`` of them) followed by figures; ``total`` (may be empty) is
    the last row, labelled like the others. ``series`` names the figure columns
    that the chart draws (the totals column is not drawn).
    """

    code: str
    title: str
    description: str
    header: tuple[str, ...]
    label_columns: int
    rows: tuple[tuple[str | Value, ...], ...]
    total: tuple[str | Value, ...]
    series: tuple[str, ...]
    note: str
    suppressed_any: bool

    def all_rows(self) -> list[tuple[str | Value, ...]]:
        """Return the rows followed by the total row (if any)."""
        return [*self.rows, *([self.total] if self.total else [])]


# --- labels ---------------------------------------------------------------------


def label(dimension: str, value: str) -> str:
    """Return the label shown for one value of a dimension (``""``: unknown)."""
    if value == UNKNOWN:
        return gettext("Unknown")
    if dimension in {"citizenship", "country_of_exploitation"}:
        return str(countries.name(value) or value)
    if dimension == "sex":
        return str(_choice_label(Gender, value))
    if dimension == "exploitation_type":
        return str(_choice_label(TypeOfExploitation, value))
    if dimension == "child":
        return gettext("Children") if value == "child" else gettext("Adults")
    return value


def _choice_label(choices: type, value: str) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return value


def _known_first(labels: Sequence[str]) -> list[int]:
    """Indices of ``labels`` in their order, the unknown value last."""
    return sorted(range(len(labels)), key=lambda k: labels[k] == UNKNOWN)


def _value(figure: Figure) -> Value:
    return None if figure.suppressed else figure.value


# --- the charts' tables ---------------------------------------------------------


#: Dimensions in which one person may count under several values.
MULTI_VALUED = frozenset({"exploitation_type"})


def _one_way(code: str, dimension: str, table: ProtectedTable) -> Published:
    title, description = CHARTS[code]
    people = gettext("People")
    rows = tuple(
        (label(dimension, table.rows[i]), _value(table.cells[i][0]))
        for i in _known_first(table.rows)
    )
    return Published(
        code=code,
        title=str(title),
        description=str(description),
        header=(str(DIMENSIONS[dimension]), people),
        label_columns=1,
        rows=rows,
        # A person exploited in several ways counts once under each type, so
        # the types' sum is not a number of people: no total for that chart.
        total=()
        if dimension in MULTI_VALUED
        else (gettext("Total"), _value(table.grand_total)),
        series=(people,),
        note=table.note,
        suppressed_any=any(f.suppressed for f in table.figures()),
    )


def _two_way(
    code: str, row_dimension: str, column_dimension: str, table: ProtectedTable
) -> Published:
    title, description = CHARTS[code]
    order = _known_first(table.columns)
    columns = tuple(label(column_dimension, table.columns[j]) for j in order)
    total_label = gettext("Total")
    rows = tuple(
        (
            label(row_dimension, table.rows[i]),
            *(_value(table.cells[i][j]) for j in order),
            _value(table.row_totals[i]),
        )
        for i in _known_first(table.rows)
    )
    total = (
        total_label,
        *(_value(table.column_totals[j]) for j in order),
        _value(table.grand_total),
    )
    return Published(
        code=code,
        title=str(title),
        description=str(description),
        header=(str(DIMENSIONS[row_dimension]), *columns, total_label),
        label_columns=1,
        rows=rows,
        total=total,
        series=columns,
        note=table.note,
        suppressed_any=any(f.suppressed for f in table.figures()),
    )


def _flows(table: ProtectedTable, top: int) -> Published:
    """The ``top`` largest published cells of citizenship × country of
    exploitation, both known (a subset of a protected table: still protected)."""
    title, description = CHARTS["flows"]
    pairs = [
        (figure.value, row, column)
        for row, cells in zip(table.rows, table.cells, strict=True)
        for column, figure in zip(table.columns, cells, strict=True)
        if row != UNKNOWN
        and column != UNKNOWN
        and not figure.suppressed
        and figure.value
    ]
    pairs.sort(key=lambda p: (-(p[0] or 0), p[1], p[2]))
    people = gettext("People")
    rows = tuple(
        (
            label("citizenship", row),
            label("country_of_exploitation", column),
            value,
        )
        for value, row, column in pairs[:top]
    )
    return Published(
        code="flows",
        title=str(title),
        description=str(description),
        header=(
            str(DIMENSIONS["citizenship"]),
            str(DIMENSIONS["country_of_exploitation"]),
            people,
        ),
        label_columns=2,
        rows=rows,
        total=(),
        series=(people,),
        note=table.note,
        suppressed_any=False,
    )


def published(
    code: str, *, period: Period, sources: Iterable[str], top: int = TOP_FLOWS
) -> Published:
    """Return the published table of one chart.

    Args:
        code: a key of :data:`CHARTS`.
        period: years of registration.
        sources: a subset of :data:`trm.statistics.tables.SOURCES`.
        top: how many pairs the flows chart shows.

    Raises:
        KeyError: an unknown chart.
    """
    sources = tuple(sources)
    if code == "trend":
        table = protected_table(rows="year", period=period, sources=sources)
        return _one_way(code, "year", table)
    if code == "exploitation":
        table = protected_table(
            rows="exploitation_type", period=period, sources=sources
        )
        return _one_way(code, "exploitation_type", table)
    if code == "flows":
        table = protected_table(
            rows="citizenship",
            columns="country_of_exploitation",
            period=period,
            sources=sources,
        )
        return _flows(table, top)
    if code == "sex_age":
        table = protected_table(
            rows="sex", columns="child", period=period, sources=sources
        )
        return _two_way(code, "sex", "child", table)
    if code == "compliance":
        return _compliance(period, sources)
    raise KeyError(code)


def _compliance(period: Period, sources: Sequence[str]) -> Published:
    """The SOP compliance chart: each share indicator of
    :mod:`trm.statistics.indicators` with at least one case, as the published
    (protected) counts met / not met and the share computed from them; the
    share is not shown when either count is. Live cases only: nothing when
    ``sources`` excludes ``live``."""
    from trm.statistics import indicators

    title, description = CHARTS["compliance"]
    share, met, not_met = (
        gettext("Share met (%)"),
        gettext("Met"),
        gettext("Not met"),
    )
    rows: list[tuple[str | Value, ...]] = []
    note = protect_counts({"met": 0, "not met": 0}).note
    suppressed_any = False
    if "live" in sources:
        for indicator in indicators.compute(period):
            if indicator.unit != "share" or not indicator.denominator:
                continue
            counts = indicator.protected()
            yes, no = (_value(f) for f in counts.figures)
            suppressed_any = suppressed_any or yes is None or no is None
            percent = (
                round(100 * yes / (yes + no))
                if yes is not None and no is not None and yes + no
                else None
            )
            rows.append((indicator.title, percent, yes, no))
    return Published(
        code="compliance",
        title=str(title),
        description=str(description),
        header=(gettext("Indicator"), share, met, not_met),
        label_columns=1,
        rows=tuple(rows),
        total=(),
        series=(share,),
        note=note,
        suppressed_any=suppressed_any,
    )


# --- downloads ------------------------------------------------------------------


def _cell(value: str | Value) -> str | int:
    return "" if value is None else value


def to_csv(table: Published) -> str:
    """Return the table as CSV: the header, the rows, the total; a figure not
    shown is an empty field. The disclosure note is the last line."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(table.header)
    for row in table.all_rows():
        writer.writerow([_cell(v) for v in row])
    writer.writerow([])
    writer.writerow([table.note])
    return buffer.getvalue()


def to_xlsx(table: Published) -> bytes:
    """Return the table as an XLSX workbook with one sheet laid out like
    :func:`to_csv` (figures as numbers; a figure not shown is an empty cell)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = table.code
    sheet.append(list(table.header))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in table.all_rows():
        sheet.append([None if v is None else v for v in row])
    sheet.append([])
    sheet.append([table.note])
    # openpyxl stores a string starting with "=" as a formula: labels are text,
    # never formulas (spreadsheet formula injection).
    for line in sheet.iter_rows():
        for cell in line:
            if isinstance(cell.value, str):
                cell.data_type = "s"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def read_xlsx(content: bytes) -> list[list[str | int | None]]:
    """Return the rows of the first sheet of an XLSX file (for tests and checks)."""
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(content), read_only=True).worksheets[0]
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def spec(code: str, period: Period, sources: Sequence[str]) -> dict[str, object]:
    """Return the table specification recorded in the audit log for a download."""
    return {
        "chart": code,
        "first_year": period.first_year,
        "last_year": period.last_year,
        "sources": sorted(sources),
    }
