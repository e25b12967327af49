"""Audit failed sign-ins and lockouts (explicitly connected in AccountsConfig.ready).

These are not state changes made by a service, so they arrive as signals from
Django's authentication and django-axes. The username is recorded only inside
the keyed digest (never in clear), and the target is the account if it exists.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from trm.audit import services as audit


def _account(username: str) -> Any:
    from trm.accounts.models import User

    return User.objects.filter(username=username).first() if username else None


def on_login_failed(sender: Any, credentials: dict[str, Any], **kwargs: Any) -> None:
    """Audit ``accounts.sign_in_failed`` for a wrong password or unknown user."""
    username = str(credentials.get("username") or "")[:150]
    with transaction.atomic():
        audit.record(
            actor=None,
            action="accounts.sign_in_failed",
            target=_account(username),
            data={"username": username},
        )


def on_locked_out(sender: Any, username: str = "", **kwargs: Any) -> None:
    """Audit ``accounts.locked_out`` when django-axes locks an account out."""
    name = str(username or "")[:150]
    with transaction.atomic():
        audit.record(
            actor=None,
            action="accounts.locked_out",
            target=_account(name),
            data={"username": name},
        )
