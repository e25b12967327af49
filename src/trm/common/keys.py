"""The node's key-encryption key (KEK) and authenticated encryption with it.

The KEK is 32 random bytes, read from ``TRM_KEK`` (base64) or from the file named
by ``TRM_KEK_FILE`` (default ``$TRM_DATA_DIR/keys/kek.b64``). It never encrypts
data directly: :func:`derive_key` derives one AES-256-GCM key per purpose with
HKDF-SHA256 (RFC 5869), so that a key used for TOTP secrets is never the key used
for anything else. ``trm keys init`` creates the file; nothing ever creates it
silently over existing data.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

KEK_BYTES = 32
NONCE_BYTES = 12
_lock = threading.Lock()
_cache: dict[str, bytes] = {}


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
    return _decode(str(path), text)


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


def derive_key(purpose: str) -> bytes:
    """Return the 32-byte AES key for ``purpose`` derived from the KEK (HKDF-SHA256)."""
    with _lock:
        cached = _cache.get(purpose)
        if cached is None:
            cached = HKDF(
                algorithm=hashes.SHA256(),
                length=32,
                salt=None,
                info=f"trm:{purpose}".encode(),
            ).derive(load_kek())
            _cache[purpose] = cached
        return cached


def reset_cache() -> None:
    """Forget derived keys (after a key change, and between tests)."""
    with _lock:
        _cache.clear()


def seal(purpose: str, plaintext: bytes, *, context: bytes) -> bytes:
    """Encrypt ``plaintext`` with AES-256-GCM; return ``nonce || ciphertext+tag``.

    ``context`` is bound as associated data (e.g. the owning row's id), so a
    ciphertext copied onto another row does not decrypt.
    """
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(derive_key(purpose)).encrypt(nonce, plaintext, context)


def unseal(purpose: str, blob: bytes | memoryview, *, context: bytes) -> bytes:
    """Decrypt what :func:`seal` produced.

    Raises:
        DecryptionFailed: if the blob was altered or belongs to another key/context.
    """
    blob = bytes(blob)
    try:
        return AESGCM(derive_key(purpose)).decrypt(
            blob[:NONCE_BYTES], blob[NONCE_BYTES:], context
        )
    except (InvalidTag, ValueError):
        raise DecryptionFailed("ciphertext cannot be decrypted") from None
