"""The operator view of the exchange: readers and the retry writer.

Who: node administrators and national contact points (:data:`OPERATOR_ROLES`)
see every peer, its message counts and the routing fields of its messages —
type, conversation, sequence, legal basis kind, categories, attempts, digests,
receipt claims. None of that is personal data (a proxy sees it too,
EXCHANGE.md §1.2). The payload is shown only to a member of the case team of
the message's case, as the cases app answers through
:func:`trm.exchange.registry.case_access`, and each such read is audited
(``exchange.payload_viewed``). A payload erased with the person or forgotten
after a withdrawal is shown as no longer held, to anyone who looks. Only
node administrators manage peers
(:mod:`trm.exchange.peers`); operators may send a dead, rejected or retrying
message again (:func:`message_retry`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import Organisation, Role, User
from trm.audit import services as audit
from trm.common.keys import DecryptionFailed
from trm.exchange import nodekeys, registry
from trm.exchange.envelope import EnvelopeError, verify_receipt
from trm.exchange.errors import (
    InvalidFilter,
    MessageNotFound,
    MessageNotRetryable,
    NotExchangeOperator,
    PeerNotFound,
)
from trm.exchange.models import (
    InboxMessage,
    InboxStatus,
    KeyUse,
    OutboxMessage,
    OutboxStatus,
    Peer,
)
from trm.exchange.services import payload_gone, stored_payload

#: Who sees the operator view (and may retry messages).
OPERATOR_ROLES = frozenset({Role.NODE_ADMINISTRATOR, Role.NATIONAL_CONTACT_POINT})
#: Outgoing states an operator may send again.
RETRYABLE = frozenset({OutboxStatus.DEAD, OutboxStatus.REJECTED, OutboxStatus.RETRYING})
DIRECTIONS = ("out", "in")


def is_operator(user: User) -> bool:
    """Whether ``user`` may use the operator view."""
    return bool(user.is_active and user.role_codes() & OPERATOR_ROLES)


def may_manage_peers(user: User) -> bool:
    """Whether ``user`` may add, refresh, disable, enable and remove peers."""
    return bool(user.is_active and user.has_role(Role.NODE_ADMINISTRATOR))


def require_operator(user: User) -> None:
    """Refuse users who are neither node administrators nor national contact points.

    Raises:
        NotExchangeOperator.
    """
    if not is_operator(user):
        raise NotExchangeOperator(
            _(
                "Only node administrators and national contact points may see the "
                "exchange with peer nodes."
            )
        )


# --- peers ------------------------------------------------------------------------


@dataclass(frozen=True)
class PeerRow:
    """A peer with its outgoing message counts and last exchanges."""

    peer: Peer
    pending: int
    retrying: int
    dead: int
    rejected: int
    sent: int
    cancelled: int
    received: int
    last_delivery_at: datetime | None
    last_received_at: datetime | None

    @property
    def attention(self) -> bool:
        """Messages need a person: dead or rejected ones."""
        return bool(self.dead or self.rejected)


def _with_counts(peers: QuerySet[Peer]) -> QuerySet[Peer]:
    """Annotate peers with their counts: one query (subqueries for the inbox)."""

    def outgoing(status: str) -> Count:
        return Count("outbox", filter=Q(outbox__status=status))

    inbox = InboxMessage.objects.filter(peer=OuterRef("pk"))
    return peers.annotate(
        n_pending=outgoing(OutboxStatus.PENDING),
        n_retrying=outgoing(OutboxStatus.RETRYING),
        n_dead=outgoing(OutboxStatus.DEAD),
        n_rejected=outgoing(OutboxStatus.REJECTED),
        n_sent=outgoing(OutboxStatus.SENT),
        n_cancelled=outgoing(OutboxStatus.CANCELLED),
        last_delivery=Max("outbox__sent_at"),
        n_received=Subquery(
            inbox.order_by().values("peer").annotate(n=Count("pk")).values("n")[:1]
        ),
        last_received=Subquery(
            inbox.order_by("-received_at").values("received_at")[:1]
        ),
    ).order_by("node_id")


def _row(peer: Any) -> PeerRow:
    return PeerRow(
        peer=peer,
        pending=peer.n_pending,
        retrying=peer.n_retrying,
        dead=peer.n_dead,
        rejected=peer.n_rejected,
        sent=peer.n_sent,
        cancelled=peer.n_cancelled,
        received=peer.n_received or 0,
        last_delivery_at=peer.last_delivery,
        last_received_at=peer.last_received,
    )


def peer_overview(*, user: User) -> list[PeerRow]:
    """Return every peer with its counts (one database query).

    Raises:
        NotExchangeOperator.
    """
    require_operator(user)
    return [_row(p) for p in _with_counts(Peer.objects.all())]


def peer_get(*, user: User, node_id: str) -> PeerRow:
    """Return one peer with its counts.

    Raises:
        NotExchangeOperator, PeerNotFound.
    """
    require_operator(user)
    peer = _with_counts(Peer.objects.filter(node_id=node_id)).first()
    if peer is None:
        raise PeerNotFound(
            _("No peer %(node)s.") % {"node": node_id}, details={"node": node_id}
        )
    return _row(peer)


def peer_organisations(*, user: User, node_id: str) -> QuerySet[Organisation]:
    """Return the organisations mirrored from the peer (directory data).

    Raises:
        NotExchangeOperator.
    """
    require_operator(user)
    return Organisation.objects.filter(home_node=node_id).order_by("name")


# --- messages ---------------------------------------------------------------------


@dataclass(frozen=True)
class MessageRow:
    """One message in or out, as lists show it (routing fields only)."""

    direction: str
    msg_id: UUID
    node_id: str
    type: str
    version: int
    conversation: str
    seq: int
    status: str
    status_label: str
    attempts: int | None
    next_attempt_at: datetime | None
    last_error: str
    at: datetime
    sent_at: datetime | None

    @property
    def retryable(self) -> bool:
        return self.direction == "out" and self.status in RETRYABLE


@dataclass(frozen=True)
class MessageDetail(MessageRow):
    """One message with every routing field, and the payload when allowed."""

    in_reply_to: UUID | None = None
    legal_basis_kind: str = ""
    categories: list[str] = field(default_factory=list)
    reply_by: datetime | None = None
    payload_digest: str = ""
    envelope_digest: str = ""
    receipt_claims: dict[str, Any] = field(default_factory=dict)
    has_case: bool = False
    payload: dict[str, Any] | None = None
    #: The payload is no longer held (the person was erased, or it was
    #: forgotten after a withdrawal): shown so, to anyone who looks.
    payload_gone: bool = False


def _out_row(m: OutboxMessage, node_id: str) -> dict[str, Any]:
    return {
        "direction": "out",
        "msg_id": m.msg_id,
        "node_id": node_id,
        "type": m.type,
        "version": m.version,
        "conversation": m.conversation,
        "seq": m.seq,
        "status": m.status,
        "status_label": str(m.get_status_display()),
        "attempts": m.attempts,
        "next_attempt_at": (
            m.next_attempt_at
            if m.status in {OutboxStatus.PENDING, OutboxStatus.RETRYING}
            else None
        ),
        "last_error": m.last_error,
        "at": m.created_at,
        "sent_at": m.sent_at,
    }


def _in_row(m: InboxMessage, node_id: str) -> dict[str, Any]:
    return {
        "direction": "in",
        "msg_id": m.msg_id,
        "node_id": node_id,
        "type": m.type,
        "version": m.version,
        "conversation": m.conversation,
        "seq": m.seq,
        "status": m.status,
        "status_label": str(m.get_status_display()),
        "attempts": None,
        "next_attempt_at": None,
        "last_error": m.error_code,
        "at": m.received_at,
        "sent_at": None,
    }


def statuses(direction: str) -> list[tuple[str, str]]:
    """Return the (value, label) statuses of messages in ``direction``."""
    choices = OutboxStatus.choices if direction == "out" else InboxStatus.choices
    return [(value, str(label)) for value, label in choices]


def message_list(
    *, user: User, node_id: str, direction: str = "out", status: str = ""
) -> QuerySet[Any]:
    """Return the peer's messages in ``direction``, newest first, optionally of
    one ``status``. Rows are models; pass them to :func:`message_row`.

    Raises:
        NotExchangeOperator, PeerNotFound, InvalidFilter.
    """
    require_operator(user)
    if direction not in DIRECTIONS:
        raise InvalidFilter(
            _("The direction is 'out' or 'in'."), details={"field": "direction"}
        )
    allowed = [value for value, _label in statuses(direction)]
    if status and status not in allowed:
        raise InvalidFilter(
            _("No message %(direction)s has the status %(status)s.")
            % {
                "direction": _("out") if direction == "out" else _("in"),
                "status": status[:20],
            },
            details={"field": "status", "allowed": allowed},
        )
    peer = Peer.objects.filter(node_id=node_id).first()
    if peer is None:
        raise PeerNotFound(
            _("No peer %(node)s.") % {"node": node_id}, details={"node": node_id}
        )
    rows: QuerySet[Any]
    if direction == "out":
        rows = (
            OutboxMessage.objects.filter(peer=peer)
            .defer("payload_sealed", "receipt", "receipt_claims")
            .order_by("-created_at", "-msg_id")
        )
    else:
        rows = (
            InboxMessage.objects.filter(peer=peer)
            .defer("payload_sealed", "receipt")
            .order_by("-received_at", "-id")
        )
    return rows.filter(status=status) if status else rows


def message_row(message: OutboxMessage | InboxMessage, node_id: str) -> MessageRow:
    """Return a message of :func:`message_list` as a :class:`MessageRow`."""
    if isinstance(message, OutboxMessage):
        return MessageRow(**_out_row(message, node_id))
    return MessageRow(**_in_row(message, node_id))


def _find(
    *, msg_id: UUID, direction: str | None, node_id: str | None
) -> tuple[str, OutboxMessage | InboxMessage]:
    if direction not in (None, *DIRECTIONS):
        raise InvalidFilter(
            _("The direction is 'out' or 'in'."), details={"field": "direction"}
        )
    if direction in (None, "out"):
        outgoing = OutboxMessage.objects.select_related("peer").filter(pk=msg_id)
        if node_id:
            outgoing = outgoing.filter(peer__node_id=node_id)
        found = outgoing.first()
        if found is not None:
            return "out", found
    if direction in (None, "in"):
        incoming = InboxMessage.objects.select_related("peer").filter(msg_id=msg_id)
        if node_id:
            incoming = incoming.filter(peer__node_id=node_id)
        received = incoming.order_by("-received_at", "-id").first()
        if received is not None:
            return "in", received
    raise MessageNotFound(_("No such message."), details={"msg_id": str(msg_id)})


def _own_receipt_claims(token: str) -> dict[str, Any]:
    """The claims of a receipt this node signed (verified with its own keys)."""
    own = {
        k["kid"]: k for k in nodekeys.public_keys() if k.get("use") == KeyUse.SIGNING
    }
    try:
        return verify_receipt(token, signer_keys=own)
    except EnvelopeError:
        return {}


def _payload(
    *, user: User, direction: str, message: OutboxMessage | InboxMessage
) -> dict[str, Any] | None:
    """Unseal the payload for a member of the case team (audited), else None
    (also when it is no longer held: nothing is read, nothing audited)."""
    if message.case_id is None or not message.payload_sealed:
        return None
    check = registry.case_access()
    if check is None or not check(user, message.case_id):
        return None
    try:
        payload = stored_payload(message)
    except (DecryptionFailed, ValueError):
        return None
    if payload is None:
        return None
    with transaction.atomic():
        audit.record(
            actor=user,
            action="exchange.payload_viewed",
            target_type="exchange.message",
            target_id=str(message.msg_id),
            data={
                "direction": direction,
                "peer": message.peer.node_id,
                "type": message.type,
                "case": str(message.case_id),
            },
        )
    return payload if isinstance(payload, dict) else None


def message_get(
    *,
    user: User,
    msg_id: UUID,
    direction: str | None = None,
    node_id: str | None = None,
) -> MessageDetail:
    """Return one message's routing fields, digests and receipt claims.

    The payload is included only when the user is on the team of the message's
    case (the cases app's :func:`~trm.exchange.registry.case_access` hook);
    that read is audited. ``payload_gone`` says the payload is no longer held
    (erased with the person, or forgotten after a withdrawal). ``direction``
    None looks out first, then in; ``node_id`` restricts the search to one
    peer.

    Raises:
        NotExchangeOperator, MessageNotFound, InvalidFilter.
    """
    require_operator(user)
    found_direction, message = _find(
        msg_id=msg_id, direction=direction, node_id=node_id
    )
    node = message.peer.node_id
    if isinstance(message, OutboxMessage):
        base = _out_row(message, node)
        extra: dict[str, Any] = {
            "reply_by": message.reply_by,
            "payload_digest": message.payload_digest,
            "receipt_claims": dict(message.receipt_claims or {}),
        }
    else:
        base = _in_row(message, node)
        extra = {
            "receipt_claims": _own_receipt_claims(message.receipt)
            if message.receipt
            else {}
        }
    return MessageDetail(
        **base,
        **extra,
        in_reply_to=message.in_reply_to,
        legal_basis_kind=message.legal_basis.split(":", 1)[0],
        categories=list(message.categories or []),
        envelope_digest=message.envelope_digest,
        has_case=message.case_id is not None,
        payload=_payload(user=user, direction=found_direction, message=message),
        payload_gone=payload_gone(message),
    )


# --- the writer -------------------------------------------------------------------


@transaction.atomic(durable=True)
def message_retry(
    *, actor: User, msg_id: UUID, node_id: str | None = None
) -> OutboxMessage:
    """Send a dead, rejected or retrying message again, now, from a clean slate.

    Its status goes back to pending with no attempts counted, due now; the
    worker picks it up at its next run (after earlier messages of the same
    conversation, as always).

    Raises:
        NotExchangeOperator, MessageNotFound, MessageNotRetryable (pending,
        delivered or cancelled messages).
    """
    require_operator(actor)
    rows = OutboxMessage.objects.select_for_update(no_key=True).filter(pk=msg_id)
    if node_id:
        rows = rows.filter(peer__node_id=node_id)
    message = rows.first()
    if message is None:
        raise MessageNotFound(_("No such message."), details={"msg_id": str(msg_id)})
    if message.status not in RETRYABLE:
        raise MessageNotRetryable(
            _(
                "Only a dead, rejected or retrying message can be sent again; this "
                "one is: %(status)s."
            )
            % {"status": message.get_status_display()},
            details={"status": message.status},
        )
    previous, last_error = message.status, message.last_error
    message.status = OutboxStatus.PENDING
    message.attempts = 0
    message.next_attempt_at = timezone.now()
    message.last_error = ""
    message.save(update_fields=["status", "attempts", "next_attempt_at", "last_error"])
    audit.record(
        actor=actor,
        action="exchange.message_retried",
        target_type="exchange.message",
        target_id=str(message.msg_id),
        data={
            "to": message.peer.node_id,
            "type": message.type,
            "from_status": previous,
            "last_error": last_error,
        },
    )
    return message
