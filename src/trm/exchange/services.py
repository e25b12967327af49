"""The exchange's writers: enqueue a message (called by domain services).

Domain services never do network I/O (EXCHANGE.md §4): they call
:func:`enqueue` inside their own transaction, which validates the payload
against the message type's schema, checks the legal basis against the
categories carried (§1.7), numbers the message within its conversation (§1.5)
and writes a sealed outbox row. ``trm worker`` sends it
(:mod:`trm.exchange.delivery`).

**Stored payloads and erasure.** The stored copy of a message about a case —
in the outbox, and in the inbox once applied — is sealed under the data key of
the case's person when its type may carry data of the person
(:func:`seal_payload`); destroying that key when the person is erased makes it
unreadable, like the person's own record. A type carrying no data category
(acknowledgements, closure and withdrawal notices and their confirmations)
holds nothing of the person and stays under the node's exchange key, so a
withdrawal notice queued just before an erasure still leaves. Erasure also
blanks what was stored of the person's cases (:func:`forget_payloads_for_cases`)
and a withdrawal received from a peer blanks what arrived under that consent
(:func:`forget_payloads`). Readers use :func:`stored_payload` (None: no longer
held); a message whose payload is gone before it left is cancelled
(``last_error`` ``erased``), never sent.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from pydantic import BaseModel, ValidationError

from trm.audit import services as audit
from trm.dataprotection import crypto
from trm.dataprotection.models import DataKey
from trm.dataprotection.router import KEYSTORE
from trm.exchange import registry
from trm.exchange.errors import LegalBasisMissing, MessageInvalid, PeerUnavailable
from trm.exchange.models import (
    Conversation,
    InboxMessage,
    InboxStatus,
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


class PayloadGone(Exception):
    """The stored payload is no longer held: the person was erased, or what
    arrived under a consent was forgotten when the consent was withdrawn."""


def payload_key(mtype: registry.MessageType, case_id: UUID | None) -> UUID | None:
    """Return the data key a message's payload is sealed under: the key of the
    case's person when the type may carry data of the person, else None (the
    node's exchange key)."""
    if case_id is None or not mtype.categories:
        return None
    lookup = registry.data_key_lookup()
    return lookup(case_id) if lookup is not None else None


def seal_payload(
    *,
    mtype: registry.MessageType,
    case_id: UUID | None,
    msg_id: UUID,
    direction: str,
    plaintext: bytes,
) -> tuple[bytes, UUID | None]:
    """Seal a payload for storage; return ``(sealed, payload_key_id)``.

    Under the person's data key (:func:`payload_key`), else the node's key.

    Raises:
        trm.dataprotection.crypto.KeyDestroyed: the person's key was destroyed
            meanwhile (an erasure under way).
    """
    context = payload_context(msg_id, direction)
    key_id = payload_key(mtype, case_id)
    if key_id is not None:
        return crypto.seal_for(key_id, plaintext, context=context), key_id
    return crypto.seal_node(PURPOSE, plaintext, context=context), None


def seal_inbound_payload(
    *,
    mtype: registry.MessageType,
    case_id: UUID | None,
    msg_id: UUID,
    plaintext: bytes,
) -> tuple[bytes | None, UUID | None]:
    """Seal an applied inbound payload for the inbox (:func:`seal_payload`);
    ``(None, None)`` when the person it is about was erased meanwhile (it is
    not kept)."""
    try:
        sealed, key_id = seal_payload(
            mtype=mtype,
            case_id=case_id,
            msg_id=msg_id,
            direction="in",
            plaintext=plaintext,
        )
    except crypto.KeyDestroyed:
        return None, None
    return sealed, key_id


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
        MessageInvalid: unknown type, payload not valid for its schema,
            categories the type does not allow, or the person's data key was
            destroyed (``details["reason"] == "erased"``).
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
    body = model.model_dump(mode="json")
    msg_id = uuid.uuid4()
    try:
        # Sealed before the conversation's counter moves: a refusal here
        # leaves no gap in it.
        sealed, key_id = seal_payload(
            mtype=mtype,
            case_id=case_id,
            msg_id=msg_id,
            direction="out",
            plaintext=canonical(body),
        )
    except crypto.KeyDestroyed:
        raise MessageInvalid(
            _("The person's data was erased: nothing about them can be sent."),
            details={"type": mtype.name, "reason": ERASED},
        ) from None
    seq = 0
    if conversation:
        state, _created = Conversation.objects.select_for_update().get_or_create(
            peer=peer, reference=conversation
        )
        state.last_out_seq += 1
        state.save(update_fields=["last_out_seq"])
        seq = state.last_out_seq
    now = timezone.now()
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
        payload_sealed=sealed,
        payload_key_id=key_id,
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


