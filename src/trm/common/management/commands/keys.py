"""``trm keys``: the node's key-encryption key and its exchange keys.

``init`` creates the key-encryption key (KEK) and, once the database is
migrated, the node's exchange key pairs (Ed25519 signing, X25519 encryption;
:mod:`trm.exchange.nodekeys`). ``trm keys init --if-missing`` runs before
``trm migrate`` on a new node, when the exchange keys cannot be stored yet, so
``trm migrate`` creates them too (:func:`ensure_exchange_keys`), and running
``trm keys init --if-missing`` after it does the same. ``show`` says where the
KEK comes from and gives the fingerprint peers check out of band; ``rotate``
replaces the exchange keys; ``rotate-kek`` replaces the KEK.
"""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import (
    BaseCommand,
    CommandError,
    CommandParser,
    OutputWrapper,
)

from trm.common import keys

#: Whether the exchange keys can be made: the database is not migrated yet,
#: the keys are missing, or they exist.
NOT_MIGRATED, MISSING, PRESENT = "not_migrated", "missing", "present"


def _keystore_fingerprint() -> str | None:
    """Return the fingerprint the keystore's keys are wrapped with, if it has any."""
    from django.db import DatabaseError

    from trm.dataprotection.crypto import stored_kek_fingerprint

    try:
        return stored_kek_fingerprint()
    except DatabaseError:
        return None  # keystore not created or not migrated yet: a new node


def _database_migrated() -> bool:
    """Whether every database (main and keystore) exists and is fully migrated."""
    from django.db import DatabaseError, connections
    from django.db.migrations.executor import MigrationExecutor

    for alias in settings.DATABASES:
        connection = connections[alias]
        name = str(connection.settings_dict.get("NAME") or "")
        if (
            connection.vendor == "sqlite"
            and name
            and name != ":memory:"
            and not name.startswith("file:")
            and "mode=memory" not in name
            and not Path(name).exists()
        ):
            return False  # connecting would create an empty file
        try:
            executor = MigrationExecutor(connection)
            if executor.migration_plan(executor.loader.graph.leaf_nodes()):
                return False
        except DatabaseError:
            return False
    return True


def exchange_key_state() -> str:
    """Return :data:`NOT_MIGRATED`, :data:`MISSING` or :data:`PRESENT`."""
    if not _database_migrated():
        return NOT_MIGRATED
    from trm.exchange import nodekeys

    return PRESENT if nodekeys.has_keys() else MISSING


def create_exchange_keys() -> tuple[str, str]:
    """Create the exchange key pairs (audited); return (signing, encryption) kids."""
    from django.db import transaction

    from trm.audit import services as audit
    from trm.exchange import nodekeys
    from trm.exchange.models import KeyUse

    with transaction.atomic():
        nodekeys.init_keys()
        sig = nodekeys.current(KeyUse.SIGNING).kid
        enc = nodekeys.current(KeyUse.ENCRYPTION).kid
        audit.record(
            actor=None,
            action="exchange.keys_created",
            target_type="exchange.node",
            target_id=settings.TRM_NODE_ID,
            data={"signing": sig, "encryption": enc},
        )
    return sig, enc


def ensure_exchange_keys(stdout: OutputWrapper) -> bool:
    """Create the exchange keys if the node has a KEK, a migrated database and
    no keys yet (``trm migrate`` calls this last); return whether it did."""
    try:
        keys.load_kek()
    except ImproperlyConfigured:
        return False  # `trm keys init` creates both
    if exchange_key_state() != MISSING:
        return False
    sig, enc = create_exchange_keys()
    stdout.write(_created_message(sig, enc))
    return True


def _created_message(sig: str, enc: str) -> str:
    return (
        f"Created the exchange keys of node {settings.TRM_NODE_ID} "
        f"(signing key {sig}, encryption key {enc}).\n"
        f"Fingerprint to give to peers: {sig}"
    )


