"""Keys of the node and of each person; sealing, unsealing and blind indexes.

* Node keys (:func:`node_key`): one random key per purpose, created on first use,
  wrapped by the KEK, cached per process (they never change except by KEK
  rotation, which re-wraps the same key).
* Data keys (:func:`create_data_key`, :func:`data_key`): one per person, never
  cached, so that after :func:`destroy_data_key` no process can read the
  person's fields again.
* Blind indexes (:func:`blind_index`): HMAC-SHA256 with the ``blind-index`` node
  key over a normalised value (:mod:`trm.dataprotection.normalise`).

Everything here talks to the keystore database only.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import uuid
from collections.abc import Iterable
from uuid import UUID

from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from trm.common import keys
from trm.dataprotection.models import DataKey, NodeKey
from trm.dataprotection.router import KEYSTORE

_lock = threading.Lock()
_node_keys: dict[tuple[str, str], bytes] = {}


class KeyDestroyed(Exception):
    """The person's data key was destroyed (erased) or never existed."""


def _node_context(purpose: str) -> bytes:
    return f"trm:node-key:{purpose}".encode()


def _data_context(key_id: UUID) -> bytes:
    return b"trm:data-key:" + key_id.bytes


def node_key(purpose: str) -> bytes:
    """Return the node's 32-byte key for ``purpose``, creating it on first use."""
    kek = keys.load_kek()
    fingerprint = keys.kek_fingerprint(kek)
    with _lock:
        cached = _node_keys.get((purpose, fingerprint))
        if cached is not None:
            return cached
    row = NodeKey.objects.using(KEYSTORE).filter(purpose=purpose).first()
    if row is None:
        fresh = os.urandom(32)
        try:
            with transaction.atomic(using=KEYSTORE):
                NodeKey.objects.using(KEYSTORE).create(
                    purpose=purpose,
                    wrapped=keys.wrap_key(
                        fresh, kek=kek, context=_node_context(purpose)
                    ),
                    kek_fingerprint=fingerprint,
                )
        except IntegrityError:
            pass  # another process created it first; read theirs below
        row = NodeKey.objects.using(KEYSTORE).get(purpose=purpose)
    key = keys.unwrap_key(row.wrapped, kek=kek, context=_node_context(purpose))
    with _lock:
        _node_keys[(purpose, fingerprint)] = key
    return key


def forget_cached_keys() -> None:
    """Drop cached node keys (after KEK rotation and between tests)."""
    with _lock:
        _node_keys.clear()


def seal_node(purpose: str, plaintext: bytes, *, context: bytes) -> bytes:
    """Encrypt ``plaintext`` under the node key for ``purpose``."""
    return keys.aead_seal(node_key(purpose), plaintext, context=context)


def unseal_node(purpose: str, blob: bytes | memoryview, *, context: bytes) -> bytes:
    """Decrypt what :func:`seal_node` produced.

    Raises:
        trm.common.keys.DecryptionFailed: altered, or sealed for another context.
    """
    return keys.aead_open(node_key(purpose), blob, context=context)


def create_data_key() -> UUID:
    """Create a new random data key in the keystore and return its id.

    Committed in the keystore at once: if the caller's transaction on the main
    database rolls back, an unused key remains (harmless; it protects nothing).
    """
    kek = keys.load_kek()
    key_id = uuid.uuid4()
    DataKey.objects.using(KEYSTORE).create(
        id=key_id,
        wrapped=keys.wrap_key(os.urandom(32), kek=kek, context=_data_context(key_id)),
        kek_fingerprint=keys.kek_fingerprint(kek),
    )
    return key_id


def data_key(key_id: UUID) -> bytes:
    """Return the data key ``key_id``.

    Raises:
        KeyDestroyed: the key was destroyed (the person was erased) or is unknown.
    """
    row = DataKey.objects.using(KEYSTORE).filter(pk=key_id).first()
    if row is None or row.wrapped is None:
        raise KeyDestroyed("this person's data key was destroyed")
    return keys.unwrap_key(
        row.wrapped, kek=keys.load_kek(), context=_data_context(key_id)
    )


def data_keys(key_ids: Iterable[UUID]) -> dict[UUID, bytes]:
    """Return the live data keys among ``key_ids`` in one keystore query.

    Destroyed or unknown keys are absent from the result (never cached).
    """
    wanted = set(key_ids)
    if not wanted:
        return {}
    kek = keys.load_kek()
    rows = DataKey.objects.using(KEYSTORE).filter(pk__in=wanted, wrapped__isnull=False)
    return {
        row.pk: keys.unwrap_key(row.wrapped, kek=kek, context=_data_context(row.pk))
        for row in rows
        if row.wrapped is not None
    }


