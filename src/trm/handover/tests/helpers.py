"""Set-up shared by the trm.handover tests. All data is synthetic and fictional.

One test database plays each node in turn (exchange_fakes): the destination
node is a case of this node made ready by trm.returns' helpers and linked with
``peer-ro``; the origin node is a case this node opened from ``peer-it``'s
``case.alert`` under :data:`REMOTE_REF`.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from trm.accounts.models import Organisation, Role, User
from trm.audit.models import AuditEntry
from trm.cases import messages as case_messages
from trm.cases.models import Case, CaseEvent
from trm.cases.tests.exchange_fakes import apply, inbound, make_peer
from trm.cases.tests.factories import team_member
from trm.exchange.models import OutboxMessage
from trm.handover.models import ReturnHandover, Side
from trm.handover.schemas import RETURN_HANDOVER
from trm.returns import services as returns
from trm.returns.tests.helpers import ready_case

REMOTE_REF = "peer-it-0123456789ab"
DESTINATION_PEER = "peer-it"


def sender_org(country: str = "IT") -> dict[str, Any]:
    return {
        "id": str(uuid.UUID(int=7)),
        "name": f"Fictional NCP {country}",
        "country": country,
    }


def in_hours(hours: float) -> datetime:
    return timezone.now() + timedelta(hours=hours)


def snapshot(case: Case) -> tuple[object, ...]:
    """Everything a refused service or message must leave unchanged."""
    case.refresh_from_db()
    return (
        case.assistance,
        CaseEvent.objects.filter(case=case).count(),
        AuditEntry.objects.exclude(action__endswith="_read").count(),
        list(ReturnHandover.objects.filter(case=case).values()),
        OutboxMessage.objects.count(),
    )


def journey(actor: User, **kw: Any) -> tuple[Case, User, ReturnHandover]:
    """Destination node: a ready case (linked with ``peer-ro``) put in transit
    by its national contact point; with the NCP and the handover row."""
    case, ncp = ready_case(actor)
    values: dict[str, Any] = {"expected_arrival_at": in_hours(6)}
    values.update(kw)
    returns.return_in_transit(actor=ncp, case_id=case.pk, **values)
    case.refresh_from_db()
    row = ReturnHandover.objects.get(case=case, side=Side.DESTINATION)
    return case, ncp, row


def origin_case(lead: Organisation) -> Case:
    """Origin node: the case opened here from ``peer-it``'s alert (led by
    ``lead``, this node's national contact point organisation)."""
    make_peer(DESTINATION_PEER, "IT")
    alert = {
        "trm_case_ref": REMOTE_REF,
        "country_of_identification": "IT",
        "urgency": "normal",
        "requests": ["return_planning"],
        "sending_organisation": sender_org(),
    }
    apply(
        inbound(
            case_messages.CASE_ALERT,
            alert,
            sender=DESTINATION_PEER,
            conversation=REMOTE_REF,
        )
    )
    return Case.objects.get(trm_case_ref=REMOTE_REF)


def handover_payload(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "trm_case_ref": REMOTE_REF,
        "handover_ref": str(uuid.uuid4()),
        "departure_at": in_hours(-1).isoformat(),
        "expected_arrival_at": in_hours(5).isoformat(),
        "escort_function": "Social worker",
        "meeting_person_function": "Reception centre duty officer",
        "sending_organisation": sender_org(),
    }
    values.update(overrides)
    return values


def announce(seq: int = 2, **overrides: Any) -> ReturnHandover:
    """Apply ``peer-it``'s ``return.handover`` on the origin case."""
    payload = handover_payload(**overrides)
    texts = payload.get("arrival_point") or payload.get("itinerary")
    apply(
        inbound(
            RETURN_HANDOVER,
            payload,
            sender=DESTINATION_PEER,
            conversation=REMOTE_REF,
            seq=seq,
            legal_basis="consent:" + str(uuid.uuid4()) if texts else "pseudonymous",
            categories=("case_summary",) if texts else (),
        )
    )
    return ReturnHandover.objects.get(
        handover_ref=payload["handover_ref"], side=Side.ORIGIN
    )


def origin_worker(case: Case, role: str = Role.CASE_MANAGER) -> User:
    return team_member(case, role)


def arrived(case: Case, row: ReturnHandover, sender: str = "peer-ro") -> None:
    """Destination node: apply the origin's confirmation that the person of
    ``row``'s journey arrived (``return.handover.arrival``)."""
    from trm.handover.schemas import RETURN_HANDOVER_ARRIVAL

    apply(
        inbound(
            RETURN_HANDOVER_ARRIVAL,
            {
                "trm_case_ref": case.trm_case_ref,
                "handover_ref": str(row.handover_ref),
                "arrived": True,
                "at": timezone.now().isoformat(),
                "sending_organisation": sender_org("RO"),
            },
            sender=sender,
            conversation=case.trm_case_ref,
            seq=2,
        )
    )
