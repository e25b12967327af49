"""The exchange's writers: enqueue a message (called by domain services).

Domain services never do network I/O (EXCHANGE.md §4): they call
:func:`enqueue` inside their own transaction, which validates the payload
against the message type's schema, checks the legal basis against the
categories carried (§1.7), numbers the message within its conversation (§1.5)
and writes an outbox row sealed under the node's exchange key. ``trm worker``
sends it (:mod:`trm.exchange.delivery`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from pydantic import BaseModel, ValidationError

from trm.audit import services as audit
from trm.dataprotection.crypto import seal_node
from trm.exchange import registry
from trm.exchange.errors import LegalBasisMissing, MessageInvalid, PeerUnavailable
from trm.exchange.models import (
    Conversation,
    OutboxMessage,
    OutboxStatus,
    Peer,
    PeerStatus,
)
from trm.exchange.nodekeys import PURPOSE, canonical, sha256_hex

#: Legal bases (EXCHANGE.md §2): a consent, the two reasoned exceptions, or no
#: personal data at all (a pseudonymous alert; risk information may always go).
PSEUDONYMOUS = "pseudonymous"
VITAL_INTEREST = "vital_interest"
LEGAL_OBLIGATION = "legal_obligation"


def payload_context(msg_id: UUID, direction: str) -> bytes:
    """Associated data of a sealed payload (binds it to its message)."""
    return f"trm:exchange-payload:{direction}:{msg_id}".encode()


def _check_legal_basis(
    *,
    mtype: registry.MessageType,
    legal_basis: str,
    categories: list[str],
    peer: Peer,
    organisation_id: UUID | None,
    case_id: UUID | None,
) -> None:
    personal = set(categories) - registry.FREE_CATEGORIES
    if legal_basis == PSEUDONYMOUS:
        if personal:
            raise LegalBasisMissing(
                _("Personal data needs a consent or a recorded exception."),
                details={"categories": sorted(personal)},
            )
        return
    if legal_basis == VITAL_INTEREST or legal_basis.startswith(LEGAL_OBLIGATION + ":"):
        kind = legal_basis.split(":", 1)[0]
        if kind not in mtype.exceptions:
            raise LegalBasisMissing(
                _("A %(type)s message cannot be sent without consent.")
                % {"type": mtype.name},
                details={"legal_basis": kind},
            )
        if kind == LEGAL_OBLIGATION and not legal_basis.split(":", 1)[1].strip():
            raise LegalBasisMissing(
                _("Name the legal obligation."), details={"legal_basis": kind}
            )
        return
    if legal_basis.startswith("consent:"):
        check = registry.legal_basis_check()
        if check is None:
            raise LegalBasisMissing(_("Consents cannot be checked on this node."))
        check(
            legal_basis=legal_basis,
            categories=sorted(personal),
            peer_country=peer.country,
            organisation_id=organisation_id,
            case_id=case_id,
        )
        return
    raise LegalBasisMissing(
        _("Unknown legal basis."), details={"legal_basis": legal_basis[:40]}
    )


def active_peer(node_id: str) -> Peer:
    """Return the active peer ``node_id``.

    Raises:
        PeerUnavailable: no such peer, or it is disabled.
    """
    peer = Peer.objects.filter(node_id=node_id).first()
    if peer is None or peer.status != PeerStatus.ACTIVE:
        raise PeerUnavailable(
            _("The node %(node)s is not an active peer of this node.")
            % {"node": node_id},
            details={"node": node_id},
        )
    return peer


def enqueue(
    *,
    to_node: str,
    type: str,
    payload: BaseModel | dict[str, Any],
    legal_basis: str,
    categories: Iterable[str] = (),
    conversation: str = "",
    in_reply_to: UUID | None = None,
    reply_by: datetime | None = None,
    case_id: UUID | None = None,
    organisation_id: UUID | None = None,
    actor: Any = None,
) -> OutboxMessage:
    """Put a message in the outbox, inside the caller's transaction.

    Args:
        to_node: the peer's node id.
        type: a registered message type (its newest version is used).
        payload: the payload (a schema instance, or a dict validated here).
        legal_basis: ``consent:<uuid>``, ``vital_interest``,
            ``legal_obligation:<reference>`` or ``pseudonymous``.
        categories: data categories the payload carries; must be allowed by the
            type and covered by the legal basis.
        conversation: the shared case reference; messages of one conversation
            get consecutive ``seq`` numbers and are applied in that order.
        case_id: this node's case (timeline, access to the payload).
        organisation_id: the recipient organisation, when the consent must
            name it.

    Raises:
        PeerUnavailable: unknown or disabled peer.
        MessageInvalid: unknown type, payload not valid for its schema, or
            categories the type does not allow.
        LegalBasisMissing: the categories are not covered (the consent app's
            ConsentMissing may propagate instead, with its details).
        RuntimeError: called outside a transaction (the outbox row must commit
            or roll back with the business change).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("enqueue() must be called inside the business transaction")
    mtype = registry.message_type(type)
    if mtype is None:
        raise MessageInvalid(_("Unknown message type."), details={"type": type[:64]})
    chosen = sorted(set(categories))
    beyond = sorted(set(chosen) - mtype.categories)
    if beyond:
        raise MessageInvalid(
            _("A %(type)s message may not carry: %(c)s.")
            % {"type": mtype.name, "c": ", ".join(beyond)},
            details={"type": mtype.name, "categories": beyond},
        )
    try:
        model = (
            mtype.schema.model_validate(payload.model_dump(mode="json"))
            if isinstance(payload, BaseModel)
            else mtype.schema.model_validate(payload)
        )
    except ValidationError as exc:
        raise MessageInvalid(
            _("The message does not fit its schema."),
            details={
                "type": mtype.name,
                "fields": sorted({".".join(map(str, e["loc"])) for e in exc.errors()}),
            },
        ) from None
    if mtype.carried is not None:
        undeclared = sorted(mtype.carried(model) - set(chosen))
        if undeclared:
            raise MessageInvalid(
                _("The message carries data it does not declare: %(c)s.")
                % {"c": ", ".join(undeclared)},
                details={"type": mtype.name, "categories": undeclared},
            )
    peer = active_peer(to_node)
    _check_legal_basis(
        mtype=mtype,
        legal_basis=legal_basis,
        categories=chosen,
        peer=peer,
        organisation_id=organisation_id,
        case_id=case_id,
    )
    seq = 0
    if conversation:
        state, _created = Conversation.objects.select_for_update().get_or_create(
            peer=peer, reference=conversation
        )
        state.last_out_seq += 1
        state.save(update_fields=["last_out_seq"])
        seq = state.last_out_seq
    body = model.model_dump(mode="json")
    now = timezone.now()
    msg_id = uuid.uuid4()
    message = OutboxMessage.objects.create(
        msg_id=msg_id,
        peer=peer,
        type=mtype.name,
        version=mtype.version,
        conversation=conversation,
        seq=seq,
        in_reply_to=in_reply_to,
        legal_basis=legal_basis,
        categories=chosen,
        reply_by=reply_by,
        case_id=case_id,
        payload_sealed=seal_node(
            PURPOSE, canonical(body), context=payload_context(msg_id, "out")
        ),
        payload_digest=sha256_hex(canonical(body)),
        next_attempt_at=now,
        created_at=now,
        status=OutboxStatus.PENDING,
    )
    audit.record(
        actor=actor,
        action="exchange.message_queued",
        target_type="exchange.message",
        target_id=str(msg_id),
        data={
            "type": mtype.name,
            "to": peer.node_id,
            "digest": message.payload_digest,
            "legal_basis": legal_basis.split(":", 1)[0],
            "categories": chosen,
        },
    )
    for observer in registry.observers():
        observer("out", message)
    return message


