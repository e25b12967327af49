"""NRM-style count tables (issue "Statistics, monitoring and data standards" item
3; SOPS §4): people counted by one or two dimensions over a period.

This is the one entry point the dashboard, the downloads and the regional
aggregate message (``stats.aggregate.request``) read tables from:
:func:`count_table` returns an exact :class:`~trm.statistics.disclosure.Table`
that the caller passes through :func:`~trm.statistics.disclosure.protect`
before it leaves the node or reaches a role without case access.

Sources: ``historical`` — the de-identified records imported from published
datasets (:class:`~trm.statistics.models.HistoricalRecord`, e.g. CTDC), only
the current release of each (:mod:`trm.statistics.releases`);
``live`` — this node's cases whose person is presumed or identified as a
trafficked person (:data:`LIVE_IDENTIFICATION`), one person per case.

Dimensions (:data:`DIMENSIONS`): ``year`` (of registration), ``sex`` (HTCDS
``prs_Gender`` codes), ``age_group``, ``citizenship`` and
``country_of_exploitation`` (ISO 3166-1 alpha-2; ``""`` unknown),
``exploitation_type`` (HTCDS ``vic_TypeOfExploitation``; a person exploited in
several ways counts once in each, so a table's cells may add up to more than
its persons), ``child`` (``"child"`` / ``"adult"`` / ``""`` unknown).

How live cases map to the dimensions (no personal data is ever decrypted: only
clear, non-identifying columns are read):

* ``year`` — the year (UTC) the case was opened (``Case.opened_at``), the
  live counterpart of CTDC's year of registration; the period filters on it;
* ``sex`` — ``Person.gender`` (HTCDS ``prs_Gender``);
* ``age_group`` — ``Person.age_band``, recorded in clear at registration with
  the CTDC bands (:class:`trm.cases.models.AgeBand`; ``"unknown"`` → ``""``);
* ``child`` — ``"child"`` when ``Person.presumed_child`` (SOPS: a person who
  may be a child is treated as one) or the age band is a child band,
  ``"adult"`` for any other known band, ``""`` otherwise;
* ``citizenship`` — EACH of ``Person.citizenships`` (a dual citizen counts
  once under each, like exploitation types; none → ``""``);
* ``country_of_exploitation`` — not recorded in clear on live cases yet:
  always ``""`` (unknown);
* ``exploitation_type`` — the types looked for at the case's screenings
  (``Screening.exploitation``: ``labour`` → ``ForcedLabour``, ``sexual`` →
  ``SexualExploitation``), each type once per case whatever the number of
  screenings; no screening → ``""``.

Aggregation happens in the database: one ``GROUP BY`` query per source
(:func:`_grouped_sql`). The JSON list columns (``exploitation_types``,
``citizenships``, ``Screening.exploitation``) are expanded in SQL with
``json_each`` (SQLite) or ``jsonb_array_elements_text`` (PostgreSQL) in a
lateral ``LEFT JOIN`` (an empty list gives one unknown value); live cells count
``DISTINCT`` cases so several screenings do not count a case twice. Measured
against the bare ``GROUP BY`` in ``bench/stats.py`` (docs/statistics.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection
from django.utils.translation import gettext_lazy as _

from trm.cases.models import AgeBand, Case, Person
from trm.cases.tracks import Identification
from trm.screening.models import Screening
from trm.statistics import releases
from trm.statistics.disclosure import ProtectedTable, Table, protect_parts
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
#: Identification states (Region A) of the live cases counted: presumed and
#: identified trafficked persons (SOPS §4 counts persons, not signals).
LIVE_IDENTIFICATION = (Identification.PRESUMED, Identification.IDENTIFIED)
#: Screening exploitation kinds → HTCDS ``vic_TypeOfExploitation`` codes.
SCREENING_EXPLOITATION = {"labour": "ForcedLabour", "sexual": "SexualExploitation"}
_CHILD_BANDS = tuple(sorted(b.value for b in AgeBand if b.is_child))


@dataclass(frozen=True)
class Period:
    """Years of registration, both ends included; None: open."""

    first_year: int | None = None
    last_year: int | None = None


class UnknownDimension(ValueError):
    """A dimension or source not in :data:`DIMENSIONS` / :data:`SOURCES`."""


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _json_join(column: str, alias: str) -> str:
    """A LEFT JOIN giving one row per element (text) of a JSON list column."""
    if connection.vendor == "postgresql":
        return (
            f"LEFT JOIN LATERAL jsonb_array_elements_text("
            f"CASE WHEN jsonb_typeof({column}) = 'array' THEN {column} "
            f"ELSE '[]'::jsonb END) AS {alias}(value) ON TRUE"
        )
    return f"LEFT JOIN json_each({column}) AS {alias} ON 1 = 1"


def _year_of(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"CAST(EXTRACT(YEAR FROM {column} AT TIME ZONE 'UTC') AS INTEGER)"
    # "%%": the query always goes with a parameter list, so Django turns it
    # into "%" (and its debug log, which formats "sql % params", works).
    return f"CAST(strftime('%%Y', {column}) AS INTEGER)"


def _historical_dimension(dimension: str, joins: dict[str, str]) -> str:
    """SQL expression of ``dimension`` over a historical record ``r``."""
    if dimension == "year":
        return "r.year_of_registration"
    if dimension == "sex":
        return "r.gender"
    if dimension == "age_group":
        return "r.age_group"
    if dimension == "citizenship":
        return "r.citizenship"
    if dimension == "country_of_exploitation":
        return "r.country_of_exploitation"
    if dimension == "child":
        return (
            "CASE WHEN r.is_child IS NULL THEN '' "
            "WHEN r.is_child THEN 'child' ELSE 'adult' END"
        )
    joins.setdefault("xt", _json_join("r.exploitation_types", "xt"))
    return "xt.value"


def _live_dimension(dimension: str, joins: dict[str, str]) -> str:
    """SQL expression of ``dimension`` over a live case ``c`` and person ``p``."""
    if dimension == "year":
        return _year_of("c.opened_at")
    if dimension == "sex":
        return "p.gender"
    if dimension == "age_group":
        unknown = AgeBand.UNKNOWN.value
        return f"CASE WHEN p.age_band = '{unknown}' THEN '' ELSE p.age_band END"
    if dimension == "child":
        bands = ", ".join(f"'{b}'" for b in _CHILD_BANDS)
        return (
            f"CASE WHEN p.presumed_child OR p.age_band IN ({bands}) THEN 'child' "
            f"WHEN p.age_band IN ('', '{AgeBand.UNKNOWN.value}') THEN '' "
            "ELSE 'adult' END"
        )
    if dimension == "citizenship":
        joins.setdefault("cz", _json_join("p.citizenships", "cz"))
        return "cz.value"
    if dimension == "country_of_exploitation":
        return "''"
    joins.setdefault(
        "s",
        f"LEFT JOIN {_q(Screening._meta.db_table)} AS s ON s.case_id = c.id",
    )
    joins.setdefault("sx", _json_join("s.exploitation", "sx"))
    mapped = " ".join(
        f"WHEN '{kind}' THEN '{code}'" for kind, code in SCREENING_EXPLOITATION.items()
    )
    return f"CASE sx.value {mapped} ELSE sx.value END"


def _grouped_sql(
    source: str,
    dimensions: list[str],
    period: Period,
    by_dataset: bool = False,
) -> tuple[str, list[str | int]]:
    """The GROUP BY query counting ``source``'s people by ``dimensions``
    (``by_dataset``: historical records also grouped by their dataset,
    ``HistoricalRecord.source``, selected first)."""
    joins: dict[str, str] = {}
    params: list[str | int] = []
    where: list[str] = []
    if source == "historical":
        expressions = [_historical_dimension(d, joins) for d in dimensions]
        base = f"FROM {_q(HistoricalRecord._meta.db_table)} AS r"
        count = "COUNT(*)"
        year = "r.year_of_registration"
        if by_dataset:
            expressions = ["r.source", *expressions]
        # Only the current release of each source (trm.statistics.releases).
        for source_code, release in releases.superseded():
            where.append("NOT (r.source = %s AND r.release = %s)")
            params.extend([source_code, release])
    else:
        expressions = [_live_dimension(d, joins) for d in dimensions]
        base = (
            f"FROM {_q(Case._meta.db_table)} AS c "
            f"JOIN {_q(Person._meta.db_table)} AS p ON p.id = c.person_id"
        )
        count = "COUNT(DISTINCT c.id)" if joins else "COUNT(*)"
        year = _year_of("c.opened_at")
        placeholders = ", ".join(["%s"] * len(LIVE_IDENTIFICATION))
        where.append(f"c.identification IN ({placeholders})")
        params.extend(str(state) for state in LIVE_IDENTIFICATION)
    if period.first_year is not None:
        where.append(f"{year} >= %s")
        params.append(period.first_year)
    if period.last_year is not None:
        where.append(f"{year} <= %s")
        params.append(period.last_year)
    selected = ", ".join(f"{e} AS d{i}" for i, e in enumerate(expressions))
    groups = ", ".join(f"d{i}" for i in range(len(expressions)))
    sql = f"SELECT {selected}, {count} {base} " + " ".join(joins.values())
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" GROUP BY {groups}"
    return sql, params


def _label(value: object) -> str:
    """A dimension value as a table label (NULL and empty → unknown)."""
    return UNKNOWN if value is None else str(value)


def _counts(
    dimensions: list[str],
    rows: str,
    columns: str | None,
    period: Period,
    source: str,
    by_dataset: bool = False,
) -> dict[str, Counter[tuple[str, str]]]:
    """Counts of one source by (row, column); with ``by_dataset`` one Counter
    per historical dataset, else one under the key ``source``."""
    counts: dict[str, Counter[tuple[str, str]]] = {}
    sql, params = _grouped_sql(source, dimensions, period, by_dataset)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for *values, n in cursor.fetchall():
            key = str(values.pop(0)) if by_dataset else source
            row = _label(values[0])
            if columns is None:
                column = "total"
            elif columns == rows:
                column = row
            else:
                column = _label(values[1])
            counts.setdefault(key, Counter())[(row, column)] += n
    return counts or {source: Counter()}


def _checked(
    rows: str, columns: str | None, sources: Iterable[str]
) -> tuple[list[str], list[str]]:
    """(sorted sources, dimensions to group by), or UnknownDimension."""
    chosen = set(sources)
    if not chosen <= SOURCES or not chosen:
        raise UnknownDimension(f"unknown source in {sorted(chosen)}")
    for dimension in (rows, columns):
        if dimension is not None and dimension not in DIMENSIONS:
            raise UnknownDimension(f"unknown dimension {dimension!r}")
    if columns == rows:
        # The same dimension twice: one expression, counted on the diagonal.
        return sorted(chosen), [rows]
    return sorted(chosen), [rows] if columns is None else [rows, columns]


def _aligned(parts: list[Counter[tuple[str, str]]]) -> list[Table]:
    """Tables of the counters, all with the union of their labels."""
    keys = {key for counts in parts for key in counts}
    row_labels = sorted({r for r, _c in keys}) or [UNKNOWN]
    column_labels = sorted({c for _r, c in keys}) or ["total"]
    return [
        Table(
            rows=row_labels,
            columns=column_labels,
            cells=[[counts[(r, c)] for c in column_labels] for r in row_labels],
        )
        for counts in parts
    ]


def part_tables(
    *,
    rows: str,
    columns: str | None = None,
    period: Period | None = None,
    sources: Iterable[str] = ("historical",),
) -> list[Table]:
    """Exact tables of the disjoint parts that are protected apart: the live
    cases, and each historical dataset (``HistoricalRecord.source``: the
    public CTDC records, a partner's HTCDS records…) on its own. Same labels
    in every table. Arguments as :func:`count_table`.

    Raises:
        UnknownDimension: a dimension or source that does not exist.
    """
    chosen, dimensions = _checked(rows, columns, sources)
    period = period or Period()
    parts: list[Counter[tuple[str, str]]] = []
    for source in chosen:
        # Historical: one query grouped by dataset too, split here.
        by_dataset = _counts(
            dimensions, rows, columns, period, source, source == "historical"
        )
        parts.extend(by_dataset[key] for key in sorted(by_dataset))
    return _aligned(parts)


def source_tables(
    *,
    rows: str,
    columns: str | None = None,
    period: Period | None = None,
    sources: Iterable[str] = ("historical",),
) -> dict[str, Table]:
    """Count people by ``rows`` (and ``columns``), one exact table per source.

    Same arguments as :func:`count_table`. Every table has the same row and
    column labels (the union over the sources), so they can be added cell by
    cell.

    Returns:
        Source code → exact :class:`~trm.statistics.disclosure.Table`, sources
        in sorted order.

    Raises:
        UnknownDimension: a dimension or source that does not exist.
    """
    chosen, dimensions = _checked(rows, columns, sources)
    period = period or Period()
    tables = _aligned(
        [
            _counts(dimensions, rows, columns, period, source)[source]
            for source in chosen
        ]
    )
    return dict(zip(chosen, tables, strict=True))


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
        period: years of registration / of opening of a live case (default:
            all).
        sources: a subset of :data:`SOURCES`; the counts of several sources
            are added cell by cell.

    Returns:
        An exact :class:`~trm.statistics.disclosure.Table` (row and column
        labels sorted; ``""`` is the unknown value). NOT disclosure
        controlled, and never to be protected as a whole when it adds several
        sources (a reader who knows the public historical figures could
        subtract them): publish :func:`protected_table` instead.

    Raises:
        UnknownDimension: a dimension or source that does not exist.
    """
    tables = list(
        source_tables(
            rows=rows, columns=columns, period=period, sources=sources
        ).values()
    )
    first = tables[0]
    cells = [
        [sum(t.cells[i][j] for t in tables) for j in range(len(first.columns))]
        for i in range(len(first.rows))
    ]
    return Table(rows=first.rows, columns=first.columns, cells=cells)


def protected_table(
    *,
    rows: str,
    columns: str | None = None,
    period: Period | None = None,
    sources: Iterable[str] = ("historical",),
    threshold: int | None = None,
) -> ProtectedTable:
    """The publishable table of :func:`count_table`: each part
    (:func:`part_tables`: the live cases, each historical dataset) protected
    on its own, then added (:func:`~trm.statistics.disclosure.protect_parts`).

    Protecting the sum instead would leak: the CTDC records are a public
    dataset, so a reader who subtracts their known counts from a published
    sum learns the rest (the node's live count, a partner's HTCDS count),
    even one its own table suppresses.

    Raises:
        UnknownDimension: a dimension or source that does not exist.
    """
    tables = part_tables(rows=rows, columns=columns, period=period, sources=sources)
    return protect_parts(tables, threshold=threshold)
