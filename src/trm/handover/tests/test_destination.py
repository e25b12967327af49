"""Destination node: the journey announces the handover; the origin's answer
hands the case over (or raises the alert). Each refusal leaves nothing changed."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from trm.accounts.models import Role
from trm.cases.messages import SAFETY_ALERT
from trm.cases.models import CaseEvent
from trm.cases.services import case_move
from trm.cases.tests.exchange_fakes import apply, inbound, make_peer, payload_of
from trm.cases.tracks import Assistance
from trm.common.errors import DomainError
from trm.consent import services as consent
from trm.exchange import registry
from trm.exchange.models import OutboxMessage
from trm.handover import messages, services
from trm.handover.models import HandoverStatus, ReturnHandover, Side
from trm.handover.schemas import (
    RETURN_HANDOVER,
    RETURN_HANDOVER_ARRIVAL,
    ReturnHandoverV1,
)
from trm.returns import services as returns
from trm.returns.tests.helpers import preparing_case, ready_case

from .helpers import in_hours, journey, sender_org, snapshot

pytestmark = pytest.mark.django_db


def _refused(code: str, call: Any) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call()
    assert caught.value.code == code, caught.value.message
    return caught.value


# --- announcing -------------------------------------------------------------------


def test_the_journey_announces_the_handover_with_codes_and_times_only(caseworker_a):
    case, _ncp, row = journey(caseworker_a)
    assert case.assistance == Assistance.IN_TRANSIT
    [message] = OutboxMessage.objects.filter(type=RETURN_HANDOVER)
    assert message.peer.node_id == "peer-ro" == row.peer_node
    assert message.conversation == case.trm_case_ref
    assert message.legal_basis == "pseudonymous" and message.categories == []
    body = payload_of(message)
    assert set(body) == set(ReturnHandoverV1.model_fields)
    assert body["handover_ref"] == str(row.handover_ref)
    assert body["arrival_point"] == "" and body["itinerary"] == ""
    # From the return plan: the meeting person's function.
    assert body["meeting_person_function"] == "Social worker"
    assert row.status == HandoverStatus.ANNOUNCED and row.side == Side.DESTINATION
    # The texts stay sealed here (taken from the plan).
    assert row.sealed_text and b"Fictiv bus station" not in bytes(row.sealed_text)
    assert case.events.filter(kind="handover.announced", code="codes_only").exists()


def test_with_a_transfer_consent_the_arrival_point_travels(caseworker_a):
    case, ncp = ready_case(caseworker_a)
    given = consent.consent_record(
        actor=caseworker_a,
        case_id=case.pk,
        purpose="cross_border_transfer",
        categories=["case_summary"],
        given_by="person",
        language="ro",
        recipient_country="RO",
        declaration="Fictional declaration",
    )
    returns.return_in_transit(
        actor=ncp,
        case_id=case.pk,
        expected_arrival_at=in_hours(6),
        arrival_point="Fictiv central station, platform 2",
        legal_basis=f"consent:{given.pk}",
    )
    [message] = OutboxMessage.objects.filter(type=RETURN_HANDOVER)
    assert message.categories == ["case_summary"]
    body = payload_of(message)
    assert body["arrival_point"] == "Fictiv central station, platform 2"
    assert body["itinerary"] == "Fictional coach route via Fictiv"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, None),
        ("past", "past"),
        ("naive", "naive"),
    ],
)
def test_the_journey_needs_an_expected_arrival_in_the_future(
    caseworker_a, value, reason
):
    case, ncp = ready_case(caseworker_a)
    expected = {
        None: None,
        "past": timezone.now() - timedelta(minutes=1),
        "naive": (timezone.now() + timedelta(hours=3)).replace(tzinfo=None),
    }[value]
    before = snapshot(case)
    error = _refused(
        "cases.invalid_input",
        lambda: returns.return_in_transit(
            actor=ncp, case_id=case.pk, expected_arrival_at=expected
        ),
    )
    assert error.details["field"] == "expected_arrival_at"
    assert error.details.get("reason") == reason
    assert snapshot(case) == before


def test_a_departure_after_the_arrival_is_refused(caseworker_a):
    case, ncp = ready_case(caseworker_a)
    before = snapshot(case)
    error = _refused(
        "cases.invalid_input",
        lambda: returns.return_in_transit(
            actor=ncp,
            case_id=case.pk,
            expected_arrival_at=in_hours(2),
            departure_at=in_hours(3),
        ),
    )
    assert error.details["field"] == "departure_at"
    assert snapshot(case) == before


def test_a_return_without_a_linked_origin_node_is_refused(caseworker_a):
    case, ncp = ready_case(caseworker_a)
    # Another node of a different country also shares the case: none chosen.
    make_peer("peer-md", "MD")
    OutboxMessage.objects.filter(case_id=case.pk).update(conversation="")
    from trm.exchange.models import Conversation

    Conversation.objects.filter(reference=case.trm_case_ref).delete()
    before = snapshot(case)
    error = _refused(
        "handover.no_origin_node",
        lambda: returns.return_in_transit(
            actor=ncp, case_id=case.pk, expected_arrival_at=in_hours(6)
        ),
    )
    assert error.details["reason"] == "no_linked_peer"
    assert snapshot(case) == before


def test_a_non_pseudonymous_basis_other_than_consent_is_refused(caseworker_a):
    case, ncp = ready_case(caseworker_a)
    error = _refused(
        "cases.invalid_input",
        lambda: returns.return_in_transit(
            actor=ncp,
            case_id=case.pk,
            expected_arrival_at=in_hours(6),
            legal_basis="vital_interest",
        ),
    )
    assert error.details["field"] == "legal_basis"


# --- the origin's answer --------------------------------------------------------------


def _arrival(case, row, *, arrived: bool = True, sender: str = "peer-ro", **kw):
    payload = {
        "trm_case_ref": case.trm_case_ref,
        "handover_ref": str(row.handover_ref),
        "arrived": arrived,
        "at": timezone.now().isoformat(),
        "sending_organisation": sender_org("RO"),
    }
    payload.update(kw)
    return inbound(
        RETURN_HANDOVER_ARRIVAL,
        payload,
        sender=sender,
        conversation=case.trm_case_ref,
        seq=2,
    )


def test_a_confirmed_arrival_hands_the_case_over_and_moves_the_lead(caseworker_a):
    case, _ncp, row = journey(caseworker_a)
    apply(_arrival(case, row))
    case.refresh_from_db()
    row.refresh_from_db()
    assert case.assistance == Assistance.FOLLOW_UP
    moves = list(
        CaseEvent.objects.filter(case=case, kind="case.track_moved", track="assistance")
        .order_by("at", "pk")
        .values_list("to_state", "code")
    )
    assert moves[-2:] == [
        ("handed_over", "arrival_confirmed"),
        ("follow_up", "lead_moved_to_origin"),
    ]
    assert row.status == HandoverStatus.ARRIVED and row.lead_side == Side.ORIGIN
    assert row.arrival_confirmed_at is not None and row.lead_moved_at is not None
    assert case.events.filter(kind="handover.lead_moved").exists()
    assert not OutboxMessage.objects.filter(type=SAFETY_ALERT).exists()


def test_a_reported_non_arrival_is_a_transit_incident_and_a_safety_alert(
    caseworker_a,
):
    case, _ncp, row = journey(caseworker_a)
    apply(_arrival(case, row, arrived=False))
    case.refresh_from_db()
    row.refresh_from_db()
    assert case.assistance == Assistance.TRANSIT_INCIDENT
    assert row.status == HandoverStatus.NOT_ARRIVED and row.alert_raised_at
    [alert] = OutboxMessage.objects.filter(type=SAFETY_ALERT)
    assert alert.legal_basis == "vital_interest" and alert.peer.node_id == "peer-ro"
    body = payload_of(alert)
    assert body["nature"] == "missed_handover"
    assert case.events.filter(
        kind="case.safety_alert_sent", code="missed_handover"
    ).exists()
    # The job does not raise it a second time.
    assert services.raise_missed_handover_alerts(now=in_hours(72)) == 0


@pytest.mark.parametrize("wrong", ["unknown_ref", "other_peer", "other_case_ref"])
def test_an_arrival_for_a_handover_not_sent_to_that_peer_is_refused(
    caseworker_a, wrong
):
    case, _ncp, row = journey(caseworker_a)
    make_peer("peer-md", "MD")
    other, _ = preparing_case(caseworker_a)
    before = snapshot(case)
    if wrong == "unknown_ref":
        message = _arrival(case, row, handover_ref=str(uuid.uuid4()))
    elif wrong == "other_peer":
        message = _arrival(case, row, sender="peer-md")
    else:
        message = inbound(
            RETURN_HANDOVER_ARRIVAL,
            {
                "trm_case_ref": other.trm_case_ref,
                "handover_ref": str(row.handover_ref),
                "arrived": True,
                "at": timezone.now().isoformat(),
                "sending_organisation": sender_org("RO"),
            },
            sender="peer-ro",
            conversation=other.trm_case_ref,
            seq=2,
        )
    _refused("handover.not_found", lambda: apply(message))
    assert snapshot(case) == before


def test_a_second_confirmation_is_refused_and_changes_nothing(caseworker_a):
    case, _ncp, row = journey(caseworker_a)
    apply(_arrival(case, row))
    before = snapshot(case)
    _refused("handover.already_confirmed", lambda: apply(_arrival(case, row)))
    _refused(
        "handover.already_confirmed",
        lambda: apply(_arrival(case, row, arrived=False)),
    )
    assert snapshot(case) == before


def test_handed_over_is_reached_only_through_the_arrival_confirmation(caseworker_a):
    case, ncp, _row = journey(caseworker_a)
    error = _refused(
        "cases.transition_not_allowed",
        lambda: case_move(
            actor=ncp, case_id=case.pk, track="assistance", target="handed_over"
        ),
    )
    assert error.details["reason"] == "dedicated_service"
    case.refresh_from_db()
    assert case.assistance == Assistance.IN_TRANSIT


def test_the_types_are_registered_with_this_apps_handlers():
    announce = registry.message_type(RETURN_HANDOVER, 1)
    arrival = registry.message_type(RETURN_HANDOVER_ARRIVAL, 1)
    assert announce is not None and announce.handler is messages.apply_return_handover
    assert announce.categories == {"case_summary"}
    assert arrival is not None
    assert arrival.handler is messages.apply_return_handover_arrival
    assert arrival.categories == frozenset()
    assert Role.NATIONAL_CONTACT_POINT  # the journey's role (trm.returns)
    assert ReturnHandover.objects.count() == 0
