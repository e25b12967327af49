"""Peers: the nodes this node trusts, and their writers.

A peer is added by an administrator who checked the fingerprint of its
signing key out of band (a telephone call, a signed letter): :func:`peer_add`
fetches the peer's published document (``/.well-known/trm-node.json``, see
:func:`trm.exchange.nodekeys.published`), and accepts it only if the
fingerprint typed is the document's, names one of its current Ed25519 signing
keys, and that key's signature over the document verifies. Nothing is ever
trusted on first use.

:func:`peer_refresh` fetches the document again. New keys (after the peer ran
``trm keys rotate``) are accepted only when the document is signed by a
signing key already trusted for the peer (key continuity), or when the
administrator gives the new fingerprint checked out of band. Keys the peer no
longer publishes are kept, marked retired, so old receipts still verify. A
change of the peer's country is refused unless an administrator confirms it
(consents name the country data may go to). :func:`request_refresh` asks the
worker to refresh a peer that signed with a key this node does not know yet.

Both also mirror the peer's organisations (public directory data) as
:class:`~trm.accounts.models.Organisation` rows with ``home_node`` = the peer
and ``remote_id`` = their id there, so a referral can be addressed to them
(:func:`trm.accounts.peer_organisations.record_peer_organisation`, the one
writer of such rows).

Every writer takes ``actor`` (None from the command line) and writes one audit
entry; the network fetch happens before the transaction opens.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_countries.data import COUNTRIES
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from trm.accounts.errors import PeerOrganisationRefused
from trm.accounts.models import Organisation, User
from trm.accounts.peer_organisations import (
    CREATED,
    UPDATED,
    record_peer_organisation,
)
from trm.accounts.permissions import require_node_administrator
from trm.audit import services as audit
from trm.common.env import validate_node_id
from trm.common.text import InvalidText, clean_text
from trm.exchange import nodekeys, transport
from trm.exchange.errors import (
    FingerprintMismatch,
    KeyContinuityBroken,
    PeerCountryChanged,
    PeerDocumentInvalid,
    PeerExists,
    PeerInputInvalid,
    PeerInUse,
    PeerIsThisNode,
    PeerNotFound,
    PeerUnreachable,
)
from trm.exchange.models import (
    Conversation,
    ExchangeKey,
    InboxMessage,
    OutboxMessage,
    Peer,
    PeerStatus,
)

WELL_KNOWN_PATH = "/.well-known/trm-node.json"
#: The whole fetch of a published document (connect, headers, body), seconds.
FETCH_TIMEOUT_SECONDS = 10.0
#: A published document is a few kilobytes (plus one line per organisation).
MAX_DOCUMENT_BYTES = 2_000_000
#: An RFC 7638 SHA-256 thumbprint in base64url without padding.
_FINGERPRINT = re.compile(r"[A-Za-z0-9_-]{43}")
_CURVES = {"sig": "Ed25519", "enc": "X25519"}
_PUBLIC_MEMBERS = ("kty", "crv", "x", "kid", "use", "alg", "retired_at")
_MAX_KEYS = 100
_MAX_ORGANISATIONS = 10_000


@dataclass(frozen=True)
class MirrorCounts:
    """What mirroring a peer's organisations changed."""

    created: int = 0
    updated: int = 0
    deactivated: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class PeerChange:
    """The outcome of :func:`peer_add` or :func:`peer_refresh`."""

    peer: Peer
    new_keys: list[str] = field(default_factory=list)
    retired_keys: list[str] = field(default_factory=list)
    fingerprint_changed: bool = False
    organisations: MirrorCounts = MirrorCounts()


@dataclass(frozen=True)
class _Document:
    """A published document whose shape was checked (signatures not yet)."""

    raw: dict[str, Any]
    node_id: str
    country: str
    name: str
    fingerprint: str
    keys: list[dict[str, Any]]
    organisations: list[Any] | None

    def current_signing_key(self, kid: str) -> dict[str, Any] | None:
        for key in self.keys:
            if key["kid"] == kid and key["use"] == "sig" and "retired_at" not in key:
                return key
        return None


