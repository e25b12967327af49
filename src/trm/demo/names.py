"""The demo users' names, without Django (the launcher prints them too).

One user per role, named ``<country code>-<suffix>`` (e.g. ``md-ncp``), at the
demo organisation of the given kind (:data:`trm.demo.seed.ORG_KINDS`).
"""

from __future__ import annotations

#: role value → (username suffix, organisation kind, what the user does).
USERS: dict[str, tuple[str, str, str]] = {
    "node_administrator": ("admin", "ncp", "node administrator"),
    "national_contact_point": ("ncp", "ncp", "national contact point"),
    "first_contact_point": ("fcp", "police", "first contact point (police)"),
    "competent_authority": ("ca", "authority", "competent authority"),
    "case_manager": ("cm", "social", "case manager (social services)"),
    "service_provider": ("sp", "shelter", "service provider (NGO shelter)"),
    "guardian": ("guardian", "social", "guardian (social services)"),
    "prosecutor": ("prosecutor", "prosecutor", "prosecutor"),
    "auditor": ("auditor", "ncp", "auditor / data-protection officer"),
}


def username_for(country: str, role: str) -> str:
    """``md-ncp`` for the national contact point of a Moldovan node."""
    return f"{country.lower()}-{USERS[role][0]}"
