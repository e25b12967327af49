"""Checks and keys for short human-entered text (names, usernames).

:func:`clean_text` is called by services, so the web pages and the API refuse the
same input with the same message. :func:`fold_key` is the case-insensitive key
that uniqueness checks and searches compare on: SQLite's ``LIKE``/``UPPER`` fold
ASCII only, so "Министерство" and "министерство" would otherwise differ.
"""

from __future__ import annotations

import unicodedata

from django.utils.translation import gettext as _

from trm.common.errors import DomainError

#: Characters that change how text is displayed without being visible: bidi
#: embeddings/overrides/isolates (a name that reads differently than it sorts) and
#: zero-width characters (two names that look the same but differ).
INVISIBLE_CHARACTERS: frozenset[str] = frozenset(
    [chr(c) for c in range(0x202A, 0x202F)]  # LRE RLE PDF LRO RLO
    + [chr(c) for c in range(0x2066, 0x206A)]  # LRI RLI FSI PDI
    + ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]
    + ["\u200e", "\u200f", "\u061c"]  # LRM, RLM, ALM: same effect, no width
)


class InvalidText(DomainError):
    """The text holds characters that are not allowed, or is too long."""

    code = "invalid_text"


def _is_control(char: str) -> bool:
    # Cc: NUL, tab, newline and the other C0/C1 controls. Cs: lone surrogates
    # (possible from JSON "\ud800"), which no database can store as text.
    return unicodedata.category(char) in {"Cc", "Cs"}


def clean_text(value: str, *, field: str, max_length: int) -> str:
    """Return ``value`` stripped and in NFC, or refuse it.

    Refuses control characters (NUL, line breaks, tabs, ...), bidirectional
    overrides and isolates, zero-width characters, and text longer than
    ``max_length`` characters. An empty result is allowed; callers that need a
    value check for it themselves.

    Raises:
        InvalidText: with ``details["field"] == field``.
    """
    text = unicodedata.normalize("NFC", value.strip())
    if any(_is_control(char) for char in text):
        raise InvalidText(
            _("Remove the control characters (such as line breaks or tabs)."),
            details={"field": field},
        )
    if any(char in INVISIBLE_CHARACTERS for char in text):
        raise InvalidText(
            _(
                "Remove the invisible formatting characters (zero-width or "
                "text-direction marks); they can make two names look the same."
            ),
            details={"field": field},
        )
    if len(text) > max_length:
        raise InvalidText(
            _("Use at most %(max)d characters.") % {"max": max_length},
            details={"field": field},
        )
    return text


#: Control characters a text of several lines may hold.
MULTILINE_CONTROLS = frozenset("\n\t")


def clean_multiline_text(value: str, *, field: str, max_length: int) -> str:
    """Return free text of several lines stripped, in NFC, with ``\n`` line ends.

    Like :func:`clean_text`, but line breaks and tabs are allowed: refuses other
    control characters, bidirectional overrides and isolates, zero-width
    characters, and text longer than ``max_length`` characters.

    Raises:
        InvalidText: with ``details["field"] == field``.
    """
    text = (value or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    text = unicodedata.normalize("NFC", text)
    if any(_is_control(char) and char not in MULTILINE_CONTROLS for char in text):
        raise InvalidText(_("Remove the control characters."), details={"field": field})
    if any(char in INVISIBLE_CHARACTERS for char in text):
        raise InvalidText(
            _(
                "Remove the invisible formatting characters (zero-width or "
                "text-direction marks)."
            ),
            details={"field": field},
        )
    if len(text) > max_length:
        raise InvalidText(
            _("Use at most %(max)d characters.") % {"max": max_length},
            details={"field": field},
        )
    return text


def fold_key(value: str) -> str:
    """Return the case- and width-insensitive key of ``value`` (NFKC, casefold)."""
    folded = unicodedata.normalize("NFKC", value).casefold()
    return unicodedata.normalize("NFKC", folded).strip()


#: Letters that render as blank space (Hangul fillers, the braille blank, the
#: Mongolian vowel separator): a reason made of them says nothing.
BLANK_LETTERS: frozenset[str] = frozenset(
    ["\u115f", "\u1160", "\u3164", "\uffa0", "\u2800", "\u180e"]
)
#: Categories that show nothing by themselves: separators, controls, format
#: characters, combining marks, surrogates, private use, unassigned.
_UNSEEN = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn", "Mn", "Me"})


def has_visible_text(value: str) -> bool:
    """Return True if ``value`` shows at least one character a reader can see.

    Reasons, legal bases and methods must say something: whitespace, zero-width
    or formatting characters and blank "letters" such as U+3164 do not.
    """
    return any(
        unicodedata.category(char) not in _UNSEEN and char not in BLANK_LETTERS
        for char in value
    )
