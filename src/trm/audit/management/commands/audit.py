"""``trm audit verify``: recompute the audit hash chain."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trm.audit import services


class Command(BaseCommand):
    help = "Audit log tools: `verify` recomputes the hash chain."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser(
            "verify",
            help="Recompute the chain; exit 1 and name the first bad entry if any.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        result = services.verify()
        if not result.ok:
            raise CommandError(
                f"audit log BROKEN at entry {result.bad_seq}: {result.reason} "
                f"({result.checked} entries read)"
            )
        self.stdout.write(f"audit log OK: {result.checked} entries, chain intact")
