"""Route the keystore models to the ``keystore`` database and nothing else there."""

from __future__ import annotations

from typing import Any

from django.db import models

KEYSTORE = "keystore"


def _is_keystore(app_label: str, model_name: str | None) -> bool:
    from trm.dataprotection.models import KEYSTORE_MODELS

    return app_label == "dataprotection" and (model_name or "") in KEYSTORE_MODELS


class KeystoreRouter:
    """Database router: keystore models ↔ ``keystore``; everything else ↔ default."""

    def db_for_read(self, model: type[models.Model], **hints: Any) -> str | None:
        return (
            KEYSTORE
            if _is_keystore(model._meta.app_label, model._meta.model_name)
            else None
        )

    def db_for_write(self, model: type[models.Model], **hints: Any) -> str | None:
        return self.db_for_read(model, **hints)

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        return None

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool | None:
        if model_name is None and app_label == "dataprotection":
            # RunPython/RunSQL operations of this app: only where hinted.
            return bool(hints.get("target_db", "default") == db)
        keystore_model = _is_keystore(app_label, model_name)
        if db == KEYSTORE:
            return keystore_model
        return not keystore_model
