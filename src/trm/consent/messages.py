"""Consent on the transnational channel: the consent gate, and withdrawal travels.

* The **gate** (:func:`check_legal_basis`, registered with the exchange): a
  message whose legal basis is ``consent:<id>`` is enqueued only if that
  consent is the case's person's, valid now (for a child: given by the
  guardian), names the recipient and covers every personal category carried
  (EXCHANGE.md §1.7; SOPS §6.3, §6.5 rule 7). A message addressed to an
  organisation needs a consent naming that organisation (to a referral, or a
  transfer abroad); any other message a consent to transfer abroad naming the
  peer's country. Risk information needs none (it travels ``pseudonymous``).
* **Withdrawal travels** (EXCHANGE.md §1.8; SOPS §6.4 M13): withdrawing a
  consent cancels what has not left under it and sends ``consent.withdrawn``
  to every peer that received (or may have received) data under it. The
  receiver restricts or erases what arrived under it and answers
  ``consent.withdrawn.done``; the sender's consent page shows, per peer, that
  the withdrawal was sent and confirmed.

Neither message carries personal data: the consent reference (a random id),
category codes and dates. ``consent.withdrawn`` goes under the legal
obligation to tell every recipient of a restriction or erasure (GDPR Art. 19,
with Art. 7(3) and 17(2)): the basis names the consent so that the sender's
page can find its notices (``legal_obligation:GDPR Art. 19 consent:<id>``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pydantic import BaseModel, ConfigDict, Field

from trm.accounts.models import Organisation, User
from trm.audit import services as audit
from trm.cases.messages import NotLinked, carries_nothing, require_party
from trm.cases.models import Case, CaseEvent
from trm.cases.services import record_case_event
from trm.common.errors import DomainError
from trm.consent.errors import ConsentMissing
from trm.consent.models import Consent, DataCategory, GivenBy, Purpose
from trm.exchange import registry
from trm.exchange import services as exchange
from trm.exchange.errors import PeerUnavailable
from trm.exchange.models import (
    InboxMessage,
    InboxStatus,
    OutboxMessage,
    OutboxStatus,
    Peer,
)

#: Categories that identify the person: erased with the identity when it came
#: only from the withdrawn consent's messages.
IDENTIFYING = frozenset(
    {
        DataCategory.IDENTITY,
        DataCategory.DOCUMENTS,
        DataCategory.CONTACT,
        DataCategory.PHOTO,
    }
)
WITHDRAWN = "consent.withdrawn"
WITHDRAWN_DONE = "consent.withdrawn.done"


class UnknownReply(DomainError):
    """A reply names no message this node sent to that peer."""

    code = "consent.unknown_reply"


# --- the gate ------------------------------------------------------------------------


def _consent_id(legal_basis: str) -> UUID | None:
    try:
        return UUID(legal_basis.split(":", 1)[1].strip())
    except (IndexError, ValueError):
        return None


def check_legal_basis(
    *,
    legal_basis: str,
    categories: list[str],
    peer_country: str,
    organisation_id: UUID | None,
    case_id: UUID | None,
) -> None:
    """Refuse a ``consent:<id>`` basis that does not cover the message.

    Registered with :func:`trm.exchange.registry.register_legal_basis_check`;
    the exchange calls it at enqueue time with the personal categories the
    message carries (risk is never among them).

    Raises:
        ConsentMissing: ``details["state"]`` says why — ``missing`` (no such
            consent of this case's person), ``purpose``, ``recipient``,
            ``withdrawn``, ``expired``, ``guardian_required``, or
            ``categories`` (with ``missing_categories``).
    """
    needed = sorted(set(categories) - {DataCategory.RISK})
    consent_id = _consent_id(legal_basis)
    consent = (
        Consent.objects.select_related("recipient_organisation")
        .filter(pk=consent_id)
        .first()
        if consent_id is not None
        else None
    )
    case = (
        Case.objects.select_related("person").filter(pk=case_id).first()
        if case_id is not None
        else None
    )
    if consent is None or case is None or consent.person_id != case.person_id:
        raise ConsentMissing(
            _("No consent of this person is recorded under that reference."),
            details={"state": "missing", "categories": needed},
        )
    organisation = (
        Organisation.objects.filter(pk=organisation_id).first()
        if organisation_id is not None
        else None
    )
    purposes = (
        {Purpose.REFERRAL, Purpose.CROSS_BORDER_TRANSFER}
        if organisation_id is not None
        else {Purpose.CROSS_BORDER_TRANSFER}
    )
    recipient = organisation.name if organisation is not None else peer_country
    details: dict[str, object] = {
        "purpose": consent.purpose,
        "recipient": recipient,
        "categories": needed,
    }
    if consent.purpose not in purposes:
        details["state"] = "purpose"
        details["purposes"] = sorted(purposes)
        raise ConsentMissing(
            _("This consent is not to a referral or a transfer abroad.")
            if organisation_id is not None
            else _("This consent is not to a transfer abroad."),
            details=details,
        )
    if organisation_id is not None:
        # A message to an organisation needs a consent naming it, never only
        # its country (SOPS §6.3 "naming the recipient").
        named = consent.recipient_organisation_id == organisation_id
    else:
        named = (
            consent.recipient_organisation_id is None
            and bool(peer_country)
            and consent.recipient_country.code == peer_country.upper()
        )
    if not named:
        details["state"] = "recipient"
        raise ConsentMissing(
            _("The consent does not name %(recipient)s.")
            % {"recipient": recipient or _("the recipient")},
            details=details,
        )
    if not consent.is_valid_at():
        state = "withdrawn" if consent.withdrawn_at else "expired"
        details["state"] = state
        raise ConsentMissing(
            _("The consent naming %(recipient)s was %(state)s.")
            % {
                "recipient": recipient,
                "state": _("withdrawn") if state == "withdrawn" else _("expired"),
            },
            details=details,
        )
    if case.person.presumed_child and consent.given_by not in {
        GivenBy.GUARDIAN,
        GivenBy.BOTH,
    }:
        details["state"] = "guardian_required"
        raise ConsentMissing(
            _(
                "The person is or may be a child: the consent must be given by the "
                "guardian, or by the child and the guardian together."
            ),
            details=details,
        )
    missing = sorted(set(needed) - set(consent.categories))
    if missing:
        details["state"] = "categories"
        details["missing_categories"] = missing
        raise ConsentMissing(
            _("The consent does not cover: %(missing)s.")
            % {
                "missing": ", ".join(
                    str(DataCategory(m).label) if m in DataCategory.values else m
                    for m in missing
                )
            },
            details=details,
        )


# --- schemas -------------------------------------------------------------------------

_REF = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$"
CategoryCode = Literal[
    "identity",
    "documents",
    "contact",
    "photo",
    "case_summary",
    "health",
    "family",
    "legal",
    "risk",
]


class ConsentWithdrawnV1(BaseModel):
    """``consent.withdrawn`` v1: stop processing what arrived under a consent."""

    model_config = ConfigDict(extra="forbid")

    #: The sender's consent id (the ``consent:<id>`` of the messages it covered).
    consent_ref: UUID
    trm_case_ref: str = Field(default="", max_length=64)
    #: Categories to restrict or erase (those the consent covered).
    categories: list[CategoryCode] = Field(max_length=9)
    effective_at: datetime
    #: The person asked for erasure, not only restriction (GDPR Art. 17(1)(b)).
    erase_requested: bool = True


class ConsentWithdrawnDoneV1(BaseModel):
    """``consent.withdrawn.done`` v1: what the receiver did."""

    model_config = ConfigDict(extra="forbid")

    consent_ref: UUID
    trm_case_ref: str = Field(default="", max_length=64)
    #: ``erased``: the data received is gone; ``restricted``: kept but no
    #: longer used (another basis holds it, or erasure is impossible);
    #: ``nothing_held``: nothing that arrived under it is held here.
    outcome: Literal["erased", "restricted", "nothing_held"]
    at: datetime


# --- restriction hooks (the receiving side) -----------------------------------------

#: ``hook(case=, peer_node=, consent_ref=, categories=, actor=)`` returns
#: "erased", "restricted" or None (nothing of its own held).
RestrictionHook = Callable[..., "str | None"]
_restriction_hooks: list[RestrictionHook] = []


def register_restriction_hook(hook: RestrictionHook) -> None:
    """Have ``hook`` restrict an app's own copies of data received under a
    withdrawn consent (``AppConfig.ready``).

    Called inside the inbox transaction of ``consent.withdrawn``, once per
    local case the consent's messages touched, with ``case`` (the local
    :class:`~trm.cases.models.Case`), ``peer_node`` (who sent the data),
    ``consent_ref`` (the sender's consent id, as in ``consent:<id>``),
    ``categories`` (to restrict or erase) and ``actor`` (None: the exchange).
    It returns ``"erased"``, ``"restricted"`` or None when it holds nothing.
    E.g. the referrals app revokes its received copies.
    """
    if hook not in _restriction_hooks:
        _restriction_hooks.append(hook)


def unregister_restriction_hook(hook: RestrictionHook) -> None:
    if hook in _restriction_hooks:
        _restriction_hooks.remove(hook)


# --- sending a withdrawal ------------------------------------------------------------


def withdrawal_basis(consent_id: UUID) -> str:
    """Return the legal basis of the ``consent.withdrawn`` notices of a consent."""
    return f"{exchange.LEGAL_OBLIGATION}:GDPR Art. 19 consent:{consent_id}"


def on_withdrawal(consent: Consent, actor: User) -> None:
    """Withdrawal hook: cancel what has not left, tell every recipient.

    Registered with :func:`trm.consent.services.register_withdrawal_hook`; runs
    inside the withdrawal's transaction. A recipient that the exchange no
    longer has as an active peer is skipped (its notice could not be queued)
    and the skip is audited.
    """
    basis = f"consent:{consent.pk}"
    cancelled = exchange.cancel_pending_for_basis(legal_basis=basis, actor=actor)
    peers = exchange.recipients_of_basis(basis)
    sent: list[str] = []
    skipped: list[str] = []
    case = consent.case
    for peer in peers:
        conversation = (case.trm_case_ref if case is not None else "") or (
            OutboxMessage.objects.filter(legal_basis=basis, peer=peer)
            .exclude(conversation="")
            .order_by("-created_at")
            .values_list("conversation", flat=True)
            .first()
            or ""
        )
        payload = ConsentWithdrawnV1(
            consent_ref=consent.pk,
            trm_case_ref=conversation,
            categories=sorted(set(consent.categories)),
            effective_at=consent.withdrawn_at or timezone.now(),
        )
        try:
            exchange.enqueue(
                to_node=peer.node_id,
                type=WITHDRAWN,
                payload=payload,
                legal_basis=withdrawal_basis(consent.pk),
                conversation=conversation,
                case_id=consent.case_id,
                actor=actor,
            )
        except PeerUnavailable:
            skipped.append(peer.node_id)
            continue
        sent.append(peer.node_id)
    if cancelled or sent or skipped:
        audit.record(
            actor=actor,
            action="consent.withdrawal_sent",
            target=consent,
            data={
                "cancelled": [str(m.msg_id) for m in cancelled],
                "to": sent,
                "skipped": skipped,
            },
        )


# --- receiving a withdrawal ----------------------------------------------------------


def _identity_only_from(case: Case, *, peer: Peer, basis: str) -> bool:
    """Return True if the person's identifying data on this node came only
    from ``peer``'s messages under ``basis``: the person was opened from a
    peer's message, is in no other case, nobody here changed their identity or
    photo, recorded a consent or a note, and no other message brought them
    identifying data. Only then may their data key be destroyed without
    losing this node's own records."""
    person = case.person
    if person.is_erased or Case.objects.filter(person=person).count() != 1:
        return False
    if not CaseEvent.objects.filter(case=case, kind="case.linked").exists():
        return False
    if CaseEvent.objects.filter(
        case=case,
        kind__in=["person.identity_updated", "person.photo_updated"],
    ).exists():
        return False
    if case.notes.exists() or Consent.objects.filter(person=person).exists():
        return False
    others = InboxMessage.objects.filter(case_id=case.pk).exclude(
        peer=peer, legal_basis=basis
    )
    return not any(set(m.categories) & IDENTIFYING for m in others)


def _case_ids_under(peer: Peer, basis: str) -> set[UUID]:
    """Return the local cases that ``peer``'s messages under ``basis`` touched."""
    rows = (
        InboxMessage.objects.filter(
            peer=peer, legal_basis=basis, status=InboxStatus.APPLIED
        )
        .exclude(case_id=None)
        .values_list("case_id", flat=True)
    )
    return {case_id for case_id in rows if case_id is not None}


def _cases_under(peer: Peer, basis: str, reference: str) -> list[Case]:
    ids = _case_ids_under(peer, basis)
    condition = Q(pk__in=ids)
    if reference:
        condition |= Q(trm_case_ref=reference)
    return list(
        Case.objects.select_related("person").filter(condition).order_by("opened_at")
    )


#: How the outcomes of several cases add up (the strongest wins).
_OUTCOME_RANK = {"nothing_held": 0, "erased": 1, "restricted": 2}


def apply_consent_withdrawn(message: registry.Inbound) -> UUID | None:
    """Restrict or erase what arrived under the withdrawn consent; confirm.

    For each local case the consent's messages touched (or the case linked
    under the shared reference): the apps' restriction hooks run (e.g. the
    referrals app revokes its received copies), the restriction is recorded
    on the timeline, and when identifying data is withdrawn and the person's
    identity came only from those messages, the person is erased
    (crypto-shredding: :func:`trm.dataprotection.services.erase_person`).
    The exchange's stored copies of every message that peer sent under the
    consent are forgotten (:func:`trm.exchange.services.forget_payloads`).
    ``consent.withdrawn.done`` goes back in the same transaction.

    The outcome is ``nothing_held`` for a case (found by its reference) that
    no message of the peer under the consent touched and of which no hook
    held anything; the answer's outcome is the strongest of the cases'
    (restricted over erased over nothing held).

    Raises:
        NotLinked: the conversation is not the payload's shared reference.
        NotParty: a case exists here under the reference and the sender is
            not party to it (:func:`trm.cases.messages.require_party`).
    """
    from trm.dataprotection.services import erase_person

    payload = message.payload
    assert isinstance(payload, ConsentWithdrawnV1)  # noqa: S101 - the registry's schema
    if message.conversation != payload.trm_case_ref:
        raise NotLinked(
            _("The message's shared reference does not match its conversation."),
            details={"field": "trm_case_ref", "reason": "conversation"},
        )
    peer = Peer.objects.get(node_id=message.sender)
    basis = f"consent:{payload.consent_ref}"
    reference = payload.trm_case_ref
    categories = sorted(set(payload.categories))
    under = _case_ids_under(peer, basis)
    outcome = "nothing_held"
    touched: Case | None = None
    for case in _cases_under(peer, basis, reference):
        if case.pk not in under:
            # Found by its reference only: the peer must be party to it.
            require_party(message, case)
        touched = touched or case
        results = {
            hook(
                case=case,
                peer_node=peer.node_id,
                consent_ref=payload.consent_ref,
                categories=categories,
                actor=None,
            )
            for hook in list(_restriction_hooks)
        }
        held = case.pk in under or bool(results - {None})
        erase = (
            case.pk in under
            and payload.erase_requested
            and bool(set(categories) & IDENTIFYING)
            and _identity_only_from(case, peer=peer, basis=basis)
        )
        if not held:
            done = "nothing_held"
        elif erase or results == {"erased"}:
            done = "erased"
        else:
            done = "restricted"
        if held:
            record_case_event(
                case=case,
                actor=None,
                kind="consent.restricted",
                code=done,
            )
        audit.record(
            actor=f"node:{peer.node_id}",
            action="consent.restricted",
            target=case,
            data={
                "from": peer.node_id,
                "consent_ref": str(payload.consent_ref),
                "categories": categories,
                "outcome": done,
            },
        )
        if erase:
            erase_person(
                actor=None,
                person_id=case.person_id,
                reason="consent_withdrawn_abroad",
            )
        outcome = max(outcome, done, key=_OUTCOME_RANK.__getitem__)
    # What arrived from that peer under the consent is no longer held here:
    # the stored copies of its messages go (their routing fields stay).
    exchange.forget_payloads(
        peer_node=peer.node_id, legal_basis=basis, actor=f"node:{peer.node_id}"
    )
    exchange.enqueue(
        to_node=peer.node_id,
        type=WITHDRAWN_DONE,
        payload=ConsentWithdrawnDoneV1(
            consent_ref=payload.consent_ref,
            trm_case_ref=reference,
            outcome=outcome,
            at=timezone.now(),
        ),
        legal_basis=exchange.PSEUDONYMOUS,
        conversation=message.conversation,
        in_reply_to=message.msg_id,
        case_id=touched.pk if touched else None,
    )
    return touched.pk if touched else None


def apply_consent_withdrawn_done(message: registry.Inbound) -> UUID | None:
    """Record a peer's confirmation of a withdrawal on the consent's case.

    Raises:
        NotLinked: the conversation is not the payload's shared reference.
        UnknownReply: it answers no ``consent.withdrawn`` this node sent to
            that peer in that conversation.
    """
    payload = message.payload
    assert isinstance(payload, ConsentWithdrawnDoneV1)  # noqa: S101
    if message.conversation != payload.trm_case_ref:
        raise NotLinked(
            _("The message's shared reference does not match its conversation."),
            details={"field": "trm_case_ref", "reason": "conversation"},
        )
    original = (
        OutboxMessage.objects.filter(
            msg_id=message.in_reply_to,
            type=WITHDRAWN,
            peer__node_id=message.sender,
            legal_basis=withdrawal_basis(payload.consent_ref),
        ).first()
        if message.in_reply_to
        else None
    )
    if original is None or original.conversation != message.conversation:
        raise UnknownReply(
            _("This confirmation answers no withdrawal sent from this node."),
            details={"type": WITHDRAWN_DONE},
        )
    case = (
        Case.objects.select_related("person").filter(pk=original.case_id).first()
        if original.case_id
        else None
    )
    if case is not None:
        record_case_event(
            case=case,
            actor=None,
            kind="consent.withdrawal_confirmed",
            code=payload.outcome,
        )
    audit.record(
        actor=f"node:{message.sender}",
        action="consent.withdrawal_confirmed",
        target_type="consent.consent",
        target_id=str(payload.consent_ref),
        data={"from": message.sender, "outcome": payload.outcome},
    )
    return case.pk if case else None


# --- the sender's view of a withdrawal -----------------------------------------------


@dataclass(frozen=True)
class PeerWithdrawal:
    """Where a withdrawal notice to one peer stands (no personal data)."""

    node_id: str
    peer_name: str
    status: str
    status_label: str
    queued_at: datetime
    sent_at: datetime | None
    confirmed_at: datetime | None
    outcome: str

    @property
    def outcome_label(self) -> str:
        label = OUTCOME_LABELS.get(self.outcome)
        return str(label) if label is not None else self.outcome


OUTCOME_LABELS = {
    "erased": gettext_lazy("erased"),
    "restricted": gettext_lazy("restricted"),
    "nothing_held": gettext_lazy("nothing held"),
}


def _reply_outcome(reply: InboxMessage) -> str:
    value = exchange.stored_payload(reply)
    return str(value.get("outcome", "")) if value is not None else ""


def withdrawal_status(consent: Consent) -> list[PeerWithdrawal]:
    """Return, per peer, the withdrawal notice of ``consent`` and its
    confirmation. The caller has read the consent through
    :func:`trm.consent.selectors.consent_get_for_user` (access checked)."""
    notices = list(
        OutboxMessage.objects.filter(
            type=WITHDRAWN, legal_basis=withdrawal_basis(consent.pk)
        )
        .select_related("peer")
        .order_by("peer__node_id", "created_at")
    )
    replies = {
        reply.in_reply_to: reply
        for reply in InboxMessage.objects.filter(
            type=WITHDRAWN_DONE,
            status=InboxStatus.APPLIED,
            in_reply_to__in=[n.msg_id for n in notices],
        )
    }
    rows = []
    for notice in notices:
        reply = replies.get(notice.msg_id)
        rows.append(
            PeerWithdrawal(
                node_id=notice.peer.node_id,
                peer_name=notice.peer.name or notice.peer.node_id,
                status=notice.status,
                status_label=str(OutboxStatus(notice.status).label),
                queued_at=notice.created_at,
                sent_at=notice.sent_at,
                confirmed_at=reply.received_at if reply else None,
                outcome=_reply_outcome(reply) if reply else "",
            )
        )
    return rows


# --- registration --------------------------------------------------------------------


def register_all() -> None:
    """Register the gate, the withdrawal hook and the two message types."""
    from trm.consent.services import register_withdrawal_hook

    registry.register_legal_basis_check(check_legal_basis)
    register_withdrawal_hook(on_withdrawal)
    registry.register(
        registry.MessageType(
            name=WITHDRAWN,
            version=1,
            schema=ConsentWithdrawnV1,
            categories=frozenset(),
            handler=apply_consent_withdrawn,
            exceptions=frozenset({exchange.LEGAL_OBLIGATION}),
            carried=carries_nothing,
            description="Consent withdrawn: restrict or erase what arrived under it",
        )
    )
    registry.register(
        registry.MessageType(
            name=WITHDRAWN_DONE,
            version=1,
            schema=ConsentWithdrawnDoneV1,
            categories=frozenset(),
            handler=apply_consent_withdrawn_done,
            carried=carries_nothing,
            description="Withdrawal applied: restricted, erased or nothing held",
        )
    )
