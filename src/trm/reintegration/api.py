"""API of reintegration and follow-up, under ``/api/v1/cases/{case_id}/reintegration``.

``GET`` answers the plan, the follow-ups and the reports received (sealed text
opened, the read audited); ``POST /plan`` records the plan (and schedules the
follow-ups); ``POST /follow-ups/{follow_up_id}/report`` records a follow-up's
report and, with ``send``, sends it as ``followup.report`` under the person's
consent. Refusals are the project's structured errors: 400 bad input, 403 role
(also ``reintegration.not_for_legal_track``; ``consent.missing`` when no valid
consent covers the report), 404 no such case or follow-up, 409 state.
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
from trm.reintegration import selectors
from trm.reintegration import services as reintegration

#: Mounted at ``/cases/{case_id}/reintegration``.
router = Router(tags=["reintegration"])


class ReintegrationStrictIn(Schema):
    model_config = ConfigDict(extra="forbid")


class ReintegrationPlanIn(ReintegrationStrictIn):
    starts_on: date | None = None
    services: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Service codes of the service directory (shelter, medical…).",
    )
    goals: str = Field("", max_length=reintegration.MAX_GOALS_CHARS)
    case_manager_function: str = Field("", max_length=reintegration.MAX_LINE_CHARS)
    report_to_node: str = Field("", max_length=64)


class ReintegrationReportIn(ReintegrationStrictIn):
    reported_on: date | None = None
    services_given: list[str] = Field(default_factory=list, max_length=20)
    status: dict[str, str] = Field(
        default_factory=dict,
        description="housing, health, income, education → stable, at_risk, "
        "critical, not_applicable or unknown (missing: unknown).",
    )
    risk_level: str = Field("", description="low, medium, high or critical")
    risk_note: str = Field("", max_length=reintegration.MAX_NOTE_CHARS)
    contact_kept: bool = True
    send: bool = True
    consent_id: UUID | None = Field(
        None,
        description="The person's consent to a transfer abroad naming the "
        "destination's country (required with send).",
    )


class ReintegrationPlanOut(Schema):
    id: UUID
    starts_on: date
    services: list[str]
    goals: str | None
    case_manager_function: str
    report_to_node: str
    recorded_at: datetime


class ReintegrationFollowUpOut(Schema):
    id: UUID
    sequence: int
    months: int
    due_on: date
    overdue: bool
    reported_on: date | None
    services_given: list[str]
    status: dict[str, str]
    risk_level: str
    risk_note: str | None
    contact_kept: bool
    sent_to_node: str
    msg_id: UUID | None


class ReintegrationReceivedOut(Schema):
    id: UUID
    peer_node: str
    sequence: int
    due_on: date | None
    reported_on: date
    services: list[str]
    status: dict[str, str]
    risk_level: str
    risk_note: str | None
    contact_kept: bool
    sending_organisation: str
    received_at: datetime


class ReintegrationOut(Schema):
    case_id: UUID
    assistance: str
    destination_node: str
    plan: ReintegrationPlanOut | None
    follow_ups: list[ReintegrationFollowUpOut]
    received: list[ReintegrationReceivedOut]


def _state(user: User, case_id: UUID) -> ReintegrationOut:
    case, _access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    record = selectors.reintegration_record_for_user(user=user, case=case)
    plan = record.plan
    return ReintegrationOut(
        case_id=case.pk,
        assistance=case.assistance,
        destination_node=record.destination,
        plan=ReintegrationPlanOut(
            id=plan.pk,
            starts_on=plan.starts_on,
            services=plan.services,
            goals=record.goals,
            case_manager_function=plan.case_manager_function,
            report_to_node=plan.report_to_node,
            recorded_at=plan.recorded_at,
        )
        if plan
        else None,
        follow_ups=[
            ReintegrationFollowUpOut(
                id=item.follow_up.pk,
                sequence=item.follow_up.sequence,
                months=item.follow_up.months,
                due_on=item.follow_up.due_on,
                overdue=item.overdue,
                reported_on=item.follow_up.reported_on,
                services_given=item.follow_up.services_given,
                status=item.follow_up.status,
                risk_level=item.follow_up.risk_level,
                risk_note=item.risk_note,
                contact_kept=item.follow_up.contact_kept,
                sent_to_node=item.follow_up.sent_to_node,
                msg_id=item.follow_up.msg_id,
            )
            for item in record.follow_ups
        ],
        received=[
            ReintegrationReceivedOut(
                id=item.report.pk,
                peer_node=item.report.peer_node,
                sequence=item.report.sequence,
                due_on=item.report.due_on,
                reported_on=item.report.reported_on,
                services=item.report.services,
                status=item.report.status,
                risk_level=item.report.risk_level,
                risk_note=item.risk_note,
                contact_kept=item.report.contact_kept,
                sending_organisation=item.report.sending_organisation,
                received_at=item.report.received_at,
            )
            for item in record.received
        ],
    )


@router.get(
    "", response=ReintegrationOut, summary="Reintegration plan, follow-ups, reports"
)
def reintegration_record(request: HttpRequest, case_id: Path[UUID]) -> ReintegrationOut:
    return _state(request_actor(request), case_id)


@router.post(
    "/plan",
    response=ReintegrationOut,
    summary="Record the reintegration plan (schedules the follow-ups)",
)
def reintegration_plan_record(
    request: HttpRequest, case_id: Path[UUID], payload: ReintegrationPlanIn
) -> ReintegrationOut:
    user = request_actor(request)
    reintegration.reintegration_plan_record(
        actor=user, case_id=case_id, **payload.model_dump()
    )
    return _state(user, case_id)


@router.post(
    "/follow-ups/{follow_up_id}/report",
    response=ReintegrationOut,
    summary="Record a follow-up report; send it back with the person's consent",
)
def followup_report_record(
    request: HttpRequest,
    case_id: Path[UUID],
    follow_up_id: Path[UUID],
    payload: ReintegrationReportIn,
) -> ReintegrationOut:
    user = request_actor(request)
    reintegration.followup_report_record(
        actor=user, case_id=case_id, follow_up_id=follow_up_id, **payload.model_dump()
    )
    return _state(user, case_id)
