"""The deadline engine on hand-made definitions (no YAML, no database).

Each test builds the smallest definition that shows one rule of the engine:
start at the trigger, done at a later event, due dates from days or a
setting, not applicable, blocked by a guard, repeating steps.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.test import override_settings

from trm.cases.models import Case, Person
from trm.cases.tracks import Identification
from trm.sop import engine
from trm.sop.engine import EventFact, StepState
from trm.sop.types import Deadline, Definition, Sop, Step

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def definition(*steps: Step, **settings: object) -> Definition:
    merged: dict[str, object] = {
        "reflection_period": {"starts_at": "reasonable_grounds", "days": 30},
        "formal_identification": {"authority_functions": ["CA"]},
    }
    merged.update(settings)
    return Definition(
        variant="test",
        title="test",
        country="",
        example=False,
        source="test",
        settings=merged,
        sops=(Sop(1, "identification", "Identification", "", tuple(steps)),),
    )


def make_case(**person: object) -> Case:
    attrs: dict[str, object] = {"citizenships": ["RO"], "data_key_id": T0}
    attrs.update(person)
    return Case(
        person=Person(**attrs),
        opened_at=T0,
        identification=Identification.SIGNAL_RECEIVED,
    )


def moved(track: str, state: str, at: datetime) -> EventFact:
    return EventFact("case.track_moved", at, track, state)


def status_of(
    step: Step,
    case: Case,
    events: list[EventFact],
    today: date,
    defn: Definition | None = None,
) -> engine.StepStatus:
    defn = defn or definition(step)
    (sop,) = engine.case_sop_status(case, definition=defn, events=events, today=today)
    (result,) = sop.steps
    return result


SCREENING = Step(
    id="sop1.screening",
    sop=1,
    title="Screen",
    trigger=("case.opened",),
    done_when=("sop1.screening_recorded",),
    deadline=Deadline(days=7),
)
REFLECTION = Step(
    id="sop1.reflection_period",
    sop=1,
    title="Reflection",
    trigger=("sop1.reflection_started",),
    once=True,
    done_when=("sop1.reflection_ended",),
    deadline=Deadline(setting="reflection_period.days"),
    remind_days_before=7,
)


def test_a_step_is_due_from_its_trigger_and_overdue_after_its_deadline():
    case = make_case()
    events = [EventFact("case.opened", T0)]
    due = status_of(SCREENING, case, events, today=date(2026, 3, 9))
    assert due.state == StepState.DUE
    assert due.due_on == date(2026, 3, 9)
    late = status_of(SCREENING, case, events, today=date(2026, 3, 10))
    assert late.state == StepState.OVERDUE


def test_a_step_is_done_by_a_completing_event_after_its_start():
    case = make_case()
    events = [
        EventFact("case.opened", T0),
        EventFact("sop1.screening_recorded", T0 + timedelta(days=20), code="refer"),
    ]
    done = status_of(SCREENING, case, events, today=date(2026, 4, 1))
    assert done.state == StepState.DONE
    assert done.done_at == T0 + timedelta(days=20)


def test_a_step_without_its_trigger_has_not_started():
    case = make_case()
    result = status_of(
        REFLECTION, case, [EventFact("case.opened", T0)], date(2026, 3, 3)
    )
    assert result.state == StepState.NOT_STARTED
    assert result.due_on is None


@pytest.mark.parametrize(
    ("started", "days", "last_day"),
    [
        # Started with the "presumed" move on 2 March (reasonable grounds).
        (T0, 30, date(2026, 4, 1)),
        # Started with the "identified" move on 12 March (formal identification).
        (T0 + timedelta(days=10), 30, date(2026, 4, 11)),
        (T0 + timedelta(days=10), 90, date(2026, 6, 10)),
    ],
)
def test_the_reflection_period_runs_from_its_recorded_start_for_the_variants_days(
    started, days, last_day
):
    case = make_case()
    events = [
        EventFact("case.opened", T0),
        moved("identification", "presumed", T0),
        moved("identification", "identified", T0 + timedelta(days=10)),
        EventFact("sop1.reflection_started", started),
    ]
    events.sort(key=lambda e: e.at)
    defn = definition(REFLECTION, reflection_period={"days": days})
    result = status_of(REFLECTION, case, events, date(2026, 3, 20), defn)
    assert result.state == StepState.DUE
    assert result.due_on == last_day
    assert result.remind_on == last_day - timedelta(days=7)
    window = engine.reflection_window(case, events, defn)
    assert window is not None and window.ends_on == last_day


def test_no_reflection_period_without_its_recorded_start():
    """A variant's start event alone (e.g. the track was elsewhere) starts nothing."""
    case = make_case()
    events = [moved("identification", "presumed", T0)]
    assert engine.reflection_window(case, events, definition(REFLECTION)) is None
    result = status_of(REFLECTION, case, events, date(2026, 3, 20))
    assert result.state == StepState.NOT_STARTED