def stored_payload(message: OutboxMessage | InboxMessage) -> dict[str, Any] | None:
    """Unseal the stored payload of a message in or out; None when it is no
    longer held (the person was erased, the payload was forgotten after a
    withdrawal, or an inbound message was refused and never kept).

    Raises:
        trm.common.keys.DecryptionFailed: the stored payload was altered.
    """
    direction = "out" if isinstance(message, OutboxMessage) else "in"
    blob = message.payload_sealed
    if not blob:
        return None
    context = payload_context(message.msg_id, direction)
    raw: bytes | None
    if message.payload_key_id is not None:
        raw = crypto.open_for(message.payload_key_id, blob, context=context)
    else:
        raw = crypto.unseal_node(PURPOSE, blob, context=context)
    if raw is None:
        return None
    value = json.loads(raw)
    return value if isinstance(value, dict) else None


def sealed_payload(message: OutboxMessage) -> dict[str, Any]:
    """Unseal an outgoing payload (the worker, and the case team's view).

    Raises:
        PayloadGone: no longer held (:func:`stored_payload` returns None).
        trm.common.keys.DecryptionFailed: the stored payload was altered.
    """
    value = stored_payload(message)
    if value is None:
        raise PayloadGone(str(message.msg_id))
    return value


def _live_key(key_id: UUID) -> bool:
    return (
        DataKey.objects.using(KEYSTORE)
        .filter(pk=key_id, wrapped__isnull=False)
        .exists()
    )


def payload_gone(message: OutboxMessage | InboxMessage) -> bool:
    """Whether the message had a payload that is no longer held (erased or
    forgotten). A refused inbound message never kept one: not "gone". Reads
    no payload (for the operator view, whoever looks)."""
    if isinstance(message, InboxMessage) and message.status != InboxStatus.APPLIED:
        return False
    if not message.payload_sealed:
        return True
    return message.payload_key_id is not None and not _live_key(message.payload_key_id)


# --- consent withdrawn: what went out under a basis ------------------------------

#: Why a message was cancelled before sending (``OutboxMessage.last_error``).
CANCELLED_CONSENT_WITHDRAWN = "consent_withdrawn"
#: ... and why once its payload was erased with the person (never sent).
ERASED = "erased"


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
    return _cancel_unsent(candidates, actor=actor, reason=CANCELLED_CONSENT_WITHDRAWN)


def _cancel_unsent(
    candidates: list[OutboxMessage], *, actor: Any, reason: str
) -> list[OutboxMessage]:
    """Cancel ``candidates`` (locked, unsent) as :func:`cancel_pending_for_basis`
    describes; return those cancelled."""
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
            _cancel(message, actor=actor, reason=reason)
            cancelled.append(message)
    for (peer_id, reference), messages in by_conversation.items():
        cancelled.extend(
            _cancel_in_conversation(
                peer_id=peer_id,
                reference=reference,
                messages=messages,
                actor=actor,
                reason=reason,
            )
        )
    return cancelled


def _cancel(
    message: OutboxMessage,
    *,
    actor: Any,
    conversation: str = "",
    reason: str = CANCELLED_CONSENT_WITHDRAWN,
) -> None:
    message.status = OutboxStatus.CANCELLED
    message.last_error = reason
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
            "reason": reason,
            "conversation": conversation,
            "seq": message.seq,
        },
    )


