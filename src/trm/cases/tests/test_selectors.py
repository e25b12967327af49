"""The readers of cases: scope, search, and an audit entry for every personal read."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from trm.accounts.models import Role
from trm.audit.models import AuditEntry
from trm.audit.services import keyed_digest as digest
from trm.cases import selectors, services
from trm.cases.errors import CaseNotFound
from trm.cases.identity import IdentityDocument
from trm.cases.models import ClosureReason, Person
from trm.cases.tests.factories import open_case, team_member
from trm.common.errors import DomainError
from trm.dataprotection import crypto
from trm.dataprotection.normalise import name_key

pytestmark = pytest.mark.django_db

GIVEN, FAMILY = "Zorvina", "Quellmar-Fictiv"


@pytest.fixture
def case(caseworker_a):
    return open_case(
        caseworker_a,
        given_names=GIVEN,
        family_names=FAMILY,
        aliases=["Zora Fictiv"],
        birth_date=date(1994, 5, 6),
        documents=[IdentityDocument(kind="passport", number="ZZ 480-113")],
    )


def _actions_since(seq: int) -> list[str]:
    return list(AuditEntry.objects.filter(seq__gt=seq).values_list("action", flat=True))


def _last_seq() -> int:
    last = AuditEntry.objects.order_by("-seq").first()
    return last.seq if last else 0


# --- scope -----------------------------------------------------------------------


def test_list_shows_only_visible_cases_newest_first(caseworker_a, caseworker_b):
    first = open_case(caseworker_a)
    open_case(caseworker_b)
    second = open_case(caseworker_a)

    assert list(selectors.case_list_for_user(user=caseworker_a)) == [second, first]


@pytest.mark.parametrize(
    ("status", "expected"),
    [("open", {"open"}), ("closed", {"closed"}), ("all", {"open", "closed"})],
)
def test_list_status_filter(status, expected, caseworker_a):
    cases = {"open": open_case(caseworker_a), "closed": open_case(caseworker_a)}
    services.case_close(
        actor=caseworker_a, case_id=cases["closed"].pk, reason=ClosureReason.OTHER
    )

    listed = set(selectors.case_list_for_user(user=caseworker_a, status=status))

    assert listed == {cases[name] for name in expected}


def test_unseen_and_missing_cases_give_the_same_answer(case, caseworker_b):
    with pytest.raises(CaseNotFound) as unseen:
        selectors.case_get_for_user(user=caseworker_b, case_id=case.pk)
    with pytest.raises(CaseNotFound) as missing:
        selectors.case_get_for_user(user=caseworker_b, case_id=uuid.uuid4())

    assert (unseen.value.code, unseen.value.message) == (
        missing.value.code,
        missing.value.message,
    )
    assert unseen.value.code == "cases.not_found"


@pytest.mark.parametrize(
    "read",
    [
        selectors.person_identity_for_user,
        selectors.case_notes_for_user,
        selectors.case_timeline_for_user,
    ],
)
def test_readers_refuse_a_case_the_user_may_not_see(read, case, caseworker_b):
    before = _last_seq()

    with pytest.raises(CaseNotFound):
        read(user=caseworker_b, case=case)

    assert _last_seq() == before


# --- search ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    [
        "Zorvina Quellmar-Fictiv",
        "QUELLMAR-FICTIV, zorvina",
        "Зорвина Куеллмар-Фиктив",
        "Zora Fictiv",  # an alias
    ],
)
def test_search_by_name_ignores_case_script_and_order(spelling, case, caseworker_a):
    assert list(selectors.case_search(user=caseworker_a, name=spelling)) == [case]


def test_search_by_name_and_birth_year_needs_the_right_year(case, caseworker_a):
    name = f"{GIVEN} {FAMILY}"

    hit = selectors.case_search(user=caseworker_a, name=name, birth_year=1994)
    miss = selectors.case_search(user=caseworker_a, name=name, birth_year=1995)

    assert list(hit) == [case]
    assert list(miss) == []


@pytest.mark.parametrize("number", ["ZZ480113", "zz 480 113", "ΖΖ-480-113"])  # noqa: RUF001
def test_search_by_document_number(number, case, caseworker_a):
    assert list(selectors.case_search(user=caseworker_a, document_number=number)) == [
        case
    ]


def test_search_never_returns_cases_the_user_may_not_see(case, caseworker_b):
    assert (
        list(selectors.case_search(user=caseworker_b, name=f"{GIVEN} {FAMILY}")) == []
    )


def test_search_finds_closed_cases_too(case, caseworker_a):
    services.case_close(
        actor=caseworker_a, case_id=case.pk, reason=ClosureReason.GOALS_MET
    )

    assert list(selectors.case_search(user=caseworker_a, name=GIVEN + " " + FAMILY))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({}, "name"),
        ({"name": " ,. "}, "name"),
        ({"name": GIVEN, "birth_year": 1850}, "birth_year"),
        ({"name": GIVEN, "birth_year": timezone.now().year + 1}, "birth_year"),
    ],
)
def test_search_refuses_an_empty_or_implausible_query(query, field, caseworker_a):
    before = _last_seq()

    with pytest.raises(DomainError) as excinfo:
        selectors.case_search(user=caseworker_a, **query)

    assert excinfo.value.code == "cases.invalid_input"
    assert excinfo.value.details == {"field": field}
    assert _last_seq() == before


# --- every read of personal data is audited ------------------------------------------


def test_reading_the_identity_is_audited(case, caseworker_a):
    before = _last_seq()

    identity = selectors.person_identity_for_user(user=caseworker_a, case=case)

    assert identity is not None
    assert identity.full_name() == f"{GIVEN} {FAMILY}"
    entry = AuditEntry.objects.get(seq__gt=before)
    assert entry.action == "cases.person_read"
    assert (entry.target_type, entry.target_id) == ("cases.person", str(case.person_id))
    assert entry.actor_id == caseworker_a.pk


def test_reading_names_for_a_list_is_one_audit_entry_naming_the_cases(
    case, caseworker_a, caseworker_b
):
    other = open_case(caseworker_a)
    unseen = open_case(caseworker_b)
    before = _last_seq()

    names = selectors.display_names_for_user(
        user=caseworker_a, cases=[case, other, unseen]
    )

    assert set(names) == {case.pk, other.pk}
    assert names[case.pk] == f"{GIVEN} {FAMILY}"
    entry = AuditEntry.objects.get(seq__gt=before)
    assert entry.action == "cases.person_list_read"
    assert entry.data_digest == digest({"cases": sorted([str(case.pk), str(other.pk)])})


def test_reading_no_names_writes_no_audit_entry(case, caseworker_b):
    before = _last_seq()

    assert selectors.display_names_for_user(user=caseworker_b, cases=[case]) == {}

    assert _last_seq() == before


def test_searching_is_audited_with_the_blind_index_not_the_query(case, caseworker_a):
    before = _last_seq()

    list(selectors.case_search(user=caseworker_a, name=f"{FAMILY} {GIVEN}"))

    entry = AuditEntry.objects.get(seq__gt=before)
    assert entry.action == "cases.person_searched"
    index = crypto.blind_index("name", name_key(f"{GIVEN} {FAMILY}"))
    assert entry.data_digest == digest({"kind": "name", "query": index})


def test_reading_notes_is_audited_only_when_there_are_notes(case, caseworker_a):
    before = _last_seq()
    assert selectors.case_notes_for_user(user=caseworker_a, case=case) == []
    assert _last_seq() == before

    services.case_note_add(actor=caseworker_a, case_id=case.pk, text="Fictional")
    after_write = _last_seq()
    selectors.case_notes_for_user(user=caseworker_a, case=case)

    assert _actions_since(after_write) == ["cases.notes_read"]


def test_audit_rows_hold_no_plaintext_after_every_kind_of_read(case, caseworker_a):
    prosecutor = team_member(case, Role.PROSECUTOR)
    services.case_note_add(
        actor=caseworker_a, case_id=case.pk, text=f"Fictional note on {GIVEN}"
    )
    selectors.person_identity_for_user(user=caseworker_a, case=case)
    selectors.display_names_for_user(user=caseworker_a, cases=[case])
    list(selectors.case_search(user=caseworker_a, name=f"{GIVEN} {FAMILY}"))
    list(selectors.case_search(user=caseworker_a, document_number="ZZ480113"))
    selectors.case_notes_for_user(user=prosecutor, case=case)
    selectors.case_notes_for_user(user=caseworker_a, case=case)

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {AuditEntry._meta.db_table}")  # noqa: S608
        rows = cursor.fetchall()

    actions = {row[4] for row in rows}
    assert {
        "cases.person_read",
        "cases.person_list_read",
        "cases.person_searched",
        "cases.notes_read",
    } <= actions
    dump = "\n".join(str(row) for row in rows).casefold()
    needles = [GIVEN, FAMILY, "Quellmar", "480113", "1994-05-06", name_key(GIVEN)]
    for needle in needles:
        assert needle.casefold() not in dump, needle


# --- erased persons ------------------------------------------------------------------


def _erase(case: Any) -> None:
    crypto.destroy_data_key(case.person.data_key_id)
    Person.objects.filter(pk=case.person_id).update(erased_at=timezone.now())
    case.person.refresh_from_db()


def test_identity_of_an_erased_person_is_none_and_still_audited(case, caseworker_a):
    _erase(case)
    before = _last_seq()

    assert selectors.person_identity_for_user(user=caseworker_a, case=case) is None
    assert selectors.display_names_for_user(user=caseworker_a, cases=[case]) == {
        case.pk: ""
    }
    assert _actions_since(before) == ["cases.person_read", "cases.person_list_read"]


def test_identity_whose_key_was_destroyed_reads_as_none(case, caseworker_a):
    crypto.destroy_data_key(case.person.data_key_id)

    assert selectors.person_identity_for_user(user=caseworker_a, case=case) is None
