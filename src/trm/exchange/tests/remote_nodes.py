"""A fictional peer node for the peer tests: its keys and published document.

:class:`RemoteNode` builds the document a real node serves at
``/.well-known/trm-node.json`` (as :func:`trm.exchange.nodekeys.published`
does: keys, organisations, signatures by the current and the most recently
retired signing key), can rotate its keys, and serves the document either to
an httpx client through a fake transport (:meth:`RemoteNode.client`) or over
HTTP on 127.0.0.1 (:class:`DocumentServer`) for the command and page tests.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from joserfc import jws
from joserfc.jwk import OKPKey

from trm.exchange.nodekeys import canonical
from trm.exchange.peers import WELL_KNOWN_PATH


def new_key(use: str) -> tuple[OKPKey, dict[str, Any]]:
    key = OKPKey.generate_key("Ed25519" if use == "sig" else "X25519", private=True)
    public = key.as_dict(private=False)
    public.update(
        {
            "kid": str(key.thumbprint()),
            "use": use,
            "alg": "Ed25519" if use == "sig" else "ECDH-ES+A256KW",
        }
    )
    return key, public


class RemoteNode:
    """A fictional peer node (keys made here, nothing real)."""

    def __init__(
        self,
        node_id: str = "fictional-md",
        *,
        country: str = "MD",
        name: str = "Fictional Moldovan node",
    ) -> None:
        self.node_id = node_id
        self.country = country
        self.name = name
        # (private key, public JWK, retired_at or None), newest first per use.
        self.keys: list[tuple[OKPKey, dict[str, Any], str | None]] = []
        for use in ("sig", "enc"):
            private, public = new_key(use)
            self.keys.append((private, public, None))
        self.organisations: list[dict[str, Any]] = [
            {
                "id": str(uuid.uuid4()),
                "name": "Fictional Chisinau Shelter",
                "country": country,
                "org_type": "NGO",
                "functions": ["SP"],
            },
            {
                "id": str(uuid.uuid4()),
                "name": "Fictional National Referral Office",
                "country": country,
                "org_type": "CentralGovernmentOrganisation",
                "functions": ["NCP"],
            },
        ]
        #: Change the document after signing (tests of tampering).
        self.after_signing: Callable[[dict[str, Any]], None] | None = None
        #: Sign with these keys instead of the published ones.
        self.signers: list[OKPKey] | None = None
        self.fingerprint_override: str | None = None

    def signing_keys(self) -> list[tuple[OKPKey, dict[str, Any], str | None]]:
        return [k for k in self.keys if k[1]["use"] == "sig"]

    @property
    def fingerprint(self) -> str:
        current = [k for k in self.signing_keys() if k[2] is None]
        return str(current[0][1]["kid"])

    def public_jwk(self, use: str) -> dict[str, Any]:
        return next(k[1] for k in self.keys if k[1]["use"] == use and k[2] is None)

    def rotate(self) -> str:
        """Retire the current keys and make new ones (``trm keys rotate``)."""
        now = datetime.now(tz=UTC).isoformat()
        self.keys = [(p, j, r or now) for p, j, r in self.keys]
        fresh = []
        for use in ("sig", "enc"):
            private, public = new_key(use)
            fresh.append((private, public, None))
        self.keys = fresh + self.keys
        return self.fingerprint

    def document(self) -> dict[str, Any]:
        """The published document, signed as a node signs it."""
        keys = []
        for _private, public, retired in self.keys:
            jwk = dict(public)
            if retired:
                jwk["retired_at"] = retired
            keys.append(jwk)
        document: dict[str, Any] = {
            "node_id": self.node_id,
            "country": self.country,
            "name": self.name,
            "inbox": "/exchange/v1/messages",
            "fingerprint": self.fingerprint_override or self.fingerprint,
            "keys": keys,
            "organisations": self.organisations,
        }
        body = canonical(document)
        signers = self.signers or [k[0] for k in self.signing_keys()[:2]]
        document["signatures"] = [
            jws.serialize_compact(
                {"alg": "Ed25519", "kid": str(key.thumbprint())},
                body,
                key,
                algorithms=["Ed25519"],
            )
            for key in signers
        ]
        if self.after_signing is not None:
            self.after_signing(document)
        return document

    def client(self) -> httpx.Client:
        """An httpx client whose transport answers as this node would."""

        def answer(request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith(WELL_KNOWN_PATH):
                return httpx.Response(200, json=self.document())
            return httpx.Response(404)

        return httpx.Client(transport=httpx.MockTransport(answer))


class DocumentServer:
    """Serve a node's published document on 127.0.0.1 (a random port)."""

    def __init__(self, document: Callable[[], dict[str, Any]]) -> None:
        self.document = document
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                if self.path != WELL_KNOWN_PATH:
                    self.send_error(404)
                    return
                body = json.dumps(server.document()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --- rows for the operator view ---------------------------------------------------

#: Appears only inside sealed payloads: a page or answer showing it leaked one.
SECRET = "Fictional-Secret-Payload-7d1c"


def make_peer(node_id: str = "fictional-md", *, country: str = "MD") -> Any:
    """A Peer row with a fresh fictional node's public keys (no network)."""
    from trm.exchange.models import Peer

    remote = RemoteNode(node_id, country=country)
    return Peer.objects.create(
        node_id=node_id,
        name=remote.name,
        country=country,
        base_url=f"https://{node_id}.example.invalid",
        keys=[remote.public_jwk("sig"), remote.public_jwk("enc")],
        fingerprint=remote.fingerprint,
    )


def outgoing(peer: Any, status: str = "pending", **fields: Any) -> Any:
    """An outbox row as enqueue() writes it (payload sealed), in ``status``."""
    from django.utils import timezone

    from trm.dataprotection.crypto import seal_node
    from trm.exchange.models import OutboxMessage
    from trm.exchange.nodekeys import PURPOSE, sha256_hex
    from trm.exchange.services import payload_context

    msg_id = fields.pop("msg_id", None) or uuid.uuid4()
    payload = fields.pop("payload", {"note": SECRET})
    now = fields.pop("created_at", None) or timezone.now()
    body = canonical(payload)
    values: dict[str, Any] = {
        "type": "fictional.note",
        "legal_basis": "consent:" + str(uuid.uuid4()),
        "categories": ["case_summary"],
        "next_attempt_at": now,
        "created_at": now,
    }
    values.update(fields)
    return OutboxMessage.objects.create(
        msg_id=msg_id,
        peer=peer,
        status=status,
        payload_sealed=seal_node(PURPOSE, body, context=payload_context(msg_id, "out")),
        payload_digest=sha256_hex(body),
        **values,
    )


def incoming(peer: Any, status: str = "applied", **fields: Any) -> Any:
    """An inbox row as the inbox records it, with a receipt this node signed."""
    from django.utils import timezone

    from trm.dataprotection.crypto import seal_node
    from trm.exchange import envelope, nodekeys
    from trm.exchange.models import InboxMessage, KeyUse
    from trm.exchange.services import payload_context

    msg_id = fields.pop("msg_id", None) or uuid.uuid4()
    payload = fields.pop("payload", {"note": SECRET})
    now = fields.pop("received_at", None) or timezone.now()
    kid = nodekeys.current(KeyUse.SIGNING).kid
    receipt = envelope.sign_receipt(
        {
            "msg_id": str(msg_id),
            "from": "test-node",
            "to": peer.node_id,
            "digest": "a" * 64,
            "status": "accepted" if status == "applied" else "rejected",
            "code": "",
            "received_at": now.isoformat(),
        },
        signing_key=nodekeys.private_key(kid),
        signing_kid=kid,
    )
    values: dict[str, Any] = {
        "type": "fictional.note",
        "legal_basis": "pseudonymous",
        "categories": ["risk"],
        "envelope_digest": "a" * 64,
    }
    values.update(fields)
    return InboxMessage.objects.create(
        peer=peer,
        msg_id=msg_id,
        status=status,
        received_at=now,
        receipt=receipt,
        payload_sealed=seal_node(
            nodekeys.PURPOSE, canonical(payload), context=payload_context(msg_id, "in")
        ),
        **values,
    )