# --- input -----------------------------------------------------------------------


def normalise_url(url: str) -> str:
    """Return the peer's base URL without a trailing slash, or refuse it.

    Raises:
        PeerInputInvalid: not an http(s) URL of a host, or with a query,
            fragment, user name or password.
    """
    text = (url or "").strip().rstrip("/")
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
        parts = urlsplit("")
    if (
        not port_ok
        or parts.scheme not in {"http", "https"}
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
        or parts.query
        or parts.fragment
        or len(text) > 300
        or any(ch.isspace() for ch in text)
    ):
        raise PeerInputInvalid(
            _(
                "Give the peer's address as http(s)://host[:port][/path], without "
                "a query or a user name (e.g. https://trm.example.org)."
            ),
            details={"field": "url"},
        )
    return text


def clean_fingerprint(value: str) -> str:
    """Return the fingerprint without spaces, or refuse it.

    Raises:
        PeerInputInvalid: not 43 characters of base64url.
    """
    text = "".join((value or "").split())
    if not _FINGERPRINT.fullmatch(text):
        raise PeerInputInvalid(
            _(
                "A fingerprint is 43 characters: letters, digits, '-' and '_'. "
                "Ask the peer's administrator to read it from `trm keys show`."
            ),
            details={"field": "fingerprint"},
        )
    return text


def _require_admin(actor: User | None) -> None:
    # None is the command line: whoever runs `trm` already controls the node.
    if actor is not None:
        require_node_administrator(actor)


# --- the published document --------------------------------------------------------


#: TLS alerts a peer's proxy sends when it wants, or refuses, this node's
#: client certificate (``tls:<reason>``, :func:`trm.exchange.transport._cause`):
#: none sent (TLS 1.3: certificate required; TLS 1.2: handshake failure), or
#: one it does not accept (unknown CA, bad, expired, revoked...).
CLIENT_CERTIFICATE_REFUSALS = frozenset(
    f"tls:{reason}"
    for reason in (
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_REVOKED",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "TLSV1_ALERT_UNKNOWN_CA",
        "TLSV1_ALERT_ACCESS_DENIED",
    )
)


def _client_certificate_hint() -> str:
    """The one hint for a peer's proxy that refuses this node (docs/exchange.md,
    "TLS and client certificates"): an HTTP 403 or a TLS alert."""
    return _(
        "The peer's proxy may require this node's client certificate "
        "(TRM_EXCHANGE_CLIENT_CERT_FILE and TRM_EXCHANGE_CLIENT_KEY_FILE), "
        "signed by a CA it trusts."
    )


