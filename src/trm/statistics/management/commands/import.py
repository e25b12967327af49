"""``trm import``: load published datasets as historical, de-identified records.

``ctdc PATH [--skip-invalid] [--release R] [--country CC]`` imports a CTDC
Global Dataset file (the 15-column subset or the full 63-column layout;
:mod:`trm.statistics.ctdc`, docs/ctdc-import.md); ``--country MD`` keeps only
the rows whose citizenship or country of exploitation is MD (repeatable; the
rows left out are counted on stderr). A progress line is shown on a terminal;
stdout ends with exactly one line ``imported N, already present M, rejected
R``. Rejected rows are listed on stderr with row, line and column.

``htcds PATH [--release R] [--skip-invalid] [--format csv|json]`` imports an
HTCDS CSV or JSON file (as written by ``trm export htcds``) as de-identified
historical records (:mod:`trm.statistics.htcds_io`, docs/htcds.md); rejected
records are listed on stderr with row and column, stdout ends with the same
summary line.

Exit status: 0 done; 1 rows rejected without ``--skip-invalid`` (nothing
imported) or the file unreadable (nothing imported).
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trm.common.errors import DomainError
from trm.statistics import ctdc, htcds_io

_RELEASE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class Command(BaseCommand):
    help = (
        "Import a published dataset: ctdc PATH [--skip-invalid] [--release R] | "
        "htcds PATH [--release R] [--skip-invalid]."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="dataset", required=True)
        one = sub.add_parser(
            "ctdc", help="The CTDC Global Dataset (subset or full 63-column file)."
        )
        one.add_argument("path", help="The CSV file.")
        one.add_argument(
            "--skip-invalid",
            action="store_true",
            help="Import the readable rows and report the others "
            "(default: import nothing if any row is rejected).",
        )
        one.add_argument(
            "--release",
            default=ctdc.DEFAULT_RELEASE,
            help=f"The CTDC release, YYYY-MM-DD (default {ctdc.DEFAULT_RELEASE}).",
        )
        one.add_argument(
            "--country",
            action="append",
            default=[],
            metavar="CC",
            help="Keep only the rows whose citizenship or country of exploitation "
            "is this ISO code, e.g. MD (repeat for several; default: every row).",
        )

        two = sub.add_parser(
            "htcds", help="An HTCDS CSV or JSON file (de-identified records only)."
        )
        two.add_argument("path", help="The CSV or JSON file.")
        two.add_argument(
            "--release",
            default="",
            help="A name for this release of the data (default: the file's name).",
        )
        two.add_argument(
            "--skip-invalid",
            action="store_true",
            help="Import the valid records and report the others "
            "(default: import nothing if any record is rejected).",
        )
        two.add_argument(
            "--format",
            choices=htcds_io.FORMATS,
            default=None,
            help="Default: from the file name or its first character.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["dataset"] == "ctdc":
            self._ctdc(options)
        elif options["dataset"] == "htcds":
            self._htcds(options)

    def _htcds(self, options: dict[str, Any]) -> None:
        path = Path(options["path"])
        release = options["release"] or path.stem[:32]
        try:
            result = htcds_io.import_htcds(
                actor=None,
                path=path,
                release=release,
                skip_invalid=options["skip_invalid"],
                fmt=options["format"],
            )
        except FileNotFoundError:
            raise CommandError(f"No such file: {path}") from None
        except IsADirectoryError:
            raise CommandError(f"{path} is a directory, not a file") from None
        except DomainError as exc:
            raise CommandError(f"{exc.message}; nothing imported.") from None
        if result.ignored_columns:
            self.stderr.write("ignored columns: " + ", ".join(result.ignored_columns))
        for rejection in result.rejections[: htcds_io.MAX_REPORTED]:
            self.stderr.write(f"rejected: {rejection}")
        if result.rejected > htcds_io.MAX_REPORTED:
            self.stderr.write(f"… and {result.rejected - htcds_io.MAX_REPORTED} more")
        self.stdout.write(result.summary())
        if result.rejections and not options["skip_invalid"]:
            raise CommandError(
                "Records were rejected, so nothing was imported "
                "(--skip-invalid imports the valid records)."
            )

    def _ctdc(self, options: dict[str, Any]) -> None:
        if not _RELEASE.match(options["release"]):
            raise CommandError("--release must be YYYY-MM-DD.")
        countries = [c.strip().upper() for c in options["country"]]
        for code in countries:
            if not re.fullmatch(r"[A-Z]{2}", code):
                raise CommandError(
                    f"--country {code!r}: give an ISO 3166-1 alpha-2 code such as MD."
                )
        tty = sys.stderr.isatty()
        last = [0.0]

        def progress(rows: int, done: int, total: int) -> None:
            now = time.monotonic()
            if tty and (now - last[0] >= 0.2 or done >= total):
                last[0] = now
                percent = 100 * done // total if total else 100
                sys.stderr.write(f"\r{rows:>9,} rows read  {percent:3d}%")
                sys.stderr.flush()

        try:
            result = ctdc.import_ctdc(
                actor=None,
                path=options["path"],
                release=options["release"],
                skip_invalid=options["skip_invalid"],
                progress=progress,
                keep=ctdc.of_countries(countries) if countries else None,
            )
        except FileNotFoundError:
            raise CommandError(f"No such file: {options['path']}") from None
        except IsADirectoryError:
            raise CommandError(
                f"{options['path']} is a directory, not a file"
            ) from None
        except ctdc.CtdcFormatError as exc:
            raise CommandError(f"{exc.message}; nothing imported.") from None
        finally:
            if tty:
                sys.stderr.write("\n")
        for rejection in result.rejections[: ctdc.MAX_REPORTED]:
            self.stderr.write(f"rejected: {rejection}")
        if result.rejected > ctdc.MAX_REPORTED:
            self.stderr.write(f"… and {result.rejected - ctdc.MAX_REPORTED} more")
        if countries:
            self.stderr.write(
                f"kept the rows of {', '.join(countries)}; left out "
                f"{result.left_out} rows of other countries"
            )
        self.stdout.write(result.summary())
        if result.rejections and not options["skip_invalid"]:
            raise CommandError(
                "Rows were rejected, so nothing was imported "
                "(--skip-invalid imports the readable rows)."
            )
