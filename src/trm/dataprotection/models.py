"""Keystore models (routed to the ``keystore`` database) and data-protection records.

:class:`NodeKey` and :class:`DataKey` live in a database of their own
(``TRM_KEYSTORE_URL``; by default a separate SQLite file, or ``<db>_keystore``
on the same PostgreSQL server). Destroying a :class:`DataKey` therefore makes
that person's fields unreadable in every backup of the main database, as long as
keystore backups are kept for a shorter time (ARCHITECTURE §4, crypto-shredding).
"""

from __future__ import annotations

import uuid

from django.db import models

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