def fetch_document(
    base_url: str, *, client: httpx.Client | None = None
) -> dict[str, Any]:
    """GET ``<base_url>/.well-known/trm-node.json`` and return it parsed.

    The whole fetch must end within :data:`FETCH_TIMEOUT_SECONDS` (a peer that
    trickles its answer is cut off, :func:`trm.exchange.transport.
    bounded_request`) and the document may not exceed
    :data:`MAX_DOCUMENT_BYTES`.

    Args:
        client: an httpx client (tests pass one with a fake transport); by
            default a new :func:`trm.exchange.transport.http_client` (no
            redirects; the node's client certificate and trusted CAs).

    Raises:
        PeerUnreachable: a network error, the deadline passed, or an answer
            other than 200.
        PeerDocumentInvalid: not a JSON object, or too large.
    """
    url = base_url + WELL_KNOWN_PATH
    http = client or transport.http_client()
    try:
        answer = transport.bounded_request(
            http,
            "GET",
            url,
            seconds=FETCH_TIMEOUT_SECONDS,
            max_bytes=MAX_DOCUMENT_BYTES,
            headers={"Accept": "application/json"},
        )
    except transport.TransferError as exc:
        if exc.code == "too_large":
            raise PeerDocumentInvalid(
                _("The peer's published document is too large."),
                details={"reason": "too_large"},
            ) from None
        if exc.code == "timeout":
            raise PeerUnreachable(
                _("The peer did not answer within %(seconds)s seconds at %(url)s.")
                % {"seconds": f"{FETCH_TIMEOUT_SECONDS:g}", "url": url},
                details={"reason": "timeout"},
            ) from None
        message = _("The peer could not be reached at %(url)s (%(reason)s).") % {
            "url": url,
            "reason": exc.cause,
        }
        if exc.cause in CLIENT_CERTIFICATE_REFUSALS:
            message = f"{message} {_client_certificate_hint()}"
        raise PeerUnreachable(message, details={"reason": exc.cause}) from None
    finally:
        if client is None:
            http.close()
    if answer.status_code != 200:
        message = _("The peer answered HTTP %(status)s at %(url)s.") % {
            "status": answer.status_code,
            "url": url,
        }
        if answer.status_code == 403:
            # nginx with ``ssl_verify_client optional`` answers 403 without a
            # client certificate it trusts.
            message = f"{message} {_client_certificate_hint()}"
        raise PeerUnreachable(message, details={"status": answer.status_code})
    try:
        document = json.loads(answer.content)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise PeerDocumentInvalid(
            _("The peer's published document is not a JSON object."),
            details={"reason": "not_json"},
        )
    return document


def _invalid(reason: str) -> PeerDocumentInvalid:
    return PeerDocumentInvalid(
        _("The peer's published document is not valid (%(reason)s).")
        % {"reason": reason},
        details={"reason": reason},
    )


def _public_key(value: Any) -> dict[str, Any]:
    """Return the public members of a published JWK, checking what matters."""
    if not isinstance(value, dict):
        raise _invalid("key_not_object")
    if "d" in value:
        raise _invalid("private_key_published")
    use = value.get("use")
    if (
        use not in _CURVES
        or value.get("kty") != "OKP"
        or value.get("crv") != (_CURVES.get(str(use)))
    ):
        raise _invalid("key_type")
    if not isinstance(value.get("x"), str) or not isinstance(value.get("kid"), str):
        raise _invalid("key_members")
    key = {k: value[k] for k in _PUBLIC_MEMBERS if k in value}
    if any(not isinstance(v, str) for v in key.values()):
        raise _invalid("key_members")
    try:
        kid = nodekeys.thumbprint({k: key[k] for k in ("kty", "crv", "x")})
    except (JoseError, ValueError, TypeError):
        raise _invalid("key_unreadable") from None
    if kid != key["kid"]:
        raise _invalid("kid_not_thumbprint")
    return key


def _parse(raw: dict[str, Any]) -> _Document:
    node_id = raw.get("node_id")
    if not isinstance(node_id, str):
        raise _invalid("node_id")
    try:
        validate_node_id("node_id", node_id)
    except ImproperlyConfigured:
        raise _invalid("node_id") from None
    country = raw.get("country")
    if not isinstance(country, str) or country.upper() not in COUNTRIES:
        raise _invalid("country")
    name = raw.get("name", "")
    if not isinstance(name, str):
        raise _invalid("name")
    try:
        name = clean_text(name, field="name", max_length=200)
    except InvalidText:
        raise _invalid("name") from None
    fingerprint = raw.get("fingerprint")
    if not isinstance(fingerprint, str) or not _FINGERPRINT.fullmatch(fingerprint):
        raise _invalid("fingerprint")
    keys = raw.get("keys")
    if not isinstance(keys, list) or not keys or len(keys) > _MAX_KEYS:
        raise _invalid("keys")
    public = [_public_key(k) for k in keys]
    if len({k["kid"] for k in public}) != len(public):
        raise _invalid("duplicate_kid")
    signatures = raw.get("signatures")
    if (
        not isinstance(signatures, list)
        or not signatures
        or not all(isinstance(s, str) for s in signatures)
    ):
        raise _invalid("signatures")
    organisations = raw.get("organisations")
    if organisations is not None and (
        not isinstance(organisations, list) or len(organisations) > _MAX_ORGANISATIONS
    ):
        raise _invalid("organisations")
    return _Document(
        raw=raw,
        node_id=node_id,
        country=country.upper(),
        name=name,
        fingerprint=fingerprint,
        keys=public,
        organisations=organisations,
    )


