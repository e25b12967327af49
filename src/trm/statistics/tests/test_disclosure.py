"""Disclosure control (issue 8 item 4): each protected table is attacked by two
checkers that know the exact published figures (before rounding, the worst case):

- the line checker: a row or column (with its total) holding exactly one suppressed
  figure gives it away by subtraction;
- the linear checker: a suppressed figure is derivable when the additivity equations
  of the table (every row and column adds up to its total), with the published
  figures as constants, fix it. Solved by exact rational elimination, independently
  of the graph algorithm the module uses.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pytest_django.fixtures import Settings

from trm.statistics.disclosure import (
    Figure,
    ProtectedTable,
    Reason,
    Table,
    protect,
    protect_counts,
    round_to_base,
    unrounded,
)

# --- The attackers ---


def _exact_grid(table: Table) -> list[list[int]]:
    grid = [[*row, sum(row)] for row in table.cells]
    grid.append([*table.column_totals, table.grand_total])
    return grid


def _published_grid(protected: ProtectedTable) -> list[list[Figure]]:
    grid = [
        [*row, total]
        for row, total in zip(protected.cells, protected.row_totals, strict=True)
    ]
    grid.append([*protected.column_totals, protected.grand_total])
    return grid


def _suppressed(protected: ProtectedTable) -> set[tuple[int, int]]:
    return {
        (i, j)
        for i, row in enumerate(_published_grid(protected))
        for j, figure in enumerate(row)
        if figure.suppressed
    }


def _lines(n_rows: int, n_columns: int) -> list[list[tuple[int, int]]]:
    """Rows and columns of the table extended with its totals (the total is last)."""
    rows = [[(i, j) for j in range(n_columns + 1)] for i in range(n_rows + 1)]
    columns = [[(i, j) for i in range(n_rows + 1)] for j in range(n_columns + 1)]
    return rows + columns


def line_leaks(protected: ProtectedTable) -> list[tuple[int, int]]:
    """Return the suppressed figures alone in their row or column (with its total)."""
    hidden = _suppressed(protected)
    leaks = []
    for line in _lines(len(protected.rows), len(protected.columns)):
        in_line = [p for p in line if p in hidden]
        if len(in_line) == 1:
            leaks.append(in_line[0])
    return leaks


def _rank(matrix: list[list[Fraction]]) -> int:
    rows = [row[:] for row in matrix]
    rank, n_columns = 0, len(rows[0]) if rows else 0
    for column in range(n_columns):
        pivot = next((r for r in range(rank, len(rows)) if rows[r][column] != 0), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        for r in range(len(rows)):
            if r != rank and rows[r][column] != 0:
                factor = rows[r][column] / rows[rank][column]
                rows[r] = [
                    a - factor * b for a, b in zip(rows[r], rows[rank], strict=True)
                ]
        rank += 1
    return rank


def derivable(protected: ProtectedTable) -> list[tuple[int, int]]:
    """Return the suppressed figures fixed by the table's additivity equations."""
    hidden = sorted(_suppressed(protected))
    if not hidden:
        return []
    n_rows, n_columns = len(protected.rows), len(protected.columns)
    equations: list[list[Fraction]] = []
    for line in _lines(n_rows, n_columns):
        *parts, total = line
        coefficient = {p: Fraction(1) for p in parts} | {total: Fraction(-1)}
        equations.append([coefficient.get(p, Fraction(0)) for p in hidden])
    full = _rank(equations)
    found = []
    for k, position in enumerate(hidden):
        without = [row[:k] + row[k + 1 :] for row in equations]
        if _rank(without) == full - 1:
            found.append(position)
    return found


def assert_safe(table: Table, protected: ProtectedTable) -> None:
    """Assert that the protected table follows every rule and leaks nothing."""
    assert line_leaks(protected) == []
    assert derivable(protected) == []
    threshold, base = protected.threshold, protected.base
    exact = _exact_grid(table)
    for i, row in enumerate(_published_grid(protected)):
        for j, figure in enumerate(row):
            count = exact[i][j]
            if 0 < count < threshold:
                assert figure == Figure(value=None, reason=Reason.SUPPRESSED)
            elif figure.suppressed:
                assert figure == Figure(value=None, reason=Reason.SECONDARY)
            else:
                assert figure.value == round_to_base(count, base)


