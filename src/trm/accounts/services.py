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
from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django_countries.data import COUNTRIES

from trm.accounts.errors import (
    DuplicateName,
    InvalidInput,
    InvalidTOTPCode,
    LastAdministrator,
    NodeUserProtected,
    OrganisationNotFound,
    OwnRolesLocked,
    TOTPThrottled,
    UserNotFound,
    WrongPassword,
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
from trm.accounts.node_users import NODE_USER_PREFIX, is_node_user
from trm.accounts.permissions import require_node_administrator
from trm.accounts.validators import username_problem
from trm.audit import services as audit
from trm.common.htcds import OrgType
from trm.common.text import InvalidText, clean_text, fold_key

#: Longest organisation name key: NFKC and casefolding may lengthen a name
#: ("ß" → "ss"), so the key column is twice the name's 200 characters.
_NAME_KEY_MAX = 400


def _clean_roles(roles: Iterable[str]) -> set[str]:
    chosen = set(roles)
    unknown = chosen - set(Role.values)
    if unknown:
        raise InvalidInput(
            _("Unknown role(s): %(roles)s.") % {"roles": ", ".join(sorted(unknown))},
            details={"field": "roles", "allowed": list(Role.values)},
        )
    return chosen


def _text(value: str, *, field: str, max_length: int) -> str:
    try:
        return clean_text(value, field=field, max_length=max_length)
    except InvalidText as exc:
        raise InvalidInput(exc.message, details=exc.details) from None


def _clean_email(email: str) -> str:
    email = BaseUserManager.normalize_email(_text(email, field="email", max_length=254))
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise InvalidInput(
                _("Enter a valid e-mail address."), details={"field": "email"}
            ) from None
    return email


def _clean_username(username: str) -> str:
    username = _text(username, field="username", max_length=150)
    if not username:
        raise InvalidInput(_("A user needs a username."), details={"field": "username"})
    problem = username_problem(username)
    if problem:
        raise InvalidInput(problem, details={"field": "username"})
    if username.lower().startswith(NODE_USER_PREFIX):
        raise InvalidInput(
            _("Usernames beginning with “node.” are kept for peer nodes."),
            details={"field": "username"},
        )
    return username


def _clean_organisation_fields(
    *, name: str, org_type: str, functions: Iterable[str]
) -> tuple[str, list[str]]:
    name = _text(name, field="name", max_length=200)
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


def _organisation_name_key(name: str, *, exclude: UUID | None = None) -> str:
    """Return the name's key, refusing a name another organisation already has."""
    key = fold_key(name)
    if len(key) > _NAME_KEY_MAX:
        raise InvalidInput(_("This name is too long."), details={"field": "name"})
    clash = Organisation.objects.filter(Q(name_key=key) | Q(name__iexact=name))
    if exclude is not None:
        clash = clash.exclude(pk=exclude)
    if clash.exists():
        raise _duplicate_organisation()
    return key


def _duplicate_organisation() -> DuplicateName:
    return DuplicateName(
        _("An organisation with this name already exists."),
        details={"field": "name"},
    )


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
        require_node_administrator(actor)
    name, chosen = _clean_organisation_fields(
        name=name, org_type=org_type, functions=functions
    )
    country = _clean_country(country)
    key = _organisation_name_key(name)
    try:
        with transaction.atomic():
            org = Organisation.objects.create(
                name=name,
                name_key=key,
                country=country,
                org_type=org_type,
                functions=chosen,
            )
    except IntegrityError:
        raise _duplicate_organisation() from None
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
    """Change an organisation's details; deactivating it locks out its users.

    Users of an inactive organisation cannot sign in, their open sessions end at
    their next request, and their API tokens are refused.

    Raises:
        NotNodeAdministrator, OrganisationNotFound, InvalidInput, DuplicateName.
    """
    require_node_administrator(actor)
    org = Organisation.objects.select_for_update().filter(pk=organisation_id).first()
    if org is None:
        raise OrganisationNotFound(_("No such organisation."))
    name, chosen = _clean_organisation_fields(
        name=name, org_type=org_type, functions=functions
    )
    country = _clean_country(country)
    key = _organisation_name_key(name, exclude=org.pk)
    was_active = org.is_active
    org.name, org.name_key, org.country, org.org_type = name, key, country, org_type
    org.functions, org.is_active = chosen, is_active
    try:
        with transaction.atomic():
            org.save()
    except IntegrityError:
        raise _duplicate_organisation() from None
    audit.record(
        actor=actor,
        action="accounts.organisation_updated",
        target=org,
        data={"name": name, "functions": chosen, "is_active": is_active},
    )
    if was_active and not is_active:
        audit.record(
            actor=actor, action="accounts.organisation_deactivated", target=org
        )
    elif is_active and not was_active:
        audit.record(
            actor=actor, action="accounts.organisation_reactivated", target=org
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
        require_node_administrator(actor)


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
    username = _clean_username(username)
    first_name = _text(first_name, field="first_name", max_length=150)
    last_name = _text(last_name, field="last_name", max_length=150)
    email = _clean_email(email)
    org = Organisation.objects.filter(pk=organisation_id, is_active=True).first()
    if org is None:
        raise OrganisationNotFound(_("No such active organisation."))
    chosen = _clean_roles(roles)
    if User.objects.filter(username__iexact=username).exists():
        raise DuplicateName(_("This username is taken."), details={"field": "username"})
    password = generate_one_time_password()
    try:
        with transaction.atomic():
            user = User(
                username=username,
                email=email,
                first_name=first_name,
                last_name=last_name,
                organisation=org,
                must_change_password=True,
            )
            user.set_password(password)
            user.search_key = user.search_key_now()
            user.save()
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


@transaction.atomic(durable=True)
def user_update(
    *,
    actor: User,
    user_id: int,
    first_name: str,
    last_name: str,
    email: str,
    organisation_id: UUID,
) -> User:
    """Change a user's names, e-mail address and organisation.

    A user may be moved only to an active organisation (or stay where they are).
    The audit entry names the changed fields, not their values.

    Raises:
        NotNodeAdministrator, UserNotFound, OrganisationNotFound, InvalidInput.
    """
    require_node_administrator(actor)
    user = User.objects.select_for_update().filter(pk=user_id).first()
    if user is None:
        raise UserNotFound(_("No such user."))
    first_name = _text(first_name, field="first_name", max_length=150)
    last_name = _text(last_name, field="last_name", max_length=150)
    email = _clean_email(email)
    if not email:
        raise InvalidInput(
            _("A user needs an e-mail address."), details={"field": "email"}
        )
    org_filter = Q(is_active=True)
    if user.organisation_id is not None:
        org_filter |= Q(pk=user.organisation_id)
    org = Organisation.objects.filter(org_filter, pk=organisation_id).first()
    if org is None:
        raise OrganisationNotFound(
            _("No such active organisation."), details={"field": "organisation"}
        )
    new_values = {
        "first_name": first_name,
        "last_name": last_name,
        "email": email,
        "organisation_id": org.pk,
    }
    changed = [f for f, value in new_values.items() if getattr(user, f) != value]
    if not changed:
        return user
    old_org = user.organisation_id
    for field_name, value in new_values.items():
        setattr(user, field_name, value)
    user.search_key = user.search_key_now()
    user.save(update_fields=[*changed, "search_key"])
    data: dict[str, object] = {"fields": changed}
    if "organisation_id" in changed:
        data["organisation"] = {"from": str(old_org), "to": str(org.pk)}
    audit.record(actor=actor, action="accounts.user_updated", target=user, data=data)
    return user


def _admin_count_excluding(user: User) -> int:
    return (
        Membership.objects.filter(role=Role.NODE_ADMINISTRATOR, user__is_active=True)
        .exclude(user=user)
        .count()
    )


@transaction.atomic(durable=True)
def user_set_roles(*, actor: User, user_id: int, roles: Iterable[str]) -> User:
    """Replace the user's roles with ``roles`` (grants and revocations audited).

    Nobody changes their own roles: an administrator who could grant themselves
    national contact point or auditor would read case content. Another
    administrator must do it (four eyes).

    Raises:
        NotNodeAdministrator, OwnRolesLocked, UserNotFound, InvalidInput,
        LastAdministrator.
    """
    require_node_administrator(actor)
    if user_id == actor.pk:
        raise OwnRolesLocked(_("Another administrator must change your roles."))
    user = User.objects.select_for_update().filter(pk=user_id).first()
    if user is None:
        raise UserNotFound(_("No such user."))
    if is_node_user(user):
        raise NodeUserProtected(
            _(
                "This account stands for an organisation of a peer node: nobody "
                "signs in with it and its roles follow the exchange."
            )
        )
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
    require_node_administrator(actor)
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
    require_node_administrator(actor)
    user = User.objects.select_for_update().filter(pk=user_id).first()
    if user is None:
        raise UserNotFound(_("No such user."))
    if is_node_user(user):
        raise NodeUserProtected(
            _(
                "This account stands for an organisation of a peer node: nobody "
                "signs in with it and its roles follow the exchange."
            )
        )
    password = generate_one_time_password()
    user.set_password(password)
    user.must_change_password = True
    user.save(update_fields=["password", "must_change_password"])
    TOTPDevice.objects.filter(user=user).delete()
    axes_reset(username=user.username)
    audit.record(actor=actor, action="accounts.credentials_reset", target=user)
    # Whoever held the old password may also hold a token made with it.
    _revoke_live_tokens(actor=actor, user=user, reason="credentials_reset")
    return NewUser(user=user, one_time_password=password)


def _wrong_password(field: str) -> WrongPassword:
    return WrongPassword(
        _("The current password is not correct."), details={"field": field}
    )


def password_change(*, user: User, old_password: str, new_password: str) -> User:
    """Change the user's own password after checking the old one and the policy.

    A wrong old password is audited (``accounts.password_change_failed``, no
    password data) in its own transaction, so the entry stays although the change
    is refused.

    Raises:
        WrongPassword: the old password is wrong (an :class:`InvalidInput`).
        InvalidInput: the new one fails the policy (``details["messages"]`` lists
            each reason).
    """
    try:
        return _password_change(
            user=user, old_password=old_password, new_password=new_password
        )
    except WrongPassword:
        _record_failure(user=user, action="accounts.password_change_failed")
        raise


def password_confirm(*, user: User, password: str) -> None:
    """Check the user's own password before a sensitive step (re-authentication).

    A wrong password is audited (``accounts.reauthentication_failed``).

    Raises:
        WrongPassword: the password is wrong.
    """
    if not user.check_password(password):
        _record_failure(user=user, action="accounts.reauthentication_failed")
        raise _wrong_password("password")


@transaction.atomic(durable=True)
def _record_failure(*, user: User, action: str) -> None:
    audit.record(actor=user, action=action, target=user)


@transaction.atomic(durable=True)
def _password_change(*, user: User, old_password: str, new_password: str) -> User:
    user = User.objects.select_for_update().get(pk=user.pk)
    if not user.check_password(old_password):
        raise _wrong_password("old_password")
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
def totp_enrol_start(*, user: User, secret_hex: str | None = None) -> PendingDevice:
    """Create (or replace) the user's unconfirmed authenticator and its secret.

    ``secret_hex`` (20 bytes as hex) is for ``trm demo seed`` only (demo mode,
    a secret printed as DEMO ONLY); by default the secret is random.
    """
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    device = TOTPDevice(user=user, name="Authenticator app", confirmed=False)
    secret = device.set_secret(secret_hex)
    device.save()
    return PendingDevice(device=device, secret_hex=secret)


def _wrong_code() -> InvalidTOTPCode:
    return InvalidTOTPCode(
        _(
            "That code is not correct. Check the time on your phone and try the "
            "current code."
        ),
        details={"field": "otp_token"},
    )


def totp_enrol_confirm(*, user: User, device_id: int, token: str) -> TOTPDevice:
    """Confirm enrolment with a first code from the app; older devices are removed.

    The code is checked outside the confirming transaction: a wrong code's
    throttling state (the growing wait) must be saved although the enrolment is
    refused.

    Raises:
        TOTPThrottled: too many wrong codes; wait before trying again.
        InvalidTOTPCode: the code is wrong (or the device is not the user's).
    """
    device = TOTPDevice.objects.filter(pk=device_id, user=user, confirmed=False).first()
    if device is None:
        raise _wrong_code()
    allowed, _detail = device.verify_is_allowed()
    if not allowed:
        raise TOTPThrottled(
            _(
                "Too many wrong codes. Wait a little (the wait grows with each "
                "wrong code), then enter the current code."
            ),
            details={"field": "otp_token"},
        )
    if not device.verify_token(token):
        raise _wrong_code()
    return _totp_enrol_finish(user=user, device_id=device.pk)


@transaction.atomic(durable=True)
def _totp_enrol_finish(*, user: User, device_id: int) -> TOTPDevice:
    device = (
        TOTPDevice.objects.select_for_update()
        .filter(pk=device_id, user=user, confirmed=False)
        .first()
    )
    if device is None:  # confirmed or replaced by a concurrent request
        raise _wrong_code()
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
def api_token_create(
    *, actor: User, name: str, days: int = 90, second_factor: bool = False
) -> NewAPIToken:
    """Create a bearer token for the actor's own use of the JSON API.

    ``second_factor`` says whether the session making the token passed the
    second factor (``request.user.is_verified()``). Only such a token works for a
    user whose roles require two factors, now or after a later role grant.

    Raises:
        InvalidInput: empty name, or a lifetime outside 1..365 days.
    """
    name = _text(name, field="name", max_length=100)
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
        issued_with_second_factor=second_factor,
    )
    audit.record(
        actor=actor,
        action="accounts.api_token_created",
        target=token,
        data={"second_factor": second_factor},
    )
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


def _revoke_live_tokens(*, actor: User, user: User, reason: str) -> int:
    now = timezone.now()
    live = list(
        APIToken.objects.select_for_update().filter(
            user=user, revoked_at__isnull=True, expires_at__gt=now
        )
    )
    for token in live:
        token.revoked_at = now
        token.save(update_fields=["revoked_at"])
        audit.record(
            actor=actor,
            action="accounts.api_token_revoked",
            target=token,
            data={"user": user.pk, "reason": reason},
        )
    return len(live)


@transaction.atomic(durable=True)
def api_tokens_revoke_all(*, actor: User, user_id: int) -> int:
    """Revoke every live API token of a user (e.g. a leaked script); return how many.

    Raises:
        NotNodeAdministrator, UserNotFound.
    """
    require_node_administrator(actor)
    user = User.objects.select_for_update().filter(pk=user_id).first()
    if user is None:
        raise UserNotFound(_("No such user."))
    return _revoke_live_tokens(actor=actor, user=user, reason="revoke_all")


# --- Sign-in events (audited; no credentials, no usernames in the log) ---------------


@transaction.atomic(durable=True)
def record_sign_in(*, user: User, step: str) -> None:
    """Audit a completed sign-in step: ``"password"`` or ``"second_factor"``."""
    audit.record(actor=user, action=f"accounts.signed_in.{step}", target=user)
