"""SOP 3 long-term assistance: the individual care plan, residence, services given.

Free text about the person (goals, how often a service is given, notes, a
provider typed by hand, a document number) is sealed under the person's data
key (ARCHITECTURE §4): after erasure it can never be read again. Codes, dates
and states stay in clear for the SOP engine and statistics.

Sources: SOPS §2 SOP 3 [BG 3.1] (care plan within 20 days, service agreement
with consent, services of up to 6 months / 1 year / 3 years), SOP 2 step 4 and
SOP 3 step 2 (residence documents and permits; CETS Art. 13(2), 14; Directive
2004/81/EC), §6.1 (ResidenceStatus, ServiceEpisode), §6.2 region C.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from trm.cases.models import Case
from trm.directory.models import ServiceType


class PlanStatus(models.TextChoices):
    """Where an individual care plan stands."""

    DRAFT = "draft", _("Draft")
    AGREED = "agreed", _("Agreed with the person")
    CLOSED = "closed", _("Closed")


class PlanDuration(models.TextChoices):
    """How long the planned services last [BG 3.1]."""

    SHORT = "short", _("Short: up to 6 months")
    MEDIUM = "medium", _("Medium: up to 1 year")
    LONG = "long", _("Long: up to 3 years")


#: Months each duration lasts at most [BG 3.1].
DURATION_MONTHS: dict[str, int] = {
    PlanDuration.SHORT: 6,
    PlanDuration.MEDIUM: 12,
    PlanDuration.LONG: 36,
}
#: For trafficked persons services normally last no longer than this [BG 3.1].
NORMAL_MAX_MONTHS = 12


class ReviewOutcome(models.TextChoices):
    """What a review of the care plan decided (BG SOP 3 step 5)."""

    CONTINUE = "continue", _("Continue the plan as it is")
    CHANGE = "change", _("Change the plan (it is agreed again afterwards)")
    CLOSE = "close", _("Close the plan")


class CarePlan(models.Model):
    """The individual care plan of a case: goals, planned services, duration.

    A plan is drafted, then agreed with the person (the service agreement,
    which needs their consent to assistance); a review may send it back to
    draft (to change it) or close it. A case has at most one plan that is not
    closed; closed plans stay as history.
    """

    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        PlanStatus.DRAFT: frozenset({PlanStatus.AGREED}),
        PlanStatus.AGREED: frozenset({PlanStatus.DRAFT, PlanStatus.CLOSED}),
        PlanStatus.CLOSED: frozenset(),
    }

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(
        _("status"), max_length=10, choices=PlanStatus.choices, default=PlanStatus.DRAFT
    )
    duration = models.CharField(
        _("duration"), max_length=10, choices=PlanDuration.choices
    )
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        verbose_name=_("responsible case worker"),
    )
    sealed_goals = models.BinaryField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)
    agreed_at = models.DateTimeField(null=True, blank=True)
    agreed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    #: The consent to assistance the agreement rests on (the service agreement).
    consent = models.ForeignKey(
        "consent.Consent", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["case", "-created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["case"],
                condition=~Q(status="closed"),
                name="care_one_open_plan_per_case",
            )
        ]

    def __str__(self) -> str:
        return f"care plan {self.id} ({self.status})"

    def goals_context(self) -> bytes:
        """Associated data binding the sealed goals to this row."""
        return b"trm:care-plan-goals:" + self.id.bytes

    def can_transition_to(self, status: str) -> bool:
        """Return True if the plan may move from its status to ``status``."""
        return status in self.TRANSITIONS.get(self.status, frozenset())

    @property
    def is_open(self) -> bool:
        return self.status != PlanStatus.CLOSED

    @property
    def longer_than_normal(self) -> bool:
        """True when the duration exceeds the 1-year norm for trafficked persons."""
        return DURATION_MONTHS.get(self.duration, 0) > NORMAL_MAX_MONTHS


class PlannedService(models.Model):
    """One service the care plan foresees: its type, provider, frequency, notes."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    plan = models.ForeignKey(
        CarePlan, on_delete=models.CASCADE, related_name="planned_services"
    )
    position = models.PositiveSmallIntegerField(default=0)
    service_type = models.CharField(
        _("service"), max_length=30, choices=ServiceType.choices
    )
    provider = models.ForeignKey(
        "accounts.Organisation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("provider"),
    )
    #: ``{"frequency": ..., "notes": ...}`` as JSON, sealed.
    sealed_details = models.BinaryField(null=True)

    class Meta:
        ordering = ["plan", "position"]

    def __str__(self) -> str:
        return f"planned {self.service_type}"

    def details_context(self) -> bytes:
        return b"trm:care-planned-service:" + self.id.bytes


class PlanReview(models.Model):
    """A review of the care plan and the risks with the person (BG SOP 3 step 5)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    plan = models.ForeignKey(CarePlan, on_delete=models.CASCADE, related_name="reviews")
    reviewed_on = models.DateField(_("reviewed on"))
    outcome = models.CharField(
        _("outcome"), max_length=10, choices=ReviewOutcome.choices
    )
    sealed_note = models.BinaryField(null=True)
    recorded_at = models.DateTimeField(auto_now_add=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-reviewed_on", "-recorded_at"]

    def __str__(self) -> str:
        return f"review {self.reviewed_on} ({self.outcome})"

    def note_context(self) -> bytes:
        return b"trm:care-plan-review:" + self.id.bytes


class ResidenceType(models.TextChoices):
    """The person's residence status (SOPS §6.1 ResidenceStatus)."""

    REFLECTION_DOCUMENT = (
        "reflection_document",
        _("Document for the reflection and recovery period"),
    )
    TEMP_PERMIT_COOPERATION = (
        "temp_permit_cooperation",
        _("Temporary residence permit: cooperation with the authorities"),
    )
    TEMP_PERMIT_PERSONAL_SITUATION = (
        "temp_permit_personal_situation",
        _("Temporary residence permit: personal situation"),
    )
    INTL_PROTECTION_APPLICANT = (
        "intl_protection_applicant",
        _("Applicant for international protection"),
    )
    REFUGEE_OR_SUBSIDIARY_PROTECTION = (
        "refugee_or_subsidiary_protection",
        _("Refugee or subsidiary protection status"),
    )
    EU_CITIZEN = "eu_citizen", _("Citizen of the European Union")
    NATIONAL = "national", _("National of this country")


