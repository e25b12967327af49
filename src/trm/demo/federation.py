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
every child process, and so does SIGHUP (the terminal closed); on Linux each
child also gets SIGTERM when the launcher dies any other way (SIGKILL). ``up``
again resumes with the same data, nodes, ports and credentials, kept in
``var/demo`` (``federation.json``, private); node processes of the federation
still running then (left by a killed launcher elsewhere) stop it with the
``down`` command to run.

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

from trm.common.processes import die_with_parent
from trm.demo.names import USERS, username_for

#: The demo countries: code → (name, SOP variant).
COUNTRIES: dict[str, tuple[str, str]] = {
    "MD": ("Moldova", "md"),
    "RO": ("Romania", "ro"),
    "RS": ("Serbia", "rs"),
    "MK": ("North Macedonia", "mk"),
}
DEFAULT_NODES = ("MD", "RO", "RS", "MK")
#: Each demo country's time zone (``TRM_TIME_ZONE``: the local dates of its
#: SOP deadlines, as an administrator sets it; docs/configuration.md).
TIME_ZONES = {
    "MD": "Europe/Chisinau",
    "RO": "Europe/Bucharest",
    "RS": "Europe/Belgrade",
    "MK": "Europe/Skopje",
}
DEFAULT_BASE_PORT = 8101
DEFAULT_DIR = "var/demo"
#: Ports a node may take (below 1024 needs root).
LOWEST_PORT, HIGHEST_PORT = 1024, 65535
HOST = "127.0.0.1"
STATE_FILE = "federation.json"
#: Where ``make demo`` expects the CTDC subset: ``shared/`` beside the clone.
DEFAULT_DATA = (
    Path("..") / "shared" / "data" / "ctdc-global-2020-subset" / "dados_app.csv"
)
#: Said when a replay did not end as expected: running it again resumes it.
_RESUME = (
    "Run it again ({again}): the replay picks up where it stopped; "
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


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when inside it (symbolic
    links kept: ``.venv/bin/python``, not the interpreter it points to)."""
    absolute = Path(os.path.abspath(path))  # noqa: PTH100 (keeps symlinks)
    try:
        return str(absolute.relative_to(Path(os.path.abspath(Path.cwd()))))  # noqa: PTH100
    except ValueError:
        return str(absolute)


def _custom_dir(root: Path) -> str | None:
    """How to name ``root`` on a command line; None for the default."""
    if root.resolve() == Path(DEFAULT_DIR).resolve():
        return None
    return _shown(root)


def demo_command(root: Path, action: str) -> str:
    """The command that runs ``python -m trm.demo ACTION`` on ``root``, as a
    user would type it from here (e.g. ``.venv/bin/python -m trm.demo
    --dir var/demo2 down``)."""
    python = _shown(Path(sys.executable))
    if "/" not in python:
        python = f"./{python}"
    where = _custom_dir(root)
    option = f" --dir {where}" if where else ""
    return f"{python} -m trm.demo{option} {action}"


def make_demo(root: Path) -> str:
    """``make demo`` for ``root`` (with ``DEMO_ARGS="--dir …"`` when not the
    default directory)."""
    where = _custom_dir(root)
    return f'make demo DEMO_ARGS="--dir {where}"' if where else "make demo"


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
                "TRM_TIME_ZONE": TIME_ZONES[code],
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
            preexec_fn=die_with_parent(),  # none outlives the launcher
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
            # Own session: Ctrl-C (or SIGHUP when the terminal closes) reaches
            # the launcher only, which stops the children in order; should
            # the launcher die without that, they get SIGTERM (Linux).
            return subprocess.Popen(
                [*trm_command(), *args],
                env=self.env,
                cwd=self.dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(),  # none outlives the launcher
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


def _check_codes(codes: Sequence[str]) -> list[str]:
    """``codes`` upper-cased.

    Raises:
        DemoError: unknown or repeated codes, or fewer than two.
    """
    upper = [c.upper() for c in codes]
    unknown = [c for c in upper if c not in COUNTRIES]
    if unknown or len(set(upper)) != len(upper) or len(upper) < 2:
        raise DemoError(
            f"--nodes takes two or more of {', '.join(COUNTRIES)} "
            f"(got {', '.join(codes)})."
        )
    return upper


class Federation:
    """The demo nodes of one directory.

    Args:
        codes: the nodes' country codes; None: the federation's saved nodes
            on a resume, :data:`DEFAULT_NODES` on a first start.
        base_port: the first node's port on a first start; None:
            :data:`DEFAULT_BASE_PORT`. A resume keeps the saved ports.

    Raises:
        DemoError: unknown, repeated or fewer than two countries; a base port
            outside 1024–(65536 - number of nodes).
    """

    def __init__(
        self,
        *,
        root: Path,
        codes: Sequence[str] | None,
        base_port: int | None,
        data: Path | None,
        exchange_interval: float = 1.0,
        seed: bool = True,
        parallel: int = 2,
        out: Callable[[str], None] = say,
    ) -> None:
        self.root = root.resolve()
        self.codes_given = codes is not None
        self.codes = _check_codes(codes if codes is not None else DEFAULT_NODES)
        self.base_port_given = base_port is not None
        self.base_port = DEFAULT_BASE_PORT if base_port is None else base_port
        highest = HIGHEST_PORT + 1 - len(self.codes)
        if not LOWEST_PORT <= self.base_port <= highest:
            raise DemoError(
                f"--base-port takes a port from {LOWEST_PORT} to {highest} (the "
                f"{len(self.codes)} nodes take the ports from it on; lower ones "
                f"need root), not {self.base_port}."
            )
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
        #: Why the replay did not finish ("" when it did or did not run).
        self.replay_problem = ""

    # -- preparing --

    def _ports(self) -> dict[str, int]:
        """Each node's port: kept on a resume; a new node's the next free one
        from the base port (first start) or after the federation's ports."""
        ports: dict[str, int] = {}
        saved = {c: n.port for c, n in self.state.nodes.items()}
        if saved and self.base_port_given and self.base_port != min(saved.values()):
            kept = ", ".join(f"{c} {p}" for c, p in saved.items())
            self.out(
                f"--base-port {self.base_port} is ignored: the nodes of this "
                f"federation keep their ports ({kept}); their peers know them at "
                "these ports. Another --dir starts a new federation on other ports."
            )
        after = max(saved.values(), default=self.base_port - 1) + 1
        for index, code in enumerate(self.codes):
            if code in saved:
                port = saved[code]
                if not port_free(port):
                    raise DemoError(
                        f"Port {port} of the {COUNTRIES[code][0]} node is in use "
                        "by another program. Its peers know the node at this "
                        f"port, so it cannot move: stop what listens on {port} "
                        f"(e.g. `ss -ltnp 'sport = :{port}'`) and run "
                        f"`{make_demo(self.root)}` again."
                    )
                ports[code] = port
                continue
            wanted = after if saved else self.base_port + index
            taken = [*saved.values(), *ports.values()]
            port = pick_port(wanted, taken, is_free=port_free)
            if saved:
                self.out(
                    f"Adding the {COUNTRIES[code][0]} node ({code}) to the "
                    f"federation, on port {port}."
                )
                after = port + 1
            elif port != wanted:
                self.out(
                    f"Port {wanted} is in use; the {COUNTRIES[code][0]} node takes "
                    f"port {port} instead."
                )
            ports[code] = port
        return ports

    def _check_not_running(self) -> None:
        """Refuse to start a federation that runs already: its launcher, or
        node processes a killed launcher left behind.

        Raises:
            DemoError: naming the command that stops them.
        """
        pid = self.state.launcher_pid
        stop = demo_command(self.root, "down")
        if pid and pid != os.getpid() and _ours(pid):
            raise DemoError(
                f"A demo federation is already running from {self.root} "
                f"(launcher pid {pid}). Stop it with Ctrl-C in its terminal or "
                f"`{stop}`."
            )
        left = sorted(name for name, pid in self.state.pids.items() if _ours(pid))
        if left:
            raise DemoError(
                f"Node processes of the demo federation in {self.root} are still "
                f"running ({', '.join(left)}), left by a launcher that did not "
                f"stop them. Stop them with `{stop}`, then run "
                f"`{make_demo(self.root)}` again."
            )

    def plan(self) -> None:
        """Load or create the state, refuse a federation that runs, choose
        the nodes and their ports, and save the state."""
        known = State.load(self.state_path)
        if known is not None:
            self.state = known
            self._check_not_running()
            self.out(f"Resuming the demo federation in {self.root}.")
            if not self.codes_given and known.nodes:
                self.codes = _check_codes(list(known.nodes))
        else:
            self.out(f"Creating a demo federation in {self.root}.")
        ports = self._ports()
        for code in self.codes:
            self.state.nodes.setdefault(code, NodeState(code, ports[code]))
        self.state.launcher_pid = os.getpid()
        self.owner = True
        self.state.save(self.state_path)
        self.nodes = [Node(c, ports[c], self.root, self.state) for c in self.codes]

    def prepare(self) -> None:
        self.plan()
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

        While it runs, a node process that stops is reported at once (as
        :meth:`watch` does). The problems are printed once, in the summary.

        Returns:
            Whether the end state is as expected on every node (no dead
            message, nothing left waiting); if not, :attr:`replay_problem`
            says why in a few words.
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
        resume = _RESUME.format(again=make_demo(self.root))
        done = threading.Event()
        # On a terminal the progress bar is redrawn in place: a report starts
        # a line of its own.
        lead = "\n" if sys.stderr.isatty() else ""
        watcher = threading.Thread(
            target=self.watch,
            kwargs={"until": done.is_set, "lead": lead},
            name="replay-watch",
            daemon=True,
        )
        watcher.start()
        try:
            summary = replay(handles, data, sample=sample, seed=seed)
        except ReplayFailed as exc:
            self.out(f"The replay stopped: {exc}")
            self.out(resume)
            self.replay_problem = str(exc)
            return False
        finally:
            done.set()
            watcher.join()
        self.out(summary.table())  # with the problems, if any
        if summary.ok:
            self.state.replayed[key] = sample
            self.state.save(self.state_path)
            return True
        problems = summary.problems()
        self.replay_problem = problems[0] if problems else "see the summary above"
        if len(problems) > 1:
            self.replay_problem += f" (and {len(problems) - 1} more above)"
        self.out(resume)
        return False

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
        return render_table(self.state, self.nodes, root=self.root)

    def watch(
        self, *, until: Callable[[], bool] = lambda: False, lead: str = ""
    ) -> None:
        """Report processes that die, once each (``lead`` before each
        report); the others keep running."""
        while not until():
            for node in self.nodes:
                for name, proc in node.processes().items():
                    with self.lock:
                        if proc.poll() is None or name in node.reported:
                            continue
                        node.reported.add(name)
                    self.out(
                        f"{lead}[{node.code}] the {name} stopped (exit code "
                        f"{proc.returncode}); the other nodes keep running. "
                        f"Log: {node.log(name)}"
                    )
            time.sleep(0.5)

    def down_nodes(self) -> list[Node]:
        """The nodes whose server does not run."""
        running = self.running_nodes()
        return [n for n in self.nodes if n not in running]

    def ready_line(self, seconds: float) -> str:
        """What the launcher says once the nodes are up: how long it took, the
        processes and memory, where the logs are, what did not go well."""
        down = self.down_nodes()
        if self.replay_problem:
            head = f"Up, but the replay did not finish: {self.replay_problem}."
        else:
            head = f"Ready in {seconds:.0f} s."
        if down:
            names = ", ".join(f"{n.code} ({n.name})" for n in down)
            head += f" Not running: {names}; see its server.log."
        codes = ", ".join(n.code.lower() for n in self.nodes)
        return (
            f"{head} {len(self.all_processes())} processes, "
            f"{self.rss_kib() / 1024:.0f} MiB resident. Logs: "
            f"{self.root}/<cc>/server.log and worker.log (cc: {codes}). Ctrl-C "
            f"stops every node; `{make_demo(self.root)}` again resumes."
        )

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


def render_table(
    state: State, nodes: Sequence[Node], *, root: Path = Path(DEFAULT_DIR)
) -> str:
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
        f"  print the current code with `{demo_command(root, 'code')}`.",
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


def _ours(pid: int) -> bool:
    """Whether ``pid`` runs and is a process of the demo (a ``trm`` command
    or the launcher), not another program that got the number since: its
    command line mentions ``trm`` (where /proc tells; else: it runs)."""
    if not pid or not _alive(pid):
        return False
    proc = Path(f"/proc/{pid}")
    try:
        state = (proc / "stat").read_text().rpartition(")")[2].split()[:1]
        command = (proc / "cmdline").read_bytes()
    except OSError:
        return not Path("/proc/self").exists()
    if state == ["Z"]:  # ended, not yet reaped
        return False
    # Empty while a process is still being started (exec under way).
    return not command or b"trm" in command


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: Any) -> None:
    raise _Stop


