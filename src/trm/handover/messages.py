"""trm.handover on the transnational channel (EXCHANGE.md §3; SOPS §6.4 M9).

* ``return.handover`` v1 — destination NCP → origin NCP when the journey
  starts (:func:`trm.handover.services.announce_handover`); applied on the
  origin node by :func:`apply_return_handover`.
* ``return.handover.arrival`` v1 — origin → destination once the arrival is
  confirmed (:func:`trm.handover.services.return_arrival_confirm`); applied on
  the destination node by :func:`apply_return_handover_arrival`.

The missed-confirmation alert is the existing ``safety.alert``
(:mod:`trm.cases.messages`, nature ``missed_handover``).

``return.handover`` v1 was declared schema-only (no handler) by
:mod:`trm.assistance.messages`; no node could apply it, and this app registers
the v1 schema it applies in its place (the placeholder is gone: the registry
refuses a second registration of a type and version).
"""

from __future__ import annotations

from uuid import UUID

from django.utils.translation import gettext as _
from pydantic import BaseModel

from trm.cases.messages import (
    actor_for,
    carries_nothing,
    check_reference,
    linked_case,
    require_party,
)
from trm.exchange import registry
from trm.handover import services
from trm.handover.errors import HandoverNotFound, HandoverNotLinked
from trm.handover.schemas import (
    RETURN_HANDOVER,
    RETURN_HANDOVER_ARRIVAL,
    ReturnHandoverArrivalV1,
    ReturnHandoverV1,
)
from trm.returns.sides import require_origin_side


def return_handover_carried(payload: BaseModel) -> set[str]:
    """``case_summary`` when the arrival point or itinerary is filled."""
    return services.handover_carried(payload)


def apply_return_handover(message: registry.Inbound) -> UUID | None:
    """Record the announced journey on the case linked under its shared
    reference (origin node).

    Raises:
        NotLinked: the conversation is not the reference.
        HandoverNotLinked: no case here is linked under the reference.
        NotParty: the sender is not party to the case.
        HandoverDuplicate: the handover reference is already recorded.
        WrongSide: this node is the destination of the case
            (:func:`trm.returns.sides.require_origin_side`).
    """
    payload = message.payload
    assert isinstance(payload, ReturnHandoverV1)  # noqa: S101 - the schema
    check_reference(message, payload.trm_case_ref)
    case = linked_case(payload.trm_case_ref)
    if case is None:
        raise HandoverNotLinked(
            _("No case on this node is linked under that reference."),
            details={"field": "trm_case_ref"},
        )
    require_party(message, case)
    require_origin_side(case, message.sender, message.type)
    actor = actor_for(
        message.sender, payload.sending_organisation, "national_contact_point"
    )
    services.handover_receive(
        actor=actor,
        case=case,
        peer_node=message.sender,
        msg_id=message.msg_id,
        payload=payload,
    )
    return case.pk


def apply_return_handover_arrival(message: registry.Inbound) -> UUID | None:
    """Apply the origin's arrival confirmation to the handover this node sent
    to that peer (destination node).

    Raises:
        NotLinked: the conversation is not the reference.
        HandoverNotFound: no handover with that reference went from this node
            to the sender about that case.
        NotParty, HandoverAlreadyConfirmed, TransitionNotAllowed.
    """
    payload = message.payload
    assert isinstance(payload, ReturnHandoverArrivalV1)  # noqa: S101
    check_reference(message, payload.trm_case_ref)
    row = services.sent_handover(
        handover_ref=payload.handover_ref,
        peer_node=message.sender,
        trm_case_ref=payload.trm_case_ref,
    )
    if row is None:
        raise HandoverNotFound(
            _("This confirmation names no handover sent from this node."),
            details={"field": "handover_ref"},
        )
    require_party(message, row.case)
    actor = actor_for(
        message.sender, payload.sending_organisation, "national_contact_point"
    )
    services.arrival_receive(actor=actor, row=row, payload=payload)
    return row.case_id


def register_all() -> None:
    """Register both types with their handlers (``ready()``)."""
    registry.register(
        registry.MessageType(
            name=RETURN_HANDOVER,
            version=1,
            schema=ReturnHandoverV1,
            categories=frozenset({services.TEXT_CATEGORY}),
            handler=apply_return_handover,
            carried=return_handover_carried,
            sop=(4,),
            description="Travel and handover notice (M9)",
        )
    )
    registry.register(
        registry.MessageType(
            name=RETURN_HANDOVER_ARRIVAL,
            version=1,
            schema=ReturnHandoverArrivalV1,
            categories=frozenset(),
            handler=apply_return_handover_arrival,
            carried=carries_nothing,
            sop=(4,),
            description="Arrival confirmed or not (M9)",
        )
    )
