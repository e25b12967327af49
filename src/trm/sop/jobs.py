"""Scheduled SOP work: reflection periods that expired, reminders of due steps.

Run by ``trm worker`` (every few minutes) or once with ``trm worker --once``.
Each job is idempotent: running it twice changes nothing the second time.

Reminder e-mails go through Django's mail backend (the console backend in
development) and carry no personal data: the case number, the step, the due
date and a link to the case page (SOPS §3 confidentiality; ARCHITECTURE §4).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from trm.accounts.models import User
from trm.cases.models import Case, CaseTeamMember
from trm.sop import engine
from trm.sop.models import Reminder
from trm.sop.selectors import reminder_days_before

logger = logging.getLogger(__name__)


@dataclass
class ReminderRun:
    """What one run of :func:`send_reminders` did (counts only)."""

    cases: int = 0
    created: int = 0
    emailed: int = 0


def _reminder_due(status: engine.StepStatus, today: date) -> bool:
    if status.due_on is None or not status.is_open:
        return False
    days = reminder_days_before(status.step.remind_days_before)
    return today >= status.due_on - timedelta(days=days)


def _email(user: User, case: Case, status: engine.StepStatus) -> bool:
    if not user.email or not user.is_active:
        return False
    language = user.preferred_language or settings.LANGUAGE_CODE
    with translation.override(language):
        link = settings.TRM_BASE_URL + reverse("cases:detail", args=[case.pk])
        title = _(status.step.title)
        due = status.due_on.isoformat() if status.due_on else ""
        if status.state == engine.StepState.OVERDUE:
            subject = _("TRM: overdue on case %(number)s") % {"number": case.number}
            line = _("“%(step)s” was due on %(date)s.") % {"step": title, "date": due}
        else:
            subject = _("TRM: due on case %(number)s") % {"number": case.number}
            line = _("“%(step)s” is due on %(date)s.") % {"step": title, "date": due}
        body = "\n\n".join(
            [
                line,
                _("Open the case: %(link)s") % {"link": link},
                _("You receive this because you are on the case team."),
            ]
        )
    send_mail(subject, body, None, [user.email], fail_silently=False)
    return True


def send_reminders(*, today: date | None = None) -> ReminderRun:
    """Create in-app reminders and send e-mails for steps falling due.

    A step's reminder is due from ``remind_days_before`` days (else
    ``TRM_REMINDER_DAYS_BEFORE``) before its due date, and while it is
    overdue. Each team member whose role the step names gets one reminder per
    step and due date; a new reminder is e-mailed once.
    """
    from trm.sop.loader import get_definition

    today = today or timezone.localdate()
    definition = get_definition()
    run = ReminderRun()
    open_cases = Case.objects.filter(closed_at__isnull=True).values_list(
        "pk", flat=True
    )
    batch: list[object] = []

    def flush(ids: list[object]) -> None:
        cases = Case.objects.filter(pk__in=ids).select_related("person")
        events = engine.events_for_cases([c.pk for c in cases])
        team: dict[object, list[tuple[User, str]]] = {}
        for member in CaseTeamMember.objects.filter(case_id__in=ids).select_related(
            "user"
        ):
            team.setdefault(member.case_id, []).append((member.user, member.role))
        for case in cases:
            run.cases += 1
            statuses = engine.case_sop_status(
                case, definition=definition, events=events.get(case.pk, []), today=today
            )
            for status in engine.open_steps(statuses):
                if not _reminder_due(status, today):
                    continue
                named = set(status.step.roles) or {"case_manager"}
                users = {u.pk: u for u, role in team.get(case.pk, []) if role in named}
                for user in users.values():
                    if not user.is_active or status.due_on is None:
                        continue
                    try:
                        with transaction.atomic():
                            reminder, created = Reminder.objects.get_or_create(
                                user=user,
                                case=case,
                                step_id=status.step.id,
                                due_on=status.due_on,
                            )
                    except IntegrityError:  # a concurrent worker made it
                        continue
                    if created:
                        run.created += 1
                    if reminder.emailed_at is not None or not user.email:
                        continue
                    # Claim the e-mail (one worker sends it); give the claim back
                    # if sending fails, so a later run retries.
                    claimed = Reminder.objects.filter(
                        pk=reminder.pk, emailed_at__isnull=True
                    ).update(emailed_at=timezone.now())
                    if not claimed:
                        continue
                    try:
                        sent = _email(user, case, status)
                    except Exception:
                        logger.warning("reminder e-mail failed; retried next run")
                        sent = False
                    if sent:
                        run.emailed += 1
                    else:
                        Reminder.objects.filter(pk=reminder.pk).update(emailed_at=None)

    for case_id in open_cases.iterator(chunk_size=500):
        batch.append(case_id)
        if len(batch) >= 500:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    return run


def mark_reminders_read(*, user: User, reminder_ids: list[object] | None = None) -> int:
    """Mark the user's reminders read (all, or those listed); returns how many."""
    qs = Reminder.objects.filter(user=user, read_at__isnull=True)
    if reminder_ids is not None:
        qs = qs.filter(pk__in=reminder_ids)
    return qs.update(read_at=timezone.now())


def run_due_jobs(*, today: date | None = None) -> dict[str, int]:
    """Run every scheduled SOP job once; returns counts per job."""
    from trm.identification.reflection import expire_reflection_periods

    expired = expire_reflection_periods(today=today)
    run = send_reminders(today=today)
    return {
        "reflection_periods_expired": expired,
        "reminders_created": run.created,
        "reminders_emailed": run.emailed,
        "open_cases_checked": run.cases,
    }
