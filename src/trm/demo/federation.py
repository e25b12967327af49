"""The demo federation launcher: several national TRM nodes on one machine.

``python -m trm.demo up`` (``make demo``) runs, for each node (default Moldova,
Romania, Serbia and North Macedonia — countries with real flows between them
in the CTDC data), exactly what an administrator would run on a real node, in
the node's own environment (data directory, SQLite database, keys, port, SOP
variant):

1. ``trm keys init --if-missing``, ``trm migrate`` (which creates the exchange
   keys);
2. ``trm demo seed`` (fictional organisations, one user per role; demo mode
   gives them a known password and authenticator secret, DEMO ONLY);
3. ``trm import ctdc FILE --country CC --skip-invalid`` once (the CTDC records
   whose citizenship or country of exploitation is the node's);
4. ``trm serve`` and ``trm worker`` as child processes;

then waits until every node answers, makes each pair of nodes peers with
``trm peers add URL --fingerprint F`` (skipping pairs that are peers already),
and prints a table of addresses and sign-in details. Ctrl-C (or SIGTERM) stops
every child process; ``up`` again resumes with the same data, ports and
credentials, kept in ``var/demo`` (``federation.json``, private).

A node whose process dies is reported; the others keep running. A port in
use is skipped for the next free one on first start (said so); on a resume the
port is fixed (the peers know the node by it), so a taken port stops the
launcher with a message naming it.

Nothing here imports Django: each step is a ``trm`` command in a child
process. ``status`` prints the table and which processes run; ``down`` stops
a federation started elsewhere; ``code`` prints the current demo TOTP code;
``scenario`` runs the guided scenario (:mod:`trm.demo.scenario`).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from trm.demo.names import USERS, username_for

#: The demo countries: code → (name, SOP variant).
COUNTRIES: dict[str, tuple[str, str]] = {
    "MD": ("Moldova", "md"),
    "RO": ("Romania", "ro"),
    "RS": ("Serbia", "rs"),
    "MK": ("North Macedonia", "mk"),
}
DEFAULT_NODES = ("MD", "RO", "RS", "MK")
DEFAULT_BASE_PORT = 8101
HOST = "127.0.0.1"
STATE_FILE = "federation.json"
#: Where ``make demo`` expects the CTDC subset: ``shared/`` beside the clone.
DEFAULT_DATA = (
    Path("..") / "shared" / "data" / "ctdc-global-2020-subset" / "dados_app.csv"
)
#: Said when a replay did not end as expected: running it again resumes it.
_RESUME = (
    "Run it again (make demo): the replay picks up where it stopped; "
    "nothing already done is done or sent twice."
)
#: Variables of the caller's environment that must not leak into a node.
_STRIP = (
    "TRM_KEK",
    "TRM_KEK_FILE",
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "TRM_KEYSTORE_URL",
    "TRM_TEST_SQLITE_NAME",
    "TRM_NODE_ID",
    "TRM_COUNTRY",
    "TRM_NODE_NAME",
    "TRM_DATA_DIR",
    "TRM_SECRET_KEY",
    "TRM_SECRET_KEY_FILE",
    "TRM_SOP_VARIANT",
    "TRM_BASE_URL",
    "TRM_DEMO",
    "TRM_DEMO_PASSWORD",
    "TRM_DEMO_TOTP_SECRET",
)


class DemoError(Exception):
    """The federation cannot start; the message says why and what to do."""


def say(text: str = "") -> None:
    print(text, flush=True)


def trm_command() -> list[str]:
    """The ``trm`` command of this Python environment."""
    script = Path(sys.executable).parent / "trm"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "trm.cli"]


# --- ports --------------------------------------------------------------------


def port_free(port: int, host: str = HOST) -> bool:
    """True if nothing listens on ``host:port`` and it can be bound now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        if probe.connect_ex((host, port)) == 0:
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the server binds (waitress sets SO_REUSEADDR): connections of a
        # stopped node still in TIME_WAIT do not make the port busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def pick_port(
    wanted: int,
    taken: Iterable[int] = (),
    *,
    is_free: Callable[[int], bool] = port_free,
    tries: int = 100,
) -> int:
    """The first free port from ``wanted`` on, skipping ``taken``.

    Raises:
        DemoError: none free among ``tries`` ports.
    """
    skip = set(taken)
    for port in range(wanted, min(wanted + tries, 65536)):
        if port not in skip and is_free(port):
            return port
    raise DemoError(
        f"No free port among {wanted}–{wanted + tries - 1}; "
        "choose another range with --base-port."
    )


