"""The demo launcher (``python -m trm.demo``): ports, state, missing data, and
one real two-node federation started, connected and stopped with Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from trm.demo import federation
from trm.demo.federation import DemoError, Federation, Node, State


def listening() -> socket.socket:
    """A socket listening on a free 127.0.0.1 port (close it when done)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_a_port_in_use_is_seen_and_skipped():
    with listening() as busy:
        port = busy.getsockname()[1]
        assert not federation.port_free(port)
        assert federation.pick_port(port, is_free=federation.port_free) != port
    assert federation.port_free(port)


def test_pick_port_skips_busy_and_taken_ports():
    busy = {8101, 8103}
    assert federation.pick_port(8101, [8102], is_free=lambda p: p not in busy) == 8104
    with pytest.raises(DemoError, match="No free port"):
        federation.pick_port(8101, is_free=lambda p: False, tries=3)


def test_a_busy_port_on_first_start_moves_the_node_and_says_so(tmp_path):
    said: list[str] = []
    with listening() as busy:
        port = busy.getsockname()[1]
        fed = Federation(
            root=tmp_path,
            codes=["MD", "RO"],
            base_port=port,
            data=None,
            out=said.append,
        )
        ports = fed._ports()
    assert ports["MD"] != port and ports["RO"] not in (port, ports["MD"])
    assert f"Port {port} is in use" in said[0]


def test_a_busy_port_on_resume_stops_with_the_port_named(tmp_path):
    with listening() as busy:
        port = busy.getsockname()[1]
        state = State.new()
        state.nodes["MD"] = federation.NodeState("MD", port)
        state.save(tmp_path / federation.STATE_FILE)
        fed = Federation(root=tmp_path, codes=["MD", "RO"], base_port=port, data=None)
        fed.state = State.load(tmp_path / federation.STATE_FILE) or state
        with pytest.raises(DemoError, match=f"Port {port} of the Moldova node") as err:
            fed._ports()
    assert "delete" not in str(err.value)  # the data is not the problem


def test_the_state_file_is_private_and_keeps_the_credentials(tmp_path):
    state = State.new()
    path = tmp_path / "federation.json"
    state.save(path)
    again = State.load(path)
    assert again is not None and again.password == state.password
    assert again.totp_secret_hex == state.totp_secret_hex
    assert path.stat().st_mode & 0o077 == 0


def test_a_missing_data_file_says_where_it_is_expected(tmp_path):
    said: list[str] = []
    missing = tmp_path / "shared" / "dados_app.csv"
    fed = Federation(
        root=tmp_path, codes=["MD", "RO"], base_port=9000, data=missing, out=said.append
    )
    assert fed._data_file() is None
    assert str(missing) in said[0] and "missing" in said[0]


def test_unknown_or_too_few_countries_are_refused(tmp_path):
    for codes in (["MD"], ["MD", "XX"], ["MD", "MD"]):
        with pytest.raises(DemoError, match="two or more"):
            Federation(root=tmp_path, codes=codes, base_port=9000, data=None)


def test_the_table_marks_the_credentials_demo_only():
    state = State.new()
    text = federation.render_table(state, [])
    assert "DEMO ONLY" in text and state.password in text
    assert state.totp_secret_base32 in text and "cc-ncp" in text


