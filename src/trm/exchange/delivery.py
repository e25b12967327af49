"""Delivery: the worker's side of the outbox (EXCHANGE.md §1.3, §1.5, §2).

:func:`deliver_due` claims the messages due for sending, seals each one
(sign, then encrypt to the peer's current encryption key), POSTs it to the
peer's inbox and records the outcome:

* a receipt signed by the peer for this message → ``sent`` (the receipt, its
  claims and the digest it signs are kept);
* "retry later" (the peer misses an earlier message of the conversation) → a
  short wait, not counted as an attempt;
* a signed rejection → ``rejected`` (terminal);
* anything else (network error, 5xx, an answer that does not verify) →
  ``retrying`` after ``min(cap, base·2^attempts)`` seconds with jitter, and
  ``dead`` after ``TRM_EXCHANGE_MAX_ATTEMPTS`` failures.

The national contact points are told of rejected and dead messages by one
e-mail per run listing message ids, types, peers and error codes (no personal
data, no payload).

**Claiming.** Only the head of each conversation is due: a message waits while
an earlier ``seq`` to the same peer in the same conversation is unsent. A claim
pushes ``next_attempt_at`` forward by a lease (``TRM_EXCHANGE_LEASE_SECONDS``)
with a compare-and-set ``UPDATE … WHERE msg_id = … AND next_attempt_at =
<seen>``, so two workers never both claim a message, on SQLite as on
PostgreSQL (where the candidates are also read ``FOR UPDATE SKIP LOCKED`` so
workers do not queue behind each other). A worker that dies after claiming
leaves the message to be retried when the lease ends; if it died after the peer
applied it, the peer answers the re-delivery with its original receipt.

Network I/O happens outside any database transaction. One worker sends up to
``TRM_EXCHANGE_CONCURRENCY`` messages at a time from a pool of threads (each
with its own database connection); a batch never holds two messages of one
conversation (only heads are due), so order is kept.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from trm.accounts.models import Role, User
from trm.audit import services as audit
from trm.common.db import update_rows
from trm.common.errors import DomainError
from trm.exchange import envelope, inbox, nodekeys, peers, transport
from trm.exchange.errors import PeerUnreachable
from trm.exchange.models import (
    KeyUse,
    OutboxMessage,
    OutboxStatus,
    Peer,
    PeerStatus,
)
from trm.exchange.services import ERASED, PayloadGone, cancel_erased, sealed_payload

logger = logging.getLogger(__name__)

UNSENT = (OutboxStatus.PENDING, OutboxStatus.RETRYING)
#: Earlier messages in these states will never reach the peer (until an
#: operator retries them): a "retry later" behind one of them never ends.
GAVE_UP = (OutboxStatus.DEAD, OutboxStatus.REJECTED, OutboxStatus.CANCELLED)
INBOX_PATH = "/exchange/v1/messages"
BATCH_PATH = "/exchange/v1/batch"

_rng = random.SystemRandom()


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt ended in (``sent``, ``retrying``,
    ``rejected``, ``dead``, or ``cancelled`` when its payload was erased) and
    the short error code, if any."""

    status: str
    code: str = ""
    #: For ``sent``: the receipt, its claims and when it arrived (recorded for
    #: the whole batch at once by :func:`_mark_sent`).
    receipt: str = ""
    claims: dict[str, Any] | None = None
    at: datetime | None = None


# --- claiming ----------------------------------------------------------------------


def _due(now: datetime) -> QuerySet[OutboxMessage]:
    earlier_unsent = OutboxMessage.objects.filter(
        ~Q(conversation=""),  # lets the planner use the (peer, conversation, seq) index
        peer_id=OuterRef("peer_id"),
        conversation=OuterRef("conversation"),
        seq__lt=OuterRef("seq"),
        status__in=UNSENT,
    )
    return (
        OutboxMessage.objects.filter(
            status__in=UNSENT,
            next_attempt_at__lte=now,
            peer__status=PeerStatus.ACTIVE,
        )
        .annotate(blocked=Exists(earlier_unsent))
        .filter(Q(conversation="") | Q(blocked=False))
        .order_by("created_at", "seq")
    )


