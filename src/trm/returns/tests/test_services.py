"""The return record's services and the journey: each move too early first."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from trm.accounts.models import Role
from trm.audit.models import AuditEntry
from trm.cases.models import CaseEvent
from trm.cases.services import case_move
from trm.cases.tests.factories import open_case, set_states, team_member
from trm.cases.tracks import Assistance, ChildProtection, Identification, Legal
from trm.common.errors import DomainError
from trm.dataprotection import crypto
from trm.returns import services
from trm.returns.models import JointRiskAssessment, ReturnPlan

from .helpers import (
    ALL_LOW,
    ORIGIN_ORG,
    arrival_in,
    preparing_case,
    ready_case,
    record_acceptance,
    record_bid,
    record_child_security,
    record_documents,
    record_family_report,
    record_joint,
    return_consent,
    snapshot,
)

pytestmark = pytest.mark.django_db


def _refused(code: str, call: Callable[[], object]) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call()
    assert caught.value.code == code, caught.value.message
    return caught.value


def _blockers(ncp, case) -> list[str]:
    before = snapshot(case)
    error = _refused(
        "returns.blocked",
        lambda: services.return_in_transit(actor=ncp, case_id=case.pk),
    )
    assert snapshot(case) == before
    codes = [b["code"] for b in error.details["blockers"]]
    # The message names every blocker, not only the first.
    for blocker in error.details["blockers"]:
        assert blocker["message"] in error.message
    return codes


# --- the journey, step by step ---------------------------------------------------


def test_an_adults_journey_is_refused_until_every_condition_holds(caseworker_a):
    case, ncp = preparing_case(caseworker_a)
    assert _blockers(ncp, case) == [
        "return_consent",
        "joint_risk_missing",
        "receiver_not_accepted",
        "travel_document_missing",
    ]
    return_consent(caseworker_a, case)
    assert "return_consent" not in _blockers(ncp, case)
    joint = record_joint(caseworker_a, case, origin_ratings=None)
    assert _blockers(ncp, case)[0] == "joint_risk_origin_missing"
    services.joint_risk_origin_record(
        actor=caseworker_a,
        case_id=case.pk,
        assessment_id=joint.pk,
        ratings=ALL_LOW,
        origin_organisation=ORIGIN_ORG,
        rated_on=timezone.localdate(),
    )
    assert _blockers(ncp, case) == ["receiver_not_accepted", "travel_document_missing"]
    record_acceptance(caseworker_a, case)
    assert _blockers(ncp, case) == ["travel_document_missing"]
    record_documents(caseworker_a, case)
    services.return_in_transit(
        actor=ncp, case_id=case.pk, expected_arrival_at=arrival_in()
    )
    case.refresh_from_db()
    assert case.assistance == Assistance.IN_TRANSIT
    move = CaseEvent.objects.get(
        case=case, kind="case.track_moved", to_state="in_transit"
    )
    assert move.code == "guards_met"


def test_a_childs_journey_is_refused_until_every_condition_holds(caseworker_a):
    case, ncp = preparing_case(caseworker_a, child=True)
    set_states(case, child_protection=ChildProtection.GUARDIAN_REQUESTED)
    codes = _blockers(ncp, case)
    assert codes[-6:] == [
        "guardian_not_appointed",
        "bid_missing",
        "family_assessment_missing",
        "carer_not_confirmed",
        "escort_not_assigned",
        "child_security_missing",
    ]
    # No determination without the guardian (region E).
    _refused("cases.transition_not_allowed", lambda: record_bid(caseworker_a, case))
    set_states(case, child_protection=ChildProtection.GUARDIAN_APPOINTED)
    return_consent(caseworker_a, case)
    record_joint(caseworker_a, case)
    record_documents(caseworker_a, case)
    record_acceptance(caseworker_a, case, carer_kind="", carer_confirmed_on=None)
    record_bid(caseworker_a, case, outcome="local_integration")
    assert _blockers(ncp, case) == [
        "bid_not_return",
        "family_assessment_missing",
        "carer_not_confirmed",
        "escort_not_assigned",
        "child_security_missing",
    ]
    record_family_report(caseworker_a, case)
    record_bid(caseworker_a, case)  # a new determination: the newest counts
    record_acceptance(caseworker_a, case)
    record_documents(caseworker_a, case, escort_function="Social worker")
    record_child_security(caseworker_a, case, level="high")
    assert _blockers(ncp, case) == ["child_security_not_positive"]
    record_child_security(caseworker_a, case, level="low")
    services.return_in_transit(
        actor=ncp, case_id=case.pk, expected_arrival_at=arrival_in()
    )
    case.refresh_from_db()
    assert case.assistance == Assistance.IN_TRANSIT


def test_a_reflection_period_or_pending_identification_blocks_the_journey(
    caseworker_a,
):
    case, ncp = ready_case(caseworker_a)
    set_states(case, identification=Identification.PRESUMED)
    assert _blockers(ncp, case) == ["removal_blocked"]
    set_states(case, identification=Identification.IDENTIFIED)
    CaseEvent.objects.create(
        case=case, kind="sop1.reflection_started", at=timezone.now()
    )
    assert _blockers(ncp, case) == ["removal_blocked"]


def test_an_expired_joint_assessment_blocks_the_journey(caseworker_a, time_machine):
    case, ncp = ready_case(caseworker_a)
    time_machine.move_to(timezone.now() + timedelta(days=15))
    assert "joint_risk_expired" in _blockers(ncp, case)


def test_a_high_risk_needs_mitigations(caseworker_a):
    case, ncp = ready_case(caseworker_a)
    record_joint(caseworker_a, case, overall_level="high")
    assert _blockers(ncp, case) == ["joint_risk_high_unmitigated"]
    record_joint(
        caseworker_a, case, overall_level="high", mitigations="Fictional safe house"
    )
    services.return_in_transit(
        actor=ncp, case_id=case.pk, expected_arrival_at=arrival_in()
    )


def test_only_the_national_contact_point_starts_the_journey(caseworker_a):
    case, _ = ready_case(caseworker_a)
    before = snapshot(case)
    _refused(
        "cases.role_required",
        lambda: services.return_in_transit(actor=caseworker_a, case_id=case.pk),
    )
    assert snapshot(case) == before


def test_the_generic_move_cannot_put_a_case_in_transit(caseworker_a):
    case, ncp = ready_case(caseworker_a)
    _refused(
        "cases.transition_not_allowed",
        lambda: case_move(
            actor=ncp, case_id=case.pk, track="assistance", target="in_transit"
        ),
    )


@pytest.mark.parametrize("child", [False, True])
def test_rule_1_the_journey_does_not_depend_on_the_legal_track(caseworker_a, child):
    """SOPS §6.5 rule 1, both ways: the same refusal (or the move) whatever
    the legal track's state, with the conditions missing and met."""
    bare, ncp_bare = preparing_case(caseworker_a, child=child)
    ready, ncp_ready = ready_case(caseworker_a, child=child)
    baseline = _blockers(ncp_bare, bare)
    assert baseline
    for legal in Legal.values:
        set_states(bare, legal=legal)
        assert _blockers(ncp_bare, bare) == baseline, legal
    for legal in Legal.values:
        set_states(ready, legal=legal, assistance=Assistance.RETURN_PREPARATION)
        services.return_in_transit(
            actor=ncp_ready, case_id=ready.pk, expected_arrival_at=arrival_in()
        )
        ready.refresh_from_db()
        assert ready.assistance == Assistance.IN_TRANSIT, legal