def _reasons(protected: ProtectedTable) -> list[list[str]]:
    """Return the table as text: a value, "S" (primary) or "s" (secondary)."""
    marks = {Reason.SUPPRESSED: "S", Reason.SECONDARY: "s"}
    return [
        [marks[f.reason] if f.reason else str(f.value) for f in row]
        for row in _published_grid(protected)
    ]


def _table(cells: list[list[int]]) -> Table:
    return Table(
        rows=[f"r{i}" for i in range(len(cells))],
        columns=[f"c{j}" for j in range(len(cells[0]))],
        cells=cells,
    )


# --- The attackers themselves catch leaks ---


def test_checkers_catch_a_cell_alone_in_its_row() -> None:
    table = _table([[3, 20], [30, 40]])
    leaky = ProtectedTable(
        rows=table.rows,
        columns=table.columns,
        cells=((Figure(None, Reason.SUPPRESSED), Figure(20)), (Figure(30), Figure(40))),
        row_totals=(Figure(25), Figure(70)),
        column_totals=(Figure(35), Figure(60)),
        grand_total=Figure(95),
        threshold=10,
        base=5,
    )

    assert line_leaks(leaky) == [(0, 0), (0, 0)]
    assert derivable(leaky) == [(0, 0)]


def test_linear_checker_catches_a_bridge_between_two_closed_blocks() -> None:
    """Every line holds two suppressed figures, yet the cell joining the two blocks
    is their rows' sum minus their columns' sum."""
    s = Figure(None, Reason.SUPPRESSED)
    p = Figure(50)
    cells = (
        (s, s, s, p),
        (s, s, p, p),
        (p, p, s, s),
        (p, p, s, s),
    )
    leaky = ProtectedTable(
        rows=("a", "b", "c", "d"),
        columns=("w", "x", "y", "z"),
        cells=cells,
        row_totals=(p, p, p, p),
        column_totals=(p, p, p, p),
        grand_total=p,
        threshold=10,
        base=5,
    )

    assert line_leaks(leaky) == []
    assert derivable(leaky) == [(0, 2)]


# --- Crafted tables ---


def test_one_small_cell_in_a_3x3_is_hidden_with_the_smallest_complements() -> None:
    table = _table([[20, 30, 3], [15, 40, 25], [50, 12, 60]])

    protected = protect(table, threshold=10)

    assert_safe(table, protected)
    assert _reasons(protected) == [
        ["s", "30", "S", "55"],
        ["s", "40", "s", "80"],
        ["50", "10", "60", "120"],
        ["85", "80", "90", "255"],
    ]


def test_a_small_cell_alone_in_its_row_and_column_gets_both_complemented() -> None:
    table = _table([[4, 50, 60], [70, 80, 90], [11, 95, 85]])

    protected = protect(table, threshold=10)

    assert_safe(table, protected)
    assert _reasons(protected)[0][0] == "S"
    assert sum(f.suppressed for f in protected.cells[0]) >= 2
    assert sum(row[0].suppressed for row in protected.cells) >= 2


def test_a_small_row_total_is_suppressed_and_its_column_of_totals_complemented() -> (
    None
):
    """A row whose only non-zero cell is small: the cell and the row total are
    both counts of the same few persons."""
    table = _table([[0, 4, 0], [30, 20, 40], [25, 35, 45]])

    protected = protect(table, threshold=10)

    assert_safe(table, protected)
    grid = _reasons(protected)
    assert grid[0] == ["0", "S", "0", "S"]
    assert sum(row[3] in {"S", "s"} for row in grid) >= 2
    assert sum(row[1] in {"S", "s"} for row in grid) >= 2


def test_a_row_with_one_large_non_zero_cell_is_published_with_its_zeros() -> None:
    table = _table([[0, 40, 0], [30, 20, 40]])

    protected = protect(table, threshold=10)

    assert _suppressed(protected) == set()
    assert _reasons(protected)[0] == ["0", "40", "0", "40"]


def test_zeros_are_published_and_never_suppressed_as_complements_here() -> None:
    table = _table([[0, 5, 30], [0, 40, 50], [0, 35, 45]])

    protected = protect(table, threshold=10)

    assert_safe(table, protected)
    assert [row[0] for row in protected.cells] == [Figure(0)] * 3
    assert protected.column_totals[0] == Figure(0)


