"""Return-side message types of the catalogue (EXCHANGE.md §3; SOPS §6.4 M3–M10).

Schemas only: their workflows (and handlers) come with the return and
reintegration issue, so a peer sending one now is answered
``unsupported_type``. Each declares the data categories it may carry, which
the exchange enforces on both sides; personal ones need a consent naming the
recipient (or a named legal obligation where the type declares it).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from trm.cases.messages import OrganisationRefV1, WireIdentityV1, WireModel
from trm.exchange import registry
from trm.exchange import services as exchange

_REF = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$"
_TEXT = 4000

RiskLevel = Literal["low", "medium", "high", "critical"]
RiskFactor = Literal[
    "traffickers", "community_family", "health", "housing", "income", "stigma", "legal"
]


class FamilyMemberV1(WireModel):
    """A family member (categories ``family``; ``contact`` for phones/addresses)."""

    relationship: str = Field(max_length=60)
    given_names: str = Field(default="", max_length=200)
    family_names: str = Field(default="", max_length=200)
    phones: list[str] = Field(default_factory=list, max_length=5)
    addresses: list[str] = Field(default_factory=list, max_length=5)


class FamilyAssessmentRequestV1(WireModel):
    """``family.assessment.request`` v1 (M3): destination → origin social services."""

    trm_case_ref: str = Field(pattern=_REF)
    questions: list[
        Literal[
            "family_involvement",
            "threats",
            "debts",
            "living_conditions",
            "capacity_to_care",
        ]
    ] = Field(min_length=1, max_length=5)
    family_members: list[FamilyMemberV1] = Field(default_factory=list, max_length=20)
    child: bool = False
    context: str = Field(default="", max_length=_TEXT)
    reply_by: datetime | None = None
    sending_organisation: OrganisationRefV1


class FamilyAssessmentReportV1(WireModel):
    """``family.assessment.report`` v1 (M3): the origin's findings."""

    trm_case_ref: str = Field(pattern=_REF)
    assessed_on: date
    assessing_organisation: str = Field(max_length=200)
    findings: str = Field(max_length=_TEXT)
    risk_level: RiskLevel
    recommendation: Literal[
        "return_to_family", "return_alternative_care", "return_not_advised"
    ]
    sending_organisation: OrganisationRefV1


class FamilyTracingRequestV1(WireModel):
    """``family.tracing.request`` v1 (M4): a child's guardian, via the NCP."""

    trm_case_ref: str = Field(pattern=_REF)
    child: WireIdentityV1
    known_relatives: list[FamilyMemberV1] = Field(default_factory=list, max_length=20)
    guardian_contact: OrganisationRefV1
    sending_organisation: OrganisationRefV1


class FamilyTracingResultV1(WireModel):
    """``family.tracing.result`` v1 (M4): tracing result and placement opinion."""

    trm_case_ref: str = Field(pattern=_REF)
    result: Literal["family_found", "not_found", "tracing_not_in_best_interests"]
    family_assessment: str = Field(default="", max_length=_TEXT)
    placement_opinion: Literal[
        "return_to_family", "alternative_care", "no_return", "no_opinion"
    ]
    sending_organisation: OrganisationRefV1


class RiskItemV1(WireModel):
    factor: RiskFactor
    our_rating: RiskLevel
    their_rating: RiskLevel | None = None
    mitigation: str = Field(default="", max_length=1000)


class RiskAssessmentJointV1(WireModel):
    """``risk.assessment.joint`` v1 (M5): the joint pre-return matrix (TACT)."""

    trm_case_ref: str = Field(pattern=_REF)
    assessed_on: date
    items: list[RiskItemV1] = Field(min_length=1, max_length=7)
    overall_level: RiskLevel
    first_needs_on_arrival: list[str] = Field(default_factory=list, max_length=10)
    sending_organisation: OrganisationRefV1


class ReturnPlanV1(WireModel):
    """``return.plan`` v1 (M6): an adult's consent reference, or a child's
    best-interests determination and the guardian's opinion."""

    trm_case_ref: str = Field(pattern=_REF)
    return_consent_ref: UUID | None = None
    best_interests_ref: UUID | None = None
    guardian_agrees: bool | None = None
    proposed_date: date
    route: str = Field(default="", max_length=500)
    escort: bool = False
    medical_needs: str = Field(default="", max_length=2000)
    documents_status: Literal["ready", "requested", "missing"]
    proceedings_contact_needs: str = Field(default="", max_length=1000)
    reception_services: list[str] = Field(default_factory=list, max_length=10)
    sending_organisation: OrganisationRefV1


class TravelDocumentRequestV1(WireModel):
    """``travel.document.request`` v1 (M8): destination → origin consulate."""

    trm_case_ref: str = Field(pattern=_REF)
    identity: WireIdentityV1
    document_type: Literal["passport", "identity_card", "emergency_travel_document"]
    sending_organisation: OrganisationRefV1


