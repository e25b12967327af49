"""Return-side message types of the catalogue (EXCHANGE.md §3; SOPS §6.4 M3–M9).

Schemas only: their workflows (and handlers) come with the return and
reintegration issue, so a peer sending one now is answered
``unsupported_type``. Each declares the data categories it may carry, which
the exchange enforces on both sides; personal ones need a consent naming the
recipient (or a named legal obligation where the type declares it). Each also
says which categories a payload actually carries (``carried``), so that a
message cannot carry data its envelope does not declare.

``return.handover`` v1 is registered, with its handler, by
:mod:`trm.handover.messages` (the answer is ``return.handover.arrival``;
``return.arrival`` below stays declared, unused).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from trm.cases.messages import (
    OrganisationRefV1,
    WireIdentityV1,
    WireModel,
    identity_categories,
)
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


class ReturnArrivalV1(WireModel):
    """``return.arrival`` v1 (M9): arrival confirmed or not (a missed
    confirmation raises a safety alert)."""

    trm_case_ref: str = Field(pattern=_REF)
    arrived: bool
    at: datetime | None = None
    handover_note: str = Field(default="", max_length=1000)
    sending_organisation: OrganisationRefV1


# --- what a payload carries (MessageType.carried) ------------------------------------


def _family_members(members: list[FamilyMemberV1]) -> set[str]:
    """Family members are ``family``; their phones or addresses ``contact``."""
    if not members:
        return set()
    carried = {"family"}
    if any(m.phones or m.addresses for m in members):
        carried.add("contact")
    return carried


def family_assessment_request_carried(payload: BaseModel) -> set[str]:
    """Family members (``family``, ``contact``), the context text
    (``case_summary``); the questions are codes."""
    assert isinstance(payload, FamilyAssessmentRequestV1)  # noqa: S101
    carried = _family_members(payload.family_members)
    if payload.context:
        carried.add("case_summary")
    return carried


def family_assessment_report_carried(payload: BaseModel) -> set[str]:
    """Findings and a recommendation about the family (``family``) and a
    risk level (``risk``): always."""
    return {"family", "risk"}


def family_tracing_request_carried(payload: BaseModel) -> set[str]:
    """The child's identity block, known relatives (``family``, ``contact``)."""
    assert isinstance(payload, FamilyTracingRequestV1)  # noqa: S101
    return identity_categories(payload.child) | _family_members(payload.known_relatives)


def family_tracing_result_carried(payload: BaseModel) -> set[str]:
    """Whether the family was found and where the child may live (``family``)."""
    return {"family"}


def risk_assessment_carried(payload: BaseModel) -> set[str]:
    """Risk items (``risk``); a health factor (``health``); first needs on
    arrival (``case_summary``)."""
    assert isinstance(payload, RiskAssessmentJointV1)  # noqa: S101
    carried = {"risk"}
    if any(item.factor == "health" for item in payload.items):
        carried.add("health")
    if payload.first_needs_on_arrival:
        carried.add("case_summary")
    return carried


def return_plan_carried(payload: BaseModel) -> set[str]:
    """The plan (``case_summary``), medical needs (``health``), proceedings
    contact needs (``legal``)."""
    assert isinstance(payload, ReturnPlanV1)  # noqa: S101
    carried = {"case_summary"}
    if payload.medical_needs:
        carried.add("health")
    if payload.proceedings_contact_needs:
        carried.add("legal")
    return carried


def travel_document_request_carried(payload: BaseModel) -> set[str]:
    """The person's identity block (``identity``, ``documents``, ``contact``)."""
    assert isinstance(payload, TravelDocumentRequestV1)  # noqa: S101
    return identity_categories(payload.identity)


def travel_document_issued_carried(payload: BaseModel) -> set[str]:
    """A document issued to the person (``documents``): always."""
    return {"documents"}


def return_arrival_carried(payload: BaseModel) -> set[str]:
    """Whether and when the person arrived (``case_summary``): always."""
    return {"case_summary"}


Carried = Callable[[BaseModel], set[str]]


def _types() -> list[registry.MessageType]:
    def schema_only(
        name: str,
        schema: type[WireModel],
        categories: set[str],
        sop: tuple[int, ...],
        description: str,
        exceptions: frozenset[str] = frozenset(),
        *,
        carried: Carried,
    ) -> registry.MessageType:
        return registry.MessageType(
            name=name,
            version=1,
            schema=schema,
            categories=frozenset(categories),
            handler=None,
            exceptions=exceptions,
            carried=carried,
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
            carried=family_assessment_request_carried,
        ),
        schema_only(
            "family.assessment.report",
            FamilyAssessmentReportV1,
            {"family", "case_summary", "risk"},
            (2, 4),
            "Family assessment report (M3)",
            carried=family_assessment_report_carried,
        ),
        schema_only(
            "family.tracing.request",
            FamilyTracingRequestV1,
            {"identity", "documents", "family", "contact", "photo"},
            (1, 4),
            "Family tracing for a child (M4)",
            carried=family_tracing_request_carried,
        ),
        schema_only(
            "family.tracing.result",
            FamilyTracingResultV1,
            {"family", "case_summary", "risk"},
            (1, 4),
            "Family tracing result and placement opinion (M4)",
            carried=family_tracing_result_carried,
        ),
        schema_only(
            "risk.assessment.joint",
            RiskAssessmentJointV1,
            {"risk", "case_summary", "health"},
            (4,),
            "Joint pre-return risk and needs assessment (M5)",
            carried=risk_assessment_carried,
        ),
        schema_only(
            "return.plan",
            ReturnPlanV1,
            {"case_summary", "health", "legal", "risk"},
            (4,),
            "Return plan proposal (M6)",
            carried=return_plan_carried,
        ),
        schema_only(
            "travel.document.request",
            TravelDocumentRequestV1,
            {"identity", "documents", "photo"},
            (4,),
            "Travel document request (M8)",
            exceptions=frozenset({exchange.LEGAL_OBLIGATION}),
            carried=travel_document_request_carried,
        ),
        schema_only(
            "travel.document.issued",
            TravelDocumentIssuedV1,
            {"documents"},
            (4,),
            "Travel document issued (M8)",
            exceptions=frozenset({exchange.LEGAL_OBLIGATION}),
            carried=travel_document_issued_carried,
        ),
        schema_only(
            "return.arrival",
            ReturnArrivalV1,
            {"case_summary", "risk"},
            (4,),
            "Arrival confirmation (M9)",
            carried=return_arrival_carried,
        ),
    ]


def register_all() -> None:
    """Register the schema-only types (``AssistanceConfig.ready``)."""
    for message_type in _types():
        registry.register(message_type)