def candidates(*, now: datetime, limit: int) -> list[tuple[UUID, datetime]]:
    """Return ``(msg_id, next_attempt_at)`` of due messages, oldest first.

    Only heads of conversations, only to active peers. On PostgreSQL rows
    another worker is claiming right now are skipped (``SKIP LOCKED``).
    """
    return list(
        _due(now)
        .select_for_update(skip_locked=True, of=("self",))
        .values_list("msg_id", "next_attempt_at")[:limit]
    )


def claim(
    seen: list[tuple[UUID, datetime]], *, now: datetime, locked: bool = False
) -> list[UUID]:
    """Claim the messages of ``seen`` still as they were seen; return the ids
    this caller got (compare-and-set on ``next_attempt_at``, one statement per
    message). With ``locked`` (the caller's transaction holds the rows' locks,
    as :func:`candidates` takes them on PostgreSQL) all are claimed in one
    statement.

    A claim counts as an attempt: from then on the peer may have the message
    (a worker can die after the POST and before recording the receipt), which
    is what ``attempts > 0`` tells the consent withdrawal.
    """
    lease = now + timedelta(seconds=settings.TRM_EXCHANGE_LEASE_SECONDS)
    if seen and locked:
        # The caller's transaction locked these rows when it read them
        # (PostgreSQL's FOR UPDATE SKIP LOCKED), so no other worker can take
        # them meanwhile: one statement claims them all.
        ids = [msg_id for msg_id, _next in seen]
        OutboxMessage.objects.filter(msg_id__in=ids, status__in=UNSENT).update(
            next_attempt_at=lease, attempts=F("attempts") + 1
        )
        return ids
    won = []
    for msg_id, next_attempt_at in seen:
        updated = OutboxMessage.objects.filter(
            msg_id=msg_id, next_attempt_at=next_attempt_at, status__in=UNSENT
        ).update(next_attempt_at=lease, attempts=F("attempts") + 1)
        if updated == 1:
            won.append(msg_id)
    return won


def claim_due(*, now: datetime, limit: int) -> list[OutboxMessage]:
    """Claim up to ``limit`` due messages for this worker (oldest first)."""
    with transaction.atomic():
        ids = claim(
            candidates(now=now, limit=limit),
            now=now,
            locked=connection.features.has_select_for_update_skip_locked,
        )
    return list(
        OutboxMessage.objects.filter(msg_id__in=ids)
        .select_related("peer")
        .order_by("created_at", "seq")
    )


# --- sealing and sending -------------------------------------------------------------


class _NoPeerKey(Exception):
    """The peer published no current encryption key."""


def peer_encryption_key(peer: Peer) -> dict[str, Any]:
    """Return the peer's current encryption JWK (the first unretired one: a
    node publishes its current keys first).

    Raises:
        _NoPeerKey: none.
    """
    for jwk in peer.keys or []:
        if (
            isinstance(jwk, dict)
            and jwk.get("use") == KeyUse.ENCRYPTION
            and isinstance(jwk.get("kid"), str)
            and "retired_at" not in jwk
        ):
            return dict(jwk)
    raise _NoPeerKey(peer.node_id)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def seal_message(message: OutboxMessage, *, now: datetime) -> str:
    """Return the compact JWE of ``message`` as sent at ``now``.

    Each attempt is sealed afresh (new ``sent_at``, new encryption), so a
    retry hours later is still fresh for the peer.
    """
    claims = {
        "msg_id": str(message.msg_id),
        "type": message.type,
        "v": message.version,
        "from": settings.TRM_NODE_ID,
        "to": message.peer.node_id,
        "sent_at": now.isoformat(),
        "conversation": message.conversation,
        "seq": message.seq,
        "in_reply_to": str(message.in_reply_to) if message.in_reply_to else None,
        "legal_basis": message.legal_basis,
        "categories": list(message.categories),
        "reply_by": _iso(message.reply_by),
    }
    signing = nodekeys.current(KeyUse.SIGNING)
    return envelope.seal(
        claims=claims,
        payload=sealed_payload(message),
        signing_key=nodekeys.private_key(signing.kid),
        signing_kid=signing.kid,
        recipient_jwk=peer_encryption_key(message.peer),
    )


