"""SOP 5 criminal and civil proceedings: rights information and the sub-tracks.

The legal track itself is a field of the case (:class:`trm.cases.tracks.Legal`,
SOPS §6.2 region D). The records here hang off a case:

* :class:`RightsInformation` — how the person was told their rights (language,
  interpreter, lawyer, date): SOP 5 step 1; CETS Art. 15(1)-(2); Directive
  2011/36/EU Art. 11(6), 12(2).
* :class:`ProtectionMeasure` — sub-region D4: risk assessed → ordered → lifted
  (CETS Art. 28; Directive 2011/36/EU Art. 12(3)).
* :class:`CompensationClaim` — sub-region D2: filed → awarded | rejected;
  awarded → paid | unpaid (CETS Art. 15(3)-(4); Directive 2011/36/EU Art. 17).
* :class:`NonPunishment` — sub-region D3: a charge linked to the trafficking
  flagged → assessment requested → not prosecuted | penalty not applied |
  prosecuted (CETS Art. 26; Directive 2011/36/EU Art. 8; OHCHR Principle 7).
* :class:`Hearing` — a hearing, possibly with remote testimony from another
  country (SOP 5 steps 4-5; Directive 2011/36/EU Art. 12(4)).
* :class:`ProceedingsNotice` — a ``proceedings.notice`` (M12) sent to or
  received from a counterpart node: logistics only.

Each sub-track is a small state machine: ``TRANSITIONS`` on the model and a
pure :meth:`can_transition_to` that reads only the row. Free text about the
person (the charge, the legal reference of a decision, an outcome) is sealed
under the person's data key; codes, dates, amounts and the names of courts,
authorities and lawyers' organisations stay in clear.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from trm.cases.models import Case

_USER = settings.AUTH_USER_MODEL


class _StateMachine(models.Model):
    """What every sub-track record shares: its case, status and who recorded it."""

    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {}

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(_("status"), max_length=30)
    recorded_at = models.DateTimeField(auto_now_add=True)
    recorded_by = models.ForeignKey(
        _USER, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def can_transition_to(self, status: str) -> bool:
        """Return True if the record may move from its status to ``status``."""
        return status in self.TRANSITIONS.get(self.status, frozenset())

    @property
    def is_final(self) -> bool:
        """True when no move is left."""
        return not self.TRANSITIONS.get(self.status)


class RightsInformation(models.Model):
    """How the person was informed of their rights in proceedings (one per case).

    ``lawyer_organisation`` is the name of the lawyer's organisation (a bar,
    an NGO's legal service); ``""`` means the person has no lawyer yet.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="+")
    informed_on = models.DateField(_("informed on"))
    language = models.CharField(_("language (ISO 639)"), max_length=3)
    interpreter = models.BooleanField(_("with an interpreter"))
    lawyer_organisation = models.CharField(
        _("lawyer's organisation"), max_length=200, blank=True
    )
    recorded_at = models.DateTimeField(auto_now_add=True)
    recorded_by = models.ForeignKey(
        _USER, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    def __str__(self) -> str:
        return f"rights information {self.informed_on}"

    @property
    def has_lawyer(self) -> bool:
        return bool(self.lawyer_organisation)


class ProtectionStatus(models.TextChoices):
    RISK_ASSESSED = "risk_assessed", _("Risk assessed")
    ORDERED = "ordered", _("Measure ordered")
    LIFTED = "lifted", _("Measure lifted")


class ProtectionKind(models.TextChoices):
    """Protection measures of CETS Art. 28 and Directive 2011/36/EU Art. 12(3)."""

    PHYSICAL = "physical", _("Physical protection")
    RELOCATION = "relocation", _("Relocation")
    IDENTITY_CHANGE = "identity_change", _("Change of identity")
    NO_CONTACT = "no_contact", _("Order keeping the offender away")
    ANONYMOUS_TESTIMONY = "anonymous_testimony", _("Testimony without visual contact")
    WITNESS_PROGRAMME = "witness_programme", _("Witness protection programme")
    FAMILY = "family", _("Protection of family members")
    OTHER = "other", _("Other measure")


class ProtectionMeasure(_StateMachine):
    """A protection measure (sub-region D4): risk assessed → ordered → lifted."""

    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        ProtectionStatus.RISK_ASSESSED: frozenset({ProtectionStatus.ORDERED}),
        ProtectionStatus.ORDERED: frozenset({ProtectionStatus.LIFTED}),
        ProtectionStatus.LIFTED: frozenset(),
    }

    status = models.CharField(
        _("status"), max_length=30, choices=ProtectionStatus.choices
    )
    kind = models.CharField(_("measure"), max_length=30, choices=ProtectionKind.choices)
    assessed_on = models.DateField(_("risk assessed on"))
    ordering_authority = models.CharField(
        _("ordering authority"), max_length=200, blank=True
    )
    ordered_on = models.DateField(_("ordered on"), null=True, blank=True)
    lifted_on = models.DateField(_("lifted on"), null=True, blank=True)

    class Meta:
        ordering = ["-assessed_on", "-recorded_at"]
        indexes = [models.Index(fields=["case", "-assessed_on"])]

    def __str__(self) -> str:
        return f"protection {self.kind} ({self.status})"


