"""``trm migrate``: Django's migrate, applied to the main database and the keystore."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser
from django.core.management.commands.migrate import Command as DjangoMigrate


class Command(DjangoMigrate):
    help = (
        "Update the schema of the main database and of the keystore "
        "(or of the one named with --database)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.set_defaults(database=None)

    def handle(self, *args: Any, **options: Any) -> None:
        if options.get("database"):
            super().handle(*args, **options)
            return
        for alias in settings.DATABASES:
            if options.get("verbosity", 1) >= 1:
                self.stdout.write(self.style.MIGRATE_HEADING(f"Database {alias}:"))
            super().handle(*args, **{**options, "database": alias})