def _signature_kid(token: str) -> str | None:
    from joserfc.util import urlsafe_b64decode

    try:
        header = json.loads(urlsafe_b64decode(token.split(".", 1)[0].encode()))
    except (ValueError, TypeError):
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None


def verified_signers(
    document: dict[str, Any], trusted: dict[str, dict[str, Any]]
) -> set[str]:
    """Return the kids of ``trusted`` signing keys whose signature over
    ``document`` (canonical JSON without ``signatures``) verifies."""
    body = nodekeys.canonical({k: v for k, v in document.items() if k != "signatures"})
    signers: set[str] = set()
    for token in document.get("signatures") or []:
        if not isinstance(token, str):
            continue
        kid = _signature_kid(token)
        jwk = trusted.get(kid or "")
        if jwk is None or jwk.get("use") != "sig":
            continue
        try:
            verified = jws.deserialize_compact(
                token, OKPKey.import_key(jwk), algorithms=["Ed25519"]
            )
        except (JoseError, ValueError, TypeError):
            continue
        if verified.payload == body:
            signers.add(str(kid))
    return signers


def _check_self_signed(document: _Document) -> dict[str, Any]:
    """Return the document's current signing key, checking it signed it."""
    signing = document.current_signing_key(document.fingerprint)
    if signing is None:
        raise FingerprintMismatch(
            _(
                "The peer's document names fingerprint %(found)s, but it has no "
                "current signing key with that fingerprint."
            )
            % {"found": document.fingerprint},
            details={"found": document.fingerprint},
        )
    if not verified_signers(document.raw, {signing["kid"]: signing}):
        raise PeerDocumentInvalid(
            _(
                "The peer's published document is not signed by its signing key "
                "%(found)s: it was altered or is broken."
            )
            % {"found": document.fingerprint},
            details={"reason": "bad_signature"},
        )
    return signing


# --- organisations --------------------------------------------------------------


def _organisation_entry(entry: Any) -> dict[str, Any] | None:
    """Return a published organisation's fields, or None when the entry is not
    shaped as the document format says (what is recorded of it, and what is
    refused, is :mod:`trm.accounts.peer_organisations`' rule)."""
    if not isinstance(entry, dict):
        return None
    try:
        remote_id = UUID(str(entry.get("id")))
    except ValueError:
        return None
    functions = entry.get("functions") or []
    if not isinstance(functions, list):
        return None
    return {
        "remote_id": remote_id,
        "name": str(entry.get("name") or ""),
        "country": str(entry.get("country") or ""),
        "org_type": str(entry.get("org_type") or ""),
        "functions": [str(f) for f in functions],
    }


def _mirror_organisations(
    peer: Peer, entries: list[Any] | None, *, actor: User | None
) -> MirrorCounts:
    """Create or update the peer's organisations; deactivate those it dropped.

    Each entry goes through :func:`~trm.accounts.peer_organisations.
    record_peer_organisation` (the one rule for names, countries and types);
    an entry it refuses is skipped.
    """
    if entries is None:
        return MirrorCounts()  # the peer publishes none: leave what is there
    created = updated = skipped = 0
    seen: list[UUID] = []
    for entry in entries:
        fields = _organisation_entry(entry)
        if fields is None or fields["remote_id"] in seen:
            skipped += 1
            continue
        try:
            _row, change = record_peer_organisation(
                node_id=peer.node_id, update=True, actor=actor, **fields
            )
        except PeerOrganisationRefused:
            skipped += 1
            continue
        seen.append(fields["remote_id"])
        created += change == CREATED
        updated += change == UPDATED
    deactivated = (
        Organisation.objects.filter(
            home_node=peer.node_id, remote_id__isnull=False, is_active=True
        )
        .exclude(remote_id__in=seen)
        .update(is_active=False, updated_at=timezone.now())
    )
    return MirrorCounts(
        created=created, updated=updated, deactivated=deactivated, skipped=skipped
    )