def _cancel_in_conversation(
    *,
    peer_id: int,
    reference: str,
    messages: list[OutboxMessage],
    actor: Any,
    reason: str = CANCELLED_CONSENT_WITHDRAWN,
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
        _cancel(message, actor=actor, conversation=reference, reason=reason)
    removed = sorted(m.seq for m in messages)
    for message in later:
        shift = sum(1 for seq in removed if seq < message.seq)
        if shift:
            message.seq -= shift
            message.save(update_fields=["seq"])
    state.last_out_seq -= len(removed)
    state.save(update_fields=["last_out_seq"])
    return messages


# --- forgetting stored payloads (erasure, withdrawal received) ----------------------


def cancel_erased(message: OutboxMessage, *, actor: Any = None) -> bool:
    """Cancel an unsent message whose payload is gone (``last_error``
    ``erased``), audited; return False if it was no longer unsent.

    Called by the worker when it finds the payload gone. A message whose
    delivery was never attempted before this claim (``attempts <= 1``) leaves
    its conversation, the later unsent messages closing the gap as in
    :func:`cancel_pending_for_basis`; an earlier attempt may have reached the
    peer, so such a message keeps its place.
    """
    with transaction.atomic():
        row = (
            OutboxMessage.objects.select_for_update()
            .select_related("peer")
            .filter(
                msg_id=message.msg_id,
                status__in=[OutboxStatus.PENDING, OutboxStatus.RETRYING],
            )
            .first()
        )
        if row is None:
            return False
        if row.conversation and row.attempts <= 1:
            done = _cancel_in_conversation(
                peer_id=row.peer_id,
                reference=row.conversation,
                messages=[row],
                actor=actor,
                reason=ERASED,
            )
            if done:
                return True
        row.status = OutboxStatus.CANCELLED
        row.last_error = ERASED
        row.save(update_fields=["status", "last_error"])
        audit.record(
            actor=actor,
            action="exchange.message_cancelled",
            target_type="exchange.message",
            target_id=str(row.msg_id),
            data={
                "type": row.type,
                "to": row.peer.node_id,
                "digest": row.payload_digest,
                "reason": ERASED,
                "conversation": row.conversation,
                "seq": row.seq,
            },
        )
    return True


def forget_payloads(*, peer_node: str, legal_basis: str, actor: Any = None) -> int:
    """Forget the stored payloads of every message received from ``peer_node``
    under ``legal_basis`` (e.g. ``consent:<id>`` once the peer withdrew it),
    inside the caller's transaction; return how many were forgotten.

    The rows stay (routing fields, digests, receipt: the record that the
    message came); only the payload goes. Audited as
    ``exchange.payloads_forgotten`` with counts only.
    """
    forgotten = InboxMessage.objects.filter(
        peer__node_id=peer_node,
        legal_basis=legal_basis,
        payload_sealed__isnull=False,
    ).update(payload_sealed=None)
    audit.record(
        actor=actor,
        action="exchange.payloads_forgotten",
        target_type="exchange.peer",
        target_id=peer_node[:64],
        data={
            "reason": "consent_withdrawn",
            "legal_basis": legal_basis.split(":", 1)[0],
            "incoming": forgotten,
        },
    )
    return forgotten


@dataclass(frozen=True)
class Forgotten:
    """What :func:`forget_payloads_for_cases` did (counts only)."""

    outgoing: int
    incoming: int
    cancelled: int


def forget_payloads_for_cases(
    *, case_ids: Iterable[UUID], actor: Any = None
) -> Forgotten:
    """Forget the stored payloads of the messages about these cases that may
    hold data of the person (their person is being erased), inside the
    caller's transaction, before the person's data key is destroyed.

    Every such payload is blanked, whichever key sealed it (older rows were
    sealed under the node's key). Those that have not left yet are cancelled
    (``last_error`` ``erased``), closing gaps in their conversations where
    that is safe (:func:`cancel_pending_for_basis`); one the worker already
    tried in a conversation keeps its place and is cancelled when the worker
    finds its payload gone. Messages of types that carry nothing of the
    person (withdrawal and closure notices, acknowledgements) are kept: they
    still leave. Audited as ``exchange.payloads_forgotten`` (counts only).
    """
    ids = list(case_ids)
    if not ids:
        return Forgotten(0, 0, 0)

    def personal(rows: Iterable[OutboxMessage | InboxMessage]) -> list[Any]:
        return [r for r in rows if registry.holds_personal_data(r.type, r.version)]

    unsent = personal(
        OutboxMessage.objects.select_for_update()
        .select_related("peer")
        .filter(
            case_id__in=ids,
            status__in=[OutboxStatus.PENDING, OutboxStatus.RETRYING],
        )
        .order_by("created_at", "seq")
    )
    cancelled = _cancel_unsent(unsent, actor=actor, reason=ERASED)
    outgoing = personal(
        OutboxMessage.objects.filter(case_id__in=ids)
        .exclude(payload_sealed=b"")
        .only("msg_id", "type", "version")
    )
    incoming = personal(
        InboxMessage.objects.filter(case_id__in=ids, payload_sealed__isnull=False).only(
            "id", "type", "version"
        )
    )
    OutboxMessage.objects.filter(pk__in=[m.pk for m in outgoing]).update(
        payload_sealed=b""
    )
    InboxMessage.objects.filter(pk__in=[m.pk for m in incoming]).update(
        payload_sealed=None
    )
    result = Forgotten(len(outgoing), len(incoming), len(cancelled))
    if result.outgoing or result.incoming or result.cancelled:
        audit.record(
            actor=actor,
            action="exchange.payloads_forgotten",
            target_type="exchange.message",
            data={
                "reason": ERASED,
                "cases": [str(i) for i in ids],
                "outgoing": result.outgoing,
                "incoming": result.incoming,
                "cancelled": result.cancelled,
            },
        )
    return result
