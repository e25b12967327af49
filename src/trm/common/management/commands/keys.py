"""``trm keys``: create, locate and rotate the node's key-encryption key."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from trm.common import keys


def _keystore_fingerprint() -> str | None:
    """Return the fingerprint the keystore's keys are wrapped with, if it has any."""
    from django.db import DatabaseError

    from trm.dataprotection.crypto import stored_kek_fingerprint

    try:
        return stored_kek_fingerprint()
    except DatabaseError:
        return None  # keystore not created or not migrated yet: a new node


class Command(BaseCommand):
    help = (
        "Manage the node's key-encryption key: `init` creates it, `show` says where "
        "it comes from, `rotate-kek` replaces it and re-wraps every key."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        init = sub.add_parser("init", help="Create the key-encryption key file.")
        init.add_argument(
            "--if-missing",
            action="store_true",
            help="Do nothing (exit 0) when a key is already configured.",
        )
        sub.add_parser("show", help="Say where the key comes from (never the key).")
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

    def _init(self, *, if_missing: bool) -> None:
        try:
            keys.load_kek()
        except ImproperlyConfigured:
            pass  # absent or unusable: handled below
        else:
            if if_missing:
                return
            raise CommandError(
                f"A key-encryption key is already configured ({self._source()}). "
                "It is never replaced by `init`: data sealed with it would become "
                "unreadable. Use `trm keys rotate-kek` to change it."
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
