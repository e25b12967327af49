"""Scheduled work of trm.care: reminders to renew residence documents in time.

Called by :func:`trm.sop.jobs.run_due_jobs` (``trm worker``) before the
reminder e-mails are sent, so the reminders made here go out in the same
digest. Idempotent: each record is reminded once (``reminded_at``), and a
:class:`~trm.sop.models.Reminder` is unique per user, case, step and date.
"""

from __future__ import annotations

import logging
from datetime import date
from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone

from trm.accounts.models import Role, User
from trm.care.models import ResidenceStatus
from trm.cases.models import CaseTeamMember
from trm.sop.models import Reminder

logger = logging.getLogger(__name__)

#: The reminder's step id: :mod:`trm.sop` labels it on "My tasks" and in e-mails.
RENEWAL_STEP_ID = "care.residence_renewal"
#: Who is reminded: these roles on the case team.
REMINDED_ROLES = frozenset({Role.CASE_MANAGER, Role.NATIONAL_CONTACT_POINT})


def _recipients(case_id: UUID) -> list[User]:
    users: dict[int, User] = {}
    for member in CaseTeamMember.objects.filter(
        case_id=case_id, role__in=sorted(REMINDED_ROLES)
    ).select_related("user__organisation"):
        user = member.user
        # A team role counts only while the user holds it (trm.cases.access).
        if member.role in user.role_codes() and user.may_use_account():
            users[user.pk] = user
    return list(users.values())


def residence_renewals(today: date | None = None) -> int:
    """Remind the case team to renew residence documents; return reminders made.

    For every current record (not superseded) of an open case whose renewal
    date (``valid_until`` minus the notice days) has come and that was not reminded
    yet, each case manager and national contact point on the case team gets a
    reminder due on ``valid_until`` (step :data:`RENEWAL_STEP_ID`; the e-mail
    digest names the case number only). A record whose case has no one to
    remind stays pending, so a manager who joins later is reminded.
    """
    today = today or timezone.localdate()
    pending = (
        ResidenceStatus.objects.filter(
            superseded_by__isnull=True,
            reminded_at__isnull=True,
            renewal_due_on__isnull=False,
            renewal_due_on__lte=today,
            case__closed_at__isnull=True,
        )
        .order_by("renewal_due_on", "pk")
        .values_list("pk", flat=True)
    )
    created = 0
    for record_id in list(pending):
        with transaction.atomic():
            # Claim the record: a concurrent worker skips it (or finds it done).
            record = (
                ResidenceStatus.objects.select_for_update(skip_locked=True)
                .filter(pk=record_id, reminded_at__isnull=True)
                .first()
            )
            if record is None or record.valid_until is None:
                continue
            users = _recipients(record.case_id)
            if not users:
                continue
            for user in users:
                try:
                    with transaction.atomic():
                        _reminder, made = Reminder.objects.get_or_create(
                            user=user,
                            case_id=record.case_id,
                            step_id=RENEWAL_STEP_ID,
                            due_on=record.valid_until,
                        )
                except IntegrityError:  # made concurrently
                    continue
                created += int(made)
            record.reminded_at = timezone.now()
            record.save(update_fields=["reminded_at"])
    if created:
        logger.info("residence renewal reminders created: %d", created)
    return created
