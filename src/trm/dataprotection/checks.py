"""Refuse to start with a key-encryption key that is not the keystore's."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

from trm.common import keys


@register()
def check_kek_matches_keystore(**kwargs: Any) -> list[Error]:
    """Compare the configured KEK's fingerprint with the one the keys are wrapped by."""
    from trm.dataprotection.crypto import stored_kek_fingerprint

    try:
        kek = keys.load_kek()
    except ImproperlyConfigured:
        return []  # trm.E001 reports the missing key
    try:
        stored = stored_kek_fingerprint()
    except DatabaseError:
        return []  # keystore not migrated yet
    if stored is not None and stored != keys.kek_fingerprint(kek):
        return [
            Error(
                "The key-encryption key does not match the keystore: its keys were "
                f"wrapped with key {stored}, this node was started with key "
                f"{keys.kek_fingerprint(kek)}. Restore the right key file "
                f"({keys.kek_file()}) from your key backup. A new key cannot read "
                "existing data, so none is created.",
                id="trm.E002",
            )
        ]
    return []


def _main_database_holds_sealed_data() -> bool:
    from trm.accounts.models import TOTPDevice
    from trm.audit.models import AuditEntry
    from trm.cases.models import Person

    return (
        Person.objects.exists()
        or TOTPDevice.objects.exists()
        or AuditEntry.objects.exists()
    )


@register()
def check_keystore_present(**kwargs: Any) -> list[Error]:
    """Refuse to start when the main database holds sealed data but the keystore
    has no keys: a lost or replaced keystore must be restored, never recreated.
    """
    from trm.dataprotection.crypto import stored_kek_fingerprint

    try:
        if stored_kek_fingerprint() is not None:
            return []
        if not _main_database_holds_sealed_data():
            return []
    except DatabaseError:
        return []  # not migrated yet
    return [
        Error(
            "The keystore holds no keys, but the main database holds data sealed "
            "with them (persons, authenticators, the audit log). Restore the "
            "keystore database from its backup (see TRM_KEYSTORE_URL). Starting "
            "with an empty keystore would make that data unreadable and break "
            "the audit log, so the node refuses.",
            id="trm.E003",
        )
    ]
