"""Pure rules on the models, without the database."""

from __future__ import annotations

from datetime import date

from trm.care.models import (
    CarePlan,
    EpisodeOutcome,
    PlanStatus,
    ResidenceStatus,
    ServiceEpisode,
)
from trm.care.residence import residence_warnings
from trm.care.services import duration_warning


def test_a_plan_moves_draft_agreed_and_back_or_closed():
    plan = CarePlan(status=PlanStatus.DRAFT, duration="short")
    assert plan.can_transition_to(PlanStatus.AGREED)
    assert not plan.can_transition_to(PlanStatus.CLOSED)
    plan.status = PlanStatus.AGREED
    assert plan.can_transition_to(PlanStatus.DRAFT)
    assert plan.can_transition_to(PlanStatus.CLOSED)
    plan.status = PlanStatus.CLOSED
    assert not any(plan.can_transition_to(s) for s in PlanStatus.values)
    assert not plan.is_open


def test_only_a_long_plan_exceeds_the_one_year_norm():
    assert not CarePlan(duration="short").longer_than_normal
    assert not CarePlan(duration="medium").longer_than_normal
    assert CarePlan(duration="long").longer_than_normal
    assert duration_warning("long") and not duration_warning("short")


def test_renewal_is_due_from_the_notice_date_until_the_end():
    until = date(2026, 6, 30)
    due = ResidenceStatus.renewal_due_for(until, 30)
    assert due == date(2026, 5, 31)
    assert ResidenceStatus.renewal_due_for(None, 30) is None
    record = ResidenceStatus(
        valid_from=date(2026, 1, 1), valid_until=until, renewal_due_on=due
    )
    assert not record.renewal_is_due(date(2026, 5, 30))
    assert record.renewal_is_due(date(2026, 5, 31))
    assert record.renewal_is_due(until)
    assert not record.is_expired(until)
    assert record.is_expired(date(2026, 7, 1))
    assert not record.renewal_is_due(date(2026, 7, 1))  # expired instead


def test_a_superseded_record_is_never_due():
    record = ResidenceStatus(
        valid_from=date(2026, 1, 1),
        valid_until=date(2026, 6, 30),
        renewal_due_on=date(2026, 5, 31),
    )
    record.superseded_by_id = record.id
    assert not record.is_current
    assert not record.renewal_is_due(date(2026, 6, 1))


def test_a_permit_under_six_months_is_warned_about():
    start = date(2026, 1, 31)
    assert residence_warnings("temp_permit_cooperation", start, date(2026, 7, 29))
    assert not residence_warnings("temp_permit_cooperation", start, date(2026, 7, 30))
    assert not residence_warnings("reflection_document", start, date(2026, 3, 1))


def test_an_episode_is_ongoing_until_it_ends():
    assert ServiceEpisode(outcome=EpisodeOutcome.ONGOING).is_ongoing
    assert not ServiceEpisode(outcome=EpisodeOutcome.COMPLETED).is_ongoing