def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port < 65000 and federation.port_free(port + 1):
            return int(port)
    raise RuntimeError("no two free ports")


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="its nodes run on SQLite: run in the SQLite pass",
)
def test_a_two_node_federation_starts_connects_survives_a_death_and_stops(tmp_path):
    root = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRM_", "DJANGO"))}
    env["PYTHONUNBUFFERED"] = "1"
    launcher = subprocess.Popen(
        [
            sys.executable, "-m", "trm.demo", "--dir", str(root), "up",
            "--nodes", "MD,RO", "--base-port", str(_free_port_pair()),
            "--no-data", "--no-seed", "--exchange-interval", "5",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    output: list[str] = []
    try:
        assert launcher.stdout is not None
        deadline = time.monotonic() + 110
        while time.monotonic() < deadline:
            line = launcher.stdout.readline()
            if not line:
                break
            output.append(line)
            if line.startswith("Ready in"):
                break
        assert output and output[-1].startswith("Ready in"), "".join(output)

        state = State.load(root / federation.STATE_FILE)
        assert state is not None and len(state.pids) == 4
        nodes = {c: Node(c, n.port, root, state) for c, n in state.nodes.items()}
        for node in nodes.values():
            answer = httpx.get(f"{node.url}/.well-known/trm-node.json", timeout=5)
            assert answer.json()["node_id"] == node.node_id
        with ThreadPoolExecutor(2) as pool:
            peers = dict(
                zip(nodes, pool.map(Node.peer_ids, nodes.values()), strict=True)
            )
        assert peers == {"MD": {"demo-ro"}, "RO": {"demo-md"}}
        assert "DEMO ONLY" in "".join(output)

        # A node's server dies: the launcher says so, the other node goes on.
        os.kill(state.pids["MD-server"], signal.SIGKILL)
        line = launcher.stdout.readline()
        assert line.startswith("[MD] the server stopped"), line
        assert "the other nodes keep running" in line
        assert httpx.get(f"{nodes['RO'].url}/healthz", timeout=5).status_code == 200

        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(timeout=40) == 0
    finally:
        if launcher.poll() is None:
            launcher.kill()
    rest = launcher.stdout.read() if launcher.stdout else ""
    assert "Stopped." in rest
    for pid in state.pids.values():
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), pid
    assert json.loads((root / federation.STATE_FILE).read_text())["pids"] == {}


def _zombie(pid: int) -> bool:
    try:
        return " Z " in Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True


def test_a_second_launcher_is_refused_and_leaves_the_running_ones_state(tmp_path):
    # Stands for the first launcher (its command line names trm.demo).
    running = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)", "trm.demo", "up"]
    )
    try:
        state = State.new()
        state.launcher_pid = running.pid
        state.pids = {"MD-server": running.pid}
        state.nodes["MD"] = federation.NodeState("MD", 8101)
        path = tmp_path / federation.STATE_FILE
        state.save(path)
        before = path.read_text()
        said: list[str] = []

        args = federation.parser().parse_args(
            ["--dir", str(tmp_path), "up", "--nodes", "MD,RO", "--no-data"]
        )
        assert federation.up(args, out=said.append) == 1

        assert "already running" in said[-1] and str(running.pid) in said[-1]
        assert f"-m trm.demo --dir {tmp_path} down`" in said[-1]
        assert path.read_text() == before
        assert running.poll() is None
    finally:
        running.kill()
        running.wait()


def test_unknown_nodes_on_the_command_line_are_named():
    said: list[str] = []
    args = federation.parser().parse_args(["up", "--nodes", "MD,BG"])
    assert federation.up(args, out=said.append) == 2
    assert "MD, RO, RS, MK" in said[0]


def test_the_replay_runs_once_and_a_resume_does_not_repeat_it(tmp_path, monkeypatch):
    """`up --replay N`: the replay runs on the running nodes, its summary is
    printed, and once it succeeded the state remembers it."""
    from trm.demo_replay import replay as replay_module

    calls: list[tuple[list[str], int, int]] = []

    class Summary:
        ok = True

        def table(self) -> str:
            return "SUMMARY TABLE"

        def problems(self) -> list[str]:
            return []

    def fake_replay(handles, data, *, sample, seed):
        calls.append(([h.node_id for h in handles], sample, seed))
        return Summary()

    monkeypatch.setattr(replay_module, "replay", fake_replay)
    data = tmp_path / "dados_app.csv"
    data.write_text("header\n")
    said: list[str] = []
    fed = Federation(
        root=tmp_path, codes=["MD", "RS"], base_port=9000, data=data, out=said.append
    )
    nodes = [
        Node("MD", 9000, tmp_path, fed.state),
        Node("RS", 9001, tmp_path, fed.state),
    ]
    monkeypatch.setattr(fed, "running_nodes", lambda: nodes)

    assert fed.replay(12, seed=7, data=data)
    assert calls == [(["demo-md", "demo-rs"], 12, 7)]
    assert "SUMMARY TABLE" in said
    saved = State.load(tmp_path / federation.STATE_FILE)
    assert saved is not None and saved.replayed == {"7": 12}
    assert fed.replay(12, seed=7, data=data)  # a resume: not again
    assert len(calls) == 1
    # A missing file: no replay, and the place it is expected is named.
    assert fed.replay(5, seed=8, data=tmp_path / "missing.csv")
    assert str(tmp_path / "missing.csv") in said[-1]


