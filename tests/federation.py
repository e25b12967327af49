"""Real TRM node processes on 127.0.0.1 for cross-node tests and benchmarks.

Each :class:`Node` has its own data directory, key-encryption key, database
(SQLite in its data directory, or a fresh PostgreSQL database when
``postgres_url`` is given), port, server (``trm serve``) and worker
(``trm worker``). Nothing is shared between nodes but the network: peers are
added with ``trm peers add URL --fingerprint F`` exactly as an administrator
would.

Domain actions inside a node run as Python snippets in that node's environment
(:meth:`Node.python`), calling the same services the UI calls.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

BIN = Path(sys.executable).parent
TRM = str(BIN / "trm")
#: Environment variables of the test process that must not leak into a node.
_STRIP = (
    "TRM_KEK",
    "TRM_KEK_FILE",
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "TRM_KEYSTORE_URL",
    "TRM_TEST_SQLITE_NAME",
    "TRM_NODE_ID",
    "TRM_COUNTRY",
    "TRM_DATA_DIR",
    "TRM_SECRET_KEY",
)


_RESULT = "__RESULT__"
#: The node's snippet runner: one JSON line ``{"code": ...}`` in, one line
#: ``__RESULT__{"result": ...}`` or ``__RESULT__{"error": traceback}`` out.
_RUNNER = textwrap.dedent(
    """
    import json, os, sys, traceback
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trm.settings")
    import django
    django.setup()
    from django.db import connections
    for line in sys.stdin:
        request = json.loads(line)
        namespace = {"__name__": "__snippet__", "result": None}
        try:
            exec(compile(request["code"], "<snippet>", "exec"), namespace)
            answer = {"result": namespace["result"]}
            text = json.dumps(answer, default=str)
        except BaseException:
            text = json.dumps({"error": traceback.format_exc()})
        finally:
            connections.close_all()
        sys.stdout.write("__RESULT__" + text + "\\n")
        sys.stdout.flush()
    """
)


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Node:
    """One TRM node run as separate processes.

    Args:
        node_id: the node's id (``TRM_NODE_ID``).
        country: ISO code (``TRM_COUNTRY``).
        root: a directory for the node's data (created).
        postgres_url: e.g. ``postgres://postgres@127.0.0.1:5432``; the node
            gets its own database ``trm_<node>_<random>`` (and ``…_keystore``),
            dropped by :meth:`destroy`.
        extra_env: more settings (e.g. ``TRM_EXCHANGE_RETRY_BASE_SECONDS``).
    """

    def __init__(
        self,
        node_id: str,
        country: str,
        root: Path,
        *,
        postgres_url: str = "",
        extra_env: dict[str, str] | None = None,
        sop_variant: str = "baseline",
    ) -> None:
        self.node_id = node_id
        self.country = country
        self.dir = root / node_id
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.snippets: subprocess.Popen[str] | None = None
        self.db_name = ""
        self.postgres_url = postgres_url.rstrip("/")
        env = {k: v for k, v in os.environ.items() if k not in _STRIP}
        env.update(
            {
                "TRM_ENV": "development",
                "TRM_DEBUG": "0",
                "TRM_NODE_ID": node_id,
                "TRM_COUNTRY": country,
                "TRM_NODE_NAME": f"Test node {node_id}",
                "TRM_DATA_DIR": str(self.dir),
                "TRM_SOP_VARIANT": sop_variant,
                "TRM_SECRET_KEY": "federation-test-secret-" + "x" * 32,
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.postgres_url:
            self.db_name = f"trm_{node_id.replace('-', '_')}_{uuid.uuid4().hex[:6]}"
            env["DATABASE_URL"] = f"{self.postgres_url}/{self.db_name}"
        env.update(extra_env or {})
        self.env = env

    # --- lifecycle -----------------------------------------------------------

    def _psql(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(f"{self.postgres_url}/postgres", autocommit=True) as c:
            c.execute(sql)  # type: ignore[arg-type]

    def setup(self) -> None:
        """Create the databases, the KEK, migrate, create the exchange keys."""
        if self.db_name:
            for name in (self.db_name, f"{self.db_name}_keystore"):
                self._psql(f'CREATE DATABASE "{name}"')
        self.trm("keys", "init", "--if-missing")
        self.trm("migrate", "--noinput")
        self.trm("keys", "init", "--if-missing")

    def trm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a ``trm`` command in this node's environment."""
        done = subprocess.run(
            [TRM, *args],
            env=self.env,
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"[{self.node_id}] trm {' '.join(args)} failed "
                f"({done.returncode}):\n{done.stdout}\n{done.stderr}"
            )
        return done

    def python(self, code: str) -> Any:
        """Run ``code`` in this node with Django set up; return its ``result``.

        The snippet sets a variable ``result`` (JSON-serialisable). Snippets
        run one after the other in one long-lived Python process of the node
        (Django set up once, a fresh namespace and fresh database connections
        for each), which saves the second a new interpreter costs per call.

        Raises:
            RuntimeError: the snippet raised (with its traceback).
        """
        runner = self._snippet_runner()
        assert runner.stdin is not None and runner.stdout is not None
        runner.stdin.write(json.dumps({"code": textwrap.dedent(code)}) + "\n")
        runner.stdin.flush()
        while True:
            line = runner.stdout.readline()
            if not line:
                raise RuntimeError(
                    f"[{self.node_id}] snippet runner exited:\n"
                    + (self.dir / "snippets.log").read_text(errors="replace")[-3000:]
                )
            if _RESULT in line:  # after whatever the snippet printed
                answer = json.loads(line.split(_RESULT, 1)[1])
                break
        if "error" in answer:
            raise RuntimeError(f"[{self.node_id}] snippet failed:\n{answer['error']}")
        return answer["result"]

    def _snippet_runner(self) -> subprocess.Popen[str]:
        if self.snippets is None or self.snippets.poll() is not None:
            log = (self.dir / "snippets.log").open("ab")
            self.snippets = subprocess.Popen(
                [sys.executable, "-u", "-c", _RUNNER],
                env=self.env,
                cwd=self.dir,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        return self.snippets

    def fingerprint(self) -> str:
        doc = httpx.get(f"{self.url}/.well-known/trm-node.json", timeout=10).json()
        return str(doc["fingerprint"])

    def start(
        self, *, worker: bool = True, exchange_interval: float = 0.3, processes: int = 1
    ) -> None:
        """Start the server (``processes`` of them on its port: ``trm serve
        --processes``) and the worker, and wait until it answers."""
        log = (self.dir / "server.log").open("ab")
        self.server = subprocess.Popen(
            [TRM, "serve", "--host", "127.0.0.1", "--port", str(self.port)]
            + (["--processes", str(processes)] if processes > 1 else []),
            env=self.env,
            cwd=self.dir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if worker:
            self.start_worker(exchange_interval=exchange_interval)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(
                    f"[{self.node_id}] server exited:\n"
                    + (self.dir / "server.log").read_text(errors="replace")[-3000:]
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"[{self.node_id}] server did not start in 60 s")

    def start_worker(self, *, exchange_interval: float = 0.3) -> None:
        """Start one more worker process (several may run side by side)."""
        log = (self.dir / "worker.log").open("ab")
        worker = subprocess.Popen(
            [
                TRM,
                "worker",
                "--interval",
                "3600",
                "--exchange-interval",
                str(exchange_interval),
            ],
            env=self.env,
            cwd=self.dir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.workers.append(worker)

    @staticmethod
    def _stop(proc: subprocess.Popen[bytes] | None, *, kill: bool) -> None:
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def stop_server(self, *, kill: bool = False) -> None:
        self._stop(self.server, kill=kill)
        self.server = None

    def stop_worker(self, *, kill: bool = False) -> None:
        """Stop every worker of the node (SIGKILL with ``kill``)."""
        for worker in self.workers:
            self._stop(worker, kill=kill)
        self.workers = []

    def stop(self) -> None:
        self.stop_worker()
        self.stop_server()

    def destroy(self) -> None:
        """Stop everything and drop the node's PostgreSQL databases."""
        self.stop()
        if self.snippets is not None:
            with contextlib.suppress(Exception):
                self.snippets.kill()
                self.snippets.wait(timeout=10)
            self.snippets = None
        if self.db_name:
            for name in (self.db_name, f"{self.db_name}_keystore"):
                # Best effort: a clean-up failure must not hide the test's result.
                with contextlib.suppress(Exception):
                    self._psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(self.dir, ignore_errors=True)


def peer(a: Node, b: Node) -> None:
    """Make ``a`` and ``b`` peers of each other through ``trm peers add``."""
    a.trm("peers", "add", b.url, "--fingerprint", b.fingerprint())
    b.trm("peers", "add", a.url, "--fingerprint", a.fingerprint())


def wait_for(
    condition: Callable[[], Any], *, timeout: float = 60, every: float = 0.3
) -> Any:
    """Poll ``condition()`` until it returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met in {timeout} s")
        time.sleep(every)


def children_of(pid: int) -> set[int]:
    """Live processes whose parent is ``pid`` (read from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, ppid = fields[0], int(fields[1])
        if ppid == pid and state != "Z":
            found.add(int(entry.name))
    return found


#: For tests whose nodes run on SQLite whatever database the suite runs on:
#: they are run once, in the SQLite pass, not again in the PostgreSQL pass of
#: `.ci/run` (they would test the same thing twice and cost minutes).
sqlite_pass_only = pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="its nodes run on SQLite: run in the SQLite pass",
)
