"""count_table over historical records (first version: historical only)."""

from __future__ import annotations

import pytest

from trm.statistics.models import HistoricalRecord
from trm.statistics.tables import Period, UnknownDimension, count_table

pytestmark = pytest.mark.django_db


def record(n: int, **fields: object) -> None:
    for i in range(n):
        HistoricalRecord.objects.create(
            source="ctdc",
            release="test",
            row_key=f"{fields}-{i}",
            **fields,
        )


def test_people_are_counted_by_two_dimensions_with_unknowns():
    record(3, year_of_registration=2018, gender="Female", citizenship="MD")
    record(2, year_of_registration=2019, gender="Male", citizenship="MD")
    record(1, year_of_registration=2019, gender="Female", citizenship="")

    table = count_table(rows="citizenship", columns="year")

    assert table.rows == ("", "MD")
    assert table.columns == ("2018", "2019")
    assert table.cells == ((0, 1), (3, 2))
    assert table.grand_total == 6


def test_the_period_and_multi_valued_types():
    record(2, year_of_registration=2017, exploitation_types=["Labour", "Sexual"])
    record(1, year_of_registration=2019, exploitation_types=[])

    table = count_table(rows="exploitation_type", period=Period(2017, 2018))

    assert table.rows == ("Labour", "Sexual")
    assert table.columns == ("total",)
    assert table.cells == ((2,), (2,))


def test_children_and_adults():
    record(2, is_child=True)
    record(1, is_child=False)
    record(1)

    assert count_table(rows="child").cells == ((1,), (1,), (2,))


def test_an_unknown_dimension_or_source_is_refused():
    with pytest.raises(UnknownDimension):
        count_table(rows="hair_colour")
    with pytest.raises(UnknownDimension):
        count_table(rows="year", sources=["rumours"])
