"""``trm screening strings [--check]``: regenerate the instrument's gettext strings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trm.common.yamldata import DataFileError
from trm.screening.instrument import load_instrument, render_strings_module

STRINGS_PATH = Path(__file__).resolve().parents[2] / "strings.py"


class Command(BaseCommand):
    help = (
        "Screening instrument tools: `strings` writes screening/strings.py (the "
        "labels to translate); `strings --check` fails if it is out of date."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        strings = sub.add_parser(
            "strings",
            help="Write the instrument's labels to strings.py for makemessages.",
        )
        strings.add_argument(
            "--check",
            action="store_true",
            help="Change nothing; exit 1 if strings.py is out of date.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            source = render_strings_module(load_instrument())
        except DataFileError as exc:
            raise CommandError(f"the instrument file is not valid:\n{exc}") from None
        current = (
            STRINGS_PATH.read_text(encoding="utf-8") if STRINGS_PATH.exists() else ""
        )
        if options["check"]:
            if current != source:
                raise CommandError(
                    f"{STRINGS_PATH} is out of date: run `trm screening strings`."
                )
            self.stdout.write(f"{STRINGS_PATH.name} is up to date")
            return
        if current == source:
            self.stdout.write(f"{STRINGS_PATH.name} is already up to date")
            return
        STRINGS_PATH.write_text(source, encoding="utf-8")
        self.stdout.write(f"wrote {STRINGS_PATH}")
