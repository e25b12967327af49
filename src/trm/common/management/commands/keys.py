"""``trm keys``: manage the node's key-encryption key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trm.common import keys


class Command(BaseCommand):
    help = "Manage the node's keys: `init` creates the key-encryption key."
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

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "show":
            keys.load_kek()
            self.stdout.write(f"key-encryption key: {keys.kek_file()} (readable)")
            return
        try:
            keys.load_kek()
        except Exception:  # noqa: S110 - absent or unreadable: create below
            pass
        else:
            if options["if_missing"]:
                return
            raise CommandError(
                f"A key-encryption key is already configured ({keys.kek_file()}). "
                "It is never replaced: data sealed with it would become unreadable."
            )
        path = keys.kek_file()
        if path.exists():
            raise CommandError(
                f"{path} exists but cannot be used; fix or restore it from backup. "
                "It is not overwritten."
            )
        keys.create_kek_file(path)
        self.stdout.write(
            f"Created the key-encryption key at {path} (mode 0600). "
            "Back it up now, apart from database backups."
        )
