"""Abstract base models shared by every domain app."""

from __future__ import annotations

import uuid

from django.db import models


class TimeStampedModel(models.Model):
    """A model with a UUID primary key and creation/update times (UTC)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
