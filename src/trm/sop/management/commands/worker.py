"""``trm worker``: run the node's scheduled jobs (reflection expiry, reminders).

Runs every ``--interval`` seconds until stopped (Ctrl-C or SIGTERM stop it
cleanly between runs), or once with ``--once``. Several workers may run: each
job is idempotent and reminders are unique per user, case, step and due date.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run scheduled jobs: expire reflection periods, send reminders of due steps."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Run once and exit.")
        parser.add_argument(
            "--interval",
            type=int,
            default=300,
            help="Seconds between runs (default 300).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from trm.sop.jobs import run_due_jobs

        interval = max(10, int(options["interval"]))
        stop = threading.Event()
        if not options["once"]:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
            self.stdout.write(f"TRM worker running every {interval} s (Ctrl-C stops)")
        while True:
            try:
                counts = run_due_jobs()
            except Exception as exc:
                if options["once"]:
                    raise
                # One bad run must not stop the node's reminders: name the kind
                # of error (never its text or traceback, which could hold data)
                # and try again at the next interval.
                logger.error("worker run failed: %s", type(exc).__name__)
                self.stderr.write(f"worker run failed ({type(exc).__name__}); retrying")
            else:
                self.stdout.write(
                    ", ".join(
                        f"{name.replace('_', ' ')}: {n}" for name, n in counts.items()
                    )
                )
            self.stdout.flush()
            if options["once"] or stop.wait(interval):
                break
        if not options["once"]:
            self.stdout.write("TRM worker stopped")
