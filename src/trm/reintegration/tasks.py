"""Overdue follow-ups in "My tasks" (issue 7 §7; SOPS §6.3 follow-up reports).

A follow-up whose due date has passed without a report is a task of the case
team's case manager, service provider and national contact point, linked to
its report form. Registered with :func:`trm.sop.selectors.register_task_source`.
Reads codes and dates only (no personal data).
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from django.urls import reverse
from django.utils.translation import gettext_noop

from trm.accounts.models import User
from trm.cases.access import CaseAccess
from trm.sop import engine
from trm.sop.selectors import Task
from trm.sop.types import Step

#: The pseudo-step of an overdue follow-up (not a step of the definitions).
STEP_ID = "sop4.follow_up_report"
#: Who is asked (the roles that record the report, trm.reintegration.services).
ROLES = ("case_manager", "national_contact_point", "service_provider")
STEP = Step(
    id=STEP_ID,
    sop=4,
    title=gettext_noop("Follow-up report after return"),
    roles=ROLES,
    source="SOPS §2 SOP 4 step 10; §6.3 (reports at 1/3/6/12 months) [INF]",
)


def overdue_follow_ups(
    user: User, roles_by_case: dict[UUID, set[str]], today: date
) -> list[Task]:
    """Return the follow-ups overdue on the user's open cases (due before
    ``today``, no report) where the user holds one of :data:`ROLES`, as
    overdue tasks linking to the report form."""
    from trm.reintegration.models import FollowUp

    mine = {
        case_id: frozenset(roles) & frozenset(ROLES)
        for case_id, roles in roles_by_case.items()
        if not CaseAccess(roles=frozenset(roles)).legal_only
    }
    mine = {case_id: roles for case_id, roles in mine.items() if roles}
    if not mine:
        return []
    rows = (
        FollowUp.objects.filter(
            case_id__in=list(mine),
            case__closed_at__isnull=True,
            reported_on__isnull=True,
            due_on__lt=today,
        )
        .select_related("case")
        .order_by("due_on")
    )
    return [
        Task(
            case_id=row.case_id,
            case_number=row.case.number,
            status=engine.StepStatus(
                step=STEP, state=engine.StepState.OVERDUE, due_on=row.due_on
            ),
            roles=mine[row.case_id],
            url=reverse("reintegration:report", args=[row.case_id, row.pk]),
        )
        for row in rows
    ]
