"""Reminders of SOP steps falling due (in the app and by e-mail).

A reminder names a case (by its number, never the person), a step and a due
date. One row per user, case, step and due date: the job that creates them
(:func:`trm.sop.jobs.send_reminders`) runs any number of times without sending
twice.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from trm.cases.models import Case


class Reminder(models.Model):
    """A step of a case due soon (or overdue), for one user on its team."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reminders"
    )
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    step_id = models.CharField(max_length=80)
    due_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_on", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "case", "step_id", "due_on"], name="reminder_once"
            )
        ]
        indexes = [models.Index(fields=["user", "read_at", "due_on"])]

    def __str__(self) -> str:
        return f"{self.step_id} due {self.due_on}"
