"""The only writers of organisations, users, roles, second factors and API tokens.

Every function here is keyword-only, takes the acting user, checks the actor's
role, writes an audit entry in the same transaction, and raises a
:class:`~trm.common.errors.DomainError` subclass (nothing written) on refusal.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from axes.utils import reset as axes_reset
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_countries.data import COUNTRIES

from trm.accounts.errors import (
    DuplicateName,
    InvalidInput,
    InvalidTOTPCode,
    LastAdministrator,
    NotNodeAdministrator,
    OrganisationNotFound,
    UserNotFound,
)
from trm.accounts.models import (
    APIToken,
    Membership,
    Organisation,
    Role,
    TOTPDevice,
    TrmFunction,
    User,
    hash_token,
)
from trm.audit import services as audit
from trm.common.htcds import OrgType


def _require_admin(actor: User) -> None:
    if not (actor.is_active and actor.has_role(Role.NODE_ADMINISTRATOR)):
        raise NotNodeAdministrator(_("Only a node administrator may do this."))


def _clean_roles(roles: Iterable[str]) -> set[str]:
    chosen = set(roles)
    unknown = chosen - set(Role.values)
    if unknown:
        raise InvalidInput(
            _("Unknown role(s): %(roles)s.") % {"roles": ", ".join(sorted(unknown))},
            details={"field": "roles", "allowed": list(Role.values)},
        )
    return chosen


def _clean_organisation_fields(
    *, name: str, org_type: str, functions: Iterable[str]
) -> tuple[str, list[str]]:
    name = name.strip()
    if not name:
        raise InvalidInput(
            _("An organisation needs a name."), details={"field": "name"}
        )
    if org_type not in OrgType.values:
        raise InvalidInput(
            _("Unknown organisation type."),
            details={"field": "org_type", "allowed": list(OrgType.values)},
        )
    chosen = list(dict.fromkeys(functions))
    unknown = set(chosen) - set(TrmFunction.values)
    if unknown:
        raise InvalidInput(
            _("Unknown TRM function(s): %(f)s.") % {"f": ", ".join(sorted(unknown))},
            details={"field": "functions", "allowed": list(TrmFunction.values)},
        )
    return name, chosen


def _clean_country(country: str) -> str:
    code = country.strip().upper()
    if code not in COUNTRIES:
        raise InvalidInput(
            _("Unknown country: give an ISO 3166-1 alpha-2 code such as BG."),
            details={"field": "country"},
        )
    return code


# --- Organisations --------------------------------------------------------------


@transaction.atomic(durable=True)
def organisation_create(
    *,
    actor: User | None,
    name: str,
    country: str,
    org_type: str,
    functions: Iterable[str] = (),
) -> Organisation:
    """Create an organisation. ``actor`` None is the bootstrap (``trm createadmin``).

    Raises:
        NotNodeAdministrator, InvalidInput, DuplicateName.
    """
    if actor is not None:
        _require_admin(actor)
    name, chosen = _clean_organisation_fields(
        name=name, org_type=org_type, functions=functions
    )
    country = _clean_country(country)
    if Organisation.objects.filter(name__iexact=name).exists():
        raise DuplicateName(
            _("An organisation with this name already exists."),
            details={"field": "name"},
        )
    org = Organisation.objects.create(
        name=name, country=country, org_type=org_type, functions=chosen
    )
    audit.record(
        actor=actor,
        action="accounts.organisation_created",
        target=org,
        data={"name": name, "country": org.country.code, "functions": chosen},
    )
    return org


@transaction.atomic(durable=True)
def organisation_update(
    *,
    actor: User,
    organisation_id: UUID,
    name: str,
    country: str,
    org_type: str,
    functions: Iterable[str],
    is_active: bool,
) -> Organisation:
    """Change an organisation's details.

    Raises:
        NotNodeAdministrator, OrganisationNotFound, InvalidInput, DuplicateName.
    """
    _require_admin(actor)
    org = Organisation.objects.select_for_update().filter(pk=organisation_id).first()
    if org is None:
        raise OrganisationNotFound(_("No such organisation."))
    name, chosen = _clean_organisation_fields(
        name=name, org_type=org_type, functions=functions
    )
    country = _clean_country(country)
    if (
        Organisation.objects.filter(name__iexact=name)
        .exclude(pk=organisation_id)
        .exists()
    ):
        raise DuplicateName(
            _("An organisation with this name already exists."),
            details={"field": "name"},
        )
    org.name, org.country, org.org_type = name, country, org_type
    org.functions, org.is_active = chosen, is_active
    org.save()
    audit.record(
        actor=actor,
        action="accounts.organisation_updated",
        target=org,
        data={"name": name, "functions": chosen, "is_active": is_active},
    )
    return org


# --- Users and roles ----------------------------------------------------------


def generate_one_time_password() -> str:
    """Return a random password shown once; the user must change it at sign-in."""
    return secrets.token_urlsafe(15)


@dataclass(frozen=True)
class NewUser:
    """A created user and the one-time password to hand over (shown once)."""

    user: User
    one_time_password: str


def _bootstrap_or_admin(actor: User | None) -> None:
    if actor is not None:
        _require_admin(actor)


@transaction.atomic(durable=True)
def user_create(
    *,
    actor: User | None,
    username: str,
    email: str,
    organisation_id: UUID,
    roles: Iterable[str],
    first_name: str = "",
    last_name: str = "",
) -> NewUser:
    """Create a user with a one-time password and the given roles.

    ``actor`` None is the bootstrap path used only by ``trm createadmin``.

    Raises:
        NotNodeAdministrator, OrganisationNotFound, InvalidInput, DuplicateName.
    """
    _bootstrap_or_admin(actor)
    username = username.strip()
    if not username:
        raise InvalidInput(_("A user needs a username."), details={"field": "username"})
    org = Organisation.objects.filter(pk=organisation_id, is_active=True).first()
    if org is None:
        raise OrganisationNotFound(_("No such active organisation."))
    chosen = _clean_roles(roles)
    if User.objects.filter(username__iexact=username).exists():
        raise DuplicateName(_("This username is taken."), details={"field": "username"})
    password = generate_one_time_password()
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                username=username,
                email=email.strip(),
                password=password,
                first_name=first_name.strip(),
                last_name=last_name.strip(),
                organisation=org,
                must_change_password=True,
            )
    except IntegrityError:
        raise DuplicateName(
            _("This username is taken."), details={"field": "username"}
        ) from None
    for role in sorted(chosen):
        Membership.objects.create(user=user, role=role, granted_by=actor)
    audit.record(
        actor=actor,
        action="accounts.user_created",
        target=user,
        data={"organisation": str(org.pk), "roles": sorted(chosen)},
    )
    return NewUser(user=user, one_time_password=password)


def _admin_count_excluding(user: User) -> int:
    return (
        Membership.objects.filter(role=Role.NODE_ADMINISTRATOR, user__is_active=True)
        .exclude(user=user)
        .count()
    )


@transaction.atomic(durable=True)
def user_set_roles(*, actor: User, user_id: int, roles: Iterable[str]) -> User:
    """Replace the user's roles with ``roles`` (grants and revocations audited).

    Raises:
        NotNodeAdministrator, UserNotFound, InvalidInput, LastAdministrator.
    """
    _require_admin(actor)
    user = User.objects.select_for_update().filter(pk=user_id).first()
    if user is None:
        raise UserNotFound(_("No such user."))
    chosen = _clean_roles(roles)
    current = set(user.memberships.values_list("role", flat=True))
    if (
        Role.NODE_ADMINISTRATOR in current
        and Role.NODE_ADMINISTRATOR not in chosen
        and _admin_count_excluding(user) == 0
    ):
        raise LastAdministrator(
            _("This is the last node administrator; appoint another one first.")
        )
    for role in sorted(chosen - current):
        Membership.objects.create(user=user, role=role, granted_by=actor)
        audit.record(
            actor=actor,
            action="accounts.role_granted",
            target=user,
            data={"role": role},
        )
    for role in sorted(current - chosen):
        user.memberships.filter(role=role).delete()
        audit.record(
            actor=actor,
            action="accounts.role_revoked",
            target=user,
            data={"role": role},
        )
    user.forget_roles()
    return user


@transaction.atomic(durable=True)
def user_set_active(*, actor: User, user_id: int, active: bool) -> User:
    """Deactivate (sign-in refused, sessions end) or reactivate a user.

    Raises:
        NotNodeAdministrator, UserNotFound, LastAdministrator, InvalidInput.
    """
    _require_admin(actor)
    user = User.objects.select_for_update().filter(pk=user_id).first()
    if user is None:
        raise UserNotFound(_("No such user."))
    if not active and user.pk == actor.pk:
        raise InvalidInput(_("You cannot deactivate your own account."))
    if (
        not active
        and user.has_role(Role.NODE_ADMINISTRATOR)
        and _admin_count_excluding(user) == 0
    ):
        raise LastAdministrator(
            _("This is the last node administrator; appoint another one first.")
        )
    user.is_active = active
    user.save(update_fields=["is_active"])
    audit.record(
        actor=actor,
        action="accounts.user_activated" if active else "accounts.user_deactivated",
        target=user,
    )
    return user


@transaction.atomic(durable=True)
def user_reset_credentials(*, actor: User, user_id: int) -> NewUser:
    """Issue a new one-time password, remove second factors and lift a lockout.

    The user must change the password and enrol a new authenticator at next
    sign-in. Use when a user lost their phone or was locked out.

    Raises:
        NotNodeAdministrator, UserNotFound.
    """
    _require_admin(actor)
    user = User.objects.select_for_update().filter(pk=user_id).first()
    if user is None:
        raise UserNotFound(_("No such user."))
    password = generate_one_time_password()
    user.set_password(password)
    user.must_change_password = True
    user.save(update_fields=["password", "must_change_password"])
    TOTPDevice.objects.filter(user=user).delete()
    axes_reset(username=user.username)
    audit.record(actor=actor, action="accounts.credentials_reset", target=user)
    return NewUser(user=user, one_time_password=password)


@transaction.atomic(durable=True)
def password_change(*, user: User, old_password: str, new_password: str) -> User:
    """Change the user's own password after checking the old one and the policy.

    Raises:
        InvalidInput: wrong old password, or the new one fails the policy
            (``details["messages"]`` lists each reason).
    """
    user = User.objects.select_for_update().get(pk=user.pk)
    if not user.check_password(old_password):
        raise InvalidInput(
            _("The current password is not correct."),
            details={"field": "old_password"},
        )
    if new_password == old_password:
        raise InvalidInput(
            _("The new password must differ from the current one."),
            details={"field": "new_password"},
        )
    try:
        validate_password(new_password, user=user)
    except ValidationError as exc:
        raise InvalidInput(
            " ".join(exc.messages),
            details={"field": "new_password", "messages": exc.messages},
        ) from None
    user.set_password(new_password)
    user.must_change_password = False
    user.save(update_fields=["password", "must_change_password"])
    audit.record(actor=user, action="accounts.password_changed", target=user)
    return user


# --- Second factor -------------------------------------------------------------


@dataclass(frozen=True)
class PendingDevice:
    """An authenticator being enrolled and its secret (hex), shown once."""

    device: TOTPDevice
    secret_hex: str


@transaction.atomic(durable=True)
def totp_enrol_start(*, user: User) -> PendingDevice:
    """Create (or replace) the user's unconfirmed authenticator and its secret."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    device = TOTPDevice(user=user, name="Authenticator app", confirmed=False)
    secret = device.set_secret()
    device.save()
    return PendingDevice(device=device, secret_hex=secret)


