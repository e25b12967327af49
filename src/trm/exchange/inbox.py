"""The inbox: receive one message from a peer (EXCHANGE.md §1, §2).

:func:`receive` takes the body of ``POST /exchange/v1/messages`` (a compact
JWE) and returns the answer; the view only reads the body and writes the
answer. The checks run in this order, cheapest and least revealing first:

a. routing (unencrypted JWE header): addressed to this node (``not_for_me``),
   sent by an active peer (``unknown_sender``);
b. a message already recorded from that peer answers with its original
   receipt and changes nothing (EXCHANGE.md §1.4);
c. decrypt with the key the header names, verify the inner signature with the
   peer's signing keys (``undecryptable``, ``unknown_key``, ``bad_signature``,
   ``header_mismatch``, ``malformed``). A signing key the peer never published
   to this node (it rotated its keys) is not final: the worker is asked to
   refresh the peer (:func:`trm.exchange.peers.request_refresh`) and the
   answer is "retry later" with code ``unknown_key``;
d. freshness of ``sent_at`` (``stale``);
e. the type and version are registered with a handler (``unsupported_type``),
   the payload fits the schema (``schema_invalid``), the categories are allowed
   by the type (``category_not_allowed``) and covered by the legal basis
   (``legal_basis_missing``);
f. order within the conversation: the next ``seq`` is applied, a later one is
   answered "retry later" (nothing recorded), an earlier one ``seq_reused``;
g. the handler applies the message and the message is recorded, in one
   transaction (EXCHANGE.md §1.4). A handler's DomainError refuses it: what the
   handler wrote is rolled back, the refusal is recorded (``refused:<code>``)
   and its ``seq`` is consumed.

Every answer is JSON carrying a compact JWS signed with this node's current
signing key over ``{"msg_id", "from", "to", "digest", "status", "code",
"received_at"}``: ``{"receipt": …}`` (202, or 200 for a duplicate),
``{"rejection": …, "code": …}`` (4xx) or ``{"retry_later": …, "code":
"retry_later" | "unknown_key"}`` (409). :func:`receive_batch` answers
several messages at once, each as :func:`receive` would, applying them in
one transaction. Rejections before (g) are audited
(code, digest; the claimed message id only if it is a UUID and the claimed
sender only if it is a peer), not recorded as messages. Nothing here logs or
audits a payload.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
)

from trm.audit import services as audit
from trm.common.db import update_rows
from trm.common.errors import DomainError
from trm.exchange import envelope, nodekeys, peers, registry
from trm.exchange.models import (
    Conversation,
    ExchangeKey,
    InboxMessage,
    InboxStatus,
    KeyUse,
    Peer,
    PeerStatus,
)
from trm.exchange.services import (
    LEGAL_OBLIGATION,
    PSEUDONYMOUS,
    VITAL_INTEREST,
    seal_inbound_payload,
)

logger = logging.getLogger(__name__)

#: HTTP status of each rejection code (``refused:<code>`` answers 422).
STATUS: dict[str, int] = {
    "malformed": 400,
    "undecryptable": 400,
    "header_mismatch": 400,
    "unknown_key": 403,
    "bad_signature": 403,
    "unknown_sender": 403,
    "stale": 403,
    "too_large": 413,
    "not_for_me": 421,
    "unsupported_type": 422,
    "schema_invalid": 422,
    "category_not_allowed": 422,
    "legal_basis_missing": 422,
    "seq_reused": 422,
    "refused": 422,
}
RETRY_LATER = 409


@dataclass(frozen=True)
class Answer:
    """What the inbox answers: an HTTP status and a JSON object."""

    status_code: int
    json_body: dict[str, Any]


class _Claims(BaseModel):
    """The signed claims of a message (EXCHANGE.md §2), strictly typed.

    Unknown claims are ignored so a later protocol revision may add some.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    msg_id: UUID
    type: str = Field(min_length=1, max_length=64)
    v: int = Field(ge=1, le=32767)
    sender: str = Field(alias="from", min_length=1, max_length=64)
    to: str = Field(min_length=1, max_length=64)
    sent_at: AwareDatetime
    conversation: str = Field(default="", max_length=64)
    seq: int = Field(default=0, ge=0, le=2**31 - 1)
    in_reply_to: UUID | None = None
    legal_basis: str = Field(min_length=1, max_length=200)
    categories: list[str] = Field(default_factory=list, max_length=32)
    reply_by: AwareDatetime | None = None


