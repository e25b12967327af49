"""``trm export``: export this node's cases in a data standard.

``htcds --format csv|json [--personal --purpose TEXT --as USERNAME] PATH``
writes the node's cases with HTCDS v2.0 field names and codes
(:func:`trm.statistics.htcds_io.export_htcds`, docs/htcds.md). Without
``--personal`` only statistical, non-identifying columns are written. With
``--personal`` the export is made as the user ``--as`` (who must hold the
national contact point role) for the stated ``--purpose``; it holds the cases
that user may see, each identity read through the audited selector. Every
export, and every refusal, is audited. stdout ends with one line
``exported N records (statistical|personal) to PATH``.

Exit status: 0 done; 1 refused or bad arguments (nothing written).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trm.accounts.models import User
from trm.common.errors import DomainError
from trm.statistics import htcds_io


class Command(BaseCommand):
    help = (
        "Export the node's cases: htcds --format csv|json "
        "[--personal --purpose TEXT --as USERNAME] PATH."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="standard", required=True)
        one = sub.add_parser("htcds", help="IOM Human Trafficking Case Data Standard.")
        one.add_argument("path", help="The file to write (refused if it exists).")
        one.add_argument("--format", choices=htcds_io.FORMATS, default="csv")
        one.add_argument(
            "--personal",
            action="store_true",
            help="Add personal fields (names, birth date, documents, contact).",
        )
        one.add_argument(
            "--purpose", default="", help="Why (required with --personal)."
        )
        one.add_argument(
            "--as",
            dest="username",
            default="",
            help="The user making the export (required with --personal).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        if path.exists():
            raise CommandError(f"{path} exists; nothing written.")
        actor = None
        if options["username"]:
            actor = User.objects.filter(username=options["username"]).first()
            if actor is None:
                raise CommandError("No such user.")
        if options["personal"] and actor is None:
            raise CommandError("--personal needs --as USERNAME.")
        try:
            export = htcds_io.export_htcds(
                actor=actor,
                fmt=options["format"],
                include_personal=options["personal"],
                purpose=options["purpose"],
            )
        except DomainError as exc:
            raise CommandError(f"{exc.message}; nothing written.") from None
        with path.open("x", encoding="utf-8", newline="") as handle:
            handle.write(export.content)
        kind = "personal" if export.personal else "statistical"
        self.stdout.write(f"exported {export.count} records ({kind}) to {path}")
