"""ISO 639 language codes: the one check for every language a user enters."""

from __future__ import annotations

import pycountry


def is_language_code(code: str) -> bool:
    """Return True if ``code`` is an ISO 639 alpha-2 or alpha-3 code (any case)."""
    code = code.strip().lower()
    return bool(code) and (
        pycountry.languages.get(alpha_2=code) is not None
        or pycountry.languages.get(alpha_3=code) is not None
    )


def normalise_language_code(code: str) -> str:
    """Return the ISO 639-1 (alpha-2) code of a language where it has one,
    else its alpha-3 code, lower case (``bul`` and ``BG`` give ``bg``; ``fil``
    stays ``fil``); ``""`` for a code that is not ISO 639."""
    code = code.strip().lower()
    if not code:
        return ""
    language = pycountry.languages.get(alpha_2=code) or pycountry.languages.get(
        alpha_3=code
    )
    if language is None:
        return ""
    return str(getattr(language, "alpha_2", "") or language.alpha_3).lower()


def language_forms(code: str) -> list[str]:
    """Return every form a stored language code may take: the alpha-2 and
    alpha-3 codes of ``code``'s language (``["bg", "bul"]``); ``[]`` for a
    code that is not ISO 639."""
    code = code.strip().lower()
    language = (
        pycountry.languages.get(alpha_2=code) or pycountry.languages.get(alpha_3=code)
        if code
        else None
    )
    if language is None:
        return []
    forms = [getattr(language, "alpha_2", ""), language.alpha_3]
    return [str(form).lower() for form in forms if form]