def destroy_data_key(key_id: UUID) -> bool:
    """Destroy the data key for good; return False if it was already gone.

    Setting the wrapped key to NULL is not enough on its own: PostgreSQL keeps
    the old row version until the table is vacuumed, and SQLite keeps freed
    bytes in the file. So, when not inside a transaction on the keystore, the
    keystore table is rewritten (``VACUUM FULL`` on PostgreSQL; SQLite runs with
    ``secure_delete`` and its journal is checkpointed). Old copies can still
    exist in keystore backups and write-ahead-log archives: keep those for a
    shorter time than the erasure promise (docs/configuration.md).
    """
    updated = (
        DataKey.objects.using(KEYSTORE)
        .filter(pk=key_id, wrapped__isnull=False)
        .update(wrapped=None, destroyed_at=timezone.now())
    )
    purge_destroyed_key_remnants()
    return updated == 1


def purge_destroyed_key_remnants() -> bool:
    """Remove old row versions of destroyed keys from the keystore's files.

    Returns False (and does nothing) inside a transaction on the keystore, where
    neither VACUUM nor a checkpoint may run; the caller may call it again later.
    """
    connection = connections[KEYSTORE]
    if connection.in_atomic_block:
        return False
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"VACUUM FULL {DataKey._meta.db_table}")
        elif connection.vendor == "sqlite":
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return True


def seal_for(key_id: UUID, plaintext: bytes, *, context: bytes) -> bytes:
    """Encrypt ``plaintext`` under a person's data key."""
    return keys.aead_seal(data_key(key_id), plaintext, context=context)


def unseal_for(key_id: UUID, blob: bytes | memoryview, *, context: bytes) -> bytes:
    """Decrypt under a person's data key.

    Raises:
        KeyDestroyed: the person was erased.
        trm.common.keys.DecryptionFailed: the ciphertext was altered or moved.
    """
    return keys.aead_open(data_key(key_id), blob, context=context)


def open_for(
    key_id: UUID, blob: bytes | memoryview | None, *, context: bytes
) -> bytes | None:
    """Decrypt a sealed value of a person; None when there is none (empty blob)
    or it can no longer be read (the person was erased: :class:`KeyDestroyed`).

    For readers that show "can no longer be read" instead of failing.

    Raises:
        trm.common.keys.DecryptionFailed: the ciphertext was altered or moved.
    """
    if not blob:
        return None
    try:
        return unseal_for(key_id, blob, context=context)
    except KeyDestroyed:
        return None


def blind_index(kind: str, normalised: str) -> str:
    """Return the keyed HMAC-SHA256 (hex) of a normalised value of ``kind``."""
    message = f"{kind}\x00{normalised}".encode()
    return hmac.new(node_key("blind-index"), message, hashlib.sha256).hexdigest()


def rotate_kek(*, old_kek: bytes, new_kek: bytes) -> int:
    """Re-wrap every node and data key from ``old_kek`` to ``new_kek``.

    One keystore transaction: either every key is re-wrapped or none is.
    Returns the number of keys re-wrapped.

    Raises:
        trm.common.keys.DecryptionFailed: a key is not wrapped by ``old_kek``.
    """
    new_fingerprint = keys.kek_fingerprint(new_kek)
    count = 0
    with transaction.atomic(using=KEYSTORE):
        for node in NodeKey.objects.using(KEYSTORE).select_for_update():
            context = _node_context(node.purpose)
            raw = keys.unwrap_key(node.wrapped, kek=old_kek, context=context)
            node.wrapped = keys.wrap_key(raw, kek=new_kek, context=context)
            node.kek_fingerprint = new_fingerprint
            node.save(update_fields=["wrapped", "kek_fingerprint"])
            count += 1
        live = DataKey.objects.using(KEYSTORE).filter(wrapped__isnull=False)
        for data in live.select_for_update().iterator(chunk_size=1000):
            context = _data_context(data.pk)
            assert data.wrapped is not None  # noqa: S101 - filtered above
            raw = keys.unwrap_key(data.wrapped, kek=old_kek, context=context)
            data.wrapped = keys.wrap_key(raw, kek=new_kek, context=context)
            data.kek_fingerprint = new_fingerprint
            data.save(update_fields=["wrapped", "kek_fingerprint"])
            count += 1
        DataKey.objects.using(KEYSTORE).filter(wrapped__isnull=True).update(
            kek_fingerprint=new_fingerprint
        )
    forget_cached_keys()
    return count


def stored_kek_fingerprint() -> str | None:
    """Return the KEK fingerprint the keystore's keys are wrapped with, if any."""
    row = NodeKey.objects.using(KEYSTORE).only("kek_fingerprint").first()
    if row is None:
        data = DataKey.objects.using(KEYSTORE).only("kek_fingerprint").first()
        return data.kek_fingerprint if data else None
    return row.kek_fingerprint
