"""The envelope: sign, then encrypt (EXCHANGE.md §2).

Plaintext of the JWE is a compact JWS (Ed25519) over the canonical JSON
``{"claims": {...}, "payload": {...}}``. The JWE (``ECDH-ES+A256KW`` /
``A256GCM``, to the recipient's X25519 key) carries in its protected header only
the routing fields a proxy needs: ``from``, ``to``, ``msg_id`` and the key ids.
After decrypting, the receiver checks that the signed claims repeat those
routing fields, so a header cannot be swapped onto another message.

Receipts and rejections are compact JWS signed by the receiver over
``{"msg_id", "from", "to", "digest", "status", "code", "received_at"}`` where
``digest`` is the SHA-256 (hex) of exactly the body it received.

Every call passes an explicit algorithm allow-list (joserfc refuses others).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from joserfc import jwe, jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey
from joserfc.registry import HeaderParameter

from trm.exchange.nodekeys import canonical, sha256_hex

SIG_ALGORITHMS = ["Ed25519"]
ENC_ALGORITHMS = ["ECDH-ES+A256KW", "A256GCM"]
ROUTING = ("from", "to", "msg_id")

#: The JWE header may carry the routing fields and the signing key id (strings).
_REGISTRY = jwe.JWERegistry(
    header_registry={
        name: HeaderParameter(f"TRM routing field {name}", "str")
        for name in (*ROUTING, "skid")
    },
    algorithms=ENC_ALGORITHMS,
)


class EnvelopeError(Exception):
    """A message or receipt could not be opened or verified.

    ``code`` is the stable rejection code: ``malformed``, ``undecryptable``,
    ``unknown_key``, ``bad_signature``, ``header_mismatch``.
    """

    def __init__(self, code: str, message: str = ""):
        super().__init__(message or code)
        self.code = code


@dataclass(frozen=True)
class Opened:
    """A decrypted and verified message."""

    claims: dict[str, Any]
    payload: dict[str, Any]
    signing_kid: str


def routing(body: bytes | str) -> dict[str, Any]:
    """Read the routing fields of a compact JWE without decrypting it.

    Raises:
        EnvelopeError: ``malformed``.
    """
    text = body.decode("ascii", "replace") if isinstance(body, bytes) else body
    try:
        header_b64 = text.split(".", 1)[0]
        from joserfc.util import urlsafe_b64decode

        header = json.loads(urlsafe_b64decode(header_b64.encode()))
    except (ValueError, IndexError, TypeError, RecursionError) as exc:
        raise EnvelopeError("malformed", "not a compact JWE") from exc
    if not isinstance(header, dict) or not all(
        isinstance(header.get(k), str) for k in (*ROUTING, "kid", "skid")
    ):
        raise EnvelopeError("malformed", "routing fields missing")
    return header


def seal(
    *,
    claims: dict[str, Any],
    payload: dict[str, Any],
    signing_key: OKPKey,
    signing_kid: str,
    recipient_jwk: dict[str, Any],
) -> str:
    """Sign ``{"claims", "payload"}`` and encrypt it to the recipient.

    Args:
        claims: must include ``from``, ``to`` and ``msg_id`` (strings).
        recipient_jwk: the peer's public X25519 JWK (with ``kid``).

    Returns:
        The compact JWE (ASCII).
    """
    inner = jws.serialize_compact(
        {"alg": "Ed25519", "kid": signing_kid},
        canonical({"claims": claims, "payload": payload}),
        signing_key,
        algorithms=SIG_ALGORITHMS,
    )
    header = {
        "alg": "ECDH-ES+A256KW",
        "enc": "A256GCM",
        "kid": recipient_jwk["kid"],
        "skid": signing_kid,
        **{k: str(claims[k]) for k in ROUTING},
    }
    return jwe.encrypt_compact(
        header,
        inner.encode(),
        OKPKey.import_key(recipient_jwk),
        registry=_REGISTRY,
    )


def open_envelope(
    body: bytes | str,
    *,
    decryption_key: OKPKey,
    sender_keys: dict[str, dict[str, Any]],
) -> Opened:
    """Decrypt and verify a message.

    Args:
        decryption_key: this node's private X25519 key named by the header's kid.
        sender_keys: the sender's public signing JWKs by kid.

    Raises:
        EnvelopeError: with the rejection code.
    """
    header = routing(body)
    try:
        decrypted = jwe.decrypt_compact(body, decryption_key, registry=_REGISTRY)
    except (JoseError, ValueError) as exc:
        raise EnvelopeError("undecryptable", type(exc).__name__) from exc
    inner = decrypted.plaintext or b""
    jwk = sender_keys.get(header["skid"])
    if jwk is None:
        raise EnvelopeError("unknown_key", "signed by a key the peer never published")
    try:
        verified = jws.deserialize_compact(
            inner, OKPKey.import_key(jwk), algorithms=SIG_ALGORITHMS
        )
    except (JoseError, ValueError, RecursionError) as exc:
        raise EnvelopeError("bad_signature", type(exc).__name__) from exc
    if verified.protected.get("kid") != header["skid"]:
        raise EnvelopeError("header_mismatch", "signing key id differs")
    try:
        document = json.loads(verified.payload)
        claims, payload = document["claims"], document["payload"]
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise EnvelopeError("malformed", "signed content is not a message") from exc
    if not isinstance(claims, dict) or not isinstance(payload, dict):
        raise EnvelopeError("malformed", "signed content is not a message")
    if any(str(claims.get(k)) != header[k] for k in ROUTING):
        raise EnvelopeError(
            "header_mismatch", "routing fields differ from the signed ones"
        )
    return Opened(claims=claims, payload=payload, signing_kid=header["skid"])


def body_digest(body: bytes | str) -> str:
    """SHA-256 (hex) of exactly the bytes received or sent."""
    return sha256_hex(body.encode("ascii") if isinstance(body, str) else body)


def sign_receipt(
    claims: dict[str, Any], *, signing_key: OKPKey, signing_kid: str
) -> str:
    """Return a compact JWS receipt (or rejection) over ``claims``."""
    return jws.serialize_compact(
        {"alg": "Ed25519", "kid": signing_kid},
        canonical(claims),
        signing_key,
        algorithms=SIG_ALGORITHMS,
    )


def verify_receipt(
    token: str, *, signer_keys: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Verify a receipt signed by a peer and return its claims.

    Raises:
        EnvelopeError: ``malformed``, ``unknown_key`` or ``bad_signature``.
    """
    try:
        header_b64 = token.split(".", 1)[0]
        from joserfc.util import urlsafe_b64decode

        kid = json.loads(urlsafe_b64decode(header_b64.encode())).get("kid")
    except (ValueError, IndexError, TypeError, AttributeError, RecursionError) as exc:
        raise EnvelopeError("malformed", "not a compact JWS") from exc
    jwk = signer_keys.get(str(kid))
    if jwk is None:
        raise EnvelopeError("unknown_key", "receipt signed by an unknown key")
    try:
        verified = jws.deserialize_compact(
            token, OKPKey.import_key(jwk), algorithms=SIG_ALGORITHMS
        )
        claims = json.loads(verified.payload)
    except (JoseError, ValueError, RecursionError) as exc:
        raise EnvelopeError("bad_signature", type(exc).__name__) from exc
    if not isinstance(claims, dict):
        raise EnvelopeError("malformed", "receipt is not an object")
    return claims
