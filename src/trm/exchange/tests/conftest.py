"""Fixtures of the exchange tests: this node's keys, a fake peer node, a test
message type, and a tiny receiving peer served over HTTP on 127.0.0.1.

The fake peer ``test-peer`` has its own Ed25519 signing and X25519 encryption
keys, generated here. It crafts envelopes as that peer would (addressed to this
node's encryption key) and, as :class:`PeerServer`, receives what this node's
worker sends: it decrypts with the peer's key, verifies this node's signature,
keeps the message ids it applied and answers with signed receipts — or, when
switched, is down, fails with 503, says "retry later", rejects, or forges.
All data is synthetic.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import ssl
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from joserfc.jwk import OKPKey
from pydantic import BaseModel, ConfigDict

from trm.audit import services as audit
from trm.common.errors import DomainError
from trm.exchange import envelope, nodekeys, registry
from trm.exchange.models import KeyUse, Peer, PeerStatus

PEER_ID = "test-peer"
NOTE_TYPE = "test.note"
#: A phrase that must never appear outside the sealed payload.
SECRET_TEXT = "Fictional note: the blue door on Imaginary Street"


def _keypair(curve: str, use: str) -> tuple[OKPKey, dict[str, Any]]:
    key = OKPKey.generate_key(curve, private=True)  # type: ignore[arg-type]
    public = key.as_dict(private=False)
    public.update(
        {
            "kid": str(key.thumbprint()),
            "use": use,
            "alg": "Ed25519" if use == "sig" else "ECDH-ES+A256KW",
        }
    )
    return key, public


class FakePeer:
    """A peer node's keys and the envelopes it would send to this node."""

    def __init__(self, node_id: str = PEER_ID) -> None:
        self.node_id = node_id
        self.sig_key, self.sig_jwk = _keypair("Ed25519", "sig")
        self.enc_key, self.enc_jwk = _keypair("X25519", "enc")

    @property
    def jwks(self) -> list[dict[str, Any]]:
        return [self.sig_jwk, self.enc_jwk]

    def claims(self, **overrides: Any) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "msg_id": str(uuid.uuid4()),
            "type": NOTE_TYPE,
            "v": 1,
            "from": self.node_id,
            "to": settings.TRM_NODE_ID,
            "sent_at": timezone.now().isoformat(),
            "conversation": "",
            "seq": 0,
            "in_reply_to": None,
            "legal_basis": "pseudonymous",
            "categories": ["case_summary"],
            "reply_by": None,
        }
        claims.update(overrides)
        return claims

    def envelope(
        self,
        payload: dict[str, Any] | None = None,
        *,
        signing_key: OKPKey | None = None,
        signing_kid: str | None = None,
        recipient_jwk: dict[str, Any] | None = None,
        **claims: Any,
    ) -> tuple[bytes, dict[str, Any]]:
        """Return (compact JWE as bytes, its claims) sent by this peer."""
        full = self.claims(**claims)
        if "legal_basis" not in claims and set(full["categories"]) - {"risk"}:
            full["legal_basis"] = f"consent:{uuid.uuid4()}"
        token = envelope.seal(
            claims=full,
            payload={"text": "Fictional note"} if payload is None else payload,
            signing_key=signing_key or self.sig_key,
            signing_kid=signing_kid or self.sig_jwk["kid"],
            recipient_jwk=recipient_jwk
            or nodekeys.current(KeyUse.ENCRYPTION).public_jwk,
        )
        return token.encode("ascii"), full


def node_signing_keys() -> dict[str, dict[str, Any]]:
    """This node's public signing keys by kid (to verify its receipts)."""
    return {k["kid"]: k for k in nodekeys.public_keys() if k["use"] == "sig"}


@pytest.fixture
def node_keys(db: Any) -> Iterator[None]:
    """This node's exchange keys (``trm keys init``)."""
    nodekeys.forget_cached_keys()
    nodekeys.init_keys()
    yield
    nodekeys.forget_cached_keys()


@pytest.fixture
def fake_peer(node_keys: None) -> FakePeer:
    return FakePeer()


@pytest.fixture
def peer(fake_peer: FakePeer) -> Peer:
    """The fake peer as an active Peer of this node (its address set later by
    :func:`peer_server`)."""
    return Peer.objects.create(
        node_id=fake_peer.node_id,
        name="Fictional Peer Node",
        country="MD",
        base_url="http://127.0.0.1:9",
        keys=fake_peer.jwks,
        fingerprint=fake_peer.sig_jwk["kid"],
        status=PeerStatus.ACTIVE,
    )


# --- the test message type ---------------------------------------------------------


