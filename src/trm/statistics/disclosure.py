"""Disclosure control of counts of persons (issue 8 item 4; SOPS §4; ARCHITECTURE §4).

Every count that leaves the node (the regional aggregate message, downloads) or is
shown to a role without access to the cases behind it (tables, dashboard) passes
:func:`protect` (a two-way table) or :func:`protect_counts` (a list of categories)
first. Both are pure functions of the counts: no database, no request.

The rules follow the statistical disclosure control practice of national statistical
offices for frequency tables (the ESSnet *Handbook on Statistical Disclosure Control*
used by Eurostat, Hundepool et al.; ONS guidance on tables of counts), applied in
this order:

1. **Primary suppression.** Every figure, cell *or total*, with
   ``0 < count < threshold`` is suppressed (reason ``"suppressed"``). The threshold
   is ``settings.TRM_STATS_SUPPRESSION_THRESHOLD`` (default 10). True zeros are
   published: a zero identifies nobody, and hiding zeros would also hide structural
   zeros and multiply the suppressions without protecting anyone.
2. **Complementary (secondary) suppression** (reason ``"secondary"``), repeated until
   stable, so that no suppressed figure can be derived exactly from the published
   figures of its row and column and their totals, by differencing or by any linear
   combination of the table's additivity equations:

   a. every line (a row with its row total, a column with its column total, the row
      of column totals with the grand total, the column of row totals with the grand
      total) holding exactly one suppressed figure gets a second one: the published
      non-zero figure of that line with the smallest count (on a tie: one whose
      crossing line also needs a complement, then a cell before a total, then the
      first in reading order);
   b. a suppressed figure that is still determined (an edge that is a *bridge* of the
      bipartite graph whose nodes are the lines and whose edges are the suppressed
      figures; a figure is exactly derivable from the additivity equations if and
      only if it lies on no cycle of that graph) gets a complement that closes a
      cycle through it, again the smallest non-zero count.

   Zeros are used as complements only when a line has no other figure left (they
   protect less, since a reader may know a category is empty).
3. **Rounding** of every published figure, cell and total, to the nearest multiple
   of ``base`` (default 5), halves rounded up (only possible for an even base).
   Totals are rounded independently of their cells, so published cells need not add
   up to the published total; :attr:`ProtectedTable.note` says so beside the table.

Suppressed figures carry ``value=None`` and their reason, never their count.

Limits: the protection holds within one table. Two tables published from the same
cases with overlapping categories (e.g. one by year and citizenship, one by year and
region of a country) can still be differenced against each other; a table whose row
holds a single non-zero published cell reveals that everyone in that row falls in that
column (group attribute disclosure). Callers choose categories with this in mind.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext

__all__ = [
    "DEFAULT_BASE",
    "ExactFigure",
    "Figure",
    "ProtectedCounts",
    "ProtectedTable",
    "Reason",
    "Table",
    "UnroundedTable",
    "effective_threshold",
    "protect",
    "protect_counts",
    "protect_parts",
    "round_to_base",
    "suppression_threshold",
    "unrounded",
    "unrounded_parts",
]

DEFAULT_BASE = 5

# A figure's position in the table extended with its totals: (row, column), where
# row == len(rows) is the row of column totals and column == len(columns) the
# column of row totals (so (len(rows), len(columns)) is the grand total).
_Position = tuple[int, int]
# A node of the suppression graph: ("r", i) a row line, ("c", j) a column line.
_Node = tuple[str, int]


class Reason(enum.StrEnum):
    """Why a figure is not published."""

    SUPPRESSED = "suppressed"
    """Primary: the count is above 0 and below the threshold."""
    SECONDARY = "secondary"
    """Complementary: publishing it would reveal a suppressed count."""


@dataclass(frozen=True, init=False)
class Table:
    """A two-way frequency table of counts of persons, before disclosure control.

    ``cells[i][j]`` is the number of persons in row ``rows[i]`` and column
    ``columns[j]`` (a whole number ≥ 0). Totals are computed from the cells, so every
    person counted must be counted in exactly one cell.

    Raises:
        ValueError: no rows or columns, duplicate labels, a row of the wrong length,
            or a count that is not a whole number ≥ 0.
    """

    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: tuple[tuple[int, ...], ...]

    def __init__(
        self,
        rows: Sequence[str],
        columns: Sequence[str],
        cells: Sequence[Sequence[int]],
    ) -> None:
        rows_t, columns_t = tuple(rows), tuple(columns)
        cells_t = tuple(tuple(row) for row in cells)
        if not rows_t or not columns_t:
            raise ValueError("A table needs at least one row and one column.")
        if len(set(rows_t)) != len(rows_t) or len(set(columns_t)) != len(columns_t):
            raise ValueError("Row and column labels must be unique.")
        if len(cells_t) != len(rows_t) or any(
            len(r) != len(columns_t) for r in cells_t
        ):
            raise ValueError(
                "cells must have one row per row label, one count per column."
            )
        for row in cells_t:
            for count in row:
                if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                    raise ValueError("Counts must be whole numbers of at least 0.")
        object.__setattr__(self, "rows", rows_t)
        object.__setattr__(self, "columns", columns_t)
        object.__setattr__(self, "cells", cells_t)

    @property
    def row_totals(self) -> tuple[int, ...]:
        """Return the sum of each row, in row order."""
        return tuple(sum(row) for row in self.cells)

    @property
    def column_totals(self) -> tuple[int, ...]:
        """Return the sum of each column, in column order."""
        return tuple(sum(column) for column in zip(*self.cells, strict=True))

    @property
    def grand_total(self) -> int:
        """Return the sum of all cells."""
        return sum(self.row_totals)


@dataclass(frozen=True)
class Figure:
    """A published figure: a rounded count, or ``None`` and why it is hidden."""

    value: int | None
    reason: Reason | None = None

    @property
    def suppressed(self) -> bool:
        """Return whether the figure is hidden."""
        return self.reason is not None


@dataclass(frozen=True)
class ProtectedTable:
    """A :class:`Table` after :func:`protect`: safe to publish.

    Same shape as the table: ``cells[i][j]``, ``row_totals[i]``,
    ``column_totals[j]``, ``grand_total``, each a :class:`Figure` whose value is a
    multiple of ``base`` (persons), or ``None`` when suppressed.
    """

    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: tuple[tuple[Figure, ...], ...]
    row_totals: tuple[Figure, ...]
    column_totals: tuple[Figure, ...]
    grand_total: Figure
    threshold: int
    base: int

    @property
    def note(self) -> str:
        """Return the sentence to show with the table (rounding and suppression)."""
        return _note(self.threshold, self.base)

    def figures(self) -> Iterator[Figure]:
        """Yield the cells row by row, the row totals, column totals, grand total."""
        for row in self.cells:
            yield from row
        yield from self.row_totals
        yield from self.column_totals
        yield self.grand_total


@dataclass(frozen=True)
class ProtectedCounts:
    """A list of categories after :func:`protect_counts`: safe to publish.

    ``figures[k]`` is the :class:`Figure` of ``categories[k]``; ``total`` that of
    their sum.
    """

    categories: tuple[str, ...]
    figures: tuple[Figure, ...]
    total: Figure
    threshold: int
    base: int

    @property
    def note(self) -> str:
        """Return the sentence to show with the figures (rounding and suppression)."""
        return _note(self.threshold, self.base)

    def items(self) -> tuple[tuple[str, Figure], ...]:
        """Return ``(category, figure)`` pairs in order."""
        return tuple(zip(self.categories, self.figures, strict=True))


@dataclass(frozen=True)
class ExactFigure:
    """An exact count and how the public table treats it (``None``: published)."""

    value: int
    reason: Reason | None = None


@dataclass(frozen=True)
class UnroundedTable:
    """Exact figures of a table for internal quality control (see :func:`unrounded`)."""

    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: tuple[tuple[ExactFigure, ...], ...]
    row_totals: tuple[ExactFigure, ...]
    column_totals: tuple[ExactFigure, ...]
    grand_total: ExactFigure
    threshold: int


def suppression_threshold() -> int:
    """Return the node's threshold, ``settings.TRM_STATS_SUPPRESSION_THRESHOLD``."""
    return int(settings.TRM_STATS_SUPPRESSION_THRESHOLD)