def test_a_replay_that_did_not_finish_runs_again_on_the_next_resume(
    tmp_path, monkeypatch
):
    """Not remembered when it failed: the next `make demo` replays the same
    seed again (every replay step is idempotent), and the user is told."""
    from trm.demo_replay import replay as replay_module

    outcomes = [False, True]
    calls: list[int] = []

    def fake_replay(handles, data, *, sample, seed):
        calls.append(seed)
        ok = outcomes[len(calls) - 1]
        waiting = {} if ok else {"return plan": ["r003"]}
        return replay_module.Summary(records=12, returning=1, nodes=[], waiting=waiting)

    monkeypatch.setattr(replay_module, "replay", fake_replay)
    data = tmp_path / "dados_app.csv"
    data.write_text("header\n")
    said: list[str] = []
    fed = Federation(
        root=tmp_path, codes=["MD", "RS"], base_port=9000, data=data, out=said.append
    )
    monkeypatch.setattr(
        fed, "running_nodes", lambda: [Node("RS", 9001, tmp_path, fed.state)]
    )

    assert not fed.replay(12, seed=7, data=data)
    assert "\n".join(said).count("still waiting at return plan: r003") == 1
    assert said[-1] == federation._RESUME.format(
        again="make demo DEMO_ARGS=" + (f'"--dir {tmp_path}"')
    )
    assert fed.replay_problem == "still waiting at return plan: r003"
    saved = State.load(tmp_path / federation.STATE_FILE)
    assert saved is None or saved.replayed == {}
    assert fed.replay(12, seed=7, data=data)  # run again: it finishes
    assert calls == [7, 7]
    saved = State.load(tmp_path / federation.STATE_FILE)
    assert saved is not None and saved.replayed == {"7": 12}


# --- the launcher's death, orphans, resume rules, options --------------------

_CHILD = """
import signal, sys, time
from pathlib import Path
def stop(*_):
    Path(sys.argv[1]).write_text("SIGTERM")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
time.sleep(60)
"""