# --- bad input: refused with the reason, nothing changed -----------------------------


def test_a_bid_is_for_a_child_only(caseworker_a):
    case, _ = preparing_case(caseworker_a)
    before = snapshot(case)
    error = _refused("cases.invalid_input", lambda: record_bid(caseworker_a, case))
    assert "child" in error.message
    assert snapshot(case) == before


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"panel": ["child_protection_authority", "social_services"]}, "panel"),
        ({"panel": ["guardian"]}, "panel"),
        ({"panel": ["guardian", "astrologer"]}, "panel"),
        ({"outcome": "return"}, "outcome"),
        ({"guardian_opinion": ""}, "guardian_opinion"),
        ({"child_views": "  "}, "child_views"),
        ({"determined_on": None}, "determined_on"),
    ],
)
def test_a_bad_bid_is_refused_and_nothing_changes(caseworker_a, overrides, field):
    case, _ = preparing_case(caseworker_a, child=True)
    before = snapshot(case)
    error = _refused(
        "cases.invalid_input", lambda: record_bid(caseworker_a, case, **overrides)
    )
    assert error.details["field"] == field
    assert snapshot(case) == before


def test_a_future_bid_date_is_refused(caseworker_a):
    case, _ = preparing_case(caseworker_a, child=True)
    tomorrow = timezone.localdate() + timedelta(days=1)
    _refused(
        "cases.invalid_input",
        lambda: record_bid(caseworker_a, case, determined_on=tomorrow),
    )