def test_the_reflection_period_starts_once_even_if_identification_is_reopened():
    case = make_case()
    later = T0 + timedelta(days=40)
    events = [
        moved("identification", "presumed", T0),
        EventFact("sop1.reflection_started", T0),
        moved("identification", "not_identified", T0 + timedelta(days=5)),
        moved("identification", "presumed", later),
        EventFact("sop1.reflection_started", later),
    ]
    window = engine.reflection_window(case, events, definition(REFLECTION))
    assert window is not None
    assert window.started_at == T0


RISK_REVIEW = Step(
    id="sop1.risk_review",
    sop=1,
    title="Review risk",
    trigger=("sop1.contact_recorded",),
    done_when=("sop1.risk_assessment_reviewed",),
    deadline=Deadline(setting="risk_assessment.review_within_days"),
    repeats=True,
)


def test_rule_8_the_risk_review_falls_due_after_every_contact():
    """SOPS §6.5 rule 8 (the reminder part): every contact makes the review due."""
    case = make_case()
    defn = definition(RISK_REVIEW, risk_assessment={"review_within_days": 3})
    first = T0 + timedelta(days=1)
    events = [EventFact("sop1.contact_recorded", first)]
    assert status_of(RISK_REVIEW, case, events, date(2026, 3, 4), defn).state == (
        StepState.DUE
    )
    events.append(
        EventFact("sop1.risk_assessment_reviewed", first + timedelta(hours=2))
    )
    assert status_of(RISK_REVIEW, case, events, date(2026, 3, 4), defn).state == (
        StepState.DONE
    )
    second = T0 + timedelta(days=6)
    events.append(EventFact("sop1.contact_recorded", second))
    again = status_of(RISK_REVIEW, case, events, date(2026, 3, 12), defn)
    assert again.state == StepState.OVERDUE
    assert again.due_on == date(2026, 3, 11)


NEEDS = Step(
    id="sop1.needs_assessment",
    sop=1,
    title="Assess needs",
    trigger=("track:identification->presumed",),
    done_when=("sop1.needs_assessed",),
    deadline=Deadline(days=3),
)


def test_work_done_before_a_step_falls_due_counts():
    """Help never waits for identification: a needs assessment recorded before
    the person is presumed trafficked completes the step, whether the
    presumption came later or not at all."""
    case = make_case()
    defn = definition(NEEDS)
    done = [EventFact("sop1.needs_assessed", T0)]
    assert status_of(NEEDS, case, done, date(2026, 3, 4), defn).state == (
        StepState.DONE
    )
    later = [*done, moved("identification", "presumed", T0 + timedelta(days=2))]
    assert status_of(NEEDS, case, later, date(2026, 3, 20), defn).state == (
        StepState.DONE
    )
    assert status_of(NEEDS, case, [], date(2026, 3, 4), defn).state == (
        StepState.NOT_STARTED
    )


