"""``trm serve``: serve the node with waitress (a production WSGI server).

With ``--processes N`` (N > 1) the command binds the port once and forks N
server processes that accept connections from it side by side (the pre-fork
model): one Python process runs on one core at a time, so a node whose server
is busy (a peer delivering a burst of exchange messages, many users) uses the
machine's other cores this way. The parent only supervises: it stops every
server process on SIGTERM or Ctrl-C, and if one of them exits by itself it
stops the others and exits non-zero, for the service manager to restart the
node (docs/operating.md).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor

#: The most server processes ``--processes`` accepts.
MAX_PROCESSES = 64


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


#: The most request threads per process ``--threads`` accepts.
MAX_THREADS = 1024


def _whole_number(maximum: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number from 1 to ``maximum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if not 1 <= value <= maximum:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a whole number from 1 to {maximum}"
            )
        return value

    return parse


class Command(BaseCommand):
    help = "Serve the node over HTTP (put a TLS proxy in front in production)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--threads",
            type=_whole_number(MAX_THREADS),
            default=8,
            help=(
                f"Request threads per server process (default 8; at most "
                f"{MAX_THREADS})."
            ),
        )
        parser.add_argument(
            "--processes",
            type=_whole_number(MAX_PROCESSES),
            default=1,
            help=(
                "Server processes sharing the port (default 1). More than one "
                f"uses more cores; at most {MAX_PROCESSES}."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from django.conf import settings

        settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise CommandError(
                "The database has unapplied migrations. Run `trm migrate` first."
            )
        call_command("check", deploy=False)
        host, port = options["host"], options["port"]
        listener = _listen(host, port)
        try:
            # Ctrl-C stops the server even when a parent shell started it with
            # SIGINT ignored (a background job of a script); SIGTERM likewise.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, _terminate)
            processes = options["processes"]
            self.stdout.write(
                f"TRM node serving on http://{host}:{port}/ "
                + (f"with {processes} processes " if processes > 1 else "")
                + "(Ctrl-C stops)"
            )
            self.stdout.flush()
            if processes == 1:
                self._serve(sockets=[listener], threads=options["threads"])
            else:
                self._serve_forked(
                    listener, threads=options["threads"], processes=processes
                )
        finally:
            listener.close()

    @staticmethod
    def _serve(**where: Any) -> None:
        from waitress import serve

        from trm.wsgi import application

        serve(application, ident="trm", _quiet=True, **where)

    def _serve_forked(
        self, listener: socket.socket, *, threads: int, processes: int
    ) -> None:
        from trm.common.processes import die_with_parent

        # Each process opens its own database connections.
        connections.close_all()
        in_child = die_with_parent()
        children: list[int] = []
        try:
            for _ in range(processes):
                pid = os.fork()
                if pid == 0:  # pragma: no cover - a forked process (tested end to end)
                    code = 0
                    try:
                        if in_child is not None:
                            in_child()
                        self._serve(sockets=[listener], threads=threads)
                    except KeyboardInterrupt:
                        pass
                    except BaseException as exc:
                        kind = type(exc).__name__
                        sys.stderr.write(
                            f"trm serve: a server process failed: {kind}\n"
                        )
                        code = 1
                    finally:
                        sys.stdout.flush()
                        sys.stderr.flush()
                        os._exit(code)
                children.append(pid)
            listener.close()
            pid, status = os.wait()
            children.remove(pid)
            raise CommandError(
                f"A server process exited ({_exit_text(status)}); stopping the "
                "others. "
                + (
                    "It was stopped from outside (a signal sent to it alone)."
                    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
                    else "The log above may say why."
                )
            )
        except KeyboardInterrupt:
            pass
        finally:
            _stop_all(children)


def _listen(host: str, port: int) -> socket.socket:
    """Bind and listen on ``host``:``port`` (IPv4 or IPv6, as ``host`` resolves).

    Raises:
        CommandError: the host does not resolve, the port is in use or cannot
            be bound (each said in a sentence, no traceback).
    """
    try:
        family, _type, _proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM
        )[0]
    except (socket.gaierror, OverflowError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise CommandError(f"Cannot listen on {host}:{port}: {reason}.") from None
    in_use = (
        f"Port {port} on {host} is already in use. Stop what runs there "
        f"or choose another port with --port."
    )
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        if probe.connect_ex(address) == 0:
            raise CommandError(in_use)
    try:
        return socket.create_server(address, family=family, backlog=1024)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise CommandError(in_use) from None
        raise CommandError(
            f"Cannot listen on {host}:{port}: {exc.strerror or exc}."
        ) from None


def _exit_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def _stop_all(children: list[int], *, grace: float = 20.0) -> None:
    """SIGTERM each child, wait up to ``grace`` seconds for all, SIGKILL the rest."""
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    waiting = set(children)
    while waiting and time.monotonic() < deadline:
        for pid in list(waiting):
            try:
                done, _status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                waiting.discard(pid)
        if waiting:
            time.sleep(0.05)
    for pid in waiting:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