def sealed_payload(message: OutboxMessage) -> dict[str, Any]:
    """Unseal an outgoing payload (the worker, and the case team's view)."""
    from trm.dataprotection.crypto import unseal_node

    raw = unseal_node(
        PURPOSE, message.payload_sealed, context=payload_context(message.msg_id, "out")
    )
    value: dict[str, Any] = json.loads(raw)
    return value


# --- consent withdrawn: what went out under a basis ------------------------------

#: Why a message was cancelled before sending (``OutboxMessage.last_error``).
CANCELLED_CONSENT_WITHDRAWN = "consent_withdrawn"


def recipients_of_basis(legal_basis: str) -> list[Peer]:
    """Return the peers that received, or may have received, messages sent
    under ``legal_basis`` (e.g. ``consent:<id>``), by node id.

    "Received": delivered with a receipt (SENT). "May have received": a
    delivery was attempted (``attempts > 0``) without a receipt — retrying,
    dead, or cancelled after an attempt — since the receiver may have applied
    it and only its receipt was lost. A message never attempted (pending, or
    cancelled before its first attempt) did not leave; a rejected one was not
    kept by the receiver.
    """
    rows = (
        OutboxMessage.objects.filter(legal_basis=legal_basis)
        .exclude(status=OutboxStatus.REJECTED)
        .filter(models.Q(status=OutboxStatus.SENT) | models.Q(attempts__gt=0))
        .values_list("peer_id", flat=True)
        .distinct()
    )
    return list(Peer.objects.filter(pk__in=list(rows)).order_by("node_id"))