@pytest.mark.parametrize(
    ("count", "published"), [(9, None), (10, 10), (11, 10), (13, 15)]
)
def test_a_count_equal_to_the_threshold_is_published(
    count: int, published: int | None
) -> None:
    table = _table([[count, 40], [50, 60]])

    protected = protect(table, threshold=10)

    assert_safe(table, protected)
    assert protected.cells[0][0].value == published


@pytest.mark.parametrize(
    ("count", "base", "rounded"),
    [
        (0, 5, 0),
        (1, 5, 0),
        (2, 5, 0),
        (3, 5, 5),
        (7, 5, 5),
        (8, 5, 10),
        (12, 5, 10),  # 12.5 is the boundary between 10 and 15
        (13, 5, 15),
        (15, 10, 20),  # an exact half rounds up
        (14, 10, 10),
        (7, 1, 7),
    ],
)
def test_round_to_base_rounds_to_the_nearest_multiple(
    count: int, base: int, rounded: int
) -> None:
    assert round_to_base(count, base) == rounded


def test_totals_are_rounded_independently_and_the_note_says_so() -> None:
    table = _table([[12, 12], [12, 12]])

    protected = protect(table, threshold=10)

    assert [f.value for f in protected.cells[0]] == [10, 10]
    assert protected.row_totals[0].value == 25
    assert protected.grand_total.value == 50
    assert "may not add up" in protected.note
    assert "1 to 9" in protected.note


def test_a_one_row_table_suppresses_a_second_category() -> None:
    table = _table([[25, 4, 30, 12]])

    protected = protect(table, threshold=10)

    assert_safe(table, protected)
    assert _reasons(protected) == [
        ["25", "S", "30", "s", "70"],
        ["25", "S", "30", "s", "70"],
    ]


def test_a_one_column_table_suppresses_a_second_category() -> None:
    table = _table([[25], [4], [30], [12]])

    protected = protect(table, threshold=10)

    assert_safe(table, protected)
    assert [row[0] for row in _reasons(protected)] == ["25", "S", "30", "s", "70"]


def test_a_single_small_category_beside_zeros_hides_the_total() -> None:
    table = _table([[0, 6, 0]])

    protected = protect(table, threshold=10)

    assert_safe(table, protected)
    assert _reasons(protected)[0] == ["0", "S", "0", "S"]


def test_a_small_one_cell_table_is_entirely_suppressed() -> None:
    table = _table([[3]])

    protected = protect(table, threshold=10)

    assert_safe(table, protected)
    assert all(f.suppressed for f in protected.figures())


def test_a_table_of_zeros_is_published() -> None:
    table = _table([[0, 0], [0, 0]])

    protected = protect(table, threshold=10)

    assert [f.value for f in protected.figures()] == [0] * 9


def test_suppressed_cells_forming_two_blocks_joined_by_one_cell_get_a_cycle() -> None:
    """Every line of the primary pattern holds two suppressions (so the line rule is
    satisfied), but the cell joining the two blocks is still derivable."""
    table = _table(
        [
            [3, 4, 5, 60],
            [6, 7, 70, 80],
            [50, 55, 8, 9],
            [65, 75, 4, 2],
        ]
    )

    protected = protect(table, threshold=10)

    assert_safe(table, protected)
    assert len(_suppressed(protected)) > 9


def test_the_threshold_comes_from_the_setting(settings: Settings) -> None:
    table = _table([[7, 40], [50, 60]])
    settings.TRM_STATS_SUPPRESSION_THRESHOLD = 5

    lower = protect(table)
    settings.TRM_STATS_SUPPRESSION_THRESHOLD = 10
    default = protect(table)

    assert lower.threshold == 5
    assert lower.cells[0][0] == Figure(5)
    assert default.threshold == 10
    assert default.cells[0][0] == Figure(None, Reason.SUPPRESSED)


