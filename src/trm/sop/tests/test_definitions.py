"""The packaged SOP definitions: baseline.yaml and the national variants."""

from __future__ import annotations

import pytest

from trm.cases.tracks import TRACKS
from trm.sop import loader, vocabulary
from trm.sop.types import Deadline, Definition

EXAMPLES = ["md", "mk", "ro", "rs"]


@pytest.fixture(scope="module")
def definitions() -> dict[str, Definition]:
    return {code: loader.load_definition(code) for code in loader.available_variants()}


@pytest.fixture(scope="module")
def baseline(definitions: dict[str, Definition]) -> Definition:
    return definitions["baseline"]


def flat(settings: dict[str, object], prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def changed_settings(base: Definition, other: Definition) -> dict[str, object]:
    old, new = flat(base.settings), flat(other.settings)
    return {key: value for key, value in new.items() if old.get(key) != value}


@pytest.mark.parametrize("code", ["baseline", "bg", *EXAMPLES])
def test_every_packaged_variant_loads(code):
    definition = loader.load_definition(code)
    assert definition.variant == code
    assert [sop.number for sop in definition.sops] == [1, 2, 3, 4, 5]


def test_the_baseline_has_the_five_sops_in_order(baseline):
    assert [sop.key for sop in baseline.sops] == [
        "identification",
        "first_assistance",
        "long_term_assistance",
        "return",
        "proceedings",
    ]
    assert baseline.country == ""
    assert baseline.example is False


def test_every_step_has_a_title_description_roles_and_source(definitions):
    for definition in definitions.values():
        for step in definition.steps():
            assert step.title and step.description and step.source, step.id
            assert step.roles and step.done_when, step.id
            assert step.id.startswith(f"sop{step.sop}."), step.id


def test_step_ids_are_unique(definitions):
    for definition in definitions.values():
        ids = [step.id for step in definition.steps()]
        assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    ("step_id", "expected"),
    [
        (
            "sop1.initial_identification",
            {
                "roles": ("first_contact_point", "case_manager"),
                "trigger": ("case.opened",),
                "done_when": (
                    "sop1.screening_recorded",
                    "track:identification->presumed",
                    "sop1.no_indication_closed",
                ),
                "deadline": Deadline(days=3),
            },
        ),
        (
            "sop1.screening",
            {
                "trigger": ("case.opened",),
                "done_when": (
                    "sop1.screening_recorded",
                    "track:identification->presumed",
                ),
            },
        ),
        (
            "sop1.risk_assessment",
            {
                "trigger": ("case.opened",),
                "done_when": ("sop1.risk_assessment_reviewed",),
                "deadline": Deadline(days=1),
            },
        ),
        (
            "sop1.risk_review",
            {
                "repeats": True,
                "trigger": ("sop1.contact_recorded",),
                "done_when": ("sop1.risk_assessment_reviewed",),
                "deadline": Deadline(setting="risk_assessment.review_within_days"),
                "roles": ("case_manager",),
                "source": "SOPS §6.5 rule 8 [BG 1.2]",
            },
        ),
        (
            "sop1.needs_assessment",
            {
                "trigger": ("track:identification->presumed",),
                "done_when": ("sop1.needs_assessed",),
                "deadline": Deadline(days=3),
            },
        ),
        (
            "sop1.notify_ncp",
            {
                "applies_when": ("foreign_national",),
                "trigger": ("track:identification->presumed",),
                "done_when": ("track:transnational->ncp_notified",),
                "messages": ("M1",),
                "deadline": Deadline(days=2),
            },
        ),
        (
            "sop1.identity_verification",
            {
                "applies_when": ("foreign_national",),
                "guards": ("not asylum_applicant",),
                "trigger": ("track:identification->presumed",),
                "done_when": (
                    "sop1.identity_verification_requested",
                    "sop1.identity_verification_result",
                    # The origin verifies nationality before issuing travel
                    # documents (CETS Art. 16(3)-(4)).
                    "sop4.travel_documents_ready",
                ),
                "messages": ("M2",),
            },
        ),
        (
            "sop1.formal_identification",
            {
                "roles": ("competent_authority",),
                "trigger": ("track:identification->presumed",),
                "done_when": (
                    "track:identification->identified",
                    "track:identification->not_identified",
                ),
                "deadline": Deadline(
                    setting="formal_identification.decision_within_days"
                ),
            },
        ),
        (
            "sop1.inform_reflection",
            {
                "trigger": ("sop1.reflection_started",),
                "done_when": (
                    "sop1.person_informed=reflection_period",
                    "sop1.person_informed=identified",
                ),
                "deadline": Deadline(days=1),
            },
        ),
        (
            "sop1.reflection_period",
            {
                "trigger": ("sop1.reflection_started",),
                "once": True,
                "done_when": ("sop1.reflection_ended",),
                "deadline": Deadline(setting="reflection_period.days"),
                "remind_days_before": 7,
            },
        ),
        (
            "sop1.guardian",
            {
                "applies_when": ("presumed_child",),
                "trigger": ("track:child_protection->guardian_requested",),
                "done_when": ("track:child_protection->guardian_appointed",),
                "deadline": Deadline(setting="guardian.appoint_within_days"),
                "roles": ("case_manager", "guardian"),
            },
        ),
        (
            "sop1.child_protection_notified",
            {
                "applies_when": ("presumed_child",),
                "trigger": ("track:child_protection->guardian_requested",),
                "done_when": ("sop1.child_protection_notified",),
                "deadline": Deadline(setting="child_protection.notify_within_days"),
            },
        ),
        (
            "sop1.age_assessment",
            {
                "applies_when": ("presumed_child",),
                "trigger": ("track:child_protection->guardian_requested",),
                "done_when": ("sop1.age_assessed",),
            },
        ),
        (
            "sop1.referral",
            {
                "trigger": ("track:identification->presumed",),
                # A referral sent, or one recorded as not possible (BG 1.4 step 5).
                "done_when": ("sop2.referral_sent", "sop2.referral_not_possible"),
            },
        ),
        (
            "sop3.care_plan",
            {
                "trigger": ("track:assistance->long_term",),
                "done_when": ("sop3.care_plan_agreed",),
                "deadline": Deadline(setting="care_plan.within_days"),
            },
        ),
        (
            "sop4.handover",
            {
                # Destination: the journey; origin: the journey announced.
                "trigger": ("track:assistance->in_transit", "handover.received"),
                "done_when": (
                    "track:assistance->handed_over",
                    "handover.arrival_recorded=arrived",
                ),
                "deadline": Deadline(days=1),
            },
        ),
        (
            "sop5.cooperation_decision",
            {
                "trigger": ("@reflection_start",),
                "done_when": (
                    "track:legal->cooperating",
                    "track:legal->not_cooperating",
                ),
            },
        ),
    ],
)
def test_the_steps_the_system_relies_on_keep_their_meaning(baseline, step_id, expected):
    step = baseline.step(step_id)
    for name, value in expected.items():
        assert getattr(step, name) == value, name


