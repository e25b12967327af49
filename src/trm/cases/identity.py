"""The identifying data of a person: a strict schema, sealed as one JSON document.

Everything in :class:`PersonIdentity` is personal data. It is stored only
encrypted under the person's data key (:mod:`trm.dataprotection.crypto`), never
in clear, never in logs or URLs.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, field_validator

_SHORT = 200


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
        if any(len(v) > 300 for v in cleaned):
            raise ValueError("each entry must be at most 300 characters")
        return cleaned

    def full_name(self) -> str:
        """Return given and family names joined; ``""`` when both are unknown."""
        return " ".join(p for p in (self.given_names, self.family_names) if p)

    def names(self) -> list[str]:
        """Return the full name and every alias (for blind indexes)."""
        return [n for n in [self.full_name(), *self.aliases] if n]
