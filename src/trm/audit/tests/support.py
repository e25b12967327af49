"""Small helpers shared by the audit tests."""

from __future__ import annotations

import pytest
from django.db import connection

from trm.audit.models import GENESIS_HASH, AuditEntry, AuditHead

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="PostgreSQL only: needs concurrent connections and row locks",
)


def head_state() -> tuple[int, str]:
    """Return the head's (seq, hash); a missing head row means an empty chain."""
    head = AuditHead.objects.filter(pk=1).first()
    return (head.seq, head.hash) if head else (0, GENESIS_HASH)


def stored_seqs() -> list[int]:
    """Return the sequence numbers in the table, in order."""
    return list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True))
