"""``trm worker``: run the node's scheduled jobs and deliver exchange messages.

Scheduled jobs (reflection expiry, reminders) run every ``--interval`` seconds;
messages waiting in the exchange outbox are delivered to peer nodes every
``--exchange-interval`` seconds (:func:`trm.exchange.delivery.deliver_due`).
Runs until stopped (Ctrl-C or SIGTERM stop it cleanly between runs), or runs
both once with ``--once``. Several workers may run: each job is idempotent,
reminders are unique per user, case, step and due date, and each outbox message
is claimed by one worker at a time.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

logger = logging.getLogger(__name__)

MIN_EXCHANGE_INTERVAL = 0.2


def _exchange_interval(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("a number of seconds, e.g. 2 or 0.5") from None
    if not seconds >= MIN_EXCHANGE_INTERVAL:
        raise argparse.ArgumentTypeError(f"at least {MIN_EXCHANGE_INTERVAL} seconds")
    return seconds


class Command(BaseCommand):
    help = (
        "Run scheduled jobs (expire reflection periods, send reminders of due "
        "steps) and deliver messages to peer nodes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Run once and exit.")
        parser.add_argument(
            "--interval",
            type=int,
            default=300,
            help="Seconds between runs of the scheduled jobs (default 300).",
        )
        parser.add_argument(
            "--exchange-interval",
            type=_exchange_interval,
            default=2.0,
            help=(
                "Seconds between deliveries of outgoing exchange messages "
                f"(default 2, at least {MIN_EXCHANGE_INTERVAL})."
            ),
        )

    def _run_jobs(self, *, once: bool) -> None:
        from trm.sop.jobs import run_due_jobs

        try:
            counts = run_due_jobs()
        except Exception as exc:
            if once:
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

    def _run_exchange(self, *, once: bool) -> None:
        from trm.exchange.delivery import deliver_due

        try:
            counts = deliver_due()
        except Exception as exc:
            if once:
                raise
            # As above: the kind of error only; the next run retries.
            logger.error("exchange delivery failed: %s", type(exc).__name__)
            self.stderr.write(
                f"exchange delivery failed ({type(exc).__name__}); retrying"
            )
            self.stderr.flush()
            return
        if once or any(counts.values()):
            self.stdout.write(
                "exchange: " + ", ".join(f"{name}: {n}" for name, n in counts.items())
            )
            self.stdout.flush()

    def handle(self, *args: Any, **options: Any) -> None:
        once = bool(options["once"])
        interval = max(10, int(options["interval"]))
        exchange_interval = float(options["exchange_interval"])
        if once:
            self._run_jobs(once=True)
            self._run_exchange(once=True)
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write(
            f"TRM worker running: jobs every {interval} s, exchange every "
            f"{exchange_interval:g} s (Ctrl-C stops)"
        )
        self.stdout.flush()
        next_jobs = time.monotonic()
        while not stop.is_set():
            if time.monotonic() >= next_jobs:
                self._run_jobs(once=False)
                next_jobs = time.monotonic() + interval
            if stop.is_set():
                break
            self._run_exchange(once=False)
            wait = min(exchange_interval, max(0.0, next_jobs - time.monotonic()))
            if stop.wait(wait):
                break
        self.stdout.write("TRM worker stopped")
