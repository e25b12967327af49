"""The node's key-encryption key (KEK) and AES-256-GCM primitives.

The KEK is 32 random bytes, read from ``TRM_KEK`` (base64) or from the file named
by ``TRM_KEK_FILE`` (default ``$TRM_DATA_DIR/keys/kek.b64``). It never encrypts
data directly: it wraps random data keys (one per person, one per node purpose)
kept in the keystore (:mod:`trm.dataprotection.crypto`), so rotating the KEK
re-wraps keys and never re-encrypts data. ``trm keys init`` creates the file;
nothing ever creates it silently over existing data.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

KEK_BYTES = 32
NONCE_BYTES = 12


class DecryptionFailed(Exception):
    """The ciphertext was altered, or was sealed under another key or context."""


def _decode(source: str, text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ImproperlyConfigured(f"{source} is not valid base64.") from None
    if len(key) != KEK_BYTES:
        raise ImproperlyConfigured(
            f"{source} must hold {KEK_BYTES} bytes (base64); it holds {len(key)}."
        )
    return key


def kek_file() -> Path:
    """Return the path of the KEK file this node is configured with."""
    return Path(settings.TRM_KEK_FILE)


def load_kek() -> bytes:
    """Return the node's KEK.

    Raises:
        ImproperlyConfigured: when neither ``TRM_KEK`` nor the key file exists, or
            the value is not 32 bytes of base64. The message says how to fix it.
    """
    direct = os.environ.get("TRM_KEK", "").strip()
    if direct:
        return _decode("TRM_KEK", direct)
    path = kek_file()
    try:
        # Read again only when the file changed (a rotation writes a new one):
        # services call this for every node key they use.
        stat = path.stat()
        seen = (str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)
        cached = _kek_read.get(seen)
        if cached is not None:
            return cached
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ImproperlyConfigured(
            f"No key-encryption key: {path} does not exist and TRM_KEK is not set. "
            "On a new node run `trm keys init`. If this node already holds data, "
            "restore the key file from your key backup: a new key cannot read it."
        ) from None
    except OSError as exc:
        raise ImproperlyConfigured(
            f"The key-encryption key file {path} cannot be read ({exc.strerror})."
        ) from None
    kek = _decode(str(path), text)
    _kek_read.clear()
    _kek_read[seen] = kek
    return kek


#: The key file last read by :func:`load_kek`, by (path, inode, mtime, size).
_kek_read: dict[tuple[str, int, int, int], bytes] = {}


def create_kek_file(path: Path | None = None) -> Path:
    """Create a new random KEK file (mode 0600) and return its path.

    Raises:
        FileExistsError: if the file exists; an existing key is never replaced.
    """
    target = path or kek_file()
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = base64.b64encode(os.urandom(KEK_BYTES)).decode()
    # O_EXCL: refuse to overwrite even if another process created it meanwhile.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    return target


def kek_fingerprint(kek: bytes) -> str:
    """Return a public identifier of ``kek`` (HMAC-SHA256, 32 hex characters).

    Stored beside every wrapped key, so a node started with another key refuses
    to run instead of failing later on every read.
    """
    return hmac.new(kek, b"trm:kek-fingerprint:v1", hashlib.sha256).hexdigest()[:32]


def wrap_key(key: bytes, *, kek: bytes, context: bytes) -> bytes:
    """Encrypt a data key under the KEK (AES-256-GCM, ``context`` as associated data).

    Returns ``nonce || ciphertext+tag``.
    """
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(kek).encrypt(nonce, key, context)


def unwrap_key(blob: bytes | memoryview, *, kek: bytes, context: bytes) -> bytes:
    """Decrypt what :func:`wrap_key` produced.

    Raises:
        DecryptionFailed: wrong KEK, wrong context, or altered ciphertext.
    """
    return _open(kek, blob, context)


def aead_seal(key: bytes, plaintext: bytes, *, context: bytes) -> bytes:
    """Encrypt with AES-256-GCM under ``key``; return ``nonce || ciphertext+tag``."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def aead_open(key: bytes, blob: bytes | memoryview, *, context: bytes) -> bytes:
    """Decrypt what :func:`aead_seal` produced.

    Raises:
        DecryptionFailed: wrong key, wrong context, or altered ciphertext.
    """
    return _open(key, blob, context)


def _open(key: bytes, blob: bytes | memoryview, context: bytes) -> bytes:
    data = bytes(blob)
    try:
        return AESGCM(key).decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], context)
    except (InvalidTag, ValueError):
        raise DecryptionFailed("ciphertext cannot be decrypted") from None
