"""Residence renewal reminders: once per record, to the right people, no names."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from trm.accounts.models import Role
from trm.care import residence
from trm.care.jobs import RENEWAL_STEP_ID, residence_renewals
from trm.care.models import ResidenceStatus
from trm.care.tests.helpers import close
from trm.cases.tests.factories import (
    FICTIONAL,
    adult_birth_date,
    open_case,
    team_member,
)
from trm.sop import loader
from trm.sop.jobs import run_due_jobs
from trm.sop.models import Reminder

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_definitions():
    loader.clear_cache()
    yield
    loader.clear_cache()


@pytest.fixture
def case(caseworker_a):
    return open_case(caseworker_a, birth_date=adult_birth_date())


def permit(case, actor, *, days_left: int = 20, **kw) -> ResidenceStatus:
    today = timezone.localdate()
    return residence.residence_status_record(
        actor=actor,
        case_id=case.pk,
        residence_type=kw.pop("residence_type", "temp_permit_personal_situation"),
        valid_from=today - timedelta(days=200),
        valid_until=today + timedelta(days=days_left),
        document_number="ZZ777",
        **kw,
    ).record


def test_the_case_managers_and_ncp_are_reminded_once(case, caseworker_a):
    ncp = team_member(case, Role.NATIONAL_CONTACT_POINT)
    provider = team_member(case, Role.SERVICE_PROVIDER)
    status = permit(case, caseworker_a)
    assert residence_renewals() == 2
    assert residence_renewals() == 0  # idempotent
    reminders = Reminder.objects.filter(step_id=RENEWAL_STEP_ID)
    assert {r.user for r in reminders} == {caseworker_a, ncp}
    assert not reminders.filter(user=provider).exists()
    assert {r.due_on for r in reminders} == {status.valid_until}
    status.refresh_from_db()
    assert status.reminded_at is not None


def test_no_reminder_before_the_renewal_date(case, caseworker_a):
    permit(case, caseworker_a, days_left=31)  # due in 1 day with 30 days' notice
    assert residence_renewals() == 0
    tomorrow = timezone.localdate() + timedelta(days=1)
    assert residence_renewals(today=tomorrow) == 1


def test_replaced_records_and_closed_cases_are_not_reminded(case, caseworker_a):
    permit(case, caseworker_a, days_left=5)
    permit(case, caseworker_a, days_left=400)  # the renewed permit
    assert residence_renewals() == 0
    other = open_case(caseworker_a)
    permit(other, caseworker_a)
    close(other)
    assert residence_renewals() == 0


def test_a_record_without_an_end_is_never_reminded(case, caseworker_a):
    residence.residence_status_record(
        actor=caseworker_a,
        case_id=case.pk,
        residence_type="eu_citizen",
        valid_from=timezone.localdate(),
    )
    assert residence_renewals(today=timezone.localdate() + timedelta(days=3000)) == 0


def test_a_case_without_a_manager_stays_pending(case, caseworker_a):
    provider = team_member(case, Role.SERVICE_PROVIDER)
    status = permit(case, provider)
    from trm.cases.models import CaseTeamMember

    CaseTeamMember.objects.filter(case=case, user=caseworker_a).delete()
    assert residence_renewals() == 0
    status.refresh_from_db()
    assert status.reminded_at is None
    manager = team_member(case, Role.CASE_MANAGER)
    assert residence_renewals() == 1
    assert Reminder.objects.get(step_id=RENEWAL_STEP_ID).user == manager


def test_the_worker_e_mails_the_reminder_without_names(case, caseworker_a, signed_in):
    caseworker_a.email = "caseworker@example.invalid"
    caseworker_a.save()
    permit(case, caseworker_a)
    counts = run_due_jobs()
    assert counts["residence_renewal_reminders"] == 1
    body = "\n".join(f"{m.subject}\n{m.body}" for m in mail.outbox)
    assert case.number in body
    assert "Renew the residence document" in body
    assert FICTIONAL not in body and "ZZ777" not in body
    again = run_due_jobs()
    assert again["residence_renewal_reminders"] == 0
    assert Reminder.objects.filter(step_id=RENEWAL_STEP_ID).count() == 1
    # "My tasks" labels the reminder and links to the care section.
    page = signed_in(caseworker_a).get("/tasks/")
    html = page.content.decode()
    assert "Renew the residence document or permit before it expires" in html
    assert f"/cases/{case.pk}/#care" in html


def test_a_user_who_lost_the_role_is_not_reminded(case, caseworker_a):
    from trm.accounts.models import Membership

    ncp = team_member(case, Role.NATIONAL_CONTACT_POINT)
    Membership.objects.filter(user=ncp).delete()
    ncp.forget_roles()
    permit(case, caseworker_a)
    residence_renewals()
    assert list(
        Reminder.objects.filter(step_id=RENEWAL_STEP_ID).values_list("user", flat=True)
    ) == [caseworker_a.pk]
