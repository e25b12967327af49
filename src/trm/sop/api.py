"""API endpoints of SOP progress: a case's SOP panel and the caller's tasks.

The same computation as the pages (:mod:`trm.sop.views`): derived from the
case timeline (only the events the caller may see; the removal block from all)
and the node's SOP variant, nothing personal. Tasks carry case numbers, never
names.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema
from pydantic import Field

from trm.cases import selectors as case_selectors
from trm.common.api import MAX_PAGE, request_actor
from trm.sop import views

router = Router(tags=["sop"])

MAX_PAGE_SIZE = 200


class StepOut(Schema):
    id: str
    title: str = Field(description="In the caller's language where translated.")
    description: str
    roles: list[str] = Field(description="Role codes the step names.")
    state: str = Field(
        description="done, due, overdue, not_started, not_applicable or blocked"
    )
    started_at: datetime | None
    due_on: date | None
    done_at: datetime | None
    explanation: str = Field(description="Why it is blocked or not applicable.")


class SopOut(Schema):
    number: int
    key: str
    title: str
    summary: str
    steps: list[StepOut]


class SopRemovalBlockOut(Schema):
    reasons: list[str]
    until: date | None = Field(description="Last day of the reflection period.")


class ReflectionOut(Schema):
    started_at: datetime
    ends_on: date = Field(description="The period's last day.")
    days: int
    days_left: int = Field(description="Negative once the last day has passed.")
    running: bool
    ended_at: datetime | None
    end_reason: str


class PanelOut(Schema):
    case_id: UUID
    case_number: str
    variant: str
    variant_title: str
    example: bool = Field(description="The national rules are an unverified example.")
    sops: list[SopOut]
    removal_block: SopRemovalBlockOut | None
    reflection: ReflectionOut | None


class TasksQuery(Schema):
    overdue_only: bool = False
    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class TaskOut(Schema):
    case_id: UUID
    case_number: str
    sop: int
    step_id: str
    title: str
    state: str = Field(description="due or overdue")
    due_on: date | None
    days_left: int | None = Field(description="Negative: days late.")
    roles: list[str] = Field(description="The caller's roles the step names.")


class TaskPage(Schema):
    count: int
    variant: str = Field(description="The node's SOP variant the steps come from.")
    variant_title: str
    example: bool = Field(
        description="The variant's national rules are an unverified example: "
        "check due dates and responsibilities against the law."
    )
    truncated: bool = Field(
        description="The caller is on more open cases than are read at once."
    )
    items: list[TaskOut]


def panel_out(panel: views.Panel) -> PanelOut:
    """Return the panel as the API answers it."""
    block = panel.removal_block
    reflection = panel.reflection
    return PanelOut(
        case_id=panel.case.pk,
        case_number=panel.case.number,
        variant=panel.variant,
        variant_title=panel.variant_title,
        example=panel.example,
        sops=[
            SopOut(
                number=sop.number,
                key=sop.key,
                title=sop.title,
                summary=sop.summary,
                steps=[
                    StepOut(
                        id=step.id,
                        title=step.title,
                        description=step.description,
                        roles=list(step.role_codes),
                        state=step.state,
                        started_at=step.started_at,
                        due_on=step.due_on,
                        done_at=step.done_at,
                        explanation=step.explanation,
                    )
                    for step in sop.steps
                ],
            )
            for sop in panel.sops
        ],
        removal_block=(
            SopRemovalBlockOut(reasons=list(block.reasons), until=block.until)
            if block is not None
            else None
        ),
        reflection=(
            ReflectionOut(
                started_at=reflection.started_at,
                ends_on=reflection.ends_on,
                days=reflection.days,
                days_left=reflection.days_left,
                running=reflection.running,
                ended_at=reflection.ended_at,
                end_reason=reflection.end_reason,
            )
            if reflection is not None
            else None
        ),
    )


@router.get(
    "/cases/{case_id}/sop",
    response=PanelOut,
    summary="Where a case stands in the five SOPs",
)
def case_sop(request: HttpRequest, case_id: UUID) -> PanelOut:
    case, access = case_selectors.case_get_for_user(
        user=request_actor(request), case_id=case_id
    )
    return panel_out(views.panel_for_case(case, access=access))


@router.get(
    "/tasks",
    response=TaskPage,
    summary="My due and overdue SOP steps, overdue first",
)
def tasks(request: HttpRequest, filters: Query[TasksQuery]) -> TaskPage:
    today = timezone.localdate()
    rows, truncated = views.task_rows(
        request_actor(request), overdue_only=filters.overdue_only, today=today
    )
    start = (filters.page - 1) * filters.page_size
    definition = views.definition()
    return TaskPage(
        count=len(rows),
        variant=definition.variant,
        variant_title=definition.title,
        example=definition.example,
        truncated=truncated,
        items=[
            TaskOut(
                case_id=row.case_id,
                case_number=row.case_number,
                sop=row.sop,
                step_id=row.step_id,
                title=row.title,
                state=row.state,
                due_on=row.due_on,
                days_left=row.days_left,
                roles=list(row.role_codes),
            )
            for row in rows[start : start + filters.page_size]
        ],
    )