class TravelDocumentIssuedV1(WireModel):
    """``travel.document.issued`` v1 (M8)."""

    trm_case_ref: str = Field(pattern=_REF)
    document_type: Literal["passport", "identity_card", "emergency_travel_document"]
    number: str = Field(default="", max_length=60)
    issued_on: date
    valid_until: date
    sending_organisation: OrganisationRefV1


class ReturnHandoverV1(WireModel):
    """``return.handover`` v1 (M9): itinerary and handover arrangements."""

    trm_case_ref: str = Field(pattern=_REF)
    carrier: str = Field(default="", max_length=200)
    departure_at: datetime
    arrival_at: datetime
    arrival_point: str = Field(max_length=300)
    escort: str = Field(default="", max_length=300)
    meeting_organisation: OrganisationRefV1
    safety_arrangements: str = Field(default="", max_length=1000)
    sending_organisation: OrganisationRefV1


class ReturnArrivalV1(WireModel):
    """``return.arrival`` v1 (M9): arrival confirmed or not (a missed
    confirmation raises a safety alert)."""

    trm_case_ref: str = Field(pattern=_REF)
    arrived: bool
    at: datetime | None = None
    handover_note: str = Field(default="", max_length=1000)
    sending_organisation: OrganisationRefV1


class FollowupReportV1(WireModel):
    """``followup.report`` v1 (M10): only with the person's consent."""

    trm_case_ref: str = Field(pattern=_REF)
    reported_on: date
    services: list[str] = Field(default_factory=list, max_length=10)
    housing: Literal["stable", "unstable", "none", "unknown"] = "unknown"
    health: Literal["good", "needs_care", "unknown"] = "unknown"
    income: Literal["employed", "support", "none", "unknown"] = "unknown"
    education: Literal["attending", "not_attending", "not_applicable", "unknown"] = (
        "unknown"
    )
    risk_update: str = Field(default="", max_length=2000)
    contact_kept: bool = True
    sending_organisation: OrganisationRefV1


def _types() -> list[registry.MessageType]:
    def schema_only(
        name: str,
        schema: type[WireModel],
        categories: set[str],
        sop: tuple[int, ...],
        description: str,
        exceptions: frozenset[str] = frozenset(),
    ) -> registry.MessageType:
        return registry.MessageType(
            name=name,
            version=1,
            schema=schema,
            categories=frozenset(categories),
            handler=None,
            exceptions=exceptions,
            sop=sop,
            description=description,
        )

    return [
        schema_only(
            "family.assessment.request",
            FamilyAssessmentRequestV1,
            {"family", "identity", "contact", "case_summary", "risk"},
            (2, 4),
            "Family, social and risk questions (M3)",
        ),
        schema_only(
            "family.assessment.report",
            FamilyAssessmentReportV1,
            {"family", "case_summary", "risk"},
            (2, 4),
            "Family assessment report (M3)",
        ),
        schema_only(
            "family.tracing.request",
            FamilyTracingRequestV1,
            {"identity", "documents", "family", "contact", "photo"},
            (1, 4),
            "Family tracing for a child (M4)",
        ),
        schema_only(
            "family.tracing.result",
            FamilyTracingResultV1,
            {"family", "case_summary", "risk"},
            (1, 4),
            "Family tracing result and placement opinion (M4)",
        ),
        schema_only(
            "risk.assessment.joint",
            RiskAssessmentJointV1,
            {"risk", "case_summary", "health"},
            (4,),
            "Joint pre-return risk and needs assessment (M5)",
        ),
        schema_only(
            "return.plan",
            ReturnPlanV1,
            {"case_summary", "health", "legal", "risk"},
            (4,),
            "Return plan proposal (M6)",
        ),
        schema_only(
            "travel.document.request",
            TravelDocumentRequestV1,
            {"identity", "documents", "photo"},
            (4,),
            "Travel document request (M8)",
            exceptions=frozenset({exchange.LEGAL_OBLIGATION}),
        ),
        schema_only(
            "travel.document.issued",
            TravelDocumentIssuedV1,
            {"documents"},
            (4,),
            "Travel document issued (M8)",
            exceptions=frozenset({exchange.LEGAL_OBLIGATION}),
        ),
        schema_only(
            "return.handover",
            ReturnHandoverV1,
            {"case_summary", "risk"},
            (4,),
            "Travel and handover notice (M9)",
        ),
        schema_only(
            "return.arrival",
            ReturnArrivalV1,
            {"case_summary", "risk"},
            (4,),
            "Arrival confirmation (M9)",
        ),
        schema_only(
            "followup.report",
            FollowupReportV1,
            {"case_summary", "health", "risk"},
            (4,),
            "Reintegration follow-up report (M10)",
        ),
    ]


def register_all() -> None:
    """Register the schema-only types (``AssistanceConfig.ready``)."""
    for message_type in _types():
        registry.register(message_type)
