"""Identity checks through the exchange as people see them (SOPS §6.4 M2).

Readers for the pages and the API around
:func:`trm.identification.messages.identity_verification_send` and
:func:`~trm.identification.messages.identity_verification_respond`:

* :func:`exchange_offer`: to which peer nodes a check may go for a case, or
  why it is not offered (an asylum applicant, rule 6; no claimed nationality;
  no active peer of that country);
* :func:`sent_checks`: the requests this node sent about a case and the
  counterpart's answers;
* :func:`received_checks`: the requests counterpart nodes sent about a case,
  and what this node answered; :func:`received_checks_for_user` lists them
  across the cases a national contact point or competent authority sees.

Nothing here reads a person's identity: routing fields, the outcome and the
document options (codes) only. The received request's payload (which carries
the identity) is never opened here; the identity it brought is the linked
case's, read on the case page through its selectors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from django.conf import settings
from django.utils.translation import gettext as _

from trm.accounts.models import Role, User
from trm.cases.access import case_access, visible_cases_filter
from trm.cases.models import Case, CaseEvent
from trm.common.keys import DecryptionFailed
from trm.exchange import services as exchange
from trm.exchange.models import (
    InboxMessage,
    InboxStatus,
    OutboxMessage,
    OutboxStatus,
    Peer,
    PeerStatus,
)
from trm.identification.contacts import VERIFICATION_ROLES
from trm.identification.errors import VerificationRoleRequired
from trm.identification.messages import (
    DOCUMENT_OPTIONS,
    OUTCOMES,
    REQUEST,
    RESPONSE,
    IdentityVerifyResponseV1,
)
from trm.sop import engine

#: Who lists the requests received from counterpart nodes (and answers them on
#: the case, as members of its team in a verifying role).
RECEIVER_ROLES = frozenset({Role.NATIONAL_CONTACT_POINT, Role.COMPETENT_AUTHORITY})
#: At most this many received requests are listed.
LIST_LIMIT = 200


def peer_label(peer: Peer) -> str:
    """Return how pages name a peer node: its name (or id) and country."""
    return f"{peer.name or peer.node_id} ({peer.country or '—'})"


# --- what may be sent -----------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    """The peers an identity check through the exchange may go to now, or why
    none is offered (``reason``)."""

    peers: list[Peer]
    reason: str = ""


def exchange_offer(case: Case) -> Offer:
    """Return the active peer nodes of the person's claimed nationality.

    Never for a person who applied for international protection (SOPS §6.5
    rule 6): then no peer is offered and ``reason`` says why, as it does when
    no nationality is recorded or no active peer node is of that country.
    """
    if engine.is_asylum_applicant(case):
        return Offer(
            [],
            _(
                "A check through the exchange is not offered: the person has "
                "applied for international protection, so the authorities of "
                "their country of origin must not be contacted to verify their "
                "identity."
            ),
        )
    countries = [
        c for c in dict.fromkeys(case.person.citizenships) if c != settings.TRM_COUNTRY
    ]
    if not countries:
        return Offer(
            [],
            _(
                "A check through the exchange is not offered: no foreign "
                "nationality is recorded for the person, and the check goes to "
                "the node of their country of origin."
            ),
        )
    peers = list(
        Peer.objects.filter(status=PeerStatus.ACTIVE, country__in=countries).order_by(
            "node_id"
        )
    )
    if not peers:
        return Offer(
            [],
            _(
                "A check through the exchange is not offered: no active peer "
                "node of the person's claimed nationality (%(countries)s) is "
                "connected to this node."
            )
            % {"countries": ", ".join(countries)},
        )
    return Offer(peers)


# --- answers --------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """An answer to a check: the outcome and the document options (codes)."""

    outcome: str
    document_options: list[str]
    at: datetime | None

    @property
    def outcome_label(self) -> str:
        return str(OUTCOMES.get(self.outcome, self.outcome))

    @property
    def option_labels(self) -> list[str]:
        return [str(DOCUMENT_OPTIONS.get(o, o)) for o in self.document_options]


def _answer(payload: dict[str, Any], at: datetime | None) -> Answer | None:
    try:
        body = IdentityVerifyResponseV1.model_validate(payload)
    except ValueError:
        return None
    return Answer(body.outcome, list(body.document_options), at)


def _received_answer(message: InboxMessage) -> Answer | None:
    try:
        payload = exchange.stored_payload(message)
    except DecryptionFailed:
        return None
    return _answer(payload, message.received_at) if payload is not None else None


def _sent_answer(message: OutboxMessage) -> Answer | None:
    try:
        payload = exchange.stored_payload(message)
    except DecryptionFailed:
        return None
    return _answer(payload, message.created_at) if payload is not None else None


# --- sent -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SentCheck:
    """A request this node sent, its delivery state and the answer (if any)."""

    msg_id: UUID
    peer: Peer
    queued_at: datetime
    status: str
    answer: Answer | None

    @property
    def peer_label(self) -> str:
        return peer_label(self.peer)

    @property
    def status_label(self) -> str:
        return str(OutboxStatus(self.status).label)


def sent_checks(case: Case) -> list[SentCheck]:
    """Return the identity checks this node asked about ``case``, newest first,
    each with the counterpart's answer once it arrived."""
    requests = list(
        OutboxMessage.objects.filter(type=REQUEST, case_id=case.pk)
        .select_related("peer")
        .order_by("-created_at")
    )
    if not requests:
        return []
    replies = {
        m.in_reply_to: m
        for m in InboxMessage.objects.filter(
            type=RESPONSE,
            status=InboxStatus.APPLIED,
            in_reply_to__in=[r.msg_id for r in requests],
        ).order_by("received_at")
    }
    rows = []
    for request in requests:
        reply = replies.get(request.msg_id)
        rows.append(
            SentCheck(
                msg_id=request.msg_id,
                peer=request.peer,
                queued_at=request.created_at,
                status=request.status,
                answer=_received_answer(reply) if reply is not None else None,
            )
        )
    return rows


