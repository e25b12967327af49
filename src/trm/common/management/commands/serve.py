"""``trm serve``: serve the node with waitress (a production WSGI server)."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Serve the node over HTTP (put a TLS proxy in front in production)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--threads", type=int, default=8)

    def handle(self, *args: Any, **options: Any) -> None:
        import socket

        from django.conf import settings
        from waitress import serve

        from trm.wsgi import application

        settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise CommandError(
                "The database has unapplied migrations. Run `trm migrate` first."
            )
        call_command("check", deploy=False)
        host, port = options["host"], options["port"]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            if probe.connect_ex((host, port)) == 0:
                raise CommandError(
                    f"Port {port} on {host} is already in use. Stop what runs there "
                    f"or choose another port with --port."
                )
        # Ctrl-C stops the server even when a parent shell started it with
        # SIGINT ignored (a background job of a script); SIGTERM likewise.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _terminate)
        self.stdout.write(f"TRM node serving on http://{host}:{port}/ (Ctrl-C stops)")
        self.stdout.flush()
        serve(
            application,
            host=host,
            port=port,
            threads=options["threads"],
            ident="trm",
            _quiet=True,
        )
