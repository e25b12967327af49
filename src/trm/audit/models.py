"""The append-only, hash-chained audit log.

Each :class:`AuditEntry` commits to its predecessor: ``hash`` is SHA-256 over a
canonical JSON serialisation of the entry's fields including ``prev_hash``.
Editing, deleting, reordering or inserting an entry breaks the chain at that
point; :class:`AuditHead` (updated in the same transaction as every append)
records the last sequence number and hash so that a truncated tail is detected
too. The log holds no personal data: details are kept only as a keyed digest.

Someone who can write to the database could recompute a plain hash chain. So each
entry and the head also carry a MAC (HMAC-SHA256 under the node's ``audit`` key,
kept wrapped by the key-encryption key in the keystore, never in this database):
without that key, a rewritten, forged or rewound log does not verify.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from django.db import models

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> bytes:
    """Serialise ``value`` canonically: sorted keys, no spaces, UTF-8."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode("utf-8")


def digest(value: Any) -> str:
    """Return the SHA-256 hex digest of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


class AuditEntry(models.Model):
    """One audited action. Rows are never updated or deleted."""

    seq = models.BigIntegerField(primary_key=True)
    at = models.DateTimeField()
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_kind = models.CharField(max_length=16, default="user")
    action = models.CharField(max_length=80)
    target_type = models.CharField(max_length=80, blank=True)
    target_id = models.CharField(max_length=80, blank=True)
    data_digest = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    mac = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["target_type", "target_id"]),
            models.Index(fields=["actor_id", "at"]),
            models.Index(fields=["action", "at"]),
        ]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"

    def canonical_fields(self) -> dict[str, Any]:
        """Return the fields the hash covers, in wire form."""
        return {
            "seq": self.seq,
            "at": _iso(self.at),
            "actor_id": self.actor_id,
            "actor_kind": self.actor_kind,
            "action": self.action,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "data_digest": self.data_digest,
            "prev_hash": self.prev_hash,
        }

    def compute_hash(self) -> str:
        """Return SHA-256 over the canonical serialisation of this entry."""
        return hashlib.sha256(canonical_json(self.canonical_fields())).hexdigest()


class AuditHead(models.Model):
    """The single row recording the chain's last sequence number and hash."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)
    mac = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="audit_head_single")
        ]

    def __str__(self) -> str:
        return f"audit head #{self.seq}"


def _iso(value: datetime) -> str:
    # Microsecond precision in UTC: both SQLite and PostgreSQL round-trip it.
    return value.astimezone(UTC).isoformat(timespec="microseconds")
