"""``trm serve --processes N``: N server processes on one port, stopped together.

A real node (its own SQLite database and keys) served by forked processes:
they all answer, SIGTERM stops every one of them, and when one dies by itself
the others are stopped and the command exits non-zero (for the service
manager to restart the node). Its refusals (bad values, a port in use) are
tested in-process: src/trm/common/tests/test_serve_command.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from tests.federation import Node, children_of, sqlite_pass_only, wait_for

pytestmark = [
    pytest.mark.slow,
    sqlite_pass_only,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork, /proc"),
]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    node = Node("serve-a", "RS", tmp_path_factory.mktemp("serve"))
    node.setup()
    yield node
    node.destroy()


def started(node: Node, processes: int) -> tuple[subprocess.Popen[bytes], set[int]]:
    node.start(worker=False, processes=processes)
    assert node.server is not None
    parent = node.server.pid
    children = wait_for(lambda: len(c := children_of(parent)) == processes and c)
    return node.server, children


def test_every_process_serves_and_sigterm_stops_them_all(node: Node) -> None:
    server, children = started(node, 3)

    def ask(_i: int) -> int:
        return httpx.get(f"{node.url}/healthz", timeout=10).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(ask, range(40))) == {200}
    # The parent only supervises: the port is served by the forked processes.
    listening = wait_for(lambda: all(alive(pid) for pid in children), timeout=5)
    assert listening

    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=30) == 0
    wait_for(lambda: not any(alive(pid) for pid in children), timeout=10)
    node.server = None
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{node.url}/healthz", timeout=2)


def test_a_process_that_dies_stops_the_others_and_the_command_fails(
    node: Node,
) -> None:
    server, children = started(node, 2)
    victim, other = sorted(children)

    os.kill(victim, signal.SIGKILL)

    assert server.wait(timeout=30) != 0
    wait_for(lambda: not alive(other), timeout=10)
    node.server = None
    log = (node.dir / "server.log").read_text()
    assert "A server process exited (signal 9); stopping the others." in log


def test_the_processes_do_not_outlive_a_killed_parent(node: Node) -> None:
    server, children = started(node, 2)

    server.kill()  # SIGKILL: the parent cannot stop them itself

    server.wait(timeout=10)
    node.server = None
    wait_for(lambda: not any(alive(pid) for pid in children), timeout=10)


def test_a_process_stopped_alone_is_said_so(node: Node) -> None:
    server, children = started(node, 2)

    os.kill(min(children), signal.SIGTERM)

    assert server.wait(timeout=30) != 0
    node.server = None
    log = (node.dir / "server.log").read_text()
    assert "exit status 0" in log and "stopped from outside" in log