@transaction.atomic(durable=True)
def totp_enrol_confirm(*, user: User, device_id: int, token: str) -> TOTPDevice:
    """Confirm enrolment with a first code from the app; older devices are removed.

    Raises:
        InvalidTOTPCode: the code is wrong (or the device is not the user's).
    """
    device = (
        TOTPDevice.objects.select_for_update()
        .filter(pk=device_id, user=user, confirmed=False)
        .first()
    )
    if device is None or not device.verify_token(token):
        raise InvalidTOTPCode(
            _(
                "That code is not correct. Check the time on your phone and try the "
                "current code."
            ),
            details={"field": "otp_token"},
        )
    TOTPDevice.objects.filter(user=user, confirmed=True).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    audit.record(actor=user, action="accounts.totp_enrolled", target=user)
    return device


# --- API tokens ---------------------------------------------------------------

API_TOKEN_PREFIX = "trm_"  # noqa: S105 - a public prefix, not a secret


@dataclass(frozen=True)
class NewAPIToken:
    """A created API token and its secret value (shown once)."""

    token: APIToken
    raw: str


@transaction.atomic(durable=True)
def api_token_create(*, actor: User, name: str, days: int = 90) -> NewAPIToken:
    """Create a bearer token for the actor's own use of the JSON API.

    Raises:
        InvalidInput: empty name, or a lifetime outside 1..365 days.
    """
    name = name.strip()
    if not name:
        raise InvalidInput(_("Give the token a name."), details={"field": "name"})
    if not 1 <= days <= 365:
        raise InvalidInput(
            _("A token lives between 1 and 365 days."), details={"field": "days"}
        )
    raw = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = APIToken.objects.create(
        user=actor,
        name=name,
        prefix=raw[: len(API_TOKEN_PREFIX) + 6],
        token_hash=hash_token(raw),
        expires_at=timezone.now() + timedelta(days=days),
    )
    audit.record(actor=actor, action="accounts.api_token_created", target=token)
    return NewAPIToken(token=token, raw=raw)


@transaction.atomic(durable=True)
def api_token_revoke(*, actor: User, token_id: UUID) -> APIToken:
    """Revoke one of the actor's tokens (a node administrator may revoke any).

    Raises:
        UserNotFound: no such token visible to the actor.
    """
    qs = APIToken.objects.select_for_update().filter(pk=token_id)
    if not actor.has_role(Role.NODE_ADMINISTRATOR):
        qs = qs.filter(user=actor)
    token = qs.first()
    if token is None:
        raise UserNotFound(_("No such token."))
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(actor=actor, action="accounts.api_token_revoked", target=token)
    return token


# --- Sign-in events (audited; no credentials, no usernames in the log) ---------------


@transaction.atomic(durable=True)
def record_sign_in(*, user: User, step: str) -> None:
    """Audit a completed sign-in step: ``"password"`` or ``"second_factor"``."""
    audit.record(actor=user, action=f"accounts.signed_in.{step}", target=user)