class CompensationStatus(models.TextChoices):
    FILED = "filed", _("Claim filed")
    AWARDED = "awarded", _("Awarded")
    REJECTED = "rejected", _("Rejected")
    PAID = "paid", _("Paid")
    UNPAID = "unpaid", _("Awarded but not paid")


class CompensationRoute(models.TextChoices):
    """Where compensation is claimed (SOPS §2 SOP 5 step 6)."""

    CRIMINAL = "criminal", _("Civil claim inside the criminal case")
    CIVIL = "civil", _("Separate civil case against the offender")
    STATE = "state", _("State compensation scheme")


class CompensationClaim(_StateMachine):
    """A compensation claim (sub-region D2): filed → awarded | rejected;
    awarded → paid | unpaid; a payment that comes late moves unpaid → paid.

    Every amount is a :class:`~decimal.Decimal` with its ISO 4217 currency.
    """

    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        CompensationStatus.FILED: frozenset(
            {CompensationStatus.AWARDED, CompensationStatus.REJECTED}
        ),
        CompensationStatus.AWARDED: frozenset(
            {CompensationStatus.PAID, CompensationStatus.UNPAID}
        ),
        CompensationStatus.UNPAID: frozenset({CompensationStatus.PAID}),
        CompensationStatus.REJECTED: frozenset(),
        CompensationStatus.PAID: frozenset(),
    }

    status = models.CharField(
        _("status"), max_length=30, choices=CompensationStatus.choices
    )
    route = models.CharField(
        _("route"), max_length=20, choices=CompensationRoute.choices
    )
    filed_on = models.DateField(_("filed on"))
    claimed_amount = models.DecimalField(
        _("amount claimed"), max_digits=15, decimal_places=3, null=True, blank=True
    )
    claimed_currency = models.CharField(_("currency"), max_length=3, blank=True)
    decided_on = models.DateField(_("decided on"), null=True, blank=True)
    awarded_amount = models.DecimalField(
        _("amount awarded"), max_digits=15, decimal_places=3, null=True, blank=True
    )
    awarded_currency = models.CharField(_("currency"), max_length=3, blank=True)
    settled_on = models.DateField(_("paid or found unpaid on"), null=True, blank=True)
    paid_amount = models.DecimalField(
        _("amount paid"), max_digits=15, decimal_places=3, null=True, blank=True
    )
    paid_currency = models.CharField(_("currency"), max_length=3, blank=True)

    class Meta:
        ordering = ["-filed_on", "-recorded_at"]
        indexes = [models.Index(fields=["case", "-filed_on"])]

    def __str__(self) -> str:
        return f"compensation claim ({self.status})"


class NonPunishmentStatus(models.TextChoices):
    FLAGGED = "flagged", _("Charge linked to the trafficking flagged")
    ASSESSMENT_REQUESTED = "assessment_requested", _("Assessment requested")
    NOT_PROSECUTED = "not_prosecuted", _("Not prosecuted")
    PENALTY_NOT_APPLIED = "penalty_not_applied", _("Penalty not applied")
    PROSECUTED = "prosecuted", _("Prosecuted")


#: The outcomes of a non-punishment assessment.
NON_PUNISHMENT_OUTCOMES = frozenset(
    {
        NonPunishmentStatus.NOT_PROSECUTED,
        NonPunishmentStatus.PENALTY_NOT_APPLIED,
        NonPunishmentStatus.PROSECUTED,
    }
)


class OffenceKind(models.TextChoices):
    """Offences victims are typically compelled to commit (SOPS §2 SOP 5 step 7)."""

    IRREGULAR_ENTRY = "irregular_entry", _("Irregular entry")
    IRREGULAR_STAY = "irregular_stay", _("Irregular stay or work")
    FALSE_DOCUMENTS = "false_documents", _("False documents")
    FORCED_CRIME = "forced_crime", _("An offence the person was forced to commit")
    PROSTITUTION = "prostitution", _("Offence related to prostitution")
    OTHER = "other", _("Other offence")


