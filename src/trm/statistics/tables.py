"""NRM-style count tables (issue "Statistics, monitoring and data standards" item
3; SOPS §4): people counted by one or two dimensions over a period.

This is the one entry point the dashboard, the downloads and the regional
aggregate message (``stats.aggregate.request``) read tables from:
:func:`count_table` returns an exact :class:`~trm.statistics.disclosure.Table`
that the caller passes through :func:`~trm.statistics.disclosure.protect`
before it leaves the node or reaches a role without case access.

Sources: ``historical`` — the de-identified records imported from published
datasets (:class:`~trm.statistics.models.HistoricalRecord`, e.g. CTDC);
``live`` — this node's cases (not counted yet by this first version: see
:data:`SOURCES`).

Dimensions (:data:`DIMENSIONS`): ``year`` (of registration), ``sex`` (HTCDS
``prs_Gender`` codes), ``age_group``, ``citizenship`` and
``country_of_exploitation`` (ISO 3166-1 alpha-2; ``""`` unknown),
``exploitation_type`` (HTCDS ``vic_TypeOfExploitation``; a person exploited in
several ways counts once in each, so a table's cells may add up to more than
its persons), ``child`` (``"child"`` / ``"adult"`` / ``""`` unknown).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from trm.statistics.disclosure import Table
from trm.statistics.models import HistoricalRecord

#: Dimension code → label.
DIMENSIONS = {
    "year": _("Year"),
    "sex": _("Sex"),
    "age_group": _("Age group"),
    "citizenship": _("Citizenship"),
    "country_of_exploitation": _("Country of exploitation"),
    "exploitation_type": _("Type of exploitation"),
    "child": _("Child or adult"),
}
#: Where records come from.
SOURCES = frozenset({"historical", "live"})
#: The label of an unknown value in every dimension.
UNKNOWN = ""
#: A dimension's value → the column of :class:`HistoricalRecord` it is read from.
_HISTORICAL_FIELDS = {
    "year": "year_of_registration",
    "sex": "gender",
    "age_group": "age_group",
    "citizenship": "citizenship",
    "country_of_exploitation": "country_of_exploitation",
    "exploitation_type": "exploitation_types",
    "child": "is_child",
}


@dataclass(frozen=True)
class Period:
    """Years of registration, both ends included; None: open."""

    first_year: int | None = None
    last_year: int | None = None


class UnknownDimension(ValueError):
    """A dimension or source not in :data:`DIMENSIONS` / :data:`SOURCES`."""


def _values(dimension: str, raw: object) -> list[str]:
    """The dimension value(s) of one record's raw column value."""
    if dimension == "exploitation_type":
        values = [str(v) for v in (raw or []) if v]  # type: ignore[attr-defined]
        return values or [UNKNOWN]
    if dimension == "child":
        return ["child" if raw else "adult"] if raw is not None else [UNKNOWN]
    if raw is None:
        return [UNKNOWN]
    return [str(raw)]


def _historical_rows(fields: list[str], period: Period) -> Iterator[tuple[object, ...]]:
    records = HistoricalRecord.objects.all()
    if period.first_year is not None:
        records = records.filter(year_of_registration__gte=period.first_year)
    if period.last_year is not None:
        records = records.filter(year_of_registration__lte=period.last_year)
    yield from records.values_list(*fields).iterator(chunk_size=5000)


def count_table(
    *,
    rows: str,
    columns: str | None = None,
    period: Period | None = None,
    sources: Iterable[str] = ("historical",),
) -> Table:
    """Count people by ``rows`` (and ``columns``) over ``period``.

    Args:
        rows, columns: codes of :data:`DIMENSIONS`; without ``columns`` the
            table has one column labelled ``"total"``.
        period: years of registration (default: all).
        sources: a subset of :data:`SOURCES`.

    Returns:
        An exact :class:`~trm.statistics.disclosure.Table` (row and column
        labels sorted; ``""`` is the unknown value). NOT disclosure
        controlled: pass it through :func:`~trm.statistics.disclosure.protect`.

    Raises:
        UnknownDimension: a dimension or source that does not exist.
    """
    chosen = set(sources)
    if not chosen <= SOURCES or not chosen:
        raise UnknownDimension(f"unknown source in {sorted(chosen)}")
    for dimension in (rows, columns):
        if dimension is not None and dimension not in DIMENSIONS:
            raise UnknownDimension(f"unknown dimension {dimension!r}")
    period = period or Period()
    counts: Counter[tuple[str, str]] = Counter()
    if "historical" in chosen:
        fields = [_HISTORICAL_FIELDS[rows]]
        if columns is not None:
            fields.append(_HISTORICAL_FIELDS[columns])
        for record in _historical_rows(fields, period):
            row_values = _values(rows, record[0])
            column_values = (
                _values(columns, record[1]) if columns is not None else ["total"]
            )
            for row_value in row_values:
                for column_value in column_values:
                    counts[(row_value, column_value)] += 1
    row_labels = sorted({r for r, _c in counts}) or [UNKNOWN]
    column_labels = sorted({c for _r, c in counts}) or ["total"]
    cells = [[counts[(r, c)] for c in column_labels] for r in row_labels]
    return Table(rows=row_labels, columns=column_labels, cells=cells)
