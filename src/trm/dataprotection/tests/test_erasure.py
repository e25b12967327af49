from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction

from trm.accounts.models import Role
from trm.accounts.tests.factories import UserFactory
from trm.audit.models import AuditEntry
from trm.cases import selectors as case_selectors
from trm.cases.errors import CaseNotFound, PersonErased
from trm.cases.models import Case, CaseEvent, CaseNote, Person, PersonIndex
from trm.common.htcds import Gender
from trm.consent.models import Consent
from trm.dataprotection import crypto, services
from trm.dataprotection.errors import (
    DataProtectionInvalidInput,
    DataProtectionRoleRequired,
    ErasureAlreadyRequested,
    ErasureRequestClosed,
    FourEyesRequired,
)
from trm.dataprotection.models import DataKey, ErasureReason, ErasureRequest
from trm.dataprotection.router import KEYSTORE
from trm.dataprotection.tests import people

Status = ErasureRequest.Status


@pytest.fixture
def case(caseworker_a):
    return people.open_case(caseworker_a)


@pytest.fixture
def auditor_2(org_b):
    return UserFactory(username="auditor-b", organisation=org_b, roles=[Role.AUDITOR])


def _with_photo(person: Person) -> None:
    person.sealed_photo = crypto.seal_for(
        person.data_key_id, b"\x89PNG fictional", context=person.photo_context()
    )
    person.photo_content_type = "image/png"
    person.save(update_fields=["sealed_photo", "photo_content_type"])


def _request(actor, case, reason=ErasureReason.PERSON_REQUEST, note=""):
    return services.erasure_request(
        actor=actor, case_id=case.pk, reason=reason, note=note
    )


# --- the whole erasure --------------------------------------------------------


def test_confirmed_erasure_leaves_nothing_decryptable(case, caseworker_a, auditor):
    person = case.person
    _with_photo(person)
    note = CaseNote.objects.filter(case=case).first()
    assert note is not None
    consent = Consent.objects.get(person=person)
    request = _request(caseworker_a, case, note="Letter ref. DP-0001")

    services.erasure_confirm(actor=auditor, request_id=request.pk)

    person.refresh_from_db()
    assert person.is_erased
    assert person.sealed_identity is None
    assert person.sealed_photo is None
    assert not PersonIndex.objects.filter(person=person).exists()
    assert case_selectors.person_identity_for_user(user=caseworker_a, case=case) is None
    notes = case_selectors.case_notes_for_user(user=caseworker_a, case=case)
    assert notes and all(n.text is None for n in notes)
    timeline = case_selectors.case_timeline_for_user(user=caseworker_a, case=case)
    assert all(e.detail is None for e in timeline)
    with pytest.raises(crypto.KeyDestroyed):
        crypto.unseal_for(
            person.data_key_id, note.sealed_text, context=note.text_context()
        )
    with pytest.raises(crypto.KeyDestroyed):
        crypto.unseal_for(
            person.data_key_id,
            consent.sealed_declaration or b"",
            context=consent.declaration_context(),
        )
    key = DataKey.objects.using(KEYSTORE).get(pk=person.data_key_id)
    assert key.wrapped is None
    assert key.destroyed_at is not None
    assert list(case_selectors.case_search(user=caseworker_a, name="Ioana")) == []


def test_erasure_keeps_case_shell_tracks_and_statistics(case, caseworker_a, auditor):
    request = _request(caseworker_a, case)

    services.erasure_confirm(actor=auditor, request_id=request.pk)

    kept = Case.objects.select_related("person").get(pk=case.pk)
    assert kept.number == case.number
    assert kept.assistance == "first_assistance"
    assert kept.person.gender == Gender.FEMININE
    assert kept.person.age_band == case.person.age_band != "unknown"
    assert kept.person.citizenships == ["RO"]
    assert CaseEvent.objects.filter(
        case=case, kind="dataprotection.person_erased"
    ).exists()
    request.refresh_from_db()
    assert request.status == Status.CONFIRMED
    assert request.confirmed_by == auditor
    assert request.confirmed_at is not None


