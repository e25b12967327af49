"""The one writer of the audit log: :func:`record`, plus :func:`verify`.

``record`` must run inside the caller's transaction (STYLE.md: audit in the same
transaction as the change), so an action and its audit entry commit or roll back
together. Appends are serialised by locking the :class:`AuditHead` row.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from trm.audit.models import GENESIS_HASH, AuditEntry, AuditHead, canonical_json

AUDIT_KEY_PURPOSE = "audit"


def _audit_key() -> bytes:
    from trm.dataprotection.crypto import node_key

    return node_key(AUDIT_KEY_PURPOSE)


def _audit_key_exists() -> bool:
    from trm.dataprotection.models import NodeKey
    from trm.dataprotection.router import KEYSTORE

    return NodeKey.objects.using(KEYSTORE).filter(purpose=AUDIT_KEY_PURPOSE).exists()


def _mac(key: bytes, domain: bytes, value: str) -> str:
    return hmac.new(key, domain + b"\x00" + value.encode(), hashlib.sha256).hexdigest()


def keyed_digest(data: Any) -> str:
    """Return the keyed digest (HMAC-SHA256, node audit key) of ``data``.

    Unlike a plain hash, it cannot be reversed by trying likely values (a role
    name, an organisation) without the node's key; the node itself can still
    check a claim about the details.
    """
    return _mac(_audit_key(), b"details", canonical_json(data).decode())


class AuditOutsideTransaction(RuntimeError):
    """``record`` was called outside a transaction; the entry could be orphaned."""


def _actor_fields(actor: Any) -> tuple[int | None, str]:
    if actor is None:
        return None, "system"
    if isinstance(actor, str):
        # e.g. "node:md-node" for actions applied on behalf of a peer node.
        return None, actor[:16]
    if getattr(actor, "is_authenticated", False) and actor.pk is not None:
        return int(actor.pk), "user"
    return None, "anonymous"


def record(
    *,
    actor: Any,
    action: str,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str = "",
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry to the audit log inside the current transaction.

    Args:
        actor: the acting user, ``None`` for the system, or a string such as
            ``"node:md"``.
        action: a stable dotted name, e.g. ``"accounts.membership_granted"``.
        target: the model instance acted on (its label and pk are recorded), or
            ``target_type``/``target_id`` given explicitly.
        data: details of the action. Only their keyed digest is stored
            (:func:`keyed_digest`), so a later claim about the details can be
            checked without the log ever holding them.

    Returns:
        The saved entry.

    Raises:
        AuditOutsideTransaction: when not inside ``transaction.atomic``.
    """
    if not connection.in_atomic_block:
        raise AuditOutsideTransaction(
            "audit.record() must be called inside the transaction of the change."
        )
    if target is not None:
        target_type = target._meta.label_lower
        target_id = str(target.pk)
    actor_id, actor_kind = _actor_fields(actor)
    head, _ = AuditHead.objects.select_for_update().get_or_create(pk=1)
    entry = AuditEntry(
        seq=head.seq + 1,
        at=timezone.now(),
        actor_id=actor_id,
        actor_kind=actor_kind,
        action=action,
        target_type=target_type,
        target_id=target_id,
        data_digest=keyed_digest(data) if data is not None else "",
        prev_hash=head.hash,
    )
    key = _audit_key()
    entry.hash = entry.compute_hash()
    entry.mac = _mac(key, b"entry", entry.hash)
    entry.save(force_insert=True)
    head.seq = entry.seq
    head.hash = entry.hash
    head.mac = _mac(key, b"head", f"{head.seq}:{head.hash}")
    head.save(update_fields=["seq", "hash", "mac"])
    return entry