# --- received -------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedCheck:
    """A request a counterpart node sent about one of this node's cases."""

    msg_id: UUID
    peer: Peer
    received_at: datetime
    case_id: UUID
    case_number: str = ""
    case_closed: bool = False
    answer: Answer | None = None
    answer_status: str = ""
    #: The user may answer it on the case (on its team in a verifying role).
    may_answer: bool = False

    @property
    def peer_label(self) -> str:
        return peer_label(self.peer)

    @property
    def awaiting(self) -> bool:
        return self.answer is None and not self.case_closed


def may_answer(user: User, case: Case) -> bool:
    """Whether ``user`` may answer a check about ``case``: on its team (not
    through node policy) in a verifying role, the case open."""
    access = case_access(user, case)
    return (
        access is not None
        and not access.via_policy
        and bool(access.roles & VERIFICATION_ROLES)
        and not case.is_closed
    )


def _answers_to(msg_ids: list[UUID]) -> dict[UUID | None, OutboxMessage]:
    return {
        m.in_reply_to: m
        for m in OutboxMessage.objects.filter(
            type=RESPONSE, in_reply_to__in=msg_ids
        ).exclude(status=OutboxStatus.CANCELLED)
    }


def latest_purpose(case: Case) -> str:
    """Return the purpose of the newest check a counterpart asked about
    ``case`` (the code its handler recorded on the timeline), or ""."""
    code = (
        CaseEvent.objects.filter(case=case, kind="sop1.identity_verification_received")
        .order_by("-at", "-pk")
        .values_list("code", flat=True)
        .first()
    )
    return code or ""


def _received_rows(
    user: User, messages: list[InboxMessage], cases: dict[UUID, Case]
) -> list[ReceivedCheck]:
    answers = _answers_to([m.msg_id for m in messages])
    rows = []
    for message in messages:
        assert message.case_id is not None  # noqa: S101 - filtered on it
        case = cases[message.case_id]
        answer = answers.get(message.msg_id)
        rows.append(
            ReceivedCheck(
                msg_id=message.msg_id,
                peer=message.peer,
                received_at=message.received_at,
                case_id=case.pk,
                case_number=case.number,
                case_closed=case.is_closed,
                answer=_sent_answer(answer) if answer is not None else None,
                answer_status=answer.status if answer is not None else "",
                may_answer=may_answer(user, case),
            )
        )
    return rows


def received_checks(*, user: User, case: Case) -> list[ReceivedCheck]:
    """Return the checks counterpart nodes asked about ``case`` (which the
    caller read through :func:`trm.cases.selectors.case_get_for_user`),
    newest first."""
    messages = list(
        InboxMessage.objects.filter(
            type=REQUEST, status=InboxStatus.APPLIED, case_id=case.pk
        )
        .select_related("peer")
        .order_by("-received_at")
    )
    if not messages:
        return []
    return _received_rows(user, messages, {case.pk: case})


def received_checks_for_user(*, user: User) -> list[ReceivedCheck]:
    """Return the checks counterpart nodes asked about the cases ``user`` sees,
    those awaiting an answer first, then the newest (at most
    :data:`LIST_LIMIT`).

    Raises:
        VerificationRoleRequired: the user is neither a national contact
            point nor a competent authority.
    """
    if not (user.is_active and user.role_codes() & RECEIVER_ROLES):
        raise VerificationRoleRequired(
            _(
                "Only national contact points and competent authorities see the "
                "identity checks asked by counterpart nodes."
            )
        )
    visible = Case.objects.filter(visible_cases_filter(user))
    messages = list(
        InboxMessage.objects.filter(
            type=REQUEST,
            status=InboxStatus.APPLIED,
            case_id__in=visible.values("pk"),
        )
        .select_related("peer")
        .order_by("-received_at")[:LIST_LIMIT]
    )
    if not messages:
        return []
    cases = {
        c.pk: c
        for c in Case.objects.filter(
            pk__in={m.case_id for m in messages}
        ).select_related("person")
    }
    rows = _received_rows(user, messages, cases)
    return sorted(rows, key=lambda r: not r.awaiting)


@dataclass
class CaseChecks:
    """What the case page shows of identity checks through the exchange."""

    sent: list[SentCheck] = field(default_factory=list)
    received: list[ReceivedCheck] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.sent or self.received)


def case_checks(*, user: User, case: Case) -> CaseChecks:
    """Return the checks sent and received about ``case`` (read by the caller
    through the case selector)."""
    return CaseChecks(
        sent=sent_checks(case), received=received_checks(user=user, case=case)
    )
