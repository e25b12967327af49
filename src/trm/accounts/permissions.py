"""The one check that an actor is an active node administrator."""

from __future__ import annotations

from django.utils.translation import gettext as _

from trm.accounts.errors import NotNodeAdministrator
from trm.accounts.models import Role, User


def require_node_administrator(actor: User) -> None:
    """Raise NotNodeAdministrator unless ``actor`` is an active node administrator."""
    if not (actor.is_active and actor.has_role(Role.NODE_ADMINISTRATOR)):
        raise NotNodeAdministrator(_("Only a node administrator may do this."))
