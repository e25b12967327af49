"""The reminder job: one e-mail per user and run, names never included."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from trm.cases.tests.factories import FICTIONAL, adult_birth_date, open_case
from trm.sop import loader
from trm.sop.jobs import send_reminders
from trm.sop.models import Reminder

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_definitions():
    loader.clear_cache()
    yield
    loader.clear_cache()


def test_a_user_gets_one_e_mail_listing_every_case(caseworker_a):
    caseworker_a.email = "caseworker@example.invalid"
    caseworker_a.save()
    cases = [open_case(caseworker_a, birth_date=adult_birth_date()) for _ in range(3)]
    run = send_reminders(today=timezone.localdate() + timedelta(days=10))
    assert run.emails == 1
    assert run.emailed == Reminder.objects.filter(user=caseworker_a).count() > 3
    (message,) = mail.outbox
    for case in cases:
        assert case.number in message.body
    assert FICTIONAL not in message.body and FICTIONAL not in message.subject
    assert "/tasks/" in message.body
    # Nothing new: no second e-mail.
    again = send_reminders(today=timezone.localdate() + timedelta(days=10))
    assert (again.created, again.emails) == (0, 0)
    assert len(mail.outbox) == 1


def test_a_user_without_e_mail_gets_reminders_in_the_app_only(caseworker_a):
    caseworker_a.email = ""
    caseworker_a.save()
    open_case(caseworker_a, birth_date=adult_birth_date())
    run = send_reminders(today=timezone.localdate() + timedelta(days=10))
    assert run.created and run.emails == 0
    assert not mail.outbox