# --- writers --------------------------------------------------------------------


def peer_add(
    *,
    url: str,
    fingerprint: str,
    actor: User | None = None,
    client: httpx.Client | None = None,
) -> PeerChange:
    """Trust the node at ``url`` whose signing key has ``fingerprint``.

    Fetches its published document (outside any transaction), then checks that
    the document's fingerprint is the one given, that it names a current
    Ed25519 signing key of the document, and that this key signed the
    document. Stores the peer with its public keys and mirrors its
    organisations.

    Raises:
        NotNodeAdministrator: ``actor`` is not a node administrator.
        PeerInputInvalid: malformed address or fingerprint.
        PeerUnreachable, PeerDocumentInvalid: the document could not be used.
        FingerprintMismatch: the document's key is not the one given (expected
            and found are named: fingerprints are public).
        PeerIsThisNode: the address serves this node.
        PeerExists: the node (or its key) is already a peer.
    """
    _require_admin(actor)
    base_url = normalise_url(url)
    expected = clean_fingerprint(fingerprint)
    document = _parse(fetch_document(base_url, client=client))
    if document.fingerprint != expected:
        raise FingerprintMismatch(
            _(
                "Fingerprint mismatch: you gave %(expected)s but %(url)s presents "
                "%(found)s. Nothing was added. Check the fingerprint with the "
                "peer's administrator again."
            )
            % {"expected": expected, "found": document.fingerprint, "url": base_url},
            details={"expected": expected, "found": document.fingerprint},
        )
    _check_self_signed(document)
    own_kids = set(ExchangeKey.objects.values_list("kid", flat=True))
    if document.node_id == settings.TRM_NODE_ID or expected in own_kids:
        raise PeerIsThisNode(
            _("%(url)s is this node itself: a node is not its own peer.")
            % {"url": base_url},
            details={"node": document.node_id},
        )
    return _store_new(actor=actor, base_url=base_url, document=document)


@transaction.atomic(durable=True)
def _store_new(*, actor: User | None, base_url: str, document: _Document) -> PeerChange:
    existing = Peer.objects.filter(node_id=document.node_id).first()
    if existing is not None:
        raise PeerExists(
            _("The node %(node)s is already a peer of this node.")
            % {"node": document.node_id},
            details={"node": document.node_id},
        )
    for other in Peer.objects.all():
        if any(k.get("kid") == document.fingerprint for k in other.keys):
            raise PeerExists(
                _("This signing key is already trusted for the peer %(node)s.")
                % {"node": other.node_id},
                details={"node": other.node_id},
            )
    peer = Peer.objects.create(
        node_id=document.node_id,
        name=document.name,
        country=document.country,
        base_url=base_url,
        keys=document.keys,
        fingerprint=document.fingerprint,
        status=PeerStatus.ACTIVE,
    )
    counts = _mirror_organisations(peer, document.organisations, actor=actor)
    audit.record(
        actor=actor,
        action="exchange.peer_added",
        target_type="exchange.peer",
        target_id=peer.node_id,
        data={
            "node": peer.node_id,
            "country": peer.country,
            "fingerprint": peer.fingerprint,
            "keys": sorted(k["kid"] for k in peer.keys),
            "organisations": counts.created,
        },
    )
    return PeerChange(
        peer=peer,
        new_keys=[k["kid"] for k in peer.keys],
        fingerprint_changed=True,
        organisations=counts,
    )