def _verified(
    token: Any,
    *,
    message: OutboxMessage,
    status: str,
    digest: str | None = None,
) -> dict[str, Any] | None:
    """Return the claims of a peer's signed answer if it is about ``message``.

    A receipt answering a re-delivery is the original one, over the digest of
    the body the peer first received; only a fresh receipt (202) must sign the
    digest of this body.
    """
    if not isinstance(token, str):
        return None
    try:
        claims = envelope.verify_receipt(
            token, signer_keys=inbox.signing_keys(message.peer)
        )
    except envelope.EnvelopeError as exc:
        if exc.code == "unknown_key":
            # Signed by a key the peer has not published to this node yet
            # (it rotated): have the worker refresh its keys (key continuity
            # decides); meanwhile the answer does not count.
            peers.request_refresh(node_id=message.peer.node_id, reason="unknown_key")
        return None
    if (
        claims.get("msg_id") != str(message.msg_id)
        or claims.get("status") != status
        or claims.get("from") != message.peer.node_id
        or claims.get("to") != settings.TRM_NODE_ID
        or not isinstance(claims.get("digest"), str)
    ):
        return None
    if digest is not None and claims["digest"] != digest:
        return None
    return claims


def _sealed(message: OutboxMessage, *, now: datetime | None) -> str | Outcome:
    """The compact JWE of this attempt, or the outcome when it cannot be
    sealed (payload erased: cancelled; no key of the peer; an error)."""
    try:
        return seal_message(message, now=now or timezone.now())
    except PayloadGone:
        # Erased with the person (or forgotten) before it left: never sent.
        cancel_erased(message)
        return Outcome("cancelled", ERASED)
    except _NoPeerKey:
        return _failed(message, "no_peer_key", now=now or timezone.now())
    except Exception as exc:
        logger.error("exchange: sealing failed: %s", type(exc).__name__)
        return _failed(message, "seal_failed", now=now or timezone.now())


def _deliver_one(
    message: OutboxMessage, *, client: httpx.Client, now: datetime | None
) -> Outcome:
    """Seal, send and record one message. ``now`` fixes the clock (tests);
    otherwise each step reads the time it happens at."""
    body = _sealed(message, now=now)
    if isinstance(body, Outcome):
        return body
    digest = envelope.body_digest(body)
    url = message.peer.base_url.rstrip("/") + INBOX_PATH
    try:
        # One deadline for the whole attempt, however the peer answers (a
        # trickle of bytes included), and a cap on the answer's size.
        response = transport.bounded_request(
            client,
            "POST",
            url,
            seconds=settings.TRM_EXCHANGE_TIMEOUT_SECONDS,
            max_bytes=transport.MAX_ANSWER_BYTES,
            content=body.encode("ascii"),
            headers={"Content-Type": "application/jose", "Accept": "application/json"},
        )
    except transport.TransferError as exc:
        code = "answer_too_large" if exc.code == "too_large" else exc.code
        return _failed(message, code, now=now or timezone.now())
    return _answered(message, response, digest=digest, now=now or timezone.now())


def _binds(claims: dict[str, Any], *, message: OutboxMessage, digest: str) -> bool:
    """Whether a signed rejection is about the body sent in this attempt.

    A rejection found before the peer applied anything signs the digest of
    the body it received, so a rejection of another body (one a proxy
    altered, say) cannot be replayed against this one. The exception is a
    handler's refusal (``refused:<code>``): the peer records it and answers
    every re-delivery with the original, over the body it first received —
    the digest this node stored when that answer first came, if it did.
    """
    signed = claims["digest"]
    if signed == digest:
        return True
    code = str(claims.get("code") or "")
    if code.startswith("refused:"):
        return not message.envelope_digest or signed == message.envelope_digest
    return False


def _answered(
    message: OutboxMessage, response: transport.Fetched, *, digest: str, now: datetime
) -> Outcome:
    try:
        data = json.loads(response.content)
    except (ValueError, RecursionError):
        data = None
    return _judged(message, response.status_code, data, digest=digest, now=now)