class Command(BaseCommand):
    help = (
        "Manage the node's keys: `init` creates the key-encryption key and the "
        "exchange keys, `show` says where the key-encryption key comes from and "
        "gives the fingerprint for peers, `rotate` replaces the exchange keys, "
        "`rotate-kek` replaces the key-encryption key and re-wraps every key."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        init = sub.add_parser(
            "init",
            help="Create the key-encryption key file, and the exchange keys once "
            "the database is migrated.",
        )
        init.add_argument(
            "--if-missing",
            action="store_true",
            help="Create only what is missing; exit 0 when a key is already "
            "configured.",
        )
        sub.add_parser(
            "show",
            help="Say where the key comes from (never the key), the node id and "
            "the fingerprint to give to peers.",
        )
        sub.add_parser(
            "rotate",
            help="Replace the exchange keys (peers refresh them by themselves).",
        )
        rotate = sub.add_parser(
            "rotate-kek",
            help="Create a new key-encryption key and re-wrap every data key with it.",
        )
        rotate.add_argument(
            "--new-key-file",
            type=Path,
            help="Where to write the new key (required when the key is in TRM_KEK).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "show":
            self._show()
        elif action == "init":
            self._init(if_missing=options["if_missing"])
        elif action == "rotate":
            self._rotate_exchange_keys()
        else:
            self._rotate(new_key_file=options["new_key_file"])

    def _source(self) -> str:
        if os.environ.get("TRM_KEK", "").strip():
            return "the TRM_KEK environment variable"
        return str(keys.kek_file())

    def _show(self) -> None:
        try:
            kek = keys.load_kek()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"key-encryption key from {self._source()}, "
            f"fingerprint {keys.kek_fingerprint(kek)}"
        )
        self.stdout.write(
            f"node id: {settings.TRM_NODE_ID} (country {settings.TRM_COUNTRY})"
        )
        state = exchange_key_state()
        if state == NOT_MIGRATED:
            self.stdout.write(
                "exchange keys: the database is not migrated yet (or not "
                "reachable); `trm migrate` creates them"
            )
            return
        if state == MISSING:
            self.stdout.write(
                "exchange keys: none yet; create them with `trm keys init --if-missing`"
            )
            return
        from trm.exchange import nodekeys
        from trm.exchange.models import KeyUse

        self.stdout.write(
            f"exchange signing key: {nodekeys.current(KeyUse.SIGNING).kid}\n"
            f"exchange encryption key: {nodekeys.current(KeyUse.ENCRYPTION).kid}\n"
            f"fingerprint to give to peers: {nodekeys.fingerprint()}"
        )

    def _init_exchange_keys(self, *, quiet: bool) -> bool:
        """Create the exchange keys if they can be and are missing."""
        state = exchange_key_state()
        if state == NOT_MIGRATED and not quiet:
            self.stdout.write(
                "The database is not migrated yet (or not reachable), so the "
                "exchange keys are not created now: `trm migrate` creates them "
                "(as does `trm keys init --if-missing` after it)."
            )
        if state != MISSING:
            return False
        sig, enc = create_exchange_keys()
        self.stdout.write(_created_message(sig, enc))
        return True

    def _init(self, *, if_missing: bool) -> None:
        try:
            keys.load_kek()
        except ImproperlyConfigured:
            pass  # absent or unusable: handled below
        else:
            if if_missing:
                self._init_exchange_keys(quiet=True)
                return
            missing = (
                " The exchange keys are missing: `trm keys init --if-missing` "
                "creates them."
                if exchange_key_state() == MISSING
                else ""
            )
            raise CommandError(
                f"A key-encryption key is already configured ({self._source()}). "
                "It is never replaced by `init`: data sealed with it would become "
                "unreadable. Use `trm keys rotate-kek` to change it, and "
                f"`trm keys rotate` to replace the exchange keys.{missing}"
            )
        path = keys.kek_file()
        if path.exists():
            raise CommandError(
                f"{path} exists but cannot be used; fix or restore it from backup. "
                "It is not overwritten."
            )
        stored = _keystore_fingerprint()
        if stored:
            raise CommandError(
                f"The keystore holds keys wrapped by key-encryption key {stored}, "
                f"which is missing from {path}. Restore it from your key backup. "
                "A new key could not read any existing data, so none is created."
            )
        keys.create_kek_file(path)
        self.stdout.write(
            f"Created the key-encryption key at {path} (mode 0600). "
            "Back it up now, apart from database backups."
        )
        self._init_exchange_keys(quiet=False)

    def _rotate_exchange_keys(self) -> None:
        from django.db import transaction

        from trm.audit import services as audit
        from trm.exchange import nodekeys

        try:
            keys.load_kek()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        state = exchange_key_state()
        if state == NOT_MIGRATED:
            raise CommandError(
                "The database is not migrated yet (or not reachable): run "
                "`trm migrate` first."
            )
        if state == MISSING:
            raise CommandError(
                "This node has no exchange keys to rotate: run `trm keys init "
                "--if-missing` to create them."
            )
        previous = nodekeys.fingerprint()
        with transaction.atomic():
            sig, enc = nodekeys.rotate_keys()
            audit.record(
                actor=None,
                action="exchange.keys_rotated",
                target_type="exchange.node",
                target_id=settings.TRM_NODE_ID,
                data={"signing": sig, "encryption": enc, "previous": previous},
            )
        nodekeys.forget_cached_keys()
        node = settings.TRM_NODE_ID
        self.stdout.write(
            f"Rotated the exchange keys of node {node}: signing key {sig}, "
            f"encryption key {enc}. The old keys are retired, not deleted.\n"
            f"New fingerprint to give to peers: {sig} (was {previous}).\n"
            "Peers take the new keys by themselves: one that does not know them "
            "yet answers this node's messages 'retry later' and refreshes this "
            "node's keys (the published document is signed by the old key too, "
            "so no new check is needed); nothing is lost. A peer's administrator "
            f"may also run `trm peers refresh {node}` at once. Do not rotate again "
            "before every peer has refreshed: a peer that misses a rotation must "
            "check the new fingerprint with you and run "
            f"`trm peers refresh {node} --fingerprint={sig}`."
        )

    def _rotate(self, *, new_key_file: Path | None) -> None:
        from trm.dataprotection.crypto import rotate_kek

        try:
            old = keys.load_kek()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        from_env = bool(os.environ.get("TRM_KEK", "").strip())
        if from_env and new_key_file is None:
            raise CommandError(
                "The key comes from TRM_KEK: give --new-key-file PATH for the new key, "
                "then put its content into TRM_KEK."
            )
        current = keys.kek_file()
        staging = new_key_file or current.with_name(current.name + ".new")
        try:
            keys.create_kek_file(staging)
        except FileExistsError:
            raise CommandError(
                f"{staging} exists (an interrupted rotation?). Check it, move it "
                "away, and run again."
            ) from None
        new = base64.b64decode(staging.read_text(encoding="utf-8").strip())
        try:
            count = rotate_kek(old_kek=old, new_kek=new)
        except keys.DecryptionFailed:
            staging.unlink()
            raise CommandError(
                "The configured key-encryption key does not open the keystore's "
                "keys, so nothing was changed. Start from the key the keystore "
                "was wrapped with (`trm check` names the mismatch)."
            ) from None
        except Exception:
            staging.unlink()
            raise
        if new_key_file is None:
            stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%SZ")
            retired = current.with_name(f"{current.name}.retired-{stamp}")
            current.rename(retired)
            staging.rename(current)
            self.stdout.write(
                f"Re-wrapped {count} keys with the new key-encryption key "
                f"(fingerprint {keys.kek_fingerprint(new)}), now in {current}. "
                f"The old key is in {retired}: back up the new key, then destroy the "
                "old one once no keystore backup needs it."
            )
        else:
            self.stdout.write(
                f"Re-wrapped {count} keys. The new key is in {staging}; set TRM_KEK "
                "to its content and restart every process of this node now."
            )
