"""This node's exchange keys: create, rotate, load, publish.

Two key pairs (EXCHANGE.md §2): an Ed25519 signing key and an X25519
encryption key, each a JWK with a ``kid`` (its RFC 7638 thumbprint). Private
keys are stored sealed under the node's ``exchange`` purpose key (itself
wrapped by the KEK), so a database dump holds no usable private key. Rotation
retires the current pair and creates a new one; retired public keys stay
published so peers can verify old receipts, and retired private keys stay so
messages encrypted to the old key in flight can still be read.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from typing import Any, Literal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from joserfc import jws
from joserfc.jwk import OKPKey

from trm.dataprotection.crypto import seal_node, unseal_node
from trm.exchange.models import ExchangeKey, KeyUse

PURPOSE = "exchange"
CURVES: dict[str, Literal["Ed25519", "X25519"]] = {
    KeyUse.SIGNING: "Ed25519",
    KeyUse.ENCRYPTION: "X25519",
}

_cache_lock = threading.Lock()
_private_cache: dict[str, OKPKey] = {}


class NoNodeKeys(RuntimeError):
    """The node has no exchange keys yet: run ``trm keys init``."""


def _context(kid: str) -> bytes:
    return f"trm:exchange-key:{kid}".encode()


def thumbprint(public_jwk: dict[str, Any]) -> str:
    """Return the RFC 7638 SHA-256 thumbprint (base64url) of a public JWK."""
    return str(OKPKey.import_key(public_jwk).thumbprint())


def _create(use: str) -> ExchangeKey:
    key = OKPKey.generate_key(CURVES[KeyUse(use)], private=True)
    public = key.as_dict(private=False)
    kid = str(key.thumbprint())
    public.update(
        {"kid": kid, "use": use, "alg": "Ed25519" if use == "sig" else "ECDH-ES+A256KW"}
    )
    private = json.dumps(key.as_dict(private=True), sort_keys=True).encode()
    return ExchangeKey.objects.create(
        kid=kid,
        use=use,
        public_jwk=public,
        private_sealed=seal_node(PURPOSE, private, context=_context(kid)),
        created_at=timezone.now(),
    )


#: How long a process trusts its cached current keys (seconds). A rotation
#: made by another process is seen within this time; until then receipts are
#: still signed with the just-retired key, which peers keep accepting.
CURRENT_CACHE_SECONDS = 5.0
_current_cache: dict[str, tuple[float, ExchangeKey]] = {}


def has_keys() -> bool:
    """Whether the node has a current signing and encryption key."""
    try:
        current(KeyUse.SIGNING)
        current(KeyUse.ENCRYPTION)
    except NoNodeKeys:
        return False
    return True


@transaction.atomic
def init_keys() -> bool:
    """Create the node's key pairs if it has none; return True if created."""
    with _cache_lock:
        _current_cache.clear()
    present = set(
        ExchangeKey.objects.filter(retired_at__isnull=True).values_list(
            "use", flat=True
        )
    )
    if present >= {KeyUse.SIGNING, KeyUse.ENCRYPTION}:
        return False
    for use in (KeyUse.SIGNING, KeyUse.ENCRYPTION):
        if use not in present:
            _create(use)
    return True


@transaction.atomic
def rotate_keys() -> tuple[str, str]:
    """Retire the current key pairs and create new ones.

    Returns:
        The new (signing kid, encryption kid). Peers accept the new keys when
        they refresh this node's published document, which is signed with the
        *old* signing key as well (key continuity; see :func:`published`).
    """
    now = timezone.now()
    ExchangeKey.objects.filter(retired_at__isnull=True).update(retired_at=now)
    sig = _create(KeyUse.SIGNING)
    enc = _create(KeyUse.ENCRYPTION)
    with _cache_lock:
        _current_cache.clear()
    return sig.kid, enc.kid