class _UnknownSigner(Exception):
    """Signed by a key the peer has not published to this node (yet)."""


class _Refusal(Exception):
    """A permanent rejection found before the message is applied."""

    def __init__(self, code: str, fields: list[str] | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.fields = fields or []


# --- signed answers ----------------------------------------------------------------


def _sign(claims: dict[str, Any]) -> str:
    key = nodekeys.current(KeyUse.SIGNING)
    return envelope.sign_receipt(
        claims, signing_key=nodekeys.private_key(key.kid), signing_kid=key.kid
    )


def _answer_claims(
    *, msg_id: str, sender: str, digest: str, status: str, code: str, now: datetime
) -> dict[str, Any]:
    return {
        "msg_id": msg_id,
        "from": settings.TRM_NODE_ID,
        "to": sender,
        "digest": digest,
        "status": status,
        "code": code,
        "received_at": now.isoformat(),
    }


def rejection(
    code: str,
    *,
    msg_id: str = "",
    sender: str = "",
    digest: str = "",
    now: datetime | None = None,
    fields: list[str] | None = None,
    audited: bool = True,
) -> Answer:
    """Return a signed rejection with ``code`` (audited unless told not to).

    The audit entry holds the code, the digest of the body, the message id the
    body claimed only if it is a UUID, and the claimed sender only if it is a
    peer of this node: whoever can reach the inbox must not be able to write
    readable text of their choice into the audit log.
    """
    now = now or timezone.now()
    token = _sign(
        _answer_claims(
            msg_id=msg_id,
            sender=sender,
            digest=digest,
            status="rejected",
            code=code,
            now=now,
        )
    )
    if audited:
        with transaction.atomic():
            audit.record(
                actor=None,
                action="exchange.message_refused",
                target_type="exchange.message",
                target_id=_uuid_text(msg_id),
                data={"code": code, "digest": digest, "from": _peer_text(sender)},
            )
    body: dict[str, Any] = {"rejection": token, "code": code}
    if fields:
        body["fields"] = fields
    return Answer(STATUS[code.split(":", 1)[0]], body)


def _uuid_text(value: str) -> str:
    """``value`` as a canonical UUID, or "" when it is not one."""
    try:
        return str(UUID(value))
    except (ValueError, TypeError, AttributeError):
        return ""


def _peer_text(node_id: str) -> str:
    """``node_id`` if it names a peer of this node (of any status), else ""."""
    if not node_id or not Peer.objects.filter(node_id=node_id[:64]).exists():
        return ""
    return node_id[:64]


def _unknown_signer(*, peer: Peer, msg_id: str, digest: str, now: datetime) -> Answer:
    """The peer signed with a key this node has not seen: it has probably
    rotated its keys. Ask the worker to refresh them (key continuity decides
    whether they are trusted) and answer "retry later" with code
    ``unknown_key`` (409), so the sender tries again with backoff."""
    peers.request_refresh(node_id=peer.node_id, reason="unknown_key", now=now)
    return _retry_later(
        msg_id=msg_id, sender=peer.node_id, digest=digest, code="unknown_key", now=now
    )


def _retry_later(
    *, msg_id: str, sender: str, digest: str, code: str, now: datetime
) -> Answer:
    """A signed "retry later" (409): ``order_gap`` (an earlier message of the
    conversation is missing) or ``unknown_key`` (the sender's new key is being
    fetched). The JSON ``code`` of an order gap stays ``retry_later``."""
    token = _sign(
        _answer_claims(
            msg_id=msg_id,
            sender=sender,
            digest=digest,
            status="retry_later",
            code=code,
            now=now,
        )
    )
    json_code = "unknown_key" if code == "unknown_key" else "retry_later"
    return Answer(RETRY_LATER, {"retry_later": token, "code": json_code})


def _stored_answer(stored: InboxMessage) -> Answer:
    """The original answer to a message already recorded (a re-delivery)."""
    if stored.status == InboxStatus.APPLIED:
        return Answer(200, {"receipt": stored.receipt})
    return Answer(
        STATUS["refused"], {"rejection": stored.receipt, "code": stored.error_code}
    )


def no_keys_answer() -> Answer:
    """503: this node has no exchange keys yet (``trm keys init``)."""
    return Answer(
        503,
        {
            "error": {
                "code": "exchange.no_keys",
                "message": _("This node has no exchange keys yet."),
                "details": {},
            }
        },
    )


# --- checks ----------------------------------------------------------------------


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def signing_keys(
    peer: Peer, *, now: datetime | None = None, grace: timedelta | None = None
) -> dict[str, dict[str, Any]]:
    """Return the peer's public signing JWKs by kid.

    With ``now`` and ``grace``, a key the peer retired more than ``grace``
    before ``now`` is left out (a message signed just before a rotation may
    still be in flight; an older one would be stale anyway). Without them every
    signing key counts (receipts, which may be old originals, are verified so).
    """
    keys: dict[str, dict[str, Any]] = {}
    for jwk in peer.keys or []:
        if not isinstance(jwk, dict) or jwk.get("use") != KeyUse.SIGNING:
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str):
            continue
        if "retired_at" in jwk and now is not None and grace is not None:
            retired = _parse_time(jwk["retired_at"])
            if retired is None or retired < now - grace:
                continue
        keys[kid] = {k: v for k, v in jwk.items() if k != "retired_at"}
    return keys