_LAUNCHER = """
import sys, time
from pathlib import Path
from trm.demo import federation
marker = sys.argv[2]
federation.trm_command = lambda: [sys.executable, "-c", sys.argv[3], marker]
node = federation.Node("MD", 1, Path(sys.argv[1]), federation.State.new())
print(node._spawn("server", []).pid, flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl: Linux")
def test_a_node_process_gets_sigterm_when_the_launcher_is_killed(tmp_path):
    """SIGKILL to the launcher leaves no node process behind: each gets
    SIGTERM (its clean stop) from the kernel."""
    marker = tmp_path / "stopped"
    launcher = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, str(tmp_path), str(marker), _CHILD],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert launcher.stdout is not None
        child = int(launcher.stdout.readline())
        time.sleep(0.5)  # the child's handler is in place
        assert not marker.exists()
        launcher.kill()
        launcher.wait(timeout=10)
        deadline = time.monotonic() + 10
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.read_text() == "SIGTERM"
        deadline = time.monotonic() + 10
        while federation._alive(child) and not _zombie(child):
            assert time.monotonic() < deadline, "the node process still runs"
            time.sleep(0.1)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()


def test_sighup_stops_every_node_like_ctrl_c(tmp_path, monkeypatch):
    """The terminal closed (SIGHUP): the launcher stops the nodes cleanly."""
    stopped: list[bool] = []

    def prepare(self):
        os.kill(os.getpid(), signal.SIGHUP)
        time.sleep(5)  # the handler interrupts this
        raise AssertionError("SIGHUP did not stop the launcher")

    monkeypatch.setattr(Federation, "prepare", prepare)
    monkeypatch.setattr(Federation, "stop", lambda self: stopped.append(True))
    said: list[str] = []
    before = signal.getsignal(signal.SIGHUP)
    args = federation.parser().parse_args(["up", "--dir", str(tmp_path)])
    assert federation.up(args, out=said.append) == 0
    assert stopped == [True]
    assert "Stopping the demo federation" in "\n".join(said)
    assert said[-1].startswith("Stopped.")
    assert signal.getsignal(signal.SIGHUP) == before


def _dead_pid() -> int:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def test_node_processes_left_by_a_killed_launcher_are_named_not_the_port(
    tmp_path, monkeypatch
):
    """The launcher died, its nodes run on: a resume says so and how to stop
    them, before any port check, and never suggests deleting the data."""
    node = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)", "trm", "serve"]
    )
    try:
        state = State.new()
        state.launcher_pid = _dead_pid()
        state.pids = {"MD-server": node.pid, "RO-server": _dead_pid()}
        state.nodes["MD"] = federation.NodeState("MD", 8701)
        state.nodes["RO"] = federation.NodeState("RO", 8702)
        state.save(tmp_path / federation.STATE_FILE)
        monkeypatch.setattr(federation, "port_free", lambda port: False)
        said: list[str] = []
        args = federation.parser().parse_args(["up", "--dir", str(tmp_path)])

        assert federation.up(args, out=said.append) == 1

        message = said[-1]
        assert "still running (MD-server)" in message, message
        assert f"-m trm.demo --dir {tmp_path} down`" in message
        assert "Port" not in message and "delete" not in message
        assert node.poll() is None  # left to `down`

        # `down` stops them and forgets them; a process that merely got a
        # recorded number is no node of ours.
        assert federation.down(args, out=said.append) == 0
        assert node.wait(timeout=10) == -signal.SIGTERM
        saved = State.load(tmp_path / federation.STATE_FILE)
        assert saved is not None and saved.pids == {} and saved.launcher_pid == 0
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()


def test_a_recorded_pid_now_of_another_program_is_not_ours():
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        cmdline = Path(f"/proc/{other.pid}/cmdline")
        deadline = time.monotonic() + 5
        while cmdline.exists() and not cmdline.read_bytes():  # still starting
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert federation._alive(other.pid)
        assert not federation._ours(other.pid)
    finally:
        other.kill()
        other.wait()


def _saved_federation(root: Path, ports: dict[str, int]) -> None:
    state = State.new()
    for code, port in ports.items():
        state.nodes[code] = federation.NodeState(code, port)
    state.save(root / federation.STATE_FILE)


def _planned(root: Path, argv: list[str], said: list[str]) -> Federation:
    args = federation.parser().parse_args(["up", "--dir", str(root), *argv])
    fed = federation.federation_from(args, out=said.append)
    fed.plan()
    return fed


def test_a_resume_without_options_keeps_the_federations_nodes_and_ports(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(federation, "port_free", lambda port: True)
    _saved_federation(tmp_path, {"MD": 8621, "RO": 8622, "RS": 8623})
    said: list[str] = []

    fed = _planned(tmp_path, [], said)

    assert [(n.code, n.port) for n in fed.nodes] == [
        ("MD", 8621),
        ("RO", 8622),
        ("RS", 8623),
    ]
    assert not any("Adding" in line or "ignored" in line for line in said)
    saved = State.load(tmp_path / federation.STATE_FILE)
    assert saved is not None and list(saved.nodes) == ["MD", "RO", "RS"]


def test_a_node_added_on_a_resume_gets_a_port_after_the_federations(
    tmp_path, monkeypatch
):
    busy = {8625}
    monkeypatch.setattr(federation, "port_free", lambda port: port not in busy)
    _saved_federation(tmp_path, {"MD": 8621, "RO": 8622, "RS": 8624})
    said: list[str] = []

    fed = _planned(tmp_path, ["--nodes", "MD,RO,RS,MK", "--base-port", "9000"], said)

    assert {n.code: n.port for n in fed.nodes} == {
        "MD": 8621,
        "RO": 8622,
        "RS": 8624,
        "MK": 8626,
    }
    text = "\n".join(said)
    assert (
        "Adding the North Macedonia node (MK) to the federation, on port 8626" in text
    )
    assert "--base-port 9000 is ignored" in text and "MD 8621" in text
    saved = State.load(tmp_path / federation.STATE_FILE)
    assert saved is not None and saved.nodes["MK"].port == 8626


def test_a_first_start_uses_the_default_nodes_from_the_base_port(tmp_path, monkeypatch):
    monkeypatch.setattr(federation, "port_free", lambda port: True)
    said: list[str] = []
    fed = _planned(tmp_path, ["--base-port", "8701"], said)
    assert [(n.code, n.port) for n in fed.nodes] == [
        ("MD", 8701),
        ("RO", 8702),
        ("RS", 8703),
        ("MK", 8704),
    ]
    assert not any("ignored" in line for line in said)


@pytest.mark.parametrize(
    ("argv", "ok"),
    [
        (["--base-port", "80"], False),
        (["--base-port", "1023"], False),
        (["--base-port", "1024"], True),
        (["--base-port", "65532"], True),  # four nodes: up to 65535
        (["--base-port", "65533"], False),
        (["--base-port", "65534", "--nodes", "MD,RO"], True),
        (["--base-port", "70000", "--nodes", "MD,RO"], False),
    ],
)
def test_the_base_port_leaves_room_for_every_node_above_1023(tmp_path, argv, ok):
    args = federation.parser().parse_args(["up", "--dir", str(tmp_path), *argv])
    if ok:
        federation.federation_from(args)
        return
    said: list[str] = []
    assert federation.up(args, out=said.append) == 2
    assert "--base-port takes a port from 1024 to" in said[0]
    assert not (tmp_path / federation.STATE_FILE).exists()


def test_dir_is_accepted_after_the_action_too():
    parse = federation.parser().parse_args
    assert parse(["up", "--dir", "var/demo2", "--replay", "40"]).dir == "var/demo2"
    assert parse(["--dir", "var/demo3", "status"]).dir == "var/demo3"
    assert parse(["down", "--dir", "var/demo4"]).dir == "var/demo4"
    assert parse(["code"]).dir == "var/demo"
    assert parse(["--dir", "a", "scenario", "--dir", "b"]).dir == "b"


def test_the_hints_name_the_federations_directory(tmp_path, monkeypatch):
    venv = tmp_path / ".venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").symlink_to(sys.executable)
    monkeypatch.setattr(sys, "executable", str(venv / "python"))
    monkeypatch.chdir(tmp_path)
    assert federation.demo_command(Path("var/demo"), "down") == (
        ".venv/bin/python -m trm.demo down"  # as typed from the repository
    )
    python = federation._shown(Path(sys.executable))
    default = Path("var/demo")
    other = Path("var/demo2")
    assert federation.demo_command(default, "down").endswith(" -m trm.demo down")
    assert federation.demo_command(other, "code") == (
        f"{python} -m trm.demo --dir var/demo2 code"
    )
    assert federation.make_demo(default) == "make demo"
    assert federation.make_demo(other) == 'make demo DEMO_ARGS="--dir var/demo2"'
    table = federation.render_table(State.new(), [], root=other)
    assert "-m trm.demo --dir var/demo2 code`" in table


def test_a_node_that_stops_during_the_replay_is_reported_at_once(tmp_path, monkeypatch):
    from trm.demo_replay import replay as replay_module

    data = tmp_path / "dados_app.csv"
    data.write_text("header\n")
    said: list[str] = []
    fed = Federation(
        root=tmp_path, codes=["MD", "RS"], base_port=9000, data=data, out=said.append
    )
    md, rs = (
        Node("MD", 9000, tmp_path, fed.state),
        Node("RS", 9001, tmp_path, fed.state),
    )
    fed.nodes = [md, rs]
    md.server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    rs.server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    monkeypatch.setattr(fed, "running_nodes", lambda: [md, rs])
    seen_during: list[str] = []

    def fake_replay(handles, data, *, sample, seed):
        assert rs.server is not None
        rs.server.kill()  # the Serbian node dies mid-replay
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            seen_during[:] = [line for line in said if line.startswith("[RS]")]
            if seen_during:
                break
            time.sleep(0.1)
        return replay_module.Summary(
            records=4, returning=1, nodes=[], waiting={"arrival": ["r001"]}
        )

    monkeypatch.setattr(replay_module, "replay", fake_replay)
    try:
        assert not fed.replay(4, seed=1, data=data)
        assert len(seen_during) == 1, said
        assert seen_during[0].startswith(
            f"[RS] the server stopped (exit code {-signal.SIGKILL}); "
            "the other nodes keep running."
        )
        monkeypatch.setattr(fed, "running_nodes", lambda: [md])
        line = fed.ready_line(12)
        assert line.startswith(
            "Up, but the replay did not finish: still waiting at arrival: r001."
        )
        assert "Not running: RS (Serbia)" in line and "Ready" not in line
        assert f"{fed.root}/<cc>/server.log and worker.log (cc: md, rs)" in line
    finally:
        for node in (md, rs):
            assert node.server is not None
            node.server.kill()
            node.server.wait()


def test_the_ready_line_after_a_clean_start(tmp_path, monkeypatch):
    fed = Federation(root=tmp_path, codes=["MD", "RO"], base_port=9000, data=None)
    fed.nodes = [
        Node("MD", 9000, tmp_path, fed.state),
        Node("RO", 9001, tmp_path, fed.state),
    ]
    monkeypatch.setattr(fed, "running_nodes", lambda: fed.nodes)
    line = fed.ready_line(95.4)
    assert line.startswith("Ready in 95 s. 0 processes")
    assert "Not running" not in line and "replay" not in line
    assert line.endswith(
        f"Logs: {fed.root}/<cc>/server.log and worker.log (cc: md, ro). "
        'Ctrl-C stops every node; `make demo DEMO_ARGS="--dir '
        f'{tmp_path}"` again resumes.'
    )


def test_each_node_runs_in_its_countrys_time_zone(tmp_path):
    """An administrator sets TRM_TIME_ZONE to the node's country: the local
    dates of its SOP deadlines (docs/configuration.md, Time zone)."""
    state = State.new()
    zones = {
        code: Node(code, 8101 + i, tmp_path, state).env["TRM_TIME_ZONE"]
        for i, code in enumerate(("MD", "RO", "RS", "MK"))
    }

    assert zones == {
        "MD": "Europe/Chisinau",
        "RO": "Europe/Bucharest",
        "RS": "Europe/Belgrade",
        "MK": "Europe/Skopje",
    }
