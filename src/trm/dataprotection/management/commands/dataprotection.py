"""``trm dataprotection enforce-retention [--dry-run]``: apply the retention periods."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from trm.dataprotection import services


class Command(BaseCommand):
    help = (
        "Data-protection tasks: `enforce-retention` erases identities and deletes "
        "notes past their retention period (run it daily, e.g. from cron)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        enforce = sub.add_parser(
            "enforce-retention",
            help="Erase and anonymise what is past retention; print counts only.",
        )
        enforce.add_argument(
            "--dry-run",
            action="store_true",
            help="Count what would be erased or deleted; change nothing.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = services.enforce_retention(dry_run=options["dry_run"])
        mode = "dry run, nothing changed" if report.dry_run else "applied"
        verb = "would be" if report.dry_run else "were"
        lines = [
            f"retention ({mode}) at {report.now:%Y-%m-%d %H:%M} UTC",
            (
                f"  identity: {report.persons_erased} person(s) {verb} erased "
                f"(all cases closed {report.identity_years} years or more ago, "
                f"on or before {report.identity_cutoff:%Y-%m-%d})"
            ),
            (
                f"  notes: {report.notes_deleted} note(s) {verb} deleted and "
                f"{report.event_details_cleared} timeline detail(s) {verb} cleared "
                f"in {report.cases_with_expired_notes} case(s) closed "
                f"{report.notes_years} years or more ago "
                f"(on or before {report.notes_cutoff:%Y-%m-%d})"
            ),
            (
                f"  audit log: kept (policy {report.audit_years} years; entries "
                "hold no personal data and are never deleted)"
            ),
        ]
        self.stdout.write("\n".join(lines))