def _judged(
    message: OutboxMessage, status: int, data: Any, *, digest: str, now: datetime
) -> Outcome:
    """Record what the peer answered about ``message`` (HTTP ``status`` and
    JSON ``data``, alone or as one result of a batch); return the outcome."""
    if not isinstance(data, dict):
        return _failed(message, f"http_{status}", now=now)
    if status in (200, 202) and "receipt" in data:
        token = data["receipt"]
        claims = _verified(
            token,
            message=message,
            status="accepted",
            digest=digest if status == 202 else None,
        )
        if claims is None:
            return _failed(message, "bad_receipt", now=now)
        return Outcome("sent", receipt=token, claims=claims, at=now)
    if status == 409 and "retry_later" in data:
        claims = _verified(
            data["retry_later"], message=message, status="retry_later", digest=digest
        )
        if claims is None:
            return _failed(message, "bad_receipt", now=now)
        if claims.get("code") == "unknown_key":
            # The peer does not know this node's signing key yet (this node
            # rotated its keys) and is refreshing them: try again with
            # backoff, counting attempts.
            return _failed(message, "unknown_key", now=now)
        return _retry_later(message, now=now)
    if 400 <= status < 500 and "rejection" in data:
        token = data["rejection"]
        claims = _verified(token, message=message, status="rejected")
        if claims is None:
            return _failed(message, "bad_receipt", now=now)
        code = str(claims.get("code") or "rejected")[:64]
        if code == "too_large" and not claims["digest"]:
            # Signed without a digest (the peer did not read the body), so
            # not tied to this body: not final, tried again until it dies.
            return _failed(message, "too_large", now=now)
        if not _binds(claims, message=message, digest=digest):
            return _failed(message, "bad_receipt", now=now)
        if code == "unknown_key":
            # An older receiver's answer to a key it does not know yet: it
            # may learn the key (a refresh), so this is not final.
            return _failed(message, "unknown_key", now=now)
        _mark_rejected(message, token=token, claims=claims, code=code)
        return Outcome("rejected", code)
    return _failed(message, f"http_{status}", now=now)


# --- recording outcomes ------------------------------------------------------------


def _audit_data(message: OutboxMessage, **more: Any) -> dict[str, Any]:
    return {"type": message.type, "to": message.peer.node_id, **more}


def _mark_sent(delivered: list[tuple[OutboxMessage, Outcome]]) -> None:
    """Record the receipts of a batch in one transaction (one audit entry
    per message, chained with one lock of the audit head).

    A message cancelled while it was in flight (a consent withdrawn, the
    person erased, between the claim and the receipt) is recorded as sent
    all the same: the receipt proves the peer has it. Its audit entry says
    so (``cancelled_in_flight``), after the cancellation's; the withdrawal's
    notice reaches that peer (:func:`trm.exchange.services.recipients_of_basis`
    counts every message a worker attempted).
    """
    if not delivered:
        return
    rows = []
    for message, outcome in delivered:
        claims = outcome.claims or {}
        message.status = OutboxStatus.SENT
        message.sent_at = outcome.at
        message.receipt = outcome.receipt
        message.receipt_claims = claims
        message.envelope_digest = str(claims.get("digest", ""))[:64]
        message.last_error = ""
        rows.append(message)
    with transaction.atomic():
        cancelled = set(
            OutboxMessage.objects.filter(
                msg_id__in=[m.msg_id for m in rows], status=OutboxStatus.CANCELLED
            ).values_list("msg_id", flat=True)
        )
        update_rows(
            OutboxMessage,
            rows,
            [
                "status",
                "sent_at",
                "receipt",
                "receipt_claims",
                "envelope_digest",
                "last_error",
            ],
        )
        audit.record_many(
            actor=None,
            action="exchange.message_delivered",
            target_type="exchange.message",
            items=[
                (
                    str(message.msg_id),
                    _audit_data(
                        message,
                        digest=str((outcome.claims or {}).get("digest", "")),
                        receipt_digest=nodekeys.sha256_hex(outcome.receipt.encode()),
                        **(
                            {"cancelled_in_flight": True}
                            if message.msg_id in cancelled
                            else {}
                        ),
                    ),
                )
                for message, outcome in delivered
            ],
        )


def _mark_rejected(
    message: OutboxMessage, *, token: str, claims: dict[str, Any], code: str
) -> None:
    with transaction.atomic():
        OutboxMessage.objects.filter(msg_id=message.msg_id, status__in=UNSENT).update(
            status=OutboxStatus.REJECTED,
            receipt=token,
            receipt_claims=claims,
            envelope_digest=claims["digest"][:64],
            last_error=code,
        )
        audit.record(
            actor=None,
            action="exchange.message_rejected",
            target_type="exchange.message",
            target_id=str(message.msg_id),
            data=_audit_data(message, code=code, digest=claims["digest"]),
        )