def clean_country(value: str) -> str:
    """Return an ISO 3166 alpha-2 code in capitals, or refuse it.

    Raises:
        PeerInputInvalid: not a country code.
    """
    text = (value or "").strip().upper()
    if text not in COUNTRIES:
        raise PeerInputInvalid(
            _("Give the country as its two-letter ISO code, e.g. MD."),
            details={"field": "country"},
        )
    return text


def _country_changed(peer: Peer, found: str) -> PeerCountryChanged:
    return PeerCountryChanged(
        _(
            "The peer %(node)s now declares the country %(found)s instead of "
            "%(country)s. Nothing was changed: consents name the country data may "
            "go to, so this node never follows such a change by itself. Check it "
            "with the peer's administrator by telephone or another channel you "
            "trust. If it is right, refresh again confirming the new country "
            "(trm peers refresh %(node)s --country %(found)s); a peer that never "
            "exchanged a message can instead be removed and added again."
        )
        % {"node": peer.node_id, "found": found, "country": peer.country or "-"},
        details={"node": peer.node_id, "country": peer.country, "found": found},
    )


def peer_refresh(
    *,
    node_id: str,
    actor: User | None = None,
    fingerprint: str | None = None,
    country: str | None = None,
    client: httpx.Client | None = None,
    automatic: bool = False,
) -> PeerChange:
    """Fetch the peer's published document again and take its changes.

    New keys are accepted only if a signing key already trusted (and not
    retired) for the peer signed the document, or — when the chain was broken,
    e.g. the peer rotated twice — if ``fingerprint``, checked out of band, is
    the document's. Keys the peer no longer publishes are kept, retired.

    The peer's country is never changed by a refresh alone: a document
    declaring another country is refused (and the refusal audited) unless
    ``country``, checked out of band, confirms the new one.

    Args:
        automatic: the worker refreshes because the peer signed with a key
            this node did not know yet (recorded in the audit entry).

    Raises:
        NotNodeAdministrator, PeerNotFound, PeerInputInvalid, PeerUnreachable,
        PeerDocumentInvalid (also when the address now serves another node),
        FingerprintMismatch (``fingerprint`` given and not the document's),
        KeyContinuityBroken (no trusted key signed the document),
        PeerCountryChanged (another country, not confirmed by ``country``).
    """
    _require_admin(actor)
    peer = Peer.objects.filter(node_id=node_id).first()
    if peer is None:
        raise PeerNotFound(
            _("No peer %(node)s.") % {"node": node_id}, details={"node": node_id}
        )
    expected = clean_fingerprint(fingerprint) if fingerprint else None
    confirmed_country = clean_country(country) if country else None
    document = _parse(fetch_document(peer.base_url, client=client))
    if document.node_id != peer.node_id:
        raise PeerDocumentInvalid(
            _("%(url)s now serves the node %(other)s, not %(node)s.")
            % {"url": peer.base_url, "other": document.node_id, "node": peer.node_id},
            details={"reason": "other_node", "found": document.node_id},
        )
    _check_self_signed(document)
    if expected is not None:
        if document.fingerprint != expected:
            raise FingerprintMismatch(
                _(
                    "Fingerprint mismatch: you gave %(expected)s but the peer "
                    "presents %(found)s. Nothing was changed."
                )
                % {"expected": expected, "found": document.fingerprint},
                details={"expected": expected, "found": document.fingerprint},
            )
    else:
        trusted = {
            k["kid"]: k
            for k in peer.keys
            if k.get("use") == "sig" and not k.get("retired_at")
        }
        if not verified_signers(document.raw, trusted):
            raise KeyContinuityBroken(
                _(
                    "The document of %(node)s is not signed by any key this node "
                    "trusts for it (its fingerprint is now %(found)s). Nothing was "
                    "changed. Check the new fingerprint with its administrator, then "
                    "refresh giving it."
                )
                % {"node": peer.node_id, "found": document.fingerprint},
                details={"node": peer.node_id, "found": document.fingerprint},
            )
    if document.country != peer.country and confirmed_country != document.country:
        with transaction.atomic():
            audit.record(
                actor=actor,
                action="exchange.peer_country_change_refused",
                target_type="exchange.peer",
                target_id=peer.node_id,
                data={
                    "node": peer.node_id,
                    "country": peer.country,
                    "found": document.country,
                    "automatic": automatic,
                },
            )
        raise _country_changed(peer, document.country)
    return _store_refresh(
        actor=actor,
        node_id=peer.node_id,
        document=document,
        out_of_band=bool(expected),
        confirmed_country=confirmed_country,
        automatic=automatic,
    )


