"""Mutual TLS with the peers' proxies (docs/exchange.md, "TLS and client
certificates"): every request to a peer presents this node's client
certificate (``TRM_EXCHANGE_CLIENT_CERT_FILE``/``_KEY_FILE``) and trusts the
CAs of ``TRM_EXCHANGE_CA_FILE`` for the peer's server certificate.

A throwaway CA (:mod:`trm.exchange.tests.pki`) signs a server certificate for
127.0.0.1 and a client certificate; HTTPS servers in a thread of this process
require a client certificate signed by that CA, as a peer's proxy does.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from trm.common import tls
from trm.exchange import delivery, peers, services, transport
from trm.exchange.errors import PeerUnreachable
from trm.exchange.models import OutboxMessage, OutboxStatus
from trm.exchange.tests.conftest import SECRET_TEXT, PeerServer
from trm.exchange.tests.pki import Authority, Issued

DOCUMENT = {"node_id": "synthetic-peer", "keys": []}


@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    return Authority(tmp_path / "pki")


@pytest.fixture
def client_cert(authority: Authority) -> Issued:
    return authority.client(name="test-node")


def _server_context(authority: Authority) -> ssl.SSLContext:
    """A proxy's TLS: its own certificate, and a client certificate signed by
    the CA required."""
    issued = authority.server()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(issued.cert, issued.key)
    context.load_verify_locations(cafile=authority.cert)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[str]

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        peer_cert = self.connection.getpeercert()
        subject = dict(item[0] for item in peer_cert["subject"])
        self.seen.append(subject["commonName"])
        data = json.dumps(DOCUMENT).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def https_server(authority: Authority) -> Iterator[tuple[str, list[str]]]:
    """``(base URL, common names of the client certificates presented)``."""
    seen: list[str] = []
    handler = type("Handler", (_Handler,), {"seen": seen})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    httpd.socket = _server_context(authority).wrap_socket(
        httpd.socket, server_side=True
    )
    threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    ).start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}", seen
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def mtls_settings(settings: Any, authority: Authority, client_cert: Issued) -> Any:
    settings.TRM_EXCHANGE_CLIENT_CERT_FILE = client_cert.cert
    settings.TRM_EXCHANGE_CLIENT_KEY_FILE = client_cert.key
    settings.TRM_EXCHANGE_CA_FILE = authority.cert
    return settings


def _get(url: str) -> transport.Fetched:
    with transport.http_client() as client:
        return transport.bounded_request(
            client, "GET", url + peers.WELL_KNOWN_PATH, seconds=5, max_bytes=4096
        )


# --- the client ---------------------------------------------------------------------


def test_the_client_certificate_is_presented_and_accepted(https_server, mtls_settings):
    url, seen = https_server

    answer = _get(url)

    assert answer.status_code == 200
    assert json.loads(answer.content) == DOCUMENT
    assert seen == ["test-node"]


def test_without_a_client_certificate_the_proxy_refuses_the_connection(
    https_server, mtls_settings
):
    mtls_settings.TRM_EXCHANGE_CLIENT_CERT_FILE = None
    mtls_settings.TRM_EXCHANGE_CLIENT_KEY_FILE = None
    url, seen = https_server

    with pytest.raises(transport.TransferError) as caught:
        _get(url)

    assert caught.value.code in ("connect_error", "http_error")
    assert seen == []


def test_without_the_ca_file_the_peers_server_certificate_is_not_trusted(
    https_server, mtls_settings
):
    mtls_settings.TRM_EXCHANGE_CA_FILE = None
    url, seen = https_server

    with pytest.raises(transport.TransferError) as caught:
        _get(url)

    assert caught.value.code == "connect_error"
    assert caught.value.cause == "tls:CERTIFICATE_VERIFY_FAILED"
    assert seen == []


def test_a_certificate_from_another_ca_is_refused(
    https_server, mtls_settings, tmp_path
):
    stranger = Authority(tmp_path / "other", name="Synthetic other CA").client(
        name="stranger"
    )
    mtls_settings.TRM_EXCHANGE_CLIENT_CERT_FILE = stranger.cert
    mtls_settings.TRM_EXCHANGE_CLIENT_KEY_FILE = stranger.key
    url, seen = https_server

    with pytest.raises(transport.TransferError):
        _get(url)

    assert seen == []


def test_without_any_tls_setting_the_client_is_httpx_default(settings):
    settings.TRM_EXCHANGE_CLIENT_CERT_FILE = None
    settings.TRM_EXCHANGE_CLIENT_KEY_FILE = None
    settings.TRM_EXCHANGE_CA_FILE = None

    assert transport.client_context(None, None, None) is None
    with transport.http_client() as client:
        assert client.follow_redirects is False


# --- the peer document fetch (trm peers add/refresh) ----------------------------------


def test_the_peer_document_is_fetched_through_the_proxy(https_server, mtls_settings):
    url, seen = https_server

    assert peers.fetch_document(url) == DOCUMENT
    assert seen == ["test-node"]


def test_a_peer_document_fetch_refused_by_tls_names_the_reason(
    https_server, mtls_settings
):
    mtls_settings.TRM_EXCHANGE_CA_FILE = None
    url, _seen = https_server

    with pytest.raises(PeerUnreachable) as caught:
        peers.fetch_document(url)

    assert "tls:CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert caught.value.details == {"reason": "tls:CERTIFICATE_VERIFY_FAILED"}


def test_a_403_from_the_peers_proxy_points_at_the_client_certificate():
    # nginx with ``ssl_verify_client optional`` answers 403 without one.
    client = httpx.Client(
        transport=httpx.MockTransport(lambda request: httpx.Response(403))
    )

    with pytest.raises(PeerUnreachable) as caught:
        peers.fetch_document("https://peer.example.invalid", client=client)

    assert "403" in str(caught.value)
    assert tls.CERT_VARIABLE in str(caught.value)
    assert caught.value.details == {"status": 403}


# --- the worker's delivery ------------------------------------------------------


@pytest.fixture
def tls_peer_server(
    peer_server: PeerServer, authority: Authority, peer: Any
) -> PeerServer:
    """The fake peer's inbox behind HTTPS that requires a client certificate."""
    peer_server.stop()
    peer_server.tls = _server_context(authority)
    peer_server.port = 0
    peer_server.start()
    peer.base_url = peer_server.url
    peer.save(update_fields=["base_url"])
    return peer_server