def cancel_pending_for_basis(
    *, legal_basis: str, actor: Any = None
) -> list[OutboxMessage]:
    """Cancel the messages under ``legal_basis`` that have not left yet (inside
    the caller's transaction, e.g. a consent's withdrawal) and return them.

    Cancelled: every pending or retrying message under the basis, except one
    in a conversation whose delivery was already attempted (``attempts > 0``):
    the peer may have applied it (its receipt lost), and cancelling it would
    hand its sequence number to the next message, which the peer would refuse
    as reused. It is left to finish; the withdrawal notice that follows it in
    the same conversation restricts it on arrival
    (:func:`recipients_of_basis` counts that peer).

    A cancelled message of a conversation would leave a gap the peer waits on
    for ever (messages are applied in ``seq`` order), so the later unsent
    messages of that conversation move down to close it and the
    conversation's counter goes back by as many; the cancelled row leaves the
    conversation (its ``conversation`` is cleared, ``last_error`` says why).
    Each cancellation is audited (``exchange.message_cancelled``).
    """
    candidates = list(
        OutboxMessage.objects.select_for_update()
        .filter(
            legal_basis=legal_basis,
            status__in=[OutboxStatus.PENDING, OutboxStatus.RETRYING],
        )
        .order_by("created_at", "seq")
    )
    cancelled: list[OutboxMessage] = []
    by_conversation: dict[tuple[int, str], list[OutboxMessage]] = {}
    for message in candidates:
        if message.conversation:
            if message.attempts > 0:
                continue
            by_conversation.setdefault(
                (message.peer_id, message.conversation), []
            ).append(message)
        else:
            _cancel(message, actor=actor)
            cancelled.append(message)
    for (peer_id, reference), messages in by_conversation.items():
        cancelled.extend(
            _cancel_in_conversation(
                peer_id=peer_id, reference=reference, messages=messages, actor=actor
            )
        )
    return cancelled


def _cancel(message: OutboxMessage, *, actor: Any, conversation: str = "") -> None:
    message.status = OutboxStatus.CANCELLED
    message.last_error = CANCELLED_CONSENT_WITHDRAWN
    fields = ["status", "last_error"]
    if message.conversation:
        message.conversation = ""
        fields.append("conversation")
    message.save(update_fields=fields)
    audit.record(
        actor=actor,
        action="exchange.message_cancelled",
        target_type="exchange.message",
        target_id=str(message.msg_id),
        data={
            "type": message.type,
            "to": message.peer.node_id,
            "digest": message.payload_digest,
            "reason": CANCELLED_CONSENT_WITHDRAWN,
            "conversation": conversation,
            "seq": message.seq,
        },
    )


def _cancel_in_conversation(
    *, peer_id: int, reference: str, messages: list[OutboxMessage], actor: Any
) -> list[OutboxMessage]:
    state = Conversation.objects.select_for_update().get(
        peer_id=peer_id, reference=reference
    )
    gone = {m.msg_id for m in messages}
    first = min(m.seq for m in messages)
    later = list(
        OutboxMessage.objects.select_for_update()
        .filter(peer_id=peer_id, conversation=reference, seq__gt=first)
        .exclude(msg_id__in=gone)
        .order_by("seq")
    )
    if any(
        m.status not in {OutboxStatus.PENDING, OutboxStatus.RETRYING} for m in later
    ):
        # A later message already left (or ended): its seq cannot move, so the
        # cancelled ones would leave a gap. Never the case while the worker
        # sends only the head of a conversation; refuse to guess.
        return []
    for message in messages:
        _cancel(message, actor=actor, conversation=reference)
    removed = sorted(m.seq for m in messages)
    for message in later:
        shift = sum(1 for seq in removed if seq < message.seq)
        if shift:
            message.seq -= shift
            message.save(update_fields=["seq"])
    state.last_out_seq -= len(removed)
    state.save(update_fields=["last_out_seq"])
    return messages
