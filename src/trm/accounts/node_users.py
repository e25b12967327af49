"""Local users that stand for a peer node's organisation.

When a message from a peer node is applied, the domain services it calls
need an acting user (they check roles and write the audit log). That user is a
*node user*: one per (peer organisation, role), with no usable password and no
way to sign in (``is_active`` is True so role checks pass; the login view and
API tokens refuse node users because their password is unusable and they have
no TOTP device). Its username ``node.<node-id>.<short id>.<role>`` says whom it
stands for in the audit log.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from trm.accounts.models import Membership, Organisation, Role, User

#: Every node user's username begins with this; people cannot take it.
NODE_USER_PREFIX = "node."


def is_node_user(user: User) -> bool:
    """Whether ``user`` stands for a peer node (never a person)."""
    return user.username.startswith(NODE_USER_PREFIX)


def node_user(*, organisation: Organisation, role: str) -> User:
    """Return (creating on first use) the user standing for ``organisation``
    (an organisation of a peer node) in ``role``.

    Raises:
        ValueError: ``organisation`` is one of this node's own, or ``role`` is
            not a :class:`~trm.accounts.models.Role`.
    """
    if not organisation.home_node:
        raise ValueError("node users stand only for organisations of peer nodes")
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}")
    username = f"node.{organisation.home_node}.{organisation.pk.hex[:12]}.{role}"[:150]
    user = User.objects.filter(username=username).first()
    if user is None:
        try:
            with transaction.atomic():
                user = User(
                    username=username,
                    organisation=organisation,
                    first_name="",
                    last_name="",
                )
                user.set_unusable_password()
                user.save()
        except IntegrityError:
            user = User.objects.get(username=username)
    Membership.objects.get_or_create(user=user, role=role)
    return user
