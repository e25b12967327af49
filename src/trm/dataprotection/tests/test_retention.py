from datetime import UTC, datetime
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from trm.audit.models import AuditEntry
from trm.cases import services as cases
from trm.cases.models import Case, CaseEvent, CaseNote, Person
from trm.dataprotection import crypto, services
from trm.dataprotection.models import ErasureReason, ErasureRequest
from trm.dataprotection.tests import people


def _at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 12, 0, tzinfo=UTC)


@pytest.fixture
def history(caseworker_a):
    """Three fictional people: one closed long ago, one still open, one closed lately.

    ``old`` closed on 1 Feb 2020, ``open`` opened in 2020 and never closed,
    ``recent`` closed on 1 June 2024.
    """
    with time_machine.travel(_at(2020, 1, 10), tick=False):
        old = people.open_case(caseworker_a, given_names="Old")
        still_open = people.open_case(caseworker_a, given_names="Open")
    with time_machine.travel(_at(2020, 2, 1), tick=False):
        cases.case_close(actor=caseworker_a, case_id=old.pk, reason="goals_met")
    with time_machine.travel(_at(2024, 5, 1), tick=False):
        recent = people.open_case(caseworker_a, given_names="Recent")
    with time_machine.travel(_at(2024, 6, 1), tick=False):
        cases.case_close(
            actor=caseworker_a,
            case_id=recent.pk,
            reason="goals_met",
            note="Fictional closing note.",
        )
    return {"old": old, "open": still_open, "recent": recent}


def _person(case: Case) -> Person:
    return Person.objects.get(pk=case.person_id)


def _snapshot() -> dict[str, int]:
    return {
        "audit": AuditEntry.objects.count(),
        "notes": CaseNote.objects.count(),
        "details": CaseEvent.objects.filter(sealed_detail__isnull=False).count(),
        "erased": Person.objects.filter(erased_at__isnull=False).count(),
        "requests": ErasureRequest.objects.count(),
    }


def test_dry_run_counts_and_changes_nothing(history):
    before = _snapshot()

    with time_machine.travel(_at(2025, 3, 1), tick=False):
        report = services.enforce_retention(dry_run=True)

    assert report.dry_run
    assert report.persons_erased == 1
    assert report.cases_with_expired_notes == 1
    assert report.notes_deleted == 2
    assert report.event_details_cleared == 1
    assert _snapshot() == before
    assert not _person(history["old"]).is_erased


def test_run_erases_only_persons_past_retention(history, caseworker_a):
    with time_machine.travel(_at(2025, 3, 1), tick=False):
        report = services.enforce_retention()

    assert report.persons_erased == 1
    old = _person(history["old"])
    assert old.is_erased
    assert old.sealed_identity is None
    with pytest.raises(crypto.KeyDestroyed):
        crypto.data_key(old.data_key_id)
    assert old.gender == "Feminine"
    assert old.citizenships == ["RO"]
    assert not _person(history["open"]).is_erased
    assert not _person(history["recent"]).is_erased
    register = ErasureRequest.objects.get(person=old)
    assert register.reason == ErasureReason.RETENTION_EXPIRED
    assert register.status == ErasureRequest.Status.CONFIRMED
    assert register.requested_by is None


def test_run_deletes_notes_and_details_only_of_cases_past_retention(history):
    with time_machine.travel(_at(2025, 3, 1), tick=False):
        report = services.enforce_retention()

    old, recent = history["old"], history["recent"]
    assert report.notes_deleted == 2
    assert not CaseNote.objects.filter(case=old).exists()
    assert not CaseEvent.objects.filter(case=old, sealed_detail__isnull=False).exists()
    assert CaseEvent.objects.filter(case=old, kind="case.track_moved").exists()
    assert CaseNote.objects.filter(case=recent).count() == 2
    assert (
        CaseEvent.objects.filter(case=recent, sealed_detail__isnull=False).count() == 2
    )


def test_run_writes_system_audit_entries_and_the_chain_verifies(history):
    with time_machine.travel(_at(2025, 3, 1), tick=False):
        services.enforce_retention()

    system = AuditEntry.objects.filter(
        action__startswith="dataprotection.", actor_kind="system"
    )
    assert set(system.values_list("action", flat=True)) == {
        "dataprotection.person_erased",
        "dataprotection.notes_expired",
        "dataprotection.retention_enforced",
    }
    out = StringIO()
    call_command("audit", "verify", stdout=out)
    assert "chain intact" in out.getvalue()


def test_second_run_finds_nothing_more(history):
    with time_machine.travel(_at(2025, 3, 1), tick=False):
        services.enforce_retention()
        again = services.enforce_retention()

    assert again.persons_erased == 0
    assert again.notes_deleted == 0
    assert again.event_details_cleared == 0


def test_later_the_recently_closed_case_is_past_retention_too(history):
    with time_machine.travel(_at(2029, 6, 2), tick=False):
        report = services.enforce_retention()

    assert report.persons_erased == 2
    assert _person(history["recent"]).is_erased
    assert not _person(history["open"]).is_erased


def test_retention_periods_come_from_settings(history, settings):
    settings.TRM_RETENTION_IDENTITY_YEARS = 10

    with time_machine.travel(_at(2025, 3, 1), tick=False):
        report = services.enforce_retention()

    assert report.persons_erased == 0
    assert report.notes_deleted == 2
    assert not _person(history["old"]).is_erased


def test_pending_request_is_closed_when_retention_erases_the_person(
    history, caseworker_a
):
    request = services.erasure_request(
        actor=caseworker_a, case_id=history["old"].pk, reason="gdpr_art17"
    )

    with time_machine.travel(_at(2025, 3, 1), tick=False):
        services.enforce_retention()

    request.refresh_from_db()
    assert request.status == ErasureRequest.Status.CANCELLED


def test_command_prints_counts_never_names(history):
    out = StringIO()

    with time_machine.travel(_at(2025, 3, 1), tick=False):
        call_command("dataprotection", "enforce-retention", "--dry-run", stdout=out)

    text = out.getvalue()
    assert "dry run, nothing changed" in text
    assert "identity: 1 person(s) would be erased" in text
    assert "notes: 2 note(s) would be deleted" in text
    assert "audit log: kept" in text
    for name in ("Old", "Recent", people.FAMILY, history["old"].number):
        assert name not in text
    assert not _person(history["old"]).is_erased


def test_command_applies_without_dry_run(history):
    out = StringIO()

    with time_machine.travel(_at(2025, 3, 1), tick=False):
        call_command("dataprotection", "enforce-retention", stdout=out)

    assert "identity: 1 person(s) were erased" in out.getvalue()
    assert _person(history["old"]).is_erased


@pytest.mark.parametrize(
    ("moment", "years", "expected"),
    [
        (_at(2025, 3, 1), 5, _at(2020, 3, 1)),
        (datetime(2024, 2, 29, tzinfo=UTC), 1, datetime(2023, 2, 28, tzinfo=UTC)),
    ],
)
def test_years_before_handles_leap_days(moment, years, expected):
    assert services.years_before(moment, years) == expected


def test_default_retention_settings(settings):
    assert settings.TRM_RETENTION_IDENTITY_YEARS == 5
    assert settings.TRM_RETENTION_NOTES_YEARS == 5
    assert settings.TRM_RETENTION_AUDIT_YEARS == 10