class NoteV1(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str
    number: int = 0


class NoteRefused(DomainError):
    code = "test.note_refused"


@transaction.atomic(durable=True)
def durable_service(*, text: str) -> None:
    """Stands for a domain service a handler calls (durable, as they are)."""
    audit.record(
        actor=None,
        action="test.note_applied",
        target_type="test.note",
        target_id=text[:40],
    )


@dataclass
class NoteHandler:
    """Records the messages it applies; can be told to refuse them."""

    calls: list[registry.Inbound] = field(default_factory=list)
    refuse: bool = False
    case_id: uuid.UUID | None = None

    def __call__(self, inbound: registry.Inbound) -> uuid.UUID | None:
        # Writes first, so a refusal shows that what it wrote is not kept.
        durable_service(text=str(inbound.msg_id))
        if self.refuse:
            raise NoteRefused("Refused by the fictional handler.")
        self.calls.append(inbound)
        return self.case_id


@pytest.fixture
def note_type() -> Iterator[NoteHandler]:
    """Register ``test.note`` v1 (categories case_summary and risk)."""
    handler = NoteHandler()
    registry.register(
        registry.MessageType(
            name=NOTE_TYPE,
            version=1,
            schema=NoteV1,
            categories=frozenset({"case_summary", "risk"}),
            handler=handler,
            description="A fictional note for the tests.",
        )
    )
    yield handler
    registry.unregister(NOTE_TYPE, 1)


@pytest.fixture
def carrying_note_type(note_type: NoteHandler) -> NoteHandler:
    """``test.note`` whose text counts as a case summary when it is filled."""
    mtype = registry.message_type(NOTE_TYPE, 1)
    assert mtype is not None
    registry.register(
        dataclasses.replace(
            mtype,
            carried=lambda p: {"case_summary"} if getattr(p, "text", "") else set(),
        ),
        replace=True,
    )
    return note_type


# --- a receiving peer over HTTP ------------------------------------------------------


class PeerServer:
    """The fake peer's inbox on 127.0.0.1 (a thread of this process).

    ``mode``: ``ok`` (signed receipts; the original one for a re-delivery),
    ``503``, ``409`` (signed "retry later"), ``reject`` (signed rejection
    ``schema_invalid``), ``forged`` (a receipt signed by a key the peer never
    published), ``wrong_msg`` (a genuine receipt about another message),
    ``wrong_digest`` (a fresh 202 receipt over another digest),
    ``reject_other_body`` (a genuine rejection, but over another body's
    digest), ``refused`` (a handler's refusal ``refused:test.refused`` over
    :attr:`refused_digest`, or this body's digest when it is None),
    ``unknown_key_403`` (an older receiver's signed rejection ``unknown_key``),
    ``too_large`` (a signed rejection ``too_large`` with an empty digest).

    Whatever the mode, a message signed by a key of this node the server does
    not know (:attr:`node_keys`: this node rotated) is answered as the inbox
    does: 409 "retry later" with code ``unknown_key``; :meth:`refresh` then
    takes this node's new keys if a key it trusts signed them.
    """

    def __init__(self, peer: FakePeer, node_keys: dict[str, dict[str, Any]]) -> None:
        self.peer = peer
        self.node_keys = node_keys
        self.mode = "ok"
        #: Messages answered (alone or in a batch), and batch requests taken.
        self.posts = 0
        self.batch_posts = 0
        #: Whether ``POST /exchange/v1/batch`` is served (else 404).
        self.batches = True
        #: msg_id -> original receipt
        self.applied: dict[str, str] = {}
        #: claims of the applied messages, in the order applied
        self.order: list[dict[str, Any]] = []
        self.payloads: list[dict[str, Any]] = []
        self.port = 0
        self.refused_digest: str | None = None
        #: Sign every answer over this digest instead of the body's.
        self.answer_digest: str | None = None
        #: Bodies answered "unknown_key" (this node's signing key unknown).
        self.unknown_key_answers = 0
        self._httpd: http.server.ThreadingHTTPServer | None = None
        #: Serve HTTPS with this context (set before :meth:`start`), e.g. one
        #: that requires a client certificate (test_mtls).
        self.tls: ssl.SSLContext | None = None
        self._lock = threading.Lock()
        self.forger, self.forger_jwk = _keypair("Ed25519", "sig")

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self) -> None:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path.endswith("/batch"):
                    status, answer = server.answer_batch(body)
                else:
                    status, answer = server.answer(body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        httpd.daemon_threads = True
        if self.tls is not None:
            httpd.socket = self.tls.wrap_socket(httpd.socket, server_side=True)
        self.port = httpd.server_address[1]
        self._httpd = httpd
        threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def stop(self) -> None:
        """Go down: connections are refused until :meth:`start` again."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def _sign(
        self, claims: dict[str, Any], *, key: OKPKey | None = None, kid: str = ""
    ) -> str:
        return envelope.sign_receipt(
            claims,
            signing_key=key or self.peer.sig_key,
            signing_kid=kid or self.peer.sig_jwk["kid"],
        )

    def refresh(self) -> bool:
        """Fetch this node's published document, as a peer's worker does,
        and take its keys only if a signing key already trusted signed it."""
        from trm.exchange import peers

        document = nodekeys.published()
        if not peers.verified_signers(document, self.node_keys):
            return False
        self.node_keys = {k["kid"]: k for k in document["keys"] if k["use"] == "sig"}
        return True

    def answer_batch(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """``POST /exchange/v1/batch``: each message answered as alone (404
        when :attr:`batches` is off: a node without the batch endpoint)."""
        if not self.batches:
            return 404, {"error": {"code": "not_found"}}
        self.batch_posts += 1
        if self.mode == "503":
            with self._lock:
                self.posts += 1
            return 503, {"error": {"code": "unavailable"}}
        results = []
        for message in json.loads(body)["messages"]:
            status, answer = self.answer(message.encode("ascii"))
            results.append({"status": status, "body": answer})
        return 200, {"results": results}

    def answer(self, body: bytes) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.posts += 1
            if self.mode == "503":
                return 503, {"error": {"code": "unavailable"}}
            header = envelope.routing(body)
            now = datetime.now(tz=UTC).isoformat()
            digest = self.answer_digest or envelope.body_digest(body)
            if header["skid"] not in self.node_keys:
                self.unknown_key_answers += 1
                token = self._sign(
                    {
                        "msg_id": header["msg_id"],
                        "from": self.peer.node_id,
                        "to": header["from"],
                        "digest": digest,
                        "status": "retry_later",
                        "code": "unknown_key",
                        "received_at": now,
                    }
                )
                return 409, {"retry_later": token, "code": "unknown_key"}
            opened = envelope.open_envelope(
                body, decryption_key=self.peer.enc_key, sender_keys=self.node_keys
            )
            claims = opened.claims
            msg_id = claims["msg_id"]
            receipt = {
                "msg_id": msg_id,
                "from": self.peer.node_id,
                "to": claims["from"],
                "digest": digest,
                "status": "accepted",
                "code": "",
                "received_at": now,
            }
            rejected = {**receipt, "status": "rejected"}
            if self.mode == "reject_other_body":
                token = self._sign(
                    {**rejected, "code": "undecryptable", "digest": "0" * 64}
                )
                return 400, {"rejection": token, "code": "undecryptable"}
            if self.mode == "refused":
                code = "refused:test.refused"
                token = self._sign(
                    {**rejected, "code": code, "digest": self.refused_digest or digest}
                )
                return 422, {"rejection": token, "code": code}
            if self.mode == "unknown_key_403":
                token = self._sign({**rejected, "code": "unknown_key"})
                return 403, {"rejection": token, "code": "unknown_key"}
            if self.mode == "too_large":
                token = self._sign({**rejected, "code": "too_large", "digest": ""})
                return 413, {"rejection": token, "code": "too_large"}
            if self.mode == "409":
                token = self._sign({**receipt, "status": "retry_later"})
                return 409, {"retry_later": token}
            if self.mode == "reject":
                token = self._sign(
                    {**receipt, "status": "rejected", "code": "schema_invalid"}
                )
                return 422, {"rejection": token, "code": "schema_invalid"}
            if self.mode == "forged":
                token = self._sign(receipt, key=self.forger, kid=self.forger_jwk["kid"])
                return 202, {"receipt": token}
            if self.mode == "wrong_msg":
                return 202, {
                    "receipt": self._sign({**receipt, "msg_id": str(uuid.uuid4())})
                }
            if self.mode == "wrong_digest":
                return 202, {"receipt": self._sign({**receipt, "digest": "0" * 64})}
            if msg_id in self.applied:
                return 200, {"receipt": self.applied[msg_id]}
            token = self._sign(receipt)
            self.applied[msg_id] = token
            self.order.append(claims)
            self.payloads.append(opened.payload)
            return 202, {"receipt": token}


@pytest.fixture
def peer_server(peer: Peer, fake_peer: FakePeer) -> Iterator[PeerServer]:
    """The fake peer receiving on 127.0.0.1; the Peer row points at it."""
    server = PeerServer(fake_peer, node_signing_keys())
    server.start()
    peer.base_url = server.url
    peer.save(update_fields=["base_url"])
    yield server
    server.stop()


class Clock:
    """Explicit times for delivery runs, starting a little after now."""

    step: ClassVar[timedelta] = timedelta(seconds=1)

    def __init__(self) -> None:
        self.now = timezone.now() + timedelta(seconds=1)

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()