def backoff_seconds(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failure (1-based): the capped
    exponential ``min(cap, base·2^(attempts-1))`` times a jitter in [0.5, 1]."""
    base = settings.TRM_EXCHANGE_RETRY_BASE_SECONDS
    cap = settings.TRM_EXCHANGE_RETRY_CAP_SECONDS
    exponent = min(max(attempts - 1, 0), 40)
    return float(min(cap, base * 2**exponent)) * _rng.uniform(0.5, 1.0)


def _failed(message: OutboxMessage, code: str, *, now: datetime) -> Outcome:
    # The claim already counted this attempt.
    attempts = message.attempts
    dead = attempts >= settings.TRM_EXCHANGE_MAX_ATTEMPTS
    with transaction.atomic():
        updated = OutboxMessage.objects.filter(
            msg_id=message.msg_id, status__in=UNSENT
        ).update(
            status=OutboxStatus.DEAD if dead else OutboxStatus.RETRYING,
            attempts=attempts,
            next_attempt_at=now
            if dead
            else now + timedelta(seconds=backoff_seconds(attempts)),
            last_error=code[:64],
        )
        if dead and updated:
            audit.record(
                actor=None,
                action="exchange.message_dead",
                target_type="exchange.message",
                target_id=str(message.msg_id),
                data=_audit_data(message, attempts=attempts, code=code),
            )
    return Outcome("dead" if dead else "retrying", code)


def _retry_later(message: OutboxMessage, *, now: datetime) -> Outcome:
    """The peer misses an earlier message of the conversation: wait briefly,
    unless that earlier message will never come (then the gap is permanent)."""
    gap = OutboxMessage.objects.filter(
        peer_id=message.peer_id,
        conversation=message.conversation,
        seq__lt=message.seq,
        status__in=GAVE_UP,
    ).exists()
    if message.conversation and gap:
        with transaction.atomic():
            updated = OutboxMessage.objects.filter(
                msg_id=message.msg_id, status__in=UNSENT
            ).update(status=OutboxStatus.DEAD, last_error="order_gap")
            if updated:
                audit.record(
                    actor=None,
                    action="exchange.message_dead",
                    target_type="exchange.message",
                    target_id=str(message.msg_id),
                    data=_audit_data(
                        message, attempts=message.attempts, code="order_gap"
                    ),
                )
        return Outcome("dead", "order_gap")
    wait = timedelta(seconds=settings.TRM_EXCHANGE_RETRY_BASE_SECONDS)
    # The peer has not applied it (it would answer a duplicate with its
    # receipt): the attempt the claim counted is given back.
    OutboxMessage.objects.filter(msg_id=message.msg_id, status__in=UNSENT).update(
        attempts=max(message.attempts - 1, 0),
        status=OutboxStatus.RETRYING,
        next_attempt_at=now + wait,
        last_error="retry_later",
    )
    return Outcome("retrying", "retry_later")


# --- telling the national contact points ---------------------------------------------


def contact_points() -> QuerySet[User]:
    """Active people holding the national contact point role (never node users)."""
    return (
        User.objects.filter(
            is_active=True, memberships__role=Role.NATIONAL_CONTACT_POINT
        )
        .filter(Q(organisation__isnull=True) | Q(organisation__is_active=True))
        .exclude(email="")
        .exclude(username__startswith="node.")
        .distinct()
        .order_by("pk")
    )


def notify_failures(failed: list[tuple[OutboxMessage, Outcome]]) -> int:
    """E-mail the national contact points about rejected and dead messages.

    One e-mail per person per run, listing message ids, types, peers and error
    codes only. Returns the number of e-mails sent.
    """
    if not failed:
        return 0
    sent = 0
    recipients = list(contact_points())
    for user in recipients:
        language = user.preferred_language or settings.LANGUAGE_CODE
        with translation.override(language):
            lines = []
            for message, outcome in failed:
                values = {
                    "id": message.msg_id,
                    "type": message.type,
                    "peer": message.peer.node_id,
                    "code": outcome.code or "—",
                }
                if outcome.status == "dead":
                    line = _(
                        "%(id)s (%(type)s to %(peer)s): not delivered, gave up "
                        "(%(code)s)."
                    )
                else:
                    line = _(
                        "%(id)s (%(type)s to %(peer)s): rejected by the receiving "
                        "node (%(code)s)."
                    )
                lines.append(line % values)
            subject = _("TRM: %(n)d exchange message(s) not delivered") % {
                "n": len(failed)
            }
            body = "\n".join(
                [
                    _(
                        "These messages to other TRM nodes could not be delivered "
                        "and will not be retried automatically:"
                    ),
                    "",
                    *lines,
                    "",
                    _(
                        "Check them under Exchange on this node, where a node "
                        "administrator can retry them: %(url)s"
                    )
                    % {"url": f"{settings.TRM_BASE_URL}/exchange/"},
                ]
            )
        try:
            send_mail(subject, body, None, [user.email], fail_silently=False)
        except Exception as exc:
            logger.warning("exchange failure e-mail failed: %s", type(exc).__name__)
            continue
        sent += 1
    with transaction.atomic():
        audit.record(
            actor=None,
            action="exchange.failures_notified",
            target_type="exchange.message",
            data={
                "messages": [str(m.msg_id) for m, _o in failed],
                "recipients": len(recipients),
                "emails": sent,
            },
        )
    return sent


# --- refreshing peers that rotated their keys ----------------------------------------

#: At most one refresh of a peer's keys per this time, whatever asks for it.
REFRESH_MIN_INTERVAL = timedelta(seconds=60)
#: When a refresh fails because the peer could not be reached, try again after.
REFRESH_RETRY_UNREACHABLE = timedelta(seconds=60)
#: When it was refused (broken key continuity, another country, a document
#: that does not verify), an administrator must act; try again after.
REFRESH_RETRY_REFUSED = timedelta(hours=1)


def refresh_requested_peers(
    *, now: datetime | None = None, client: httpx.Client | None = None
) -> dict[str, int]:
    """Refresh the keys of the peers that asked for it; return counts.

    A peer is refreshed when :func:`trm.exchange.peers.request_refresh`
    marked it (it signed a message or an answer with a key this node did not
    know), it is active, the request is due and it was not refreshed (or
    otherwise changed) within :data:`REFRESH_MIN_INTERVAL`.
    :func:`~trm.exchange.peers.peer_refresh` takes new keys only if a key this
    node already trusts signed them; on success the request is cleared. A
    failure is audited (``exchange.peer_refresh_failed``, its error code) and
    the request is due again later.

    Returns:
        ``{"refreshed", "failed"}`` counts.
    """
    moment = now or timezone.now()
    counts = {"refreshed": 0, "failed": 0}
    due = Peer.objects.filter(
        status=PeerStatus.ACTIVE,
        refresh_requested_at__lte=moment,
        updated_at__lte=moment - REFRESH_MIN_INTERVAL,
    ).order_by("refresh_requested_at")
    for peer in due:
        try:
            peers.peer_refresh(node_id=peer.node_id, client=client, automatic=True)
        except DomainError as exc:
            later = (
                REFRESH_RETRY_UNREACHABLE
                if isinstance(exc, PeerUnreachable)
                else REFRESH_RETRY_REFUSED
            )
            reason = str(exc.details.get("reason", ""))[:64]
            _refresh_failed(peer, exc.code, reason=reason, retry_at=moment + later)
        except Exception as exc:
            # Not a refusal: name the kind of error only (its text could hold
            # anything) and try again a minute later, not at every run.
            logger.error("exchange: refreshing a peer failed: %s", type(exc).__name__)
            _refresh_failed(
                peer,
                "exchange.internal",
                reason=type(exc).__name__[:64],
                retry_at=moment + REFRESH_RETRY_UNREACHABLE,
            )
        else:
            counts["refreshed"] += 1
            continue
        counts["failed"] += 1
    return counts


def _refresh_failed(peer: Peer, code: str, *, reason: str, retry_at: datetime) -> None:
    """Audit a failed automatic refresh and make the request due at ``retry_at``."""
    with transaction.atomic():
        Peer.objects.filter(pk=peer.pk, refresh_requested_at__isnull=False).update(
            refresh_requested_at=retry_at
        )
        audit.record(
            actor=None,
            action="exchange.peer_refresh_failed",
            target_type="exchange.peer",
            target_id=peer.node_id,
            data={
                "node": peer.node_id,
                "code": code,
                "reason": reason,
                "retry_at": retry_at.isoformat(),
            },
        )


# --- the run ------------------------------------------------------------------------

_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


_client: httpx.Client | None = None


def _http_client() -> httpx.Client:
    """The worker process's HTTP client (:func:`trm.exchange.transport.
    http_client`: no redirects, the node's client certificate; created on
    first use, kept: building one loads the TLS trust store, tens of
    milliseconds of CPU that every run of an idle worker would otherwise
    spend). Each request opens and closes its own connection."""
    global _client
    with _pool_lock:
        if _client is None:
            _client = transport.http_client()
        return _client


def _sender_pool() -> ThreadPoolExecutor:
    """The worker process's sending threads (created on first use, kept: each
    keeps its database connection between runs)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=settings.TRM_EXCHANGE_CONCURRENCY,
                thread_name_prefix="trm-exchange-send",
            )
        return _pool


def _chunks(batch: list[OutboxMessage]) -> list[list[OutboxMessage]]:
    """Split claimed messages into requests: per peer, at most
    ``TRM_EXCHANGE_BATCH_SIZE`` messages each, in the order claimed."""
    by_peer: dict[int, list[OutboxMessage]] = {}
    for message in batch:
        by_peer.setdefault(message.peer_id, []).append(message)
    chunks = []
    for peer_id, messages in by_peer.items():
        size = 1 if _takes_no_batches(peer_id) else settings.TRM_EXCHANGE_BATCH_SIZE
        chunks += [messages[i : i + size] for i in range(0, len(messages), size)]
    return chunks


#: Peers that answered a batch as a node without the batch endpoint does, by
#: id, and until when (``time.monotonic()``) they are sent one message per
#: request (each request in a sending thread of its own).
_no_batches: dict[int, float] = {}
NO_BATCHES_MEMORY_SECONDS = 600.0


def _takes_no_batches(peer_id: int) -> bool:
    until = _no_batches.get(peer_id)
    return until is not None and until > time.monotonic()


def _release(message: OutboxMessage, *, now: datetime) -> Outcome:
    """Give a claimed message back unsent (its attempt too), due at once."""
    OutboxMessage.objects.filter(msg_id=message.msg_id, status__in=UNSENT).update(
        attempts=max(message.attempts - 1, 0), next_attempt_at=now
    )
    return Outcome("retrying", "no_batches")


def _send_batch(
    batch: list[OutboxMessage], *, client: httpx.Client, now: datetime | None
) -> list[tuple[OutboxMessage, Outcome]]:
    """Deliver claimed messages: several to one peer in one request
    (:func:`_deliver_chunk`), several requests at a time when configured.

    A batch holds at most one message per conversation (only heads are
    claimed), so sending its messages side by side keeps every conversation's
    order.
    """
    chunks = _chunks(batch)
    if settings.TRM_EXCHANGE_CONCURRENCY <= 1 or len(chunks) <= 1:
        results = [_deliver_chunk(c, client=client, now=now) for c in chunks]
    else:
        results = list(
            _sender_pool().map(
                lambda c: _deliver_chunk(c, client=client, now=now), chunks
            )
        )
    return [pair for chunk in results for pair in chunk]


def _deliver_chunk(
    chunk: list[OutboxMessage], *, client: httpx.Client, now: datetime | None
) -> list[tuple[OutboxMessage, Outcome]]:
    """Seal and send messages to one peer in one ``POST /exchange/v1/batch``
    and record each one's answer as if it had been sent alone.

    One message goes alone through :func:`_deliver_one`. A peer that does not
    take batches (it answers 404, 405, 400 or 413: an older node, or a smaller
    limit) gets the chunk's first message alone at once; the others are given
    back due at once, and the peer's messages go one per request for
    :data:`NO_BATCHES_MEMORY_SECONDS`. A failed request (time-out, refused
    connection, an answer that is not a batch's) counts as a failed attempt
    of each message.
    """
    if len(chunk) == 1:
        return [(chunk[0], _deliver_one(chunk[0], client=client, now=now))]
    outcomes: dict[UUID, Outcome] = {}
    sealed: list[tuple[OutboxMessage, str, str]] = []
    for message in chunk:
        body_or_outcome = _sealed(message, now=now)
        if isinstance(body_or_outcome, Outcome):
            outcomes[message.msg_id] = body_or_outcome
        else:
            sealed.append(
                (message, body_or_outcome, envelope.body_digest(body_or_outcome))
            )
    if sealed:
        peer = sealed[0][0].peer
        content = json.dumps({"messages": [body for _m, body, _d in sealed]})
        try:
            response = transport.bounded_request(
                client,
                "POST",
                peer.base_url.rstrip("/") + BATCH_PATH,
                seconds=settings.TRM_EXCHANGE_TIMEOUT_SECONDS,
                max_bytes=transport.MAX_ANSWER_BYTES * len(sealed),
                content=content.encode("ascii"),
                headers={
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                },
            )
        except transport.TransferError as exc:
            code = "answer_too_large" if exc.code == "too_large" else exc.code
            for message, _body, _digest in sealed:
                outcomes[message.msg_id] = _failed(
                    message, code, now=now or timezone.now()
                )
        else:
            if response.status_code in (400, 404, 405, 413):
                # No batches there: the first goes alone now; the others are
                # given back, due at once, and go one per request in parallel
                # (in series they could outlast the claim's lease).
                _no_batches[peer.pk] = time.monotonic() + NO_BATCHES_MEMORY_SECONDS
                head, *rest = sealed
                outcomes[head[0].msg_id] = _deliver_one(head[0], client=client, now=now)
                for message, _body, _digest in rest:
                    outcomes[message.msg_id] = _release(
                        message, now=now or timezone.now()
                    )
            else:
                results = _batch_results(response, expected=len(sealed))
                for position, (message, _body, digest) in enumerate(sealed):
                    moment = now or timezone.now()
                    if results is None:
                        code = f"http_{response.status_code}"
                        outcomes[message.msg_id] = _failed(message, code, now=moment)
                    else:
                        status, data = results[position]
                        outcomes[message.msg_id] = _judged(
                            message, status, data, digest=digest, now=moment
                        )
    return [(message, outcomes[message.msg_id]) for message in chunk]


def _batch_results(
    response: transport.Fetched, *, expected: int
) -> list[tuple[int, Any]] | None:
    """``(status, JSON)`` of each message from a batch's answer, or None if
    it is not a 200 with exactly ``expected`` well-formed results."""
    if response.status_code != 200:
        return None
    try:
        data = json.loads(response.content)
    except (ValueError, RecursionError):
        return None
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list) or len(results) != expected:
        return None
    parsed = []
    for result in results:
        if not isinstance(result, dict) or type(result.get("status")) is not int:
            return None
        parsed.append((result["status"], result.get("body")))
    return parsed


def deliver_due(
    *,
    now: datetime | None = None,
    limit: int = 100,
    client: httpx.Client | None = None,
) -> dict[str, int]:
    """Send the messages due now; return counts by outcome.

    First refreshes the keys of peers that asked for it
    (:func:`refresh_requested_peers`: they signed with a key this node did not
    know yet), so their messages and answers verify again.

    Args:
        now: the time of the run (tests); default now.
        limit: the most messages handled in this run.
        client: the HTTP client (tests); default the worker process's own
            (:func:`_http_client`).

    Returns:
        ``{"sent", "retrying", "rejected", "dead"}`` counts, and
        ``"cancelled"`` when a message's payload was erased before it left.
    """
    counts = {"sent": 0, "retrying": 0, "rejected": 0, "dead": 0}
    if not nodekeys.has_keys():
        # Nothing can be signed yet: leave the outbox as it is (no attempt is
        # spent) until `trm keys init` has run.
        return counts
    failed: list[tuple[OutboxMessage, Outcome]] = []
    # Each request has its own overall deadline (transport.bounded_request).
    http = client or _http_client()
    try:
        try:
            refresh_requested_peers(now=now, client=http)
        except Exception as exc:
            # Never stops delivery; the request stays and is tried next run.
            logger.error("exchange: refreshing peers failed: %s", type(exc).__name__)
        handled = 0
        # A conversation's next message becomes due once its predecessor is
        # sent, so claim again until nothing more is due.
        while handled < limit:
            batch = claim_due(now=now or timezone.now(), limit=limit - handled)
            if not batch:
                break
            results = _send_batch(batch, client=http, now=now)
            _mark_sent([(m, o) for m, o in results if o.status == "sent"])
            for message, outcome in results:
                counts[outcome.status] = counts.get(outcome.status, 0) + 1
                if outcome.status in ("rejected", "dead"):
                    failed.append((message, outcome))
            handled += len(batch)
    finally:
        if failed:
            try:
                notify_failures(failed)
            except Exception as exc:
                logger.error("exchange: notifying failed: %s", type(exc).__name__)
    return counts
