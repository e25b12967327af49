"""The navigation menu, by role."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from trm.accounts.models import Role


@dataclass(frozen=True)
class NavItem:
    label: str | Promise
    url: str
    current: bool


# Roles that work on cases (trm.cases.access.CASE_ROLES; accounts does not import
# the domain apps, so the set is spelled out here).
_CASE_ROLES = frozenset(
    {
        Role.FIRST_CONTACT_POINT,
        Role.CASE_MANAGER,
        Role.COMPETENT_AUTHORITY,
        Role.NATIONAL_CONTACT_POINT,
        Role.SERVICE_PROVIDER,
        Role.PROSECUTOR,
        Role.GUARDIAN,
    }
)

# (label, url name, roles that see it; empty = every signed-in user)
_ITEMS: list[tuple[Promise, str, frozenset[str]]] = [
    (_("Home"), "home", frozenset()),
    (_("Cases"), "cases:list", _CASE_ROLES),
    (
        _("Organisations"),
        "accounts:organisation_list",
        frozenset({Role.NODE_ADMINISTRATOR}),
    ),
    (_("Users"), "accounts:user_list", frozenset({Role.NODE_ADMINISTRATOR})),
    (
        _("Audit log"),
        "audit:entry_list",
        frozenset({Role.AUDITOR, Role.NODE_ADMINISTRATOR}),
    ),
    (
        _("Data protection"),
        "dataprotection:requests",
        frozenset({Role.AUDITOR, Role.NODE_ADMINISTRATOR}),
    ),
    (_("My account"), "accounts:account", frozenset()),
]


def navigation_for(request: HttpRequest) -> list[NavItem]:
    """Return the menu items the signed-in user may use (empty when signed out)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    if user.requires_two_factor() and not user.is_verified():
        return []
    roles = user.role_codes()
    items = []
    for label, name, needed in _ITEMS:
        if needed and not (roles & needed):
            continue
        url = reverse(name)
        current = request.path == url or (url != "/" and request.path.startswith(url))
        items.append(NavItem(label=label, url=url, current=current))
    return items