def test_the_setting_is_read_from_the_environment_and_validated() -> None:
    script = (
        "import importlib, os\n"
        "os.environ['TRM_STATS_SUPPRESSION_THRESHOLD'] = '7'\n"
        "import trm.settings as s\n"
        "print(s.TRM_STATS_SUPPRESSION_THRESHOLD)\n"
        "os.environ['TRM_STATS_SUPPRESSION_THRESHOLD'] = '2'\n"
        "try:\n"
        "    importlib.reload(s)\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, error)\n"
    )
    environ = {**os.environ, "TRM_ENV": "development"}
    environ.pop("DJANGO_SETTINGS_MODULE", None)

    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script],
        env=environ,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    first, second = done.stdout.splitlines()[-2:]
    assert first == "7"
    assert second.startswith("ImproperlyConfigured TRM_STATS_SUPPRESSION_THRESHOLD")


def test_bad_tables_and_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="one row per row label"):
        Table(rows=["a"], columns=["x", "y"], cells=[[1]])
    with pytest.raises(ValueError, match="whole numbers"):
        Table(rows=["a"], columns=["x"], cells=[[-1]])
    with pytest.raises(ValueError, match="unique"):
        Table(rows=["a", "a"], columns=["x"], cells=[[1], [2]])
    with pytest.raises(ValueError, match="at least one row"):
        Table(rows=[], columns=["x"], cells=[])
    with pytest.raises(ValueError, match="base"):
        protect(_table([[1]]), threshold=10, base=0)
    with pytest.raises(ValueError, match="threshold"):
        protect(_table([[1]]), threshold=0)


# --- Simple counts ---


def test_protect_counts_suppresses_the_next_smallest_category() -> None:
    protected = protect_counts(
        {"sexual": 42, "labour": 3, "begging": 11, "criminality": 27}, threshold=10
    )

    assert protected.items() == (
        ("sexual", Figure(40)),
        ("labour", Figure(None, Reason.SUPPRESSED)),
        ("begging", Figure(None, Reason.SECONDARY)),
        ("criminality", Figure(25)),
    )
    assert protected.total == Figure(85)


def test_protect_counts_leaves_two_small_categories_as_they_are() -> None:
    protected = protect_counts({"a": 3, "b": 4, "c": 50}, threshold=10)

    assert [f.reason for f in protected.figures] == [
        Reason.SUPPRESSED,
        Reason.SUPPRESSED,
        None,
    ]
    assert protected.total == Figure(55)


def test_protect_counts_hides_the_total_of_a_single_category() -> None:
    protected = protect_counts({"a": 4}, threshold=10)

    assert protected.figures == (Figure(None, Reason.SUPPRESSED),)
    assert protected.total == Figure(None, Reason.SUPPRESSED)


# --- Unrounded figures for quality control ---


def test_unrounded_gives_exact_figures_and_how_each_is_published() -> None:
    table = _table([[20, 30, 3], [15, 40, 25], [50, 12, 60]])

    exact = unrounded(table, threshold=10)
    public = protect(table, threshold=10)

    assert [f.value for f in exact.cells[0]] == [20, 30, 3]
    assert exact.grand_total.value == 255
    assert [f.reason for f in exact.cells[0]] == [f.reason for f in public.cells[0]]
    assert exact.row_totals[2].value == 122


# --- Random tables ---

_COUNT = st.one_of(st.integers(0, 12), st.integers(0, 80), st.just(0))


@st.composite
def _tables(draw: st.DrawFn) -> Table:
    n_rows = draw(st.integers(1, 5))
    n_columns = draw(st.integers(1, 5))
    cells = draw(
        st.lists(
            st.lists(_COUNT, min_size=n_columns, max_size=n_columns),
            min_size=n_rows,
            max_size=n_rows,
        )
    )
    return _table(cells)


@hypothesis_settings(max_examples=300, deadline=None)
@given(_tables(), st.integers(3, 15), st.sampled_from([1, 3, 5, 10]))
def test_random_tables_leak_no_suppressed_figure(
    table: Table, threshold: int, base: int
) -> None:
    assert_safe(table, protect(table, threshold=threshold, base=base))


def test_seeded_random_larger_tables_leak_no_suppressed_figure() -> None:
    rng = random.Random(8)
    for _ in range(40):
        n_rows, n_columns = rng.randint(4, 9), rng.randint(4, 9)
        cells = [
            [
                rng.choice([0, rng.randint(1, 9), rng.randint(1, 200)])
                for _ in range(n_columns)
            ]
            for _ in range(n_rows)
        ]
        table = _table(cells)
        assert_safe(table, protect(table, threshold=10))
