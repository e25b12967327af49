"""Fixtures for the audit tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import transaction

from trm.audit import services
from trm.audit.models import AuditEntry


@pytest.fixture
def append(db) -> Callable[[int], list[AuditEntry]]:
    """Return a function appending ``n`` synthetic system entries to the log."""

    def make(n: int) -> list[AuditEntry]:
        with transaction.atomic():
            return [
                services.record(
                    actor=None,
                    action=f"test.synthetic_{i}",
                    target_type="test.thing",
                    target_id=f"thing-{i}",
                )
                for i in range(1, n + 1)
            ]

    return make