def test_the_bid_seals_the_childs_views_and_writes_its_event(caseworker_a):
    case, _ = preparing_case(caseworker_a, child=True)
    bid = record_bid(caseworker_a, case, guardian_note="Fictional note")
    raw = bytes(bid.sealed_text)
    assert b"grandmother" not in raw
    text = json.loads(
        crypto.unseal_for(case.person.data_key_id, raw, context=bid.text_context())
    )
    assert text["child_views"].endswith("grandmother")
    assert text["guardian_note"] == "Fictional note"
    event = CaseEvent.objects.get(case=case, kind="sop4.best_interests_determined")
    assert event.code == "return_to_family"
    assert AuditEntry.objects.filter(action="returns.bid_recorded").count() == 1


def test_a_joint_assessment_must_rate_every_item(caseworker_a):
    case, _ = preparing_case(caseworker_a)
    partial = {k: v for k, v in ALL_LOW.items() if k != "stigma"}
    before = snapshot(case)
    error = _refused(
        "cases.invalid_input", lambda: record_joint(caseworker_a, case, ratings=partial)
    )
    assert error.details["missing"] == ["stigma"]
    _refused(
        "cases.invalid_input",
        lambda: record_joint(caseworker_a, case, ratings={**ALL_LOW, "stigma": "dire"}),
    )
    _refused(
        "cases.invalid_input",
        lambda: record_joint(caseworker_a, case, ratings={**ALL_LOW, "weather": "low"}),
    )
    assert snapshot(case) == before


@pytest.mark.parametrize(
    ("days_valid", "days_ago"), [(-1, 0), (91, 0), (5, -1)], ids=["past", "long", "fut"]
)
def test_a_joint_assessments_dates_are_checked(caseworker_a, days_valid, days_ago):
    case, _ = preparing_case(caseworker_a)
    today = timezone.localdate()
    before = snapshot(case)
    _refused(
        "cases.invalid_input",
        lambda: record_joint(
            caseworker_a,
            case,
            assessed_on=today - timedelta(days=days_ago),
            valid_until=today + timedelta(days=days_valid),
        ),
    )
    assert snapshot(case) == before


def test_the_joint_assessment_is_recorded_in_return_preparation_only(caseworker_a):
    case = open_case(caseworker_a)
    _refused("cases.transition_not_allowed", lambda: record_joint(caseworker_a, case))
    _refused(
        "cases.transition_not_allowed", lambda: record_documents(caseworker_a, case)
    )
    _refused(
        "cases.transition_not_allowed", lambda: record_acceptance(caseworker_a, case)
    )


def test_origin_ratings_complete_the_matrix_and_write_the_event(caseworker_a):
    case, _ = preparing_case(caseworker_a)
    joint = record_joint(caseworker_a, case, origin_ratings=None)
    assert not CaseEvent.objects.filter(case=case, kind="sop4.joint_risk_assessed")
    _refused(
        "cases.invalid_input",
        lambda: services.joint_risk_origin_record(
            actor=caseworker_a,
            case_id=case.pk,
            assessment_id=joint.pk,
            ratings=ALL_LOW,
            origin_organisation=" ",
            rated_on=timezone.localdate(),
        ),
    )
    services.joint_risk_origin_record(
        actor=caseworker_a,
        case_id=case.pk,
        assessment_id=joint.pk,
        ratings={**ALL_LOW, "traffickers": "high"},
        origin_organisation=ORIGIN_ORG,
        rated_on=timezone.localdate(),
    )
    joint.refresh_from_db()
    assert joint.origin_missing() == []
    assert joint.ratings["traffickers"] == {"destination": "low", "origin": "high"}
    assert joint.effective_level() == "high"
    event = CaseEvent.objects.get(case=case, kind="sop4.joint_risk_assessed")
    assert event.code == "high"