def _open(
    body: bytes, header: dict[str, Any], peer: Peer, now: datetime
) -> envelope.Opened:
    try:
        decryption_key = nodekeys.private_key(header["kid"])
    except ExchangeKey.DoesNotExist:
        raise envelope.EnvelopeError("unknown_key", "no such key here") from None
    skew = timedelta(seconds=settings.TRM_EXCHANGE_CLOCK_SKEW_SECONDS)
    try:
        return envelope.open_envelope(
            body,
            decryption_key=decryption_key,
            sender_keys=signing_keys(peer, now=now, grace=skew),
        )
    except envelope.EnvelopeError as exc:
        if exc.code == "unknown_key" and header["skid"] not in signing_keys(peer):
            # Never published to this node (a key retired long ago is known
            # and stays refused): the peer may have rotated since.
            raise _UnknownSigner from None
        raise


def _check_legal_basis(
    mtype: registry.MessageType, legal_basis: str, categories: set[str]
) -> None:
    """The receiver's share of EXCHANGE.md §1.7: the basis's form fits the
    categories and the type (whether a consent exists is the sender's check)."""
    personal = categories - registry.FREE_CATEGORIES
    kind = legal_basis.split(":", 1)[0]
    if legal_basis == PSEUDONYMOUS:
        if personal:
            raise _Refusal("legal_basis_missing")
        return
    if legal_basis == VITAL_INTEREST or kind == LEGAL_OBLIGATION:
        if kind not in mtype.exceptions or (
            kind == LEGAL_OBLIGATION and not legal_basis.split(":", 1)[1].strip()
        ):
            raise _Refusal("legal_basis_missing")
        return
    if kind == "consent" and legal_basis.split(":", 1)[1].strip():
        return
    raise _Refusal("legal_basis_missing")


