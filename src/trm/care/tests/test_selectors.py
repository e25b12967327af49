"""Readers of long-term care: access, audit, erasure, and the care-plan deadline."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django.test import override_settings
from django.utils import timezone

from trm.accounts.models import Role
from trm.audit.models import AuditEntry
from trm.care import episodes, residence, selectors
from trm.care.errors import CareNotForLegalTrack, CareRecordNotFound
from trm.care.tests.helpers import (
    GOALS,
    agreed,
    draft,
    enter_long_term,
    erase,
)
from trm.cases.access import case_access
from trm.cases.errors import CaseNotFound
from trm.cases.tests.factories import adult_birth_date, open_case, team_member
from trm.sop import loader
from trm.sop.engine import StepState

pytestmark = pytest.mark.django_db

#: Noon on a fixed day, so that dates do not depend on when the suite runs.
START = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.get_fixed_timezone(0))


@pytest.fixture(autouse=True)
def _fresh_definitions():
    loader.clear_cache()
    yield
    loader.clear_cache()


@pytest.fixture
def case(caseworker_a):
    return open_case(caseworker_a, birth_date=adult_birth_date())


def test_a_prosecutor_on_the_team_reads_none_of_it(case, caseworker_a):
    draft(case, caseworker_a)
    prosecutor = team_member(case, Role.PROSECUTOR)
    for read in (
        lambda: selectors.plans_for_user(user=prosecutor, case=case),
        lambda: selectors.current_plan_for_user(user=prosecutor, case=case),
        lambda: selectors.plan_summary_for_user(user=prosecutor, case=case),
        lambda: selectors.residence_for_user(user=prosecutor, case=case),
        lambda: selectors.episodes_for_user(user=prosecutor, case=case),
    ):
        with pytest.raises(CareNotForLegalTrack):
            read()


def test_someone_off_the_team_is_told_there_is_no_such_case(case, caseworker_b):
    with pytest.raises(CaseNotFound):
        selectors.plans_for_user(user=caseworker_b, case=case)


def test_reading_the_plan_opens_it_and_is_audited(case, caseworker_a):
    agreed(case, caseworker_a)
    view = selectors.current_plan_for_user(user=caseworker_a, case=case)
    assert view is not None
    assert view.goals == GOALS
    assert [(s.frequency, s.notes) for s in view.services] == [
        ("Twice a week", "Fictional notes")
    ]
    entry = AuditEntry.objects.filter(action="care.plan_read").last()
    assert entry is not None and entry.target_id == str(case.pk)


def test_after_erasure_the_sealed_text_can_no_longer_be_read(case, caseworker_a):
    plan = agreed(case, caseworker_a)
    residence.residence_status_record(
        actor=caseworker_a,
        case_id=case.pk,
        residence_type="eu_citizen",
        valid_from=timezone.localdate(),
        document_number="ZZ999",
    )
    episodes.service_episode_record(
        actor=caseworker_a,
        case_id=case.pk,
        service_type="shelter",
        started_on=timezone.localdate(),
        provider_name="Fictional Shelter",
        note="Fictional",
    )
    erase(case)
    (view,) = selectors.plans_for_user(user=caseworker_a, case=case)
    assert view.plan.pk == plan.pk
    assert view.goals is None and not view.readable
    assert view.services[0].frequency is None
    (status,) = selectors.residence_for_user(user=caseworker_a, case=case)
    assert status.document_number is None
    rows = selectors.episodes_for_user(user=caseworker_a, case=case)
    (shown,) = selectors.episode_views_for_user(
        user=caseworker_a, case=case, episodes=rows
    )
    assert (shown.provider_name, shown.note, shown.end_note) == (None, None, "")


def test_the_case_page_summary_opens_nothing(case, caseworker_a):
    draft(case, caseworker_a)
    before = AuditEntry.objects.count()
    assert selectors.plan_summary_for_user(user=caseworker_a, case=case)
    selectors.residence_for_user(user=caseworker_a, case=case, with_numbers=False)
    assert AuditEntry.objects.count() == before


def test_a_service_of_another_case_is_not_found(case, caseworker_a):
    other = open_case(caseworker_a)
    elsewhere = episodes.service_episode_record(
        actor=caseworker_a,
        case_id=other.pk,
        service_type="shelter",
        started_on=timezone.localdate(),
    )
    with pytest.raises(CareRecordNotFound):
        selectors.episode_for_user(
            user=caseworker_a, case=case, episode_id=elsewhere.pk
        )
    assert (
        selectors.episode_views_for_user(
            user=caseworker_a, case=case, episodes=[elsewhere]
        )
        == []
    )


def test_expired_and_renewal_due_records_are_tagged(case, caseworker_a):
    today = timezone.localdate()
    residence.residence_status_record(
        actor=caseworker_a,
        case_id=case.pk,
        residence_type="temp_permit_cooperation",
        valid_from=today - timedelta(days=300),
        valid_until=today + timedelta(days=10),
    )
    residence.residence_status_record(
        actor=caseworker_a,
        case_id=case.pk,
        residence_type="reflection_document",
        valid_from=today - timedelta(days=100),
        valid_until=today - timedelta(days=1),
    )
    shown = {
        v.record.residence_type: v
        for v in selectors.residence_for_user(user=caseworker_a, case=case)
    }
    assert shown["temp_permit_cooperation"].renewal_due
    assert not shown["temp_permit_cooperation"].expired
    assert shown["reflection_document"].expired
    assert not shown["reflection_document"].renewal_due


# --- the care-plan deadline (the SOP engine's step sop3.care_plan) ----------------


def deadline(case, user):
    access = case_access(user, case)
    assert access is not None
    return selectors.care_plan_deadline(case=case, access=access)


@override_settings(TRM_SOP_VARIANT="bg")
def test_in_bulgaria_the_care_plan_is_due_20_days_after_long_term_starts(
    case, caseworker_a
):
    with time_machine.travel(START, tick=False):
        enter_long_term(case, at=START)
        due = deadline(case, caseworker_a)
    assert due is not None
    assert due.days == 20
    assert due.due_on == START.date() + timedelta(days=20)
    assert due.variant == "bg"
    assert due.state == StepState.DUE
    with time_machine.travel(START + timedelta(days=21), tick=False):
        late = deadline(case, caseworker_a)
    assert late is not None and late.overdue and late.days_late == 1


def test_in_the_baseline_the_care_plan_is_due_30_days_after(case, caseworker_a):
    with time_machine.travel(START, tick=False):
        enter_long_term(case, at=START)
        due = deadline(case, caseworker_a)
    assert due is not None
    assert (due.days, due.variant) == (30, "baseline")
    assert due.due_on == START.date() + timedelta(days=30)


def test_before_long_term_assistance_the_plan_is_not_due_yet(case, caseworker_a):
    due = deadline(case, caseworker_a)
    assert due is not None
    assert (due.state, due.due_on, due.days) == (StepState.NOT_STARTED, None, 30)


def test_an_agreed_plan_completes_the_deadline(case, caseworker_a):
    enter_long_term(case)
    agreed(case, caseworker_a)
    due = deadline(case, caseworker_a)
    assert due is not None and due.state == StepState.DONE and due.done_at
