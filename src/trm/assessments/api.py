"""API of needs assessments, risk assessments and the support and safety plan.

Mounted at ``/api/v1/cases/{case_id}/assessments``. The same services and
selectors as the web pages: reads are audited and refused to legal-track-only
roles (403 ``assessments.assistance_only``); no access to the case is 404.
Refusals are the structured error ``{"error": {"code", "message",
"details"}}``: 400 bad input (``details.field``; ``details.missing`` for need
domains without a status; ``details.row`` too for a planned step — also when
signing a draft whose date or interviewer's organisation is no longer
plausible), 403 role, 404 no case or version, 409 closed case,
erased person, no draft, or a plan that cannot be signed yet (rule 9:
``assessments.plan_incomplete`` with ``details.missing`` = field codes).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from django.http import HttpRequest
from ninja import Path, Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from trm.cases import selectors as case_selectors
from trm.common.api import MAX_PAGE, request_actor

from . import plans, selectors, services
from .common import MAX_LINE_CHARS, MAX_TEXT_CHARS
from .models import DOMAIN_LABELS
from .plans import MAX_ORGANISATIONS, MAX_STEPS, PlanContent, PlanInput, PlanStep

#: ``case_id`` comes from the mount prefix: each operation declares it as Path.
router = Router(tags=["assessments"])

TEXT = Field("", max_length=MAX_TEXT_CHARS)
LINE = Field("", max_length=MAX_LINE_CHARS)


class AssessmentsStrictIn(Schema):
    """Request bodies refuse unknown fields: a misspelt field is an error, not lost."""

    model_config = ConfigDict(extra="forbid")


class PageQuery(Schema):
    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(20, ge=1, le=100)


# --- needs ---------------------------------------------------------------------------


class NeedIn(AssessmentsStrictIn):
    status: str = Field(max_length=20, description="no_need, met, action or urgent")
    note: str = TEXT


class NeedsIn(AssessmentsStrictIn):
    kind: str = Field("immediate", description="immediate or long_term")
    willing_participation: bool = Field(
        description="The person takes part willingly (refused when false)."
    )
    in_private: bool = Field(description="The interview is held in private.")
    interpreter: bool = False
    language: str = Field(max_length=3, description="ISO 639 code of the interview")
    needs: dict[str, NeedIn] = Field(
        max_length=40,
        description="Domain → status and note; every domain of the kind "
        "(safety, health, emotional_state, shelter, food, medicine, hygiene, "
        "sleep, family_ties, near_term_plans; long_term adds education, "
        "vocational_training, employment, housing, health_insurance, "
        "legal_help, documents).",
    )


class NeedOut(Schema):
    domain: str
    label: str
    status: str
    note: str | None = Field(description="None when it can no longer be read.")


class NeedsOut(Schema):
    id: UUID
    at: datetime
    assessor: str | None
    kind: str
    willing_participation: bool
    in_private: bool
    interpreter: bool
    language: str
    needs: list[NeedOut]
    readable: bool = Field(description="False once the person's data was erased.")


class NeedsPage(Schema):
    items: list[NeedsOut]
    count: int
    page: int
    page_size: int


def _needs_out(view: selectors.NeedsView) -> NeedsOut:
    a = view.assessment
    return NeedsOut(
        id=a.pk,
        at=a.at,
        assessor=a.assessor.get_username() if a.assessor else None,
        kind=a.kind,
        willing_participation=a.willing_participation,
        in_private=a.in_private,
        interpreter=a.interpreter,
        language=a.language,
        needs=[
            NeedOut(
                domain=domain,
                label=str(DOMAIN_LABELS.get(domain, domain)),
                status=status,
                note=note,
            )
            for domain, status, note in view.rows
        ],
        readable=view.readable,
    )


@router.get(
    "/needs",
    response=NeedsPage,
    summary="Needs assessments of a case, newest first (an audited read)",
)
def needs_list(
    request: HttpRequest, case_id: Path[UUID], query: Query[PageQuery]
) -> NeedsPage:
    user = request_actor(request)
    case, _access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    page = selectors.needs_assessments_for_user(
        user=user, case=case, page=query.page, page_size=query.page_size
    )
    return NeedsPage(
        items=[_needs_out(v) for v in page.items],
        count=page.total,
        page=page.page,
        page_size=page.page_size,
    )


@router.post(
    "/needs",
    response={201: NeedsOut},
    summary="Record an immediate or long-term needs assessment",
)
def needs_record(
    request: HttpRequest, case_id: Path[UUID], payload: NeedsIn
) -> Status[NeedsOut]:
    user = request_actor(request)
    assessment = services.needs_assessment_record(
        actor=user,
        case_id=case_id,
        kind=payload.kind,
        willing_participation=payload.willing_participation,
        in_private=payload.in_private,
        interpreter=payload.interpreter,
        language=payload.language,
        statuses={domain: need.status for domain, need in payload.needs.items()},
        notes={domain: need.note for domain, need in payload.needs.items()},
    )
    return Status(201, _needs_out(selectors.needs_view(assessment.case, assessment)))


# --- risk ----------------------------------------------------------------------------


class RiskIn(AssessmentsStrictIn):
    type: str = Field(description="initial, ongoing, witness or child_family")
    level: str = Field(description="low, medium, high or critical")
    factors: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Risk factor codes (trafficker_threat, re_trafficking, "
        "family_threatened, family_involved, debt, urgent_medical, self_harm, "
        "unsafe_accommodation, stigma, child_specific, other)",
    )
    no_risk_factor: bool = Field(
        False, description="Say so explicitly when there is no risk factor."
    )
    involvement: str = Field(description="involved or observation_only")
    person_concerns: str = TEXT
    judgement: str = Field(max_length=MAX_TEXT_CHARS)
    safety_measures: str = Field(
        "", max_length=MAX_TEXT_CHARS, description="Required for high or critical."
    )
    next_review_due: date | None = Field(
        None,
        description="From today to 90 days ahead; default today + the "
        "variant's risk_assessment.max_interval_days.",
    )


class RiskOut(Schema):
    id: UUID
    at: datetime
    assessor: str | None
    type: str
    level: str
    factors: list[str]
    no_risk_factor: bool
    involvement: str
    next_review_due: date
    person_concerns: str | None
    judgement: str | None
    safety_measures: str | None
    readable: bool


class RiskPage(Schema):
    items: list[RiskOut]
    count: int
    page: int
    page_size: int


class RiskStatusOut(Schema):
    """Rule 8: due after a contact; overdue after the next review date."""

    level: str
    assessed_at: datetime | None
    next_review_due: date | None
    last_contact_at: datetime | None
    due: bool = Field(
        description="A contact was recorded after the latest risk assessment."
    )
    overdue: bool = Field(description="The next review date has passed.")


def _risk_out(view: selectors.RiskView) -> RiskOut:
    a = view.assessment
    return RiskOut(
        id=a.pk,
        at=a.at,
        assessor=a.assessor.get_username() if a.assessor else None,
        type=a.type,
        level=a.level,
        factors=list(a.factors),
        no_risk_factor=a.no_risk_factor,
        involvement=a.involvement,
        next_review_due=a.next_review_due,
        person_concerns=view.person_concerns,
        judgement=view.judgement,
        safety_measures=view.safety_measures,
        readable=view.readable,
    )


@router.get(
    "/risk",
    response=RiskPage,
    summary="Risk assessments of a case, newest first (an audited read)",
)
def risk_list(
    request: HttpRequest, case_id: Path[UUID], query: Query[PageQuery]
) -> RiskPage:
    user = request_actor(request)
    case, _access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    page = selectors.risk_assessments_for_user(
        user=user, case=case, page=query.page, page_size=query.page_size
    )
    return RiskPage(
        items=[_risk_out(v) for v in page.items],
        count=page.total,
        page=page.page,
        page_size=page.page_size,
    )


@router.post(
    "/risk",
    response={201: RiskOut},
    summary="Record a risk assessment or review (ends “risk assessment due”)",
)
def risk_record(
    request: HttpRequest, case_id: Path[UUID], payload: RiskIn
) -> Status[RiskOut]:
    assessment = services.risk_assessment_record(
        actor=request_actor(request),
        case_id=case_id,
        risk_type=payload.type,
        level=payload.level,
        factors=payload.factors,
        no_risk_factor=payload.no_risk_factor,
        involvement=payload.involvement,
        person_concerns=payload.person_concerns,
        judgement=payload.judgement,
        safety_measures=payload.safety_measures,
        next_review_due=payload.next_review_due,
    )
    return Status(201, _risk_out(selectors.risk_view(assessment.case, assessment)))


@router.get(
    "/risk/status",
    response=RiskStatusOut,
    summary="Whether a risk assessment is due (rule 8) or overdue",
)
def risk_status(request: HttpRequest, case_id: Path[UUID]) -> RiskStatusOut:
    user = request_actor(request)
    case, _access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    status = selectors.risk_status_for_user(user=user, case=case)
    return RiskStatusOut(
        level=status.level,
        assessed_at=status.assessed_at,
        next_review_due=status.next_review_due,
        last_contact_at=status.last_contact_at,
        due=status.due,
        overdue=status.overdue,
    )


# --- the support and safety plan ------------------------------------------------------


class StepIO(AssessmentsStrictIn):
    what: str = Field("", max_length=500)
    who: str = LINE
    by_when: date | None = None


class SupportPlanIn(AssessmentsStrictIn):
    """A draft: every field may be empty; rule 9 applies when signing."""

    language: str = Field(
        "", max_length=3, description="ISO 639; default the person's first language"
    )
    immediate_needs: str = TEXT
    risk_summary: str = TEXT
    steps: list[StepIO] = Field(default_factory=list, max_length=MAX_STEPS)
    organisation_ids: list[UUID] = Field(
        default_factory=list,
        max_length=MAX_ORGANISATIONS,
        description="Organisations of this node contacted or referred to",
    )
    other_organisations: list[str] = Field(
        default_factory=list,
        max_length=MAX_ORGANISATIONS,
        description="Names of other organisations contacted or referred to",
    )
    safety_plan: str = TEXT
    timeframe: str = LINE
    person_name: str = LINE
    person_acknowledged: bool = False
    interviewer_name: str = LINE
    interviewer_acknowledged: bool = False
    interviewer_organisation_id: UUID | None = Field(
        None, description="Default: the caller's organisation"
    )
    guardian_name: str = LINE
    guardian_acknowledged: bool = False
    plan_date: date | None = None
    place: str = LINE


class PlanOrganisationOut(Schema):
    id: str
    name: str


class PlanContentOut(Schema):
    immediate_needs: str
    risk_summary: str
    steps: list[StepIO]
    organisations: list[PlanOrganisationOut]
    other_organisations: list[str]
    safety_plan: str
    timeframe: str
    person_name: str
    person_acknowledged: bool
    interviewer_name: str
    interviewer_acknowledged: bool
    interviewer_organisation: PlanOrganisationOut | None
    guardian_name: str
    guardian_acknowledged: bool
    plan_date: date | None
    place: str


class PlanVersionOut(Schema):
    number: int
    status: str = Field(description="draft, signed or superseded")
    language: str
    created_at: datetime
    updated_at: datetime
    signed_at: datetime | None
    signed_by: str | None
    superseded_at: datetime | None
    content: PlanContentOut | None = Field(
        description="None when it can no longer be read (erased person)."
    )
    missing: list[str] = Field(
        description="For a draft: the field codes still needed to sign it."
    )


class PlanVersionSummaryOut(Schema):
    number: int
    status: str
    updated_at: datetime
    signed_at: datetime | None


class SupportPlanOut(Schema):
    current: PlanVersionOut | None
    versions: list[PlanVersionSummaryOut]


class SignIn(AssessmentsStrictIn):
    number: int | None = Field(
        None, ge=1, description="The draft version read; refused if another."
    )


def _content_out(content: PlanContent | None) -> PlanContentOut | None:
    if content is None:
        return None
    data: dict[str, Any] = {
        "immediate_needs": content.immediate_needs,
        "risk_summary": content.risk_summary,
        "steps": [
            StepIO(what=s.what, who=s.who, by_when=s.by_when) for s in content.steps
        ],
        "organisations": [
            PlanOrganisationOut(id=o.id, name=o.name) for o in content.organisations
        ],
        "other_organisations": content.other_organisations,
        "safety_plan": content.safety_plan,
        "timeframe": content.timeframe,
        "person_name": content.person_name,
        "person_acknowledged": content.person_acknowledged,
        "interviewer_name": content.interviewer_name,
        "interviewer_acknowledged": content.interviewer_acknowledged,
        "interviewer_organisation": (
            PlanOrganisationOut(
                id=content.interviewer_organisation.id,
                name=content.interviewer_organisation.name,
            )
            if content.interviewer_organisation
            else None
        ),
        "guardian_name": content.guardian_name,
        "guardian_acknowledged": content.guardian_acknowledged,
        "plan_date": content.plan_date,
        "place": content.place,
    }
    return PlanContentOut(**data)


def _version_out(view: selectors.PlanVersionView) -> PlanVersionOut:
    v = view.version
    return PlanVersionOut(
        number=v.number,
        status=v.status,
        language=v.language,
        created_at=v.created_at,
        updated_at=v.updated_at,
        signed_at=v.signed_at,
        signed_by=v.signed_by.get_username() if v.signed_by else None,
        superseded_at=v.superseded_at,
        content=_content_out(view.content),
        missing=view.missing,
    )


@router.get(
    "/plan",
    response=SupportPlanOut,
    summary="The support and safety plan: newest version and all versions (audited)",
)
def plan_get(request: HttpRequest, case_id: Path[UUID]) -> SupportPlanOut:
    user = request_actor(request)
    case, _access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    overview = selectors.plan_for_user(user=user, case=case)
    return SupportPlanOut(
        current=_version_out(overview.current) if overview.current else None,
        versions=[
            PlanVersionSummaryOut(
                number=v.number,
                status=v.status,
                updated_at=v.updated_at,
                signed_at=v.signed_at,
            )
            for v in overview.versions
        ],
    )


@router.post(
    "/plan",
    response={200: PlanVersionOut, 201: PlanVersionOut},
    summary="Save the plan as a draft (201 when this starts a new version)",
    description="The body is the whole plan: it replaces the draft's content. "
    "After signing, saving starts a new draft version. Refused (400, "
    "details.field): a plan_date in the future or more than a year ago; a "
    "step's by_when before plan_date or more than 3 years after it "
    "(details.field step_<n>_by, details.row n); an "
    "interviewer_organisation_id that is neither the user's organisation nor "
    "that of a case manager, service provider or first contact point on the "
    "case team.",
)
def plan_save(
    request: HttpRequest, case_id: Path[UUID], payload: SupportPlanIn
) -> Status[PlanVersionOut]:
    user = request_actor(request)
    version, created = plans.plan_save(
        actor=user,
        case_id=case_id,
        language=payload.language,
        content=PlanInput(
            immediate_needs=payload.immediate_needs,
            risk_summary=payload.risk_summary,
            steps=[
                PlanStep(what=s.what, who=s.who, by_when=s.by_when)
                for s in payload.steps
            ],
            organisation_ids=list(payload.organisation_ids),
            other_organisations=list(payload.other_organisations),
            safety_plan=payload.safety_plan,
            timeframe=payload.timeframe,
            person_name=payload.person_name,
            person_acknowledged=payload.person_acknowledged,
            interviewer_name=payload.interviewer_name,
            interviewer_acknowledged=payload.interviewer_acknowledged,
            interviewer_organisation_id=payload.interviewer_organisation_id,
            guardian_name=payload.guardian_name,
            guardian_acknowledged=payload.guardian_acknowledged,
            plan_date=payload.plan_date,
            place=payload.place,
        ),
    )
    case, _access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    view = selectors.plan_version_for_user(user=user, case=case, number=version.number)
    return Status(201 if created else 200, _version_out(view))


@router.post(
    "/plan/sign",
    response=PlanVersionOut,
    summary="Sign the draft (409 plan_incomplete with details.missing: rule 9)",
    description="Also 400 assessments.invalid_input with details.field (and "
    "details.row for a step) when the draft's date, a step's date or the "
    "interviewer's organisation is not plausible (see the save operation).",
)
def plan_sign(
    request: HttpRequest, case_id: Path[UUID], payload: SignIn
) -> PlanVersionOut:
    user = request_actor(request)
    version = plans.plan_sign(actor=user, case_id=case_id, number=payload.number)
    case, _access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    view = selectors.plan_version_for_user(user=user, case=case, number=version.number)
    return _version_out(view)


@router.get(
    "/plan/versions/{number}",
    response=PlanVersionOut,
    summary="One version of the plan (an audited read)",
)
def plan_version(
    request: HttpRequest, case_id: Path[UUID], number: Path[int]
) -> PlanVersionOut:
    user = request_actor(request)
    case, _access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    view = selectors.plan_version_for_user(user=user, case=case, number=number)
    return _version_out(view)
