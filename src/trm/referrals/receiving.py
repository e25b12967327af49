"""What the receiving organisation does with a referral, and revocation.

The receiver — a service provider or case manager of the organisation the
referral was sent to — accepts or declines it, records that the services
started and that it is completed, and gives feedback; the referring team may
record feedback too. Withdrawing a consent revokes the referrals that relied on
it (:func:`revoke_for_consent`, registered as a withdrawal hook in
:class:`trm.referrals.apps.ReferralsConfig`).

These services take the acting user and check only that they answer
referrals for the receiving organisation (:func:`trm.referrals.selectors.
is_receiver`): for an organisation of a peer node, the exchange's inbox calls
them with the local user standing for it. Same conventions as
:mod:`trm.referrals.services`.

**Referrals abroad** (the last section; :mod:`trm.referrals.messages` calls
them inside the exchange's inbox transaction, so they are not durable): a
referral made on a peer node is recorded here as sent
(:func:`referral_receive`) and ended when its sender ends it
(:func:`referral_end_from_sender`, :func:`restrict_received`); a receiving
node's answer to a referral made here goes through the same moves as a local
receiver's (:func:`referral_apply_answer`). On a referral from a peer node,
each receiver's move sends ``referral.response`` back through the transport,
in the move's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import Organisation, User
from trm.audit import services as audit
from trm.cases.errors import CaseInvalidInput, TransitionNotAllowed
from trm.cases.models import Case, Visibility
from trm.cases.services import record_case_event, require_live_person
from trm.common.text import clean_text
from trm.consent.models import Consent, DataCategory
from trm.referrals import notifications
from trm.referrals.checks import (
    MAX_MEETING_CHARS,
    accepting_profile,
    referral_codes,
)
from trm.referrals.content import (
    TEXT_SHARED_CATEGORIES,
    Meeting,
    seal_json,
    seal_text,
)
from trm.referrals.machine import (
    after_commit,
    clean_outcome,
    lock_for_receiver,
    lock_for_referrer,
    locked_referral,
    long_text,
    require_move,
    seal_outcome,
    tell_remote,
    tell_sender,
    transition,
)
from trm.referrals.models import (
    REPLY_WITHIN,
    CancelReason,
    FeedbackOutcome,
    Referral,
    ReferralFeedback,
    ReferralTransition,
    Side,
    Status,
)
from trm.referrals.selectors import is_receiver
from trm.referrals.transport import ANSWER_KINDS

# --- the receiving organisation -------------------------------------------------------


@transaction.atomic(durable=True)
def referral_accept(*, actor: User, referral_id: UUID) -> Referral:
    """Accept a referral on behalf of the receiving organisation.

    The referring user is told by e-mail (a referring node through the
    exchange: ``referral.response``); the case timeline shows it.

    Raises:
        ReferralNotFound (not the receiver); TransitionNotAllowed (not sent);
        RemoteNotSetUp (a referral from a peer node, the exchange not set up).
    """
    return _accept(actor, referral_id)


def _accept(actor: User, referral_id: UUID) -> Referral:
    referral = lock_for_receiver(actor, referral_id)
    transition(referral, "accept", actor=actor)
    _answer_sender(
        referral,
        "referral.accepted",
        actor=actor,
        case_manager=actor.get_full_name() or "",
        services_offered=list(referral.services),
    )
    referral_pk = referral.pk
    after_commit(lambda: notifications.notify_referrer(referral_pk, "accepted"))
    return referral


@transaction.atomic(durable=True)
def referral_decline(
    *, actor: User, referral_id: UUID, reason: str, text: str = ""
) -> Referral:
    """Decline a referral on behalf of the receiving organisation, with a reason.

    Args:
        reason: a :class:`~trm.referrals.models.DeclineReason` code; ``other``
            needs ``text`` (sealed; the referring team reads it — on this
            node only: a referring node is sent the code, never the text).

    Raises:
        ReferralNotFound; TransitionNotAllowed; CaseInvalidInput /
        InvalidText; PersonErased (text after erasure); RemoteNotSetUp.
    """
    return _decline(actor, referral_id, reason=reason, text=text)


def _decline(actor: User, referral_id: UUID, *, reason: str, text: str) -> Referral:
    referral = lock_for_receiver(actor, referral_id)
    require_move(referral, "decline")
    reason, text = clean_outcome("decline", reason, text, referral.case)
    referral.outcome_code = reason
    seal_outcome(referral, text)
    transition(
        referral,
        "decline",
        actor=actor,
        code=reason,
        detail=text,
        fields=["outcome_code", "sealed_outcome_text"],
    )
    _answer_sender(referral, "referral.declined", actor=actor, code=reason)
    referral_pk = referral.pk
    after_commit(lambda: notifications.notify_referrer(referral_pk, "declined"))
    return referral


@transaction.atomic(durable=True)
def referral_start(*, actor: User, referral_id: UUID) -> Referral:
    """Record that the referred services started (the receiver).

    Raises:
        ReferralNotFound; TransitionNotAllowed (not accepted); RemoteNotSetUp.
    """
    return _start(actor, referral_id)


def _start(actor: User, referral_id: UUID) -> Referral:
    referral = lock_for_receiver(actor, referral_id)
    transition(referral, "start", actor=actor)
    _answer_sender(referral, "referral.started", actor=actor)
    return referral


@transaction.atomic(durable=True)
def referral_complete(*, actor: User, referral_id: UUID) -> Referral:
    """Record that the referral is completed (the receiver). Its content is no
    longer shown to the receiver.

    Raises:
        ReferralNotFound; TransitionNotAllowed (not in progress); RemoteNotSetUp.
    """
    return _complete(actor, referral_id)


def _complete(actor: User, referral_id: UUID) -> Referral:
    referral = lock_for_receiver(actor, referral_id)
    transition(referral, "complete", actor=actor)
    _answer_sender(referral, "referral.completed", actor=actor)
    return referral


def _answer_sender(
    referral: Referral,
    kind: str,
    *,
    actor: User,
    code: str = "",
    case_manager: str = "",
    services_offered: list[str] | None = None,
) -> None:
    """Send a referring peer node the receiver's answer (codes only; SOPS §6.4
    M7): nothing for a referral made on this node."""
    if not referral.from_organisation.home_node:
        return
    tell_sender(
        referral,
        kind,
        actor=actor,
        payload={
            "outcome": ANSWER_KINDS[kind],
            "code": code,
            "case_manager": case_manager[:200],
            "services_offered": services_offered or [],
            "receiver_case_ref": referral.case.number,
        },
    )


#: States in which each side gives feedback.
FEEDBACK_STATES: dict[str, frozenset[str]] = {
    Side.RECEIVER: frozenset({Status.ACCEPTED, Status.IN_PROGRESS, Status.COMPLETED}),
    # The referrer records what the receiver told them by other means (BG 1.4
    # step 4), e.g. a receiver that does not use TRM.
    Side.REFERRER: frozenset(
        {Status.SENT, Status.ACCEPTED, Status.IN_PROGRESS, Status.COMPLETED}
    ),
}


@transaction.atomic(durable=True)
def referral_feedback(
    *, actor: User, referral_id: UUID, outcome: str, text: str = ""
) -> ReferralFeedback:
    """Record feedback on a referral (BG 1.4 step 4: "get feedback from the
    receiving organisation").

    The receiver gives it once the referral is accepted; the referring team may
    record what the receiver told them once it is sent. The referring user is
    e-mailed about the receiver's feedback.

    Args:
        outcome: ``arrived``, ``did_not_arrive``, ``services_started`` or
            ``other`` (``other`` needs ``text``; the text is sealed).

    Raises:
        ReferralNotFound; CaseRoleRequired (a team role that does not refer);
        TransitionNotAllowed (state); CaseInvalidInput / InvalidText;
        PersonErased (text after erasure); RemoteNotSetUp (the receiver's
        feedback on a referral from a peer node, the exchange not set up).
    """
    return _feedback(actor, referral_id, outcome=outcome, text=text)


def _feedback(
    actor: User, referral_id: UUID, *, outcome: str, text: str
) -> ReferralFeedback:
    referral = (
        Referral.objects.select_related("to_organisation")
        .filter(pk=referral_id)
        .first()
    )
    if referral is not None and is_receiver(actor, referral):
        side = Side.RECEIVER
        referral = lock_for_receiver(actor, referral_id)
    else:
        side = Side.REFERRER
        referral, _case, _access = lock_for_referrer(actor, referral_id)
    if referral.status not in FEEDBACK_STATES[side]:
        raise TransitionNotAllowed(
            _("Feedback cannot be recorded on a referral that is “%(state)s”.")
            % {"state": Status(referral.status).label},
            details={"from": referral.status},
        )
    if outcome not in FeedbackOutcome.values:
        raise CaseInvalidInput(_("Choose what happened."), details={"field": "outcome"})
    text = long_text(text or "", field="text")
    if outcome == FeedbackOutcome.OTHER and not text:
        raise CaseInvalidInput(_("Say what happened."), details={"field": "text"})
    if text:
        require_live_person(referral.case)
    entry = ReferralFeedback(
        referral=referral,
        at=timezone.now(),
        author=actor,
        side=side,
        outcome=outcome,
    )
    entry.sealed_text = seal_text(
        referral.case.person.data_key_id, text, context=entry.text_context()
    )
    entry.save(force_insert=True)
    record_case_event(
        case=referral.case,
        actor=actor,
        kind="sop2.referral_feedback",
        code=outcome,
        detail=text,
        visibility=Visibility.ASSISTANCE_ONLY,
    )
    audit.record(
        actor=actor,
        action="referrals.feedback",
        target=referral,
        data={"case": str(referral.case_id), "outcome": outcome, "side": side},
    )
    if side == Side.RECEIVER:
        _answer_sender(referral, "referral.feedback", actor=actor, code=outcome)
        referral_pk = referral.pk
        after_commit(lambda: notifications.notify_referrer(referral_pk, "feedback"))
    return entry


# --- consent withdrawn ----------------------------------------------------------------


def revoke_for_consent(consent: Consent, actor: User) -> list[Referral]:
    """Revoke the referrals that relied on ``consent`` (now withdrawn).

    A withdrawal hook (:func:`trm.consent.services.register_withdrawal_hook`),
    run inside the withdrawal's transaction. Sent, accepted and in-progress
    referrals become ``revoked``; every referral made under the consent loses
    its shared content except risk information (SOPS §3: withdrawal flows to
    recipients; BG 1.4: risk information is always shared). The receivers are
    told by e-mail (peer nodes through the exchange, M13).

    Returns:
        The referrals revoked.
    """
    revoked: list[Referral] = []
    ids = list(Referral.objects.filter(consent=consent).values_list("pk", flat=True))
    for referral_id in ids:
        referral = locked_referral(referral_id)
        if _revoke(referral, actor=actor):
            revoked.append(referral)
    return revoked


def _revoke(referral: Referral, *, actor: User | None) -> bool:
    """Destroy a locked referral's shared content but its risk information,
    and revoke it if it is open; tell its receiver. Return True if revoked."""
    destroy = (
        referral.sealed_shared is not None and referral.content_destroyed_at is None
    )
    if destroy:
        referral.sealed_shared = None
        referral.content_destroyed_at = timezone.now()
    if referral.can("revoke"):
        transition(
            referral,
            "revoke",
            actor=actor,
            code="consent_withdrawn",
            fields=["sealed_shared", "content_destroyed_at"],
        )
        if referral.is_remote:
            tell_remote(referral, "referral.revoked", actor=actor)
        else:
            after_commit(partial(notifications.notify_receivers_ended, referral.pk))
        return True
    if destroy:
        referral.save(update_fields=["sealed_shared", "content_destroyed_at"])
        audit.record(
            actor=actor,
            action="referrals.content_destroyed",
            target=referral,
            data={"case": str(referral.case_id), "reason": "consent_withdrawn"},
        )
    return False


def on_consent_withdrawn(consent: Consent, actor: User) -> None:
    """The withdrawal hook: :func:`revoke_for_consent` (registered at start-up)."""
    revoke_for_consent(consent, actor)


# --- referrals abroad: what the other node did ----------------------------------------


def referral_receive(
    *,
    actor: User,
    case: Case,
    from_organisation: Organisation,
    to_organisation: Organisation,
    exchange_key: UUID,
    reason: str,
    services: Iterable[str],
    urgency: str,
    reply_by: datetime | None,
    categories: Iterable[str],
    remote_consent_ref: UUID | None,
    risk_shared_without_consent: bool,
    shared: Mapping[str, Any],
    risk: str,
    meeting: Meeting,
) -> Referral:
    """Record a referral made on a peer node to one of this node's organisations.

    Runs inside the caller's transaction (the exchange's inbox applying a
    ``referral.request``; ``actor`` is the user standing for the referring
    organisation of that node). The referral is written as sent, exactly as a
    referral made here: the snapshot of what was shared, the risk information
    and the meeting arrangements sealed under the data key of the person of
    ``case`` (this node's linked case), its history, a timeline event and an
    audit entry; the receiving organisation's inbox users are e-mailed once the
    transaction commits. The consent stays on the referring node: only its id
    is kept (``remote_consent_ref``).

    Args:
        shared: the snapshot (see :mod:`trm.referrals.content`); only
            ``categories`` may appear in it.
        reply_by: the referring node's reply-by time (None: from ``urgency``).

    Raises:
        NotAcceptingReferrals: ``to_organisation`` is inactive, not in the
            directory or not accepting referrals.
        CaseInvalidInput / InvalidText: an unknown code, or content beyond
            the categories shared.
        PersonErased: the linked case's person was erased.
    """
    accepting_profile(to_organisation)
    chosen_services, chosen = referral_codes(
        reason=reason, services=services, urgency=urgency, categories=categories
    )
    beyond = sorted(set(shared) - set(chosen))
    if DataCategory.PHOTO in chosen or beyond:
        raise CaseInvalidInput(
            _("The referral carries data it does not declare."),
            details={"field": "categories", "beyond": beyond},
        )
    snapshot = dict(shared)
    for name in TEXT_SHARED_CATEGORIES:
        if name in snapshot:
            snapshot[name] = long_text(str(snapshot[name]), field=name)
    risk = long_text(risk or "", field="risk")
    meeting = Meeting(
        who=clean_text(meeting.who, field="meeting_who", max_length=MAX_MEETING_CHARS),
        where=clean_text(
            meeting.where, field="meeting_where", max_length=MAX_MEETING_CHARS
        ),
        at=meeting.at,
    )
    require_live_person(case)
    now = timezone.now()
    referral = Referral(
        case=case,
        exchange_key=exchange_key,
        from_organisation=from_organisation,
        to_organisation=to_organisation,
        reason=reason,
        services=chosen_services,
        urgency=urgency,
        categories=chosen,
        remote_consent_ref=remote_consent_ref,
        risk_shared_without_consent=risk_shared_without_consent,
        status=Status.DRAFT,
        reply_by=reply_by or now + REPLY_WITHIN[urgency],
    )
    key = case.person.data_key_id
    referral.sealed_shared = seal_json(key, snapshot, context=referral.shared_context())
    referral.sealed_risk = seal_text(key, risk, context=referral.risk_context())
    referral.sealed_meeting = (
        None
        if meeting.is_empty()
        else seal_json(key, meeting.to_json(), context=referral.meeting_context())
    )
    referral.save(force_insert=True)
    ReferralTransition.objects.create(
        referral=referral,
        at=referral.created_at,
        actor=actor,
        side=Side.REFERRER,
        to_status=Status.DRAFT,
    )
    transition(referral, "send", actor=actor, code=urgency)
    referral_pk = referral.pk
    after_commit(lambda: notifications.notify_sent(referral_pk))
    return referral


def referral_end_from_sender(
    *, actor: User | None, referral_id: UUID, status: str, reason: str = ""
) -> bool:
    """End this node's copy of a referral the referring peer node ended.

    Runs inside the caller's transaction (the exchange's inbox applying a
    ``referral.cancelled``). ``cancelled``: the referral is cancelled with the
    sender's reason code (an unknown code is recorded as ``other``) and its
    receivers are told; ``revoked`` (the person withdrew the consent on the
    referring node): everything it shared is destroyed but the risk
    information, and an open referral is revoked — as :func:`revoke_for_consent`
    does here. A referral already ended only loses its content (revoked) or is
    left as it is (cancelled).

    Returns:
        True if the referral changed.

    Raises:
        ReferralNotFound: no such referral.
        CaseInvalidInput: ``status`` is neither ``cancelled`` nor ``revoked``.
    """
    referral = locked_referral(referral_id)
    if status == Status.REVOKED:
        destroyed = referral.content_destroyed_at is None and bool(
            referral.sealed_shared
        )
        return _revoke(referral, actor=actor) or destroyed
    if status != Status.CANCELLED:
        raise CaseInvalidInput(_("Unknown ending."), details={"field": "status"})
    if not referral.can("cancel"):
        return False
    referral.outcome_code = (
        reason if reason in CancelReason.values else CancelReason.OTHER
    )
    transition(
        referral,
        "cancel",
        actor=actor,
        code=referral.outcome_code,
        fields=["outcome_code"],
    )
    after_commit(partial(notifications.notify_receivers_ended, referral.pk))
    return True


#: The state a receiving node's answer leads to, and the states in which it is
#: already applied (a repeated or overtaken answer changes nothing).
_ANSWERS: dict[str, tuple[str, frozenset[str]]] = {
    "accepted": (
        "accept",
        frozenset({Status.ACCEPTED, Status.IN_PROGRESS, Status.COMPLETED}),
    ),
    "declined": ("decline", frozenset({Status.DECLINED, Status.NOT_POSSIBLE})),
    "started": ("start", frozenset({Status.IN_PROGRESS, Status.COMPLETED})),
    "completed": ("complete", frozenset({Status.COMPLETED})),
}


def referral_apply_answer(
    *, actor: User, referral_id: UUID, outcome: str, code: str = "", node: str = ""
) -> bool:
    """Apply the answer of a receiving organisation on a peer node.

    Runs inside the caller's transaction (the exchange's inbox applying a
    ``referral.response``). ``actor`` is the user standing for the receiving
    organisation (:func:`trm.accounts.node_users.node_user`): the answer goes
    through the same moves as a receiver's on this node (accept, decline,
    start, complete, feedback), with their checks, history, timeline, audit
    and e-mails. An answer already applied, or one that crossed the referrer's
    cancellation, changes nothing. A reason code ``other`` comes without its
    text (texts stay on the receiving node): a fixed note says so.

    Args:
        outcome: ``accepted``, ``declined``, ``started``, ``completed`` or
            ``feedback``; ``code`` the decline reason or feedback outcome.
        node: the peer node's id (for the note on ``other``).

    Returns:
        True if applied, False if it changed nothing.

    Raises:
        ReferralNotFound: no such referral, or ``actor`` does not answer for
            its receiving organisation.
        TransitionNotAllowed: the answer does not fit the referral's state.
        CaseInvalidInput: an unknown outcome or code.
    """
    referral = lock_for_receiver(actor, referral_id)
    note = _("Explained by the receiving organisation, on node %(node)s.") % {
        "node": node
        or (referral.to_organisation.home_node if referral.to_organisation else "")
    }
    if outcome == "feedback":
        if referral.status not in FEEDBACK_STATES[Side.RECEIVER]:
            return _ignored(referral, actor=actor, outcome=outcome)
        text = note if code == FeedbackOutcome.OTHER else ""
        _feedback(actor, referral_id, outcome=code, text=text)
        return True
    if outcome not in _ANSWERS:
        raise CaseInvalidInput(_("Unknown answer."), details={"field": "outcome"})
    verb, applied = _ANSWERS[outcome]
    if referral.status in applied:
        return False
    if referral.is_final and not referral.can(verb):
        return _ignored(referral, actor=actor, outcome=outcome)
    if verb == "decline":
        text = note if code == "other" else ""
        _decline(actor, referral_id, reason=code, text=text)
    else:
        {"accept": _accept, "start": _start, "complete": _complete}[verb](
            actor, referral_id
        )
    return True


def _ignored(referral: Referral, *, actor: User, outcome: str) -> bool:
    audit.record(
        actor=actor,
        action="referrals.remote_answer_ignored",
        target=referral,
        data={
            "case": str(referral.case_id),
            "outcome": outcome,
            "status": referral.status,
        },
    )
    return False


def restrict_received(
    *,
    case: Case,
    peer_node: str,
    consent_ref: UUID,
    categories: Iterable[str],
    actor: User | None = None,
) -> str | None:
    """Revoke the copies of referrals received under a consent withdrawn on the
    peer node ``peer_node`` (a restriction hook of ``consent.withdrawn``,
    :func:`trm.consent.messages.register_restriction_hook`).

    Inside the caller's transaction. Every referral of ``case`` that came from
    an organisation of ``peer_node`` under the consent ``consent_ref`` loses
    what it shared but its risk information and, if open, is revoked
    (:func:`referral_end_from_sender`). ``categories`` are not needed: the
    whole snapshot was shared under that one consent.

    Returns:
        ``"restricted"`` when such referrals are held here, else None.
    """
    ids = list(
        Referral.objects.filter(
            case=case,
            remote_consent_ref=consent_ref,
            from_organisation__home_node=peer_node,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for referral_id in ids:
        referral_end_from_sender(
            actor=actor, referral_id=referral_id, status=Status.REVOKED
        )
    return "restricted" if ids else None
