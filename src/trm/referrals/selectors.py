"""The only readers of referrals: the case team's view and the receiver's inbox.

Two doors, each checked and audited:

* **The case team** (:func:`referral_for_team`, :func:`referral_detail`) sees
  a case's referrals through :func:`trm.cases.access.case_access`. Legal-track
  roles see none of them (SOPS §3 unconditional assistance: the assistance
  record stays away from the prosecutor).
* **The receiver** (:func:`inbox_for_user`, :func:`inbox_referral_for_user`,
  :func:`shared_for_receiver`) is a service provider or case manager of the
  receiving organisation. They see only what the referral shared, never the
  case, and only while the referral is sent, accepted or in progress.

No access looks exactly like no such referral (404).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from trm.accounts.models import Role, User
from trm.audit import services as audit
from trm.cases.access import CaseAccess, case_access
from trm.cases.models import Case
from trm.exchange.models import OutboxMessage
from trm.referrals.content import Meeting, open_json, open_text
from trm.referrals.errors import NotReceiver, ReferralNotFound
from trm.referrals.models import (
    Direction,
    Referral,
    ReferralFeedback,
    ReferralMessage,
    ReferralTransition,
    Side,
    Status,
)

#: Who answers referrals for the receiving organisation (SOPS §6.3).
RECEIVER_ROLES = frozenset({Role.SERVICE_PROVIDER, Role.CASE_MANAGER})
#: Who refers the person from the case team (SOPS §6.3 "Domestic referral to
#: named organisation": case manager / first contact point; and the service
#: provider already assisting the person).
REFERRER_ROLES = frozenset(
    {Role.CASE_MANAGER, Role.FIRST_CONTACT_POINT, Role.SERVICE_PROVIDER}
)


def may_use_inbox(user: User) -> bool:
    """Return True if ``user`` answers referrals for their organisation."""
    return (
        user.is_authenticated
        and user.is_active
        and user.organisation_id is not None
        and user.may_use_account()
        and user.has_role(*RECEIVER_ROLES)
    )


def is_receiver(user: User, referral: Referral) -> bool:
    """Return True if ``user`` acts for the organisation that received ``referral``."""
    return (
        referral.sent_at is not None
        and referral.to_organisation_id is not None
        and referral.to_organisation_id == user.organisation_id
        and may_use_inbox(user)
    )


def team_access(user: User, case: Case) -> CaseAccess | None:
    """Return the user's access to the case's referrals (None: they see none)."""
    access = case_access(user, case)
    if access is None or access.legal_only:
        return None
    return access


# --- the case team --------------------------------------------------------------------


def referrals_for_case(*, user: User, case: Case) -> list[Referral]:
    """Return the case's referrals the user may see, newest first (no content).

    Empty for a legal-track-only role. Holds no personal data (organisations,
    codes, dates): not audited.
    """
    if team_access(user, case) is None:
        return []
    return list(
        Referral.objects.filter(case=case)
        .select_related("to_organisation", "from_organisation", "referred_by")
        .order_by("-created_at", "-pk")
    )


def referral_for_team(*, user: User, referral_id: UUID) -> tuple[Referral, CaseAccess]:
    """Return a referral and the user's access to its case.

    Raises:
        ReferralNotFound: no such referral, or the user may not see its case,
            or their roles there are legal-track only.
    """
    referral = (
        Referral.objects.select_related(
            "case",
            "case__person",
            "case__lead_organisation",
            "to_organisation",
            "from_organisation",
            "referred_by",
            "consent",
        )
        .filter(pk=referral_id)
        .first()
    )
    access = team_access(user, referral.case) if referral is not None else None
    if referral is None or access is None:
        raise ReferralNotFound(_("No such referral."))
    return referral, access


@dataclass(frozen=True)
class FeedbackView:
    """One feedback entry as shown: its text, or None once unreadable."""

    entry: ReferralFeedback
    text: str | None


@dataclass(frozen=True)
class ReferralDetail:
    """Everything the case team reads about one referral, decrypted.

    ``None`` for a sealed value means it can no longer be read (the person's
    data was erased); empty values mean nothing was written.
    """

    referral: Referral
    access: CaseAccess
    texts: dict[str, str] | None
    meeting: Meeting | None
    shared: dict[str, Any] | None
    risk: str | None
    outcome_text: str | None
    feedback: list[FeedbackView] = field(default_factory=list)
    history: list[ReferralTransition] = field(default_factory=list)

    @property
    def erased(self) -> bool:
        return self.referral.case.person.is_erased


def _feedback(
    referral: Referral, *, sides: set[str] | None = None
) -> list[FeedbackView]:
    key = referral.case.person.data_key_id
    entries = ReferralFeedback.objects.filter(referral=referral).select_related(
        "author", "author__organisation"
    )
    if sides is not None:
        entries = entries.filter(side__in=sorted(sides))
    return [
        FeedbackView(
            entry=e, text=open_text(key, e.sealed_text, context=e.text_context())
        )
        for e in entries.order_by("at", "pk")
    ]


def referral_detail(*, user: User, referral: Referral) -> ReferralDetail:
    """Return the referral with its texts, meeting, shared content and feedback.

    Audited as ``referrals.read``. The caller got ``referral`` from
    :func:`referral_for_team`.

    Raises:
        ReferralNotFound: the user may not see it.
    """
    access = team_access(user, referral.case)
    if access is None:
        raise ReferralNotFound(_("No such referral."))
    with transaction.atomic():
        audit.record(
            actor=user,
            action="referrals.read",
            target=referral,
            data={"case": str(referral.case_id)},
        )
    key = referral.case.person.data_key_id
    texts = open_json(key, referral.sealed_texts, context=referral.texts_context())
    meeting = open_json(
        key, referral.sealed_meeting, context=referral.meeting_context()
    )
    erased = referral.case.person.is_erased
    return ReferralDetail(
        referral=referral,
        access=access,
        texts=None if erased and referral.sealed_texts else (texts or {}),
        meeting=(
            None if erased and referral.sealed_meeting else Meeting.from_json(meeting)
        ),
        shared=open_json(
            key, referral.sealed_shared, context=referral.shared_context()
        ),
        risk=open_text(key, referral.sealed_risk, context=referral.risk_context()),
        outcome_text=open_text(
            key, referral.sealed_outcome_text, context=referral.outcome_context()
        ),
        feedback=_feedback(referral),
        history=list(
            ReferralTransition.objects.filter(referral=referral)
            .select_related("actor", "actor__organisation")
            .order_by("at", "pk")
        ),
    )


# --- the receiving organisation -------------------------------------------------------


def inbox_for_user(*, user: User, status: str = "") -> QuerySet[Referral]:
    """Return the referrals sent to the user's organisation, newest first.

    Args:
        status: a :class:`~trm.referrals.models.Status` code to filter by
            (empty: all). Drafts never reach the inbox.

    Raises:
        NotReceiver: the user does not answer referrals for an organisation.
    """
    if not may_use_inbox(user):
        raise NotReceiver(
            _(
                "Only service providers and case managers of an organisation "
                "receive its referrals."
            )
        )
    qs = Referral.objects.filter(
        to_organisation_id=user.organisation_id, sent_at__isnull=False
    ).select_related("from_organisation", "to_organisation")
    if status in Status.values:
        qs = qs.filter(status=status)
    return qs.order_by("-sent_at", "-pk")


def awaiting_reply_count(*, user: User) -> int:
    """Return how many referrals to the user's organisation await a reply (0 if
    the user does not use the inbox)."""
    if not may_use_inbox(user):
        return 0
    return Referral.objects.filter(
        to_organisation_id=user.organisation_id, status=Status.SENT
    ).count()


def inbox_referral_for_user(*, user: User, referral_id: UUID) -> Referral:
    """Return a referral sent to the user's organisation.

    Raises:
        ReferralNotFound: no such referral, not sent to the user's
            organisation, or the user does not answer its referrals.
    """
    referral = (
        Referral.objects.select_related(
            "case__person", "from_organisation", "to_organisation", "referred_by"
        )
        .filter(pk=referral_id)
        .first()
    )
    if referral is None or not is_receiver(user, referral):
        raise ReferralNotFound(_("No such referral."))
    return referral


@dataclass(frozen=True)
class SharedView:
    """What the receiver sees of a referral.

    Attributes:
        readable: the referral is sent, accepted or in progress (else it shows
            no content).
        shared: the shared categories' content (None: not readable now, or
            destroyed).
        risk: the risk information shared (None when none or not readable).
        meeting: the meeting arrangements (None when not readable).
        unreadable: the person's data was erased; nothing can be read.
        feedback: the receiver's own feedback entries.
    """

    referral: Referral
    readable: bool
    shared: dict[str, Any] | None
    risk: str | None
    meeting: Meeting | None
    unreadable: bool = False
    feedback: list[FeedbackView] = field(default_factory=list)


def shared_for_receiver(*, user: User, referral: Referral) -> SharedView:
    """Return what the referral shared with the user's organisation.

    Only the snapshot taken when it was sent, the meeting arrangements and the
    risk information; nothing of the case. Reading the content is audited as
    ``referrals.shared_read`` (with the categories shown); a closed or revoked
    referral shows none.

    Raises:
        ReferralNotFound: the user is not its receiver.
    """
    if not is_receiver(user, referral):
        raise ReferralNotFound(_("No such referral."))
    feedback = _feedback(referral, sides={Side.RECEIVER})
    if not referral.shared_readable():
        return SharedView(
            referral=referral,
            readable=False,
            shared=None,
            risk=None,
            meeting=None,
            feedback=feedback,
        )
    with transaction.atomic():
        audit.record(
            actor=user,
            action="referrals.shared_read",
            target=referral,
            data={"categories": sorted(referral.categories)},
        )
    key = referral.case.person.data_key_id
    shared = open_json(key, referral.sealed_shared, context=referral.shared_context())
    risk = open_text(key, referral.sealed_risk, context=referral.risk_context())
    meeting = open_json(
        key, referral.sealed_meeting, context=referral.meeting_context()
    )
    unreadable = referral.case.person.is_erased
    return SharedView(
        referral=referral,
        readable=True,
        shared=shared if shared is not None else ({} if not unreadable else None),
        risk=risk or None,
        meeting=None if unreadable else Meeting.from_json(meeting),
        unreadable=unreadable,
        feedback=feedback,
    )


# --- referrals abroad -----------------------------------------------------------------


@dataclass(frozen=True)
class ExchangeDelivery:
    """One exchange message of a referral abroad, as its page shows it.

    Attributes:
        message: the referral's record of the message (type, direction, code).
        state: ``waiting``, ``retrying``, ``delivered``, ``rejected``,
            ``failed`` (dead: the national contact points were told),
            ``cancelled`` (withdrawn before it left) or ``received``.
        at: when it was delivered or received (None while waiting).
        code: the receiving node's rejection code (e.g.
            ``refused:referrals.not_accepting``), or the last error code.
    """

    message: ReferralMessage
    state: str
    at: datetime | None
    code: str = ""

    @property
    def problem(self) -> bool:
        return self.state in {"rejected", "failed"}

    @property
    def label(self) -> str:
        """What the message was, in words (no content)."""
        if self.message.type == "referral.request":
            return _("The referral")
        labels = {
            "accepted": _("Answer: accepted"),
            "declined": _("Answer: declined"),
            "started": _("Answer: the services started"),
            "completed": _("Answer: completed"),
            "feedback": _("Feedback from the receiver"),
            "cancelled": _("Cancellation by the referrer"),
            "revoked": _("Revocation: the person withdrew consent"),
        }
        return labels.get(self.message.code, self.message.type)


#: Outbox status → what the referral page says.
_DELIVERY_STATES = {
    "pending": "waiting",
    "retrying": "retrying",
    "sent": "delivered",
    "rejected": "rejected",
    "dead": "failed",
    "cancelled": "cancelled",
}


def exchange_deliveries(*, referral: Referral) -> list[ExchangeDelivery]:
    """Return the exchange messages of a referral abroad, oldest first, each
    with its delivery state (:class:`ExchangeDelivery`).

    Types, states, codes and times only — no content: not audited. The caller
    has checked the user's access to the referral.
    """
    records = list(ReferralMessage.objects.filter(referral=referral))
    outgoing = {
        m.msg_id: m
        for m in OutboxMessage.objects.filter(
            msg_id__in=[r.msg_id for r in records if r.direction == Direction.OUT]
        ).only("msg_id", "status", "sent_at", "last_error", "receipt_claims")
    }
    deliveries = []
    for record in records:
        if record.direction == Direction.IN:
            deliveries.append(
                ExchangeDelivery(message=record, state="received", at=record.at)
            )
            continue
        out = outgoing.get(record.msg_id)
        if out is None:
            continue
        claims = out.receipt_claims if isinstance(out.receipt_claims, dict) else {}
        state = _DELIVERY_STATES.get(out.status, "waiting")
        code = ""
        if state == "rejected":
            code = str(claims.get("code") or out.last_error)[:64]
        elif state in {"retrying", "failed"}:
            code = out.last_error
        deliveries.append(
            ExchangeDelivery(message=record, state=state, at=out.sent_at, code=code)
        )
    return deliveries
