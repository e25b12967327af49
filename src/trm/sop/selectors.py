"""Readers of SOP progress: a case's SOP panel, a user's tasks and reminders.

Nothing here decrypts personal data: the engine reads event kinds, times and
codes, and the person's non-identifying attributes. Access follows
:mod:`trm.cases.access` (a case's panel only for users who may see the case,
computed from only the events they may see; tasks only from cases where the
user is on the team).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from uuid import UUID

from django.conf import settings
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

from trm.accounts.models import User
from trm.cases.access import CaseAccess, visible_cases_filter
from trm.cases.models import Case, CaseTeamMember
from trm.cases.selectors import case_get_for_user
from trm.sop import engine
from trm.sop.models import Reminder
from trm.sop.types import Definition

#: Reminders that are not steps of the SOP definitions, made by other apps'
#: jobs: step id → (title, the case page's section to link to).
OTHER_REMINDERS: dict[str, tuple[Promise, str]] = {
    # trm.care.jobs.residence_renewals: a residence document or permit to renew
    # before it expires (the reminder is due on its last valid day).
    "care.residence_renewal": (
        gettext_lazy("Renew the residence document or permit before it expires"),
        "care",
    ),
}

#: The most open cases a tasks list considers (a caseworker has far fewer;
#: beyond this the list says it is incomplete).
MAX_TASK_CASES = 2000


@dataclass(frozen=True)
class Task:
    """A due or overdue step of a case for a user.

    Attributes:
        case_id, case_number: the case (the number is not personal data).
        status: the step's :class:`~trm.sop.engine.StepStatus`.
        roles: the user's roles on the case that the step names.
    """

    case_id: UUID
    case_number: str
    status: engine.StepStatus
    roles: frozenset[str]
    #: Where the task is done, when it is not the case's SOP panel (a task
    #: from another app, see :func:`register_task_source`).
    url: str = ""


#: Other apps' tasks that are not steps of the SOP definitions (e.g. a
#: follow-up report after a return that is overdue, trm.reintegration): each
#: is called with the user, their roles per open case of theirs (at most
#: :data:`MAX_TASK_CASES` cases) and today, and returns that user's tasks.
TaskSource = Callable[[User, dict[UUID, set[str]], date], list[Task]]
_task_sources: list[TaskSource] = []


def register_task_source(source: TaskSource) -> None:
    """Add ``source`` to the tasks of "My tasks" (an app's ``ready()``)."""
    if source not in _task_sources:
        _task_sources.append(source)


def _definition() -> Definition:
    from trm.sop.loader import get_definition

    return get_definition()


def case_sop_panel_for_user(
    *, user: User, case_id: UUID, today: date | None = None
) -> tuple[engine.SopStatus, ...]:
    """Return where a case stands in the five SOPs, as the user may see it.

    Computed from only the events the user's access shows (a prosecutor never
    learns of an assistance-only contact through a step's state or dates).

    Raises:
        CaseNotFound: no such case, or the user may not see it.
    """
    case, access = case_get_for_user(user=user, case_id=case_id)
    events = engine.events_for_cases([case.pk], visibility=access.visible_levels())
    return engine.case_sop_status(
        case, definition=_definition(), events=events.get(case.pk, []), today=today
    )


def tasks_for_user(
    *, user: User, today: date | None = None, overdue_only: bool = False
) -> tuple[list[Task], bool]:
    """Return the user's due and overdue steps across their open cases.

    A step is the user's task when one of their roles on the case team is among
    the step's roles (a step naming no role falls to the case manager). Sorted
    by due date (steps without a deadline last).

    Returns:
        ``(tasks, truncated)``: ``truncated`` is True when the user is on more
        than :data:`MAX_TASK_CASES` open cases and only the newest were read.
    """
    today = today or timezone.localdate()
    definition = _definition()
    memberships = (
        CaseTeamMember.objects.filter(
            user=user,
            case__closed_at__isnull=True,
            # A team role counts only while the user holds it (cases.access).
            role__in=sorted(user.role_codes()),
        )
        .order_by("-case__opened_at")
        .values_list("case_id", "role")[: MAX_TASK_CASES * 3]
    )
    roles_by_case: dict[UUID, set[str]] = {}
    for case_id, role in memberships:
        roles_by_case.setdefault(case_id, set()).add(role)
    truncated = len(roles_by_case) > MAX_TASK_CASES
    case_ids = list(roles_by_case)[:MAX_TASK_CASES]
    cases = Case.objects.filter(pk__in=case_ids).select_related(
        "person", "opened_by__organisation"
    )
    events = engine.events_for_cases(case_ids)
    tasks: list[Task] = []
    for case in cases:
        mine = roles_by_case[case.pk]
        # As on the case's panel: only the events this user's roles may see.
        levels = set(CaseAccess(roles=frozenset(mine)).visible_levels())
        seen = [e for e in events.get(case.pk, []) if e.visibility in levels]
        statuses = engine.case_sop_status(
            case, definition=definition, events=seen, today=today
        )
        for status in engine.open_steps(statuses):
            if overdue_only and status.state != engine.StepState.OVERDUE:
                continue
            named = frozenset(status.step.roles) or frozenset({"case_manager"})
            if mine & named:
                tasks.append(
                    Task(case.pk, case.number, status, frozenset(mine & named))
                )
    mine_by_case = {case_id: roles_by_case[case_id] for case_id in case_ids}
    for source in _task_sources:
        for task in source(user, mine_by_case, today):
            if overdue_only and task.status.state != engine.StepState.OVERDUE:
                continue
            tasks.append(task)
    tasks.sort(
        key=lambda t: (t.status.due_on or date.max, t.case_number, t.status.step.id)
    )
    return tasks, truncated


def reminders_for_user(*, user: User, unread_only: bool = True) -> list[Reminder]:
    """Return the user's reminders, earliest due first (at most 200).

    Only reminders of open cases the user may still see (a member who left the
    team, or whose role was withdrawn, no longer sees them).
    """
    qs = Reminder.objects.filter(
        user=user,
        case__in=Case.objects.filter(
            visible_cases_filter(user), closed_at__isnull=True
        ),
    ).select_related("case")
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return list(qs.order_by("due_on", "-created_at")[:200])


def unread_reminder_count(*, user: User) -> int:
    """Return how many unread reminders the user has (for the navigation badge)."""
    return Reminder.objects.filter(
        user=user,
        read_at__isnull=True,
        case__in=Case.objects.filter(
            visible_cases_filter(user), closed_at__isnull=True
        ),
    ).count()


def reminder_days_before(step_remind: int | None) -> int:
    """Return the days before a due date a reminder goes out for a step."""
    if step_remind is not None:
        return step_remind
    return int(settings.TRM_REMINDER_DAYS_BEFORE)


def reminder_title(step_id: str, step_titles: dict[str, str]) -> str:
    """Return the title of a reminder, translated: its SOP step's (``step_titles``:
    step id → English title of the definition) or :data:`OTHER_REMINDERS`'."""
    from django.utils.translation import gettext

    if step_id in step_titles:
        title = step_titles[step_id]
        return gettext(title) if title else step_id
    other = OTHER_REMINDERS.get(step_id)
    return str(other[0]) if other is not None else step_id


def reminder_anchor(step_id: str) -> str:
    """Return the section of the case page a reminder links to (``sop`` for steps)."""
    other = OTHER_REMINDERS.get(step_id)
    return other[1] if other is not None else "sop"
