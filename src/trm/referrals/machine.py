"""The referral state machine's one transition, its locks and shared checks.

Internal to :mod:`trm.referrals`: the services (:mod:`trm.referrals.services`
for the referring team, :mod:`trm.referrals.receiving` for the receiving
organisation) lock a referral here, then make every move through
:func:`transition`, which reads the allowed moves from
:data:`trm.referrals.models.MOVES`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import User
from trm.audit import services as audit
from trm.cases.access import CaseAccess
from trm.cases.errors import CaseInvalidInput, CaseNotFound, TransitionNotAllowed
from trm.cases.models import Case, Visibility
from trm.cases.services import lock_case, record_case_event, require_live_person
from trm.identification.common import clean_reason, require_roles
from trm.referrals.content import seal_text
from trm.referrals.errors import ReferralNotFound, RemoteNotSetUp
from trm.referrals.models import (
    MOVES,
    REASONS,
    SYSTEM_REASONS,
    Referral,
    ReferralTransition,
    Status,
)
from trm.referrals.selectors import REFERRER_ROLES, is_receiver
from trm.referrals.transport import RemoteMessage, remote_transport

logger = logging.getLogger("trm.referrals")

#: Line breaks and tabs are fine in long texts; other control characters are not.
_ALLOWED_CONTROLS = frozenset("\n\r\t")


def long_text(value: str, *, field: str) -> str:
    """Return a long free text cleaned (:func:`clean_reason`: line breaks and
    tabs kept, other control characters and invisible marks refused)."""
    return clean_reason(value, field=field, required=False)


# --- locks and access -----------------------------------------------------------------


def lock_for_referrer(
    actor: User, referral_id: UUID, *, roles: frozenset[str] = REFERRER_ROLES
) -> tuple[Referral, Case, CaseAccess]:
    """Lock the referral's case and the referral; check the actor's team roles.

    Raises:
        ReferralNotFound: no such referral, no access to its case, or a
            legal-track-only role.
        CaseRoleRequired: the actor's roles on the case do not refer.
    """
    case_id = (
        Referral.objects.filter(pk=referral_id)
        .values_list("case_id", flat=True)
        .first()
    )
    if case_id is None:
        raise ReferralNotFound(_("No such referral."))
    try:
        case, access = lock_case(actor=actor, case_id=case_id)
    except CaseNotFound:
        raise ReferralNotFound(_("No such referral.")) from None
    if access.legal_only:
        raise ReferralNotFound(_("No such referral."))
    require_roles(access, roles)
    referral = locked_referral(referral_id)
    return referral, case, access


def locked_referral(referral_id: UUID) -> Referral:
    referral = (
        # of=("self",): nullable FKs are outer joins, which PostgreSQL refuses
        # to lock; only the referral row needs the lock.
        Referral.objects.select_for_update(no_key=True, of=("self",))
        .select_related("case", "case__person", "to_organisation", "from_organisation")
        .filter(pk=referral_id)
        .first()
    )
    if referral is None:
        raise ReferralNotFound(_("No such referral."))
    return referral


def lock_for_receiver(actor: User, referral_id: UUID) -> Referral:
    """Lock a referral the actor's organisation received.

    Raises:
        ReferralNotFound: no such referral, or the actor does not answer
            referrals for its receiving organisation.
    """
    referral = locked_referral(referral_id)
    if not is_receiver(actor, referral):
        raise ReferralNotFound(_("No such referral."))
    return referral


def require_move(referral: Referral, verb: str) -> None:
    move = MOVES[verb]
    if not referral.can(verb):
        raise TransitionNotAllowed(
            _("A referral that is “%(state)s” cannot be changed this way.")
            % {"state": Status(referral.status).label},
            details={"from": referral.status, "to": str(move.target), "move": verb},
        )


_STAMPS: dict[str, str] = {
    Status.SENT: "sent_at",
    Status.ACCEPTED: "responded_at",
    Status.DECLINED: "responded_at",
    Status.IN_PROGRESS: "started_at",
    Status.COMPLETED: "completed_at",
    Status.CANCELLED: "ended_at",
    Status.REVOKED: "ended_at",
    Status.NOT_POSSIBLE: "ended_at",
}


def transition(
    referral: Referral,
    verb: str,
    *,
    actor: User | None,
    code: str = "",
    detail: str = "",
    fields: Iterable[str] = (),
) -> Referral:
    """Make the move ``verb`` of an already locked referral (the one transition).

    Writes the new state and its time, the referral's history, the case
    timeline event of :data:`MOVES` (assistance only) and the audit entry.

    Raises:
        TransitionNotAllowed: the state machine does not allow it now.
    """
    require_move(referral, verb)
    move = MOVES[verb]
    source = referral.status
    now = timezone.now()
    referral.status = move.target
    stamp = _STAMPS[move.target]
    setattr(referral, stamp, now)
    referral.save(update_fields=["status", stamp, "updated_at", *fields])
    ReferralTransition.objects.create(
        referral=referral,
        at=now,
        actor=actor,
        side=move.side,
        from_status=source,
        to_status=move.target,
        code=code,
    )
    record_case_event(
        case=referral.case,
        actor=actor,
        kind=move.kind,
        code=code,
        detail=detail,
        visibility=Visibility.ASSISTANCE_ONLY,
    )
    audit.record(
        actor=actor,
        action=f"referrals.{verb}",
        target=referral,
        data={
            "case": str(referral.case_id),
            "from": source,
            "to": str(move.target),
            "code": code,
            "to_organisation": str(referral.to_organisation_id or ""),
        },
    )
    return referral


def after_commit(action: Callable[[], object]) -> None:
    def run() -> None:
        try:
            action()
        except Exception:
            # Never undo the committed change for a notification; no details.
            logger.warning("referral notification failed")

    transaction.on_commit(run)


def clean_outcome(
    verb: str,
    reason: str,
    text: str,
    case: Case,
    *,
    field: str = "text",
    system: bool = False,
) -> tuple[str, str]:
    """Check a reason code (of ``verb``'s list) and its text; "other" needs text.

    A code of :data:`~trm.referrals.models.SYSTEM_REASONS` is accepted only when
    ``system`` (the services that record it), never from a user's choice.
    """
    choices = REASONS[verb]
    if reason not in choices.values:
        raise CaseInvalidInput(_("Choose a reason."), details={"field": "reason"})
    if not system and reason in SYSTEM_REASONS.get(verb, frozenset()):
        raise CaseInvalidInput(
            _(
                "This reason is recorded automatically when the person's "
                "assistance ends; choose another reason."
            ),
            details={"field": "reason", "reason": "system_only"},
        )
    text = long_text(text or "", field=field)
    if reason == "other" and not text:
        raise CaseInvalidInput(_("Explain the reason."), details={"field": field})
    if text:
        require_live_person(case)
    return reason, text


def seal_outcome(referral: Referral, text: str) -> None:
    referral.sealed_outcome_text = seal_text(
        referral.case.person.data_key_id, text, context=referral.outcome_context()
    )


def tell_remote(referral: Referral, kind: str, *, actor: User | None = None) -> None:
    """Tell a peer node that a referral it received ended (codes only)."""
    organisation = referral.to_organisation
    if organisation is None or not organisation.home_node or referral.sent_at is None:
        return
    transport = remote_transport()
    if transport is None:
        logger.warning("referral ended but no remote transport is registered")
        return
    transport(
        RemoteMessage(
            kind=kind,
            node=organisation.home_node,
            referral_id=referral.pk,
            exchange_key=referral.exchange_key,
            to_organisation_id=organisation.pk,
            payload={"status": referral.status, "code": referral.outcome_code},
            actor=actor,
        )
    )


def tell_sender(
    referral: Referral,
    kind: str,
    *,
    actor: User | None,
    payload: dict[str, object],
) -> None:
    """Tell the peer node that referred the person what its receiver did.

    For a referral that came from an organisation of a peer node (this node
    holds the receiving copy), hand the answer (:data:`~trm.referrals.
    transport.ANSWER_KINDS`, codes only) to the transport inside the caller's
    transaction; nothing for a referral made on this node.

    Raises:
        RemoteNotSetUp: no transport is registered (the answer could not
            travel, so the move is refused rather than lost).
    """
    organisation = referral.from_organisation
    if not organisation.home_node:
        return
    transport = remote_transport()
    if transport is None:
        raise RemoteNotSetUp(
            _(
                "This referral came from another node (%(node)s), and the exchange "
                "with %(node)s is not set up on this node: the answer cannot reach it."
            )
            % {"node": organisation.home_node},
            details={"node": organisation.home_node},
        )
    transport(
        RemoteMessage(
            kind=kind,
            node=organisation.home_node,
            referral_id=referral.pk,
            exchange_key=referral.exchange_key,
            to_organisation_id=organisation.pk,
            payload=payload,
            actor=actor,
        )
    )
