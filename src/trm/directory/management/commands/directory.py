"""``trm directory …``: import and export the service directory.

``trm directory import PATH [--partial] [--dry-run] [--coordinate-order lat-lon|lon-lat]
[--country CC] [--source NAME]``
    Read a CSV or GeoJSON file (see :mod:`trm.directory.importer`); print
    ``created N, updated N, skipped N``, the warnings, and the errors with their
    row and column. Exits with status 1 on errors unless ``--partial``.
``trm directory export PATH.csv``
    Write every profile as CSV that ``import`` reads back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trm.directory.importer import COORDINATE_ORDERS, export_csv, import_directory


class Command(BaseCommand):
    help = "Service directory: `import PATH [options]`, `export PATH.csv`."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        imp = sub.add_parser("import", help="Import a .csv, .json or .geojson file.")
        imp.add_argument("path", help="the file to read")
        imp.add_argument(
            "--partial",
            action="store_true",
            help="write the good rows and skip the bad ones (default: all or nothing)",
        )
        imp.add_argument(
            "--dry-run", action="store_true", help="check and count; write nothing"
        )
        imp.add_argument(
            "--coordinate-order",
            choices=COORDINATE_ORDERS,
            default="lon-lat",
            help="order of GeoJSON Point coordinates (default: lon-lat, as GeoJSON)",
        )
        imp.add_argument(
            "--country", default=None, help="ISO 3166-1 code for rows without one"
        )
        imp.add_argument(
            "--source",
            default=None,
            help="name of the source, e.g. iom-nigeria-2020 (pairs with external ids)",
        )
        exp = sub.add_parser("export", help="Write every profile as CSV.")
        exp.add_argument("path", help="the .csv file to write")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "import":
            self._import(options)
        else:
            self._export(Path(options["path"]))

    def _import(self, options: dict[str, Any]) -> None:
        report = import_directory(
            options["path"],
            partial=options["partial"],
            dry_run=options["dry_run"],
            coordinate_order=options["coordinate_order"],
            country=options["country"],
            source=options["source"],
        )
        prefix = "dry run: " if report.dry_run else ""
        self.stdout.write(prefix + report.summary())
        for warning in report.warnings:
            self.stdout.write(f"warning: {warning}")
        for problem in report.errors:
            self.stdout.write(f"error: {problem}")
        if report.errors and not options["partial"]:
            raise CommandError(f"{len(report.errors)} error(s): nothing was written")

    def _export(self, path: Path) -> None:
        try:
            with path.open("w", encoding="utf-8", newline="") as file_obj:
                count = export_csv(file_obj)
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror}") from None
        self.stdout.write(f"{count} profile(s) written to {path}")
