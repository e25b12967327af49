"""Rules for usernames and passwords."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

#: ASCII letters, digits and . @ + - _ (as Django's ASCIIUsernameValidator).
#: Letters from other scripts are refused: "admin" with a Cyrillic a (U+0430)
#: looks exactly like the Latin "admin".
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9.@+_-]+\Z")


def username_problem(value: str) -> str | None:
    """Return why ``value`` is not an allowed username, or None if it is."""
    if USERNAME_PATTERN.match(value):
        return None
    return _(
        "Enter a valid username. Use only the letters a–z and A–Z (no accents, "
        "no Cyrillic or other scripts), digits and the characters . @ + - _"
    )


def _is_repetition(password: str) -> bool:
    """Return True if ``password`` is a shorter string repeated, e.g. "abcabc"."""
    folded = password.casefold()
    return len(folded) > 1 and (folded + folded).find(folded, 1) < len(folded)


class PasswordVarietyValidator:
    """Refuse passwords with few distinct characters or made of one repeated part.

    "aaaaaaaaaaaa1" or "passwordpassword" pass the length and common-password
    checks but are among the first guesses of any attacker.
    """

    def __init__(self, min_distinct: int = 6) -> None:
        self.min_distinct = min_distinct

    def validate(self, password: str, user: Any = None) -> None:
        if len(set(password)) < self.min_distinct:
            raise ValidationError(
                ngettext(
                    "This password uses too few different characters: use at "
                    "least %(min)d different one.",
                    "This password uses too few different characters: use at "
                    "least %(min)d different ones.",
                    self.min_distinct,
                )
                % {"min": self.min_distinct},
                code="password_too_uniform",
            )
        if _is_repetition(password):
            raise ValidationError(
                _("This password is one word or pattern repeated."),
                code="password_repeated",
            )

    def get_help_text(self) -> str:
        return ngettext(
            "Your password must use at least %(min)d different character and must "
            "not be a repeated word or pattern.",
            "Your password must use at least %(min)d different characters and must "
            "not be a repeated word or pattern.",
            self.min_distinct,
        ) % {"min": self.min_distinct}
