"""count_table over historical records (first version: historical only)."""

from __future__ import annotations

import uuid

import pytest

from trm.statistics.models import HistoricalRecord
from trm.statistics.tables import Period, UnknownDimension, count_table

pytestmark = pytest.mark.django_db


def record(n: int, **fields: object) -> None:
    for _i in range(n):
        HistoricalRecord.objects.create(
            source="ctdc",
            release="test",
            row_key=uuid.uuid4().hex,
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


# Live cases ----------------------------------------------------------------


def live_case(actor, *, state="identified", opened=2024, screenings=(), **fields):
    from datetime import UTC, datetime

    from trm.cases.models import Case
    from trm.cases.tests.factories import open_case, set_states
    from trm.screening.models import Screening

    case = open_case(actor, **fields)
    set_states(case, identification=state)
    Case.objects.filter(pk=case.pk).update(opened_at=datetime(opened, 6, 1, tzinfo=UTC))
    for kinds in screenings:
        Screening.objects.create(
            case=case,
            at=datetime(opened, 6, 2, tzinfo=UTC),
            instrument="test",
            instrument_version="1",
            exploitation=list(kinds),
            result="continue_assessment",
            rule_result="insufficient_data",
        )
    return case


def test_live_cases_are_counted_from_clear_columns_only(caseworker_a):
    from datetime import date

    adult = date(1990, 1, 1)
    live_case(
        caseworker_a,
        gender="Feminine",
        birth_date=adult,
        citizenships=["RO", "MD"],
        screenings=[["labour"], ["labour", "sexual"]],
    )
    live_case(caseworker_a, gender="Masculine", birth_date=adult, citizenships=["RO"])
    live_case(caseworker_a, state="presumed", opened=2023, citizenships=[])
    # Not (yet) a presumed or identified person: not counted.
    live_case(caseworker_a, state="screening", citizenships=["BG"])

    by_year = count_table(rows="year", columns="sex", sources=["live"])
    assert by_year.rows == ("2023", "2024")
    assert by_year.grand_total == 3
    assert by_year.cells[1][by_year.columns.index("Feminine")] == 1

    citizenship = count_table(rows="citizenship", sources=["live"])
    assert dict(zip(citizenship.rows, citizenship.cells, strict=True)) == {
        "": (1,),
        "MD": (1,),
        "RO": (2,),
    }

    # Each type once per case whatever the number of screenings.
    types = count_table(rows="exploitation_type", columns="year", sources=["live"])
    assert types.rows == ("", "ForcedLabour", "SexualExploitation")
    assert types.cells == ((1, 1), (0, 1), (0, 1))

    ages = count_table(rows="age_group", columns="child", sources=["live"])
    assert "30--38" in ages.rows
    assert count_table(rows="country_of_exploitation", sources=["live"]).rows == ("",)


def test_live_children_and_the_period(caseworker_a):
    from datetime import date

    live_case(caseworker_a, birth_date=date(2015, 3, 1), opened=2024)
    live_case(caseworker_a, birth_date=None, may_be_child=True, opened=2024)
    live_case(caseworker_a, birth_date=date(1980, 3, 1), opened=2022)

    child = count_table(rows="child", sources=["live"])
    assert dict(zip(child.rows, child.cells, strict=True)) == {
        "adult": (1,),
        "child": (2,),
    }
    recent = count_table(rows="child", sources=["live"], period=Period(2023, 2024))
    assert recent.rows == ("child",)


def test_live_and_historical_sources_add_up(caseworker_a):
    record(2, year_of_registration=2024, gender="Feminine")
    live_case(caseworker_a, gender="Feminine", opened=2024)

    table = count_table(rows="sex", sources=["historical", "live"])
    assert table.rows == ("Feminine",)
    assert table.cells == ((3,),)