#: The signals that stop the launcher cleanly: Ctrl-C, ``kill``, and SIGHUP
#: (the terminal closed; none on Windows).
STOP_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP")
    if hasattr(signal, name)
)


def federation_from(
    args: argparse.Namespace, out: Callable[[str], None] = say
) -> Federation:
    """The federation ``up ARGS`` runs.

    Raises:
        DemoError: wrong options.
    """
    return Federation(
        root=Path(args.dir),
        codes=args.nodes.split(",") if args.nodes is not None else None,
        base_port=args.base_port,
        data=None if args.no_data else Path(args.data),
        exchange_interval=args.exchange_interval,
        seed=not args.no_seed,
        out=out,
    )


def up(args: argparse.Namespace, out: Callable[[str], None] = say) -> int:
    """``up``: 0 when stopped after a clean run, 1 when something failed on
    the way (a step, the replay), 2 for wrong options."""
    try:
        federation = federation_from(args, out)
    except DemoError as exc:
        out(f"make demo: {exc}")
        return 2
    previous = {sig: signal.signal(sig, _raise_stop) for sig in STOP_SIGNALS}
    code = 0
    failed = False
    try:
        federation.prepare()
        federation.start()
        federation.connect()
        if args.replay and not federation.replay(
            args.replay, seed=args.replay_seed, data=Path(args.data)
        ):
            code = 1
        out("")
        out(federation.table())
        out(federation.ready_line(time.monotonic() - federation.started))
        federation.watch()
    except _Stop:
        out("\nStopping the demo federation …")
    except DemoError as exc:
        out(f"make demo: {exc}")
        code = 1
        failed = True
    finally:
        # A second Ctrl-C must not leave children behind: stopping ends in
        # SIGKILL after 20 s anyway.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        federation.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not failed:
        out(f"Stopped. `{make_demo(federation.root)}` resumes with the same data.")
    return code


