"""Origin: the announcement arrives; what a withdrawn consent erases."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import User
from trm.audit import services as audit
from trm.cases.models import Case, Visibility
from trm.cases.services import (
    record_case_event,
)
from trm.exchange.models import InboxMessage
from trm.handover.errors import (
    HandoverDuplicate,
)
from trm.handover.models import ReturnHandover, Side
from trm.handover.schemas import (
    RETURN_HANDOVER,
    ReturnHandoverV1,
)
from trm.handover.services.announce import (
    check_journey_times,
    handover_carried,
)
from trm.handover.services.common import (
    TEXT_CATEGORY,
    _seal_texts,
)

# --- origin: the announcement arrives ------------------------------------------------


def handover_receive(
    *,
    actor: User,
    case: Case,
    peer_node: str,
    msg_id: UUID,
    payload: ReturnHandoverV1,
) -> ReturnHandover:
    """Record the announced journey on the locked linked ``case`` (inner
    service for the handler, in the inbox's transaction; ``actor`` is the node
    user standing for the sender). Texts are sealed under the person's key.
    Writes ``handover.received`` (team) and an audit entry.

    Raises:
        HandoverDuplicate: this handover reference is already recorded here.
        CaseInvalidInput: implausible times (:func:`check_journey_times`).
    """
    check_journey_times(
        payload.departure_at, payload.expected_arrival_at, timezone.now()
    )
    if ReturnHandover.objects.filter(
        handover_ref=payload.handover_ref, side=Side.ORIGIN
    ).exists():
        raise HandoverDuplicate(
            _("This handover is already recorded."),
            details={"field": "handover_ref"},
        )
    row = ReturnHandover(
        handover_ref=payload.handover_ref,
        case=case,
        side=Side.ORIGIN,
        peer_node=peer_node,
        departure_at=payload.departure_at,
        expected_arrival_at=payload.expected_arrival_at,
        escort_function=payload.escort_function,
        meeting_person_function=payload.meeting_person_function,
        sending_organisation=payload.sending_organisation.name,
        msg_id=msg_id,
        created_at=timezone.now(),
        created_by=actor,
    )
    _seal_texts(
        case,
        row,
        {"arrival_point": payload.arrival_point, "itinerary": payload.itinerary},
    )
    row.save(force_insert=True)
    record_case_event(
        case=case,
        actor=actor,
        kind="handover.received",
        code="with_texts" if handover_carried(payload) else "codes_only",
        visibility=Visibility.ASSISTANCE_ONLY,
    )
    audit.record(
        actor=actor,
        action="handover.received",
        target=case,
        data={"handover": str(row.handover_ref), "from": peer_node},
    )
    return row


def restrict_received(
    *,
    case: Case,
    peer_node: str,
    consent_ref: UUID,
    categories: Iterable[str],
    actor: User | None = None,
) -> str | None:
    """Restriction hook of ``consent.withdrawn`` (registered in ``ready()``):
    erase the arrival point and itinerary of the origin handovers of ``case``
    that ``peer_node`` announced under ``consent:<consent_ref>`` when the
    withdrawn categories include theirs (``case_summary``). Times, functions
    and the status stay (they are not the consented data). Returns
    ``"erased"`` or None (nothing held)."""
    if TEXT_CATEGORY not in set(categories):
        return None
    received = InboxMessage.objects.filter(
        peer__node_id=peer_node,
        type=RETURN_HANDOVER,
        legal_basis=f"consent:{consent_ref}",
    ).values_list("msg_id", flat=True)
    erased = (
        ReturnHandover.objects.filter(
            case=case,
            side=Side.ORIGIN,
            peer_node=peer_node,
            msg_id__in=list(received),
        )
        .exclude(sealed_text=None)
        .update(sealed_text=None)
    )
    if not erased:
        return None
    audit.record(
        actor=actor,
        action="handover.received_restricted",
        target=case,
        data={"rows": erased, "from": peer_node},
    )
    return "erased"
