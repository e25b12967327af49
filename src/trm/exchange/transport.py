"""One HTTP exchange with a peer, bounded in time and size.

httpx's timeouts apply to each network operation, not to a whole request: a
peer (or a proxy) that sends its answer one byte at a time never times out,
and would hold a worker — and with it every other peer's messages — for as
long as it likes. :func:`bounded_request` gives each request an overall
deadline and caps the size of the answer:

* after every chunk of the answer, the time is checked;
* a watchdog timer shuts the connection's socket down when the deadline
  passes, so a read blocked on a trickle (also while the status line and
  headers are still arriving) ends at once. The request asks for a connection
  of its own (``Connection: close``), so the socket is always the one this
  request opened.

The answer must not be compressed (``Accept-Encoding: identity``; one that
is anyway is refused), so the cap counts the bytes that arrive.

Every request to a peer goes through a client from :func:`http_client`: it
never follows a redirect and presents the node's client certificate to the
peer's proxy when one is configured (docs/exchange.md, "TLS and client
certificates").
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings

from trm.common import tls

#: The largest answer to a delivered message (a signed receipt is < 1 KiB).
MAX_ANSWER_BYTES = 64 * 1024
#: httpcore trace events whose return value is a newly opened network stream.
_OPENED = ("connection.connect_tcp.complete", "connection.start_tls.complete")


class TransferError(Exception):
    """The request failed; ``code`` is a short stable reason: ``timeout``,
    ``connect_error``, ``http_error`` or ``too_large``."""

    def __init__(self, code: str, cause: str = "") -> None:
        super().__init__(code)
        self.code = code
        #: The kind of the underlying error (a class name), for messages.
        self.cause = cause or code


@dataclass(frozen=True)
class Fetched:
    """An answer read in full within the deadline and the cap."""

    status_code: int
    content: bytes


def http_client() -> httpx.Client:
    """A new HTTP client for requests to peers (deliveries, batches, the
    published document): it does not follow redirects, trusts the CAs of
    ``TRM_EXCHANGE_CA_FILE`` (default: httpx's) for the peers' server
    certificates, and presents ``TRM_EXCHANGE_CLIENT_CERT_FILE`` with its key
    when a peer's proxy asks for a client certificate.

    Building one loads the trust store (tens of milliseconds): a long-lived
    caller keeps it. The caller closes it.

    Raises:
        ImproperlyConfigured: a TLS file changed since start-up and no longer
            loads, or the certificate has expired since (:func:`client_context`).
    """
    context = client_context(
        settings.TRM_EXCHANGE_CLIENT_CERT_FILE,
        settings.TRM_EXCHANGE_CLIENT_KEY_FILE,
        settings.TRM_EXCHANGE_CA_FILE,
    )
    return httpx.Client(
        follow_redirects=False, verify=True if context is None else context
    )


def client_context(
    cert_file: Path | None, key_file: Path | None, ca_file: Path | None
) -> ssl.SSLContext | None:
    """The TLS context for requests to peers, or None for httpx's default
    (``verify=True``: the certifi bundle, or ``SSL_CERT_FILE``; no client
    certificate).

    With ``ca_file``, only the CAs in that bundle are trusted for the peers'
    server certificates (e.g. the regional CA); without it, httpx's default
    authorities. With ``cert_file`` and ``key_file``, the node presents that
    certificate when a peer's proxy asks for one (httpx 0.28 deprecates its
    ``cert=`` argument for a context with ``load_cert_chain``).

    Raises:
        ImproperlyConfigured: as :func:`trm.common.tls.check_files` (a file
            changed since start-up, or the certificate has expired since).
    """
    if cert_file is None and key_file is None and ca_file is None:
        return None
    tls.check_files(cert_file, key_file, ca_file)
    if ca_file is not None:
        context = ssl.create_default_context(cafile=ca_file)
    else:
        context = httpx.create_ssl_context()
    if cert_file is not None and key_file is not None:
        tls.load_chain(context, cert_file, key_file)
    return context


def _cause(exc: BaseException) -> str:
    """The kind of a failed request's error, for messages: ``tls:<REASON>``
    when TLS refused the connection (e.g. ``tls:CERTIFICATE_VERIFY_FAILED``,
    the peer's certificate is not trusted, or
    ``tls:TLSV13_ALERT_CERTIFICATE_REQUIRED``, the peer wants this node's
    client certificate), else the error's class name."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return f"tls:{current.reason or type(current).__name__}"
        current = current.__cause__ or current.__context__
    return type(exc).__name__


class _Watchdog:
    """Shuts down the sockets of one request when its deadline passes."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._armed = True
        self._timer = threading.Timer(max(seconds, 0.0), self._expire)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's ``trace`` extension: note the sockets it opens."""
        if event in _OPENED:
            self.watch(info.get("return_value"))

    def watch(self, stream: Any) -> None:
        get = getattr(stream, "get_extra_info", None)
        sock = get("socket") if callable(get) else None
        if isinstance(sock, socket.socket):
            with self._lock:
                self._sockets.append(sock)
                late = self.expired
            if late:
                self._shutdown(sock)

    @staticmethod
    def _shutdown(sock: socket.socket) -> None:
        # The plain socket method (not ssl.SSLSocket's), on the socket object
        # (never a bare descriptor number another connection may reuse).
        # Already closed, or detached when TLS wrapped it: nothing to do.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def _expire(self) -> None:
        with self._lock:
            if not self._armed:
                return
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            self._shutdown(sock)

    def check(self) -> None:
        if self.expired or time.monotonic() > self.at:
            self.expired = True
            raise TransferError("timeout")

    def disarm(self) -> None:
        with self._lock:
            self._armed = False
            self._sockets.clear()
        self._timer.cancel()


def bounded_request(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    seconds: float,
    max_bytes: int,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Fetched:
    """Send one request and read its answer within ``seconds`` in all and at
    most ``max_bytes`` of body.

    Raises:
        TransferError: ``timeout`` (the deadline passed, whatever the peer was
            doing), ``too_large`` (more than ``max_bytes``), ``connect_error``
            or ``http_error`` (with the kind of error in ``cause``).
    """
    watchdog = _Watchdog(seconds)
    request_headers = {
        **(headers or {}),
        "Connection": "close",
        "Accept-Encoding": "identity",
    }
    watchdog.start()
    try:
        with client.stream(
            method,
            url,
            content=content,
            headers=request_headers,
            timeout=httpx.Timeout(seconds),
            extensions={"trace": watchdog.trace},
        ) as response:
            watchdog.watch(response.extensions.get("network_stream"))
            watchdog.check()
            encoding = response.headers.get("Content-Encoding", "identity")
            if encoding.strip().lower() not in ("", "identity"):
                # Asked for none: decoding one could blow up the size.
                raise TransferError("http_error", "content_encoding")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise TransferError("too_large")
                watchdog.check()
            watchdog.check()
            return Fetched(response.status_code, bytes(body))
    except TransferError:
        raise
    except httpx.TimeoutException as exc:
        raise TransferError("timeout", type(exc).__name__) from None
    except (httpx.HTTPError, OSError) as exc:
        if watchdog.expired or time.monotonic() > watchdog.at:
            raise TransferError("timeout", type(exc).__name__) from None
        if isinstance(exc, httpx.ConnectError):
            raise TransferError("connect_error", _cause(exc)) from None
        raise TransferError("http_error", _cause(exc)) from None
    finally:
        watchdog.disarm()
