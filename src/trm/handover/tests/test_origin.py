"""Origin node: the announcement is recorded on the linked case; a person
confirms the arrival, reintegration starts here and the answer goes back."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from trm.accounts.models import Role
from trm.accounts.tests.factories import UserFactory
from trm.cases.services import case_move
from trm.cases.tests.exchange_fakes import apply, inbound, payload_of
from trm.cases.tests.factories import team_member
from trm.cases.tracks import Assistance
from trm.common.errors import DomainError
from trm.exchange.models import OutboxMessage
from trm.handover import selectors, services
from trm.handover.models import HandoverStatus, ReturnHandover, Side
from trm.handover.schemas import RETURN_HANDOVER, RETURN_HANDOVER_ARRIVAL

from .helpers import (
    DESTINATION_PEER,
    REMOTE_REF,
    announce,
    handover_payload,
    in_hours,
    origin_case,
    snapshot,
)

pytestmark = pytest.mark.django_db


def _refused(code: str, call: Any) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call()
    assert caught.value.code == code, caught.value.message
    return caught.value


@pytest.fixture
def origin(org_a):
    return origin_case(org_a)


def test_the_announcement_is_recorded_on_the_linked_case(origin, org_a):
    row = announce(
        arrival_point="Fictiv bus station, gate 3", itinerary="Fictional coach"
    )
    assert row.case_id == origin.pk and row.side == Side.ORIGIN
    assert row.peer_node == DESTINATION_PEER
    assert row.status == HandoverStatus.ANNOUNCED
    assert row.meeting_person_function == "Reception centre duty officer"
    assert b"gate 3" not in bytes(row.sealed_text or b"")
    assert origin.events.filter(kind="handover.received", code="with_texts").exists()
    ncp = UserFactory(organisation=org_a, roles=[Role.NATIONAL_CONTACT_POINT])
    [view] = selectors.handovers_for_user(user=ncp, case=origin)
    assert view.arrival_point == "Fictiv bus station, gate 3"
    assert view.itinerary == "Fictional coach"


def test_an_announcement_for_no_linked_case_is_refused(org_a):
    origin_case(org_a)
    message = inbound(
        RETURN_HANDOVER,
        handover_payload(trm_case_ref="peer-it-ffffffffffff"),
        sender=DESTINATION_PEER,
        conversation="peer-it-ffffffffffff",
    )
    _refused("handover.not_linked", lambda: apply(message))
    assert not ReturnHandover.objects.exists()


def test_a_repeated_announcement_is_refused(origin):
    row = announce()
    before = snapshot(origin)
    _refused(
        "handover.duplicate",
        lambda: announce(seq=3, handover_ref=str(row.handover_ref)),
    )
    assert snapshot(origin) == before


@pytest.mark.parametrize("role", [Role.CASE_MANAGER, Role.SERVICE_PROVIDER])
def test_a_confirmed_arrival_starts_reintegration_here_and_answers(origin, role):
    row = announce()
    worker = team_member(origin, role)
    at = timezone.now() - timedelta(minutes=10)
    services.return_arrival_confirm(
        actor=worker,
        case_id=origin.pk,
        handover_id=row.pk,
        arrived=True,
        at=at,
        note="Fictional: met at the gate, tired but well.",
    )
    origin.refresh_from_db()
    row.refresh_from_db()
    assert origin.assistance == Assistance.REINTEGRATION
    assert row.status == HandoverStatus.ARRIVED and row.lead_side == Side.ORIGIN
    assert row.arrival_at == at and b"gate" not in bytes(row.sealed_note or b"")
    move = origin.events.get(kind="case.track_moved", to_state="reintegration")
    assert move.code == "arrival_confirmed"
    assert origin.events.filter(
        kind="handover.lead_moved", code="lead_moved_to_origin"
    ).exists()
    [message] = OutboxMessage.objects.filter(type=RETURN_HANDOVER_ARRIVAL)
    assert message.peer.node_id == DESTINATION_PEER
    assert message.conversation == REMOTE_REF
    assert message.legal_basis == "pseudonymous" and message.categories == []
    body = payload_of(message)
    assert body["arrived"] is True
    assert body["handover_ref"] == str(row.handover_ref)
    assert "note" not in body


def test_a_non_arrival_is_recorded_and_answered_without_moving(origin):
    row = announce()
    worker = team_member(origin, Role.CASE_MANAGER)
    services.return_arrival_confirm(
        actor=worker,
        case_id=origin.pk,
        handover_id=row.pk,
        arrived=False,
        at=timezone.now(),
    )
    origin.refresh_from_db()
    row.refresh_from_db()
    assert origin.assistance == Assistance.NONE
    assert row.status == HandoverStatus.NOT_ARRIVED and row.lead_side == ""
    [message] = OutboxMessage.objects.filter(type=RETURN_HANDOVER_ARRIVAL)
    assert payload_of(message)["arrived"] is False


def test_only_the_case_team_s_assistance_roles_confirm(origin):
    row = announce()
    prosecutor = team_member(origin, Role.PROSECUTOR)
    before = snapshot(origin)
    _refused(
        "cases.role_required",
        lambda: services.return_arrival_confirm(
            actor=prosecutor,
            case_id=origin.pk,
            handover_id=row.pk,
            arrived=True,
            at=timezone.now(),
        ),
    )
    assert snapshot(origin) == before


def test_a_confirmation_of_an_unknown_handover_is_refused(origin):
    announce()
    worker = team_member(origin, Role.CASE_MANAGER)
    before = snapshot(origin)
    _refused(
        "handover.not_found",
        lambda: services.return_arrival_confirm(
            actor=worker,
            case_id=origin.pk,
            handover_id=uuid.uuid4(),
            arrived=True,
            at=timezone.now(),
        ),
    )
    assert snapshot(origin) == before


def test_a_second_confirmation_is_refused(origin):
    row = announce()
    worker = team_member(origin, Role.CASE_MANAGER)
    services.return_arrival_confirm(
        actor=worker,
        case_id=origin.pk,
        handover_id=row.pk,
        arrived=True,
        at=timezone.now(),
    )
    before = snapshot(origin)
    _refused(
        "handover.already_confirmed",
        lambda: services.return_arrival_confirm(
            actor=worker,
            case_id=origin.pk,
            handover_id=row.pk,
            arrived=False,
            at=timezone.now(),
        ),
    )
    assert snapshot(origin) == before


@pytest.mark.parametrize(
    ("at", "reason"),
    [
        (lambda: in_hours(2), "future"),
        (lambda: in_hours(-1).replace(tzinfo=None), "naive"),
    ],
)
def test_a_confirmation_time_in_the_future_or_without_zone_is_refused(
    origin, at, reason
):
    row = announce()
    worker = team_member(origin, Role.CASE_MANAGER)
    before = snapshot(origin)
    error = _refused(
        "cases.invalid_input",
        lambda: services.return_arrival_confirm(
            actor=worker,
            case_id=origin.pk,
            handover_id=row.pk,
            arrived=True,
            at=at(),
        ),
    )
    assert error.details == {"field": "at", "reason": reason}
    assert snapshot(origin) == before


def test_reintegration_is_reached_only_through_the_arrival_confirmation(origin):
    worker = team_member(origin, Role.CASE_MANAGER)
    error = _refused(
        "cases.transition_not_allowed",
        lambda: case_move(
            actor=worker, case_id=origin.pk, track="assistance", target="reintegration"
        ),
    )
    assert error.details["reason"] == "dedicated_service"
