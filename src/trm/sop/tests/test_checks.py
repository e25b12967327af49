"""The system check that refuses a broken or unknown SOP variant."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from trm.sop import loader
from trm.sop.checks import check_sop_variant

BROKEN = """\
schema_version: 1
variant: xx
extends: baseline
title: "Broken"
country: XX
example: false
source: "test"
steps:
  sop1.screening:
    roles: [police]
"""


@pytest.fixture(autouse=True)
def _fresh_cache():
    loader.clear_cache()
    yield
    loader.clear_cache()


def test_a_valid_variant_passes(settings):
    settings.TRM_SOP_VARIANT = "bg"
    assert check_sop_variant() == []


def test_check_command_fails_on_a_broken_variant_naming_file_line_field(
    settings, tmp_path, db
):
    # db: other apps' checks (the keystore) read the database.
    path = tmp_path / "xx.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    settings.TRM_SOP_VARIANT = str(path)
    with pytest.raises(SystemCheckError) as excinfo:
        call_command("check")
    message = str(excinfo.value)
    assert f"{path}:10: steps.sop1.screening.roles.0: unknown role 'police'" in message
    assert "trm.sop.E001" in message


def test_each_problem_is_its_own_error(settings, tmp_path):
    path = tmp_path / "xx.yaml"
    path.write_text(
        BROKEN + "settings:\n  reflection_period: {days: 7}\n", encoding="utf-8"
    )
    settings.TRM_SOP_VARIANT = str(path)
    errors = check_sop_variant()
    assert [error.id for error in errors] == ["trm.sop.E001", "trm.sop.E001"]
    assert str(path) in errors[0].msg


def test_an_unknown_variant_lists_the_available_ones(settings):
    settings.TRM_SOP_VARIANT = "atlantis"
    [error] = check_sop_variant()
    assert error.id == "trm.sop.E002"
    assert "'atlantis'" in error.msg
    assert error.hint is not None
    assert "baseline, bg" in error.hint
