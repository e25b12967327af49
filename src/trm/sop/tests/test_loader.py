"""The SOP definition loader on small hand-written files (no database)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from trm.common.yamldata import DataFileError, Problem
from trm.sop import loader
from trm.sop.types import Deadline

BASELINE_FILE = loader.DEFINITIONS_DIR / "baseline.yaml"

VARIANT_HEAD = """\
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


def write(tmp_path: Path, body: str, name: str = "xx.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return str(path)


def variant(tmp_path: Path, body: str = "") -> str:
    return write(tmp_path, VARIANT_HEAD + textwrap.dedent(body))


def problems_of(variant_or_path: str) -> list[Problem]:
    with pytest.raises(DataFileError) as excinfo:
        loader.load_definition(variant_or_path)
    return list(excinfo.value.problems)


def line_of(path: str, text: str) -> int:
    """Return the 1-based line of the first line of ``path`` containing ``text``."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


def standalone(tmp_path: Path, replace: dict[str, str]) -> str:
    """Write a copy of baseline.yaml with some text replaced; return its path."""
    text = BASELINE_FILE.read_text(encoding="utf-8")
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "standalone.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- Finding and merging -------------------------------------------------------


def test_available_variants_lists_the_packaged_files_baseline_first():
    assert loader.available_variants() == ["baseline", "bg", "md", "mk", "ro", "rs"]


def test_an_unknown_variant_code_names_the_available_ones():
    with pytest.raises(loader.UnknownVariant) as excinfo:
        loader.load_definition("zz")
    assert excinfo.value.available[0] == "baseline"
    assert "unknown SOP variant 'zz'" in str(excinfo.value)
    assert "bg" in str(excinfo.value)


def test_a_variant_file_given_by_path_is_merged_over_the_baseline(tmp_path):
    path = variant(
        tmp_path,
        """\
        settings:
          reflection_period: {days: 60}
        """,
    )
    definition = loader.load_definition(path)
    assert definition.variant == "xx"
    assert definition.country == "XX"
    assert definition.example is True
    assert definition.note == "Test values."
    assert definition.files == (str(BASELINE_FILE), path)
    # Deep merge: the sibling key comes from the baseline.
    assert definition.setting("reflection_period.days") == 60
    assert definition.setting("reflection_period.starts_at") == "reasonable_grounds"
    assert len(definition.steps()) == len(loader.load_definition("baseline").steps())


def test_step_changes_replace_only_the_fields_given(tmp_path):
    path = variant(
        tmp_path,
        """\
        steps:
          sop1.notify_ncp:
            deadline: {days: 1}
            roles: [national_contact_point]
        """,
    )
    step = loader.load_definition(path).step("sop1.notify_ncp")
    assert step.deadline == Deadline(days=1)
    assert step.roles == ("national_contact_point",)
    assert step.messages == ("M1",)
    assert step.applies_when == ("foreign_national",)


def test_a_null_deadline_in_a_change_removes_the_deadline(tmp_path):
    path = variant(tmp_path, "steps:\n  sop1.screening: {deadline: null}\n")
    assert loader.load_definition(path).step("sop1.screening").deadline is None


def test_remove_drops_a_step(tmp_path):
    path = variant(tmp_path, "steps:\n  sop4.follow_up: {remove: true}\n")
    definition = loader.load_definition(path)
    with pytest.raises(KeyError):
        definition.step("sop4.follow_up")


def test_added_steps_go_after_the_named_step_or_at_the_end(tmp_path):
    path = variant(
        tmp_path,
        """\
        add_steps:
          - id: sop2.first_extra
            sop: 2
            after: sop2.first_assistance
            title: First extra
            description: An added step.
            roles: [case_manager]
            done_when: [sop2.referral_sent]
            source: test
          - id: sop2.last_extra
            sop: 2
            title: Last extra
            description: Another added step.
            roles: [case_manager]
            trigger: ["@reflection_start"]
            done_when: ["sop1.reflection_ended=expired"]
            deadline: {days: 2, base: "track:identification->presumed"}
            source: test
        """,
    )
    ids = [step.id for step in loader.load_definition(path).sops[1].steps]
    assert ids[:2] == ["sop2.first_assistance", "sop2.first_extra"]
    assert ids[-1] == "sop2.last_extra"
    last = loader.load_definition(path).step("sop2.last_extra")
    assert last.sop == 2
    assert last.deadline == Deadline(days=2, base="track:identification->presumed")


def test_lists_become_tuples_and_once_is_loaded():
    step = loader.load_definition("baseline").step("sop1.reflection_period")
    assert isinstance(step.roles, tuple)
    assert step.once is True
    assert step.deadline == Deadline(setting="reflection_period.days")


def test_get_definition_defaults_to_the_configured_variant_and_caches(settings):
    settings.TRM_SOP_VARIANT = "bg"
    first = loader.get_definition()
    assert first.variant == "bg"
    assert loader.get_definition("bg") is first
    loader.clear_cache()
    assert loader.get_definition("bg") is not first


def test_deadline_days_reads_settings_and_null_means_no_deadline():
    definition = loader.load_definition("bg")
    assert loader.deadline_days(definition, definition.step("sop3.care_plan")) == 20
    assert loader.deadline_days(definition, definition.step("sop1.screening")) == 7
    decision = definition.step("sop1.formal_identification")
    assert loader.deadline_days(definition, decision) is None
    assert loader.deadline_days(definition, definition.step("sop1.referral")) is None


# --- Problems: file, line, field -----------------------------------------------


def test_reflection_days_below_30_are_rejected_at_the_variant_line(tmp_path):
    path = variant(
        tmp_path,
        """\
        settings:
          reflection_period:
            days: 29
        """,
    )
    [problem] = problems_of(path)
    assert problem.file == path
    assert problem.line == line_of(path, "days: 29")
    assert problem.field == "settings.reflection_period.days"
    assert "at least 30 days (CETS Art. 13)" in problem.message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("deadline", "{days: 5}"),
        ("trigger", "[case.opened]"),
        ("done_when", "[case.closed]"),
        ("once", "false"),
        ("period", "false"),
    ],
)
def test_a_variant_cannot_change_how_long_the_reflection_period_runs(
    tmp_path, name, value
):
    path = variant(
        tmp_path,
        f"""\
        steps:
          sop1.reflection_period:
            title: Reflection period
            {name}: {value}
        """,
    )
    [problem] = problems_of(path)
    assert problem.file == path
    assert problem.line == line_of(path, f"{name}: {value}")
    assert problem.field == f"steps.sop1.reflection_period.{name}"
    assert (
        "the reflection and recovery period's length is set by "
        "settings.reflection_period.days (CETS Art. 13)"
    ) in problem.message


def test_a_variant_may_retitle_the_reflection_period_and_move_its_reminder(tmp_path):
    path = variant(
        tmp_path,
        """\
        steps:
          sop1.reflection_period: {title: Reflection period, remind_days_before: 3}
        """,
    )
    step = loader.load_definition(path).step("sop1.reflection_period")
    assert (step.title, step.remind_days_before) == ("Reflection period", 3)
    assert step.deadline == Deadline(setting="reflection_period.days")


@pytest.mark.parametrize(
    "step_id", ["sop1.formal_identification", "sop1.reflection_period"]
)
def test_a_variant_cannot_remove_a_step_that_carries_a_legal_rule(tmp_path, step_id):
    path = variant(tmp_path, f"steps:\n  {step_id}: {{remove: true}}\n")
    [problem] = problems_of(path)
    assert problem.file == path
    assert problem.line == line_of(path, step_id)
    assert problem.field == f"steps.{step_id}.remove"
    assert f"{step_id} cannot be removed" in problem.message
    assert "CETS Art." in problem.message


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        (
            {"- id: sop1.reflection_period": "- id: sop1.reflection_pause"},
            "step sop1.reflection_period is missing",
        ),
        (
            {"- id: sop1.formal_identification": "- id: sop1.formal_decision"},
            "step sop1.formal_identification is missing",
        ),
        (
            {"deadline: {setting: reflection_period.days}": "deadline: {days: 5}"},
            "sop1.reflection_period needs deadline: {setting: reflection_period.days}",
        ),
    ],
)
def test_a_complete_definition_keeps_the_steps_that_carry_legal_rules(
    tmp_path, replace, message
):
    path = standalone(tmp_path, replace)
    [problem] = problems_of(path)
    assert problem.file == path
    assert message in problem.message


def test_reflection_days_beyond_a_year_are_rejected_with_a_clear_message(tmp_path):
    path = variant(tmp_path, "settings:\n  reflection_period: {days: 99999999999}\n")
    [problem] = problems_of(path)
    assert problem.file == path
    assert problem.field == "settings.reflection_period.days"
    assert problem.message == (
        "the reflection and recovery period can last at most "
        f"{loader.REFLECTION_MAX_DAYS} days, not 99999999999 (a mistyped number?)"
    )


def test_every_day_count_has_a_maximum(tmp_path):
    path = variant(
        tmp_path,
        """\
        settings:
          care_plan: {within_days: 3651}
        steps:
          sop1.screening: {deadline: {days: 99999999999}, remind_days_before: 4000}
        """,
    )
    problems = problems_of(path)
    assert [p.field for p in problems] == [
        "settings.care_plan.within_days",
        "steps.sop1.screening.deadline.days",
        "steps.sop1.screening.remind_days_before",
    ]
    assert all("maximum of 3650" in p.message for p in problems)


def test_a_day_count_with_a_decimal_point_is_reported_at_the_variant_line(tmp_path):
    path = variant(tmp_path, "settings:\n  reflection_period:\n    days: 30.0\n")
    [problem] = problems_of(path)
    assert problem.file == path
    assert problem.line == line_of(path, "days: 30.0")
    assert problem.field == "settings.reflection_period.days"
    assert "whole number" in problem.message


def test_invalid_yaml_names_the_file_and_line(tmp_path):
    path = variant(tmp_path, "settings:\n  care_plan: {within_days: 3\n")
    [problem] = problems_of(path)
    assert problem.file == path
    assert problem.line >= line_of(path, "care_plan")
    assert "invalid YAML" in problem.message


def test_an_unknown_field_is_reported_at_its_line(tmp_path):
    path = variant(tmp_path, "steps:\n  sop1.screening:\n    dedline: {days: 2}\n")
    [problem] = problems_of(path)
    assert problem.line == line_of(path, "dedline")
    assert problem.field == "steps.sop1.screening.dedline"
    assert problem.message == "unknown field"


def test_an_unknown_settings_key_is_an_unknown_field(tmp_path):
    path = variant(tmp_path, "settings:\n  reflection_perod: {days: 30}\n")
    [problem] = problems_of(path)
    assert problem.field == "settings.reflection_perod"
    assert problem.line == line_of(path, "reflection_perod")


def test_an_unknown_condition_in_guards_is_reported(tmp_path):
    path = variant(
        tmp_path, 'steps:\n  sop1.identity_verification:\n    guards: ["not asylum"]\n'
    )
    [problem] = problems_of(path)
    assert problem.field == "steps.sop1.identity_verification.guards.0"
    assert problem.line == line_of(path, "not asylum")
    assert "unknown condition 'asylum'" in problem.message


def test_an_unknown_event_kind_suggests_the_close_one(tmp_path):
    path = variant(
        tmp_path,
        "steps:\n  sop1.screening:\n    done_when: [sop1.screenign_recorded]\n",
    )
    [problem] = problems_of(path)
    assert problem.field == "steps.sop1.screening.done_when.0"
    assert "unknown event kind 'sop1.screenign_recorded'" in problem.message
    assert "did you mean 'sop1.screening_recorded'" in problem.message


def test_an_unknown_track_state_is_reported(tmp_path):
    path = variant(
        tmp_path,
        'steps:\n  sop1.screening:\n    trigger: ["track:identification->suspected"]\n',
    )
    [problem] = problems_of(path)
    assert problem.field == "steps.sop1.screening.trigger.0"
    assert "unknown state of track 'identification' 'suspected'" in problem.message


def test_an_unknown_track_is_reported(tmp_path):
    path = variant(
        tmp_path,
        'steps:\n  sop1.screening:\n    trigger: ["track:identity->presumed"]\n',
    )
    [problem] = problems_of(path)
    assert "unknown track 'identity'" in problem.message


def test_an_unknown_role_is_reported(tmp_path):
    path = variant(
        tmp_path, "steps:\n  sop1.screening:\n    roles: [case_manager, police]\n"
    )
    [problem] = problems_of(path)
    assert problem.field == "steps.sop1.screening.roles.1"
    assert "unknown role 'police'" in problem.message


def test_an_unknown_message_code_is_reported(tmp_path):
    path = variant(tmp_path, "steps:\n  sop1.notify_ncp:\n    messages: [M16]\n")
    [problem] = problems_of(path)
    assert problem.field == "steps.sop1.notify_ncp.messages.0"
    assert "unknown message code 'M16'" in problem.message


def test_an_unknown_organisation_function_is_reported(tmp_path):
    path = variant(
        tmp_path,
        "settings:\n  formal_identification: {authority_functions: [POLICE]}\n",
    )
    [problem] = problems_of(path)
    assert problem.field == "settings.formal_identification.authority_functions.0"
    assert "unknown organisation function 'POLICE'" in problem.message


def test_an_unknown_reflection_start_is_reported(tmp_path):
    path = variant(tmp_path, "settings:\n  reflection_period: {starts_at: arrest}\n")
    [problem] = problems_of(path)
    assert problem.field == "settings.reflection_period.starts_at"
    assert "reasonable_grounds" in problem.message


def test_changing_a_missing_step_is_reported_at_its_key(tmp_path):
    path = variant(tmp_path, "steps:\n  sop1.no_such_step: {source: x}\n")
    [problem] = problems_of(path)
    assert problem.line == line_of(path, "sop1.no_such_step")
    assert "no step 'sop1.no_such_step' in baseline.yaml to change" in problem.message


def test_adding_a_step_with_an_existing_id_is_a_duplicate(tmp_path):
    path = variant(
        tmp_path,
        """\
        add_steps:
          - {id: sop1.screening, sop: 1, title: T, description: D,
             roles: [case_manager], done_when: [case.closed], source: s}
        """,
    )
    [problem] = problems_of(path)
    assert problem.field == "add_steps.0.id"
    assert "duplicate step id 'sop1.screening'" in problem.message
    assert f"baseline.yaml:{line_of(str(BASELINE_FILE), 'id: sop1.screening')}" in (
        problem.message
    )


def test_a_duplicate_step_id_in_one_file_names_the_first(tmp_path):
    path = standalone(tmp_path, {"- id: sop1.referral_feedback": "- id: sop1.referral"})
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    first, second = [
        n for n, line in enumerate(lines, 1) if "- id: sop1.referral" in line
    ]
    [problem] = problems_of(path)
    assert (problem.file, problem.line) == (path, second)
    assert "duplicate step id 'sop1.referral'" in problem.message
    assert f"first at line {first}" in problem.message


def test_a_step_id_must_match_its_sop(tmp_path):
    path = standalone(tmp_path, {"- id: sop2.support_plan": "- id: sop3.support_plan"})
    [problem] = problems_of(path)
    assert problem.line == line_of(path, "id: sop3.support_plan")
    assert "must start with 'sop2.'" in problem.message


def test_after_naming_an_unknown_step_is_reported(tmp_path):
    path = variant(
        tmp_path,
        """\
        add_steps:
          - {id: sop1.extra, sop: 1, after: sop1.nothing, title: T, description: D,
             roles: [case_manager], done_when: [case.closed], source: s}
        """,
    )
    [problem] = problems_of(path)
    assert problem.field == "add_steps.0.after"
    assert "no step 'sop1.nothing'" in problem.message


def test_after_naming_a_step_of_another_sop_is_reported(tmp_path):
    path = variant(
        tmp_path,
        """\
        add_steps:
          - {id: sop1.extra, sop: 1, after: sop2.support_plan, title: T,
             description: D, roles: [case_manager], done_when: [case.closed],
             source: s}
        """,
    )
    [problem] = problems_of(path)
    assert "is in SOP 2, not SOP 1" in problem.message


def test_extends_naming_an_unknown_variant_is_reported_at_its_line(tmp_path):
    path = write(
        tmp_path, VARIANT_HEAD.replace("extends: baseline", "extends: atlantis")
    )
    [problem] = problems_of(path)
    assert problem.line == line_of(path, "extends: atlantis")
    assert problem.field == "extends"
    assert "unknown variant 'atlantis'" in problem.message


def test_a_deadline_setting_that_does_not_exist_is_reported(tmp_path):
    path = variant(
        tmp_path,
        "steps:\n  sop1.risk_review:\n    deadline: {setting: care_plan.nope}\n",
    )
    [problem] = problems_of(path)
    assert problem.file == path
    assert problem.field == "steps.sop1.risk_review.deadline.setting"
    assert "no setting 'care_plan.nope'" in problem.message


def test_a_deadline_setting_that_is_not_a_number_of_days_is_reported(tmp_path):
    path = variant(
        tmp_path,
        "steps:\n  sop1.risk_review:\n"
        "    deadline: {setting: reflection_period.starts_at}\n",
    )
    [problem] = problems_of(path)
    assert "is not a number of days" in problem.message


def test_a_deadline_needs_days_or_a_setting_but_not_both(tmp_path):
    path = variant(
        tmp_path,
        """\
        steps:
          sop1.screening:
            deadline: {days: 2, setting: care_plan.within_days}
          sop1.referral:
            deadline: {base: case.opened}
        """,
    )
    messages = [problem.message for problem in problems_of(path)]
    assert "give either days or setting, not both" in messages
    assert any(message.startswith("give days") for message in messages)


def test_a_reminder_needs_a_deadline(tmp_path):
    path = variant(tmp_path, "steps:\n  sop1.referral: {remind_days_before: 1}\n")
    [problem] = problems_of(path)
    assert problem.field == "steps.sop1.referral.remind_days_before"
    assert "needs a deadline" in problem.message


def test_an_example_variant_needs_a_note(tmp_path):
    path = write(tmp_path, VARIANT_HEAD.replace('note: "Test values."\n', ""))
    [problem] = problems_of(path)
    assert "note" in problem.message


def test_a_file_outside_the_package_may_use_any_variant_code(tmp_path):
    # A copy outside the package may use any code; only packaged files must
    # match their file name.
    path = variant(tmp_path)
    assert loader.load_definition(path).variant == "xx"


def test_several_problems_are_reported_at_once_in_line_order(tmp_path):
    path = variant(
        tmp_path,
        """\
        settings:
          reflection_period: {days: 14}
        steps:
          sop1.screening:
            roles: [police]
            colour: red
          sop9.ghost: {source: x}
        """,
    )
    problems = problems_of(path)
    fields = [problem.field for problem in problems]
    assert fields == [
        "settings.reflection_period.days",
        "steps.sop1.screening.roles.0",
        "steps.sop1.screening.colour",
        "steps.sop9.ghost",
    ]
    assert [p.line for p in problems] == sorted(p.line for p in problems)
    assert all(problem.file == path for problem in problems)


def test_problems_of_a_complete_file_point_into_that_file(tmp_path):
    path = standalone(
        tmp_path,
        {
            "    days: 30": "    days: 10",
            "applies_when: [presumed_child]": "applies_when: [presumed_kid]",
        },
    )
    problems = problems_of(path)
    assert [p.field.rsplit(".", 1)[-1] for p in problems] == ["days", "0"]
    assert problems[0].line == line_of(path, "days: 10")
    assert problems[1].line == line_of(path, "presumed_kid")
    assert "did you mean 'presumed_child'" in problems[1].message


def test_a_missing_file_is_a_problem(tmp_path):
    [problem] = problems_of(str(tmp_path / "missing.yaml"))
    assert problem.message == "file not found"


# --- Diff ----------------------------------------------------------------------


def test_diff_lists_settings_and_step_changes_added_and_removed_steps(tmp_path):
    path = variant(
        tmp_path,
        """\
        settings:
          care_plan: {within_days: 10}
        steps:
          sop1.screening: {deadline: {days: 2}}
          sop4.follow_up: {remove: true}
        add_steps:
          - {id: sop5.extra, sop: 5, after: sop5.legal_aid, title: Extra,
             description: D, roles: [case_manager], done_when: [case.closed],
             source: s}
        """,
    )
    lines = loader.diff_definitions(
        loader.load_definition("baseline"), loader.load_definition(path)
    )
    assert "settings.care_plan.within_days: 30 → 10" in lines
    assert "~ step sop1.screening: deadline: {days: 7} → {days: 2}" in lines
    assert "- step sop4.follow_up: Follow-up after return" in lines
    assert "+ step sop5.extra (SOP 5, after sop5.legal_aid): Extra" in lines
    assert "example: false → true" in lines
    assert 'country: "" → XX' in lines


def test_diff_of_a_definition_with_itself_is_empty():
    baseline = loader.load_definition("baseline")
    assert loader.diff_definitions(baseline, baseline) == []


def test_event_ref_problem_accepts_every_form():
    assert loader.event_ref_problem("case.opened") is None
    assert loader.event_ref_problem("sop1.reflection_ended=expired") is None
    assert loader.event_ref_problem("track:legal->cooperating") is None
    assert loader.event_ref_problem("@reflection_start") is None
    assert loader.event_ref_problem("@reflection_end") is not None
    assert loader.event_ref_problem("sop1.reflection_ended=bored") is not None
    assert loader.event_ref_problem("track:legal") is not None


def test_review_an_unknown_country_and_a_retimed_decision_are_refused(tmp_path):
    from trm.common.yamldata import DataFileError
    from trm.sop.loader import load_definition

    path = tmp_path / "xx.yaml"
    path.write_text(
        "schema_version: 1\n"
        "variant: xx\n"
        "extends: baseline\n"
        "title: Fictional\n"
        "country: JJ\n"
        "example: true\n"
        "note: fictional\n"
        "source: test\n"
        "steps:\n"
        "  sop1.formal_identification:\n"
        '    done_when: ["track:identification->presumed"]\n'
    )
    with pytest.raises(DataFileError) as refused:
        load_definition(str(path))
    text = "\n".join(str(p) for p in refused.value.problems)
    assert f"{path}:5: country:" in text
    assert f"{path}:11: steps.sop1.formal_identification.done_when:" in text