def _validate(
    opened: envelope.Opened, now: datetime
) -> tuple[_Claims, registry.MessageType, BaseModel]:
    try:
        claims = _Claims.model_validate(opened.claims)
    except ValidationError:
        raise _Refusal("malformed") from None
    skew = timedelta(seconds=settings.TRM_EXCHANGE_CLOCK_SKEW_SECONDS)
    if abs(now - claims.sent_at) > skew:
        raise _Refusal("stale")
    mtype = registry.message_type(claims.type, claims.v)
    if mtype is None or mtype.handler is None:
        raise _Refusal("unsupported_type")
    try:
        payload = mtype.schema.model_validate(opened.payload)
    except ValidationError as exc:
        fields = sorted({".".join(map(str, e["loc"])) for e in exc.errors()})
        raise _Refusal("schema_invalid", [f[:64] for f in fields[:20]]) from None
    categories = set(claims.categories)
    if not categories <= (mtype.categories & registry.CATEGORIES):
        raise _Refusal("category_not_allowed")
    if mtype.carried is not None and not mtype.carried(payload) <= categories:
        # The payload holds data its envelope does not declare.
        raise _Refusal("category_not_allowed")
    _check_legal_basis(mtype, claims.legal_basis, categories)
    return claims, mtype, payload


# --- receive -------------------------------------------------------------------


@dataclass(frozen=True)
class _Checked:
    """A message that passed the checks (a)-(e), ready to apply."""

    peer: Peer
    claims: _Claims
    mtype: registry.MessageType
    payload: BaseModel
    digest: str


def _check(
    body: bytes,
    *,
    now: datetime,
    known_peers: dict[str, Peer | None],
    recorded: dict[tuple[int, UUID], InboxMessage] | None = None,
) -> Answer | _Checked:
    """Run the checks (a)-(e) on one body: its answer when they end it (a
    rejection, a re-delivery's original answer, "retry later" for an unknown
    signing key), otherwise the checked message. ``known_peers`` caches the
    peers looked up (a batch comes from one peer); ``recorded``, when given,
    holds the messages of the batch already recorded, by ``(peer id,
    msg_id)`` (one query for the batch instead of one per message)."""
    digest = envelope.body_digest(body)
    try:
        header = envelope.routing(body)
    except envelope.EnvelopeError:
        return rejection("malformed", digest=digest, now=now)
    sender, msg_id_text = header["from"][:64], header["msg_id"][:64]
    refuse = {"msg_id": msg_id_text, "sender": sender, "digest": digest, "now": now}
    try:
        msg_id = UUID(msg_id_text)
    except ValueError:
        return rejection("malformed", **refuse)
    if header["to"] != settings.TRM_NODE_ID:
        return rejection("not_for_me", **refuse)
    if sender not in known_peers:
        known_peers[sender] = Peer.objects.filter(
            node_id=sender, status=PeerStatus.ACTIVE
        ).first()
    peer = known_peers[sender]
    if peer is None:
        return rejection("unknown_sender", **refuse)
    if recorded is None:
        stored = InboxMessage.objects.filter(peer=peer, msg_id=msg_id).first()
    else:
        stored = recorded.get((peer.pk, msg_id))
    if stored is not None:
        return _stored_answer(stored)
    try:
        opened = _open(body, header, peer, now)
        claims, mtype, payload = _validate(opened, now)
    except _UnknownSigner:
        return _unknown_signer(peer=peer, msg_id=str(msg_id), digest=digest, now=now)
    except envelope.EnvelopeError as exc:
        return rejection(exc.code, **refuse)
    except _Refusal as exc:
        return rejection(exc.code, fields=exc.fields, **refuse)
    return _Checked(peer, claims, mtype, payload, digest)


def receive(body: bytes, *, now: datetime | None = None) -> Answer:
    """Check, apply and record one message; return the signed answer (a batch
    of one: :func:`receive_batch`).

    Args:
        body: the request body (a compact JWE), already size-checked.
        now: the time to check freshness against (tests); default now.
    """
    return receive_batch([body], now=now)[0]


