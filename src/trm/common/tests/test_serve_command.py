"""``trm serve`` refuses bad options and a port in use in a sentence (in-process;
the forked processes themselves: tests/test_serve_processes.py)."""

from __future__ import annotations

import socket

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("option", "value", "limit"),
    [
        ("--processes", "0", 64),
        ("--processes", "two", 64),
        ("--processes", "65", 64),
        ("--threads", "0", 1024),
        ("--threads", "2000", 1024),
    ],
)
def test_a_bad_number_is_refused_clearly(option: str, value: str, limit: int) -> None:
    with pytest.raises(CommandError) as refused:
        call_command("serve", option, value)
    assert f"'{value}' is not a whole number from 1 to {limit}" in str(refused.value)


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_port_already_bound_is_refused_in_a_sentence(processes: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))  # bound, not listening: a probe cannot tell
        port = str(taken.getsockname()[1])
        with pytest.raises(CommandError) as refused:
            call_command("serve", "--port", port, "--processes", processes)
    assert str(refused.value) == (
        f"Port {port} on 127.0.0.1 is already in use. Stop what runs there or "
        "choose another port with --port."
    )


def test_a_port_already_listening_is_refused_in_a_sentence() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        with pytest.raises(CommandError, match=f"Port {port} on 127.0.0.1 is already"):
            call_command("serve", "--port", port)


def test_a_host_that_does_not_resolve_is_refused_in_a_sentence() -> None:
    with pytest.raises(CommandError, match=r"^Cannot listen on no-such-host\.invalid:"):
        call_command("serve", "--host", "no-such-host.invalid", "--port", "8000")
