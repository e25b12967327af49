"""The SOP panel page, "My tasks" with its reminders, and the navigation badge."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from tests.test_accessibility import assert_page_basics

from trm.accounts.models import Role
from trm.accounts.tests.helpers import message_texts
from trm.assessments.tests.factories import record_risk
from trm.cases.models import Case
from trm.cases.tests.factories import adult_birth_date, open_case, team_member
from trm.identification import contacts, services
from trm.sop import engine, jobs, loader, views
from trm.sop.models import Reminder

pytestmark = pytest.mark.django_db

FAMILY_NAME = "Quorvastel-Fictiv"


@pytest.fixture(autouse=True)
def _fresh_definitions():
    loader.clear_cache()
    yield
    loader.clear_cache()


def opened_days_ago(actor, days: int, **fields) -> Case:
    """Open a case as if ``days`` ago (its steps' deadlines count from then)."""
    with time_machine.travel(timezone.now() - timedelta(days=days), tick=False):
        return open_case(
            actor,
            birth_date=adult_birth_date(),
            family_names=FAMILY_NAME,
            **fields,
        )


def html(response) -> str:
    return str(response.content.decode())


def test_case_panel_page_shows_the_five_sops(signed_in, caseworker_a):
    case = open_case(caseworker_a)
    response = signed_in(caseworker_a).get(reverse("sop:case_panel", args=[case.pk]))
    assert response.status_code == 200
    page = html(response)
    assert_page_basics(page)
    for number in range(1, 6):
        assert f"SOP {number}:" in page
    assert "Initial identification" in page
    assert "<details>" in page  # each step's description on demand


def test_case_panel_page_is_404_for_someone_off_the_team(
    signed_in, caseworker_a, caseworker_b
):
    case = open_case(caseworker_a)
    response = signed_in(caseworker_b).get(reverse("sop:case_panel", args=[case.pk]))
    assert response.status_code == 404


def test_tasks_show_an_overdue_step_to_the_role_it_names_and_not_to_others(
    signed_in, caseworker_a
):
    case = opened_days_ago(caseworker_a, 10)
    guardian = team_member(case, Role.GUARDIAN)
    page = html(signed_in(caseworker_a).get(reverse("sop:tasks")))
    assert case.number in page
    assert reverse("cases:detail", args=[case.pk]) in page
    assert "Initial identification" in page
    assert "Overdue" in page
    assert "7 days late" in page  # due 3 days after opening
    assert FAMILY_NAME not in page
    assert_page_basics(page)

    other = html(signed_in(guardian).get(reverse("sop:tasks")))
    assert case.number not in other
    assert "Initial identification" not in other
    assert "Nothing is due." in other


def test_tasks_warn_that_an_example_variant_is_not_verified(
    signed_in, caseworker_a, settings
):
    settings.TRM_SOP_VARIANT = "md"
    opened_days_ago(caseworker_a, 10)
    page = html(signed_in(caseworker_a).get(reverse("sop:tasks")))
    assert 'id="example-variant"' in page
    assert "Moldova — example variant (not verified)" in page
    assert "have not been verified" in page
    assert "not use them as a description of Moldovan law" in page  # the note
    assert_page_basics(page)


def test_tasks_of_a_verified_variant_carry_no_example_warning(signed_in, caseworker_a):
    opened_days_ago(caseworker_a, 10)
    page = html(signed_in(caseworker_a).get(reverse("sop:tasks")))
    assert 'id="example-variant"' not in page
    assert "have not been verified" not in page


def test_overdue_only_filters_due_steps_out(signed_in, caseworker_a):
    opened_days_ago(caseworker_a, 2)  # initial identification due in 1 day
    client = signed_in(caseworker_a)
    everything = html(client.get(reverse("sop:tasks")))
    assert "Initial identification" in everything
    assert "Overdue" in everything  # the first risk assessment (1 day)
    overdue = html(client.get(reverse("sop:tasks"), {"overdue": "1"}))
    assert "Initial identification" not in overdue
    assert "First risk assessment" in overdue


def test_overdue_steps_come_first(signed_in, caseworker_a):
    due = opened_days_ago(caseworker_a, 0)
    late = opened_days_ago(caseworker_a, 20)
    page = html(signed_in(caseworker_a).get(reverse("sop:tasks")))
    assert page.index(late.number) < page.index(due.number)


def test_tasks_are_paginated_by_50(signed_in, caseworker_a):
    # Three steps of each case fall to the case manager at opening.
    for _ in range(17):
        open_case(caseworker_a)
    client = signed_in(caseworker_a)
    first = html(client.get(reverse("sop:tasks")))
    assert "Page 1 of 2" in first
    second = html(client.get(reverse("sop:tasks"), {"page": "2"}))
    assert second.count("<tr") == 2  # the header and one task


def test_reminders_link_to_the_case_and_can_be_marked_read(signed_in, caseworker_a):
    case = opened_days_ago(caseworker_a, 10)
    jobs.send_reminders()
    assert Reminder.objects.filter(user=caseworker_a, read_at__isnull=True).exists()
    client = signed_in(caseworker_a)
    page = html(client.get(reverse("sop:tasks")))
    assert 'id="reminders"' in page
    assert reverse("cases:detail", args=[case.pk]) + "#sop" in page
    assert "unread reminder" in page  # the navigation badge
    assert FAMILY_NAME not in page
    response = client.post(reverse("sop:reminders_read"), follow=True)
    assert any("marked read" in m for m in message_texts(response))
    assert not Reminder.objects.filter(user=caseworker_a, read_at__isnull=True).exists()
    assert "No unread reminders." in html(response)
    assert "unread reminder" not in html(response).split("<main")[0]


def test_marking_read_needs_a_post(signed_in, caseworker_a):
    response = signed_in(caseworker_a).get(reverse("sop:reminders_read"))
    assert response.status_code == 405


def test_my_tasks_is_in_the_menu_of_case_roles_only(signed_in, caseworker_a, auditor):
    tasks = reverse("sop:tasks")
    assert f'href="{tasks}"' in html(signed_in(caseworker_a).get(reverse("home")))
    assert f'href="{tasks}"' not in html(signed_in(auditor).get(reverse("home")))


def _step(panel: views.Panel, step_id: str) -> views.PanelStep:
    return next(s for sop in panel.sops for s in sop.steps if s.id == step_id)


def test_case_panel_page_of_a_prosecutor_leaves_out_assistance_only_events(
    signed_in, caseworker_a
):
    case = open_case(caseworker_a, birth_date=adult_birth_date())
    services.presume(actor=caseworker_a, case_id=case.pk, reason="Fictional grounds")
    contacts.contact_record(actor=caseworker_a, case_id=case.pk, kind="in_person")
    record_risk(case, caseworker_a, level="low")
    prosecutor = team_member(case, Role.PROSECUTOR)
    url = reverse("sop:case_panel", args=[case.pk])

    managers = signed_in(caseworker_a).get(url).context["sop_panel"]
    theirs = signed_in(prosecutor).get(url).context["sop_panel"]

    assert _step(managers, "sop1.risk_review").state == "done"
    # The prosecutor learns that it was done, not when (assistance-only events).
    review = _step(theirs, "sop1.risk_review")
    assert review.state == "done"
    assert review.started_at is None and review.done_at is None
    assert _step(managers, "sop1.risk_review").done_at is not None
    assert theirs.removal_block == managers.removal_block is not None


def test_the_removal_block_is_computed_from_every_event_not_the_visible_ones(
    caseworker_a,
):
    case = open_case(caseworker_a, birth_date=adult_birth_date())
    services.presume(actor=caseworker_a, case_id=case.pk, reason="Fictional grounds")
    events = engine.events_for_cases([case.pk]).get(case.pk, [])
    today = timezone.localdate()
    panel = views.build_panel(
        case,
        definition=views.definition(),
        events=events,
        visible_events=[],
        today=today,
    )
    full = views.build_panel(
        case, definition=views.definition(), events=events, today=today
    )
    assert panel.removal_block == full.removal_block is not None
    assert panel.reflection is None and full.reflection is not None
    hidden = _step(panel, "sop1.initial_identification")
    assert (hidden.state, hidden.done_at) == ("done", None)
    assert _step(full, "sop1.initial_identification").done_at is not None


def test_case_page_panel_of_a_prosecutor_leaves_out_assistance_only_events(
    signed_in, caseworker_a
):
    case = open_case(caseworker_a, birth_date=adult_birth_date())
    contacts.contact_record(actor=caseworker_a, case_id=case.pk, kind="in_person")
    record_risk(case, caseworker_a, level="low")
    prosecutor = team_member(case, Role.PROSECUTOR)
    url = reverse("cases:detail", args=[case.pk])
    theirs = signed_in(prosecutor).get(url).context["sop_panel"]
    review = _step(theirs, "sop1.risk_review")
    assert (review.state, review.done_at) == ("done", None)
