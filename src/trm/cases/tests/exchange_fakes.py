"""Test helpers for message handlers: peers, inbound messages, a fake inbox.

One test database plays both nodes at the handler level: a message this node
enqueued is read back from the outbox; a message "from a peer" is an
:class:`~trm.exchange.registry.Inbound` built here and applied the way the
inbox applies it (handler in a savepoint, then the message recorded and the
observers told). All data is synthetic.
"""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from pydantic import BaseModel

from trm.exchange import registry
from trm.exchange import services as exchange
from trm.exchange.models import (
    InboxMessage,
    InboxStatus,
    OutboxMessage,
    Peer,
    PeerStatus,
)
from trm.exchange.nodekeys import PURPOSE, canonical

FINGERPRINT = "fictional-fingerprint-" + "0" * 21


def make_peer(
    node_id: str = "peer-ro", country: str = "RO", *, active: bool = True
) -> Peer:
    """Return a trusted peer row (no keys: nothing is really sent in these tests)."""
    peer, _created = Peer.objects.get_or_create(
        node_id=node_id,
        defaults={
            "name": f"Fictional node {node_id}",
            "country": country,
            "base_url": "http://127.0.0.1:9/",
            "keys": [],
            "fingerprint": FINGERPRINT,
            "status": PeerStatus.ACTIVE if active else PeerStatus.DISABLED,
        },
    )
    return peer


def inbound(
    type: str,
    payload: BaseModel | dict[str, Any],
    *,
    sender: str = "peer-ro",
    conversation: str = "",
    legal_basis: str = "pseudonymous",
    categories: tuple[str, ...] = (),
    in_reply_to: UUID | None = None,
    seq: int = 1,
) -> registry.Inbound:
    """Return a verified inbound message as the inbox hands it to a handler."""
    mtype = registry.message_type(type)
    assert mtype is not None
    body = (
        payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
    )
    peer = Peer.objects.get(node_id=sender)
    return registry.Inbound(
        sender=sender,
        sender_country=peer.country,
        msg_id=uuid.uuid4(),
        type=type,
        version=mtype.version,
        conversation=conversation,
        seq=seq if conversation else 0,
        in_reply_to=in_reply_to,
        legal_basis=legal_basis,
        categories=tuple(sorted(categories)),
        sent_at=timezone.now(),
        reply_by=None,
        payload=mtype.schema.model_validate(body),
    )


def reply_to(message: OutboxMessage, type: str, payload: Any, **kw: Any) -> Any:
    """Return an inbound answer from the message's peer to ``message``."""
    return inbound(
        type,
        payload,
        sender=message.peer.node_id,
        conversation=message.conversation,
        in_reply_to=message.msg_id,
        **kw,
    )


def apply(message: registry.Inbound) -> InboxMessage:
    """Apply ``message`` as the inbox does: the handler in a savepoint (a
    DomainError propagates, nothing it wrote kept), then the message recorded
    as applied and the observers told."""
    mtype = registry.message_type(message.type, message.version)
    assert mtype is not None and mtype.handler is not None
    with transaction.atomic():
        with transaction.atomic():
            case_id = mtype.handler(message)
        from trm.dataprotection.crypto import seal_node

        stored = InboxMessage.objects.create(
            peer=Peer.objects.get(node_id=message.sender),
            msg_id=message.msg_id,
            type=message.type,
            version=message.version,
            conversation=message.conversation,
            seq=message.seq,
            in_reply_to=message.in_reply_to,
            legal_basis=message.legal_basis,
            categories=list(message.categories),
            case_id=case_id,
            payload_sealed=seal_node(
                PURPOSE,
                canonical(message.payload.model_dump(mode="json")),
                context=exchange.payload_context(message.msg_id, "in"),
            ),
            envelope_digest="0" * 64,
            status=InboxStatus.APPLIED,
            received_at=timezone.now(),
            receipt="fictional-receipt",
        )
        for observer in registry.observers():
            observer("in", stored)
    return stored


def payload_of(message: OutboxMessage) -> dict[str, Any]:
    """Return the sealed payload of an outgoing message."""
    return exchange.sealed_payload(message)
