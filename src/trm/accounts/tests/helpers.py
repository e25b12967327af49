"""Helpers shared by the accounts tests: table snapshots, sign-in, messages."""

from __future__ import annotations

from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse

from trm.accounts.models import APIToken, Membership, Organisation, TOTPDevice, User
from trm.audit.models import AuditEntry

Snapshot = dict[str, object]


def _snapshot() -> Snapshot:
    return {
        "organisations": list(
            Organisation.objects.order_by("pk").values_list(
                "pk", "name", "country", "org_type", "functions", "is_active"
            )
        ),
        "users": list(
            User.objects.order_by("pk").values_list(
                "pk", "username", "password", "is_active", "must_change_password"
            )
        ),
        "memberships": list(
            Membership.objects.order_by("pk").values_list("user_id", "role")
        ),
        "devices": list(
            TOTPDevice.objects.order_by("pk").values_list("pk", "confirmed", "last_t")
        ),
        "tokens": list(APIToken.objects.order_by("pk").values_list("pk", "revoked_at")),
        "audit": AuditEntry.objects.count(),
        "lockouts": AccessAttempt.objects.count(),
    }


def snapshot() -> Snapshot:
    """Return the state of every table an accounts service may write."""
    return _snapshot()


def assert_unchanged(before: Snapshot) -> None:
    """Assert that no accounts table changed since ``before`` was taken."""
    after = _snapshot()
    changed = sorted(k for k in before if before[k] != after[k])
    assert not changed, f"tables changed: {changed}"


def password_sign_in(client: Client, username: str, password: str, **extra):
    """Post the sign-in form (first step only) and return the response."""
    return client.post(
        reverse("accounts:login"),
        {"username": username, "password": password},
        **extra,
    )


def audit_actions(target: object | None = None) -> list[str]:
    """Return the audited action names, oldest first (for ``target`` if given)."""
    qs = AuditEntry.objects.order_by("seq")
    if target is not None:
        qs = qs.filter(target_id=str(target.pk))  # type: ignore[attr-defined]
    return list(qs.values_list("action", flat=True))


def message_texts(response) -> list[str]:
    """Return the texts of the Django messages attached to ``response``."""
    return [str(m) for m in response.context["messages"]] if response.context else []


def wrong_code(device: TOTPDevice) -> str:
    """Return a well-formed code the device would refuse right now."""
    from trm.accounts.tests.factories import current_code

    near = {current_code(device, offset_steps=step) for step in (-2, -1, 0, 1, 2)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in near)
