"""The personal content of a referral: sealing, opening, and the shared snapshot.

Everything here is personal data, sealed as JSON under the person's data key
(:mod:`trm.dataprotection.crypto`) and bound to the referral row by a context.
After erasure the key is destroyed: opening returns None ("can no longer be
read").

The **shared snapshot** is taken when the referral is sent and holds only the
chosen data categories (SOPS §3 confidentiality; BG 1.4 step 2 "share only what
the planned services need"):

``identity``
    ``{"given_names", "family_names", "aliases", "birth_date" (ISO date or
    null), "birth_date_is_estimate", "place_of_birth"}``
``documents``
    ``[{"kind", "number", "issuing_country"}]``
``contact``
    ``{"phones": [...], "addresses": [...]}``
``case_summary``, ``health``, ``family``, ``legal``
    the referrer's texts for this referral.

Risk information is sealed apart (``sealed_risk``): it is always shared (BG 1.4)
and survives a withdrawal of consent, which destroys the rest.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.utils.dateparse import parse_datetime

from trm.cases.identity import PersonIdentity
from trm.consent.models import DataCategory
from trm.dataprotection import crypto

#: Categories whose content comes from the person's identity record.
IDENTITY_CATEGORIES = frozenset(
    {DataCategory.IDENTITY, DataCategory.DOCUMENTS, DataCategory.CONTACT}
)
#: Categories whose content is a text the referrer writes for this referral.
TEXT_SHARED_CATEGORIES = ("case_summary", "health", "family", "legal")


def seal_json(key_id: UUID, value: object, *, context: bytes) -> bytes:
    """Return ``value`` as JSON sealed under the data key ``key_id``."""
    raw = json.dumps(value, ensure_ascii=False, sort_keys=True).encode()
    return crypto.seal_for(key_id, raw, context=context)


def open_json(
    key_id: UUID, blob: bytes | memoryview | None, *, context: bytes
) -> Any | None:
    """Return the JSON value sealed in ``blob``; None if empty or unreadable
    (the person's data key was destroyed)."""
    raw = crypto.open_for(key_id, blob, context=context)
    return None if raw is None else json.loads(raw)


def seal_text(key_id: UUID, text: str, *, context: bytes) -> bytes | None:
    """Return ``text`` sealed, or None when it is empty."""
    if not text:
        return None
    return crypto.seal_for(key_id, text.encode(), context=context)


def open_text(
    key_id: UUID, blob: bytes | memoryview | None, *, context: bytes
) -> str | None:
    """Return the sealed text; ``""`` if there is none; None if unreadable."""
    if not blob:
        return ""
    raw = crypto.open_for(key_id, blob, context=context)
    return None if raw is None else raw.decode()


@dataclass(frozen=True)
class Meeting:
    """Who meets the person, where and when (BG 1.4 step 2: "agree where, when
    and by whom the person will be met")."""

    who: str = ""
    where: str = ""
    at: datetime | None = None

    def is_empty(self) -> bool:
        return not (self.who or self.where or self.at)

    def to_json(self) -> dict[str, str]:
        return {
            "who": self.who,
            "where": self.where,
            "at": self.at.isoformat() if self.at else "",
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | None) -> Meeting:
        if not value:
            return cls()
        at = parse_datetime(str(value.get("at") or "")) if value.get("at") else None
        return cls(
            who=str(value.get("who", "")), where=str(value.get("where", "")), at=at
        )


def build_snapshot(
    *,
    identity: PersonIdentity | None,
    categories: Iterable[str],
    texts: Mapping[str, str],
) -> dict[str, Any]:
    """Return what is shared: only ``categories`` (risk is kept apart).

    ``identity`` is the person's decrypted identity (None: nothing to take from
    it); ``texts`` the referrer's texts by category.
    """
    chosen = set(categories)
    shared: dict[str, Any] = {}
    if identity is not None:
        if DataCategory.IDENTITY in chosen:
            shared["identity"] = {
                "given_names": identity.given_names,
                "family_names": identity.family_names,
                "aliases": list(identity.aliases),
                "birth_date": (
                    identity.birth_date.isoformat() if identity.birth_date else None
                ),
                "birth_date_is_estimate": identity.birth_date_is_estimate,
                "place_of_birth": identity.place_of_birth,
            }
        if DataCategory.DOCUMENTS in chosen:
            shared["documents"] = [d.model_dump() for d in identity.documents]
        if DataCategory.CONTACT in chosen:
            shared["contact"] = {
                "phones": list(identity.phones),
                "addresses": list(identity.addresses),
            }
    for category in TEXT_SHARED_CATEGORIES:
        if category in chosen and texts.get(category):
            shared[category] = texts[category]
    return shared