#: Residence types that are a document or permit: they always have an end date.
DOCUMENT_TYPES = frozenset(
    {
        ResidenceType.REFLECTION_DOCUMENT,
        ResidenceType.TEMP_PERMIT_COOPERATION,
        ResidenceType.TEMP_PERMIT_PERSONAL_SITUATION,
    }
)


class ResidenceStatus(models.Model):
    """A record of the person's residence status: type, validity, issuer.

    ``document_number`` is sealed. A newer record of the same type supersedes
    the older one (``superseded_by``), which stays as history. The renewal
    reminder falls due ``renewal_notice_days`` before ``valid_until``
    (``renewal_due_on``, derived when the record is written: records are never
    edited).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    residence_type = models.CharField(
        _("residence status"), max_length=40, choices=ResidenceType.choices
    )
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    issuing_authority = models.CharField(
        _("issuing authority"), max_length=200, blank=True
    )
    sealed_document_number = models.BinaryField(null=True)
    renewal_notice_days = models.PositiveSmallIntegerField(
        _("renewal reminder (days before the end)")
    )
    renewal_due_on = models.DateField(null=True, blank=True)
    superseded_by = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    superseded_at = models.DateTimeField(null=True, blank=True)
    #: When the renewal reminder was given (the job reminds once per record).
    reminded_at = models.DateTimeField(null=True, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-valid_from", "-recorded_at"]
        indexes = [
            models.Index(fields=["case", "-valid_from"]),
            # The renewal job: records still to remind, by due date.
            models.Index(
                fields=["renewal_due_on"],
                condition=Q(
                    superseded_by__isnull=True,
                    reminded_at__isnull=True,
                    renewal_due_on__isnull=False,
                ),
                name="care_renewal_pending_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True)
                | Q(valid_until__gte=models.F("valid_from")),
                name="care_residence_until_after_from",
            )
        ]

    def __str__(self) -> str:
        return f"{self.residence_type} from {self.valid_from}"

    def document_number_context(self) -> bytes:
        return b"trm:care-residence-document:" + self.id.bytes

    @staticmethod
    def renewal_due_for(valid_until: date | None, notice_days: int) -> date | None:
        """Return the date the renewal reminder falls due (None without an end)."""
        if valid_until is None:
            return None
        return valid_until - timedelta(days=notice_days)

    @property
    def is_current(self) -> bool:
        """True unless a newer record of the same type replaced it."""
        return self.superseded_by_id is None

    def is_expired(self, today: date) -> bool:
        """True once ``valid_until`` has passed."""
        return self.valid_until is not None and today > self.valid_until

    def renewal_is_due(self, today: date) -> bool:
        """True from the renewal date until the end of validity (current only)."""
        return (
            self.is_current
            and self.renewal_due_on is not None
            and self.renewal_due_on <= today
            and not self.is_expired(today)
        )


class EpisodeOutcome(models.TextChoices):
    """How a service given ended, or that it goes on (SOPS §6.1 ServiceEpisode)."""

    ONGOING = "ongoing", _("Ongoing")
    COMPLETED = "completed", _("Completed")
    INTERRUPTED = "interrupted", _("Interrupted")
    REFUSED_BY_PERSON = "refused_by_person", _("Refused by the person")
    NOT_AVAILABLE = "not_available", _("Not available")


#: Outcomes that need the date the service ended.
NEEDS_END_DATE = frozenset({EpisodeOutcome.COMPLETED, EpisodeOutcome.INTERRUPTED})


class ServiceEpisode(models.Model):
    """One service given to the person: what, by whom, from when to when, outcome.

    The provider is an organisation of the node or, when it is not one, a name
    typed by hand (sealed, as it may say where the person is).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    service_type = models.CharField(
        _("service"), max_length=30, choices=ServiceType.choices
    )
    provider = models.ForeignKey(
        "accounts.Organisation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("provider"),
    )
    sealed_provider_name = models.BinaryField(null=True)
    started_on = models.DateField(_("started on"))
    ended_on = models.DateField(_("ended on"), null=True, blank=True)
    outcome = models.CharField(
        _("outcome"),
        max_length=20,
        choices=EpisodeOutcome.choices,
        default=EpisodeOutcome.ONGOING,
    )
    sealed_note = models.BinaryField(null=True)
    sealed_end_note = models.BinaryField(null=True)
    recorded_at = models.DateTimeField(auto_now_add=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    ended_recorded_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-started_on", "-recorded_at"]
        indexes = [models.Index(fields=["case", "-started_on", "-recorded_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True)
                | Q(ended_on__gte=models.F("started_on")),
                name="care_episode_end_after_start",
            )
        ]

    def __str__(self) -> str:
        return f"{self.service_type} from {self.started_on}"

    def provider_name_context(self) -> bytes:
        return b"trm:care-episode-provider:" + self.id.bytes

    def note_context(self) -> bytes:
        return b"trm:care-episode-note:" + self.id.bytes

    def end_note_context(self) -> bytes:
        return b"trm:care-episode-end-note:" + self.id.bytes

    @property
    def is_ongoing(self) -> bool:
        return self.outcome == EpisodeOutcome.ONGOING