def test_sop4_and_sop5_steps_send_their_messages(baseline):
    sends = {code for step in baseline.steps() for code in step.messages}
    assert {"M1", "M2", "M5", "M7", "M8", "M9", "M10", "M12"} <= sends
    bid = baseline.step("sop4.best_interests_determination")
    assert bid.applies_when == ("presumed_child",)


def test_baseline_settings(baseline):
    assert baseline.setting("reflection_period.starts_at") == "reasonable_grounds"
    assert baseline.setting("reflection_period.days") == vocabulary.REFLECTION_MIN_DAYS
    assert baseline.setting("formal_identification.authority_functions") == ["CA"]
    assert baseline.setting("formal_identification.decision_within_days") is None
    assert baseline.setting("care_plan.within_days") == 30


def test_bg_differs_from_the_baseline_in_exactly_the_bulgarian_rules(
    baseline, definitions
):
    bg = definitions["bg"]
    assert changed_settings(baseline, bg) == {
        "formal_identification.authority_functions": ["PROS"],
        "reflection_period.starts_at": "formal_identification",
        "care_plan.within_days": 20,
    }
    assert bg.setting("reflection_period.days") == 30
    assert bg.country == "BG"
    assert bg.example is False
    assert bg.note == ""
    # Only sources change in the steps: the same steps, the same rules.
    assert [s.id for s in bg.steps()] == [s.id for s in baseline.steps()]
    changed = [
        line for line in loader.diff_definitions(baseline, bg) if line.startswith("~")
    ]
    assert changed
    assert all(": source: " in line for line in changed)


def test_example_variants_say_so_and_differ_in_the_reflection_period_and_authority(
    baseline, definitions
):
    def reflection(d: Definition) -> tuple[object, object]:
        return (
            d.setting("reflection_period.starts_at"),
            d.setting("reflection_period.days"),
        )

    def authority(d: Definition) -> object:
        return d.setting("formal_identification.authority_functions")

    for code in EXAMPLES:
        example = definitions[code]
        assert example.example is True
        assert "not verified" in example.note
        assert example.country == code.upper()
    pairs = [reflection(definitions[code]) for code in ["baseline", "bg", *EXAMPLES]]
    assert len(set(pairs)) == len(pairs)
    authorities = [
        str(authority(definitions[code])) for code in ["baseline", *EXAMPLES]
    ]
    assert len(set(authorities)) == len(authorities)


def test_every_reflection_period_lasts_at_least_the_legal_minimum(definitions):
    for definition in definitions.values():
        days = definition.setting("reflection_period.days")
        assert isinstance(days, int)
        assert days >= vocabulary.REFLECTION_MIN_DAYS


def test_indicators_cover_every_sop_and_none_is_verified(baseline):
    assert {indicator.sop for indicator in baseline.indicators} == {
        1,
        2,
        3,
        4,
        5,
        None,
    }
    assert not any(indicator.verified for indicator in baseline.indicators)
    assert all("SOPS §4.1" in indicator.source for indicator in baseline.indicators)


def test_every_track_reference_names_a_real_state(definitions):
    for definition in definitions.values():
        for step in definition.steps():
            for ref in (*step.trigger, *step.done_when):
                if ref.startswith("track:"):
                    track, _, state = ref.removeprefix("track:").partition("->")
                    assert state in TRACKS[track].states.values, ref