def test_a_repeating_step_needs_the_work_after_its_latest_trigger():
    case = make_case()
    defn = definition(RISK_REVIEW, risk_assessment={"review_within_days": 3})
    events = [
        EventFact("sop1.risk_assessment_reviewed", T0),
        EventFact("sop1.contact_recorded", T0 + timedelta(days=1)),
    ]
    assert status_of(RISK_REVIEW, case, events, date(2026, 3, 3), defn).state == (
        StepState.DUE
    )


GUARDIAN = Step(
    id="sop1.guardian",
    sop=1,
    title="Guardian",
    trigger=("track:child_protection->guardian_requested",),
    done_when=("track:child_protection->guardian_appointed",),
    deadline=Deadline(days=3),
    applies_when=("presumed_child",),
)


def test_a_child_step_does_not_apply_to_an_adult():
    case = make_case(presumed_child=False)
    result = status_of(GUARDIAN, case, [], date(2026, 3, 3))
    assert result.state == StepState.NOT_APPLICABLE
    assert result.explanation


def test_a_child_step_applies_to_a_presumed_child():
    case = make_case(presumed_child=True)
    events = [moved("child_protection", "guardian_requested", T0)]
    result = status_of(GUARDIAN, case, events, date(2026, 3, 6))
    assert (result.state, result.due_on) == (StepState.OVERDUE, date(2026, 3, 5))


VERIFY = Step(
    id="sop1.identity_verification",
    sop=1,
    title="Verify identity",
    trigger=("track:identification->presumed",),
    done_when=("sop1.identity_verification_requested",),
    applies_when=("foreign_national",),
    guards=("not asylum_applicant",),
)


@override_settings(TRM_COUNTRY="BG")
def test_rule_6_identity_verification_is_blocked_for_an_asylum_applicant():
    events = [moved("identification", "presumed", T0)]
    blocked = status_of(
        VERIFY, make_case(asylum_applicant=True), events, date(2026, 3, 3)
    )
    assert blocked.state == StepState.BLOCKED
    assert "international protection" in blocked.explanation
    open_ = status_of(
        VERIFY, make_case(asylum_applicant=False), events, date(2026, 3, 3)
    )
    assert open_.state == StepState.DUE


@override_settings(TRM_COUNTRY="RO")
def test_a_national_needs_no_identity_verification_abroad():
    events = [moved("identification", "presumed", T0)]
    result = status_of(VERIFY, make_case(citizenships=["RO"]), events, date(2026, 3, 3))
    assert result.state == StepState.NOT_APPLICABLE


def test_a_null_deadline_setting_means_no_deadline():
    step = Step(
        id="sop1.formal_identification",
        sop=1,
        title="Decide",
        trigger=("track:identification->presumed",),
        done_when=("track:identification->identified",),
        deadline=Deadline(setting="formal_identification.decision_within_days"),
    )
    defn = definition(step, formal_identification={"decision_within_days": None})
    events = [moved("identification", "presumed", T0)]
    result = status_of(step, make_case(), events, date(2030, 1, 1), defn)
    assert (result.state, result.due_on) == (StepState.DUE, None)


def test_coded_event_references_match_only_their_code():
    defn = definition()
    expired = EventFact("sop1.reflection_ended", T0, code="expired")
    assert engine.matches("sop1.reflection_ended=expired", expired, defn)
    assert not engine.matches("sop1.reflection_ended=public_order", expired, defn)
    assert engine.matches("sop1.reflection_ended", expired, defn)


def test_the_sop_summary_puts_overdue_first():
    case = make_case()
    defn = definition(SCREENING, REFLECTION)
    events = [EventFact("case.opened", T0)]
    (sop,) = engine.case_sop_status(
        case, definition=defn, events=events, today=date(2026, 5, 1)
    )
    assert sop.summary == StepState.OVERDUE
    assert [s.step.id for s in engine.open_steps([sop])] == ["sop1.screening"]