class NonPunishment(_StateMachine):
    """A charge against the person linked to the trafficking (sub-region D3)."""

    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        NonPunishmentStatus.FLAGGED: frozenset(
            {NonPunishmentStatus.ASSESSMENT_REQUESTED}
        ),
        NonPunishmentStatus.ASSESSMENT_REQUESTED: NON_PUNISHMENT_OUTCOMES,
        NonPunishmentStatus.NOT_PROSECUTED: frozenset(),
        NonPunishmentStatus.PENALTY_NOT_APPLIED: frozenset(),
        NonPunishmentStatus.PROSECUTED: frozenset(),
    }

    status = models.CharField(
        _("status"), max_length=30, choices=NonPunishmentStatus.choices
    )
    offence = models.CharField(_("offence"), max_length=30, choices=OffenceKind.choices)
    flagged_on = models.DateField(_("flagged on"))
    #: What the person is charged with (sealed: criminal-offence data).
    sealed_charge = models.BinaryField(null=True)
    requested_on = models.DateField(_("assessment requested on"), null=True, blank=True)
    decided_on = models.DateField(_("decided on"), null=True, blank=True)
    #: The legal reference of the decision, free text (sealed).
    sealed_legal_reference = models.BinaryField(null=True)

    class Meta:
        ordering = ["-flagged_on", "-recorded_at"]
        indexes = [models.Index(fields=["case", "-flagged_on"])]

    def __str__(self) -> str:
        return f"non-punishment {self.offence} ({self.status})"

    def charge_context(self) -> bytes:
        return b"trm:proceedings-charge:" + self.id.bytes

    def legal_reference_context(self) -> bytes:
        return b"trm:proceedings-legal-reference:" + self.id.bytes


class HearingKind(models.TextChoices):
    INTERVIEW = "interview", _("Interview during the investigation")
    PRE_TRIAL = "pre_trial", _("Pre-trial hearing")
    TRIAL = "trial", _("Trial hearing")
    CIVIL = "civil", _("Civil or compensation hearing")
    APPEAL = "appeal", _("Appeal hearing")
    OTHER = "other", _("Other hearing")


class Hearing(models.Model):
    """A hearing in which the person takes part, possibly testifying remotely
    from another country (``remote_country``, ISO 3166-1 alpha-2; ``""``: in
    person)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(_("date and time"))
    court = models.CharField(_("court"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=HearingKind.choices)
    remote_country = models.CharField(
        _("remote testimony from (country)"), max_length=2, blank=True
    )
    interpreter_needed = models.BooleanField(_("interpreter needed"), default=False)
    recorded_at = models.DateTimeField(auto_now_add=True)
    recorded_by = models.ForeignKey(
        _USER, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["case", "-at"])]

    def __str__(self) -> str:
        return f"hearing {self.at:%Y-%m-%d}"

    @property
    def is_remote(self) -> bool:
        return bool(self.remote_country)


class NoticeKind(models.TextChoices):
    """What a ``proceedings.notice`` is about (EXCHANGE.md §3; SOPS §6.4 M12)."""

    HEARING = "hearing", _("Hearing date")
    REMOTE_TESTIMONY = "remote_testimony", _("Remote-testimony arrangement")
    OUTCOME = "outcome", _("Outcome of the proceedings")
    OFFENDER_RELEASE = "offender_release", _("Release of the offender")


class SupportNeeded(models.TextChoices):
    INTERPRETATION = "interpretation", _("Interpretation")
    TRAVEL = "travel", _("Travel")
    ACCOMPANIMENT = "accompaniment", _("Accompaniment")
    LEGAL_AID = "legal_aid", _("Legal aid")
    PROTECTION = "protection", _("Protection")


class NoticeDirection(models.TextChoices):
    OUT = "out", _("Sent")
    IN = "in", _("Received")


class ProceedingsNotice(models.Model):
    """A proceedings notice sent to, or received from, a counterpart node.

    Logistics only; a formal judicial request is only referenced by its
    number (``judicial_reference``). ``sealed_outcome`` holds the outcome text.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    direction = models.CharField(max_length=3, choices=NoticeDirection.choices)
    peer_node = models.CharField(_("counterpart node"), max_length=64)
    msg_id = models.UUIDField(unique=True)
    kind = models.CharField(_("about"), max_length=20, choices=NoticeKind.choices)
    hearing_at = models.DateTimeField(_("hearing date"), null=True, blank=True)
    remote_testimony = models.BooleanField(_("remote testimony"), default=False)
    support_needed = models.JSONField(_("support needed"), default=list)
    sealed_outcome = models.BinaryField(null=True)
    judicial_reference = models.CharField(
        _("judicial request number"), max_length=100, blank=True
    )
    recorded_at = models.DateTimeField(auto_now_add=True)
    recorded_by = models.ForeignKey(
        _USER, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-recorded_at"]
        indexes = [models.Index(fields=["case", "-recorded_at"])]

    def __str__(self) -> str:
        return f"proceedings notice {self.kind} ({self.direction})"

    def outcome_context(self) -> bytes:
        return b"trm:proceedings-notice-outcome:" + self.id.bytes