def test_erasure_is_audited_without_personal_data_and_chain_verifies(
    case, caseworker_a, auditor
):
    request = _request(caseworker_a, case, note="Letter ref. DP-0002")

    services.erasure_confirm(actor=auditor, request_id=request.pk)

    actions = list(
        AuditEntry.objects.filter(action__startswith="dataprotection.").values_list(
            "action", flat=True
        )
    )
    assert actions == [
        "dataprotection.erasure_requested",
        "dataprotection.erasure_confirmed",
        "dataprotection.person_erased",
    ]
    for entry in AuditEntry.objects.all():
        assert people.GIVEN not in str(entry.canonical_fields())
    out = StringIO()
    call_command("audit", "verify", stdout=out)
    assert "chain intact" in out.getvalue()


def test_erasure_reaches_every_case_of_the_person(caseworker_a, auditor):
    case = people.open_case(caseworker_a, with_records=False)
    second = Case.objects.create(
        number="ZZ-FICTIV-2",
        person=case.person,
        lead_organisation=case.lead_organisation,
        opened_at=datetime(2026, 1, 5, tzinfo=UTC),
    )
    request = _request(auditor, case)
    admin = UserFactory(username="admin-2", roles=[Role.NODE_ADMINISTRATOR])

    services.erasure_confirm(actor=admin, request_id=request.pk)

    for each in (case, second):
        assert CaseEvent.objects.filter(
            case=each, kind="dataprotection.person_erased"
        ).exists()


# --- four eyes and roles ------------------------------------------------------


def test_requester_cannot_confirm_their_own_request(case, auditor):
    request = _request(auditor, case)

    with pytest.raises(FourEyesRequired, match="second person"):
        services.erasure_confirm(actor=auditor, request_id=request.pk)

    request.refresh_from_db()
    case.person.refresh_from_db()
    assert request.status == Status.PENDING
    assert not case.person.is_erased


def test_another_dpo_or_the_node_administrator_may_confirm(
    case, caseworker_a, auditor, auditor_2, admin_user
):
    request = _request(auditor, case)
    services.erasure_confirm(actor=auditor_2, request_id=request.pk)
    assert ErasureRequest.objects.get(pk=request.pk).confirmed_by == auditor_2

    other = people.open_case(caseworker_a)
    request = _request(auditor, other)
    services.erasure_confirm(actor=admin_user, request_id=request.pk)
    assert ErasureRequest.objects.get(pk=request.pk).confirmed_by == admin_user


def test_case_manager_cannot_confirm(case, caseworker_a, auditor):
    request = _request(auditor, case)

    with pytest.raises(DataProtectionRoleRequired):
        services.erasure_confirm(actor=caseworker_a, request_id=request.pk)

    assert ErasureRequest.objects.get(pk=request.pk).status == Status.PENDING


def test_database_refuses_a_self_confirmed_request(case, auditor):
    with pytest.raises(IntegrityError), transaction.atomic():
        ErasureRequest.objects.create(
            person=case.person,
            case=case,
            reason=ErasureReason.OTHER,
            status=Status.CONFIRMED,
            requested_by=auditor,
            requested_at=datetime(2026, 1, 1, tzinfo=UTC),
            confirmed_by=auditor,
            confirmed_at=datetime(2026, 1, 2, tzinfo=UTC),
        )


def test_users_outside_the_case_cannot_request(
    case, caseworker_b, admin_user, no_role_user
):
    for outsider in (caseworker_b, admin_user, no_role_user):
        with pytest.raises(CaseNotFound):
            _request(outsider, case)
    assert not ErasureRequest.objects.exists()


def test_team_member_who_is_not_case_manager_cannot_request(case, org_a):
    prosecutor = people.prosecutor_on(case, org_a)

    with pytest.raises(DataProtectionRoleRequired):
        _request(prosecutor, case)


def test_dpo_may_request_for_any_case(case, auditor):
    request = _request(auditor, case)

    assert request.status == Status.PENDING
    assert request.requested_by == auditor