def request_refresh(*, node_id: str, reason: str, now: datetime | None = None) -> bool:
    """Ask the worker to refresh an active peer's published keys soon.

    Called when the peer signed a message or an answer with a key this node
    does not know yet (it rotated its keys). The worker
    (:func:`trm.exchange.delivery.refresh_requested_peers`) then runs
    :func:`peer_refresh`, which takes the new keys only if a key already
    trusted signed them. A request already pending is left as it is, so a
    stream of such messages writes one request and one audit entry.

    Returns:
        True if this call made the request.
    """
    moment = now or timezone.now()
    with transaction.atomic():
        made = Peer.objects.filter(
            node_id=node_id,
            status=PeerStatus.ACTIVE,
            refresh_requested_at__isnull=True,
        ).update(refresh_requested_at=moment)
        if made:
            audit.record(
                actor=None,
                action="exchange.peer_refresh_requested",
                target_type="exchange.peer",
                target_id=node_id,
                data={"node": node_id, "reason": reason},
            )
    return bool(made)


def _merge_keys(
    old: list[dict[str, Any]], new: list[dict[str, Any]], now: str
) -> list[dict[str, Any]]:
    """The document's keys, plus the old ones it dropped (marked retired)."""
    by_kid = {k["kid"]: k for k in old if isinstance(k, dict) and "kid" in k}
    merged = []
    for key in new:
        kept = dict(key)
        previous = by_kid.get(key["kid"])
        if previous is not None and previous.get("retired_at"):
            kept.setdefault("retired_at", previous["retired_at"])  # never un-retired
        merged.append(kept)
    published = {k["kid"] for k in new}
    for kid, key in by_kid.items():
        if kid not in published:
            kept = dict(key)
            kept.setdefault("retired_at", now)
            merged.append(kept)
    return merged


@transaction.atomic(durable=True)
def _store_refresh(
    *,
    actor: User | None,
    node_id: str,
    document: _Document,
    out_of_band: bool,
    confirmed_country: str | None = None,
    automatic: bool = False,
) -> PeerChange:
    peer = Peer.objects.select_for_update().filter(node_id=node_id).first()
    if peer is None:
        raise PeerNotFound(
            _("No peer %(node)s.") % {"node": node_id}, details={"node": node_id}
        )
    if document.country != peer.country and confirmed_country != document.country:
        raise _country_changed(peer, document.country)  # changed meanwhile
    previous_country = peer.country
    before = {k["kid"]: k for k in peer.keys}
    merged = _merge_keys(peer.keys, document.keys, timezone.now().isoformat())
    after = {k["kid"]: k for k in merged}
    new_keys = sorted(set(after) - set(before))
    retired = sorted(
        kid
        for kid, key in after.items()
        if key.get("retired_at") and not (before.get(kid) or {}).get("retired_at")
    )
    changed_fingerprint = document.fingerprint != peer.fingerprint
    peer.keys = merged
    peer.name, peer.country = document.name, document.country
    peer.fingerprint = document.fingerprint
    # Whatever asked for it, the peer's keys are now fresh.
    peer.refresh_requested_at = None
    peer.save(
        update_fields=[
            "keys",
            "name",
            "country",
            "fingerprint",
            "refresh_requested_at",
            "updated_at",
        ]
    )
    counts = _mirror_organisations(peer, document.organisations, actor=actor)
    audit.record(
        actor=actor,
        action="exchange.peer_refreshed",
        target_type="exchange.peer",
        target_id=peer.node_id,
        data={
            "node": peer.node_id,
            "fingerprint": peer.fingerprint,
            "new_keys": new_keys,
            "retired_keys": retired,
            "fingerprint_checked_out_of_band": out_of_band,
            "country": peer.country,
            "country_before": previous_country,
            "automatic": automatic,
            "organisations": {
                "created": counts.created,
                "updated": counts.updated,
                "deactivated": counts.deactivated,
            },
        },
    )
    return PeerChange(
        peer=peer,
        new_keys=new_keys,
        retired_keys=retired,
        fingerprint_changed=changed_fingerprint,
        organisations=counts,
    )