def test_origin_ratings_go_to_the_newest_assessment_only(caseworker_a):
    case, _ = preparing_case(caseworker_a)
    old = record_joint(caseworker_a, case, origin_ratings=None)
    record_joint(caseworker_a, case, origin_ratings=None)
    _refused(
        "cases.transition_not_allowed",
        lambda: services.joint_risk_origin_record(
            actor=caseworker_a,
            case_id=case.pk,
            assessment_id=old.pk,
            ratings=ALL_LOW,
            origin_organisation=ORIGIN_ORG,
            rated_on=timezone.localdate(),
        ),
    )
    other, _ = preparing_case(caseworker_a)
    _refused(
        "returns.not_found",
        lambda: services.joint_risk_origin_record(
            actor=caseworker_a,
            case_id=other.pk,
            assessment_id=old.pk,
            ratings=ALL_LOW,
            origin_organisation=ORIGIN_ORG,
            rated_on=timezone.localdate(),
        ),
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {
            "travel_document_issued_on": timezone.localdate(),
            "travel_document_requested_on": None,
        },
        {"travel_document_requested_on": timezone.localdate() + timedelta(days=1)},
        {"travel_document_valid_until": timezone.localdate() - timedelta(days=3)},
        {"departure_on": timezone.localdate() - timedelta(days=1)},
        {"medical_fitness": "fit", "medical_fitness_on": None},
        {"medical_fitness": "maybe"},
        {"escort_function": "Escort\nwith a line break"},
    ],
)
def test_bad_logistics_are_refused_and_nothing_changes(caseworker_a, overrides):
    case, _ = preparing_case(caseworker_a)
    before = snapshot(case)
    with pytest.raises(DomainError):
        record_documents(caseworker_a, case, **overrides)
    assert snapshot(case) == before
    assert not ReturnPlan.objects.filter(case=case).exists()


def test_logistics_seal_the_itinerary_and_note_documents_ready_once(caseworker_a):
    case, _ = preparing_case(caseworker_a)
    plan = record_documents(caseworker_a, case)
    record_documents(caseworker_a, case, departure_on=None)
    assert plan.sealed_text is not None
    assert b"Fictiv" not in bytes(plan.sealed_text)
    assert (
        CaseEvent.objects.filter(case=case, kind="sop4.travel_documents_ready").count()
        == 1
    )


def test_a_carer_is_confirmed_for_a_child_with_an_acceptance(caseworker_a):
    adult, _ = preparing_case(caseworker_a)
    _refused(
        "cases.invalid_input",
        lambda: record_acceptance(
            caseworker_a,
            adult,
            carer_kind="parent",
            carer_confirmed_on=timezone.localdate(),
        ),
    )
    child, _ = preparing_case(caseworker_a, child=True)
    _refused(
        "cases.invalid_input",
        lambda: record_acceptance(caseworker_a, child, decision="declined"),
    )
    _refused(
        "cases.invalid_input",
        lambda: record_acceptance(caseworker_a, child, carer_confirmed_on=None),
    )
    plan = record_acceptance(caseworker_a, child)
    assert plan.carer_confirmed and plan.receiver_accepted
    assert plan.receiver_source == "recorded"


def test_a_message_handler_can_apply_the_receivers_answer_without_a_user(
    caseworker_a,
):
    case, _ = preparing_case(caseworker_a)
    plan = services.apply_receiver_decision(
        actor=None,
        case=case,
        decision="accepted",
        organisation=ORIGIN_ORG,
        decided_on=timezone.localdate(),
        source="message",
    )
    assert plan.receiver_source == "message"
    event = CaseEvent.objects.get(case=case, kind="sop4.receiver_confirmed")
    assert event.code == "message"


def test_a_prosecutor_cannot_write_the_return_record(caseworker_a):
    case, _ = preparing_case(caseworker_a, child=True)
    prosecutor = team_member(case, Role.PROSECUTOR)
    before = snapshot(case)
    _refused("cases.role_required", lambda: record_bid(prosecutor, case))
    _refused("cases.role_required", lambda: record_joint(prosecutor, case))
    assert snapshot(case) == before


def test_a_new_joint_assessment_replaces_the_previous_one(caseworker_a):
    case, _ = preparing_case(caseworker_a)
    record_joint(caseworker_a, case, overall_level="medium")
    record_joint(caseworker_a, case, overall_level="low")
    newest = JointRiskAssessment.objects.filter(case=case).first()
    assert newest is not None
    assert newest.overall_level == "low"