def receive_batch(
    bodies: list[bytes], *, now: datetime | None = None, _retried: bool = False
) -> list[Answer]:
    """Check, apply and record several messages; return one answer per body,
    in order, each exactly what :func:`receive` would answer for it.

    The checked messages are applied in ONE transaction, each in a savepoint
    of its own, in the order given: one commit (and one lock of the audit
    log's head) for the whole batch instead of one per message, which is what
    makes a busy channel fast (docs/exchange.md, "Performance"). A message
    whose apply fails unexpectedly is answered 500 (its sender retries it)
    without affecting the others. The messages are recorded together after
    the last one is applied (one insert); if that or the commit fails, nothing
    of the batch was kept and every message is retried.

    Args:
        bodies: compact JWEs, each already size-checked.
        now: the time to check freshness against (tests); default now.
    """
    clock = now
    now = now or timezone.now()
    if not nodekeys.has_keys():
        return [no_keys_answer() for _body in bodies]
    known_peers: dict[str, Peer | None] = {}
    recorded = _recorded_among(bodies)
    answers: list[Answer | None] = []
    pending: list[tuple[int, _Checked]] = []
    for index, body in enumerate(bodies):
        checked = _check(body, now=now, known_peers=known_peers, recorded=recorded)
        if isinstance(checked, Answer):
            answers.append(checked)
        else:
            answers.append(None)
            pending.append((index, checked))
    if pending:
        try:
            applied = _apply_batch(pending, now=now, applied_at=clock)
        except IntegrityError:
            # A message of the batch was recorded meanwhile by a concurrent
            # delivery of it (the unique (peer, msg_id)): nothing of this
            # attempt was kept. Once more, the checks answer it as a
            # re-delivery; a second conflict is left to the sender's retry.
            if _retried:
                raise
            return receive_batch(bodies, now=clock, _retried=True)
        for index, answer in applied:
            answers[index] = answer
    return [answer or internal_error_answer() for answer in answers]


def _recorded_among(bodies: list[bytes]) -> dict[tuple[int, UUID], InboxMessage]:
    """The messages of ``bodies`` already recorded here, by ``(peer id,
    msg_id)`` (their routing headers read; unreadable ones are skipped)."""
    ids = set()
    for body in bodies:
        try:
            ids.add(UUID(envelope.routing(body)["msg_id"][:64]))
        except (envelope.EnvelopeError, ValueError):
            continue
    if not ids:
        return {}
    return {
        (stored.peer_id, stored.msg_id): stored
        for stored in InboxMessage.objects.filter(msg_id__in=ids)
    }


def internal_error_answer() -> Answer:
    """500: the message could not be processed now (the sender retries)."""
    return Answer(
        500,
        {
            "error": {
                "code": "exchange.internal",
                "message": _("The message could not be processed."),
                "details": {},
            }
        },
    )


@transaction.atomic(durable=True)
def _apply_batch(
    pending: list[tuple[int, _Checked]], *, now: datetime, applied_at: datetime | None
) -> list[tuple[int, Answer]]:
    answers: list[tuple[int, Answer]] = []
    applied: list[_Applied] = []
    conversations: dict[tuple[int, str], Conversation] = {}
    recorded: set[tuple[int, UUID]] = set()
    for index, checked in pending:
        key = (checked.peer.pk, checked.claims.msg_id)
        if key in recorded:
            # Twice in one batch: answered as a re-delivery of the first.
            first = next(done for done in applied if done.key == key)
            answers.append((index, _stored_answer(first.row)))
            continue
        # A savepoint per message, rolled back if it fails; not released when
        # it succeeds (the commit releases them all: one statement less per
        # message). At most TRM_EXCHANGE_BATCH_MAX are open at once.
        savepoint = transaction.savepoint()
        try:
            answer, done = _apply_checked(
                checked, now=now, applied_at=applied_at, conversations=conversations
            )
        except Exception as exc:
            transaction.savepoint_rollback(savepoint)
            # The error's text could hold data: its kind only.
            logger.error("exchange inbox failed: %s", type(exc).__name__)
            answer, done = internal_error_answer(), None
        if done is not None:
            applied.append(done)
            recorded.add(key)
            if done.conversation is not None:
                conversations[(checked.peer.pk, done.conversation.reference)] = (
                    done.conversation
                )
        answers.append((index, answer))
    if applied:
        _record(applied, conversations=list(conversations.values()))
    return answers


