"""Template helpers naming who acted."""

from __future__ import annotations

from typing import Any

from django import template

from trm.accounts.models import User
from trm.accounts.node_users import actor_label

register = template.Library()


@register.filter
def actor_name(user: Any) -> str:
    """Name a user for people (a node user as its role, organisation and node,
    see :func:`trm.accounts.node_users.actor_label`); "" for no user, so that
    ``|default:"—"`` follows."""
    if not isinstance(user, User):
        return ""
    return actor_label(user)
