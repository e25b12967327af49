"""The envelope (EXCHANGE.md §2): sign then encrypt, open and verify, receipts.

No database: keys are generated here.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from joserfc import jwe, jws

from trm.exchange import envelope
from trm.exchange.nodekeys import canonical
from trm.exchange.tests.conftest import SECRET_TEXT, _keypair


@pytest.fixture
def keys() -> dict[str, Any]:
    sig, sig_jwk = _keypair("Ed25519", "sig")
    enc, enc_jwk = _keypair("X25519", "enc")
    return {"sig": sig, "sig_jwk": sig_jwk, "enc": enc, "enc_jwk": enc_jwk}


def claims(**overrides: Any) -> dict[str, Any]:
    return {
        "msg_id": str(uuid.uuid4()),
        "from": "node-a",
        "to": "node-b",
        "type": "test.note",
        **overrides,
    }


def seal(keys: dict[str, Any], **overrides: Any) -> str:
    return envelope.seal(
        claims=claims(**overrides),
        payload={"text": SECRET_TEXT},
        signing_key=keys["sig"],
        signing_kid=keys["sig_jwk"]["kid"],
        recipient_jwk=keys["enc_jwk"],
    )


def open_(keys: dict[str, Any], body: str, **kwargs: Any) -> envelope.Opened:
    return envelope.open_envelope(
        body,
        decryption_key=kwargs.get("decryption_key", keys["enc"]),
        sender_keys=kwargs.get(
            "sender_keys", {keys["sig_jwk"]["kid"]: keys["sig_jwk"]}
        ),
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_sealed_message_opens_to_its_claims_and_payload(keys):
    body = seal(keys)

    opened = open_(keys, body)

    assert opened.payload == {"text": SECRET_TEXT}
    assert opened.claims["from"] == "node-a"
    assert opened.signing_kid == keys["sig_jwk"]["kid"]


def test_in_transit_only_the_routing_fields_are_readable(keys):
    body = seal(keys, msg_id="00000000-0000-4000-8000-000000000001")

    header = envelope.routing(body)

    assert {k: header[k] for k in ("from", "to", "msg_id")} == {
        "from": "node-a",
        "to": "node-b",
        "msg_id": "00000000-0000-4000-8000-000000000001",
    }
    assert "type" not in header
    assert SECRET_TEXT not in body
    for part in body.split("."):
        padded = part + "=" * (-len(part) % 4)
        assert SECRET_TEXT.encode() not in base64.urlsafe_b64decode(padded)


def test_an_altered_ciphertext_does_not_open(keys):
    parts = seal(keys).split(".")
    parts[3] = ("B" if parts[3][0] == "A" else "A") + parts[3][1:]

    with pytest.raises(envelope.EnvelopeError) as caught:
        open_(keys, ".".join(parts))

    assert caught.value.code == "undecryptable"


def test_an_altered_routing_header_does_not_open(keys):
    parts = seal(keys).split(".")
    header = json.loads(base64.urlsafe_b64decode(parts[0] + "=="))
    header["to"] = "node-c"
    parts[0] = b64(json.dumps(header).encode())

    with pytest.raises(envelope.EnvelopeError) as caught:
        open_(keys, ".".join(parts))

    assert caught.value.code == "undecryptable"


def test_the_wrong_decryption_key_does_not_open(keys):
    other, _jwk = _keypair("X25519", "enc")

    with pytest.raises(envelope.EnvelopeError) as caught:
        open_(keys, seal(keys), decryption_key=other)

    assert caught.value.code == "undecryptable"


def test_a_signing_key_the_sender_never_published_is_unknown(keys):
    with pytest.raises(envelope.EnvelopeError) as caught:
        open_(keys, seal(keys), sender_keys={})

    assert caught.value.code == "unknown_key"


def test_a_signature_by_another_key_under_a_known_kid_is_bad(keys):
    _other, other_jwk = _keypair("Ed25519", "sig")
    impostor = {keys["sig_jwk"]["kid"]: {**other_jwk, "kid": keys["sig_jwk"]["kid"]}}

    with pytest.raises(envelope.EnvelopeError) as caught:
        open_(keys, seal(keys), sender_keys=impostor)

    assert caught.value.code == "bad_signature"


def test_routing_fields_that_differ_from_the_signed_ones_are_refused(keys):
    """A signed message re-wrapped under another routing header."""
    signed = claims(to="node-b")
    inner = jws.serialize_compact(
        {"alg": "Ed25519", "kid": keys["sig_jwk"]["kid"]},
        canonical({"claims": signed, "payload": {}}),
        keys["sig"],
        algorithms=["Ed25519"],
    )
    header = {
        "alg": "ECDH-ES+A256KW",
        "enc": "A256GCM",
        "kid": keys["enc_jwk"]["kid"],
        "skid": keys["sig_jwk"]["kid"],
        "from": "node-a",
        "to": "node-z",
        "msg_id": signed["msg_id"],
    }
    body = jwe.encrypt_compact(
        header, inner.encode(), keys["enc"], registry=envelope._REGISTRY
    )

    with pytest.raises(envelope.EnvelopeError) as caught:
        open_(keys, body)

    assert caught.value.code == "header_mismatch"


@pytest.mark.parametrize(
    "body",
    ["", "garbage", "e30.a.b.c.d", b64(b'{"from": "x"}') + ".a.b.c.d", "\xff\xfe"],
)
def test_a_body_without_routing_fields_is_malformed(body):
    with pytest.raises(envelope.EnvelopeError) as caught:
        envelope.routing(body)

    assert caught.value.code == "malformed"


def test_a_receipt_verifies_with_the_signers_key(keys):
    receipt = {"msg_id": "m", "status": "accepted", "digest": "d" * 64}
    token = envelope.sign_receipt(
        receipt, signing_key=keys["sig"], signing_kid=keys["sig_jwk"]["kid"]
    )

    assert (
        envelope.verify_receipt(
            token, signer_keys={keys["sig_jwk"]["kid"]: keys["sig_jwk"]}
        )
        == receipt
    )


def test_an_altered_receipt_does_not_verify(keys):
    token = envelope.sign_receipt(
        {"status": "rejected"},
        signing_key=keys["sig"],
        signing_kid=keys["sig_jwk"]["kid"],
    )
    header, _payload, signature = token.split(".")
    forged = ".".join([header, b64(b'{"status":"accepted"}'), signature])

    with pytest.raises(envelope.EnvelopeError) as caught:
        envelope.verify_receipt(
            forged, signer_keys={keys["sig_jwk"]["kid"]: keys["sig_jwk"]}
        )

    assert caught.value.code == "bad_signature"


def test_a_receipt_by_an_unknown_key_does_not_verify(keys):
    token = envelope.sign_receipt(
        {"status": "accepted"}, signing_key=keys["sig"], signing_kid="someone-else"
    )

    with pytest.raises(envelope.EnvelopeError) as caught:
        envelope.verify_receipt(
            token, signer_keys={keys["sig_jwk"]["kid"]: keys["sig_jwk"]}
        )

    assert caught.value.code == "unknown_key"


def test_the_digest_is_of_exactly_the_bytes():
    assert envelope.body_digest("abc") == envelope.body_digest(b"abc")
    assert envelope.body_digest(b"abc") != envelope.body_digest(b"abd")
