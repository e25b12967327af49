"""The navigation menu, by role."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from trm.accounts.models import Role, User


@dataclass(frozen=True)
class NavItem:
    label: str | Promise | SafeString
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
    (_("My tasks"), "sop:tasks", _CASE_ROLES),
    # The roles that answer referrals for their organisation
    # (trm.referrals.selectors.RECEIVER_ROLES).
    (
        _("Referrals received"),
        "referrals:inbox",
        frozenset({Role.SERVICE_PROVIDER, Role.CASE_MANAGER}),
    ),
    # Identity checks asked by counterpart nodes
    # (trm.identification.verification.RECEIVER_ROLES).
    (
        _("Identity checks"),
        "identity_checks:received",
        frozenset({Role.NATIONAL_CONTACT_POINT, Role.COMPETENT_AUTHORITY}),
    ),
    (
        _("Services"),
        "directory:list",
        _CASE_ROLES | {Role.NODE_ADMINISTRATOR},
    ),
    # The guidance library (trm.guidance): everyone signed in reads it.
    (_("Guidance"), "guidance:list", frozenset()),
    (
        _("Organisations"),
        "accounts:organisation_list",
        frozenset({Role.NODE_ADMINISTRATOR}),
    ),
    (_("Users"), "accounts:user_list", frozenset({Role.NODE_ADMINISTRATOR})),
    # The exchange with peer nodes (trm.exchange.operations.OPERATOR_ROLES).
    (
        _("Exchange"),
        "exchange:peers",
        frozenset({Role.NODE_ADMINISTRATOR, Role.NATIONAL_CONTACT_POINT}),
    ),
    # Disclosure-controlled figures (trm.statistics.services.DASHBOARD_ROLES).
    (
        _("Statistics"),
        "statistics:dashboard",
        frozenset({Role.NATIONAL_CONTACT_POINT, Role.AUDITOR, Role.NODE_ADMINISTRATOR}),
    ),
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
        shown: str | Promise | SafeString = label
        if name == "sop:tasks":
            shown = _tasks_label(user)
        elif name == "referrals:inbox":
            shown = _inbox_label(user)
        items.append(NavItem(label=shown, url=url, current=current))
    return items


def _tasks_label(user: User) -> str | Promise | SafeString:
    """Return "My tasks" with a badge counting the unread reminders."""
    # Imported here: accounts does not depend on the domain apps at import time.
    from trm.sop.selectors import unread_reminder_count

    count = unread_reminder_count(user=user)
    if not count:
        return _("My tasks")
    return format_html(
        '{} <span class="badge badge-warn">{}<span class="visually-hidden"> {}'
        "</span></span>",
        _("My tasks"),
        count,
        ngettext("unread reminder", "unread reminders", count),
    )


def _inbox_label(user: User) -> str | Promise | SafeString:
    """Return "Referrals received" with a badge counting those awaiting a reply."""
    from trm.referrals.selectors import awaiting_reply_count

    count = awaiting_reply_count(user=user)
    if not count:
        return _("Referrals received")
    return format_html(
        '{} <span class="badge badge-warn">{}<span class="visually-hidden"> {}'
        "</span></span>",
        _("Referrals received"),
        count,
        ngettext("awaiting a reply", "awaiting a reply", count),
    )
