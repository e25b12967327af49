"""System checks run before the node serves or migrates."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from trm.common import keys


@register()
def check_key_encryption_key(**kwargs: Any) -> list[Error]:
    """Refuse to start without a readable key-encryption key."""
    try:
        keys.load_kek()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="trm.E001")]
    return []
