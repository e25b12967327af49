"""API endpoints of long-term care, under ``/api/v1/cases/{case_id}/care``.

The same services and selectors as the web pages. A refusal is the project's
structured error (``{"error": {"code", "message", "details"}}``): 400 bad input,
403 role (also ``care.not_for_legal_track`` for a legal-track-only caller, and
``consent.missing`` when the plan is agreed without a valid consent to
assistance: ``details.record_url`` is the page to record one), 404 no such case
(or not visible) or record, 409 state (closed case, erased person, a plan not
in the right status, a service already ended).

Sealed text is ``null`` once the person's data was erased ("can no longer be
read").
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from django.http import HttpRequest
from django.utils import timezone
from ninja import Path, Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from trm.care import episodes, residence, selectors, services
from trm.care.models import ResidenceType
from trm.cases import selectors as case_selectors
from trm.cases.models import Case
from trm.common.api import MAX_PAGE, request_actor
from trm.common.pagination import capped_count
from trm.identification.common import MAX_REASON_CHARS

#: Mounted at ``/cases/{case_id}/care``: ``case_id`` comes from the mount prefix.
router = Router(tags=["care"])

MAX_PAGE_SIZE = 200
TEXT = Field("", max_length=MAX_REASON_CHARS)


class CareStrictIn(Schema):
    """Request bodies refuse unknown fields: a misspelt field is an error, not lost."""

    model_config = ConfigDict(extra="forbid")


# --- schemas ---------------------------------------------------------------------


class PlannedServiceIn(CareStrictIn):
    service_type: str = Field(max_length=30, description="A directory service type.")
    provider_id: UUID | None = Field(
        None, description="An active organisation of this node."
    )
    frequency: str = Field("", max_length=services.MAX_FREQUENCY_CHARS)
    notes: str = TEXT


class CarePlanIn(CareStrictIn):
    goals: str = Field(max_length=MAX_REASON_CHARS)
    duration: str = Field(description="short (≤ 6 months), medium (≤ 1 year), long")
    responsible_id: int | None = Field(
        None,
        description="A case manager or service provider on the team; the caller "
        "when omitted.",
    )
    services: list[PlannedServiceIn] = Field(
        default_factory=list, max_length=services.MAX_PLANNED_SERVICES
    )


class AgreeIn(CareStrictIn):
    note: str = TEXT


class ReviewIn(CareStrictIn):
    reviewed_on: date
    outcome: str = Field(description="continue, change or close")
    note: str = TEXT


class PlannedServiceOut(Schema):
    service_type: str
    provider_id: UUID | None
    frequency: str | None
    notes: str | None


class ReviewOut(Schema):
    id: UUID
    reviewed_on: date
    outcome: str
    note: str | None


class CarePlanOut(Schema):
    id: UUID
    status: str = Field(description="draft, agreed or closed")
    duration: str
    responsible_id: int | None
    goals: str | None
    services: list[PlannedServiceOut]
    reviews: list[ReviewOut]
    created_at: datetime
    agreed_at: datetime | None
    consent_id: UUID | None = Field(description="The consent the agreement rests on.")
    closed_at: datetime | None
    warnings: list[str] = Field(
        description="E.g. a duration above the 1-year norm (BG 3.1)."
    )


class DeadlineOut(Schema):
    state: str = Field(description="The SOP step sop3.care_plan's state.")
    due_on: date | None
    days: int | None = Field(description="The national time limit in days.")
    variant: str
    example: bool
    started_at: datetime | None = Field(
        description="When long-term assistance started."
    )
    done_at: datetime | None


class CarePlanStateOut(Schema):
    plan: CarePlanOut | None = Field(description="The plan that is not closed, if any.")
    previous: list[CarePlanOut] = Field(description="Closed plans, newest first.")
    deadline: DeadlineOut | None


class ResidenceIn(CareStrictIn):
    residence_type: str = Field(max_length=40)
    valid_from: date
    valid_until: date | None = Field(
        None, description="Required for a document or a permit."
    )
    issuing_authority: str = Field("", max_length=residence.MAX_AUTHORITY_CHARS)
    document_number: str = Field("", max_length=residence.MAX_DOCUMENT_NUMBER_CHARS)
    renewal_notice_days: int | None = Field(
        None,
        ge=0,
        le=residence.MAX_NOTICE_DAYS,
        description="Default: the node's TRM_RESIDENCE_RENEWAL_NOTICE_DAYS.",
    )


class ResidenceOut(Schema):
    id: UUID
    residence_type: str
    valid_from: date
    valid_until: date | None
    issuing_authority: str
    document_number: str | None
    renewal_notice_days: int
    renewal_due_on: date | None
    current: bool = Field(description="False once a newer record replaced it.")
    superseded_by: UUID | None
    expired: bool
    renewal_due: bool


class ResidenceRecordedOut(ResidenceOut):
    superseded: UUID | None = Field(description="The record this one replaced.")
    reflection: str = Field(description="The reflection and residence track now.")
    track_moved: bool
    warnings: list[str]


class EpisodeIn(CareStrictIn):
    service_type: str = Field(max_length=30)
    started_on: date
    provider_id: UUID | None = None
    provider_name: str = Field("", max_length=episodes.MAX_PROVIDER_NAME_CHARS)
    ended_on: date | None = None
    outcome: str = Field(
        "ongoing",
        description="ongoing, completed, interrupted, refused_by_person or "
        "not_available",
    )
    note: str = TEXT


class EpisodeEndIn(CareStrictIn):
    ended_on: date | None = None
    outcome: str = Field(
        description="completed, interrupted, refused_by_person or not_available"
    )
    note: str = TEXT


class EpisodeOut(Schema):
    id: UUID
    service_type: str
    provider_id: UUID | None
    provider_name: str | None
    started_on: date
    ended_on: date | None
    outcome: str
    note: str | None
    end_note: str | None


class EpisodePage(Schema):
    count: int
    more: bool = Field(description="More rows than counted.")
    items: list[EpisodeOut]


class EpisodesQuery(Schema):
    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


# --- helpers ---------------------------------------------------------------------


def _case(request: HttpRequest, case_id: UUID) -> Case:
    case, _access = case_selectors.case_get_for_user(
        user=request_actor(request), case_id=case_id
    )
    return case


def _plan_out(view: selectors.PlanView) -> CarePlanOut:
    plan = view.plan
    warning = services.duration_warning(plan.duration) if plan.is_open else ""
    return CarePlanOut(
        id=plan.pk,
        status=plan.status,
        duration=plan.duration,
        responsible_id=plan.responsible_id,
        goals=view.goals,
        services=[
            PlannedServiceOut(
                service_type=s.service.service_type,
                provider_id=s.service.provider_id,
                frequency=s.frequency,
                notes=s.notes,
            )
            for s in view.services
        ],
        reviews=[
            ReviewOut(
                id=r.review.pk,
                reviewed_on=r.review.reviewed_on,
                outcome=r.review.outcome,
                note=r.note,
            )
            for r in view.reviews
        ],
        created_at=plan.created_at,
        agreed_at=plan.agreed_at,
        consent_id=plan.consent_id,
        closed_at=plan.closed_at,
        warnings=[warning] if warning else [],
    )


def _plan_state(request: HttpRequest, case_id: UUID) -> CarePlanStateOut:
    user = request_actor(request)
    case = _case(request, case_id)
    access = selectors.care_access_for_user(user=user, case=case)
    plans = selectors.plans_for_user(user=user, case=case)
    current = plans[0] if plans and plans[0].plan.is_open else None
    deadline = selectors.care_plan_deadline(case=case, access=access)
    return CarePlanStateOut(
        plan=_plan_out(current) if current else None,
        previous=[_plan_out(p) for p in plans if p is not current],
        deadline=(
            DeadlineOut(
                state=deadline.state,
                due_on=deadline.due_on,
                days=deadline.days,
                variant=deadline.variant,
                example=deadline.example,
                started_at=deadline.started_at,
                done_at=deadline.done_at,
            )
            if deadline
            else None
        ),
    )


def _residence_fields(view: selectors.ResidenceView) -> dict[str, object]:
    r = view.record
    return {
        "id": r.pk,
        "residence_type": r.residence_type,
        "valid_from": r.valid_from,
        "valid_until": r.valid_until,
        "issuing_authority": r.issuing_authority,
        "document_number": view.document_number,
        "renewal_notice_days": r.renewal_notice_days,
        "renewal_due_on": r.renewal_due_on,
        "current": r.is_current,
        "superseded_by": r.superseded_by_id,
        "expired": view.expired,
        "renewal_due": view.renewal_due,
    }


def _episode_out(view: selectors.EpisodeView) -> EpisodeOut:
    e = view.episode
    return EpisodeOut(
        id=e.pk,
        service_type=e.service_type,
        provider_id=e.provider_id,
        provider_name=view.provider_name,
        started_on=e.started_on,
        ended_on=e.ended_on,
        outcome=e.outcome,
        note=view.note,
        end_note=view.end_note,
    )


# --- the care plan ----------------------------------------------------------------


@router.get(
    "/plan",
    response=CarePlanStateOut,
    summary="The care plan, its reviews, earlier plans and its deadline",
)
def plan_get(request: HttpRequest, case_id: Path[UUID]) -> CarePlanStateOut:
    return _plan_state(request, case_id)


@router.post(
    "/plan",
    response=CarePlanStateOut,
    summary="Write the care plan as a draft (or replace the draft's contents)",
    description="The services listed replace the draft's. An agreed plan answers "
    "409: record a review with outcome 'change' first.",
)
def plan_save(
    request: HttpRequest, case_id: Path[UUID], payload: CarePlanIn
) -> CarePlanStateOut:
    services.care_plan_save(
        actor=request_actor(request),
        case_id=case_id,
        goals=payload.goals,
        duration=payload.duration,
        responsible_id=payload.responsible_id,
        services=[
            services.PlannedServiceInput(
                service_type=s.service_type,
                provider_id=s.provider_id,
                frequency=s.frequency,
                notes=s.notes,
            )
            for s in payload.services
        ],
    )
    return _plan_state(request, case_id)


@router.post(
    "/plan/agree",
    response=CarePlanStateOut,
    summary="Agree the draft plan with the person (the service agreement)",
    description="Needs a valid consent of purpose 'assistance' (403 "
    "consent.missing otherwise, with details.record_url).",
)
def plan_agree(
    request: HttpRequest, case_id: Path[UUID], payload: AgreeIn
) -> CarePlanStateOut:
    services.care_plan_agree(
        actor=request_actor(request), case_id=case_id, note=payload.note
    )
    return _plan_state(request, case_id)


@router.post(
    "/plan/reviews",
    response={201: CarePlanStateOut},
    summary="Record a review of the agreed plan (continue, change or close)",
)
def plan_review(
    request: HttpRequest, case_id: Path[UUID], payload: ReviewIn
) -> Status[CarePlanStateOut]:
    services.care_plan_review(
        actor=request_actor(request),
        case_id=case_id,
        reviewed_on=payload.reviewed_on,
        outcome=payload.outcome,
        note=payload.note,
    )
    return Status(201, _plan_state(request, case_id))


# --- residence ------------------------------------------------------------------


@router.get(
    "/residence",
    response=list[ResidenceOut],
    summary="Residence records, newest first (an audited read)",
)
def residence_list(request: HttpRequest, case_id: Path[UUID]) -> list[ResidenceOut]:
    user = request_actor(request)
    case = _case(request, case_id)
    return [
        ResidenceOut(**_residence_fields(view))  # type: ignore[arg-type]
        for view in selectors.residence_for_user(user=user, case=case)
    ]


@router.post(
    "/residence",
    response={201: ResidenceRecordedOut},
    summary="Record a residence document, permit or status",
    description="Replaces the current record of the same type (kept as history) "
    "and moves the reflection and residence track where it matches. Types: "
    + ", ".join(ResidenceType.values),
)
def residence_record(
    request: HttpRequest, case_id: Path[UUID], payload: ResidenceIn
) -> Status[ResidenceRecordedOut]:
    user = request_actor(request)
    outcome = residence.residence_status_record(
        actor=user,
        case_id=case_id,
        residence_type=payload.residence_type,
        valid_from=payload.valid_from,
        valid_until=payload.valid_until,
        issuing_authority=payload.issuing_authority,
        document_number=payload.document_number,
        renewal_notice_days=payload.renewal_notice_days,
    )
    case = _case(request, case_id)
    today = timezone.localdate()
    record = outcome.record
    view = selectors.ResidenceView(
        record=record,
        document_number=payload.document_number.strip(),
        expired=record.is_expired(today),
        renewal_due=record.renewal_is_due(today),
    )
    return Status(
        201,
        ResidenceRecordedOut(
            **_residence_fields(view),  # type: ignore[arg-type]
            superseded=outcome.superseded.pk if outcome.superseded else None,
            reflection=case.reflection,
            track_moved=bool(outcome.track_moved_to),
            warnings=outcome.warnings,
        ),
    )


# --- services given ---------------------------------------------------------------


@router.get(
    "/services",
    response=EpisodePage,
    summary="Services given, newest first, a page at a time (an audited read)",
)
def services_list(
    request: HttpRequest, case_id: Path[UUID], query: Query[EpisodesQuery]
) -> EpisodePage:
    user = request_actor(request)
    case = _case(request, case_id)
    rows = selectors.episodes_for_user(user=user, case=case)
    count, more = capped_count(rows)
    start = (query.page - 1) * query.page_size
    shown = list(rows[start : start + query.page_size])
    return EpisodePage(
        count=count,
        more=more,
        items=[
            _episode_out(v)
            for v in selectors.episode_views_for_user(
                user=user, case=case, episodes=shown
            )
        ],
    )


@router.post(
    "/services",
    response={201: EpisodeOut},
    summary="Record a service given to the person",
)
def service_record(
    request: HttpRequest, case_id: Path[UUID], payload: EpisodeIn
) -> Status[EpisodeOut]:
    user = request_actor(request)
    episode = episodes.service_episode_record(
        actor=user,
        case_id=case_id,
        service_type=payload.service_type,
        started_on=payload.started_on,
        provider_id=payload.provider_id,
        provider_name=payload.provider_name,
        ended_on=payload.ended_on,
        outcome=payload.outcome,
        note=payload.note,
    )
    case = _case(request, case_id)
    view = selectors.episode_for_user(user=user, case=case, episode_id=episode.pk)
    return Status(201, _episode_out(view))


@router.post(
    "/services/{episode_id}/end",
    response=EpisodeOut,
    summary="End an ongoing service",
)
def service_end(
    request: HttpRequest,
    case_id: Path[UUID],
    episode_id: Path[UUID],
    payload: EpisodeEndIn,
) -> EpisodeOut:
    user = request_actor(request)
    episodes.service_episode_end(
        actor=user,
        case_id=case_id,
        episode_id=episode_id,
        ended_on=payload.ended_on,
        outcome=payload.outcome,
        note=payload.note,
    )
    case = _case(request, case_id)
    return _episode_out(
        selectors.episode_for_user(user=user, case=case, episode_id=episode_id)
    )