def round_to_base(count: int, base: int = DEFAULT_BASE) -> int:
    """Round a count to the nearest multiple of ``base``, halves up.

    With base 5: 0 → 0, 2 → 0, 3 → 5, 7 → 5, 8 → 10, 12 → 10, 13 → 15 (12.5 is the
    boundary between 10 and 15). With an even base a half rounds up: base 10,
    15 → 20. Base 1 leaves the count unchanged.

    Raises:
        ValueError: ``count`` < 0 or ``base`` < 1.
    """
    if count < 0 or base < 1:
        raise ValueError("count must be at least 0 and base at least 1.")
    return (count + base // 2) // base * base


def protect(
    table: Table, *, threshold: int | None = None, base: int = DEFAULT_BASE
) -> ProtectedTable:
    """Apply disclosure control to a two-way table: suppress, complement, round.

    Args:
        table: the exact counts.
        threshold: counts above 0 and below it are suppressed; ``None`` reads
            ``settings.TRM_STATS_SUPPRESSION_THRESHOLD`` (default 10).
        base: published figures are rounded to the nearest multiple of it (5).

    Returns:
        The :class:`ProtectedTable`: suppressed figures have ``value=None`` and
        reason ``"suppressed"`` (primary) or ``"secondary"`` (complementary); every
        other figure, cells and totals alike, is rounded independently. The rules,
        their order and their sources are in the module docstring and
        ``docs/statistics.md``.

    Raises:
        ValueError: ``threshold`` or ``base`` below 1.
    """
    if base < 1:
        raise ValueError("base must be at least 1.")
    threshold = effective_threshold(_threshold(threshold), base)
    grid = _extended(table)
    marks = _suppress(grid, threshold)

    def figure(position: _Position) -> Figure:
        reason = marks.get(position)
        if reason is not None:
            return Figure(value=None, reason=reason)
        return Figure(value=round_to_base(grid[position[0]][position[1]], base))

    n_rows, n_columns = len(table.rows), len(table.columns)
    return ProtectedTable(
        rows=table.rows,
        columns=table.columns,
        cells=tuple(
            tuple(figure((i, j)) for j in range(n_columns)) for i in range(n_rows)
        ),
        row_totals=tuple(figure((i, n_columns)) for i in range(n_rows)),
        column_totals=tuple(figure((n_rows, j)) for j in range(n_columns)),
        grand_total=figure((n_rows, n_columns)),
        threshold=threshold,
        base=base,
    )


def protect_parts(
    tables: Sequence[Table], *, threshold: int | None = None, base: int = DEFAULT_BASE
) -> ProtectedTable:
    """Protect tables of disjoint sources of persons and publish their sum.

    Each table is protected on its own (:func:`protect`); a figure of the sum
    is the sum of the parts' published figures, or suppressed when any part
    suppressed it (reason ``"suppressed"`` if a part's is primary, else
    ``"secondary"``). A reader who knows one part exactly (a public dataset)
    therefore learns no more about another part than that part's own
    protected table shows.

    Args:
        tables: at least one; all with the same row and column labels.
        threshold, base: as for :func:`protect`.

    Raises:
        ValueError: no table, tables of different shapes, bad threshold/base.
    """
    if not tables:
        raise ValueError("protect_parts needs at least one table.")
    first = tables[0]
    if any(t.rows != first.rows or t.columns != first.columns for t in tables):
        raise ValueError("The parts must have the same row and column labels.")
    parts = [protect(t, threshold=threshold, base=base) for t in tables]
    if len(parts) == 1:
        return parts[0]

    def add(figures: Sequence[Figure]) -> Figure:
        reasons = {f.reason for f in figures if f.reason is not None}
        if reasons:
            primary = Reason.SUPPRESSED in reasons
            return Figure(
                value=None, reason=Reason.SUPPRESSED if primary else Reason.SECONDARY
            )
        return Figure(value=sum(f.value or 0 for f in figures))

    n_rows, n_columns = len(first.rows), len(first.columns)
    return ProtectedTable(
        rows=first.rows,
        columns=first.columns,
        cells=tuple(
            tuple(add([p.cells[i][j] for p in parts]) for j in range(n_columns))
            for i in range(n_rows)
        ),
        row_totals=tuple(add([p.row_totals[i] for p in parts]) for i in range(n_rows)),
        column_totals=tuple(
            add([p.column_totals[j] for p in parts]) for j in range(n_columns)
        ),
        grand_total=add([p.grand_total for p in parts]),
        threshold=parts[0].threshold,
        base=base,
    )


def protect_counts(
    counts: Mapping[str, int], *, threshold: int | None = None, base: int = DEFAULT_BASE
) -> ProtectedCounts:
    """Apply disclosure control to simple counts by category, with their total.

    A category with ``0 < count < threshold`` is suppressed; if that leaves exactly one
    suppressed figure among the categories and the total (so it could be recovered as
    the total minus the others), the next smallest non-zero category is suppressed too
    (or the total, when there is no other). Published figures are rounded to ``base``.
    This is :func:`protect` applied to a one-row table.

    Args:
        counts: category → number of persons (≥ 0), in display order; at least one.
        threshold, base: as for :func:`protect`.

    Raises:
        ValueError: no categories, a bad count, ``threshold`` or ``base`` below 1.
    """
    protected = protect(
        Table(rows=("total",), columns=tuple(counts), cells=(tuple(counts.values()),)),
        threshold=threshold,
        base=base,
    )
    return ProtectedCounts(
        categories=protected.columns,
        figures=protected.cells[0],
        total=protected.row_totals[0],
        threshold=protected.threshold,
        base=protected.base,
    )


def unrounded(table: Table, *, threshold: int | None = None) -> UnroundedTable:
    """Return the exact figures of a table and how :func:`protect` treats each one.

    This is for an administrator's internal quality-control view only: the values
    are neither suppressed nor rounded, so they may identify persons. The caller
    (the view, which comes with the dashboard) must check that the user holds the
    administrator role and write an audit entry for the read before showing them;
    nothing computed here may be published, downloaded by another role, or sent to
    another node.

    Args:
        table: the exact counts.
        threshold: as for :func:`protect` (for the ``reason`` of each figure).
    """
    threshold = effective_threshold(_threshold(threshold))
    grid = _extended(table)
    marks = _suppress(grid, threshold)

    def figure(position: _Position) -> ExactFigure:
        return ExactFigure(
            value=grid[position[0]][position[1]], reason=marks.get(position)
        )

    n_rows, n_columns = len(table.rows), len(table.columns)
    return UnroundedTable(
        rows=table.rows,
        columns=table.columns,
        cells=tuple(
            tuple(figure((i, j)) for j in range(n_columns)) for i in range(n_rows)
        ),
        row_totals=tuple(figure((i, n_columns)) for i in range(n_rows)),
        column_totals=tuple(figure((n_rows, j)) for j in range(n_columns)),
        grand_total=figure((n_rows, n_columns)),
        threshold=threshold,
    )


def unrounded_parts(
    tables: Sequence[Table], *, threshold: int | None = None
) -> UnroundedTable:
    """:func:`unrounded` of tables published with :func:`protect_parts`: the
    exact figures of their sum, each marked as the published sum treats it
    (suppressed when any part suppressed it). Same restrictions as
    :func:`unrounded`.

    Raises:
        ValueError: no table, or tables of different shapes.
    """
    published = protect_parts(tables, threshold=threshold)
    first = tables[0]
    total = Table(
        rows=first.rows,
        columns=first.columns,
        cells=[
            [sum(t.cells[i][j] for t in tables) for j in range(len(first.columns))]
            for i in range(len(first.rows))
        ],
    )
    exact = unrounded(total, threshold=published.threshold)

    def mark(value: ExactFigure, figure: Figure) -> ExactFigure:
        return ExactFigure(value=value.value, reason=figure.reason)

    return UnroundedTable(
        rows=exact.rows,
        columns=exact.columns,
        cells=tuple(
            tuple(mark(v, f) for v, f in zip(line, pline, strict=True))
            for line, pline in zip(exact.cells, published.cells, strict=True)
        ),
        row_totals=tuple(
            mark(v, f)
            for v, f in zip(exact.row_totals, published.row_totals, strict=True)
        ),
        column_totals=tuple(
            mark(v, f)
            for v, f in zip(exact.column_totals, published.column_totals, strict=True)
        ),
        grand_total=mark(exact.grand_total, published.grand_total),
        threshold=exact.threshold,
    )


# --- Internals ------------------------------------------------------------------


def _note(threshold: int, base: int) -> str:
    return gettext(
        "Figures are rounded to the nearest multiple of %(base)s. Totals are rounded "
        "separately, so the figures shown may not add up to the totals shown. Counts "
        "from 1 to %(largest)s are not shown, nor are other figures that would reveal "
        "them."
    ) % {"base": base, "largest": threshold - 1}


def effective_threshold(threshold: int, base: int = DEFAULT_BASE) -> int:
    """The threshold actually applied with rounding to ``base``.

    The smallest published count is the threshold ``t``; if ``t + 1`` rounds
    to another multiple of ``base`` than ``t`` does (with base 5: ``t`` = 7,
    12, 17…), every published ``round(t)`` is exactly ``t`` (a smaller count
    is suppressed, a larger one rounds up). Such a threshold is raised by
    one. With base 1 (no rounding) the threshold is kept.
    """
    if base > 1 and round_to_base(threshold, base) != round_to_base(
        threshold + 1, base
    ):
        return threshold + 1
    return threshold


def _threshold(threshold: int | None) -> int:
    value = suppression_threshold() if threshold is None else threshold
    if value < 1:
        raise ValueError("threshold must be at least 1.")
    return value


def _extended(table: Table) -> list[list[int]]:
    """Return the table with its totals: row totals as a last column, column totals
    and the grand total as a last row."""
    grid = [
        [*row, total] for row, total in zip(table.cells, table.row_totals, strict=True)
    ]
    grid.append([*table.column_totals, table.grand_total])
    return grid


def _suppress(grid: list[list[int]], threshold: int) -> dict[_Position, Reason]:
    """Return the suppressed positions of an extended table and why."""
    marks: dict[_Position, Reason] = {
        (i, j): Reason.SUPPRESSED
        for i, row in enumerate(grid)
        for j, count in enumerate(row)
        if 0 < count < threshold
    }
    while _complete_a_line(grid, marks) or _break_a_bridge(grid, marks):
        pass
    return marks


def _lines(grid: list[list[int]]) -> Iterator[tuple[bool, list[_Position]]]:
    """Yield ``(is_row, positions)`` for every row line, then every column line."""
    n_rows, n_columns = len(grid), len(grid[0])
    for i in range(n_rows):
        yield True, [(i, j) for j in range(n_columns)]
    for j in range(n_columns):
        yield False, [(i, j) for i in range(n_rows)]


def _marked_in_line(
    grid: list[list[int]],
    marks: dict[_Position, Reason],
    position: _Position,
    *,
    row: bool,
) -> int:
    i, j = position
    if row:
        return sum((i, k) in marks for k in range(len(grid[0])))
    return sum((k, j) in marks for k in range(len(grid)))


def _cost(
    grid: list[list[int]],
    marks: dict[_Position, Reason],
    position: _Position,
    *,
    crossing_is_row: bool,
) -> tuple[bool, int, bool, bool, _Position]:
    """Order complements: non-zero first, smallest count, closing the crossing line,
    a cell before a total, reading order."""
    i, j = position
    count = grid[i][j]
    crossing_needs_one = (
        _marked_in_line(grid, marks, position, row=crossing_is_row) == 1
    )
    is_total = i == len(grid) - 1 or j == len(grid[0]) - 1
    return (count == 0, count, not crossing_needs_one, is_total, position)


def _complete_a_line(grid: list[list[int]], marks: dict[_Position, Reason]) -> bool:
    """Give the first line holding exactly one suppressed figure a complement."""
    for is_row_line, line in _lines(grid):
        if sum(position in marks for position in line) != 1:
            continue
        candidates = [p for p in line if p not in marks]
        choice = min(
            candidates,
            key=lambda p: _cost(grid, marks, p, crossing_is_row=not is_row_line),
        )
        marks[choice] = Reason.SECONDARY
        return True
    return False


def _graph(
    marks: dict[_Position, Reason],
) -> dict[_Node, list[tuple[_Node, _Position]]]:
    adjacency: dict[_Node, list[tuple[_Node, _Position]]] = {}
    for position in sorted(marks):
        row, column = ("r", position[0]), ("c", position[1])
        adjacency.setdefault(row, []).append((column, position))
        adjacency.setdefault(column, []).append((row, position))
    return adjacency


def _bridges(adjacency: dict[_Node, list[tuple[_Node, _Position]]]) -> set[_Position]:
    """Return the edges on no cycle (Tarjan's bridge-finding, iterative)."""
    index: dict[_Node, int] = {}
    low: dict[_Node, int] = {}
    bridges: set[_Position] = set()
    for root in adjacency:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack: list[
            tuple[_Node, _Position | None, Iterator[tuple[_Node, _Position]]]
        ] = [(root, None, iter(adjacency[root]))]
        while stack:
            node, via, neighbours = stack[-1]
            for neighbour, edge in neighbours:
                if edge == via:
                    continue
                if neighbour in index:
                    low[node] = min(low[node], index[neighbour])
                else:
                    index[neighbour] = low[neighbour] = len(index)
                    stack.append((neighbour, edge, iter(adjacency[neighbour])))
                    break
            else:
                stack.pop()
                if stack and via is not None:
                    parent = stack[-1][0]
                    low[parent] = min(low[parent], low[node])
                    if low[node] > index[parent]:
                        bridges.add(via)
    return bridges


def _reachable(
    adjacency: dict[_Node, list[tuple[_Node, _Position]]],
    start: _Node,
    without: _Position,
) -> set[_Node]:
    seen = {start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for neighbour, edge in adjacency[node]:
            if edge != without and neighbour not in seen:
                seen.add(neighbour)
                queue.append(neighbour)
    return seen


def _break_a_bridge(grid: list[list[int]], marks: dict[_Position, Reason]) -> bool:
    """Put the first still-derivable suppressed figure on a cycle of suppressions."""
    adjacency = _graph(marks)
    bridges = _bridges(adjacency)
    if not bridges:
        return False
    bridge = min(bridges)
    side_a = _reachable(adjacency, ("r", bridge[0]), bridge)
    side_b = _reachable(adjacency, ("c", bridge[1]), bridge)
    candidates = [
        (i, j)
        for i in range(len(grid))
        for j in range(len(grid[0]))
        if (i, j) not in marks
        and (
            (("r", i) in side_a and ("c", j) in side_b)
            or (("r", i) in side_b and ("c", j) in side_a)
        )
    ]
    if not candidates:  # pragma: no cover - impossible once every line holds 0 or ≥ 2
        raise AssertionError("no complement closes a cycle through a derivable figure")
    choice = min(candidates, key=lambda p: (grid[p[0]][p[1]] == 0, grid[p[0]][p[1]], p))
    marks[choice] = Reason.SECONDARY
    return True