# --- state ----------------------------------------------------------------------


@dataclass
class NodeState:
    country: str
    port: int
    ctdc_imported: bool = False
    #: Whether ``trm peers add`` ran on the node: only then can it have peers
    #: to look up (``trm peers list``) before adding.
    peered: bool = False


@dataclass
class State:
    """What a resume needs, kept in ``<dir>/federation.json`` (mode 0600)."""

    password: str
    totp_secret_hex: str
    nodes: dict[str, NodeState] = field(default_factory=dict)
    launcher_pid: int = 0
    pids: dict[str, int] = field(default_factory=dict)
    #: The replay sample sizes already run (``up --replay N``), by seed.
    replayed: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> State | None:
        if not path.exists():
            return None
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            password=raw["password"],
            totp_secret_hex=raw["totp_secret_hex"],
            nodes={k: NodeState(**v) for k, v in raw.get("nodes", {}).items()},
            launcher_pid=int(raw.get("launcher_pid", 0)),
            pids={k: int(v) for k, v in raw.get("pids", {}).items()},
            replayed={k: int(v) for k, v in raw.get("replayed", {}).items()},
        )

    @classmethod
    def new(cls) -> State:
        # Passes the password policy: long, varied, not common.
        return cls(
            password="Demo-" + secrets.token_urlsafe(12),
            totp_secret_hex=secrets.token_hex(20),
        )

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "password": self.password,
            "totp_secret_hex": self.totp_secret_hex,
            "nodes": {k: vars(v) for k, v in self.nodes.items()},
            "launcher_pid": self.launcher_pid,
            "pids": self.pids,
            "replayed": self.replayed,
        }
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
        tmp.replace(path)

    @property
    def totp_secret_base32(self) -> str:
        return base64.b32encode(bytes.fromhex(self.totp_secret_hex)).decode()


def current_code(secret_hex: str) -> str:
    """The demo authenticator's current 6-digit code (RFC 6238, 30 s)."""
    from django_otp.oath import totp

    return f"{totp(bytes.fromhex(secret_hex)):06d}"


# --- one node -----------------------------------------------------------------