def _enqueue() -> OutboxMessage:
    with transaction.atomic():
        return services.enqueue(
            to_node="test-peer",
            type="test.note",
            payload={"text": SECRET_TEXT},
            legal_basis="pseudonymous",
            categories=["risk"],
        )


@pytest.mark.django_db
def test_the_worker_delivers_through_a_proxy_requiring_a_client_certificate(
    tls_peer_server, note_type, clock, mtls_settings, monkeypatch
):
    monkeypatch.setattr(delivery, "_client", None)  # the worker's own client
    message = _enqueue()

    counts = delivery.deliver_due(now=clock.now)

    assert counts["sent"] == 1
    message.refresh_from_db()
    assert message.status == OutboxStatus.SENT
    assert tls_peer_server.payloads == [{"text": SECRET_TEXT, "number": 0}]


@pytest.mark.django_db
def test_the_worker_without_a_client_certificate_retries_later(
    tls_peer_server, note_type, clock, mtls_settings, monkeypatch
):
    mtls_settings.TRM_EXCHANGE_CLIENT_CERT_FILE = None
    mtls_settings.TRM_EXCHANGE_CLIENT_KEY_FILE = None
    monkeypatch.setattr(delivery, "_client", None)
    message = _enqueue()

    counts = delivery.deliver_due(now=clock.now)

    assert counts["sent"] == 0
    assert counts["retrying"] == 1
    message.refresh_from_db()
    assert message.status == OutboxStatus.RETRYING
    assert message.last_error in ("connect_error", "http_error")
    assert tls_peer_server.payloads == []


# --- the files, checked at start-up (trm.common.tls) -----------------------------


def test_files_that_load_pass_the_check(authority, client_cert):
    tls.check_files(client_cert.cert, client_cert.key, authority.cert)
    tls.check_files(None, None, authority.cert)
    tls.check_files(client_cert.cert, client_cert.key, None)