def current(use: str) -> ExchangeKey:
    """Return the current key of ``use``.

    Cached per process for :data:`CURRENT_CACHE_SECONDS` (the inbox and the
    worker ask for every message).

    Raises:
        NoNodeKeys: none yet.
    """
    moment = time.monotonic()
    with _cache_lock:
        hit = _current_cache.get(use)
    if hit is not None and hit[0] > moment:
        return hit[1]
    key = (
        ExchangeKey.objects.filter(use=use, retired_at__isnull=True)
        .order_by("-created_at")
        .first()
    )
    if key is None:
        raise NoNodeKeys("This node has no exchange keys: run `trm keys init`.")
    with _cache_lock:
        _current_cache[use] = (moment + CURRENT_CACHE_SECONDS, key)
    return key


def private_key(kid: str) -> OKPKey:
    """Return the private key ``kid`` (unsealed, cached per process).

    Raises:
        ExchangeKey.DoesNotExist: no such key on this node.
    """
    with _cache_lock:
        cached = _private_cache.get(kid)
    if cached is not None:
        return cached
    row = ExchangeKey.objects.get(kid=kid)
    raw = unseal_node(PURPOSE, row.private_sealed, context=_context(kid))
    key = OKPKey.import_key(json.loads(raw))
    with _cache_lock:
        _private_cache[kid] = key
    return key


def forget_cached_keys() -> None:
    """Drop cached keys (tests; after rotation in another process)."""
    with _cache_lock:
        _private_cache.clear()
        _current_cache.clear()


def fingerprint() -> str:
    """The fingerprint peers check out of band: the current signing key's kid."""
    return current(KeyUse.SIGNING).kid


def public_keys() -> list[dict[str, Any]]:
    """Every public key of this node (current first), retired ones marked."""
    rows = ExchangeKey.objects.order_by("retired_at", "-created_at")
    out = []
    for row in rows:
        jwk = dict(row.public_jwk)
        if row.retired_at is not None:
            jwk["retired_at"] = row.retired_at.isoformat()
        out.append(jwk)
    return out


def published_organisations() -> list[dict[str, Any]]:
    """This node's active organisations, as peers mirror them.

    Public directory data only (id, name, country, HTCDS type, TRM functions):
    a peer needs them to address a referral to one of them.
    """
    from trm.accounts.models import Organisation

    rows = Organisation.objects.filter(home_node="", is_active=True).order_by("pk")
    return [
        {
            "id": str(org.pk),
            "name": org.name,
            "country": org.country.code or "",
            "org_type": org.org_type,
            "functions": list(org.functions),
        }
        for org in rows
    ]


def published() -> dict[str, Any]:
    """The document served at ``/.well-known/trm-node.json``.

    Shape: ``{"node_id", "country", "name", "inbox", "fingerprint",
    "keys": [JWK…], "organisations": [{"id", "name", "country", "org_type",
    "functions"}…] (:func:`published_organisations`),
    "signatures": [compact JWS over the canonical document
    without "signatures", one per unretired and most recently retired signing
    key]}``. A peer that trusts any of the signing keys can accept the others.
    """
    document: dict[str, Any] = {
        "node_id": settings.TRM_NODE_ID,
        "country": settings.TRM_COUNTRY,
        "name": settings.TRM_NODE_NAME,
        "inbox": "/exchange/v1/messages",
        "fingerprint": fingerprint(),
        "keys": public_keys(),
        "organisations": published_organisations(),
    }
    body = canonical(document)
    signers = list(
        ExchangeKey.objects.filter(use=KeyUse.SIGNING).order_by(
            "retired_at", "-created_at"
        )[:2]
    )
    document["signatures"] = [
        jws.serialize_compact(
            {"alg": "Ed25519", "kid": row.kid},
            body,
            private_key(row.kid),
            algorithms=["Ed25519"],
        )
        for row in signers
    ]
    return document


def canonical(value: Any) -> bytes:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 (what is signed)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
