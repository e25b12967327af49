import base64
import os
import uuid

import pytest

from trm.common import keys
from trm.dataprotection import crypto
from trm.dataprotection.checks import check_kek_matches_keystore
from trm.dataprotection.models import DataKey, NodeKey
from trm.dataprotection.router import KEYSTORE

pytestmark = pytest.mark.django_db


def _use_kek(monkeypatch, kek: bytes) -> None:
    monkeypatch.setenv("TRM_KEK", base64.b64encode(kek).decode())
    crypto.forget_cached_keys()


@pytest.fixture
def old_kek(monkeypatch) -> bytes:
    kek = os.urandom(32)
    _use_kek(monkeypatch, kek)
    return kek


# --- sealing under a person's data key ---------------------------------------------


def test_sealed_value_opens_with_the_same_key_and_context():
    key_id = crypto.create_data_key()

    blob = crypto.seal_for(key_id, b"synthetic", context=b"row:1")

    assert crypto.unseal_for(key_id, blob, context=b"row:1") == b"synthetic"
    assert b"synthetic" not in blob


def test_sealing_twice_gives_different_ciphertexts():
    key_id = crypto.create_data_key()

    first = crypto.seal_for(key_id, b"synthetic", context=b"row:1")
    second = crypto.seal_for(key_id, b"synthetic", context=b"row:1")

    assert first != second


def test_ciphertext_moved_to_another_row_does_not_open():
    key_id = crypto.create_data_key()
    blob = crypto.seal_for(key_id, b"synthetic", context=b"trm:row:" + b"1" * 16)

    with pytest.raises(keys.DecryptionFailed):
        crypto.unseal_for(key_id, blob, context=b"trm:row:" + b"2" * 16)


def test_ciphertext_under_another_persons_key_does_not_open():
    mine, theirs = crypto.create_data_key(), crypto.create_data_key()
    blob = crypto.seal_for(mine, b"synthetic", context=b"row:1")

    with pytest.raises(keys.DecryptionFailed):
        crypto.unseal_for(theirs, blob, context=b"row:1")


def test_altered_ciphertext_does_not_open():
    key_id = crypto.create_data_key()
    blob = bytearray(crypto.seal_for(key_id, b"synthetic", context=b"row:1"))
    blob[-1] ^= 1

    with pytest.raises(keys.DecryptionFailed):
        crypto.unseal_for(key_id, bytes(blob), context=b"row:1")


def test_moving_a_persons_sealed_identity_to_another_person_fails(caseworker_a):
    from trm.cases.models import Person
    from trm.cases.tests.factories import open_case

    first = open_case(caseworker_a).person
    second = open_case(caseworker_a).person
    Person.objects.filter(pk=second.pk).update(
        sealed_identity=first.sealed_identity, data_key_id=first.data_key_id
    )
    second.refresh_from_db()

    assert second.sealed_identity is not None
    with pytest.raises(keys.DecryptionFailed):
        crypto.unseal_for(
            second.data_key_id,
            second.sealed_identity,
            context=second.identity_context(),
        )


# --- destroying a data key (crypto-shredding) ----------------------------------------


def test_destroyed_data_key_makes_unseal_raise_key_destroyed():
    key_id = crypto.create_data_key()
    blob = crypto.seal_for(key_id, b"synthetic", context=b"row:1")

    assert crypto.destroy_data_key(key_id) is True

    with pytest.raises(crypto.KeyDestroyed):
        crypto.unseal_for(key_id, blob, context=b"row:1")
    row = DataKey.objects.using(KEYSTORE).get(pk=key_id)
    assert row.wrapped is None
    assert row.destroyed_at is not None


def test_destroying_twice_reports_it_was_already_gone():
    key_id = crypto.create_data_key()
    crypto.destroy_data_key(key_id)

    assert crypto.destroy_data_key(key_id) is False


def test_unknown_data_key_counts_as_destroyed():
    with pytest.raises(crypto.KeyDestroyed):
        crypto.data_key(uuid.uuid4())


def test_data_keys_live_only_in_the_keystore_database():
    key_id = crypto.create_data_key()

    assert DataKey.objects.using(KEYSTORE).filter(pk=key_id).exists()
    assert DataKey._meta.db_table not in _default_tables()


def _default_tables() -> list[str]:
    from django.db import connections

    return connections["default"].introspection.table_names()


# --- node keys ---------------------------------------------------------------------


def test_node_key_is_created_once_and_then_read_back():
    first = crypto.node_key("synthetic-purpose")
    crypto.forget_cached_keys()

    second = crypto.node_key("synthetic-purpose")

    assert first == second
    assert len(first) == 32
    rows = NodeKey.objects.using(KEYSTORE).filter(purpose="synthetic-purpose")
    assert rows.count() == 1


def test_node_key_created_by_another_process_is_used(old_kek):
    theirs = os.urandom(32)
    NodeKey.objects.using(KEYSTORE).create(
        purpose="blind-index",
        wrapped=keys.wrap_key(theirs, kek=old_kek, context=b"trm:node-key:blind-index"),
        kek_fingerprint=keys.kek_fingerprint(old_kek),
    )

    assert crypto.node_key("blind-index") == theirs


