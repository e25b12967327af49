"""``trm sop validate | diff | show | strings``."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from trm import cli
from trm.sop import loader
from trm.sop.management.commands import sop as sop_command

BAD_VARIANT = """\
schema_version: 1
variant: xx
extends: baseline
title: "Broken"
country: XX
example: false
source: "test"
settings:
  reflection_period:
    days: 29
"""


@pytest.fixture(autouse=True)
def _fresh_cache():
    loader.clear_cache()
    yield
    loader.clear_cache()


def run(*args: str) -> str:
    out = StringIO()
    call_command("sop", *args, stdout=out)
    return out.getvalue()


def test_validate_reports_each_valid_file():
    baseline = str(loader.DEFINITIONS_DIR / "baseline.yaml")
    steps = len(loader.load_definition("bg").steps())
    output = run("validate", baseline, "bg")
    assert f"{baseline}: valid (variant baseline, " in output
    assert f"bg: valid (variant bg, {steps} steps)" in output


def test_validate_prints_file_line_field_reason_and_fails(tmp_path):
    bad = tmp_path / "xx.yaml"
    bad.write_text(BAD_VARIANT, encoding="utf-8")
    out = StringIO()
    with pytest.raises(CommandError, match="1 of 2 file"):
        call_command("sop", "validate", "bg", str(bad), stdout=out)
    output = out.getvalue()
    assert "bg: valid" in output
    assert (
        f"{bad}:10: settings.reflection_period.days: the reflection and recovery "
        "period must last at least 30 days (CETS Art. 13), not 29"
    ) in output


def test_trm_sop_validate_exits_with_status_1(tmp_path, capsys):
    bad = tmp_path / "xx.yaml"
    bad.write_text(BAD_VARIANT, encoding="utf-8")
    with pytest.raises(SystemExit) as excinfo:
        cli.main(["trm", "sop", "validate", str(bad)])
    assert excinfo.value.code == 1
    captured = capsys.readouterr()
    assert f"{bad}:10: settings.reflection_period.days" in captured.out
    assert "not valid" in captured.err


def test_trm_sop_validate_exits_zero_for_valid_files(capsys):
    cli.main(["trm", "sop", "validate", "baseline"])
    assert "baseline: valid" in capsys.readouterr().out


def test_diff_bg_prints_the_bulgarian_rules():
    output = run("diff", "bg")
    assert "bg (Bulgaria — National Referral Mechanism) compared with baseline:" in (
        output
    )
    assert "settings.formal_identification.authority_functions: [CA] → [PROS]" in output
    assert (
        "settings.reflection_period.starts_at: reasonable_grounds → "
        "formal_identification"
    ) in output
    assert "settings.care_plan.within_days: 30 → 20" in output
    assert 'country: "" → BG' in output
    assert "settings.reflection_period.days" not in output  # 30 in both


def test_diff_of_a_variant_with_itself_says_so():
    assert "no differences" in run("diff", "md", "--base", "md")


def test_diff_of_an_unknown_variant_fails():
    with pytest.raises(CommandError, match="unknown SOP variant 'zz'"):
        run("diff", "zz")


def test_show_prints_every_sop_with_roles_and_deadlines():
    output = run("show", "bg")
    assert "bg: Bulgaria — National Referral Mechanism, country BG" in output
    for number in range(1, 6):
        assert f"SOP {number}: " in output
    care_plan = next(line for line in output.splitlines() if "sop3.care_plan " in line)
    assert "service_provider, case_manager" in care_plan
    assert "20 d (care_plan.within_days)" in care_plan
    assert "reflection_period.starts_at: formal_identification" in output


def test_show_defaults_to_the_configured_variant(settings):
    settings.TRM_SOP_VARIANT = "md"
    output = run("show")
    assert output.startswith("md: ")
    assert "EXAMPLE: " in output
    assert "sop1.early_rights_information" in output


def test_strings_module_is_up_to_date():
    assert "up to date" in run("strings", "--check")


def test_strings_holds_every_step_title_as_gettext_noop():
    source = sop_command.STRINGS_FILE.read_text(encoding="utf-8")
    for code in loader.available_variants():
        definition = loader.load_definition(code)
        for step in definition.steps():
            assert f'gettext_noop("{step.title}")' in source, step.id
        assert f'gettext_noop("{definition.title}")' in source


def test_strings_check_fails_when_out_of_date_and_strings_rewrites(
    tmp_path, monkeypatch
):
    target = tmp_path / "strings.py"
    target.write_text("STRINGS = ()\n", encoding="utf-8")
    monkeypatch.setattr(sop_command, "STRINGS_FILE", target)
    with pytest.raises(CommandError, match="out of date"):
        run("strings", "--check")
    assert "written" in run("strings")
    assert Path(target).read_text(encoding="utf-8") == (
        sop_command.render_strings_module()
    )
    assert "up to date" in run("strings", "--check")


def test_sop_requires_a_subcommand():
    with pytest.raises(CommandError, match="action"):
        call_command("sop")
