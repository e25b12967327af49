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
        with pytest.raises(DemoError, match=f"Port {port} of the Moldova node"):
            fed._ports()


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
    # Stands for the first launcher.
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
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

    class Summary:
        def __init__(self, ok: bool) -> None:
            self.ok = ok

        def table(self) -> str:
            return "SUMMARY TABLE"

        def problems(self) -> list[str]:
            return [] if self.ok else ["still waiting at return plan: r003"]

    def fake_replay(handles, data, *, sample, seed):
        calls.append(seed)
        return Summary(outcomes[len(calls) - 1])

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
    assert "  still waiting at return plan: r003" in said
    assert said[-1] == federation._RESUME
    saved = State.load(tmp_path / federation.STATE_FILE)
    assert saved is None or saved.replayed == {}
    assert fed.replay(12, seed=7, data=data)  # run again: it finishes
    assert calls == [7, 7]
    saved = State.load(tmp_path / federation.STATE_FILE)
    assert saved is not None and saved.replayed == {"7": 12}
