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
from django.db.models import Q
from django.utils.translation import gettext as _

from trm.accounts.models import Membership, Organisation, Role, User

#: Every node user's username begins with this; people cannot take it.
NODE_USER_PREFIX = "node."


def is_node_user(user: User) -> bool:
    """Whether ``user`` stands for a peer node (never a person)."""
    return user.username.startswith(NODE_USER_PREFIX)


def is_local_user(user: User) -> bool:
    """Whether ``user`` is a person working on this node: not a node user and
    not a user of a peer node's organisation (``home_node`` set).

    Only local users join this node's case teams; peers work their own cases.
    """
    if is_node_user(user):
        return False
    organisation = user.organisation
    return organisation is None or not organisation.home_node


def local_users_q(prefix: str = "") -> Q:
    """Return the filter keeping only local users (see :func:`is_local_user`).

    ``prefix`` is the lookup path to the user, e.g. ``"user__"`` on a
    membership query.
    """
    return (
        Q(**{f"{prefix}organisation__isnull": True})
        | Q(**{f"{prefix}organisation__home_node": ""})
    ) & ~Q(**{f"{prefix}username__startswith": NODE_USER_PREFIX})


def node_user_label(user: User) -> str:
    """Name a node user for people: the peer organisation and its node, e.g.
    "Demo NCO Romania (fictional) — node demo-ro".

    Not its role: a message handler picks the role the receiving service
    needs (a follow-up report is applied as a service provider), which need
    not be the role of the person who sent it on the other node.
    """
    organisation = user.organisation
    if organisation is None:
        return user.get_username()
    return _("%(organisation)s — node %(node)s") % {
        "organisation": organisation.name,
        "node": organisation.home_node,
    }


def actor_label(user: User) -> str:
    """Name who acted, for people: a person by their name (else username), a
    node user by its organisation and node (:func:`node_user_label`)
    rather than its technical username."""
    if is_node_user(user):
        return node_user_label(user)
    return user.get_full_name() or user.get_username()


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