@pytest.mark.parametrize("missing", ["key", "cert"])
def test_a_certificate_without_its_key_names_both_variables(client_cert, missing):
    cert = None if missing == "cert" else client_cert.cert
    key = None if missing == "key" else client_cert.key

    with pytest.raises(ImproperlyConfigured) as caught:
        tls.check_files(cert, key, None)

    assert tls.CERT_VARIABLE in str(caught.value)
    assert tls.KEY_VARIABLE in str(caught.value)


def test_a_key_that_does_not_match_is_refused_without_its_contents(
    authority, client_cert
):
    other = authority.client("other", name="other-node")

    with pytest.raises(ImproperlyConfigured) as caught:
        tls.check_files(client_cert.cert, other.key, None)

    message = str(caught.value)
    assert tls.CERT_VARIABLE in message
    assert str(other.key) in message
    assert "PRIVATE KEY" not in message
    assert other.key.read_text().splitlines()[1] not in message


def test_an_encrypted_key_is_refused_without_a_prompt(client_cert, tmp_path):
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(client_cert.key.read_bytes(), None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"synthetic-passphrase"),
        )
    )

    with pytest.raises(ImproperlyConfigured, match=tls.KEY_VARIABLE):
        tls.check_files(client_cert.cert, encrypted, None)


def test_a_ca_file_without_a_ca_certificate_is_refused(client_cert, tmp_path):
    not_a_bundle = tmp_path / "notes.txt"
    not_a_bundle.write_text("not a certificate\n")

    for path in (not_a_bundle, client_cert.key):
        with pytest.raises(ImproperlyConfigured) as caught:
            tls.check_files(None, None, path)
        assert tls.CA_VARIABLE in str(caught.value)
        assert str(path) in str(caught.value)


# --- one precise message per fault (trm.common.tls) ------------------------------


def _refusal(cert: Path, key: Path, **kwargs: Any) -> str:
    with pytest.raises(ImproperlyConfigured) as caught:
        tls.check_files(cert, key, None, **kwargs)
    message = str(caught.value)
    for line in [*key.read_text().splitlines(), *cert.read_text().splitlines()]:
        # Never a file's contents: only the armour lines are named.
        assert "-----" in line or not line.strip() or line not in message
    return message


@pytest.mark.parametrize("content", ["", "not a certificate\n"])
def test_a_certificate_file_without_a_pem_certificate_names_its_variable(
    client_cert, tmp_path, content
):
    empty = tmp_path / "empty.crt"
    empty.write_text(content)

    message = _refusal(empty, client_cert.key)

    assert message.startswith(f"{tls.CERT_VARIABLE} names {empty}, which holds no PEM")
    assert tls.KEY_VARIABLE not in message


def test_a_key_file_without_a_pem_key_names_its_variable(client_cert, tmp_path):
    not_a_key = tmp_path / "not-a.key"
    not_a_key.write_text("not a key\n")

    # The certificate instead of the key: a PEM file, but no private key.
    for path in (not_a_key, client_cert.cert):
        message = _refusal(client_cert.cert, path)
        assert message.startswith(f"{tls.KEY_VARIABLE} names {path}, which holds no")


def test_an_encrypted_key_says_no_one_can_type_the_password(client_cert, tmp_path):
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(client_cert.key.read_bytes(), None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"synthetic-passphrase"),
        )
    )

    message = _refusal(client_cert.cert, encrypted)

    assert message.startswith(f"{tls.KEY_VARIABLE} names {encrypted}, an encrypted")
    assert "no one to type the password" in message


def test_a_key_of_another_certificate_is_named_as_not_matching(authority, client_cert):
    other = authority.client("other", name="other-node")

    message = _refusal(client_cert.cert, other.key)

    assert message.startswith(f"{tls.KEY_VARIABLE} names {other.key}, a private key")
    assert "does not match" in message
    assert str(client_cert.cert) in message


