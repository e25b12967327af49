"""Pages of SOP progress: a case's SOP panel, and "My tasks" with reminders.

The panel is computed by :mod:`trm.sop.engine` from the case's timeline (event
kinds, times and codes) and the node's SOP variant; nothing personal is
decrypted. Its steps and dates come from only the events the user may see
(:meth:`~trm.cases.access.CaseAccess.visible_levels`); its removal block from
all of them. The tasks page lists case numbers only, never a person's name, so
it is cheap and shows nothing a glance over a shoulder should not see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from trm.accounts.models import Role, User
from trm.cases import selectors as case_selectors
from trm.cases.access import CaseAccess
from trm.cases.models import Case, Visibility
from trm.identification.reflection import RemovalBlock, removal_block
from trm.sop import engine, jobs, selectors
from trm.sop.engine import StepState
from trm.sop.types import Definition
from trm.sop.vocabulary import REFLECTION_END_REASONS

TASKS_PER_PAGE = 50

#: Tag classes of the state badges (``trm.css``).
STATE_TAGS: dict[str, str] = {
    StepState.DONE: "tag tag-ok",
    StepState.DUE: "tag tag-warn",
    StepState.OVERDUE: "tag tag-off",
    StepState.BLOCKED: "tag tag-off",
    StepState.NOT_STARTED: "tag",
    StepState.NOT_APPLICABLE: "tag",
    StepState.NOT_RECORDED: "tag",
    engine.SopSummary.IN_PROGRESS: "tag",
}


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - login_required guarantees it
    return user


def definition() -> Definition:
    """Return the node's SOP definition (the variant ``TRM_SOP_VARIANT`` names)."""
    from trm.sop.loader import get_definition

    return get_definition()


def step_title(title: str) -> str:
    """Translate a step title from a definition (English in the YAML)."""
    return _(title) if title else ""


def _role_label(code: str) -> str:
    try:
        return str(Role(code).label)
    except ValueError:
        return code


# --- the panel ----------------------------------------------------------------------


@dataclass(frozen=True)
class PanelStep:
    """One step as the panel shows it."""

    id: str
    title: str
    description: str
    roles: list[str]
    role_codes: list[str]
    state: str
    state_label: str
    tag: str
    started_at: datetime | None
    due_on: date | None
    done_at: datetime | None
    explanation: str
    #: Days until the due date (negative: days late); ``None`` without one.
    days_left: int | None
    #: The due date is the end of a running period (reflection and recovery).
    period: bool = False

    @property
    def days_late(self) -> int:
        return -self.days_left if self.days_left is not None else 0


@dataclass(frozen=True)
class PanelSop:
    number: int
    key: str
    title: str
    summary: str
    summary_label: str
    summary_tag: str
    steps: list[PanelStep]


@dataclass(frozen=True)
class ReflectionState:
    """The reflection and recovery period of a case, for people."""

    started_at: datetime
    ends_on: date
    days: int
    days_left: int
    running: bool
    ended_at: datetime | None
    end_reason: str
    end_reason_label: str


@dataclass(frozen=True)
class Panel:
    """Where a case stands in the five SOPs, with what blocks a removal."""

    case: Case
    variant: str
    variant_title: str
    example: bool
    note: str
    sops: list[PanelSop]
    removal_block: RemovalBlock | None
    reflection: ReflectionState | None
    today: date


def reflection_state(
    case: Case,
    events: list[engine.EventFact],
    definition: Definition,
    today: date,
) -> ReflectionState | None:
    """Return the case's reflection and recovery period, or None if not started."""
    window = engine.reflection_window(case, events, definition)
    if window is None:
        return None
    return ReflectionState(
        started_at=window.started_at,
        ends_on=window.ends_on,
        days=window.days,
        days_left=(window.ends_on - today).days,
        running=window.ended_at is None and today <= window.ends_on,
        ended_at=window.ended_at,
        end_reason=window.end_reason,
        end_reason_label=str(
            REFLECTION_END_REASONS.get(window.end_reason, window.end_reason)
        ),
    )


