"""TLS material a node presents to, and trusts in, its peers (mutual TLS).

In production each node sits behind a TLS reverse proxy that asks the peers
for a client certificate on the exchange endpoints (docs/exchange.md, "TLS
and client certificates"). The settings name PEM files
(``TRM_EXCHANGE_CLIENT_CERT_FILE``, ``TRM_EXCHANGE_CLIENT_KEY_FILE``,
``TRM_EXCHANGE_CA_FILE``); :func:`check_files` refuses unusable ones at
start-up and :func:`load_chain` loads the client certificate into the context
outgoing requests use (:func:`trm.exchange.transport.http_client`).
Neither ever puts the contents of a file (a private key) in a message.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

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


def check_files(
    cert_file: Path | None, key_file: Path | None, ca_file: Path | None
) -> None:
    """Refuse a client certificate without its key (or the reverse), a
    certificate and key that do not load or do not match, and a CA file that
    holds no CA certificate.

    Args:
        cert_file: ``TRM_EXCHANGE_CLIENT_CERT_FILE``, a readable file or None.
        key_file: ``TRM_EXCHANGE_CLIENT_KEY_FILE``, a readable file or None.
        ca_file: ``TRM_EXCHANGE_CA_FILE``, a readable file or None.

    Raises:
        ImproperlyConfigured: naming the variables (and the paths) at fault.
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
        load_chain(context, cert_file, key_file)