def test_an_expired_certificate_is_refused_with_its_not_after_date(client_cert):
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(client_cert.cert.read_bytes())
    after = cert.not_valid_after_utc

    message = _refusal(
        client_cert.cert, client_cert.key, now=after + dt.timedelta(seconds=1)
    )

    assert message.startswith(f"{tls.CERT_VARIABLE} names {client_cert.cert}")
    assert f"expired on {after:%Y-%m-%d %H:%M:%S} UTC (notAfter)" in message
    tls.check_files(client_cert.cert, client_cert.key, None, now=after)


def test_a_certificate_not_yet_valid_is_refused_with_its_not_before_date(
    client_cert,
):
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(client_cert.cert.read_bytes())
    before = cert.not_valid_before_utc

    message = _refusal(
        client_cert.cert, client_cert.key, now=before - dt.timedelta(seconds=1)
    )

    assert f"not valid before {before:%Y-%m-%d %H:%M:%S} UTC (notBefore)" in message
    tls.check_files(client_cert.cert, client_cert.key, None, now=before)


def test_a_server_only_certificate_is_refused_for_lack_of_client_auth(authority):
    server_only = authority.server("server-only")

    message = _refusal(server_only.cert, server_only.key)

    assert message.startswith(f"{tls.CERT_VARIABLE} names {server_only.cert}")
    assert "clientAuth" in message


def test_a_certificate_without_extended_key_usage_is_accepted(authority):
    # The CA's own certificate carries no extendedKeyUsage extension at all.
    tls.check_files(authority.cert, authority.issued.key, None)


def test_a_key_readable_by_others_is_logged_with_variable_and_mode(client_cert, caplog):
    tls.warn_if_key_exposed(client_cert.key)
    assert caplog.records == []

    client_cert.key.chmod(0o644)
    with caplog.at_level("WARNING", logger="trm.common.tls"):
        tls.warn_if_key_exposed(client_cert.key)

    (record,) = caplog.records
    assert record.levelname == "WARNING"
    assert tls.KEY_VARIABLE in record.getMessage()
    assert "0644" in record.getMessage()
    assert client_cert.key.read_text().splitlines()[1] not in record.getMessage()


# --- a TLS refusal of the client certificate gets the same hint as a 403 -----------


def test_a_proxy_refusing_at_tls_points_at_the_client_certificate(
    https_server, mtls_settings
):
    mtls_settings.TRM_EXCHANGE_CLIENT_CERT_FILE = None
    mtls_settings.TRM_EXCHANGE_CLIENT_KEY_FILE = None
    url, _seen = https_server

    with pytest.raises(PeerUnreachable) as caught:
        peers.fetch_document(url)

    reason = caught.value.details["reason"]
    assert reason in peers.CLIENT_CERTIFICATE_REFUSALS, reason
    assert tls.CERT_VARIABLE in str(caught.value)


@pytest.mark.parametrize(
    "reason",
    [
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
        "TLSV1_ALERT_UNKNOWN_CA",
    ],
)
def test_tls_alerts_about_the_certificate_get_the_403_hint(reason):
    def refuse(request: httpx.Request) -> httpx.Response:
        error = ssl.SSLError(1, f"[SSL: {reason}] synthetic")
        error.reason = reason
        raise httpx.ConnectError("synthetic") from error

    client = httpx.Client(transport=httpx.MockTransport(refuse))
    forbidden = httpx.Client(
        transport=httpx.MockTransport(lambda request: httpx.Response(403))
    )

    with pytest.raises(PeerUnreachable) as refused:
        peers.fetch_document("https://peer.example.invalid", client=client)
    with pytest.raises(PeerUnreachable) as answered:
        peers.fetch_document("https://peer.example.invalid", client=forbidden)

    assert f"(tls:{reason})" in str(refused.value)
    hint = str(answered.value).split(". ", 1)[1]
    assert str(refused.value).endswith(hint)
    assert tls.CERT_VARIABLE in hint


def test_a_server_certificate_not_trusted_gets_no_client_certificate_hint(
    https_server, mtls_settings
):
    mtls_settings.TRM_EXCHANGE_CA_FILE = None
    url, _seen = https_server

    with pytest.raises(PeerUnreachable) as caught:
        peers.fetch_document(url)

    assert tls.CERT_VARIABLE not in str(caught.value)
