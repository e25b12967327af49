"""TLS material a node presents to, and trusts in, its peers (mutual TLS).

In production each node sits behind a TLS reverse proxy that asks the peers
for a client certificate on the exchange endpoints (docs/exchange.md, "TLS
and client certificates"). The settings name PEM files
(``TRM_EXCHANGE_CLIENT_CERT_FILE``, ``TRM_EXCHANGE_CLIENT_KEY_FILE``,
``TRM_EXCHANGE_CA_FILE``); :func:`check_files` refuses unusable ones at
start-up and :func:`load_chain` loads the client certificate into the context
outgoing requests use (:func:`trm.exchange.transport.http_client`).
Neither ever puts the contents of a file (a private key) in a message.
:func:`warn_if_key_exposed` logs a warning at start-up for a key file that
group or others may read (a warning, not a refusal, as for the other secret
files: some deployments mount secrets read-only with other modes).
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl
import stat
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

CERT_VARIABLE = "TRM_EXCHANGE_CLIENT_CERT_FILE"
KEY_VARIABLE = "TRM_EXCHANGE_CLIENT_KEY_FILE"
CA_VARIABLE = "TRM_EXCHANGE_CA_FILE"


def _no_password() -> bytes:
    # Called only for an encrypted key: never prompt on a terminal; an empty
    # password fails and the key is refused (the node runs unattended).
    return b""


def load_chain(context: ssl.SSLContext, cert_file: Path, key_file: Path) -> None:
    """Load the client certificate chain and its key into ``context``.

    Raises:
        ImproperlyConfigured: naming both variables and paths when they do
            not load (not PEM, not matching, or an encrypted key).
    """
    try:
        context.load_cert_chain(cert_file, key_file, password=_no_password)
    except (ssl.SSLError, OSError, ValueError):
        raise ImproperlyConfigured(
            f"{CERT_VARIABLE} ({cert_file}) and {KEY_VARIABLE} ({key_file}) must "
            "name a PEM certificate chain and its matching, unencrypted PEM "
            "private key."
        ) from None


def _load_authorities(context: ssl.SSLContext, ca_file: Path) -> None:
    try:
        context.load_verify_locations(cafile=ca_file)
    except (ssl.SSLError, OSError, ValueError):
        loaded = False
    else:
        loaded = context.cert_store_stats()["x509_ca"] > 0
    if not loaded:
        raise ImproperlyConfigured(
            f"{CA_VARIABLE} names {ca_file}, which is not a PEM bundle of CA "
            "certificates."
        )


def _public(key: Any) -> bytes:
    return bytes(
        key.public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
    )


def _check_certificate(cert_file: Path, now: dt.datetime) -> x509.Certificate:
    """Return the first certificate of the chain after checking its dates and
    its extended key usage."""
    try:
        chain = x509.load_pem_x509_certificates(cert_file.read_bytes())
    except (ValueError, OSError):
        chain = []
    if not chain:
        raise ImproperlyConfigured(
            f"{CERT_VARIABLE} names {cert_file}, which holds no PEM certificate "
            "(a file beginning with -----BEGIN CERTIFICATE-----)."
        )
    cert = chain[0]
    if now < cert.not_valid_before_utc:
        raise ImproperlyConfigured(
            f"{CERT_VARIABLE} names {cert_file}, a certificate not valid before "
            f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC (notBefore): check "
            "the clock of this server, or wait until then."
        )
    if now > cert.not_valid_after_utc:
        raise ImproperlyConfigured(
            f"{CERT_VARIABLE} names {cert_file}, a certificate that expired on "
            f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC (notAfter): install "
            "a renewed certificate."
        )
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return cert  # no restriction on its use
    if (
        ExtendedKeyUsageOID.CLIENT_AUTH not in usage
        and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in usage
    ):
        raise ImproperlyConfigured(
            f"{CERT_VARIABLE} names {cert_file}, a certificate whose extended key "
            "usage does not include TLS client authentication (clientAuth): a "
            "peer's proxy would refuse it. Ask the CA for a client certificate."
        )
    return cert


def _check_key(key_file: Path, cert: x509.Certificate, cert_file: Path) -> None:
    try:
        data = key_file.read_bytes()
    except OSError:
        data = b""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise ImproperlyConfigured(
            f"{KEY_VARIABLE} names {key_file}, an encrypted (password-protected) "
            "private key, which cannot be used: the node runs unattended, with "
            "no one to type the password. Store the key unencrypted, readable "
            "only by the node's user."
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ImproperlyConfigured(
            f"{KEY_VARIABLE} names {key_file}, which holds no PEM private key "
            "(a file beginning with -----BEGIN PRIVATE KEY----- or similar)."
        ) from None
    if _public(key.public_key()) != _public(cert.public_key()):
        raise ImproperlyConfigured(
            f"{KEY_VARIABLE} names {key_file}, a private key that does not match "
            f"the certificate of {CERT_VARIABLE} ({cert_file})."
        )


def warn_if_key_exposed(key_file: Path | None) -> None:
    """Log a warning when group or others may read the client key file.

    Not a refusal: some deployments mount secrets read-only with other modes
    (as for ``TRM_KEK_FILE`` and ``TRM_SECRET_KEY_FILE``, whose modes are not
    checked either). The message names the variable, the path and the mode.
    """
    if key_file is None:
        return
    try:
        mode = stat.S_IMODE(key_file.stat().st_mode)
    except OSError:
        return
    if mode & 0o077:
        logger.warning(
            "%s names %s, with mode %04o: group or others may read the private "
            "key. Restrict it to the node's user (chmod 600).",
            KEY_VARIABLE,
            key_file,
            mode,
        )


def check_files(
    cert_file: Path | None,
    key_file: Path | None,
    ca_file: Path | None,
    *,
    now: dt.datetime | None = None,
) -> None:
    """Refuse a client certificate without its key (or the reverse), a
    certificate file without a PEM certificate, an expired or not yet valid
    certificate, one whose extended key usage excludes TLS client
    authentication (a certificate without that extension is accepted), a key
    file without a PEM private key, an encrypted key, a key that does not
    match the certificate, and a CA file that holds no CA certificate.

    Args:
        cert_file: ``TRM_EXCHANGE_CLIENT_CERT_FILE``, a readable file or None.
        key_file: ``TRM_EXCHANGE_CLIENT_KEY_FILE``, a readable file or None.
        ca_file: ``TRM_EXCHANGE_CA_FILE``, a readable file or None.
        now: the time the certificate must be valid at (default: now, UTC).

    Raises:
        ImproperlyConfigured: naming the variable (and the path) at fault, one
            message per fault; never the contents of a file.
    """
    if (cert_file is None) != (key_file is None):
        raise ImproperlyConfigured(
            f"{CERT_VARIABLE} and {KEY_VARIABLE} must be set together: the "
            "client certificate the node presents to its peers and its "
            "private key."
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca_file is not None:
        _load_authorities(context, ca_file)
    if cert_file is not None and key_file is not None:
        cert = _check_certificate(cert_file, now or dt.datetime.now(dt.UTC))
        _check_key(key_file, cert, cert_file)
        load_chain(context, cert_file, key_file)
