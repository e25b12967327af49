"""SOP 4 on the destination node: the records a return is prepared on.

* :class:`BestInterestsDetermination` — for a child (SOPS §6.1 ChildProtection
  "BIA/BID records"; region E; UNICEF ch. 10; CETS Art. 16(7)).
* :class:`JointRiskAssessment` — the joint pre-return risk and needs matrix
  (SOPS §2 SOP 4 step 2; IOM/TACT; §6.4 M5, wire type ``risk.assessment.joint``).
* :class:`ReturnPlan` — documents and logistics (SOP 4 steps 5–7; §6.1
  ReturnPlan), with the receiving organisation's answer (M7).

What is sealed under the person's data key and what stays in clear
(ARCHITECTURE §4): codes, levels, dates and panel *functions* (never names)
stay in clear for the guard, the SOP engine and statistics; the child's views,
the guardian's written opinion, mitigations, the itinerary, the meeting point
and the contact needs for proceedings are sealed — they can reveal where a
person at risk will be.

The guard of the journey (rules 4 and 5) is :mod:`trm.returns.guards`.
"""

from __future__ import annotations

import uuid
from datetime import date

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from trm.assessments.models import RiskLevel

# --- best-interests determination -------------------------------------------------


class BidOutcome(models.TextChoices):
    """What the best-interests determination decided (SOPS §6.2 region E)."""

    LOCAL_INTEGRATION = "local_integration", _("Local integration")
    RETURN_TO_FAMILY = "return_to_family", _("Return to the family")
    RETURN_ALTERNATIVE_CARE = (
        "return_alternative_care",
        _("Return to alternative care"),
    )
    THIRD_COUNTRY = "third_country", _("Resettlement in a third country")


#: Outcomes under which a child may be returned (SOPS §6.5 rule 4).
RETURN_OUTCOMES = frozenset(
    {BidOutcome.RETURN_TO_FAMILY, BidOutcome.RETURN_ALTERNATIVE_CARE}
)


class PanelFunction(models.TextChoices):
    """A function on the determination panel (functions only, never names)."""

    GUARDIAN = "guardian", _("Guardian")
    CHILD_PROTECTION_AUTHORITY = (
        "child_protection_authority",
        _("Child-protection authority"),
    )
    SOCIAL_SERVICES = "social_services", _("Social services")
    CASE_MANAGER = "case_manager", _("Case manager")
    PSYCHOLOGIST = "psychologist", _("Psychologist")
    LEGAL_REPRESENTATIVE = "legal_representative", _("Legal representative")
    ORIGIN_AUTHORITY = (
        "origin_authority",
        _("Child-protection authority of the country of origin"),
    )
    NATIONAL_CONTACT_POINT = "national_contact_point", _("National contact point")


class GuardianOpinion(models.TextChoices):
    """The guardian's opinion on the determination (SOPS §2 SOP 4 documents)."""

    AGREES = "agrees", _("Agrees")
    AGREES_WITH_RESERVATIONS = "reservations", _("Agrees, with reservations")
    DISAGREES = "disagrees", _("Disagrees")


