"""Needs assessments, risk assessments and the support and safety plan.

What is sealed under the person's data key and what stays in clear
(ARCHITECTURE §4):

* in clear: kinds, types, levels, need statuses, risk-factor codes, dates, the
  interview's language and whether an interpreter helped, who recorded what
  and when, a plan version's number, status and print language — codes that
  the SOP engine, the case page and statistics read without decrypting;
* sealed: every free text (notes, concerns, judgement, safety measures) and the
  whole content of a support and safety plan (names, organisations contacted,
  steps, place…), which can reveal where a person at risk is.

Source: SOPS §2 SOP 1 steps 4-5 [BG 1.2, 1.3], SOP 2 step 5, SOP 3 step 1
[BG 3.1]; §6.1 (RiskAssessment, NeedsAssessment, SupportSafetyPlan); §6.5
rules 8 and 9.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

# --- needs assessments (BG 1.3, BG 3.1) ---------------------------------------------


class NeedsKind(models.TextChoices):
    """Which needs assessment: first contact (BG 1.3) or long-term help (BG 3.1)."""

    IMMEDIATE = "immediate", _("Immediate needs")
    LONG_TERM = "long_term", _("Long-term needs")


class NeedStatus(models.TextChoices):
    """How one need stands."""

    NO_NEED = "no_need", _("No need")
    MET = "met", _("Need met")
    ACTION = "action", _("Needs action")
    URGENT = "urgent", _("Urgent")


#: The domains of an immediate needs assessment (SOPS §2 SOP 1 step 5 [BG 1.3]).
IMMEDIATE_DOMAINS: dict[str, StrOrPromise] = {
    "safety": _("Safety"),
    "health": _("Health"),
    "emotional_state": _("Emotional state"),
    "shelter": _("Shelter"),
    "food": _("Food"),
    "medicine": _("Medicine"),
    "hygiene": _("Hygiene"),
    "sleep": _("Sleep"),
    "family_ties": _("Family ties"),
    "near_term_plans": _("Plans for the coming days"),
}
#: What a long-term assessment adds (SOPS §2 SOP 3 steps 1, 3, 4 [BG 3.1]).
LONG_TERM_ADDED_DOMAINS: dict[str, StrOrPromise] = {
    "education": _("Education"),
    "vocational_training": _("Vocational training"),
    "employment": _("Employment"),
    "housing": _("Housing"),
    "health_insurance": _("Health insurance"),
    "legal_help": _("Legal help and compensation"),
    "documents": _("Documents"),
}
DOMAINS: dict[str, dict[str, StrOrPromise]] = {
    NeedsKind.IMMEDIATE: IMMEDIATE_DOMAINS,
    NeedsKind.LONG_TERM: {**IMMEDIATE_DOMAINS, **LONG_TERM_ADDED_DOMAINS},
}
#: Every domain label, whatever the kind.
DOMAIN_LABELS: dict[str, StrOrPromise] = DOMAINS[NeedsKind.LONG_TERM]


class NeedsAssessment(models.Model):
    """One needs assessment of a case's person (SOPS §6.1 NeedsAssessment).

    Attributes:
        kind: immediate (BG 1.3) or long-term (BG 3.1).
        willing_participation: the person took part willingly (always True:
            the service refuses an assessment without it).
        in_private: the interview was held in private.
        interpreter: an interpreter or cultural mediator helped.
        language: ISO 639 code of the interview's language.
        statuses: domain code → :class:`NeedStatus` (every domain of the kind).
        sealed_notes: JSON ``{"notes": {domain: text}}`` under the person's key.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(
        "cases.Case", on_delete=models.CASCADE, related_name="needs_assessments"
    )
    assessor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    at = models.DateTimeField(_("assessed at"))
    kind = models.CharField(_("kind"), max_length=20, choices=NeedsKind.choices)
    willing_participation = models.BooleanField(_("willing participation"))
    in_private = models.BooleanField(_("in private"))
    interpreter = models.BooleanField(_("interpreter"), default=False)
    language = models.CharField(_("language (ISO 639)"), max_length=3)
    statuses = models.JSONField(_("need statuses"), default=dict)
    sealed_notes = models.BinaryField(null=True, blank=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["case", "-at"])]

    def __str__(self) -> str:
        return f"needs assessment {self.id}"

    def notes_context(self) -> bytes:
        """Associated data binding the sealed notes to this row."""
        return b"trm:needs-assessment:" + self.id.bytes

    def count(self, status: str) -> int:
        """Return how many domains have ``status``."""
        return sum(1 for value in self.statuses.values() if value == status)


# --- risk assessments (BG 1.2; IOM TACT) --------------------------------------------


class RiskType(models.TextChoices):
    """What a risk assessment is for (SOPS §6.1 RiskAssessment)."""

    INITIAL = "initial", _("Initial (first contact)")
    ONGOING = "ongoing", _("Ongoing review")
    WITNESS = "witness", _("Witness in proceedings")
    CHILD_FAMILY = "child_family", _("Child and family")