def _locked_peer(node_id: str) -> Peer:
    peer = Peer.objects.select_for_update().filter(node_id=node_id).first()
    if peer is None:
        raise PeerNotFound(
            _("No peer %(node)s.") % {"node": node_id}, details={"node": node_id}
        )
    return peer


def _set_status(*, node_id: str, actor: User | None, status: str) -> Peer:
    _require_admin(actor)
    peer = _locked_peer(node_id)
    if peer.status == status:
        return peer  # already so: nothing to change or record
    peer.status = status
    peer.save(update_fields=["status", "updated_at"])
    audit.record(
        actor=actor,
        action=(
            "exchange.peer_disabled"
            if status == PeerStatus.DISABLED
            else "exchange.peer_enabled"
        ),
        target_type="exchange.peer",
        target_id=peer.node_id,
        data={"node": peer.node_id},
    )
    return peer


@transaction.atomic(durable=True)
def peer_disable(*, node_id: str, actor: User | None = None) -> Peer:
    """Stop exchanging with the peer: its messages are neither sent nor accepted.

    Messages waiting in the outbox stay there until the peer is enabled again.

    Raises:
        NotNodeAdministrator, PeerNotFound.
    """
    return _set_status(node_id=node_id, actor=actor, status=PeerStatus.DISABLED)


@transaction.atomic(durable=True)
def peer_enable(*, node_id: str, actor: User | None = None) -> Peer:
    """Exchange with the peer again.

    Raises:
        NotNodeAdministrator, PeerNotFound.
    """
    return _set_status(node_id=node_id, actor=actor, status=PeerStatus.ACTIVE)


@transaction.atomic(durable=True)
def peer_remove(*, node_id: str, actor: User | None = None) -> str:
    """Forget a peer that never exchanged a message; return its node id.

    Its mirrored organisations are deactivated, not deleted (records may name
    them). A peer with messages in or out is refused: its messages and
    receipts are the evidence of what was exchanged, so disable it instead.

    Raises:
        NotNodeAdministrator, PeerNotFound, PeerInUse.
    """
    _require_admin(actor)
    peer = _locked_peer(node_id)
    outgoing = OutboxMessage.objects.filter(peer=peer).count()
    incoming = InboxMessage.objects.filter(peer=peer).count()
    if outgoing or incoming:
        raise PeerInUse(
            _(
                "The peer %(node)s has %(out)s message(s) out and %(in)s in: they "
                "are the record of what was exchanged, so it cannot be removed. "
                "Disable it instead."
            )
            % {"node": node_id, "out": outgoing, "in": incoming},
            details={"node": node_id, "outgoing": outgoing, "incoming": incoming},
        )
    Conversation.objects.filter(peer=peer).delete()
    deactivated = Organisation.objects.filter(
        home_node=peer.node_id, is_active=True
    ).update(is_active=False, updated_at=timezone.now())
    audit.record(
        actor=actor,
        action="exchange.peer_removed",
        target_type="exchange.peer",
        target_id=peer.node_id,
        data={
            "node": peer.node_id,
            "fingerprint": peer.fingerprint,
            "organisations_deactivated": deactivated,
        },
    )
    peer.delete()
    return node_id
