"""The follow-up schedule: from the variant, in calendar months."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import pytest

from trm.common.yamldata import DataFileError
from trm.reintegration.schedule import add_months, due_dates, months_after_return
from trm.sop import loader

VARIANT = """\
schema_version: 1
variant: xx
extends: baseline
title: "Example country"
country: XX
example: true
note: "Test values."
source: "test"
"""


@pytest.fixture(autouse=True)
def _fresh_cache():
    loader.clear_cache()
    yield
    loader.clear_cache()


def write_variant(tmp_path: Path, body: str) -> str:
    path = tmp_path / "xx.yaml"
    path.write_text(VARIANT + textwrap.dedent(body), encoding="utf-8")
    return str(path)


def test_the_baseline_reports_at_1_3_6_and_12_months():
    assert months_after_return(loader.get_definition("baseline")) == [1, 3, 6, 12]


def test_a_variant_replaces_the_schedule(tmp_path):
    path = write_variant(
        tmp_path, "settings:\n  follow_up:\n    months_after_return: [2, 6, 24]\n"
    )
    assert months_after_return(loader.get_definition(path)) == [2, 6, 24]


def test_a_variant_without_the_setting_keeps_the_baselines(tmp_path):
    path = write_variant(tmp_path, "settings:\n  care_plan:\n    within_days: 20\n")
    assert months_after_return(loader.get_definition(path)) == [1, 3, 6, 12]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("[3, 1]", "must increase"),
        ("[0, 3]", "minimum"),
        ("[]", ""),
        ("[1.5]", ""),
    ],
)
def test_a_bad_schedule_is_refused_with_its_line(tmp_path, body, reason):
    path = write_variant(
        tmp_path, f"settings:\n  follow_up:\n    months_after_return: {body}\n"
    )
    with pytest.raises(DataFileError) as caught:
        loader.load_definition(path)
    text = str(caught.value)
    assert "months_after_return" in text
    assert reason in text


def test_months_are_calendar_months_clamped_to_the_month_end():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)
    assert add_months(date(2026, 3, 31), 12) == date(2027, 3, 31)
    assert due_dates(date(2026, 8, 31), [1, 6]) == [
        (1, 1, date(2026, 9, 30)),
        (2, 6, date(2027, 2, 28)),
    ]
