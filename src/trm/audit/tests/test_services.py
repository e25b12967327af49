import itertools
import threading

import pytest
from django.db import connection, connections, transaction

from trm.audit import services
from trm.audit.models import GENESIS_HASH, AuditEntry, digest
from trm.audit.tests import tampering
from trm.audit.tests.support import head_state, postgresql_only, stored_seqs

SYNTHETIC_DETAILS = {
    "name": "Fictional Person Zyxwv-Example",
    "town": "Qwertyville-on-Test",
}


class Boom(Exception):
    pass


# --- record() -----------------------------------------------------------------


def test_record_numbers_entries_from_one_and_links_each_to_its_predecessor(append):
    entries = append(4)

    assert [e.seq for e in entries] == [1, 2, 3, 4]
    assert stored_seqs() == [1, 2, 3, 4]
    assert entries[0].prev_hash == GENESIS_HASH
    for previous, entry in itertools.pairwise(entries):
        assert entry.prev_hash == previous.hash
    for entry in AuditEntry.objects.all():
        assert entry.hash == entry.compute_hash()


def test_record_moves_the_head_to_the_last_entry(append):
    entries = append(3)

    assert head_state() == (3, entries[-1].hash)


def test_record_stores_a_digest_of_data_and_never_the_details(db):
    with transaction.atomic():
        entry = services.record(
            actor=None, action="test.details_given", data=SYNTHETIC_DETAILS
        )

    assert entry.data_digest == services.keyed_digest(SYNTHETIC_DETAILS)
    # Keyed: a plain hash of the details (guessable by trying values) differs.
    assert entry.data_digest != digest(SYNTHETIC_DETAILS)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM audit_auditentry WHERE seq = %s", [entry.seq])
        row = " ".join(str(value) for value in cursor.fetchone())
    for key, value in SYNTHETIC_DETAILS.items():
        assert key not in row
        assert value not in row
    assert "Zyxwv" not in row
    assert "Qwerty" not in row


def test_record_without_data_stores_an_empty_digest(db):
    with transaction.atomic():
        entry = services.record(actor=None, action="test.no_details")

    assert entry.data_digest == ""


def test_record_takes_target_label_and_pk_from_a_model_instance(auditor):
    with transaction.atomic():
        entry = services.record(actor=auditor, action="test.touched", target=auditor)

    assert (entry.target_type, entry.target_id) == ("accounts.user", str(auditor.pk))


def test_record_distinguishes_user_system_and_peer_node_actors(auditor):
    with transaction.atomic():
        by_user = services.record(actor=auditor, action="test.by_user")
        by_system = services.record(actor=None, action="test.by_system")
        by_node = services.record(actor="node:fictional-peer", action="test.by_node")

    assert (by_user.actor_id, by_user.actor_kind) == (auditor.pk, "user")
    assert (by_system.actor_id, by_system.actor_kind) == (None, "system")
    assert by_node.actor_id is None
    assert by_node.actor_kind == "node:fictional-p"  # truncated to the column


@pytest.mark.django_db(transaction=True)
def test_record_outside_a_transaction_raises_and_writes_nothing():
    before = head_state()

    with pytest.raises(
        services.AuditOutsideTransaction, match="inside the transaction"
    ):
        services.record(actor=None, action="test.orphan")

    assert not AuditEntry.objects.exists()
    assert head_state() == before


@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_leaves_no_entry_and_the_head_unchanged(append):
    append(2)
    before = head_state()

    with pytest.raises(Boom), transaction.atomic():
        services.record(actor=None, action="test.rolled_back")
        raise Boom

    assert stored_seqs() == [1, 2]
    assert head_state() == before
    assert services.verify().ok


@pytest.mark.django_db(transaction=True)
def test_record_after_a_rollback_reuses_the_sequence_number(append):
    append(2)
    with pytest.raises(Boom), transaction.atomic():
        services.record(actor=None, action="test.rolled_back")
        raise Boom

    append(1)

    assert stored_seqs() == [1, 2, 3]
    assert services.verify() == services.VerifyResult(ok=True, checked=3)