class RiskLevel(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")
    CRITICAL = "critical", _("Critical: danger now")


class Involvement(models.TextChoices):
    """Whether the person took part (BG 1.2 step 1), or could not talk."""

    INVOLVED = "involved", _("The person took part")
    OBSERVATION_ONLY = (
        "observation_only",
        _("The person cannot talk: based only on what others observe"),
    )


class RiskFactor(models.TextChoices):
    """Risk factors (BG 1.2 at first contact; IOM TACT risk assessment matrix)."""

    TRAFFICKER_THREAT = "trafficker_threat", _("Threat from the traffickers")
    RE_TRAFFICKING = "re_trafficking", _("Risk of re-trafficking")
    FAMILY_THREATENED = "family_threatened", _("Threats to the family")
    FAMILY_INVOLVED = "family_involved", _("Family involved in the trafficking")
    DEBT = "debt", _("Debt")
    URGENT_MEDICAL = "urgent_medical", _("Urgent medical need")
    SELF_HARM = "self_harm", _("Self-harm or mental-health crisis")
    UNSAFE_ACCOMMODATION = "unsafe_accommodation", _("Unsafe accommodation")
    STIGMA = "stigma", _("Stigma or rejection by the community")
    CHILD_SPECIFIC = "child_specific", _("Risk specific to a child")
    OTHER = "other", _("Other (say which in the judgement)")


#: Levels at which the agreed safety measures must be written down.
LEVELS_NEEDING_MEASURES = frozenset({RiskLevel.HIGH, RiskLevel.CRITICAL})


class RiskAssessment(models.Model):
    """One risk assessment or review (SOPS §6.1 RiskAssessment; BG 1.2).

    Attributes:
        type: :class:`RiskType` (``child_family`` only for a presumed child).
        level: :class:`RiskLevel`.
        factors: :class:`RiskFactor` codes found (empty only with
            ``no_risk_factor``).
        no_risk_factor: the assessor found no risk factor (said explicitly).
        involvement: :class:`Involvement`.
        next_review_due: the latest date for the next review.
        sealed_text: JSON ``{"person_concerns", "judgement", "safety_measures"}``
            under the person's key.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(
        "cases.Case", on_delete=models.CASCADE, related_name="risk_assessments"
    )
    assessor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    at = models.DateTimeField(_("assessed at"))
    type = models.CharField(_("type"), max_length=20, choices=RiskType.choices)
    level = models.CharField(_("level"), max_length=10, choices=RiskLevel.choices)
    factors = models.JSONField(_("risk factors"), default=list)
    no_risk_factor = models.BooleanField(_("no risk factor found"), default=False)
    involvement = models.CharField(
        _("involvement of the person"), max_length=20, choices=Involvement.choices
    )
    next_review_due = models.DateField(_("next review due"))
    sealed_text = models.BinaryField(null=True, blank=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["case", "-at"])]

    def __str__(self) -> str:
        return f"risk assessment {self.id}"

    def text_context(self) -> bytes:
        """Associated data binding the sealed text to this row."""
        return b"trm:risk-assessment:" + self.id.bytes

    def factor_labels(self) -> list[str]:
        labels = dict(RiskFactor.choices)
        return [str(labels.get(code, code)) for code in self.factors]


# --- the support and safety plan (BG documentation page; SOPS §6.5 rule 9) -----------


class PlanStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SIGNED = "signed", _("Signed")
    SUPERSEDED = "superseded", _("Signed, superseded by a later version")


class SupportPlanVersion(models.Model):
    """One version of a case's support and safety plan.

    A case has one plan made of numbered versions. At most one version is a
    draft (the one being edited); signing it makes it ``signed`` and the
    version signed before it ``superseded``. Editing after signing starts a new
    draft; a signed version never changes. The content (see
    :class:`trm.assessments.plans.PlanContent`) is sealed as JSON under the
    person's key.
    """

    TRANSITIONS: ClassVar[dict[str, set[str]]] = {
        PlanStatus.DRAFT: {PlanStatus.SIGNED},
        PlanStatus.SIGNED: {PlanStatus.SUPERSEDED},
        PlanStatus.SUPERSEDED: set(),
    }

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(
        "cases.Case", on_delete=models.CASCADE, related_name="support_plan_versions"
    )
    number = models.PositiveIntegerField(_("version"))
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=PlanStatus.choices,
        default=PlanStatus.DRAFT,
    )
    language = models.CharField(_("language printed in (ISO 639)"), max_length=3)
    sealed_content = models.BinaryField()
    created_at = models.DateTimeField(_("drafted at"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    updated_at = models.DateTimeField(_("last saved at"))
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    signed_at = models.DateTimeField(_("signed at"), null=True, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    superseded_at = models.DateTimeField(_("superseded at"), null=True, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "number"], name="support_plan_version_unique"
            ),
            models.UniqueConstraint(
                fields=["case"],
                condition=Q(status="draft"),
                name="support_plan_one_draft",
            ),
        ]

    def __str__(self) -> str:
        return f"support plan v{self.number}"

    def content_context(self) -> bytes:
        """Associated data binding the sealed content to this row."""
        return b"trm:support-plan:" + self.id.bytes

    @property
    def is_draft(self) -> bool:
        return self.status == PlanStatus.DRAFT

    def can_transition_to(self, status: str) -> bool:
        """Return True if this version may move to ``status``."""
        return status in self.TRANSITIONS.get(self.status, set())
