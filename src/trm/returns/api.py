"""API of the return record, under ``/api/v1/cases/{case_id}/return``.

``GET`` answers the record (sealed text opened, the read audited) and every
condition still blocking the journey; one ``POST`` per service, calling the
same service as the web form, answers the record after it. Refusals are the
project's structured errors: 400 bad input, 403 role (also
``returns.not_for_legal_track`` for a legal-track-only caller), 404 no such
case (or not visible) or assessment, 409 state — and ``returns.blocked`` for a
journey that may not start yet, ``details.blockers`` listing every unmet
condition as ``{"code", "message", "part"}``.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from django.http import HttpRequest
from ninja import Path, Router, Schema
from pydantic import ConfigDict, Field

from trm.accounts.models import User
from trm.cases import selectors as case_selectors
from trm.common.api import request_actor
from trm.identification.common import MAX_REASON_CHARS
from trm.returns import selectors, services
from trm.returns.services import across
from trm.returns.services.common import MAX_LINE_CHARS

#: Mounted at ``/cases/{case_id}/return``.
router = Router(tags=["returns"])

TEXT = Field("", max_length=MAX_REASON_CHARS)
LINE = Field("", max_length=MAX_LINE_CHARS)
RATINGS = Field(description="Item code → low, medium or high, for every item.")


class ReturnStrictIn(Schema):
    model_config = ConfigDict(extra="forbid")


class BidIn(ReturnStrictIn):
    determined_on: date
    panel: list[str] = Field(max_length=10, description="Panel function codes.")
    outcome: str = Field(
        description="local_integration, return_to_family, "
        "return_alternative_care or third_country"
    )
    guardian_opinion: str = Field(description="agrees, reservations or disagrees")
    child_views: str = Field(max_length=MAX_REASON_CHARS)
    guardian_note: str = TEXT


class JointRiskIn(ReturnStrictIn):
    assessed_on: date
    valid_until: date
    ratings: dict[str, str] = RATINGS
    overall_level: str = Field(description="low, medium, high or critical")
    mitigations: str = TEXT
    first_needs: list[str] = Field(default_factory=list, max_length=20)
    needs_note: str = TEXT
    origin_ratings: dict[str, str] | None = None
    origin_organisation: str = LINE


class OriginRatingsIn(ReturnStrictIn):
    ratings: dict[str, str] = RATINGS
    origin_organisation: str = Field(max_length=MAX_LINE_CHARS)
    rated_on: date


class LogisticsIn(ReturnStrictIn):
    travel_document_requested_on: date | None = None
    travel_document_issued_on: date | None = None
    travel_document_valid_until: date | None = None
    departure_on: date | None = None
    itinerary: str = TEXT
    escort_function: str = LINE
    medical_fitness: str = Field(
        "not_assessed", description="not_assessed, fit, not_fit"
    )
    medical_fitness_on: date | None = None
    meeting_person_function: str = LINE
    meeting_point: str = TEXT
    legal_contact_needs: str = TEXT


class ReceiverIn(ReturnStrictIn):
    decision: str = Field(description="accepted or declined")
    organisation: str = Field(max_length=MAX_LINE_CHARS)
    decided_on: date
    carer_kind: str = Field("", description="For a child: parent, relative, ...")
    carer_confirmed_on: date | None = None


class TransitIn(ReturnStrictIn):
    expected_arrival_at: datetime | None = Field(
        None, description="Required: with its time zone, after now (trm.handover)"
    )
    departure_at: datetime | None = Field(None, description="Default: now")
    escort_function: str = Field("", max_length=MAX_LINE_CHARS)
    meeting_person_function: str = Field("", max_length=MAX_LINE_CHARS)
    arrival_point: str = Field("", max_length=500)
    itinerary: str = TEXT
    legal_basis: str = Field(
        "",
        description="Empty (times and functions only) or consent:<id> (the "
        "arrival point and itinerary travel too)",
    )
    origin_node: str = Field("", description="Default: the one linked peer")
    reason: str = TEXT


class BlockerOut(Schema):
    code: str
    message: str
    part: str


class BidOut(Schema):
    id: UUID
    determined_on: date
    panel: list[str]
    outcome: str
    guardian_opinion: str
    child_views: str | None
    guardian_note: str | None
    recorded_at: datetime


class RatingOut(Schema):
    item: str
    destination: str
    origin: str | None


class JointRiskOut(Schema):
    id: UUID
    assessed_on: date
    valid_until: date
    overall_level: str
    effective_level: str = Field(description="The highest of all levels and ratings.")
    ratings: list[RatingOut]
    first_needs: list[str]
    mitigations: str | None
    needs_note: str | None
    origin_organisation: str
    origin_rated_on: date | None


class ReturnPlanOut(Schema):
    travel_document_requested_on: date | None
    travel_document_issued_on: date | None
    travel_document_valid_until: date | None
    departure_on: date | None
    escort_function: str
    medical_fitness: str
    medical_fitness_on: date | None
    meeting_person_function: str
    receiver_decision: str
    receiver_organisation: str
    receiver_decided_on: date | None
    receiver_source: str
    carer_kind: str
    carer_confirmed_on: date | None
    itinerary: str | None
    meeting_point: str | None
    legal_contact_needs: str | None


class ReturnOut(Schema):
    case_id: UUID
    assistance: str
    child: bool
    blockers: list[BlockerOut] = Field(
        description="Every condition still blocking the journey (empty: ready)."
    )
    best_interests: BidOut | None
    joint_risk: JointRiskOut | None
    plan: ReturnPlanOut | None


def _text(opened: dict[str, str] | None, key: str) -> str | None:
    return None if opened is None else opened.get(key, "")


def _state(user: User, case_id: UUID) -> ReturnOut:
    case, _access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    record = selectors.return_record_for_user(user=user, case=case)
    bid, joint, plan = record.bid, record.joint, record.plan
    return ReturnOut(
        case_id=case.pk,
        assistance=case.assistance,
        child=case.person.presumed_child,
        blockers=[
            BlockerOut(code=b.code, message=b.message, part=b.part)
            for b in record.status.blockers
        ],
        best_interests=BidOut(
            id=bid.pk,
            determined_on=bid.determined_on,
            panel=bid.panel,
            outcome=bid.outcome,
            guardian_opinion=bid.guardian_opinion,
            child_views=_text(record.bid_text, "child_views"),
            guardian_note=_text(record.bid_text, "guardian_note"),
            recorded_at=bid.recorded_at,
        )
        if bid
        else None,
        joint_risk=JointRiskOut(
            id=joint.pk,
            assessed_on=joint.assessed_on,
            valid_until=joint.valid_until,
            overall_level=joint.overall_level,
            effective_level=joint.effective_level(),
            ratings=[
                RatingOut(item=code, destination=ours, origin=theirs or None)
                for code, _label, ours, theirs in joint.rows()
            ],
            first_needs=joint.first_needs,
            mitigations=_text(record.joint_text, "mitigations"),
            needs_note=_text(record.joint_text, "needs_note"),
            origin_organisation=joint.origin_organisation,
            origin_rated_on=joint.origin_rated_on,
        )
        if joint
        else None,
        plan=ReturnPlanOut(
            travel_document_requested_on=plan.travel_document_requested_on,
            travel_document_issued_on=plan.travel_document_issued_on,
            travel_document_valid_until=plan.travel_document_valid_until,
            departure_on=plan.departure_on,
            escort_function=plan.escort_function,
            medical_fitness=plan.medical_fitness,
            medical_fitness_on=plan.medical_fitness_on,
            meeting_person_function=plan.meeting_person_function,
            receiver_decision=plan.receiver_decision,
            receiver_organisation=plan.receiver_organisation,
            receiver_decided_on=plan.receiver_decided_on,
            receiver_source=plan.receiver_source,
            carer_kind=plan.carer_kind,
            carer_confirmed_on=plan.carer_confirmed_on,
            itinerary=_text(record.plan_text, "itinerary"),
            meeting_point=_text(record.plan_text, "meeting_point"),
            legal_contact_needs=_text(record.plan_text, "legal_contact_needs"),
        )
        if plan
        else None,
    )


@router.get("", response=ReturnOut, summary="The return record and its blockers")
def return_record(request: HttpRequest, case_id: Path[UUID]) -> ReturnOut:
    return _state(request_actor(request), case_id)


@router.post(
    "/best-interests", response=ReturnOut, summary="Record a best-interests decision"
)
def bid_record(request: HttpRequest, case_id: Path[UUID], payload: BidIn) -> ReturnOut:
    user = request_actor(request)
    services.bid_record(actor=user, case_id=case_id, **payload.model_dump())
    return _state(user, case_id)


@router.post(
    "/joint-risk", response=ReturnOut, summary="Record a joint pre-return assessment"
)
def joint_risk_record(
    request: HttpRequest, case_id: Path[UUID], payload: JointRiskIn
) -> ReturnOut:
    user = request_actor(request)
    services.joint_risk_record(actor=user, case_id=case_id, **payload.model_dump())
    return _state(user, case_id)


@router.post(
    "/joint-risk/{assessment_id}/origin",
    response=ReturnOut,
    summary="Record the origin side's ratings",
)
def joint_risk_origin_record(
    request: HttpRequest,
    case_id: Path[UUID],
    assessment_id: Path[UUID],
    payload: OriginRatingsIn,
) -> ReturnOut:
    user = request_actor(request)
    services.joint_risk_origin_record(
        actor=user, case_id=case_id, assessment_id=assessment_id, **payload.model_dump()
    )
    return _state(user, case_id)


@router.post("/logistics", response=ReturnOut, summary="Set documents and journey")
def return_plan_update(
    request: HttpRequest, case_id: Path[UUID], payload: LogisticsIn
) -> ReturnOut:
    user = request_actor(request)
    services.return_plan_update(actor=user, case_id=case_id, **payload.model_dump())
    return _state(user, case_id)


@router.post(
    "/receiver",
    response=ReturnOut,
    summary="Record the receiving organisation's answer",
)
def receiver_decision_record(
    request: HttpRequest, case_id: Path[UUID], payload: ReceiverIn
) -> ReturnOut:
    user = request_actor(request)
    services.receiver_decision_record(
        actor=user, case_id=case_id, **payload.model_dump()
    )
    return _state(user, case_id)


@router.post("/in-transit", response=ReturnOut, summary="Start the journey (SOP 4)")
def return_in_transit(
    request: HttpRequest, case_id: Path[UUID], payload: TransitIn
) -> ReturnOut:
    user = request_actor(request)
    services.return_in_transit(actor=user, case_id=case_id, **payload.model_dump())
    return _state(user, case_id)


# --- across nodes (trm.returns.services.across) -----------------------------------

NODE = Field(
    None,
    max_length=64,
    description="The peer node, only if the case is linked with several.",
)


class ShareIn(ReturnStrictIn):
    to_node: str | None = NODE


class OriginRateIn(ReturnStrictIn):
    ratings: dict[str, str] = RATINGS
    rated_on: date | None = None
    assessment_id: UUID | None = None


class PlanSendIn(ReturnStrictIn):
    consent_id: UUID | None = Field(
        None,
        description="A consent to the transfer naming the origin's country: "
        "without it only codes and dates are sent.",
    )
    to_node: str | None = NODE
    medical_needs: str = TEXT


class PlanAnswerIn(ReturnStrictIn):
    decision: str = Field(description="accepted or declined")
    receiving_organisation: str = Field(max_length=MAX_LINE_CHARS)
    decided_on: date | None = None
    decline_reason: str = Field(
        "", description="no_capacity, not_eligible, not_safe, no_carer, other"
    )
    case_manager_function: str = LINE
    services: list[str] = Field(default_factory=list, max_length=20)
    carer_kind: str = ""
    carer_confirmed_on: date | None = None
    plan_id: UUID | None = None


class FamilyRequestIn(ReturnStrictIn):
    kind: str = Field(description="assessment or tracing (a child)")
    questions: str = Field(max_length=MAX_REASON_CHARS)
    consent_id: UUID
    to_node: str | None = NODE


class FamilyReportIn(ReturnStrictIn):
    legal_basis: str = Field(
        max_length=200, description="consent:<id> or legal_obligation:<reference>"
    )
    reported_on: date
    assessor_function: str = Field(max_length=MAX_LINE_CHARS)
    recommendation: str
    findings: str = TEXT
    request_id: UUID | None = None


class FamilyRecordIn(ReturnStrictIn):
    kind: str = Field(description="assessment or tracing")
    reported_on: date
    assessor_function: str = Field(max_length=MAX_LINE_CHARS)
    recommendation: str
    findings: str = TEXT


class SentOut(Schema):
    msg_id: UUID
    type: str
    to_node: str
    status: str
    created_at: datetime


class ReceivedJointOut(Schema):
    id: UUID
    assessment_ref: UUID | None
    assessed_on: date
    valid_until: date
    overall_level: str
    ratings: list[RatingOut]
    first_needs: list[str]
    mitigations_written: bool


class IncomingReturnOut(Schema):
    id: UUID
    plan_ref: UUID
    sending_organisation: str
    child: bool
    consent_ref: UUID | None
    bid_outcome: str
    guardian_opinion: str
    departure_on: date | None
    escort_function: str
    meeting_person_function: str
    medical_fitness: str
    documents_status: str
    document_valid_until: date | None
    itinerary: str | None
    medical_needs: str | None
    legal_contact_needs: str | None
    decision: str
    decline_reason: str
    receiving_organisation: str
    case_manager_function: str
    services: list[str]
    carer_kind: str
    carer_confirmed_on: date | None


class FamilyOut(Schema):
    id: UUID
    kind: str
    direction: str
    status: str
    requested_on: date
    reported_on: date | None
    assessor_function: str
    recommendation: str
    questions: str | None
    findings: str | None


class AcrossOut(Schema):
    case_id: UUID
    sent: list[SentOut]
    received_joint: list[ReceivedJointOut]
    incoming_plans: list[IncomingReturnOut]
    family: list[FamilyOut]


def _across(user: User, case_id: UUID) -> AcrossOut:
    case, _access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    record = selectors.across_for_user(user=user, case=case)
    return AcrossOut(
        case_id=case.pk,
        sent=[
            SentOut(
                msg_id=m.msg_id,
                type=m.type,
                to_node=m.peer.node_id,
                status=m.status,
                created_at=m.created_at,
            )
            for m in record.sent
        ],
        received_joint=[
            ReceivedJointOut(
                id=j.pk,
                assessment_ref=j.remote_ref,
                assessed_on=j.assessed_on,
                valid_until=j.valid_until,
                overall_level=j.overall_level,
                ratings=[
                    RatingOut(item=code, destination=theirs, origin=ours or None)
                    for code, _label, theirs, ours in j.rows()
                ],
                first_needs=j.first_needs,
                mitigations_written=j.has_mitigations,
            )
            for j in record.received_joint
        ],
        incoming_plans=[
            IncomingReturnOut(
                id=p.pk,
                plan_ref=p.plan_ref,
                sending_organisation=p.sending_organisation,
                child=p.child,
                consent_ref=p.consent_ref,
                bid_outcome=p.bid_outcome,
                guardian_opinion=p.guardian_opinion,
                departure_on=p.departure_on,
                escort_function=p.escort_function,
                meeting_person_function=p.meeting_person_function,
                medical_fitness=p.medical_fitness,
                documents_status=p.documents_status,
                document_valid_until=p.document_valid_until,
                itinerary=_text(text, "itinerary"),
                medical_needs=_text(text, "medical_needs"),
                legal_contact_needs=_text(text, "legal_contact_needs"),
                decision=p.decision,
                decline_reason=p.decline_reason,
                receiving_organisation=p.receiving_organisation,
                case_manager_function=p.case_manager_function,
                services=p.services,
                carer_kind=p.carer_kind,
                carer_confirmed_on=p.carer_confirmed_on,
            )
            for p, text in record.incoming
        ],
        family=[
            FamilyOut(
                id=f.pk,
                kind=f.kind,
                direction=f.direction,
                status=f.status,
                requested_on=f.requested_on,
                reported_on=f.reported_on,
                assessor_function=f.assessor_function,
                recommendation=f.recommendation,
                questions=_text(text, "questions"),
                findings=_text(text, "findings"),
            )
            for f, text in record.family
        ],
    )


@router.get(
    "/across", response=AcrossOut, summary="What crossed the border about the return"
)
def across_record(request: HttpRequest, case_id: Path[UUID]) -> AcrossOut:
    return _across(request_actor(request), case_id)


@router.post(
    "/across/joint-risk/share",
    response=AcrossOut,
    summary="Send the joint assessment to the origin (risk.assessment.joint)",
)
def joint_risk_share(
    request: HttpRequest, case_id: Path[UUID], payload: ShareIn
) -> AcrossOut:
    user = request_actor(request)
    across.joint_risk_share(actor=user, case_id=case_id, to_node=payload.to_node)
    return _across(user, case_id)


@router.post(
    "/across/joint-risk/rate",
    response=AcrossOut,
    summary="Origin: rate the joint assessment and send the ratings back",
)
def joint_risk_origin_rate(
    request: HttpRequest, case_id: Path[UUID], payload: OriginRateIn
) -> AcrossOut:
    user = request_actor(request)
    across.joint_risk_origin_rate(actor=user, case_id=case_id, **payload.model_dump())
    return _across(user, case_id)


@router.post(
    "/across/plan/send",
    response=AcrossOut,
    summary="Send the return plan to the origin (return.plan)",
)
def return_plan_send(
    request: HttpRequest, case_id: Path[UUID], payload: PlanSendIn
) -> AcrossOut:
    user = request_actor(request)
    across.return_plan_send(actor=user, case_id=case_id, **payload.model_dump())
    return _across(user, case_id)


@router.post(
    "/across/plan/answer",
    response=AcrossOut,
    summary="Origin: answer the return plan (return.plan.response)",
)
def return_plan_answer(
    request: HttpRequest, case_id: Path[UUID], payload: PlanAnswerIn
) -> AcrossOut:
    user = request_actor(request)
    across.return_plan_answer(actor=user, case_id=case_id, **payload.model_dump())
    return _across(user, case_id)


@router.post(
    "/across/family/request",
    response=AcrossOut,
    summary="Ask the origin for a family assessment or tracing",
)
def family_request_send(
    request: HttpRequest, case_id: Path[UUID], payload: FamilyRequestIn
) -> AcrossOut:
    user = request_actor(request)
    across.family_request_send(actor=user, case_id=case_id, **payload.model_dump())
    return _across(user, case_id)


@router.post(
    "/across/family/report",
    response=AcrossOut,
    summary="Origin: send the family report or tracing result",
)
def family_report_send(
    request: HttpRequest, case_id: Path[UUID], payload: FamilyReportIn
) -> AcrossOut:
    user = request_actor(request)
    across.family_report_send(actor=user, case_id=case_id, **payload.model_dump())
    return _across(user, case_id)


@router.post(
    "/across/family/record",
    response=AcrossOut,
    summary="Record a family report received outside TRM",
)
def family_report_record(
    request: HttpRequest, case_id: Path[UUID], payload: FamilyRecordIn
) -> AcrossOut:
    user = request_actor(request)
    across.family_report_record(actor=user, case_id=case_id, **payload.model_dump())
    return _across(user, case_id)
