"""Persons (identity encrypted), cases with parallel tracks, team, timeline, notes.

Source: ARCHITECTURE §4 (data protection) and §6 (tracks), SOPS §6.1–6.2.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from trm.accounts.models import Organisation, Role
from trm.cases.tracks import (
    TRACKS,
    Assistance,
    ChildProtection,
    Identification,
    Legal,
    Reflection,
    Track,
    TransnationalLink,
)
from trm.common.htcds import CaseStatus, Gender


class AgeBand(models.TextChoices):
    """Age bands of the CTDC global dataset (so live and historical records agree)."""

    AGE_0_8 = "0--8", _("0–8")
    AGE_9_17 = "9--17", _("9–17")
    AGE_18_20 = "18--20", _("18–20")
    AGE_21_23 = "21--23", _("21–23")
    AGE_24_26 = "24--26", _("24–26")
    AGE_27_29 = "27--29", _("27–29")
    AGE_30_38 = "30--38", _("30–38")
    AGE_39_47 = "39--47", _("39–47")
    AGE_48_PLUS = "48+", _("48 and over")
    UNKNOWN = "unknown", _("Unknown")

    @classmethod
    def for_age(cls, years: int | None) -> AgeBand:
        """Return the band of an age in whole years (``None`` → unknown)."""
        if years is None or years < 0:
            return cls.UNKNOWN
        bounds = [
            (8, cls.AGE_0_8),
            (17, cls.AGE_9_17),
            (20, cls.AGE_18_20),
            (23, cls.AGE_21_23),
            (26, cls.AGE_24_26),
            (29, cls.AGE_27_29),
            (38, cls.AGE_30_38),
            (47, cls.AGE_39_47),
        ]
        for upper, band in bounds:
            if years <= upper:
                return band
        return cls.AGE_48_PLUS

    @property
    def is_child(self) -> bool:
        return self in {AgeBand.AGE_0_8, AgeBand.AGE_9_17}


class Person(models.Model):
    """A presumed or identified trafficked person.

    Identifying fields are in ``sealed_identity`` (and ``sealed_photo``),
    encrypted with AES-256-GCM under the person's own data key, which lives in
    the keystore database (``data_key_id``). The remaining columns are
    non-identifying attributes kept in clear for statistics (HTCDS ``prs_*``).
    After erasure the data key is destroyed and ``erased_at`` is set: the sealed
    columns can never be decrypted again; the statistical attributes remain.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subject_ref = models.UUIDField(
        default=uuid.uuid4,
        unique=True,
        editable=False,
        help_text="Pseudonymous reference shared across borders (trm_subject_ref).",
    )
    data_key_id = models.UUIDField()
    sealed_identity = models.BinaryField(null=True)
    sealed_photo = models.BinaryField(null=True, blank=True)
    photo_content_type = models.CharField(max_length=40, blank=True)
    gender = models.CharField(
        _("gender (HTCDS prs_Gender)"),
        max_length=30,
        choices=Gender.choices,
        default=Gender.NOT_SPECIFIED_UNKNOWN,
    )
    age_band = models.CharField(
        _("age band"), max_length=10, choices=AgeBand.choices, default=AgeBand.UNKNOWN
    )
    age_uncertain = models.BooleanField(_("age uncertain"), default=False)
    presumed_child = models.BooleanField(_("is or may be a child"), default=False)
    citizenships = models.JSONField(_("citizenships (ISO 3166-1)"), default=list)
    languages = models.JSONField(_("languages (ISO 639)"), default=list)
    asylum_applicant = models.BooleanField(_("applied for asylum"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"person {self.subject_ref}"

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None

    def identity_context(self) -> bytes:
        """Associated data binding the sealed identity to this row."""
        return b"trm:person-identity:" + self.id.bytes

    def photo_context(self) -> bytes:
        return b"trm:person-photo:" + self.id.bytes


class PersonIndex(models.Model):
    """A blind index of a person: keyed HMAC of a normalised identifying value."""

    class Kind(models.TextChoices):
        NAME = "name", _("name")
        NAME_BIRTH_YEAR = "name_year", _("name and birth year")
        DOCUMENT = "document", _("document number")

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    digest = models.CharField(max_length=64)

    class Meta:
        indexes = [models.Index(fields=["kind", "digest"])]
        constraints = [
            models.UniqueConstraint(
                fields=["person", "kind", "digest"], name="person_index_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} index"


class CaseNumberCounter(models.Model):
    """The last case number issued per year on this node."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


class ClosureReason(models.TextChoices):
    """Why a case was closed; mapped to HTCDS ``cas_Status`` (Closed/ClosedReferred)."""

    GOALS_MET = "goals_met", _("Goals of the support plan met")
    PERSON_DISENGAGED = "person_disengaged", _("The person ended contact")
    REFERRED = "referred", _("Referred to another organisation or country")
    TRANSFERRED = "transferred", _("Case transferred (ownership moved)")
    NO_INDICATION = "no_indication", _("No indication of trafficking")
    DECEASED = "deceased", _("The person died")
    OTHER = "other", _("Other")


class Case(models.Model):
    """A case of one person at this node: parallel tracks, team, timeline.

    ``TRACKS`` (:mod:`trm.cases.tracks`) holds, as data, each track's states and
    allowed moves; :meth:`can_move` reads only this row.
    """

    TRACKS: ClassVar[dict[str, Track]] = TRACKS

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.CharField(_("case number"), max_length=32, unique=True)
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="cases")
    lead_organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="led_cases",
        verbose_name=_("lead organisation"),
    )
    opened_at = models.DateTimeField()
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    closure_reason = models.CharField(
        max_length=30, choices=ClosureReason.choices, blank=True
    )
    identification = models.CharField(
        max_length=30,
        choices=Identification.choices,
        default=Identification.SIGNAL_RECEIVED,
    )
    assistance = models.CharField(
        max_length=30, choices=Assistance.choices, default=Assistance.NONE
    )
    reflection = models.CharField(
        max_length=30, choices=Reflection.choices, default=Reflection.NOT_APPLICABLE
    )
    legal = models.CharField(
        max_length=30, choices=Legal.choices, default=Legal.NOT_INFORMED
    )
    child_protection = models.CharField(
        max_length=30,
        choices=ChildProtection.choices,
        default=ChildProtection.NOT_APPLICABLE,
    )
    transnational = models.CharField(
        max_length=30,
        choices=TransnationalLink.choices,
        default=TransnationalLink.NO_LINK,
    )
    #: The shared case reference (``trm_case_ref``, SOPS §6.4) both nodes use for
    #: this case once it is linked across a border; "" while it is not.
    trm_case_ref = models.CharField(
        _("shared case reference"), max_length=64, blank=True, db_index=True
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-opened_at"]
        indexes = [
            models.Index(fields=["-opened_at"]),
            # The case list: open (or closed) cases, newest first.
            models.Index(fields=["closed_at", "-opened_at"], name="case_list_idx"),
            models.Index(fields=["transnational"]),
            models.Index(fields=["closed_at"]),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None

    def state_of(self, track: str) -> str:
        """Return the current state of ``track``."""
        return str(getattr(self, TRACKS[track].field))

    def can_move(self, track: str, target: str) -> bool:
        """Return True if ``track`` may move from its current state to ``target``."""
        definition = TRACKS.get(track)
        if definition is None or self.is_closed:
            return False
        return definition.allowed(self.state_of(track), target)

    def htcds_status(self) -> str:
        """Return the HTCDS ``cas_Status`` of this case."""
        if self.is_closed:
            if self.closure_reason in {
                ClosureReason.REFERRED,
                ClosureReason.TRANSFERRED,
            }:
                return CaseStatus.CLOSED_REFERRED
            return CaseStatus.CLOSED
        if self.assistance == Assistance.FOLLOW_UP:
            return CaseStatus.FOLLOW_UP
        return CaseStatus.ACTIVE


class CaseTeamMember(models.Model):
    """A user working on a case, in a role."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="team")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="case_teams"
    )
    role = models.CharField(max_length=40, choices=Role.choices)
    added_at = models.DateTimeField(auto_now_add=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case", "user"], name="case_team_unique")
        ]
        indexes = [models.Index(fields=["user", "case"])]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.case_id} as {self.role}"


class Visibility(models.TextChoices):
    """Who on the case may see a note or a timeline event."""

    TEAM = "team", _("Whole case team")
    ASSISTANCE_ONLY = "assistance_only", _("Assistance only (never the legal track)")
    LEGAL = "legal", _("Legal track (prosecutor, case manager and competent authority)")


class CaseEvent(models.Model):
    """One entry of a case's timeline; ``sealed_detail`` (maybe personal) is sealed."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    #: Written by TRM itself (a scheduled job, a message applied with no
    #: acting user), not by a person. With no ``actor`` and not automatic, the
    #: person's account was deleted since.
    automatic = models.BooleanField(default=False)
    kind = models.CharField(max_length=60)
    track = models.CharField(max_length=30, blank=True)
    from_state = models.CharField(max_length=30, blank=True)
    to_state = models.CharField(max_length=30, blank=True)
    #: A short, non-personal outcome code (a screening result, an end reason…)
    #: that the SOP deadline engine and statistics read without decrypting.
    code = models.CharField(max_length=40, blank=True)
    visibility = models.CharField(
        max_length=20, choices=Visibility.choices, default=Visibility.TEAM
    )
    sealed_detail = models.BinaryField(null=True, blank=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["case", "-at"])]

    def __str__(self) -> str:
        return f"{self.kind} at {self.at:%Y-%m-%d}"

    def detail_context(self) -> bytes:
        return b"trm:case-event:" + self.id.bytes


class CaseNote(models.Model):
    """A note on a case, sealed under the person's data key, with a visibility level."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    visibility = models.CharField(
        max_length=20, choices=Visibility.choices, default=Visibility.TEAM
    )
    sealed_text = models.BinaryField()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["case", "-created_at"])]

    def __str__(self) -> str:
        return f"note {self.id}"

    def text_context(self) -> bytes:
        return b"trm:case-note:" + self.id.bytes