# --- input --------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   ", "because"])
def test_request_without_a_known_reason_is_refused_and_changes_nothing(
    case, caseworker_a, reason
):
    entries = AuditEntry.objects.count()
    events = CaseEvent.objects.count()

    with pytest.raises(DataProtectionInvalidInput, match="Choose the reason") as exc:
        _request(caseworker_a, case, reason=reason)

    assert exc.value.details == {"field": "reason"}
    assert not ErasureRequest.objects.exists()
    assert AuditEntry.objects.count() == entries
    assert CaseEvent.objects.count() == events
    case.person.refresh_from_db()
    assert not case.person.is_erased


def test_reason_other_needs_a_note(case, caseworker_a):
    with pytest.raises(DataProtectionInvalidInput, match="other") as exc:
        _request(caseworker_a, case, reason=ErasureReason.OTHER, note="   ")
    assert exc.value.details == {"field": "note"}


def test_note_longer_than_the_limit_is_refused(case, caseworker_a):
    with pytest.raises(DataProtectionInvalidInput, match="200"):
        _request(caseworker_a, case, note="x" * 201)
    assert not ErasureRequest.objects.exists()


def test_second_pending_request_for_the_person_is_refused(case, caseworker_a, auditor):
    _request(caseworker_a, case)

    with pytest.raises(ErasureAlreadyRequested):
        _request(auditor, case)


def test_erased_person_cannot_be_requested_again(case, caseworker_a, auditor):
    services.erasure_confirm(actor=auditor, request_id=_request(caseworker_a, case).pk)

    with pytest.raises(PersonErased):
        _request(caseworker_a, case)


# --- cancelling ---------------------------------------------------------------


def test_cancelled_request_erases_nothing_and_allows_a_new_one(
    case, caseworker_a, admin_user
):
    request = _request(caseworker_a, case)

    services.erasure_cancel(actor=admin_user, request_id=request.pk)

    request.refresh_from_db()
    case.person.refresh_from_db()
    assert request.status == Status.CANCELLED
    assert request.cancelled_by == admin_user
    assert not case.person.is_erased
    assert case_selectors.person_identity_for_user(user=caseworker_a, case=case)
    assert _request(caseworker_a, case).status == Status.PENDING


def test_requester_may_withdraw_but_others_on_the_team_may_not(
    case, caseworker_a, org_a
):
    other_manager = UserFactory(
        username="cm-2", organisation=org_a, roles=[Role.CASE_MANAGER]
    )
    people.add_to_team(case, other_manager, Role.CASE_MANAGER)
    request = _request(caseworker_a, case)

    with pytest.raises(DataProtectionRoleRequired):
        services.erasure_cancel(actor=other_manager, request_id=request.pk)
    services.erasure_cancel(actor=caseworker_a, request_id=request.pk)

    assert ErasureRequest.objects.get(pk=request.pk).status == Status.CANCELLED


def test_decided_request_cannot_be_confirmed_or_cancelled(
    case, caseworker_a, auditor, admin_user
):
    request = _request(caseworker_a, case)
    services.erasure_cancel(actor=auditor, request_id=request.pk)

    with pytest.raises(ErasureRequestClosed):
        services.erasure_confirm(actor=admin_user, request_id=request.pk)
    with pytest.raises(ErasureRequestClosed):
        services.erasure_cancel(actor=admin_user, request_id=request.pk)


# --- pure rules ---------------------------------------------------------------


def test_transitions_leave_pending_only_once():
    pending = ErasureRequest(status=Status.PENDING)
    confirmed = ErasureRequest(status=Status.CONFIRMED)
    cancelled = ErasureRequest(status=Status.CANCELLED)

    assert pending.can_transition_to(Status.CONFIRMED)
    assert pending.can_transition_to(Status.CANCELLED)
    assert not confirmed.can_transition_to(Status.CANCELLED)
    assert not cancelled.can_transition_to(Status.CONFIRMED)


def test_second_pair_of_eyes_is_anyone_but_the_requester():
    request = ErasureRequest(requested_by_id=7)

    assert request.is_second_pair_of_eyes(8)
    assert not request.is_second_pair_of_eyes(7)
    assert not request.is_second_pair_of_eyes(None)