class Node:
    """One demo node: its directory, environment and child processes."""

    def __init__(self, code: str, port: int, root: Path, state: State) -> None:
        self.code = code
        self.name, self.variant = COUNTRIES[code]
        self.node_id = f"demo-{code.lower()}"
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self.dir = (root / code.lower()).resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.server: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.reported: set[str] = set()
        self.steps: set[subprocess.Popen[str]] = set()
        env = {k: v for k, v in os.environ.items() if k not in _STRIP}
        env.update(
            {
                "TRM_ENV": "development",
                "TRM_DEBUG": "0",
                "TRM_NODE_ID": self.node_id,
                "TRM_COUNTRY": code,
                "TRM_NODE_NAME": f"TRM demo node {self.name} (fictional)",
                "TRM_DATA_DIR": str(self.dir),
                "TRM_SOP_VARIANT": self.variant,
                "TRM_BASE_URL": self.url,
                "TRM_SESSION_COOKIE_NAME": f"trm_{code.lower()}_session",
                "TRM_CSRF_COOKIE_NAME": f"trm_{code.lower()}_csrf",
                "TRM_DEMO": "1",
                "TRM_DEMO_PASSWORD": state.password,
                "TRM_DEMO_TOTP_SECRET": state.totp_secret_hex,
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.env = env

    def log(self, name: str) -> Path:
        return self.dir / f"{name}.log"

    def trm(self, *args: str, timeout: float = 600) -> str:
        """Run ``trm ARGS`` in the node's environment; return its stdout.

        Raises:
            DemoError: it failed (with the end of its output).
        """
        proc = subprocess.Popen(
            [*trm_command(), *args],
            env=self.env,
            cwd=self.dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.steps.add(proc)  # stopped with the federation
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        finally:
            self.steps.discard(proc)
        if proc.returncode != 0:
            tail = (stdout + stderr).strip()[-2000:]
            raise DemoError(
                f"[{self.code}] `trm {' '.join(args[:2])}` failed "
                f"(exit {proc.returncode}):\n{tail}"
            )
        return stdout

    def _spawn(self, name: str, args: Sequence[str]) -> subprocess.Popen[bytes]:
        log = self.log(name).open("ab")
        try:
            # Own session: Ctrl-C in the terminal reaches the launcher only,
            # which stops the children in order.
            return subprocess.Popen(
                [*trm_command(), *args],
                env=self.env,
                cwd=self.dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()

    def start(self, *, exchange_interval: float) -> None:
        self.server = self._spawn(
            "server",
            ["serve", "--host", HOST, "--port", str(self.port), "--threads", "4"],
        )
        self.worker = self._spawn(
            "worker",
            [
                "worker",
                "--interval",
                "300",
                "--exchange-interval",
                str(exchange_interval),
            ],
        )

    def processes(self) -> dict[str, subprocess.Popen[bytes]]:
        found = {"server": self.server, "worker": self.worker}
        return {k: v for k, v in found.items() if v is not None}

    def answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def fingerprint(self) -> str:
        doc = httpx.get(f"{self.url}/.well-known/trm-node.json", timeout=10).json()
        return str(doc["fingerprint"])

    def peer_ids(self) -> set[str]:
        out = self.trm("peers", "list")
        return {line.split("\t", 1)[0] for line in out.splitlines() if "\t" in line}


def stop_processes(
    procs: Iterable[subprocess.Popen[Any]], *, grace: float = 20
) -> None:
    """SIGTERM every running process, wait ``grace`` seconds, then SIGKILL."""
    running = [p for p in procs if p.poll() is None]
    for proc in running:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in running:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def rss_kib(pids: Iterable[int]) -> int:
    """Sum of the resident set sizes of ``pids`` (KiB, from /proc; 0 elsewhere)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


# --- the federation -------------------------------------------------------------


class Federation:
    def __init__(
        self,
        *,
        root: Path,
        codes: Sequence[str],
        base_port: int,
        data: Path | None,
        exchange_interval: float = 1.0,
        seed: bool = True,
        parallel: int = 2,
        out: Callable[[str], None] = say,
    ) -> None:
        self.root = root.resolve()
        self.codes = [c.upper() for c in codes]
        unknown = [c for c in self.codes if c not in COUNTRIES]
        if unknown or len(set(self.codes)) != len(self.codes) or len(self.codes) < 2:
            raise DemoError(
                f"--nodes takes two or more of {', '.join(COUNTRIES)} "
                f"(got {', '.join(codes)})."
            )
        self.base_port = base_port
        self.data = data
        self.exchange_interval = exchange_interval
        self.seed = seed
        self.parallel = max(1, parallel)
        self.stopping = False
        self.owner = False  # True once this launcher runs the federation
        self.lock = threading.Lock()
        self.out = out
        self.state_path = self.root / STATE_FILE
        self.nodes: list[Node] = []
        self.state = State.new()
        self.started = time.monotonic()

    # -- preparing --

    def _ports(self) -> dict[str, int]:
        """Each node's port: kept on a resume, else the next free one."""
        ports: dict[str, int] = {}
        for index, code in enumerate(self.codes):
            known = self.state.nodes.get(code)
            if known is not None:
                if not port_free(known.port):
                    raise DemoError(
                        f"Port {known.port} of the {COUNTRIES[code][0]} node is in "
                        "use by another program. Its peers know the node at this "
                        f"port, so it cannot move: stop what listens on {known.port} "
                        f"(e.g. `ss -ltnp 'sport = :{known.port}'`), or delete "
                        f"{self.root} to start a new federation."
                    )
                ports[code] = known.port
                continue
            wanted = self.base_port + index
            taken = [n.port for n in self.state.nodes.values()] + list(ports.values())
            port = pick_port(wanted, taken)
            if port != wanted:
                self.out(
                    f"Port {wanted} is in use; the {COUNTRIES[code][0]} node takes "
                    f"port {port} instead."
                )
            ports[code] = port
        return ports

    def _check_not_running(self) -> None:
        pid = self.state.launcher_pid
        if pid and pid != os.getpid() and _alive(pid):
            raise DemoError(
                f"A demo federation is already running from {self.root} "
                f"(launcher pid {pid}). Stop it with Ctrl-C in its terminal or "
                "`python -m trm.demo down`."
            )

    def prepare(self) -> None:
        known = State.load(self.state_path)
        if known is not None:
            self.state = known
            self._check_not_running()
            self.out(f"Resuming the demo federation in {self.root}.")
        else:
            self.out(f"Creating a demo federation in {self.root}.")
        ports = self._ports()
        for code in self.codes:
            self.state.nodes.setdefault(code, NodeState(code, ports[code]))
        self.state.launcher_pid = os.getpid()
        self.owner = True
        self.state.save(self.state_path)
        self.nodes = [Node(c, ports[c], self.root, self.state) for c in self.codes]
        data = self._data_file()
        # Two nodes at a time: each step is one CPU-bound process (migrations,
        # Argon2id password hashes), and a small machine has two cores.
        pool = ThreadPoolExecutor(max_workers=self.parallel)
        try:
            for done in [pool.submit(self._set_up, node, data) for node in self.nodes]:
                done.result()
        except BaseException:
            # Ctrl-C, SIGTERM or a failed step: stop the other nodes' steps too.
            self.stopping = True
            stop_processes(p for n in self.nodes for p in list(n.steps))
            raise
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _set_up(self, node: Node, data: Path | None) -> None:
        def trm(*args: str) -> str:
            if self.stopping:
                raise DemoError(f"[{node.code}] set-up interrupted")
            return node.trm(*args)

        self.out(f"[{node.code}] setting up {node.name} in {node.dir} …")
        trm("keys", "init", "--if-missing")
        trm("migrate", "--noinput")  # also creates the exchange keys
        if self.seed:
            trm("demo", "seed")
        entry = self.state.nodes[node.code]
        if data is not None and not entry.ctdc_imported:
            summary = trm(
                "import", "ctdc", str(data), "--country", node.code, "--skip-invalid"
            )
            lines = summary.strip().splitlines()
            self.out(f"[{node.code}] CTDC records: {lines[-1] if lines else '?'}")
            with self.lock:
                entry.ctdc_imported = True
                self.state.save(self.state_path)
        self.out(f"[{node.code}] ready to start")

    def _data_file(self) -> Path | None:
        if self.data is None:
            return None
        if self.data.is_file():
            return self.data.resolve()
        self.out(
            "WARNING: the CTDC data file is missing: expected at "
            f"{self.data.resolve()} (the CTDC Global Dataset 2020 subset, "
            "`shared/` beside the clone). The nodes start without historical "
            "statistics; put the file there (or give --data PATH) and run again "
            "to import it."
        )
        return None

    # -- running --

    def start(self) -> None:
        for node in self.nodes:
            node.start(exchange_interval=self.exchange_interval)
        self._record_pids()
        deadline = time.monotonic() + 120
        waiting = list(self.nodes)
        while waiting:
            for node in list(waiting):
                server = node.server
                if server is not None and server.poll() is not None:
                    # The others keep going without it.
                    tail = node.log("server").read_text(errors="replace")[-1500:]
                    self.out(
                        f"[{node.code}] the server exited (code {server.returncode}) "
                        f"and is left out; the other nodes go on. End of "
                        f"{node.log('server')}:\n{tail}"
                    )
                    node.reported.update(("server", "worker"))
                    stop_processes(node.processes().values())
                    waiting.remove(node)
                elif node.answers():
                    waiting.remove(node)
            if waiting and time.monotonic() > deadline:
                names = ", ".join(n.code for n in waiting)
                raise DemoError(f"Nodes {names} did not answer within 120 s.")
            time.sleep(0.2)
        if not self.running_nodes():
            raise DemoError("No node started; see the logs above.")

    def replay(self, sample: int, *, seed: int, data: Path) -> bool:
        """Replay ``sample`` CTDC cross-border records between the running
        nodes as live cases through the real exchange
        (:func:`trm.demo_replay.replay.replay`), once per seed and size: a
        resume does not replay again. Prints the per-node summary.

        Returns:
            Whether the end state is as expected on every node (no dead
            message, nothing left waiting).
        """
        from trm.demo_replay.replay import NodeHandle, ReplayFailed, replay

        key = str(seed)
        if self.state.replayed.get(key, 0) >= sample:
            self.out(f"The replay of {sample} records (seed {seed}) already ran.")
            return True
        if not data.is_file():
            self.out(f"No replay: the CTDC file is expected at {data.resolve()}.")
            return True
        handles = [
            NodeHandle.command(n.node_id, n.code, n.env, cwd=n.dir)
            for n in self.running_nodes()
        ]
        self.out(f"Replaying {sample} CTDC cross-border records as live cases …")
        try:
            summary = replay(handles, data, sample=sample, seed=seed)
        except ReplayFailed as exc:
            self.out(f"The replay stopped: {exc}")
            self.out(_RESUME)
            return False
        self.out(summary.table())
        if summary.ok:
            self.state.replayed[key] = sample
            self.state.save(self.state_path)
        else:
            for problem in summary.problems():
                self.out(f"  {problem}")
            self.out(_RESUME)
        return bool(summary.ok)

    def running_nodes(self) -> list[Node]:
        return [
            n for n in self.nodes if n.server is not None and n.server.poll() is None
        ]

    def connect(self) -> None:
        """Make every pair of nodes peers (``trm peers add``), once."""
        nodes = self.running_nodes()
        prints = {n.code: n.fingerprint() for n in nodes}

        def connect_one(node: Node) -> None:
            entry = self.state.nodes[node.code]
            have = node.peer_ids() if entry.peered else set()
            for other in nodes:
                if other is node or other.node_id in have:
                    continue
                with self.lock:
                    entry.peered = True
                    self.state.save(self.state_path)
                node.trm("peers", "add", other.url, "--fingerprint", prints[other.code])
                self.out(f"[{node.code}] added peer {other.node_id} ({other.url})")

        with ThreadPoolExecutor(max_workers=self.parallel) as pool:
            for done in [pool.submit(connect_one, node) for node in nodes]:
                done.result()

    def _record_pids(self) -> None:
        self.state.pids = {
            f"{n.code}-{name}": p.pid
            for n in self.nodes
            for name, p in n.processes().items()
        }
        self.state.save(self.state_path)

    def all_processes(self) -> list[subprocess.Popen[bytes]]:
        return [p for n in self.nodes for p in n.processes().values()]

    def rss_kib(self) -> int:
        return rss_kib(p.pid for p in self.all_processes() if p.poll() is None)

    def table(self) -> str:
        return render_table(self.state, self.nodes)

    def watch(self, *, until: Callable[[], bool] = lambda: False) -> None:
        """Report processes that die; the others keep running."""
        while not until():
            for node in self.nodes:
                for name, proc in node.processes().items():
                    if proc.poll() is not None and name not in node.reported:
                        node.reported.add(name)
                        self.out(
                            f"[{node.code}] the {name} stopped (exit code "
                            f"{proc.returncode}); the other nodes keep running. "
                            f"Log: {node.log(name)}"
                        )
            time.sleep(0.5)

    def stop(self) -> None:
        self.stopping = True
        steps = [p for n in self.nodes for p in list(n.steps)]
        stop_processes([*steps, *self.all_processes()])
        if not self.owner:  # another launcher's state: leave it alone
            return
        self.state.pids = {}
        self.state.launcher_pid = 0
        with contextlib.suppress(OSError):
            self.state.save(self.state_path)


def render_table(state: State, nodes: Sequence[Node]) -> str:
    """The nodes' addresses and the DEMO ONLY sign-in details."""
    rows = [("Node", "Country", "SOP variant", "Address", "Administrator")]
    for node in nodes:
        rows.append(
            (
                node.node_id,
                node.name,
                node.variant,
                node.url + "/",
                username_for(node.code, "node_administrator"),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines += ["", "Users on every node (cc = the node's country code, e.g. md):"]
    for suffix, _kind, what in USERS.values():
        lines.append(f"  cc-{suffix:<12} {what}")
    bar = "=" * 76
    lines += [
        "",
        bar,
        "DEMO ONLY: fictional organisations and users. Never use these credentials",
        "for anything real.",
        f"  password (every user):             {state.password}",
        f"  authenticator secret (every user): {state.totp_secret_base32}",
        "  Add the secret to an authenticator app (time-based, 6 digits, 30 s), or",
        "  print the current code with `.venv/bin/python -m trm.demo code`.",
        bar,
    ]
    return "\n".join(lines)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: Any) -> None:
    raise _Stop


def up(args: argparse.Namespace, out: Callable[[str], None] = say) -> int:
    try:
        federation = Federation(
            root=Path(args.dir),
            codes=args.nodes.split(","),
            base_port=args.base_port,
            data=None if args.no_data else Path(args.data),
            exchange_interval=args.exchange_interval,
            seed=not args.no_seed,
            out=out,
        )
    except DemoError as exc:
        out(f"make demo: {exc}")
        return 2
    previous = {
        sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    code = 0
    try:
        federation.prepare()
        federation.start()
        federation.connect()
        if args.replay and not federation.replay(
            args.replay, seed=args.replay_seed, data=Path(args.data)
        ):
            code = 1
        ready = time.monotonic() - federation.started
        out("")
        out(federation.table())
        out(
            f"Ready in {ready:.0f} s; {len(federation.all_processes())} processes, "
            f"{federation.rss_kib() / 1024:.0f} MiB resident. Logs: "
            f"{federation.root}/<node>/server.log, worker.log. Ctrl-C stops every "
            "node; `make demo` again resumes."
        )
        federation.watch()
    except _Stop:
        out("\nStopping the demo federation …")
    except DemoError as exc:
        out(f"make demo: {exc}")
        code = 1
    finally:
        # A second Ctrl-C must not leave children behind: stopping ends in
        # SIGKILL after 20 s anyway.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        federation.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code == 0:
        out("Stopped. `make demo` resumes with the same data.")
    return code


def status(args: argparse.Namespace, out: Callable[[str], None] = say) -> int:
    root = Path(args.dir).resolve()
    state = State.load(root / STATE_FILE)
    if state is None:
        out(f"No demo federation in {root}; `make demo` creates one.")
        return 1
    nodes = [Node(code, n.port, root, state) for code, n in state.nodes.items()]
    out(render_table(state, nodes))
    launcher = state.launcher_pid
    running = launcher and _alive(launcher)
    out("")
    out(f"Launcher: {'running, pid ' + str(launcher) if running else 'not running'}")
    for node in nodes:
        answer = "answers" if node.answers() else "down"
        out(f"  {node.node_id:<8} {node.url + '/':<26} {answer}")
    alive = [pid for pid in state.pids.values() if _alive(pid)]
    if alive:
        out(f"{len(alive)} node processes, {rss_kib(alive) / 1024:.0f} MiB resident.")
    return 0


def down(args: argparse.Namespace, out: Callable[[str], None] = say) -> int:
    root = Path(args.dir).resolve()
    state = State.load(root / STATE_FILE)
    if state is None:
        out(f"No demo federation in {root}.")
        return 0
    targets = [state.launcher_pid, *state.pids.values()]
    for pid in targets:
        if pid and _alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while any(p and _alive(p) for p in targets) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [p for p in targets if p and _alive(p)]
    out("Stopped." if not left else f"Still running after 30 s: {left}")
    return 0 if not left else 1


def code(args: argparse.Namespace, out: Callable[[str], None] = say) -> int:
    state = State.load(Path(args.dir).resolve() / STATE_FILE)
    if state is None:
        out("No demo federation yet; `make demo` creates one.")
        return 1
    remaining = 30 - int(time.time()) % 30
    out(f"{current_code(state.totp_secret_hex)}  (DEMO ONLY; valid {remaining} s more)")
    return 0


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(
        prog="python -m trm.demo",
        description="A federation of demo TRM nodes on this machine (make demo).",
    )
    main_parser.add_argument(
        "--dir", default="var/demo", help="The federation's data (default var/demo)."
    )
    sub = main_parser.add_subparsers(dest="action", required=True)
    start = sub.add_parser("up", help="Set up, start and connect the nodes.")
    start.add_argument(
        "--nodes",
        default=",".join(DEFAULT_NODES),
        help=f"Country codes, comma-separated (default {','.join(DEFAULT_NODES)}).",
    )
    start.add_argument(
        "--base-port",
        type=int,
        default=DEFAULT_BASE_PORT,
        help="The first node's port; the next nodes count up "
        f"(default {DEFAULT_BASE_PORT}).",
    )
    start.add_argument(
        "--data",
        default=str(DEFAULT_DATA),
        help=f"The CTDC subset CSV (default {DEFAULT_DATA}).",
    )
    start.add_argument("--no-data", action="store_true", help="Import no CTDC data.")
    start.add_argument(
        "--no-seed",
        action="store_true",
        help="No demo organisations and users (empty nodes; for tests).",
    )
    start.add_argument(
        "--exchange-interval",
        type=float,
        default=1.0,
        help="Seconds between the workers' exchange rounds (default 1).",
    )
    start.add_argument(
        "--replay",
        type=int,
        default=0,
        metavar="N",
        help="Replay N CTDC cross-border records between the nodes as live "
        "cases through the exchange, once (make demo: 40).",
    )
    start.add_argument(
        "--replay-seed", type=int, default=2020, help="Which records (default 2020)."
    )
    sub.add_parser("status", help="Print the table and what runs.")
    sub.add_parser("down", help="Stop a federation started in another terminal.")
    sub.add_parser("code", help="Print the current demo authenticator code.")
    guided = sub.add_parser(
        "scenario",
        help="Walk an adult and a child case through the five SOPs across two "
        "running nodes (trm demo scenario).",
    )
    guided.add_argument("--destination", default="rs")
    guided.add_argument("--origin", default="md")
    guided.add_argument("--timeout", type=float, default=120.0)
    return main_parser


def scenario(args: argparse.Namespace, out: Callable[[str], None] = say) -> int:
    """The guided scenario (:mod:`trm.demo.scenario`) on this federation."""
    from trm.demo.scenario import main as scenario_main

    return scenario_main(
        [
            "--dir",
            args.dir,
            "--destination",
            args.destination,
            "--origin",
            args.origin,
            "--timeout",
            str(args.timeout),
        ],
        out=out,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    action: Callable[[argparse.Namespace], int] = {
        "up": up,
        "status": status,
        "down": down,
        "code": code,
        "scenario": scenario,
    }[args.action]
    return action(args)
