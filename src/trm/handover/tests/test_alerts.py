"""The missed confirmation: on both nodes, a handover still announced
``TRM_RETURN_ARRIVAL_ALERT_HOURS`` after its expected arrival raises one
safety alert to the other node (the clock moved, never slept)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from trm.accounts.models import Role
from trm.cases.messages import SAFETY_ALERT
from trm.cases.tests.exchange_fakes import payload_of
from trm.cases.tests.factories import team_member
from trm.exchange.models import OutboxMessage
from trm.handover import services
from trm.handover.models import ReturnHandover
from trm.sop.jobs import run_due_jobs

from .helpers import DESTINATION_PEER, announce, in_hours, journey, origin_case

pytestmark = pytest.mark.django_db


def _alerts() -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(type=SAFETY_ALERT))


def test_the_destination_alerts_the_origin_once_when_no_confirmation_came(
    caseworker_a, time_machine
):
    case, _ncp, row = journey(caseworker_a, expected_arrival_at=in_hours(6))
    time_machine.move_to(row.expected_arrival_at + timedelta(hours=23, minutes=59))
    assert services.raise_missed_handover_alerts() == 0
    assert _alerts() == []
    time_machine.move_to(row.expected_arrival_at + timedelta(hours=24, minutes=1))
    assert services.raise_missed_handover_alerts() == 1
    [alert] = _alerts()
    assert alert.peer.node_id == "peer-ro" and alert.legal_basis == "vital_interest"
    assert alert.categories == ["risk"] and alert.conversation == case.trm_case_ref
    body = payload_of(alert)
    assert body["nature"] == "missed_handover" and body["people_at_risk"] == ["person"]
    assert str(row.handover_ref) in body["description"]
    row.refresh_from_db()
    assert row.alert_raised_at is not None
    assert case.events.filter(
        kind="case.safety_alert_sent", code="missed_handover"
    ).exists()
    assert case.events.filter(kind="handover.arrival_overdue").count() == 1
    # Idempotent: the next runs raise nothing.
    time_machine.move_to(row.expected_arrival_at + timedelta(days=3))
    assert services.raise_missed_handover_alerts() == 0
    assert len(_alerts()) == 1


def test_the_origin_alerts_the_destination_when_no_one_confirmed(org_a, time_machine):
    origin = origin_case(org_a)
    row = announce(expected_arrival_at=in_hours(2).isoformat())
    time_machine.move_to(row.expected_arrival_at + timedelta(hours=25))
    counts = run_due_jobs()
    assert counts["missed_handover_alerts"] == 1
    [alert] = _alerts()
    assert alert.peer.node_id == DESTINATION_PEER
    assert alert.case_id == origin.pk
    assert origin.events.filter(kind="handover.arrival_overdue").exists()
    assert run_due_jobs()["missed_handover_alerts"] == 0


def test_a_confirmed_handover_raises_no_alert(org_a, time_machine):
    origin = origin_case(org_a)
    row = announce(expected_arrival_at=in_hours(1).isoformat())
    time_machine.move_to(row.expected_arrival_at + timedelta(minutes=30))
    services.return_arrival_confirm(
        actor=team_member(origin, Role.CASE_MANAGER),
        case_id=origin.pk,
        handover_id=row.pk,
        arrived=True,
        at=row.expected_arrival_at,
    )
    time_machine.move_to(row.expected_arrival_at + timedelta(days=2))
    assert services.raise_missed_handover_alerts() == 0
    assert _alerts() == []


def test_the_alert_hours_are_a_setting(caseworker_a, settings, time_machine):
    settings.TRM_RETURN_ARRIVAL_ALERT_HOURS = 1.5
    _case, _ncp, row = journey(caseworker_a, expected_arrival_at=in_hours(3))
    time_machine.move_to(row.expected_arrival_at + timedelta(hours=1, minutes=31))
    assert services.raise_missed_handover_alerts() == 1


def test_an_unreachable_peer_still_raises_the_alert_here(caseworker_a, time_machine):
    case, _ncp, row = journey(caseworker_a)
    from trm.exchange.models import Peer, PeerStatus

    Peer.objects.filter(node_id="peer-ro").update(status=PeerStatus.DISABLED)
    time_machine.move_to(row.expected_arrival_at + timedelta(hours=30))
    assert services.raise_missed_handover_alerts() == 1
    assert _alerts() == []
    assert case.events.filter(kind="handover.arrival_overdue").exists()
    assert ReturnHandover.objects.get(pk=row.pk).alert_raised_at is not None