@dataclass(frozen=True)
class _Applied:
    """A message applied in this transaction, to be recorded (:func:`_record`)."""

    key: tuple[int, UUID]
    answer: Answer
    row: InboxMessage
    conversation: Conversation | None
    entry: _Received


def _record(applied: list[_Applied], *, conversations: list[Conversation]) -> None:
    """Record a transaction's applied messages: one insert into the inbox,
    one update of their conversations' ``last_in_seq``, the observers (the
    case timeline), one chained audit append per sender.

    Raises:
        IntegrityError: one of them was recorded meanwhile by a concurrent
            delivery (the caller's transaction rolls back).
    """
    InboxMessage.objects.bulk_create([done.row for done in applied])
    if conversations:
        update_rows(Conversation, conversations, ["last_in_seq"])
    for done in applied:
        for observer in registry.observers():
            observer("in", done.row)
    _audit_received([done.entry for done in applied])


@dataclass(frozen=True)
class _Received:
    """The audit entry of one recorded message (written with the others of
    its transaction by :func:`_audit_received`)."""

    sender: str
    msg_id: str
    data: dict[str, Any]


def _audit_received(received: list[_Received]) -> None:
    """Audit ``exchange.message_received`` for each recorded message, one
    chained append per sender (one lock of the audit head)."""
    by_sender: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for entry in received:
        by_sender.setdefault(entry.sender, []).append((entry.msg_id, entry.data))
    for sender, items in by_sender.items():
        audit.record_many(
            actor=f"node:{sender}",
            action="exchange.message_received",
            target_type="exchange.message",
            items=items,
        )


def _handler_block() -> transaction.Atomic:
    """The savepoint the handler runs in.

    Handlers apply a message by calling the same domain services a person
    would, and those are ``atomic(durable=True)``. Here they deliberately run
    inside the inbox's transaction, so that applying and recording commit or
    roll back together (EXCHANGE.md §1.4): the savepoint is marked as one that
    a durable block may nest in, as Django's TestCase marks its own.
    """
    block = transaction.atomic()
    block._from_testcase = True  # type: ignore[attr-defined]
    return block


def _locked_conversation(peer: Peer, reference: str) -> Conversation:
    """The conversation's row, created if new, locked until the transaction
    ends: it serialises the messages of one shared case, so the order check
    and the apply see the same ``last_in_seq``.

    One statement (an upsert that returns the row; the update on conflict
    takes the row's lock on PostgreSQL; SQLite has one writer at a time): it
    runs for every received message of a conversation.
    """
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(Conversation._meta.db_table)} "  # noqa: S608 - names only
            "(peer_id, reference, last_out_seq, last_in_seq) VALUES (%s, %s, 0, 0) "
            "ON CONFLICT (peer_id, reference) DO UPDATE SET reference = "
            "excluded.reference RETURNING id, last_out_seq, last_in_seq",
            [peer.pk, reference],
        )
        pk, last_out_seq, last_in_seq = cursor.fetchone()
    return Conversation(
        pk=pk,
        peer=peer,
        reference=reference,
        last_out_seq=last_out_seq,
        last_in_seq=last_in_seq,
    )


