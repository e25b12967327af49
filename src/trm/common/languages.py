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
