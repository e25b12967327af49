"""Recording a screening: who may, what is refused (nothing written), what moves."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.utils import timezone

from trm.accounts.models import Role
from trm.accounts.tests.factories import UserFactory
from trm.audit.models import AuditEntry
from trm.audit.services import keyed_digest
from trm.cases import services as cases
from trm.cases.errors import CaseNotFound, PersonErased
from trm.cases.models import Case, CaseEvent, Person
from trm.cases.tests.factories import open_case, set_states, team_member
from trm.cases.tracks import Identification
from trm.dataprotection import crypto
from trm.screening import selectors
from trm.screening.errors import (
    ScreeningCaseClosed,
    ScreeningInvalidInput,
    ScreeningRoleRequired,
)
from trm.screening.instrument import load_instrument
from trm.screening.models import Screening
from trm.screening.services import screening_record

pytestmark = pytest.mark.django_db

EV = "observed"
REFER_ANSWERS = {
    "al.d1.deceived_nature_of_job": {"value": "present", "evidence": EV},
    "al.d1.deceived_wages": {"value": "present", "evidence": "self_reported"},
    "al.d4.excessive_working_hours": {"value": "present", "evidence": EV},
    "al.d4.low_or_no_salary": {"value": "present", "evidence": "documented"},
    "al.d5.debt_bondage": {"value": "present", "evidence": EV},
    "al.d5.confiscation_of_documents": {"value": "present", "evidence": EV},
}
NOTE = "Fictiv note: met at the Quorrin bus station"


def all_absent(list_id: str = "adult_labour") -> dict[str, dict[str, str]]:
    return {
        i.id: {"value": "absent", "evidence": ""}
        for i in load_instrument().get_list(list_id).indicators
    }


def record(actor: Any, case: Case, **kwargs: Any) -> Screening:
    kwargs.setdefault("exploitation", ["labour"])
    kwargs.setdefault("responses", REFER_ANSWERS)
    return screening_record(actor=actor, case_id=case.pk, **kwargs)


def nothing_written(case: Case) -> None:
    case.refresh_from_db()
    assert not Screening.objects.filter(case=case).exists()
    assert case.identification == Identification.SIGNAL_RECEIVED
    assert not CaseEvent.objects.filter(
        case=case, kind__in=["sop1.screening_recorded", "case.track_moved"]
    ).exists()
    assert not AuditEntry.objects.filter(action="screening.recorded").exists()


@pytest.fixture
def fcp(org_a):
    return UserFactory(
        username="fcp-a", organisation=org_a, roles=[Role.FIRST_CONTACT_POINT]
    )


@pytest.fixture
def case(fcp):
    return open_case(fcp)


# --- recording ----------------------------------------------------------------


def test_first_contact_point_records_a_referral_screening(fcp, case):
    screening = record(fcp, case, note=NOTE)
    assert screening.result == "refer"
    assert screening.rule_result == "indicative_positive"
    assert screening.list_ids == ["adult_labour"]
    assert screening.exploitation == ["labour"]
    assert not screening.child_lists
    assert screening.assessor == fcp
    assert screening.instrument == "ILO-EC-2009"
    assert screening.instrument_version == "2009-09 (revised)"
    d4 = screening.dimension_summary["lists"]["adult_labour"]["dimensions"]["D4"]
    assert d4["present"] is True
    assert d4["counts"] == {"S": 1, "M": 1, "W": 0}


def test_screening_moves_identification_to_screening(fcp, case):
    record(fcp, case)
    case.refresh_from_db()
    assert case.identification == Identification.SCREENING
    move = CaseEvent.objects.get(case=case, kind="case.track_moved")
    assert (move.track, move.from_state, move.to_state) == (
        "identification",
        "signal_received",
        "screening",
    )


@pytest.mark.parametrize(
    ("responses", "expected"),
    [
        (REFER_ANSWERS, "refer"),
        ({}, "continue_assessment"),
        (all_absent(), "no_indication"),
    ],
    ids=["refer", "continue", "no_indication"],
)
def test_no_result_moves_identification_beyond_screening(
    fcp, case, responses, expected
):
    """SOPS §6.5 rule 10: presumed / identified are decisions, never a score."""
    screening = record(fcp, case, responses=responses)
    assert screening.result == expected
    case.refresh_from_db()
    assert case.identification == Identification.SCREENING
    again = record(fcp, case, responses=REFER_ANSWERS)
    case.refresh_from_db()
    assert again.result == "refer"
    assert case.identification == Identification.SCREENING


def test_re_screening_after_no_indication_reopens_screening(fcp, case):
    set_states(case, identification=Identification.NO_INDICATION)
    record(fcp, case)
    case.refresh_from_db()
    assert case.identification == Identification.SCREENING


@pytest.mark.parametrize("state", [Identification.PRESUMED, Identification.IDENTIFIED])
def test_screening_a_presumed_or_identified_person_moves_nothing(fcp, case, state):
    set_states(case, identification=state)
    record(fcp, case, responses=all_absent())
    case.refresh_from_db()
    assert case.identification == state
    assert not CaseEvent.objects.filter(case=case, kind="case.track_moved").exists()


def test_event_carries_the_result_code(fcp, case):
    record(fcp, case, responses={})
    event = CaseEvent.objects.get(case=case, kind="sop1.screening_recorded")
    assert event.code == "continue_assessment"
    assert event.actor == fcp
    assert not event.sealed_detail


def test_audit_entry_holds_ids_lists_and_result_only(fcp, case):
    screening = record(fcp, case, note=NOTE)
    entry = AuditEntry.objects.get(action="screening.recorded")
    assert entry.target_type == "screening.screening"
    assert entry.target_id == str(screening.pk)
    assert entry.actor_id == fcp.pk
    assert entry.data_digest == keyed_digest(
        {
            "case": str(case.pk),
            "lists": ["adult_labour"],
            "result": "refer",
            "rule_result": "indicative_positive",
        }
    )


def test_answers_and_note_are_sealed_at_rest(fcp, case):
    screening = record(fcp, case, note=NOTE)
    raw = bytes(Screening.objects.get(pk=screening.pk).sealed_responses or b"")
    instrument = load_instrument()
    titles = [i.title for i in instrument.get_list("adult_labour").indicators]
    for needle in [*titles, *REFER_ANSWERS, "self_reported", "present", "Quorrin"]:
        assert needle.encode() not in raw, needle
    opened = json.loads(
        crypto.unseal_for(
            case.person.data_key_id, raw, context=screening.responses_context()
        )
    )
    assert opened["note"] == NOTE
    assert opened["responses"]["al.d1.deceived_wages"] == {
        "value": "present",
        "evidence": "self_reported",
    }


def test_presumed_child_is_screened_on_the_child_lists(fcp):
    child_case = open_case(fcp, may_be_child=True)
    screening = record(
        fcp,
        child_case,
        exploitation=["labour", "sexual"],
        responses={
            "cl.d4.excessive_working_hours": {"value": "present", "evidence": EV},
            "cl.d4.hazardous_work": {"value": "present", "evidence": EV},
        },
        facts={"recruitment_act": "present"},
    )
    assert screening.child_lists
    assert screening.list_ids == ["child_labour", "child_sexual"]
    assert screening.result == "refer"


def test_adult_answers_are_refused_for_a_child(fcp):
    child_case = open_case(fcp, may_be_child=True)
    with pytest.raises(ScreeningInvalidInput) as info:
        record(fcp, child_case)
    assert info.value.details["field"] == "responses"
    assert "al.d1.deceived_wages" in info.value.details["ids"]
    assert not Screening.objects.exists()


def test_any_case_role_that_screens_may(case):
    for role in (Role.CASE_MANAGER, Role.SERVICE_PROVIDER, Role.COMPETENT_AUTHORITY):
        member = team_member(case, role)
        assert record(member, case, responses={}).assessor == member


def test_detail_decrypts_answers_and_audits_the_read(fcp, case):
    screening = record(fcp, case, note=NOTE)
    detail = selectors.screening_detail_for_user(
        user=fcp, case=case, screening_id=screening.pk
    )
    assert detail.note == NOTE
    assert detail.responses is not None
    assert detail.responses["al.d5.debt_bondage"]["value"] == "present"
    assert AuditEntry.objects.filter(
        action="screening.read", target_id=str(screening.pk)
    ).exists()


def test_detail_withholds_the_answers_from_a_legal_track_only_role(fcp, case):
    screening = record(fcp, case, note=NOTE)
    prosecutor = team_member(case, Role.PROSECUTOR)
    detail = selectors.screening_detail_for_user(
        user=prosecutor, case=case, screening_id=screening.pk
    )
    assert detail.withheld is True
    assert detail.responses is None
    assert detail.facts == {}
    assert detail.note is None
    assert detail.screening.result == screening.result
    # Nothing personal was decrypted, so no read of it is audited; the result
    # was read, as in the list.
    assert not AuditEntry.objects.filter(action="screening.read").exists()
    assert AuditEntry.objects.filter(
        action="screening.list_read", actor_id=prosecutor.pk
    ).exists()


# --- refusals: nothing written ------------------------------------------------


@pytest.mark.parametrize(
    "role", [Role.PROSECUTOR, Role.GUARDIAN, Role.NATIONAL_CONTACT_POINT]
)
def test_roles_that_do_not_screen_are_refused(case, role):
    member = team_member(case, role)
    with pytest.raises(ScreeningRoleRequired):
        record(member, case)
    nothing_written(case)


def test_user_outside_the_case_gets_not_found(case, caseworker_b):
    with pytest.raises(CaseNotFound):
        record(caseworker_b, case)
    nothing_written(case)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"exploitation": []}, "exploitation"),
        ({"exploitation": ["organ_removal"]}, "exploitation"),
        ({"exploitation": "labour"}, "exploitation"),
        ({"responses": {"al.d1.made_up": {"value": "absent"}}}, "responses"),
        ({"responses": {"al.d1.deceived_wages": {"value": "present"}}}, "responses"),
        (
            {"responses": {"al.d1.deceived_wages": {"value": "yes", "evidence": EV}}},
            "responses",
        ),
        (
            {
                "responses": {
                    "al.d1.deceived_wages": {"value": "present", "evidence": "gossip"}
                }
            },
            "responses",
        ),
        ({"facts": {"recruitment_act": "present"}}, "facts"),
        ({"note": "x" * 5001}, "note"),
    ],
)
def test_invalid_input_is_refused_and_nothing_written(fcp, case, kwargs, field):
    with pytest.raises(ScreeningInvalidInput) as info:
        record(fcp, case, **kwargs)
    assert info.value.details["field"] == field
    assert info.value.code == "screening.invalid_input"
    nothing_written(case)


def test_unknown_ids_are_all_named(fcp, case):
    responses = {
        **REFER_ANSWERS,
        "al.d1.made_up": {"value": "absent", "evidence": ""},
        "zz.d9.other": {"value": "absent", "evidence": ""},
    }
    with pytest.raises(ScreeningInvalidInput) as info:
        record(fcp, case, responses=responses)
    assert info.value.details["ids"] == ["al.d1.made_up", "zz.d9.other"]
    assert "al.d1.made_up" in info.value.message


def test_invalid_answers_are_named_by_title_and_listed_by_id_in_details(fcp, case):
    responses = {
        **REFER_ANSWERS,
        "al.d1.deceived_wages": {"value": "present", "evidence": ""},
    }
    with pytest.raises(ScreeningInvalidInput) as info:
        record(fcp, case, responses=responses)
    assert "“Deceived about wages or earnings” (D1)" in info.value.message
    assert "al.d1.deceived_wages" not in info.value.message
    assert info.value.details == {"field": "responses", "ids": ["al.d1.deceived_wages"]}
    assert info.value.reasons["al.d1.deceived_wages"].startswith(
        "Say how a present indicator was learned"
    )
    nothing_written(case)


def test_erased_person_is_refused(fcp, case):
    Person.objects.filter(pk=case.person_id).update(erased_at=timezone.now())
    with pytest.raises(PersonErased):
        record(fcp, case)
    nothing_written(case)


def test_closed_case_is_refused(fcp, case, caseworker_a):
    cases.case_team_add(
        actor=fcp, case_id=case.pk, user_id=caseworker_a.pk, role=Role.CASE_MANAGER
    )
    cases.case_close(actor=caseworker_a, case_id=case.pk, reason="goals_met")
    with pytest.raises(ScreeningCaseClosed):
        record(fcp, case)
    nothing_written(case)


# --- reading ------------------------------------------------------------------


def test_list_is_newest_first_and_audited(fcp, case):
    first = record(fcp, case, responses={})
    second = record(fcp, case)
    assert selectors.screenings_for_user(user=fcp, case=case) == [second, first]
    assert selectors.screenings_for_user(user=fcp, case=case, limit=1) == [second]
    assert AuditEntry.objects.filter(action="screening.list_read").count() == 2


def test_readers_outside_the_case_get_not_found(fcp, case, caseworker_b):
    screening = record(fcp, case)
    with pytest.raises(CaseNotFound):
        selectors.screenings_for_user(user=caseworker_b, case=case)
    with pytest.raises(CaseNotFound):
        selectors.screening_detail_for_user(
            user=caseworker_b, case=case, screening_id=screening.pk
        )


def test_screening_of_another_case_is_not_found(fcp, case):
    from trm.screening.errors import ScreeningNotFound

    other = open_case(fcp)
    screening = record(fcp, other)
    with pytest.raises(ScreeningNotFound):
        selectors.screening_detail_for_user(
            user=fcp, case=case, screening_id=screening.pk
        )


def test_answers_are_unreadable_after_erasure(fcp, case):
    screening = record(fcp, case, note=NOTE)
    crypto.destroy_data_key(case.person.data_key_id)
    Person.objects.filter(pk=case.person_id).update(erased_at=timezone.now())
    case.refresh_from_db()
    detail = selectors.screening_detail_for_user(
        user=fcp, case=case, screening_id=screening.pk
    )
    assert detail.responses is None
    assert detail.note is None
    # The non-personal result stays for statistics.
    assert detail.screening.result == "refer"


def test_lists_for_case_follow_the_person(fcp, case):
    adult = selectors.lists_for_case(user=fcp, case=case)
    assert [e.id for e in adult.lists] == ["adult_labour", "adult_sexual"]
    child_case = open_case(fcp, may_be_child=True)
    child = selectors.lists_for_case(user=fcp, case=child_case, exploitation=["labour"])
    assert child.child
    assert [e.id for e in child.lists] == ["child_labour"]