def _apply_checked(
    checked: _Checked,
    *,
    now: datetime,
    applied_at: datetime | None,
    conversations: dict[tuple[int, str], Conversation],
) -> tuple[Answer, _Applied | None]:
    """Apply one checked message inside the caller's transaction; return the
    answer and, when it is to be recorded, what :func:`_record` records
    (``now``: when it arrived, what its answer says; ``applied_at``: a fixed
    apply time for tests, otherwise the time it is applied, after waiting for
    its conversation's lock, so received messages sort in the order they were
    applied). ``conversations`` holds the conversations this transaction
    already locked and moved on, by ``(peer id, reference)``.

    A re-delivery racing the first delivery is caught either here (its
    conversation's lock was held by the first: its ``seq`` is no longer ahead)
    or by the unique ``(peer, msg_id)`` of the inbox when recorded.
    """
    peer, claims, mtype = checked.peer, checked.claims, checked.mtype
    payload, digest = checked.payload, checked.digest
    msg_id = str(claims.msg_id)
    state: Conversation | None = None
    if claims.conversation:
        known = conversations.get((peer.pk, claims.conversation))
        state = known or _locked_conversation(peer, claims.conversation)
    seq = claims.seq if state is not None else 0
    if state is not None:
        if seq <= state.last_in_seq:
            stored = InboxMessage.objects.filter(
                peer=peer, msg_id=claims.msg_id
            ).first()
            if stored is not None:
                return _stored_answer(stored), None
            return rejection(
                "seq_reused", msg_id=msg_id, sender=peer.node_id, digest=digest, now=now
            ), None
        if seq > state.last_in_seq + 1:
            return _retry_later(
                msg_id=msg_id,
                sender=peer.node_id,
                digest=digest,
                code="order_gap",
                now=now,
            ), None
    inbound = registry.Inbound(
        sender=peer.node_id,
        sender_country=peer.country,
        msg_id=claims.msg_id,
        type=mtype.name,
        version=mtype.version,
        conversation=claims.conversation,
        seq=seq,
        in_reply_to=claims.in_reply_to,
        legal_basis=claims.legal_basis,
        categories=tuple(sorted(set(claims.categories))),
        sent_at=claims.sent_at,
        reply_by=claims.reply_by,
        payload=payload,
    )
    assert mtype.handler is not None  # noqa: S101 - checked by _validate
    status, code, case_id = InboxStatus.APPLIED, "", None
    try:
        with _handler_block():
            case_id = mtype.handler(inbound)
    except DomainError as exc:
        status, code = InboxStatus.REJECTED, f"refused:{exc.code}"[:64]
    token = _sign(
        _answer_claims(
            msg_id=msg_id,
            sender=peer.node_id,
            digest=digest,
            status="accepted" if status == InboxStatus.APPLIED else "rejected",
            code=code,
            now=now,
        )
    )
    canonical_payload = nodekeys.canonical(payload.model_dump(mode="json"))
    stored_case = case_id if isinstance(case_id, UUID) else None
    # A refused message's data was not accepted: it is not kept. An applied
    # one is sealed under the data key of the person of the case it touched
    # (gone with their erasure), else the node's key.
    sealed, payload_key_id = (
        seal_inbound_payload(
            mtype=mtype,
            case_id=stored_case,
            msg_id=claims.msg_id,
            plaintext=canonical_payload,
        )
        if status == InboxStatus.APPLIED
        else (None, None)
    )
    message = InboxMessage(
        peer=peer,
        msg_id=claims.msg_id,
        type=mtype.name,
        version=mtype.version,
        conversation=claims.conversation,
        seq=seq,
        in_reply_to=claims.in_reply_to,
        legal_basis=claims.legal_basis,
        categories=sorted(set(claims.categories)),
        case_id=stored_case,
        payload_sealed=sealed,
        payload_key_id=payload_key_id,
        envelope_digest=digest,
        status=status,
        error_code=code,
        received_at=applied_at or timezone.now(),
        receipt=token,
    )
    if state is not None:
        state = Conversation(
            pk=state.pk,
            peer=peer,
            reference=state.reference,
            last_out_seq=state.last_out_seq,
            last_in_seq=seq,
        )
    entry = _Received(
        sender=peer.node_id,
        msg_id=msg_id,
        data={
            "type": mtype.name,
            "from": peer.node_id,
            "digest": digest,
            "payload_digest": nodekeys.sha256_hex(canonical_payload),
            "status": status,
            "code": code,
        },
    )
    answer = (
        Answer(202, {"receipt": token})
        if status == InboxStatus.APPLIED
        else Answer(STATUS["refused"], {"rejection": token, "code": code})
    )
    done = _Applied((peer.pk, claims.msg_id), answer, message, state, entry)
    return answer, done