def test_record_many_chains_each_entry_after_the_last_one_and_moves_the_head(append):
    append(2)
    with transaction.atomic():
        entries = services.record_many(
            actor="node:test-peer",
            action="test.batch",
            target_type="test.thing",
            items=[("a", {"n": 1}), ("b", {"n": 2}), ("c", {"n": 3})],
        )
    append(1)

    assert [e.seq for e in entries] == [3, 4, 5]
    assert [e.target_id for e in entries] == ["a", "b", "c"]
    assert entries[1].prev_hash == entries[0].hash
    assert entries[0].data_digest != entries[1].data_digest
    assert stored_seqs() == [1, 2, 3, 4, 5, 6]
    assert services.verify() == services.VerifyResult(ok=True, checked=6)


@pytest.mark.django_db(transaction=True)
def test_record_many_outside_a_transaction_raises_and_writes_nothing():
    with pytest.raises(services.AuditOutsideTransaction):
        services.record_many(
            actor=None, action="test.batch", target_type="t", items=[("a", {})]
        )
    assert stored_seqs() == []


# --- verify() -----------------------------------------------------------------


def test_verify_accepts_an_empty_log(db):
    assert services.verify() == services.VerifyResult(ok=True, checked=0)


def test_verify_accepts_an_intact_chain(append):
    append(5)

    assert services.verify() == services.VerifyResult(ok=True, checked=5)


def test_verify_reads_a_log_longer_than_one_batch(append):
    append(5)

    assert services.verify(batch_size=2) == services.VerifyResult(ok=True, checked=5)


@pytest.mark.parametrize("attack", tampering.ATTACKS.values(), ids=tampering.ATTACKS)
def test_verify_names_the_first_bad_entry(append, attack):
    append(5)

    attack.tamper()
    result = services.verify()

    assert not result.ok
    assert result.bad_seq == attack.bad_seq
    assert attack.reason in result.reason


def test_verify_stops_at_the_first_bad_entry(append):
    append(5)
    tampering.edit_action(2, "test.innocuous")
    tampering.delete_entries(4)

    result = services.verify()

    assert (result.bad_seq, result.checked) == (2, 2)


# --- concurrency (PostgreSQL) ---------------------------------------------------


def _in_thread(target, *args):
    """Run ``target`` in a thread with its own connection; re-raise its error."""
    errors = []

    def run():
        try:
            target(*args)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_form_one_gapless_valid_chain():
    start = threading.Barrier(2)

    def append_fifty(name):
        start.wait(timeout=10)
        for i in range(50):
            with transaction.atomic():
                services.record(actor=None, action=f"test.{name}_{i}")

    runs = [_in_thread(append_fifty, name) for name in ("left", "right")]
    for thread, _ in runs:
        thread.join(timeout=30)
    assert [errors for _, errors in runs] == [[], []]

    assert stored_seqs() == list(range(1, 101))
    assert services.verify() == services.VerifyResult(ok=True, checked=100)
    assert head_state()[0] == 100
    for name in ("left", "right"):
        assert (
            AuditEntry.objects.filter(action__startswith=f"test.{name}_").count() == 50
        )


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_verify_is_not_misled_by_an_append_committing_while_it_reads(append):
    """An append between verify's read of the head and of the entries is no forgery."""
    append(3)
    appended: list[list[BaseException]] = []

    def append_once_first(execute, sql, params, many, context):
        if "audit_auditentry" in sql and not appended:
            thread, errors = _in_thread(append, 1)
            thread.join(timeout=10)
            appended.append(errors)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(append_once_first):
        result = services.verify()

    assert appended == [[]]
    assert stored_seqs() == [1, 2, 3, 4]
    assert result.ok, result
    assert services.verify().checked == 4
