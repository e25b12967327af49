"""API of the operator view: peers, their messages, one message, retry.

The same readers and writer as the pages (:mod:`trm.exchange.operations`) with
the same rules: node administrators and national contact points only; a
message's payload only for the team of its case (audited). Peers are managed
on the pages and with ``trm peers``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field

from trm.common.api import MAX_PAGE, request_actor
from trm.common.pagination import capped_count
from trm.exchange import operations
from trm.exchange.operations import MessageDetail, MessageRow, PeerRow

router = Router(tags=["exchange"])

PAGE_SIZE = 25
MAX_PAGE_SIZE = 100


class ExchangePeerOut(Schema):
    node_id: str
    name: str
    country: str
    base_url: str
    status: str = Field(description="active | disabled")
    fingerprint: str = Field(description="Thumbprint of the trusted signing key")
    pending: int
    retrying: int
    dead: int
    rejected: int
    sent: int
    cancelled: int
    received: int
    last_delivery_at: datetime | None
    last_received_at: datetime | None


def _peer_out(row: PeerRow) -> ExchangePeerOut:
    peer = row.peer
    return ExchangePeerOut(
        node_id=peer.node_id,
        name=peer.name,
        country=peer.country,
        base_url=peer.base_url,
        status=peer.status,
        fingerprint=peer.fingerprint,
        pending=row.pending,
        retrying=row.retrying,
        dead=row.dead,
        rejected=row.rejected,
        sent=row.sent,
        cancelled=row.cancelled,
        received=row.received,
        last_delivery_at=row.last_delivery_at,
        last_received_at=row.last_received_at,
    )


class ExchangeMessageOut(Schema):
    direction: Literal["out", "in"]
    msg_id: UUID
    peer: str = Field(description="The peer's node id")
    type: str
    version: int
    conversation: str = Field(description="The shared case reference, or empty")
    seq: int
    status: str
    attempts: int | None = Field(description="Delivery attempts (outgoing only)")
    next_attempt_at: datetime | None
    last_error: str = Field(description="A short code, never a message text")
    at: datetime = Field(description="Queued (out) or received (in)")
    sent_at: datetime | None


def _message_fields(row: MessageRow) -> dict[str, Any]:
    return {
        "direction": row.direction,
        "msg_id": row.msg_id,
        "peer": row.node_id,
        "type": row.type,
        "version": row.version,
        "conversation": row.conversation,
        "seq": row.seq,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at,
        "last_error": row.last_error,
        "at": row.at,
        "sent_at": row.sent_at,
    }


class ExchangeMessagePage(Schema):
    count: int = Field(description="Matching messages, counted up to 1,000")
    more: bool = Field(description="True when more than 1,000 match")
    items: list[ExchangeMessageOut]


class ExchangeMessageFilters(Schema):
    direction: Literal["out", "in"] = "out"
    status: str = Field("", max_length=20, description="A status of that direction")
    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)


class ExchangeMessageDetailOut(ExchangeMessageOut):
    in_reply_to: UUID | None
    legal_basis_kind: str = Field(
        description="consent | vital_interest | legal_obligation | pseudonymous"
    )
    categories: list[str]
    reply_by: datetime | None
    payload_digest: str = Field(description="SHA-256 of the payload (outgoing)")
    envelope_digest: str
    receipt_claims: dict[str, Any]
    has_case: bool = Field(description="The message is about a case of this node")
    payload: dict[str, Any] | None = Field(
        description="Only for the case team of the message's case (audited)"
    )
    payload_gone: bool = Field(
        description="The payload is no longer held: erased with the person, or "
        "forgotten when the consent it came under was withdrawn"
    )


class ExchangeMessageLookup(Schema):
    direction: Literal["out", "in"] | None = Field(
        None, description="Default: outgoing first, then incoming"
    )
    peer: str | None = Field(None, max_length=64, description="The peer's node id")


def _detail_out(message: MessageDetail) -> ExchangeMessageDetailOut:
    return ExchangeMessageDetailOut(
        **_message_fields(message),
        in_reply_to=message.in_reply_to,
        legal_basis_kind=message.legal_basis_kind,
        categories=message.categories,
        reply_by=message.reply_by,
        payload_digest=message.payload_digest,
        envelope_digest=message.envelope_digest,
        receipt_claims=message.receipt_claims,
        has_case=message.has_case,
        payload=message.payload,
        payload_gone=message.payload_gone,
    )


@router.get(
    "/peers",
    response=list[ExchangePeerOut],
    summary="Peer nodes with their message counts",
)
def exchange_peers(request: HttpRequest) -> list[ExchangePeerOut]:
    return [_peer_out(r) for r in operations.peer_overview(user=request_actor(request))]


@router.get(
    "/peers/{node_id}/messages",
    response=ExchangeMessagePage,
    summary="A peer's messages in or out, newest first",
)
def exchange_messages(
    request: HttpRequest, node_id: str, filters: Query[ExchangeMessageFilters]
) -> ExchangeMessagePage:
    rows = operations.message_list(
        user=request_actor(request),
        node_id=node_id,
        direction=filters.direction,
        status=filters.status,
    )
    count, more = capped_count(rows)
    start = (filters.page - 1) * filters.page_size
    items = [
        ExchangeMessageOut(**_message_fields(operations.message_row(m, node_id)))
        for m in rows[start : start + filters.page_size]
    ]
    return ExchangeMessagePage(count=count, more=more, items=items)


@router.get(
    "/messages/{msg_id}",
    response=ExchangeMessageDetailOut,
    summary="One message: routing fields, digests, receipt (payload: case team)",
)
def exchange_message(
    request: HttpRequest, msg_id: UUID, lookup: Query[ExchangeMessageLookup]
) -> ExchangeMessageDetailOut:
    return _detail_out(
        operations.message_get(
            user=request_actor(request),
            msg_id=msg_id,
            direction=lookup.direction,
            node_id=lookup.peer,
        )
    )


@router.post(
    "/messages/{msg_id}/retry",
    response=ExchangeMessageOut,
    summary="Send a dead, rejected or retrying message again",
)
def exchange_message_retry(request: HttpRequest, msg_id: UUID) -> ExchangeMessageOut:
    actor = request_actor(request)
    message = operations.message_retry(actor=actor, msg_id=msg_id)
    return ExchangeMessageOut(
        **_message_fields(operations.message_row(message, message.peer.node_id))
    )