def status(args: argparse.Namespace, out: Callable[[str], None] = say) -> int:
    root = Path(args.dir).resolve()
    state = State.load(root / STATE_FILE)
    if state is None:
        out(f"No demo federation in {root}; `{make_demo(root)}` creates one.")
        return 1
    nodes = [Node(code, n.port, root, state) for code, n in state.nodes.items()]
    out(render_table(state, nodes, root=root))
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
    # The launcher, or the node processes a killed launcher left behind;
    # never a process that got one of their numbers since.
    targets = [p for p in (state.launcher_pid, *state.pids.values()) if _ours(p)]
    for pid in targets:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while any(_ours(p) for p in targets) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [p for p in targets if _ours(p)]
    if left:
        out(f"Still running after 30 s: {left}")
        return 1
    fresh = State.load(root / STATE_FILE) or state  # as the launcher left it
    if fresh.pids or fresh.launcher_pid:
        fresh.pids, fresh.launcher_pid = {}, 0
        fresh.save(root / STATE_FILE)
    out(f"Stopped. `{make_demo(root)}` resumes with the same data.")
    return 0


def code(args: argparse.Namespace, out: Callable[[str], None] = say) -> int:
    state = State.load(Path(args.dir).resolve() / STATE_FILE)
    if state is None:
        root = Path(args.dir)
        out(f"No demo federation yet; `{make_demo(root)}` creates one.")
        return 1
    remaining = 30 - int(time.time()) % 30
    out(f"{current_code(state.totp_secret_hex)}  (DEMO ONLY; valid {remaining} s more)")
    return 0


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(
        prog="python -m trm.demo",
        description="A federation of demo TRM nodes on this machine (make demo).",
    )
    dir_help = f"The federation's data (default {DEFAULT_DIR})."
    main_parser.add_argument("--dir", default=DEFAULT_DIR, help=dir_help)
    sub = main_parser.add_subparsers(dest="action", required=True)
    start = sub.add_parser("up", help="Set up, start and connect the nodes.")
    start.add_argument(
        "--nodes",
        default=None,
        help="Country codes, comma-separated (default: the federation's nodes "
        f"on a resume, else {','.join(DEFAULT_NODES)}).",
    )
    start.add_argument(
        "--base-port",
        type=int,
        default=None,
        help="The first node's port on a first start; the next nodes count up "
        f"(default {DEFAULT_BASE_PORT}). A resume keeps the nodes' ports.",
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
    status_ = sub.add_parser("status", help="Print the table and what runs.")
    stop = sub.add_parser(
        "down",
        help="Stop a federation started in another terminal, or the node "
        "processes a killed launcher left behind.",
    )
    totp = sub.add_parser("code", help="Print the current demo authenticator code.")
    guided = sub.add_parser(
        "scenario",
        help="Walk an adult and a child case through the five SOPs across two "
        "running nodes (trm demo scenario).",
    )
    # --dir after the action too (make demo DEMO_ARGS="--dir var/demo2"); not
    # given there, the one before it (or the default) stays.
    for action in (start, status_, stop, totp, guided):
        action.add_argument("--dir", default=argparse.SUPPRESS, help=dir_help)
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
