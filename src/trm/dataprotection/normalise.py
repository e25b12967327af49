"""Normalisation of identifying values before they are blind-indexed.

A blind index is a keyed hash, so two spellings match only if they normalise to
the same string. Names are folded so that the same person written in different
scripts or with or without diacritics gives one key:

1. Unicode NFKC, case-folded, transliterated to ASCII (``anyascii``: Cyrillic,
   Greek, Latin with diacritics …), so "Ștefan" → "stefan", "Йоана" → "yoana".
2. A small phonetic folding of the spellings on which Latin and Cyrillic
   transliterations of the region's names differ: dj→d, sh→s, zh→z, ch→c,
   ts→t, kh→h, ph→f, then c/q→k, y→i, w→v, x→ks, doubled letters once. So
   "Попеску" (popesku) = "Popescu" (popesku), "Цуркану" = "Țurcanu".
3. Punctuation removed, tokens sorted, so "Popescu, Ioana" = "Ioana Popescu".

This is a matching key, not a transliteration: different names can share a key
("Sasha" and "Sasa"). Search results are candidates for a person to check,
never an automatic merge.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from anyascii import anyascii

_PAIRS = (
    ("dj", "d"),
    ("sh", "s"),
    ("zh", "z"),
    ("ch", "c"),
    ("ts", "t"),
    ("kh", "h"),
    ("ph", "f"),
)
_SINGLE = str.maketrans({"c": "k", "q": "k", "y": "i", "w": "v"})
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_DOUBLES = re.compile(r"([a-z])\1+")


def _fold_token(token: str) -> str:
    for pair, single in _PAIRS:
        token = token.replace(pair, single)
    token = token.translate(_SINGLE).replace("x", "ks")
    return _DOUBLES.sub(r"\1", token)


def name_key(value: str) -> str:
    """Return the matching key of a person's name; ``""`` if nothing is left.

    >>> name_key("Ioana POPESCU") == name_key("Попеску Иоана")
    True
    """
    ascii_text = anyascii(unicodedata.normalize("NFKC", value).casefold()).lower()
    tokens = [t for t in _NON_ALNUM.split(ascii_text) if t]
    return " ".join(sorted(_fold_token(t) for t in tokens))


def document_key(value: str) -> str:
    """Return an identity document number upper-cased with only letters and digits.

    Transliterated first, so a number typed with Cyrillic look-alike letters
    ("\u0410\u0412123", with Cyrillic A and Ve) matches its Latin form "AB123".
    """
    ascii_text = anyascii(unicodedata.normalize("NFKC", value)).upper()
    return re.sub(r"[^A-Z0-9]", "", ascii_text)


def birth_year_key(value: date | int | None) -> str:
    """Return the birth year as four digits, or ``""`` when unknown."""
    if value is None:
        return ""
    year = value.year if isinstance(value, date) else int(value)
    return f"{year:04d}"
