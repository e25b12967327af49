"""Referrals of a person to a service provider: one state machine for every referral.

A :class:`Referral` goes ``draft → sent → accepted | declined → in_progress →
completed``; a draft, sent, accepted or in-progress referral may be
``cancelled`` by the referrer (also when the person's assistance ends:
:func:`trm.referrals.services.cancel_open_for_case`); a referral the person's
consent covered is ``revoked`` when that consent is withdrawn; a draft (or a
declined referral) ends as ``not_possible`` with a reason (SOPS §2 SOP 1 step
6 step 5). The moves are data (:data:`MOVES`), read by the one transition
function in :mod:`trm.referrals.services`.

Everything personal is sealed under the person's data key: the texts the
referrer writes, the meeting arrangements, the snapshot of what was shared, the
reasons and the feedback texts. Only codes, dates, organisations and flags are
in clear.

Source: SOPS §2 SOP 1 step 6 [BG 1.4 steps 1-5], §3 (informed consent,
confidentiality), §6.1 Referral, §6.3 "Domestic referral to named
organisation", §6.5 rule 7; HTCDS ``cas_ReasonForOutgoingReferral``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from trm.accounts.models import Organisation
from trm.cases.models import Case
from trm.common.htcds import ReasonForOutgoingReferral


class Status(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SENT = "sent", _("Sent, awaiting a reply")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")
    IN_PROGRESS = "in_progress", _("Services in progress")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
    REVOKED = "revoked", _("Revoked: the person withdrew consent")
    NOT_POSSIBLE = "not_possible", _("Referral not possible")


class Urgency(models.TextChoices):
    URGENT = "urgent", _("Urgent: reply within 24 hours")
    NORMAL = "normal", _("Normal: reply within 72 hours")


#: How long the receiver has to acknowledge (SOPS §6.3 receiver acknowledgement
#: SLA, e.g. 24 h urgent / 72 h normal [INF]).
REPLY_WITHIN: dict[str, timedelta] = {
    Urgency.URGENT: timedelta(hours=24),
    Urgency.NORMAL: timedelta(hours=72),
}


class Side(models.TextChoices):
    """Who makes a move: the referring case team, the receiving organisation, or
    the system (on a consent's withdrawal)."""

    REFERRER = "referrer", _("Referring organisation")
    RECEIVER = "receiver", _("Receiving organisation")
    SYSTEM = "system", _("System")


@dataclass(frozen=True)
class Move:
    """One allowed move of the state machine.

    Attributes:
        sources: the states it may start from.
        target: the state it leads to.
        side: who makes it.
        kind: the case timeline event it writes (:data:`trm.sop.vocabulary.EVENTS`).
        label: what the move is called on the pages.
    """

    sources: frozenset[str]
    target: str
    side: str
    kind: str
    label: Promise


S = Status
#: Every move of every referral, by verb. The exchange reuses the same verbs
#: for referrals abroad (the receiver is then on another node).
MOVES: dict[str, Move] = {
    "send": Move(
        frozenset({S.DRAFT}),
        S.SENT,
        Side.REFERRER,
        kind="sop2.referral_sent",
        label=_("Send the referral"),
    ),
    "accept": Move(
        frozenset({S.SENT}),
        S.ACCEPTED,
        Side.RECEIVER,
        kind="sop2.referral_accepted",
        label=_("Accept the referral"),
    ),
    "decline": Move(
        frozenset({S.SENT}),
        S.DECLINED,
        Side.RECEIVER,
        kind="sop2.referral_declined",
        label=_("Decline the referral"),
    ),
    "start": Move(
        frozenset({S.ACCEPTED}),
        S.IN_PROGRESS,
        Side.RECEIVER,
        kind="sop2.referral_started",
        label=_("Record that the services started"),
    ),
    "complete": Move(
        frozenset({S.IN_PROGRESS}),
        S.COMPLETED,
        Side.RECEIVER,
        kind="sop2.referral_completed",
        label=_("Record that the referral is completed"),
    ),
    "cancel": Move(
        frozenset({S.DRAFT, S.SENT, S.ACCEPTED, S.IN_PROGRESS}),
        S.CANCELLED,
        Side.REFERRER,
        kind="sop2.referral_cancelled",
        label=_("Cancel the referral"),
    ),
    "revoke": Move(
        frozenset({S.SENT, S.ACCEPTED, S.IN_PROGRESS}),
        S.REVOKED,
        Side.SYSTEM,
        kind="sop2.referral_revoked",
        label=_("Revoke the referral (consent withdrawn)"),
    ),
    "not_possible": Move(
        frozenset({S.DRAFT, S.DECLINED}),
        S.NOT_POSSIBLE,
        Side.REFERRER,
        kind="sop2.referral_not_possible",
        label=_("Record that the referral is not possible"),
    ),
}

#: States in which the receiver reads what was shared. None is final: once a
#: referral ends (completed; cancelled, even while services were in progress;
#: revoked) the receiver no longer sees its content.
SHARED_READABLE = frozenset({S.SENT, S.ACCEPTED, S.IN_PROGRESS})
#: States that end a referral.
FINAL = frozenset({S.COMPLETED, S.CANCELLED, S.REVOKED, S.NOT_POSSIBLE})


class DeclineReason(models.TextChoices):
    NO_CAPACITY = "no_capacity", _("No free place")
    SERVICE_NOT_OFFERED = "service_not_offered", _("We do not offer these services")
    NOT_TARGET_GROUP = "not_target_group", _("The person is not in our target group")
    SAFETY = "safety", _("We cannot ensure the person's safety")
    OTHER = "other", _("Other (explain)")


class CancelReason(models.TextChoices):
    PERSON_CHANGED_MIND = "person_changed_mind", _("The person no longer wants it")
    NO_LONGER_NEEDED = "no_longer_needed", _("The services are no longer needed")
    PERSON_MOVED = "person_moved", _("The person moved or left")
    SENT_IN_ERROR = "sent_in_error", _("Made in error")
    #: Recorded only by :func:`trm.referrals.services.cancel_open_for_case`
    #: when the assistance pathway is declined or closed (see
    #: :data:`SYSTEM_REASONS`).
    ASSISTANCE_ENDED = (
        "assistance_ended",
        _("Assistance ended: the person declined or assistance was closed"),
    )
    OTHER = "other", _("Other (explain)")


class NotPossibleReason(models.TextChoices):
    """Why no referral could be made (SOPS §2 SOP 1 step 6 step 5 [BG 1.4])."""

    PERSON_REFUSED = "person_refused", _("The person refused to be referred")
    NO_CONSENT_TO_SHARE = (
        "no_consent_to_share",
        _("The person refused to share the information the services need"),
    )
    NO_PROVIDER = "no_provider", _("No organisation offers the services needed")
    NO_CAPACITY = "no_capacity", _("No organisation has a free place")
    DECLINED = "declined", _("The organisations asked declined")
    PERSON_UNREACHABLE = "person_unreachable", _("The person cannot be reached")
    OTHER = "other", _("Other (explain)")


class FeedbackOutcome(models.TextChoices):
    ARRIVED = "arrived", _("The person arrived")
    DID_NOT_ARRIVE = "did_not_arrive", _("The person did not arrive")
    SERVICES_STARTED = "services_started", _("The services started")
    OTHER = "other", _("Other")


#: Reason codes of each ending move.
REASONS: dict[str, type[models.TextChoices]] = {
    "decline": DeclineReason,
    "cancel": CancelReason,
    "not_possible": NotPossibleReason,
}

#: Reason codes the system records and a user does not choose, by ending move:
#: "assistance ended" follows from the assistance pathway, not from a choice on
#: the referral.
SYSTEM_REASONS: dict[str, frozenset[str]] = {
    "cancel": frozenset({CancelReason.ASSISTANCE_ENDED}),
}

#: The free texts a referrer may write for one referral, by data category.
TEXT_CATEGORIES: tuple[str, ...] = (
    "case_summary",
    "health",
    "family",
    "legal",
    "risk",
)
#: What is marked on shared risk information: always shared (BG 1.4 step 2).
RISK_MARK = _(
    "Shared without consent to protect life or safety (BG 1.4): information "
    "about risks to the life or safety of the person, their family, staff or "
    "others must be shared."
)


class Referral(models.Model):
    """A referral of the case's person to a receiving organisation.

    ``to_organisation`` may belong to a peer node (``home_node``): sending then
    hands the referral to the exchange (:func:`trm.referrals.services.
    register_remote_transport`). It is empty only for a "referral not possible"
    recorded without a draft.
    """

    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        state: frozenset(m.target for m in MOVES.values() if state in m.sources)
        for state in Status.values
    }

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    #: The id the exchange uses for this referral (idempotency across nodes).
    exchange_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="referrals")
    from_organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="referrals_made"
    )
    referred_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    to_organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="referrals_received",
    )
    reason = models.CharField(
        _("reason (HTCDS cas_ReasonForOutgoingReferral)"),
        max_length=40,
        choices=ReasonForOutgoingReferral.choices,
        default=ReasonForOutgoingReferral.ADDITIONAL_SERVICES_REQUIRED,
    )
    services = models.JSONField(_("services requested"), default=list)
    urgency = models.CharField(
        max_length=10, choices=Urgency.choices, default=Urgency.NORMAL
    )
    #: The data categories shared (``trm.consent.models.DataCategory`` codes);
    #: ``risk`` is added whenever risk information is shared.
    categories = models.JSONField(_("data categories shared"), default=list)
    consent = models.ForeignKey(
        "consent.Consent",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    #: On the receiving node of a referral from a peer node: the id of the
    #: consent on the sending node (a reference only; the consent lives there).
    remote_consent_ref = models.UUIDField(null=True, blank=True)
    risk_shared_without_consent = models.BooleanField(default=False)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.DRAFT
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    reply_by = models.DateTimeField(null=True, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    #: Why it was declined, cancelled or not possible (a reason code, in clear).
    outcome_code = models.CharField(max_length=40, blank=True)
    sealed_outcome_text = models.BinaryField(null=True, blank=True)
    #: The referrer's texts per category (JSON), while a draft and after.
    sealed_texts = models.BinaryField(null=True, blank=True)
    #: Who meets the person, where and when (JSON).
    sealed_meeting = models.BinaryField(null=True, blank=True)
    #: What was shared (JSON of the chosen categories), taken when sent.
    sealed_shared = models.BinaryField(null=True, blank=True)
    #: The risk information shared (always, BG 1.4), kept apart so that a
    #: withdrawal of consent destroys everything else.
    sealed_risk = models.BinaryField(null=True, blank=True)
    #: When the shared content (except risk information) was destroyed.
    content_destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["case", "-created_at"]),
            models.Index(fields=["to_organisation", "status", "-sent_at"]),
        ]

    def __str__(self) -> str:
        return f"referral {self.reference}"

    @property
    def reference(self) -> str:
        """A short, non-personal reference to quote on the phone."""
        return str(self.id).split("-")[0].upper()

    def can_transition_to(self, target: str) -> bool:
        """Return True if the state machine allows moving to ``target`` now."""
        return target in self.TRANSITIONS.get(self.status, frozenset())

    def can(self, verb: str) -> bool:
        """Return True if the move ``verb`` (a key of :data:`MOVES`) is allowed now."""
        move = MOVES.get(verb)
        return move is not None and self.status in move.sources

    @property
    def is_final(self) -> bool:
        return self.status in FINAL

    @property
    def is_remote(self) -> bool:
        """True when the receiving organisation belongs to a peer node."""
        org = self.to_organisation
        return org is not None and bool(org.home_node)

    @property
    def is_from_peer(self) -> bool:
        """True when the referring organisation belongs to a peer node (this
        node holds the receiving copy of a referral made abroad)."""
        return bool(self.from_organisation.home_node)

    @property
    def awaiting_reply(self) -> bool:
        return self.status == Status.SENT

    def is_overdue(self, now: datetime | None = None) -> bool:
        """True when a sent referral has no reply and its reply-by time passed."""
        moment = now or timezone.now()
        return (
            self.status == Status.SENT
            and self.reply_by is not None
            and moment > self.reply_by
        )

    def service_labels(self) -> list[str]:
        """Return the human labels of the services requested, in stored order."""
        from trm.directory.models import ServiceType

        labels = dict(ServiceType.choices)
        return [str(labels.get(code, code)) for code in self.services]

    def outcome_label(self) -> str:
        """Return the label of the reason code (declined, cancelled, not possible)."""
        verb = {
            Status.DECLINED: "decline",
            Status.CANCELLED: "cancel",
            Status.NOT_POSSIBLE: "not_possible",
        }.get(Status(self.status))
        if verb is None or not self.outcome_code:
            return self.outcome_code
        labels = dict(REASONS[verb].choices)
        return str(labels.get(self.outcome_code, self.outcome_code))

    def shared_readable(self) -> bool:
        """True when the receiver may read the shared content now."""
        return self.status in SHARED_READABLE

    def texts_context(self) -> bytes:
        return b"trm:referral-texts:" + self.id.bytes

    def meeting_context(self) -> bytes:
        return b"trm:referral-meeting:" + self.id.bytes

    def shared_context(self) -> bytes:
        return b"trm:referral-shared:" + self.id.bytes

    def risk_context(self) -> bytes:
        return b"trm:referral-risk:" + self.id.bytes

    def outcome_context(self) -> bytes:
        return b"trm:referral-outcome:" + self.id.bytes


