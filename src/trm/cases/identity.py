"""The identifying data of a person: a strict schema, sealed as one JSON document.

Everything in :class:`PersonIdentity` is personal data. It is stored only
encrypted under the person's data key (:mod:`trm.dataprotection.crypto`), never
in clear, never in logs or URLs.
"""

from __future__ import annotations

from datetime import date

from django.utils.translation import gettext as _
from django_countries.data import COUNTRIES
from pydantic import BaseModel, ConfigDict, Field, field_validator

from trm.cases.errors import CaseInvalidInput
from trm.common.text import clean_text

_SHORT = 200
_ENTRY = 300


class IdentityDocument(BaseModel):
    """An identity or travel document."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: str = Field(max_length=60, description="e.g. passport, national ID card")
    number: str = Field(min_length=1, max_length=60)
    issuing_country: str = Field(
        default="", max_length=2, description="ISO 3166-1 alpha-2"
    )


class PersonIdentity(BaseModel):
    """Identifying data of a presumed or identified trafficked person."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    given_names: str = Field(default="", max_length=_SHORT)
    family_names: str = Field(default="", max_length=_SHORT)
    aliases: list[str] = Field(default_factory=list, max_length=20)
    birth_date: date | None = None
    birth_date_is_estimate: bool = False
    place_of_birth: str = Field(default="", max_length=_SHORT)
    documents: list[IdentityDocument] = Field(default_factory=list, max_length=10)
    phones: list[str] = Field(default_factory=list, max_length=10)
    addresses: list[str] = Field(default_factory=list, max_length=10)

    @field_validator("aliases", "phones", "addresses")
    @classmethod
    def _drop_blanks(cls, values: list[str]) -> list[str]:
        cleaned = [v.strip() for v in values if v and v.strip()]
        if any(len(v) > _ENTRY for v in cleaned):
            raise ValueError("each entry must be at most 300 characters")
        return cleaned

    def checked(self) -> PersonIdentity:
        """Return this identity with its text checked like every entered text.

        Names, aliases, place of birth, addresses, phones and document numbers
        follow :func:`trm.common.text.clean_text` (no control characters, no
        text-direction or zero-width marks; NFC); a document's issuing country
        is an ISO 3166-1 alpha-2 code or empty. Services call this on input;
        data already stored is read as it is.

        Raises:
            InvalidText, CaseInvalidInput: ``details["field"]`` names the field.
        """

        def text(value: str, field: str, max_length: int = _SHORT) -> str:
            return clean_text(value, field=field, max_length=max_length)

        documents = []
        for i, document in enumerate(self.documents):
            country = document.issuing_country.strip().upper()
            if country and country not in COUNTRIES:
                raise CaseInvalidInput(
                    _("Unknown issuing country: use an ISO 3166-1 alpha-2 code."),
                    details={"field": f"documents.{i}.issuing_country"},
                )
            documents.append(
                document.model_copy(
                    update={
                        "kind": text(document.kind, f"documents.{i}.kind", 60),
                        "number": text(document.number, f"documents.{i}.number", 60),
                        "issuing_country": country,
                    }
                )
            )
        return self.model_copy(
            update={
                "given_names": text(self.given_names, "given_names"),
                "family_names": text(self.family_names, "family_names"),
                "aliases": [text(a, "aliases", _ENTRY) for a in self.aliases],
                "place_of_birth": text(self.place_of_birth, "place_of_birth"),
                "documents": documents,
                "phones": [text(v, "phones", _ENTRY) for v in self.phones],
                "addresses": [text(v, "addresses", _ENTRY) for v in self.addresses],
            }
        )

    def full_name(self) -> str:
        """Return given and family names joined; ``""`` when both are unknown."""
        return " ".join(p for p in (self.given_names, self.family_names) if p)

    def names(self) -> list[str]:
        """Return the full name and every alias (for blind indexes)."""
        return [n for n in [self.full_name(), *self.aliases] if n]