def record_many(
    *,
    actor: Any,
    action: str,
    target_type: str,
    items: list[tuple[str, dict[str, Any]]],
) -> list[AuditEntry]:
    """Append one entry per ``(target_id, data)`` of ``items``, chained in that
    order, with one lock of the chain's head and one insert (a worker recording
    a batch of deliveries). Same rules as :func:`record`.

    Raises:
        AuditOutsideTransaction: when not inside ``transaction.atomic``.
    """
    if not connection.in_atomic_block:
        raise AuditOutsideTransaction(
            "audit.record_many() must be called inside the transaction of the change."
        )
    if not items:
        return []
    actor_id, actor_kind = _actor_fields(actor)
    head, _ = AuditHead.objects.select_for_update().get_or_create(pk=1)
    key = _audit_key()
    entries = []
    seq, prev = head.seq, head.hash
    for target_id, data in items:
        seq += 1
        entry = AuditEntry(
            seq=seq,
            at=timezone.now(),
            actor_id=actor_id,
            actor_kind=actor_kind,
            action=action,
            target_type=target_type,
            target_id=target_id,
            data_digest=keyed_digest(data),
            prev_hash=prev,
        )
        entry.hash = entry.compute_hash()
        entry.mac = _mac(key, b"entry", entry.hash)
        prev = entry.hash
        entries.append(entry)
    AuditEntry.objects.bulk_create(entries)
    head.seq, head.hash = seq, prev
    head.mac = _mac(key, b"head", f"{head.seq}:{head.hash}")
    head.save(update_fields=["seq", "hash", "mac"])
    return entries


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :func:`verify`.

    Attributes:
        ok: the whole chain checks out.
        checked: how many entries were read.
        bad_seq: the sequence number where the first problem shows, else ``None``.
        reason: a sentence saying what is wrong there, else ``""``.
    """

    ok: bool
    checked: int
    bad_seq: int | None = None
    reason: str = ""


def verify(*, batch_size: int = 2000) -> VerifyResult:
    """Recompute the hash chain and the MACs; report the first entry that does not fit.

    Detects an edited entry (its hash no longer matches its content), a deleted
    entry (a gap in the sequence), reordered or inserted entries (an entry whose
    ``prev_hash`` is not its predecessor's hash), an entry rewritten or forged by
    someone without the node's audit key (its MAC does not match, even if every
    hash was recomputed), a truncated tail (the chain ends before the head), an
    altered or rewound head (its MAC), and an emptied log (the audit key exists,
    so entries were written).
    """
    expected_seq = 1
    prev_hash = GENESIS_HASH
    checked = 0
    key: bytes | None = None
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            # One snapshot for the head and the entries: under READ COMMITTED an
            # append committing between the two reads would look like tampering.
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        head = AuditHead.objects.filter(pk=1).first()
        for entry in AuditEntry.objects.order_by("seq").iterator(chunk_size=batch_size):
            checked += 1
            if entry.seq != expected_seq:
                if entry.seq > expected_seq:
                    return VerifyResult(
                        False,
                        checked,
                        expected_seq,
                        f"entries {expected_seq}..{entry.seq - 1} are missing "
                        "(deleted)",
                    )
                return VerifyResult(
                    False, checked, entry.seq, "sequence numbers are out of order"
                )
            if entry.compute_hash() != entry.hash:
                return VerifyResult(
                    False,
                    checked,
                    entry.seq,
                    "entry content does not match its hash (edited)",
                )
            if entry.prev_hash != prev_hash:
                return VerifyResult(
                    False,
                    checked,
                    entry.seq,
                    "entry does not follow its predecessor (reordered, inserted or "
                    "predecessor replaced)",
                )
            if key is None:
                if not _audit_key_exists():
                    return VerifyResult(
                        False,
                        checked,
                        entry.seq,
                        "the node's audit key is missing from the keystore, so the "
                        "entries cannot be authenticated",
                    )
                key = _audit_key()
            if not hmac.compare_digest(entry.mac, _mac(key, b"entry", entry.hash)):
                return VerifyResult(
                    False,
                    checked,
                    entry.seq,
                    "entry was not written by this node: its MAC does not match "
                    "(rewritten or forged without the node's audit key)",
                )
            prev_hash = entry.hash
            expected_seq += 1
    last_seq = expected_seq - 1
    head_seq = head.seq if head else 0
    head_hash = head.hash if head else GENESIS_HASH
    head_mac = head.mac if head else ""
    if last_seq == 0 and head_seq == 0 and not head_mac:
        if _audit_key_exists():
            return VerifyResult(
                False,
                checked,
                1,
                "the log is empty but this node has written entries before (emptied)",
            )
        return VerifyResult(True, checked)
    if key is None:
        if not _audit_key_exists():
            return VerifyResult(
                False, checked, 1, "the node's audit key is missing from the keystore"
            )
        key = _audit_key()
    if not hmac.compare_digest(head_mac, _mac(key, b"head", f"{head_seq}:{head_hash}")):
        return VerifyResult(
            False,
            checked,
            max(1, min(head_seq, last_seq)),
            "the head was altered: its MAC does not match (head altered)",
        )
    if head_seq != last_seq or head_hash != prev_hash:
        if head_seq > last_seq:
            return VerifyResult(
                False,
                checked,
                last_seq + 1,
                f"the log ends at entry {last_seq} but {head_seq} were written "
                "(truncated)",
            )
        if head_seq == last_seq:
            return VerifyResult(
                False,
                checked,
                last_seq,
                "the last entry's hash differs from the one recorded in the head "
                "(entry or head altered)",
            )
        return VerifyResult(
            False,
            checked,
            head_seq + 1,
            "entries after the recorded head were added outside the log's writer "
            "(head altered or entries forged)",
        )
    return VerifyResult(True, checked)
