from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import DatabaseError, connection, transaction

from trm.audit.models import AuditEntry, canonical_json, digest
from trm.audit.tests import tampering

# --- the hash (no database) -----------------------------------------------------


def _entry(**overrides):
    fields = {
        "seq": 7,
        "at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "actor_id": 42,
        "actor_kind": "user",
        "action": "test.something_done",
        "target_type": "test.thing",
        "target_id": "thing-1",
        "data_digest": "d" * 64,
        "prev_hash": "p" * 64,
    }
    return AuditEntry(**(fields | overrides))


def test_hash_covers_every_stored_field_but_itself():
    changed = {
        "seq": 8,
        "at": datetime(2026, 1, 2, 3, 4, 5, 678902, tzinfo=UTC),
        "actor_id": 43,
        "actor_kind": "system",
        "action": "test.something_else",
        "target_type": "test.other",
        "target_id": "thing-2",
        "data_digest": "e" * 64,
        "prev_hash": "q" * 64,
    }
    # The MAC is computed over the hash, so it is covered through it.
    stored = {f.name for f in AuditEntry._meta.concrete_fields} - {"hash", "mac"}
    assert set(changed) == stored, "a new field must be covered by the hash"
    original = _entry().compute_hash()

    for name, value in changed.items():
        assert _entry(**{name: value}).compute_hash() != original, name


def test_hash_is_the_same_for_one_instant_in_any_time_zone():
    at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    elsewhere = at.astimezone(timezone(timedelta(hours=2)))

    assert _entry(at=at).compute_hash() == _entry(at=elsewhere).compute_hash()


def test_digest_does_not_depend_on_key_order():
    assert canonical_json({"b": 1, "a": [1, 2]}) == b'{"a":[1,2],"b":1}'
    assert digest({"b": 1, "a": 2}) == digest({"a": 2, "b": 1})
    assert digest({"a": 1}) != digest({"a": 2})


# --- append-only protection in the database --------------------------------------


def _refused(sql, params=()):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)


def test_database_refuses_update_of_an_entry(append):
    entry = append(1)[0]

    _refused("UPDATE audit_auditentry SET action = %s WHERE seq = 1", ["test.x"])

    assert AuditEntry.objects.get(seq=1).action == entry.action


def test_database_refuses_update_through_the_orm(append):
    entry = append(1)[0]
    entry.action = "test.innocuous"

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(seq=1).update(action="test.innocuous")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        entry.save()

    assert AuditEntry.objects.get(seq=1).action == "test.synthetic_1"


def test_database_refuses_delete_of_an_entry(append):
    if connection.vendor == "sqlite":
        pytest.skip(
            "SQLite keeps DELETE possible (the test runner flushes with DELETE); "
            "verify() catches deletions there"
        )
    append(2)

    _refused("DELETE FROM audit_auditentry WHERE seq = 2")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.all().delete()

    assert AuditEntry.objects.count() == 2


def test_tampering_helper_restores_the_protection_afterwards(append):
    append(2)

    tampering.edit_action(2, "test.innocuous")

    assert AuditEntry.objects.get(seq=2).action == "test.innocuous"
    _refused("UPDATE audit_auditentry SET action = %s WHERE seq = 1", ["test.x"])


def test_protection_lifted_in_a_rolled_back_transaction_comes_back(append):
    append(1)

    with pytest.raises(ZeroDivisionError), transaction.atomic():
        # Lift the protection without the helper's restore: only the rollback of
        # the DDL can bring it back.
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER USER")
            else:
                cursor.execute("DROP TRIGGER audit_entry_no_update")
            cursor.execute("UPDATE audit_auditentry SET action = 'test.x'")
        1 / 0  # noqa: B018

    _refused("UPDATE audit_auditentry SET action = %s WHERE seq = 1", ["test.y"])
    assert AuditEntry.objects.get(seq=1).action == "test.synthetic_1"
