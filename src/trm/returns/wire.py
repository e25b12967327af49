"""Wire schemas (v1: never edited once released) of the SOP 4 preparation
messages between the destination node and the origin node (EXCHANGE.md §3).

The registration, the handlers and the rules of each type are in
:mod:`trm.returns.messages`; the services that send them are in
:mod:`trm.returns.services.across`. Codes on the wire are this project's
(:mod:`trm.returns.models`), so both sides map them one to one.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StringConstraints, field_validator, model_validator

from trm.assessments.models import DOMAIN_LABELS
from trm.cases.messages import OrganisationRefV1, WireModel
from trm.returns.models import MATRIX_ITEMS

RISK_JOINT = "risk.assessment.joint"
RETURN_PLAN = "return.plan"
RETURN_PLAN_RESPONSE = "return.plan.response"
FAMILY_ASSESSMENT_REQUEST = "family.assessment.request"
FAMILY_ASSESSMENT_REPORT = "family.assessment.report"
FAMILY_TRACING_REQUEST = "family.tracing.request"
FAMILY_TRACING_RESULT = "family.tracing.result"

_REF = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$"
#: Longest free text on the wire (as the return record's sealed text).
_LONG = 5000

Level = Literal["low", "medium", "high"]
Overall = Literal["low", "medium", "high", "critical"]
Line = Annotated[str, StringConstraints(max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=_LONG)]
Code = Annotated[
    str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")
]


def _domains(values: list[str]) -> list[str]:
    unknown = [v for v in values if v not in DOMAIN_LABELS]
    if unknown:
        raise ValueError("unknown need-domain codes")
    return values


class JointRiskV1(WireModel):
    """``risk.assessment.joint`` v1 (M5; SOPS §2 SOP 4 step 2): one side's
    ratings of the joint pre-return risk and needs matrix. Risk information
    only (category ``risk``, legal basis ``pseudonymous``): the mitigation
    text stays on the node that wrote it, only whether there is one travels.

    ``assessment_ref`` is the destination's assessment id on both sides;
    ``side`` says whose ratings these are.
    """

    trm_case_ref: str = Field(pattern=_REF)
    assessment_ref: UUID
    side: Literal["destination", "origin"]
    assessed_on: date
    valid_until: date
    ratings: dict[str, Level]
    overall_level: Overall
    first_needs: list[Code] = Field(default_factory=list, max_length=20)
    mitigations_written: bool = False
    sending_organisation: OrganisationRefV1

    @field_validator("ratings")
    @classmethod
    def _every_item(cls, value: dict[str, str]) -> dict[str, str]:
        if set(value) != set(MATRIX_ITEMS):
            raise ValueError("rate exactly the items of the matrix")
        return value

    @field_validator("first_needs")
    @classmethod
    def _needs(cls, value: list[str]) -> list[str]:
        return _domains(value)


class BestInterestsV1(WireModel):
    """A child's best-interests determination, as codes."""

    outcome: Literal[
        "local_integration",
        "return_to_family",
        "return_alternative_care",
        "third_country",
    ]
    guardian_opinion: Literal["agrees", "reservations", "disagrees"]
    determined_on: date


class ReturnPlanV1(WireModel):
    """``return.plan`` v1 (M6), destination NCP → origin NCP.

    An adult's plan names the person's consent to return (``consent_ref``, the
    consent's id on the destination node: a reference only); a child's carries
    the best-interests determination and the guardian's opinion instead. The
    free texts (``itinerary`` — category ``case_summary``, ``medical_needs`` —
    ``health``, ``legal_contact_needs`` — ``legal``) travel only under a
    ``consent:<id>`` basis; without one they are empty.
    """

    trm_case_ref: str = Field(pattern=_REF)
    plan_ref: UUID
    child: bool
    consent_ref: UUID | None = None
    best_interests: BestInterestsV1 | None = None
    departure_on: date | None = None
    itinerary: LongText = ""
    escort_function: Line = ""
    meeting_person_function: Line = ""
    medical_fitness: Literal["not_assessed", "fit", "not_fit"]
    medical_needs: LongText = ""
    documents_status: Literal["none", "requested", "issued"]
    document_valid_until: date | None = None
    legal_contact_needs: LongText = ""
    sending_organisation: OrganisationRefV1

    @model_validator(mode="after")
    def _decision(self) -> ReturnPlanV1:
        if self.child and self.best_interests is None:
            raise ValueError("a child's plan carries the best-interests decision")
        if not self.child and self.consent_ref is None:
            raise ValueError("an adult's plan names the consent to return")
        return self


class ReturnPlanResponseV1(WireModel):
    """``return.plan.response`` v1 (M7), origin NCP → destination NCP: the
    answer to a ``return.plan`` (codes, functions and an organisation name;
    no personal data). Added to the catalogue: ``referral.response`` answers a
    referral and :mod:`trm.referrals` owns its handler."""

    trm_case_ref: str = Field(pattern=_REF)
    plan_ref: UUID
    decision: Literal["accepted", "declined"]
    decline_reason: Literal[
        "", "no_capacity", "not_eligible", "not_safe", "no_carer", "other"
    ] = ""
    receiving_organisation: Line = Field(min_length=1)
    case_manager_function: Line = ""
    services: list[Code] = Field(default_factory=list, max_length=20)
    carer_kind: Literal["", "parent", "relative", "other_adult", "care_agency"] = ""
    carer_confirmed_on: date | None = None
    decided_on: date
    sending_organisation: OrganisationRefV1

    @field_validator("services")
    @classmethod
    def _services(cls, value: list[str]) -> list[str]:
        return _domains(value)

    @model_validator(mode="after")
    def _consistent(self) -> ReturnPlanResponseV1:
        if self.decision == "declined" and not self.decline_reason:
            raise ValueError("a decline gives its reason")
        if bool(self.carer_kind) != (self.carer_confirmed_on is not None):
            raise ValueError("a carer comes with the date of the confirmation")
        return self


class FamilyRequestV1(WireModel):
    """``family.assessment.request`` / ``family.tracing.request`` v1 (M3, M4):
    what the destination asks of the origin's social services or
    child-protection authority. ``questions`` (the family and risk questions,
    or the known relatives for tracing) is category ``family``."""

    trm_case_ref: str = Field(pattern=_REF)
    request_ref: UUID
    child: bool
    questions: LongText = Field(min_length=1)
    sending_organisation: OrganisationRefV1


class FamilyReportV1(WireModel):
    """``family.assessment.report`` / ``family.tracing.result`` v1: the answer
    (date, assessor's function, findings — category ``family`` —, the
    recommendation or placement opinion as a code)."""

    trm_case_ref: str = Field(pattern=_REF)
    request_ref: UUID
    reported_on: date
    assessor_function: Line = Field(min_length=1)
    findings: LongText = ""
    recommendation: Literal[
        "return_to_family",
        "return_with_support",
        "alternative_care",
        "no_return",
        "family_not_found",
    ]
    sending_organisation: OrganisationRefV1