def test_node_keys_differ_per_purpose():
    assert crypto.node_key("a-purpose") != crypto.node_key("b-purpose")


def test_node_key_is_stored_wrapped_not_in_clear():
    key = crypto.node_key("synthetic-purpose")

    row = NodeKey.objects.using(KEYSTORE).get(purpose="synthetic-purpose")
    assert key not in bytes(row.wrapped)


def test_blind_index_is_stable_and_keyed():
    first = crypto.blind_index("name", "ioana popesku")

    assert crypto.blind_index("name", "ioana popesku") == first
    assert crypto.blind_index("name_year", "ioana popesku") != first
    assert "popesku" not in first
    assert len(first) == 64


# --- rotating the key-encryption key ------------------------------------------------


def test_rotate_kek_rewraps_every_key_and_data_still_opens(monkeypatch, old_kek):
    key_id = crypto.create_data_key()
    blob = crypto.seal_for(key_id, b"synthetic", context=b"row:1")
    destroyed = crypto.create_data_key()
    crypto.destroy_data_key(destroyed)
    index_before = crypto.blind_index("name", "ioana popesku")
    new_kek = os.urandom(32)
    live = NodeKey.objects.using(KEYSTORE).count() + (
        DataKey.objects.using(KEYSTORE).filter(wrapped__isnull=False).count()
    )

    count = crypto.rotate_kek(old_kek=old_kek, new_kek=new_kek)

    assert count == live >= 2  # at least the blind-index key and one data key
    _use_kek(monkeypatch, new_kek)
    assert crypto.unseal_for(key_id, blob, context=b"row:1") == b"synthetic"
    assert crypto.blind_index("name", "ioana popesku") == index_before
    new_fingerprint = keys.kek_fingerprint(new_kek)
    assert crypto.stored_kek_fingerprint() == new_fingerprint
    assert set(
        DataKey.objects.using(KEYSTORE).values_list("kek_fingerprint", flat=True)
    ) == {new_fingerprint}


def test_after_rotation_the_old_kek_opens_nothing(monkeypatch, old_kek):
    key_id = crypto.create_data_key()
    blob = crypto.seal_for(key_id, b"synthetic", context=b"row:1")
    crypto.node_key("totp")

    crypto.rotate_kek(old_kek=old_kek, new_kek=os.urandom(32))

    _use_kek(monkeypatch, old_kek)
    with pytest.raises(keys.DecryptionFailed):
        crypto.unseal_for(key_id, blob, context=b"row:1")
    with pytest.raises(keys.DecryptionFailed):
        crypto.node_key("totp")
    assert check_kek_matches_keystore()[0].id == "trm.E002"


def test_rotation_with_the_wrong_old_kek_changes_nothing(old_kek):
    key_id = crypto.create_data_key()
    crypto.node_key("totp")
    before = {
        row.pk: bytes(row.wrapped or b"")
        for row in DataKey.objects.using(KEYSTORE).filter(pk=key_id)
    }

    with pytest.raises(keys.DecryptionFailed):
        crypto.rotate_kek(old_kek=os.urandom(32), new_kek=os.urandom(32))

    after = {
        row.pk: bytes(row.wrapped or b"")
        for row in DataKey.objects.using(KEYSTORE).filter(pk=key_id)
    }
    assert after == before
    assert crypto.stored_kek_fingerprint() == keys.kek_fingerprint(old_kek)


# --- the start-up check ------------------------------------------------------------


def test_check_passes_on_an_empty_keystore():
    assert check_kek_matches_keystore() == []


def test_check_passes_with_the_kek_that_wrapped_the_keys():
    crypto.node_key("totp")

    assert check_kek_matches_keystore() == []


def test_check_fails_with_another_kek_naming_both_fingerprints(monkeypatch, old_kek):
    crypto.create_data_key()
    other = os.urandom(32)

    _use_kek(monkeypatch, other)
    errors = check_kek_matches_keystore()

    assert [e.id for e in errors] == ["trm.E002"]
    assert keys.kek_fingerprint(old_kek) in errors[0].msg
    assert keys.kek_fingerprint(other) in errors[0].msg
    assert base64.b64encode(other).decode() not in errors[0].msg


def test_open_for_gives_none_for_nothing_and_after_erasure():
    key_id = crypto.create_data_key()
    blob = crypto.seal_for(key_id, b"Fictional text", context=b"ctx")
    assert crypto.open_for(key_id, blob, context=b"ctx") == b"Fictional text"
    assert crypto.open_for(key_id, None, context=b"ctx") is None
    assert crypto.open_for(key_id, b"", context=b"ctx") is None
    crypto.destroy_data_key(key_id)
    assert crypto.open_for(key_id, blob, context=b"ctx") is None
    with pytest.raises(keys.DecryptionFailed):
        other = crypto.create_data_key()
        crypto.open_for(other, blob, context=b"ctx")