class ReferralTransition(models.Model):
    """One move of a referral (no personal data: states, codes, who, when)."""

    referral = models.ForeignKey(
        Referral, on_delete=models.CASCADE, related_name="transitions"
    )
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    side = models.CharField(max_length=10, choices=Side.choices)
    from_status = models.CharField(max_length=20, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=Status.choices)
    code = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.from_status} → {self.to_status}"


class ReferralFeedback(models.Model):
    """Feedback on a referral: an outcome code (clear) and a text (sealed)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    referral = models.ForeignKey(
        Referral, on_delete=models.CASCADE, related_name="feedback"
    )
    at = models.DateTimeField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    side = models.CharField(max_length=10, choices=Side.choices)
    outcome = models.CharField(max_length=20, choices=FeedbackOutcome.choices)
    sealed_text = models.BinaryField(null=True, blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"feedback {self.outcome}"

    def text_context(self) -> bytes:
        return b"trm:referral-feedback:" + self.id.bytes


class Direction(models.TextChoices):
    OUT = "out", _("Sent to the peer node")
    IN = "in", _("Received from the peer node")


class ReferralMessage(models.Model):
    """A message of the exchange about a referral abroad (no content).

    Links the referral to the exchange's outbox or inbox row (by ``msg_id``)
    so that its page can show whether each message was delivered, rejected or
    is still waiting. The exchange knows only the case; this row knows the
    referral.
    """

    referral = models.ForeignKey(
        Referral, on_delete=models.CASCADE, related_name="exchange_messages"
    )
    msg_id = models.UUIDField()
    type = models.CharField(max_length=64)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    #: The outcome or status the message carried (a code).
    code = models.CharField(max_length=40, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["direction", "msg_id"], name="referral_message_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} ({self.direction})"
