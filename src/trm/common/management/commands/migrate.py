"""``trm migrate``: Django's migrate, applied to the main database and the keystore.

Then, on a node with a key-encryption key and no exchange keys yet, it creates
them (``trm keys init --if-missing`` runs before the first migrate, when they
cannot be stored yet).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser
from django.core.management.commands.migrate import Command as DjangoMigrate


def _ensure_sqlite_directories() -> None:
    """Create the directories of SQLite database files (a fresh node has none).

    ``trm keys init`` creates ``keys/`` as a side effect; a node whose KEK comes
    from ``TRM_KEK`` never runs it, and SQLite cannot create a missing directory.
    """
    for database in settings.DATABASES.values():
        if database["ENGINE"] != "django.db.backends.sqlite3":
            continue
        name = str(database["NAME"])
        if name and name != ":memory:" and not name.startswith("file:"):
            Path(name).parent.mkdir(parents=True, exist_ok=True, mode=0o700)


class Command(DjangoMigrate):
    help = (
        "Update the schema of the main database and of the keystore "
        "(or of the one named with --database)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.set_defaults(database=None)

    def get_check_kwargs(self, options: Any) -> Any:
        kwargs = super().get_check_kwargs(options)
        if not options.get("database"):
            # Django checks only the one --database; without it we migrate all.
            kwargs["databases"] = list(settings.DATABASES)
        return kwargs

    def execute(self, *args: Any, **options: Any) -> Any:
        _ensure_sqlite_directories()
        return super().execute(*args, **options)

    def handle(self, *args: Any, **options: Any) -> None:
        if options.get("database"):
            super().handle(*args, **options)
            return
        for alias in settings.DATABASES:
            if options.get("verbosity", 1) >= 1:
                self.stdout.write(self.style.MIGRATE_HEADING(f"Database {alias}:"))
            super().handle(*args, **{**options, "database": alias})
        if not (options.get("plan") or options.get("check_unapplied")):
            from trm.common.management.commands.keys import ensure_exchange_keys

            ensure_exchange_keys(self.stdout)
