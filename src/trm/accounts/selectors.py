"""Readers of organisations and users for the administration pages and API."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from trm.accounts.errors import NotNodeAdministrator, UserNotFound
from trm.accounts.models import Organisation, Role, User


def _require_admin(actor: User) -> None:
    if not actor.has_role(Role.NODE_ADMINISTRATOR):
        raise NotNodeAdministrator("Only a node administrator may see this.")


def organisation_list(*, actor: User, query: str = "") -> QuerySet[Organisation]:
    """Return organisations matching ``query`` (name contains), ordered by name.

    Every signed-in user may list organisations (they are referral partners).
    """
    qs = Organisation.objects.all()
    if query.strip():
        qs = qs.filter(name__icontains=query.strip())
    return qs.order_by("name")


def user_list_for_admin(*, actor: User, query: str = "") -> QuerySet[User]:
    """Return users matching ``query`` (username, name or e-mail) for an admin.

    Raises:
        NotNodeAdministrator: the actor is not a node administrator.
    """
    _require_admin(actor)
    qs = User.objects.select_related("organisation").prefetch_related("memberships")
    term = query.strip()
    if term:
        qs = qs.filter(
            Q(username__icontains=term)
            | Q(first_name__icontains=term)
            | Q(last_name__icontains=term)
            | Q(email__icontains=term)
        )
    return qs.order_by("username")


def user_get_for_admin(*, actor: User, user_id: int) -> User:
    """Return one user for an admin.

    Raises:
        NotNodeAdministrator, UserNotFound.
    """
    _require_admin(actor)
    user = (
        User.objects.select_related("organisation")
        .prefetch_related("memberships")
        .filter(pk=user_id)
        .first()
    )
    if user is None:
        raise UserNotFound("No such user.")
    return user
