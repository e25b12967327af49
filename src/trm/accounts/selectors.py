"""Readers of organisations and users for the administration pages and API."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils import timezone

from trm.accounts.errors import UserNotFound
from trm.accounts.models import APIToken, Organisation, User
from trm.accounts.permissions import require_node_administrator
from trm.common.text import fold_key


def organisation_list(*, actor: User, query: str = "") -> QuerySet[Organisation]:
    """Return organisations matching ``query`` (name contains), ordered by name.

    Matching ignores case in every script (the casefolded ``name_key``; the
    database's own ``icontains`` folds only ASCII on SQLite). Every signed-in user
    may list organisations (they are referral partners).
    """
    qs = Organisation.objects.all()
    term = query.strip()
    if term:
        qs = qs.filter(Q(name_key__contains=fold_key(term)) | Q(name__icontains=term))
    return qs.order_by("name")


def user_list_for_admin(*, actor: User, query: str = "") -> QuerySet[User]:
    """Return users matching ``query`` (username, name or e-mail) for an admin.

    Raises:
        NotNodeAdministrator: the actor is not a node administrator.
    """
    require_node_administrator(actor)
    qs = User.objects.select_related("organisation").prefetch_related("memberships")
    term = query.strip()
    if term:
        # search_key: casefolded, so "иван" finds "Иван" on SQLite too; the
        # icontains terms cover rows written outside the services.
        qs = qs.filter(
            Q(search_key__contains=fold_key(term))
            | Q(username__icontains=term)
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
    require_node_administrator(actor)
    user = (
        User.objects.select_related("organisation")
        .prefetch_related("memberships")
        .filter(pk=user_id)
        .first()
    )
    if user is None:
        raise UserNotFound("No such user.")
    return user


def live_api_token_count(*, actor: User, user: User) -> int:
    """Return how many of ``user``'s API tokens are neither revoked nor expired.

    Raises:
        NotNodeAdministrator: the actor is not a node administrator.
    """
    require_node_administrator(actor)
    return APIToken.objects.filter(
        user=user, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).count()