def state_label(status: engine.StepStatus) -> str:
    """Return the label of a step's state; a running period says "Running"."""
    if status.step.period and status.state == StepState.DUE:
        return str(_("Running"))
    if status.step.period and status.state == StepState.OVERDUE:
        return str(_("Ended; the end is not recorded yet"))
    return str(StepState(status.state).label)


def _panel_step(status: engine.StepStatus, today: date) -> PanelStep:
    step = status.step
    return PanelStep(
        id=step.id,
        title=step_title(step.title),
        description=_(step.description) if step.description else "",
        roles=[_role_label(r) for r in step.roles],
        role_codes=list(step.roles),
        state=str(status.state),
        state_label=state_label(status),
        tag=STATE_TAGS.get(status.state, "tag"),
        started_at=status.started_at,
        due_on=status.due_on,
        done_at=status.done_at,
        explanation=status.explanation,
        days_left=(status.due_on - today).days if status.due_on else None,
        period=step.period,
    )


def _without_dates(status: engine.StepStatus) -> engine.StepStatus:
    return engine.StepStatus(
        status.step,
        status.state,
        explanation=str(_("Recorded by others on the case team.")),
    )


def build_panel(
    case: Case,
    *,
    definition: Definition,
    events: list[engine.EventFact],
    today: date,
    visible_events: list[engine.EventFact] | None = None,
) -> Panel:
    """Compute the panel of ``case`` (already access-checked by the caller).

    Args:
        events: all the case's events, oldest first. The removal block is
            computed from them: it protects the person and discloses nothing.
        visible_events: the events the user may see
            (:func:`trm.sop.selectors.case_events` with their access's
            levels); the steps and the reflection period are shown from these
            only. ``events`` when None: pass them for any user whose access does
            not see every level (:func:`panel_for_case` does).
    """
    shown = events if visible_events is None else visible_events
    statuses = engine.case_sop_status(
        case, definition=definition, events=events, today=today
    )
    if visible_events is not None and len(visible_events) != len(events):
        # Where the events this user may not see change a step, show its state
        # (a step done is done for everyone) but none of its dates, which
        # would tell when, say, an assistance-only contact took place.
        seen = engine.case_sop_status(
            case, definition=definition, events=visible_events, today=today
        )
        statuses = tuple(
            engine.SopStatus(
                number=full.number,
                key=full.key,
                title=full.title,
                steps=tuple(
                    step if step == mine else _without_dates(step)
                    for step, mine in zip(full.steps, partial.steps, strict=True)
                ),
            )
            for full, partial in zip(statuses, seen, strict=True)
        )
    sops = [
        PanelSop(
            number=sop.number,
            key=sop.key,
            title=_(sop.title),
            summary=sop.summary,
            summary_label=str(engine.SopSummary(sop.summary).label),
            summary_tag=STATE_TAGS.get(sop.summary, "tag"),
            steps=[_panel_step(s, today) for s in sop.steps],
        )
        for sop in statuses
    ]
    return Panel(
        case=case,
        variant=definition.variant,
        variant_title=definition.title,
        example=definition.example,
        note=definition.note,
        sops=sops,
        removal_block=removal_block(
            case, definition=definition, events=events, today=today
        ),
        reflection=reflection_state(case, shown, definition, today),
        today=today,
    )


def panel_for_case(
    case: Case, *, access: CaseAccess, today: date | None = None
) -> Panel:
    """Compute the panel of ``case`` as a user with ``access`` may see it.

    Steps, dates and the reflection period come from only the events ``access``
    sees (SOPS §3: a prosecutor never learns of assistance through the panel);
    the removal block from all of them.
    """
    today = today or timezone.localdate()
    events = engine.events_for_cases([case.pk]).get(case.pk, [])
    levels = access.visible_levels()
    visible = (
        events
        if set(levels) >= set(Visibility.values)
        else engine.events_for_cases([case.pk], visibility=levels).get(case.pk, [])
    )
    return build_panel(
        case,
        definition=definition(),
        events=events,
        visible_events=visible,
        today=today,
    )


