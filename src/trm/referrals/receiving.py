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
"""

from __future__ import annotations

from functools import partial
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import User
from trm.audit import services as audit
from trm.cases.errors import CaseInvalidInput, TransitionNotAllowed
from trm.cases.models import Visibility
from trm.cases.services import record_case_event, require_live_person
from trm.consent.models import Consent
from trm.referrals import notifications
from trm.referrals.content import seal_text
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
    transition,
)
from trm.referrals.models import (
    FeedbackOutcome,
    Referral,
    ReferralFeedback,
    Side,
    Status,
)
from trm.referrals.selectors import is_receiver

# --- the receiving organisation -------------------------------------------------------


@transaction.atomic(durable=True)
def referral_accept(*, actor: User, referral_id: UUID) -> Referral:
    """Accept a referral on behalf of the receiving organisation.

    The referring user is told by e-mail; the case timeline shows it.

    Raises:
        ReferralNotFound (not the receiver); TransitionNotAllowed (not sent).
    """
    referral = lock_for_receiver(actor, referral_id)
    transition(referral, "accept", actor=actor)
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
            needs ``text`` (sealed; the referring team reads it).

    Raises:
        ReferralNotFound; TransitionNotAllowed; CaseInvalidInput /
        InvalidText; PersonErased (text after erasure).
    """
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
    referral_pk = referral.pk
    after_commit(lambda: notifications.notify_referrer(referral_pk, "declined"))
    return referral


@transaction.atomic(durable=True)
def referral_start(*, actor: User, referral_id: UUID) -> Referral:
    """Record that the referred services started (the receiver).

    Raises:
        ReferralNotFound; TransitionNotAllowed (not accepted).
    """
    referral = lock_for_receiver(actor, referral_id)
    return transition(referral, "start", actor=actor)


@transaction.atomic(durable=True)
def referral_complete(*, actor: User, referral_id: UUID) -> Referral:
    """Record that the referral is completed (the receiver). Its content is no
    longer shown to the receiver.

    Raises:
        ReferralNotFound; TransitionNotAllowed (not in progress).
    """
    referral = lock_for_receiver(actor, referral_id)
    return transition(referral, "complete", actor=actor)


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
        PersonErased (text after erasure).
    """
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
            revoked.append(referral)
            if referral.is_remote:
                tell_remote(referral, "referral.revoked")
            else:
                after_commit(partial(notifications.notify_receivers_ended, referral.pk))
        elif destroy:
            referral.save(update_fields=["sealed_shared", "content_destroyed_at"])
            audit.record(
                actor=actor,
                action="referrals.content_destroyed",
                target=referral,
                data={"case": str(referral.case_id), "reason": "consent_withdrawn"},
            )
    return revoked


def on_consent_withdrawn(consent: Consent, actor: User) -> None:
    """The withdrawal hook: :func:`revoke_for_consent` (registered at start-up)."""
    revoke_for_consent(consent, actor)