class BestInterestsDetermination(models.Model):
    """One best-interests determination for a child; the newest one counts.

    Attributes:
        determined_on: the date the panel decided.
        panel: :class:`PanelFunction` codes (always includes the guardian).
        outcome: :class:`BidOutcome`.
        guardian_opinion: :class:`GuardianOpinion`.
        sealed_text: JSON ``{"child_views", "guardian_note"}`` under the
            person's key (:meth:`text_context`).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(
        "cases.Case", on_delete=models.CASCADE, related_name="best_interests"
    )
    determined_on = models.DateField(_("determined on"))
    panel = models.JSONField(_("panel (functions)"), default=list)
    outcome = models.CharField(_("outcome"), max_length=30, choices=BidOutcome.choices)
    guardian_opinion = models.CharField(
        _("guardian's opinion"), max_length=20, choices=GuardianOpinion.choices
    )
    sealed_text = models.BinaryField()
    recorded_at = models.DateTimeField(_("recorded at"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-recorded_at"]
        indexes = [models.Index(fields=["case", "-recorded_at"])]

    def __str__(self) -> str:
        return f"best-interests determination {self.id}"

    def text_context(self) -> bytes:
        """Associated data binding the sealed text to this row."""
        return b"trm:returns:bid:" + self.id.bytes

    @property
    def is_return(self) -> bool:
        """True if the outcome is a return (to the family or alternative care)."""
        return self.outcome in RETURN_OUTCOMES

    def panel_labels(self) -> list[str]:
        labels = dict(PanelFunction.choices)
        return [str(labels.get(code, code)) for code in self.panel]


# --- joint pre-return risk and needs assessment -----------------------------------


#: The matrix items (SOPS §6.4 M5, IOM/TACT; the codes of the wire type
#: ``risk.assessment.joint`` v1, so a message handler maps them one to one).
MATRIX_ITEMS: dict[str, StrOrPromise] = {
    "traffickers": _("Risk from the traffickers"),
    "community_family": _("Risk from the community or the family"),
    "health": _("Health"),
    "housing": _("Housing"),
    "income": _("Income and debts"),
    "stigma": _("Stigma"),
    "legal": _("Legal situation"),
}
#: The ratings an item may get from each side.
ITEM_LEVELS = (RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH)
_ORDER: dict[str, int] = {"low": 0, "medium": 1, "high": 2, "critical": 3}


def highest(levels: list[str]) -> str:
    """Return the highest of ``levels`` (``low`` if there is none)."""
    return max(levels, key=lambda level: _ORDER.get(level, 0), default=RiskLevel.LOW)


class JointRiskAssessment(models.Model):
    """The joint pre-return risk and needs assessment (SOPS §2 SOP 4 step 2).

    Filled on both sides: the destination side records its ratings, the overall
    level, mitigations and first needs; the origin side's ratings arrive later
    (:func:`trm.returns.services.apply_origin_ratings`, which a
    ``risk.assessment.joint`` handler will call) or are typed in from the
    partner's answer. A new assessment replaces the previous one; the newest
    counts. Distinct from :class:`trm.assessments.models.RiskAssessment` (one
    side's assessment of the person now): this one is two-sided and merged
    across nodes, and has a validity for the journey. Levels are
    :class:`trm.assessments.models.RiskLevel`.

    Attributes:
        ratings: item code → ``{"destination": level, "origin": level | None}``
            for every item of :data:`MATRIX_ITEMS`.
        overall_level: the destination side's overall judgement.
        first_needs: need-domain codes of :data:`trm.assessments.models.DOMAINS`
            the person will need first on arrival.
        origin_organisation: the origin partner (an organisation, not a person).
        sealed_text: JSON ``{"mitigations", "needs_note"}`` under the person's key.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(
        "cases.Case", on_delete=models.CASCADE, related_name="joint_risk_assessments"
    )
    assessed_on = models.DateField(_("assessed on"))
    valid_until = models.DateField(_("valid until"))
    ratings = models.JSONField(_("matrix ratings"), default=dict)
    overall_level = models.CharField(
        _("overall level"), max_length=10, choices=RiskLevel.choices
    )
    first_needs = models.JSONField(_("first needs on arrival"), default=list)
    has_mitigations = models.BooleanField(_("mitigations written"), default=False)
    origin_organisation = models.CharField(
        _("organisation in the country of origin"), max_length=200, blank=True
    )
    origin_rated_on = models.DateField(_("origin side rated on"), null=True, blank=True)
    #: On the origin node: the destination's assessment id (``assessment_ref``
    #: of ``risk.assessment.joint``), the peer it came from and the message
    #: the origin's answer replies to. Empty on the destination node.
    remote_ref = models.UUIDField(null=True, blank=True, db_index=True)
    peer_node = models.CharField(max_length=64, blank=True)
    received_msg_id = models.UUIDField(null=True, blank=True)
    sealed_text = models.BinaryField(null=True, blank=True)
    recorded_at = models.DateTimeField(_("recorded at"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-recorded_at"]
        indexes = [models.Index(fields=["case", "-recorded_at"])]

    def __str__(self) -> str:
        return f"joint risk assessment {self.id}"

    def text_context(self) -> bytes:
        """Associated data binding the sealed text to this row."""
        return b"trm:returns:joint-risk:" + self.id.bytes

    def is_valid_on(self, day: date) -> bool:
        """True if ``day`` is within the assessment's validity."""
        return self.assessed_on <= day <= self.valid_until

    def origin_missing(self) -> list[str]:
        """Return the items the origin side has not rated yet (matrix order)."""
        return [
            item
            for item in MATRIX_ITEMS
            if not (self.ratings.get(item) or {}).get("origin")
        ]

    def effective_level(self) -> str:
        """Return the highest of the overall level and every rating of both
        sides: one side's "high" is not averaged away."""
        levels = [self.overall_level]
        for pair in self.ratings.values():
            levels.extend(v for v in (pair or {}).values() if v)
        return highest(levels)

    def rows(self) -> list[tuple[str, StrOrPromise, str, str]]:
        """Return ``(code, label, destination, origin)`` per item, in order."""
        rows = []
        for code, label in MATRIX_ITEMS.items():
            pair = self.ratings.get(code) or {}
            rows.append(
                (code, label, pair.get("destination", ""), pair.get("origin") or "")
            )
        return rows


# --- documents and logistics ------------------------------------------------------


class ReceiverDecision(models.TextChoices):
    """The receiving organisation's answer (SOPS §6.4 M7)."""

    PENDING = "pending", _("No answer yet")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")


class DecisionSource(models.TextChoices):
    """How the receiver's answer reached this node."""

    RECORDED = "recorded", _("Recorded by a case worker")
    MESSAGE = "message", _("Received through the exchange")


class MedicalFitness(models.TextChoices):
    NOT_ASSESSED = "not_assessed", _("Not assessed yet")
    FIT = "fit", _("Fit to travel")
    NOT_FIT = "not_fit", _("Not fit to travel")


class CarerKind(models.TextChoices):
    """Who will care for a returning child (UNICEF ch. 10)."""

    PARENT = "parent", _("Parent")
    RELATIVE = "relative", _("Other relative")
    OTHER_ADULT = "other_adult", _("Other adult carer")
    CARE_AGENCY = "care_agency", _("State or child-care agency")


class ReturnPlan(models.Model):
    """The case's return plan: documents, journey, escort, reception.

    One per case, changed in place while the return is prepared.

    Attributes:
        travel_document_requested_on / _issued_on / _valid_until: the travel
            document (CETS Art. 16(3)-(4); M8).
        departure_on: the planned day of departure.
        escort_function: who escorts (a function, e.g. "social worker"); empty
            when no escort is assigned. Required for a child.
        medical_fitness / medical_fitness_on: the fitness to travel.
        meeting_person_function: who meets the person on arrival (a function).
        receiver_decision / receiver_organisation / receiver_decided_on /
            receiver_source: the receiving organisation's answer (M7).
        carer_kind / carer_confirmed_on: for a child, the confirmed carer.
        sealed_text: JSON ``{"itinerary", "meeting_point", "legal_contact_needs"}``.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.OneToOneField(
        "cases.Case", on_delete=models.CASCADE, related_name="return_plan"
    )
    travel_document_requested_on = models.DateField(
        _("travel document requested on"), null=True, blank=True
    )
    travel_document_issued_on = models.DateField(
        _("travel document issued on"), null=True, blank=True
    )
    travel_document_valid_until = models.DateField(
        _("travel document valid until"), null=True, blank=True
    )
    departure_on = models.DateField(_("departure on"), null=True, blank=True)
    escort_function = models.CharField(
        _("escort (function)"), max_length=200, blank=True
    )
    medical_fitness = models.CharField(
        _("medical fitness"),
        max_length=20,
        choices=MedicalFitness.choices,
        default=MedicalFitness.NOT_ASSESSED,
    )
    medical_fitness_on = models.DateField(
        _("fitness assessed on"), null=True, blank=True
    )
    meeting_person_function = models.CharField(
        _("meeting person (function)"), max_length=200, blank=True
    )
    receiver_decision = models.CharField(
        _("receiving organisation"),
        max_length=10,
        choices=ReceiverDecision.choices,
        default=ReceiverDecision.PENDING,
    )
    receiver_organisation = models.CharField(
        _("receiving organisation"), max_length=200, blank=True
    )
    receiver_decided_on = models.DateField(_("answered on"), null=True, blank=True)
    receiver_source = models.CharField(
        _("answer received"), max_length=10, choices=DecisionSource.choices, blank=True
    )
    carer_kind = models.CharField(
        _("carer"), max_length=20, choices=CarerKind.choices, blank=True
    )
    carer_confirmed_on = models.DateField(
        _("carer confirmed on"), null=True, blank=True
    )
    #: What an answer through the exchange adds (``return.plan.response``):
    #: a decline's reason code, the case manager's function and the services
    #: offered (need-domain codes).
    receiver_decline_reason = models.CharField(
        _("reason for declining"), max_length=30, blank=True
    )
    receiver_case_manager_function = models.CharField(
        _("case manager (function)"), max_length=200, blank=True
    )
    receiver_services = models.JSONField(_("services offered"), default=list)
    sealed_text = models.BinaryField(null=True, blank=True)
    updated_at = models.DateTimeField(_("last changed at"))
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    def __str__(self) -> str:
        return f"return plan {self.id}"

    def text_context(self) -> bytes:
        """Associated data binding the sealed text to this row."""
        return b"trm:returns:plan:" + self.id.bytes

    def documents_ready(self, day: date) -> bool:
        """True if the travel document is issued and still valid on ``day``
        (and on the departure day, when one is planned)."""
        if self.travel_document_issued_on is None:
            return False
        until = self.travel_document_valid_until
        if until is None:
            return True
        return until >= day and (
            self.departure_on is None or until >= self.departure_on
        )

    @property
    def receiver_accepted(self) -> bool:
        return self.receiver_decision == ReceiverDecision.ACCEPTED

    @property
    def carer_confirmed(self) -> bool:
        return bool(self.carer_kind) and self.carer_confirmed_on is not None


# --- on the origin node: what arrived through the exchange ------------------------


class DeclineReason(models.TextChoices):
    """Why a receiving organisation declines a return plan (codes on the wire)."""

    NO_CAPACITY = "no_capacity", _("No capacity")
    NOT_ELIGIBLE = "not_eligible", _("Not eligible for our services")
    NOT_SAFE = "not_safe", _("The return is not safe now")
    NO_CARER = "no_carer", _("No carer for the child")
    OTHER = "other", _("Other reason")


class DocumentsStatus(models.TextChoices):
    """The travel document's state as a return plan tells it."""

    NONE = "none", _("Not requested yet")
    REQUESTED = "requested", _("Requested")
    ISSUED = "issued", _("Issued")


class IncomingReturn(models.Model):
    """A return plan received from the destination node (``return.plan`` v1;
    SOPS §2 SOP 4; §6.4 M6) on the origin node's linked case, with this
    node's answer (``return.plan.response``; M7).

    One row per plan (``plan_ref``, the destination's plan id); a plan sent
    again replaces the content and clears the answer.

    Attributes:
        consent_ref: the id of the person's ``return`` consent on the
            destination node (an adult; a reference only).
        bid_outcome / guardian_opinion / bid_determined_on: a child's
            best-interests determination (codes).
        legal_basis_kind: ``consent`` (free text came) or ``pseudonymous``.
        sealed_text: JSON ``{"itinerary", "medical_needs",
            "legal_contact_needs"}`` under the person's key.
        decision ...: this node's answer (codes, functions, organisation).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(
        "cases.Case", on_delete=models.CASCADE, related_name="incoming_returns"
    )
    peer_node = models.CharField(max_length=64)
    msg_id = models.UUIDField()
    plan_ref = models.UUIDField()
    sending_organisation = models.CharField(max_length=200)
    child = models.BooleanField(default=False)
    consent_ref = models.UUIDField(null=True, blank=True)
    bid_outcome = models.CharField(
        _("best-interests outcome"),
        max_length=30,
        choices=BidOutcome.choices,
        blank=True,
    )
    guardian_opinion = models.CharField(
        _("guardian's opinion"),
        max_length=20,
        choices=GuardianOpinion.choices,
        blank=True,
    )
    bid_determined_on = models.DateField(null=True, blank=True)
    departure_on = models.DateField(_("departure on"), null=True, blank=True)
    escort_function = models.CharField(
        _("escort (function)"), max_length=200, blank=True
    )
    meeting_person_function = models.CharField(
        _("meeting person (function)"), max_length=200, blank=True
    )
    medical_fitness = models.CharField(
        _("medical fitness"), max_length=20, choices=MedicalFitness.choices
    )
    documents_status = models.CharField(
        _("travel document"), max_length=10, choices=DocumentsStatus.choices
    )
    document_valid_until = models.DateField(null=True, blank=True)
    legal_basis_kind = models.CharField(max_length=20)
    #: The sender's consent (``consent:<id>``) the free text arrived under:
    #: withdrawing it erases the text here (:func:`trm.returns.messages.
    #: restrict_received`).
    received_under = models.UUIDField(null=True, blank=True)
    sealed_text = models.BinaryField(null=True, blank=True)
    received_at = models.DateTimeField(_("received at"))
    decision = models.CharField(
        _("our answer"),
        max_length=10,
        choices=ReceiverDecision.choices,
        default=ReceiverDecision.PENDING,
    )
    decline_reason = models.CharField(
        _("reason for declining"),
        max_length=30,
        choices=DeclineReason.choices,
        blank=True,
    )
    receiving_organisation = models.CharField(
        _("receiving organisation"), max_length=200, blank=True
    )
    case_manager_function = models.CharField(
        _("case manager (function)"), max_length=200, blank=True
    )
    services = models.JSONField(_("services offered"), default=list)
    carer_kind = models.CharField(
        _("carer"), max_length=20, choices=CarerKind.choices, blank=True
    )
    carer_confirmed_on = models.DateField(null=True, blank=True)
    answered_on = models.DateField(null=True, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "plan_ref"], name="returns_incoming_one_per_plan"
            )
        ]

    def __str__(self) -> str:
        return f"incoming return plan {self.id}"

    def text_context(self) -> bytes:
        """Associated data binding the sealed text to this row."""
        return b"trm:returns:incoming:" + self.id.bytes

    @property
    def answered(self) -> bool:
        return self.decision != ReceiverDecision.PENDING


class FamilyKind(models.TextChoices):
    """What is asked of the country of origin (EXCHANGE §3; SOPS §6.4 M3, M4)."""

    ASSESSMENT = "assessment", _("Family assessment")
    TRACING = "tracing", _("Family tracing")


class FamilyDirection(models.TextChoices):
    OUT = "out", _("Asked by this node")
    IN = "in", _("Asked of this node")


class FamilyStatus(models.TextChoices):
    REQUESTED = "requested", _("Asked, no answer yet")
    REPORTED = "reported", _("Answered")


class FamilyRecommendation(models.TextChoices):
    """The report's recommendation (codes on the wire)."""

    RETURN_TO_FAMILY = "return_to_family", _("Return to the family")
    RETURN_WITH_SUPPORT = "return_with_support", _("Return to the family with support")
    ALTERNATIVE_CARE = "alternative_care", _("Alternative care")
    NO_RETURN = "no_return", _("No return to the family")
    FAMILY_NOT_FOUND = "family_not_found", _("The family was not found")


class FamilyExchange(models.Model):
    """A family assessment or tracing asked of the country of origin and its
    answer (``family.assessment.request`` / ``.report``, ``family.tracing.
    request`` / ``.result``; EXCHANGE §3; SOPS §2 SOP 2, 4; "always before a
    child's return").

    On the destination node ``direction=out`` (this node asked), on the origin
    node ``direction=in``. ``request_ref`` is the destination row's id on both
    sides. Free text is sealed under the person's key.

    Attributes:
        sealed_text: JSON ``{"questions", "findings"}``.
        reported_on / assessor_function / recommendation: the answer (codes,
            a function, never a name).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(
        "cases.Case", on_delete=models.CASCADE, related_name="family_exchanges"
    )
    kind = models.CharField(_("kind"), max_length=12, choices=FamilyKind.choices)
    direction = models.CharField(max_length=3, choices=FamilyDirection.choices)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=FamilyStatus.choices,
        default=FamilyStatus.REQUESTED,
    )
    #: Empty with ``request_msg_id`` for a report recorded by hand (it came
    #: outside TRM).
    peer_node = models.CharField(max_length=64, blank=True)
    request_ref = models.UUIDField(db_index=True)
    request_msg_id = models.UUIDField(null=True, blank=True)
    requested_on = models.DateField(_("asked on"))
    reported_on = models.DateField(_("answered on"), null=True, blank=True)
    assessor_function = models.CharField(
        _("assessor (function)"), max_length=200, blank=True
    )
    recommendation = models.CharField(
        _("recommendation"),
        max_length=30,
        choices=FamilyRecommendation.choices,
        blank=True,
    )
    #: The sender's consent the last text from the peer arrived under.
    received_under = models.UUIDField(null=True, blank=True)
    sealed_text = models.BinaryField(null=True, blank=True)
    recorded_at = models.DateTimeField(_("recorded at"))

    class Meta:
        ordering = ["-recorded_at"]

    def __str__(self) -> str:
        return f"family {self.kind} {self.id}"

    def text_context(self) -> bytes:
        """Associated data binding the sealed text to this row."""
        return b"trm:returns:family:" + self.id.bytes