@login_required
@never_cache
@require_GET
def case_panel_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Show where a case stands in the five SOPs, as a page of its own."""
    case, access = case_selectors.case_get_for_user(
        user=_user(request), case_id=case_id
    )
    context = {"case": case, "sop_panel": panel_for_case(case, access=access)}
    return render(request, "sop/case_panel.html", context)


# --- my tasks -------------------------------------------------------------------


@dataclass(frozen=True)
class TaskRow:
    case_id: UUID
    case_number: str
    sop: int
    step_id: str
    title: str
    state: str
    state_label: str
    tag: str
    due_on: date | None
    days_left: int | None
    roles: list[str]
    role_codes: list[str]
    #: Where the task is done; empty: the case's SOP panel.
    url: str = ""

    @property
    def days_late(self) -> int:
        return -self.days_left if self.days_left is not None else 0


@dataclass(frozen=True)
class ReminderRow:
    id: UUID
    case_id: UUID
    case_number: str
    title: str
    due_on: date
    overdue: bool
    #: The case page's section the reminder links to.
    anchor: str = "sop"


def task_rows(
    user: User, *, overdue_only: bool, today: date
) -> tuple[list[TaskRow], bool]:
    """Return the user's tasks for display, overdue first; and whether truncated."""
    tasks, truncated = selectors.tasks_for_user(
        user=user, today=today, overdue_only=overdue_only
    )
    rows = [
        TaskRow(
            case_id=task.case_id,
            case_number=task.case_number,
            sop=task.status.step.sop,
            step_id=task.status.step.id,
            title=step_title(task.status.step.title),
            state=str(task.status.state),
            state_label=state_label(task.status),
            tag=STATE_TAGS.get(task.status.state, "tag"),
            due_on=task.status.due_on,
            days_left=(
                (task.status.due_on - today).days if task.status.due_on else None
            ),
            roles=[_role_label(r) for r in sorted(task.roles)],
            role_codes=sorted(task.roles),
            url=task.url,
        )
        for task in tasks
    ]
    # Overdue first (the longest overdue at the top), then by due date; steps
    # without a deadline last.
    rows.sort(
        key=lambda r: (
            r.state != StepState.OVERDUE,
            r.due_on or date.max,
            r.case_number,
        )
    )
    return rows, truncated


def reminder_rows(user: User, *, today: date) -> list[ReminderRow]:
    """Return the user's unread reminders with their step titles."""
    found = selectors.reminders_for_user(user=user)
    titles = {s.id: s.title for s in definition().steps()} if found else {}
    rows = []
    for reminder in found:
        rows.append(
            ReminderRow(
                id=reminder.pk,
                case_id=reminder.case_id,
                case_number=reminder.case.number,
                title=selectors.reminder_title(reminder.step_id, titles),
                due_on=reminder.due_on,
                overdue=reminder.due_on < today,
                anchor=selectors.reminder_anchor(reminder.step_id),
            )
        )
    return rows


@login_required
@never_cache
@require_GET
def tasks_view(request: HttpRequest) -> HttpResponse:
    """List the steps due or overdue on the user's cases, and their reminders."""
    user = _user(request)
    today = timezone.localdate()
    overdue_only = request.GET.get("overdue") == "1"
    rows, truncated = task_rows(user, overdue_only=overdue_only, today=today)
    page = Paginator(rows, TASKS_PER_PAGE).get_page(request.GET.get("page"))
    sop_definition = definition()
    context: dict[str, Any] = {
        # The due dates come from the node's variant: an example one is unverified.
        "variant_title": sop_definition.title,
        "example": sop_definition.example,
        "variant_note": sop_definition.note,
        "page": page,
        "rows": list(page.object_list),
        "total": len(rows),
        "overdue_only": overdue_only,
        "truncated": truncated,
        "max_cases": selectors.MAX_TASK_CASES,
        "reminders": reminder_rows(user, today=today),
        "today": today,
    }
    return render(request, "sop/tasks.html", context)


@login_required
@never_cache
@require_POST
def reminders_read_view(request: HttpRequest) -> HttpResponse:
    """Mark all the user's reminders read."""
    count = jobs.mark_reminders_read(user=_user(request))
    if count:
        messages.success(
            request,
            ngettext(
                "%(n)d reminder marked read.", "%(n)d reminders marked read.", count
            )
            % {"n": count},
        )
    else:
        messages.info(request, _("No unread reminders."))
    return HttpResponseRedirect(reverse("sop:tasks"))
