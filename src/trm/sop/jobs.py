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
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from trm.accounts.models import User
from trm.cases.access import visible_cases_filter
from trm.cases.models import Case, CaseTeamMember
from trm.sop import engine
from trm.sop.models import Reminder
from trm.sop.selectors import reminder_days_before, reminder_title

logger = logging.getLogger(__name__)


@dataclass
class ReminderRun:
    """What one run of :func:`send_reminders` did (counts only)."""

    cases: int = 0
    created: int = 0
    #: Reminders included in an e-mail sent by this run.
    emailed: int = 0
    #: E-mails sent (one per user).
    emails: int = 0


def _reminder_due(status: engine.StepStatus, today: date) -> bool:
    if status.due_on is None or not status.is_open:
        return False
    days = reminder_days_before(status.step.remind_days_before)
    return today >= status.due_on - timedelta(days=days)


#: The most reminders listed in one e-mail (the rest: "and N more" and the link).
DIGEST_LINES = 30


def _digest(user: User, reminders: list[Reminder], *, today: date) -> None:
    """Send one e-mail listing ``reminders`` (case numbers, steps, dates only)."""
    from trm.sop.loader import get_definition

    definition = get_definition()
    titles = {step.id: step.title for step in definition.steps()}
    language = user.preferred_language or settings.LANGUAGE_CODE
    with translation.override(language):
        lines = []
        for reminder in reminders[:DIGEST_LINES]:
            title = reminder_title(reminder.step_id, titles)
            values = {
                "number": reminder.case.number,
                "step": title,
                "date": date_format(reminder.due_on),
            }
            if reminder.due_on < today:
                lines.append(_("%(number)s: “%(step)s” was due on %(date)s.") % values)
            else:
                lines.append(_("%(number)s: “%(step)s” is due on %(date)s.") % values)
        more = len(reminders) - DIGEST_LINES
        if more > 0:
            lines.append(_("… and %(n)d more.") % {"n": more})
        link = settings.TRM_BASE_URL + reverse("sop:tasks")
        subject = _("TRM: %(n)d step(s) due on your cases") % {"n": len(reminders)}
        body = "\n\n".join(
            [
                "\n".join(lines),
                _("Open My tasks: %(link)s") % {"link": link},
                _("You receive this because you are on these cases' teams."),
            ]
        )
    send_mail(subject, body, None, [user.email], fail_silently=False)


def _send_digests(run: ReminderRun, *, today: date) -> None:
    """E-mail every user their reminders not yet e-mailed, one e-mail each.

    The reminders are claimed first (so concurrent workers do not both send)
    and released if sending fails, so the next run retries.
    """
    pending = (
        Reminder.objects.filter(
            emailed_at__isnull=True, user__is_active=True, user__email__gt=""
        )
        .values_list("user_id", flat=True)
        .distinct()
    )
    for user_id in list(pending):
        user = User.objects.select_related("organisation").get(pk=user_id)
        if not user.may_use_account():
            continue  # a deactivated organisation: its people get no e-mail
        # Only cases the user may still see (team left, role withdrawn, closed).
        visible = Case.objects.filter(
            visible_cases_filter(user), closed_at__isnull=True
        )
        ids = list(
            Reminder.objects.filter(
                user=user, emailed_at__isnull=True, case__in=visible
            ).values_list("pk", flat=True)
        )
        if not ids:
            continue
        stamp = timezone.now()
        claimed = Reminder.objects.filter(pk__in=ids, emailed_at__isnull=True)
        if not claimed.update(emailed_at=stamp):
            continue
        mine = list(
            Reminder.objects.filter(user=user, emailed_at=stamp)
            .select_related("case")
            .order_by("due_on", "case__number")
        )
        try:
            _digest(user, mine, today=today)
        except Exception:
            logger.warning("reminder e-mail failed; retried next run")
            Reminder.objects.filter(pk__in=[r.pk for r in mine]).update(emailed_at=None)
            continue
        run.emailed += len(mine)
        run.emails += 1


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
        cases = Case.objects.filter(pk__in=ids).select_related(
            "person", "opened_by__organisation"
        )
        events = engine.events_for_cases([c.pk for c in cases])
        team: dict[object, list[tuple[User, str]]] = {}
        # One User object per person, so their roles are read once per batch.
        people: dict[int, User] = {}
        for member in CaseTeamMember.objects.filter(case_id__in=ids).select_related(
            "user__organisation"
        ):
            user = people.setdefault(member.user_id, member.user)
            team.setdefault(member.case_id, []).append((user, member.role))
        for case in cases:
            run.cases += 1
            statuses = engine.case_sop_status(
                case, definition=definition, events=events.get(case.pk, []), today=today
            )
            for status in engine.open_steps(statuses):
                if not _reminder_due(status, today):
                    continue
                named = set(status.step.roles) or {"case_manager"}
                users = {
                    u.pk: u
                    for u, role in team.get(case.pk, [])
                    if role in named and role in u.role_codes()
                }
                for user in users.values():
                    if not user.may_use_account() or status.due_on is None:
                        continue
                    try:
                        with transaction.atomic():
                            _reminder, created = Reminder.objects.get_or_create(
                                user=user,
                                case=case,
                                step_id=status.step.id,
                                due_on=status.due_on,
                            )
                    except IntegrityError:  # a concurrent worker made it
                        continue
                    if created:
                        run.created += 1

    for case_id in open_cases.iterator(chunk_size=500):
        batch.append(case_id)
        if len(batch) >= 500:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    _send_digests(run, today=today)
    return run


def mark_reminders_read(*, user: User, reminder_ids: list[object] | None = None) -> int:
    """Mark the user's reminders read (all, or those listed); returns how many."""
    qs = Reminder.objects.filter(user=user, read_at__isnull=True)
    if reminder_ids is not None:
        qs = qs.filter(pk__in=reminder_ids)
    return qs.update(read_at=timezone.now())


def run_due_jobs(*, today: date | None = None) -> dict[str, int]:
    """Run every scheduled SOP job once; returns counts per job.

    The residence renewal reminders (:func:`trm.care.jobs.residence_renewals`)
    are made before :func:`send_reminders`, so they go out in the same e-mail.
    """
    from trm.care.jobs import residence_renewals
    from trm.handover.services import raise_missed_handover_alerts
    from trm.identification.reflection import expire_reflection_periods

    expired = expire_reflection_periods(today=today)
    renewals = residence_renewals(today=today)
    run = send_reminders(today=today)
    missed = raise_missed_handover_alerts()
    return {
        "reflection_periods_expired": expired,
        "residence_renewal_reminders": renewals,
        "reminders_created": run.created,
        "reminders_emailed": run.emailed,
        "reminder_emails_sent": run.emails,
        "open_cases_checked": run.cases,
        "missed_handover_alerts": missed,
    }
