"""Every request to a peer ends within its deadline, and answers are capped
(trm.exchange.transport, used by delivery and by the peers' document fetch).

A tiny server on 127.0.0.1 answers slowly on purpose: it sends the status line
and headers at once and then the body one byte every 0.3 s, or even trickles
the status line itself; httpx's per-read timeouts never fire on either.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction

from trm.exchange import delivery, peers, services
from trm.exchange.errors import PeerDocumentInvalid, PeerUnreachable
from trm.exchange.models import OutboxMessage, OutboxStatus, Peer
from trm.exchange.tests.conftest import SECRET_TEXT

pytestmark = pytest.mark.django_db

#: How long the server keeps trickling at most (a test without a deadline
#: would wait this long).
TRICKLE_FOR = 8.0
STEP = 0.3


class SlowServer:
    """Answers every request per :attr:`mode`: ``body`` (headers at once, then
    one byte every 0.3 s), ``headers`` (the status line one byte every
    0.3 s), ``large`` (a 200 with 3 MB of body, fast)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self._stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _addr = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket, data: bytes) -> None:
        end = time.monotonic() + TRICKLE_FOR
        for byte in data:
            if time.monotonic() > end or self._stopped.is_set():
                return
            conn.sendall(bytes([byte]))
            time.sleep(STEP)

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(5)
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    request += chunk
                head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                if self.mode == "headers":
                    self._trickle(conn, head + b"Content-Length: 2\r\n\r\n{}")
                elif self.mode == "body":
                    conn.sendall(head + b"Content-Length: 1000\r\n\r\n")
                    self._trickle(conn, b'{"receipt": "' + b"a" * 980 + b'"}')
                else:
                    size = 3_000_000
                    conn.sendall(head + f"Content-Length: {size}\r\n\r\n".encode())
                    conn.sendall(b" " * size)
            except OSError:
                return  # the client gave up: what the tests want

    def close(self) -> None:
        self._stopped.set()
        self._sock.close()


@pytest.fixture
def slow() -> Iterator[Any]:
    servers: list[SlowServer] = []

    def start(mode: str) -> SlowServer:
        server = SlowServer(mode)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def enqueue_to(peer: Peer, url: str) -> OutboxMessage:
    peer.base_url = url
    peer.save(update_fields=["base_url"])
    with transaction.atomic():
        return services.enqueue(
            to_node=peer.node_id,
            type="test.note",
            payload={"text": SECRET_TEXT},
            legal_basis="pseudonymous",
            categories=["risk"],
        )


@pytest.mark.parametrize("mode", ["body", "headers"])
def test_a_trickling_peer_is_cut_off_at_the_deadline(
    peer, note_type, clock, settings, slow, mode
):
    settings.TRM_EXCHANGE_TIMEOUT_SECONDS = 1
    message = enqueue_to(peer, slow(mode).url)

    started = time.monotonic()
    counts = delivery.deliver_due(now=clock.now)
    elapsed = time.monotonic() - started

    assert 0.9 <= elapsed < 2.5
    assert counts["retrying"] == 1
    row = OutboxMessage.objects.get(pk=message.pk)
    assert (row.status, row.last_error, row.attempts) == (
        OutboxStatus.RETRYING,
        "timeout",
        1,
    )


def test_an_answer_larger_than_the_cap_is_not_read(
    peer, note_type, clock, settings, slow
):
    message = enqueue_to(peer, slow("large").url)

    counts = delivery.deliver_due(now=clock.now)

    assert counts["retrying"] == 1
    row = OutboxMessage.objects.get(pk=message.pk)
    assert (row.status, row.last_error) == (OutboxStatus.RETRYING, "answer_too_large")


def test_a_slow_peer_does_not_hold_back_the_others(
    peer, note_type, clock, settings, slow, peer_server
):
    """Two peers in one run: the trickling one costs its deadline, no more,
    and the other one's message is delivered in the same run."""
    settings.TRM_EXCHANGE_TIMEOUT_SECONDS = 1
    Peer.objects.filter(pk=peer.pk).update(base_url=peer_server.url)
    good = enqueue_to(Peer.objects.get(pk=peer.pk), peer_server.url)
    second = Peer.objects.create(
        node_id="slow-peer",
        name="Fictional Slow Node",
        country="RS",
        base_url=slow("body").url,
        keys=peer.keys,
        fingerprint=peer.fingerprint,
    )
    stuck = enqueue_to(second, second.base_url)

    started = time.monotonic()
    counts = delivery.deliver_due(now=clock.now)

    assert time.monotonic() - started < 2.5
    assert counts["sent"] == 1 and counts["retrying"] == 1
    assert OutboxMessage.objects.get(pk=good.pk).status == OutboxStatus.SENT
    assert OutboxMessage.objects.get(pk=stuck.pk).last_error == "timeout"


@pytest.mark.parametrize("mode", ["body", "headers"])
def test_fetching_a_document_from_a_trickling_peer_ends_at_the_deadline(
    db, slow, monkeypatch, mode
):
    monkeypatch.setattr(peers, "FETCH_TIMEOUT_SECONDS", 1.0)
    server = slow(mode)

    started = time.monotonic()
    with pytest.raises(PeerUnreachable) as caught:
        peers.fetch_document(server.url)

    assert time.monotonic() - started < 2.5
    assert caught.value.details == {"reason": "timeout"}
    assert "1 seconds" in caught.value.message


def test_a_document_above_the_cap_is_refused(db, slow):
    server = slow("large")

    with pytest.raises(PeerDocumentInvalid) as caught:
        peers.fetch_document(server.url)

    assert caught.value.details == {"reason": "too_large"}
