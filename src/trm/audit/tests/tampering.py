"""Tamper with the audit log the way someone with database-owner rights could.

Test-only. The append-only triggers are lifted for the duration of each change
(PostgreSQL: ``ALTER TABLE … DISABLE TRIGGER USER``; SQLite: the UPDATE trigger
is dropped) and put back afterwards, so a test that tampers still runs against
a protected table everywhere else. Both vendors run this DDL transactionally,
so the test's rollback would restore the triggers too.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connection

from trm.audit.models import AuditEntry, AuditHead

_APPEND_ONLY = importlib.import_module("trm.audit.migrations.0002_append_only")


@contextmanager
def protection_lifted() -> Iterator[None]:
    """Disable the append-only triggers inside the block, restore them after."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER USER")
        else:
            cursor.execute("DROP TRIGGER audit_entry_no_update")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER USER")
            else:
                cursor.execute(_APPEND_ONLY.SQLITE_UP)


def raw(sql: str, params: tuple[Any, ...] = ()) -> None:
    """Run one raw SQL statement against the unprotected audit table."""
    with protection_lifted(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def edit_action(seq: int, action: str) -> None:
    """Change an entry's ``action`` in place, leaving its stored hash alone."""
    raw("UPDATE audit_auditentry SET action = %s WHERE seq = %s", (action, seq))


def delete_entries(*seqs: int) -> None:
    """Delete entries without touching the head."""
    for seq in seqs:
        raw("DELETE FROM audit_auditentry WHERE seq = %s", (seq,))


def swap_seq(a: int, b: int) -> None:
    """Swap the sequence numbers of two entries (their positions in the log)."""
    parking = -a
    raw("UPDATE audit_auditentry SET seq = %s WHERE seq = %s", (parking, a))
    raw("UPDATE audit_auditentry SET seq = %s WHERE seq = %s", (a, b))
    raw("UPDATE audit_auditentry SET seq = %s WHERE seq = %s", (b, parking))


def rewrite(seq: int, **fields: Any) -> None:
    """Replace fields of an entry and recompute its own hash, as a careful forger."""
    entry = AuditEntry.objects.get(seq=seq)
    for name, value in fields.items():
        setattr(entry, name, value)
    entry.hash = entry.compute_hash()
    with protection_lifted():
        AuditEntry.objects.filter(seq=seq).update(
            **{name: getattr(entry, name) for name in fields}, hash=entry.hash
        )


def swap_contents_rehashed(a: int, b: int) -> None:
    """Swap everything but ``seq`` between two entries and re-hash both."""
    first, second = AuditEntry.objects.get(seq=a), AuditEntry.objects.get(seq=b)
    names = [
        f.name
        for f in AuditEntry._meta.concrete_fields
        if f.name not in {"seq", "hash"}
    ]
    rewrite(a, **{name: getattr(second, name) for name in names})
    rewrite(b, **{name: getattr(first, name) for name in names})


def append_forged(*, action: str) -> AuditEntry:
    """Insert a well-formed next entry without moving the head."""
    last = AuditEntry.objects.order_by("-seq").first()
    assert last is not None
    forged = AuditEntry(
        seq=last.seq + 1,
        at=last.at,
        actor_id=None,
        actor_kind="system",
        action=action,
        prev_hash=last.hash,
    )
    forged.hash = forged.compute_hash()
    forged.save(force_insert=True)
    return forged


def forge_head(*, seq: int | None = None, hash_value: str | None = None) -> None:
    """Overwrite the head row (it is updated on every append, so unprotected)."""
    changes: dict[str, Any] = {}
    if seq is not None:
        changes["seq"] = seq
    if hash_value is not None:
        changes["hash"] = hash_value
    AuditHead.objects.update_or_create(pk=1, defaults=changes)


@dataclass(frozen=True)
class Attack:
    """A tampering of a five-entry chain and where verification must catch it."""

    tamper: Callable[[], object]
    bad_seq: int
    reason: str


def _roll_head_back_to(seq: int) -> None:
    forge_head(seq=seq, hash_value=AuditEntry.objects.get(seq=seq).hash)


def _cut_tail_and_rewind() -> None:
    delete_entries(4, 5)
    _roll_head_back_to(3)


def _empty_and_reset() -> None:
    delete_entries(1, 2, 3, 4, 5)
    _reset_head()


def _reset_head() -> None:
    AuditHead.objects.update_or_create(
        pk=1, defaults={"seq": 0, "hash": "0" * 64, "mac": ""}
    )


def rechain_from(seq: int, **fields: Any) -> None:
    """Rewrite entry ``seq`` and recompute every later hash and the head.

    What an attacker with write access to the database (but not the node's
    audit key) can do to a plain hash chain.
    """
    rewrite(seq, **fields)
    previous = AuditEntry.objects.get(seq=seq).hash
    for entry in AuditEntry.objects.filter(seq__gt=seq).order_by("seq"):
        entry.prev_hash = previous
        new_hash = entry.compute_hash()
        raw(
            "UPDATE audit_auditentry SET prev_hash = %s, hash = %s WHERE seq = %s",
            (previous, new_hash, entry.seq),
        )
        previous = new_hash
    last = AuditEntry.objects.order_by("-seq").first()
    assert last is not None
    forge_head(seq=last.seq, hash_value=last.hash)


# Each attack runs against a chain of exactly five entries (seq 1..5).
ATTACKS: dict[str, Attack] = {
    "edited_action": Attack(
        lambda: edit_action(3, "test.innocuous"), 3, "does not match its hash (edited)"
    ),
    "edit_with_recomputed_hash": Attack(
        lambda: rewrite(3, action="test.innocuous"),
        3,
        "its MAC does not match",
    ),
    "edit_with_whole_chain_and_head_recomputed": Attack(
        lambda: rechain_from(3, action="test.innocuous"),
        3,
        "its MAC does not match",
    ),
    "deleted_middle_entry": Attack(
        lambda: delete_entries(3), 3, "entries 3..3 are missing (deleted)"
    ),
    "deleted_first_entry": Attack(
        lambda: delete_entries(1), 1, "entries 1..1 are missing (deleted)"
    ),
    "swapped_seq": Attack(
        lambda: swap_seq(2, 4), 2, "does not match its hash (edited)"
    ),
    "swapped_contents_rehashed": Attack(
        lambda: swap_contents_rehashed(2, 4), 2, "does not follow its predecessor"
    ),
    "truncated_tail": Attack(
        lambda: delete_entries(4, 5),
        4,
        "ends at entry 3 but 5 were written (truncated)",
    ),
    "emptied_log": Attack(
        lambda: delete_entries(1, 2, 3, 4, 5),
        1,
        "ends at entry 0 but 5 were written (truncated)",
    ),
    "forged_head_hash": Attack(
        lambda: forge_head(hash_value="f" * 64), 5, "head altered"
    ),
    "head_rolled_back": Attack(lambda: _roll_head_back_to(3), 3, "head altered"),
    "entry_appended_behind_the_head": Attack(
        lambda: append_forged(action="test.forged"), 6, "its MAC does not match"
    ),
    "tail_cut_and_head_rewound": Attack(
        lambda: _cut_tail_and_rewind(), 3, "head altered"
    ),
    "emptied_log_and_head_reset": Attack(lambda: _empty_and_reset(), 1, "emptied"),
}
