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


def _fold_once(token: str) -> str:
    for pair, single in _PAIRS:
        token = token.replace(pair, single)
    token = token.translate(_SINGLE).replace("x", "ks")
    return _DOUBLES.sub(r"\1", token)


def _fold_token(token: str) -> str:
    # Folding can form a new pair ("tss" → "ts", "ckh" → "kh"); repeat until
    # stable so that name_key(name_key(x)) == name_key(x). Terminates: after the
    # first pass no x/c/q/y/w is left and every later change shortens the token.
    while (folded := _fold_once(token)) != token:
        token = folded
    return token


# Apostrophes inside a word (the soft sign "ь" transliterates to one: "Ольга" →
# "Ol'ga") are dropped, not treated as word breaks, so "Ol'ga" = "Olga".
_APOSTROPHES = str.maketrans("", "", "'\u2019\u02bc`")


def name_key(value: str) -> str:
    """Return the matching key of a person's name; ``""`` if nothing is left.

    >>> name_key("Ioana POPESCU") == name_key("Попеску Иоана")
    True
    """
    ascii_text = anyascii(unicodedata.normalize("NFKC", value).casefold()).lower()
    tokens = [t for t in _NON_ALNUM.split(ascii_text.translate(_APOSTROPHES)) if t]
    return " ".join(sorted(_fold_token(t) for t in tokens))


#: Cyrillic and Greek capitals that look like Latin ones. A document number is
#: printed in Latin letters; typed on a Cyrillic or Greek keyboard layout it
#: comes out as these look-alikes, not as a transliteration (Cyrillic Ve is B).
_LOOK_ALIKES = str.maketrans(
    {
        # Cyrillic: A, Ve, Ie, Dze, Ukrainian I, Je, Ka, Em, En, O, Er, Es, Te, U, Ha
        0x0410: "A",
        0x0412: "B",
        0x0415: "E",
        0x0405: "S",
        0x0406: "I",
        0x0408: "J",
        0x041A: "K",
        0x041C: "M",
        0x041D: "H",
        0x041E: "O",
        0x0420: "P",
        0x0421: "C",
        0x0422: "T",
        0x0423: "Y",
        0x0425: "X",
        # Greek: Alpha, Beta, Epsilon, Zeta, Eta, Iota, Kappa, Mu, Nu, Omicron, Rho,
        # Tau, Upsilon, Chi
        0x0391: "A",
        0x0392: "B",
        0x0395: "E",
        0x0396: "Z",
        0x0397: "H",
        0x0399: "I",
        0x039A: "K",
        0x039C: "M",
        0x039D: "N",
        0x039F: "O",
        0x03A1: "P",
        0x03A4: "T",
        0x03A5: "Y",
        0x03A7: "X",
    }
)


def document_key(value: str) -> str:
    """Return an identity document number upper-cased with only letters and digits.

    Cyrillic and Greek letters that look like Latin ones are read as those, so a
    number typed with look-alikes ("\u0410\u0412123", with Cyrillic A and Ve)
    matches its Latin form "AB123". Other letters are transliterated.
    """
    upper = unicodedata.normalize("NFKC", value).upper()
    ascii_text = anyascii(upper.translate(_LOOK_ALIKES)).upper()
    return re.sub(r"[^A-Z0-9]", "", ascii_text)


def birth_year_key(value: date | int | None) -> str:
    """Return the birth year as four digits, or ``""`` when unknown."""
    if value is None:
        return ""
    year = value.year if isinstance(value, date) else int(value)
    return f"{year:04d}"
