"""Overdue follow-ups in "My tasks"."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.urls import reverse

from trm.accounts.models import Role
from trm.cases.tests.factories import team_member
from trm.reintegration import services
from trm.reintegration.models import FollowUp
from trm.reintegration.tasks import STEP_ID
from trm.reintegration.tests.helpers import origin_case
from trm.sop.engine import StepState
from trm.sop.selectors import tasks_for_user

pytestmark = pytest.mark.django_db

START = date(2026, 1, 10)


@pytest.fixture
def planned(org_a):
    case, provider = origin_case()
    services.reintegration_plan_record(
        actor=provider,
        case_id=case.pk,
        starts_on=START,
        services=["shelter"],
        goals="Fictional goals.",
        case_manager_function="Fictional social worker",
    )
    return case, provider


def follow_up_tasks(user, today):
    tasks, _truncated = tasks_for_user(user=user, today=today)
    return [t for t in tasks if t.status.step.id == STEP_ID]


def test_an_overdue_follow_up_is_a_task_of_the_case_team(planned):
    case, provider = planned
    first = FollowUp.objects.get(case=case, sequence=1)
    assert follow_up_tasks(provider, first.due_on) == []
    [task] = follow_up_tasks(provider, first.due_on + timedelta(days=1))
    assert task.case_id == case.pk and task.status.state == StepState.OVERDUE
    assert task.status.due_on == first.due_on
    assert task.url == reverse("reintegration:report", args=[case.pk, first.pk])
    assert task.roles == frozenset({Role.SERVICE_PROVIDER})
    manager = team_member(case, Role.CASE_MANAGER)
    assert len(follow_up_tasks(manager, first.due_on + timedelta(days=1))) == 1
    overdue_only, _t = tasks_for_user(
        user=manager, today=first.due_on + timedelta(days=1), overdue_only=True
    )
    assert any(t.status.step.id == STEP_ID for t in overdue_only)


def test_the_legal_track_and_others_get_no_follow_up_task(planned, caseworker_b):
    case, _provider = planned
    prosecutor = team_member(case, Role.PROSECUTOR)
    later = date(2027, 6, 1)
    assert follow_up_tasks(prosecutor, later) == []
    assert follow_up_tasks(caseworker_b, later) == []


def test_a_reported_follow_up_is_no_longer_a_task(planned):
    case, provider = planned
    first = FollowUp.objects.get(case=case, sequence=1)
    services.followup_report_record(
        actor=provider,
        case_id=case.pk,
        follow_up_id=first.pk,
        reported_on=first.due_on,
        services_given=[],
        status={},
        risk_level="low",
        send=False,
    )
    later = date(2026, 5, 15)  # follow-ups 1 and 2 were due
    tasks = follow_up_tasks(provider, later)
    assert [t.status.due_on for t in tasks] == [date(2026, 4, 10)]


def test_the_tasks_page_links_to_the_report_form(planned, signed_in, settings):
    case, provider = planned
    first = FollowUp.objects.get(case=case, sequence=1)
    page = signed_in(provider).get(reverse("sop:tasks")).content.decode()
    assert reverse("reintegration:report", args=[case.pk, first.pk]) in page
    assert "Follow-up report after return" in page
