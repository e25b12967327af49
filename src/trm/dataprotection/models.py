"""Keystore models (routed to the ``keystore`` database) and data-protection records.

:class:`NodeKey` and :class:`DataKey` live in a database of their own
(``TRM_KEYSTORE_URL``; by default a separate SQLite file, or ``<db>_keystore``
on the same PostgreSQL server). Destroying a :class:`DataKey` therefore makes
that person's fields unreadable in every backup of the main database, as long as
keystore backups are kept for a shorter time (ARCHITECTURE §4, crypto-shredding).
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

KEYSTORE_MODELS = frozenset({"nodekey", "datakey"})


class NodeKey(models.Model):
    """A random 256-bit key for one node-wide purpose, wrapped by the KEK.

    Purposes: ``"totp"`` (second-factor secrets), ``"blind-index"`` (HMAC key of
    blind indexes).
    """

    purpose = models.CharField(max_length=40, primary_key=True)
    wrapped = models.BinaryField()
    kek_fingerprint = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"node key {self.purpose}"


class DataKey(models.Model):
    """A person's data key (AES-256-GCM), wrapped by the KEK; ``wrapped`` is
    emptied when the person is erased (crypto-shredding)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    wrapped = models.BinaryField(null=True)
    kek_fingerprint = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"data key {self.id}"


class ErasureReason(models.TextChoices):
    """Why a person's data is erased. A code, so the record holds no personal data."""

    PERSON_REQUEST = "gdpr_art17", _("The person's request (GDPR Art. 17)")
    RETENTION_EXPIRED = "retention_expired", _("Retention period expired")
    RECORDED_IN_ERROR = "recorded_in_error", _("Recorded in error")
    COURT_ORDER = "court_order", _("Court order")
    OTHER = "other", _("Other")


class ErasureRequest(models.Model):
    """A request to erase a person by crypto-shredding, confirmed by a second person.

    Lives in the main database. ``note`` is a short justification that must not
    hold personal data: it is kept after the person is erased.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending confirmation")
        CONFIRMED = "confirmed", _("Confirmed: data erased")
        CANCELLED = "cancelled", _("Cancelled")

    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {
        Status.PENDING: frozenset({Status.CONFIRMED, Status.CANCELLED}),
        Status.CONFIRMED: frozenset(),
        Status.CANCELLED: frozenset(),
    }
    NOTE_MAX_LENGTH: ClassVar[int] = 200

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    person = models.ForeignKey(
        "cases.Person", on_delete=models.PROTECT, related_name="erasure_requests"
    )
    case = models.ForeignKey(
        "cases.Case", on_delete=models.PROTECT, related_name="erasure_requests"
    )
    reason = models.CharField(_("reason"), max_length=30, choices=ErasureReason.choices)
    note = models.CharField(_("note"), max_length=NOTE_MAX_LENGTH, blank=True)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    requested_at = models.DateTimeField()
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        indexes = [models.Index(fields=["status", "-requested_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["person"],
                condition=models.Q(status="pending"),
                name="erasure_one_pending_per_person",
            ),
            # Four eyes, also in the database: nobody confirms their own request.
            models.CheckConstraint(
                condition=models.Q(confirmed_by__isnull=True)
                | models.Q(requested_by__isnull=True)
                | ~models.Q(confirmed_by=models.F("requested_by")),
                name="erasure_four_eyes",
            ),
        ]

    def __str__(self) -> str:
        return f"erasure request {self.id} ({self.status})"

    def can_transition_to(self, new: str) -> bool:
        """Return True if the request may move from its status to ``new``."""
        return new in self.TRANSITIONS.get(self.status, frozenset())

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING

    def is_second_pair_of_eyes(self, user_id: int | None) -> bool:
        """Return True if ``user_id`` is someone other than the requester."""
        return user_id is not None and user_id != self.requested_by_id
