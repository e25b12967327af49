"""Organisations, users, roles (memberships), TOTP devices and API tokens."""

from __future__ import annotations

import hashlib
import uuid
from typing import ClassVar

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.validators import ASCIIUsernameValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField
from django_otp.models import Device, ThrottlingMixin, TimestampMixin
from django_otp.oath import TOTP
from django_otp.util import random_hex

from trm.common.htcds import OrgType
from trm.common.text import fold_key
from trm.dataprotection import crypto


class Role(models.TextChoices):
    """A user's role at their organisation (ARCHITECTURE §1)."""

    FIRST_CONTACT_POINT = "first_contact_point", _("First contact point")
    CASE_MANAGER = "case_manager", _("Case manager")
    COMPETENT_AUTHORITY = "competent_authority", _("Competent authority")
    NATIONAL_CONTACT_POINT = "national_contact_point", _("National contact point")
    SERVICE_PROVIDER = "service_provider", _("Service provider")
    PROSECUTOR = "prosecutor", _("Prosecutor / investigator")
    GUARDIAN = "guardian", _("Guardian")
    AUDITOR = "auditor", _("Auditor / data-protection officer")
    NODE_ADMINISTRATOR = "node_administrator", _("Node administrator")


#: Roles that may see personal data of trafficked persons or grant access to it.
#: Every one of them must sign in with a second factor. The auditor / data-protection
#: officer handles subject-access requests; the node administrator grants roles.
PERSONAL_DATA_ROLES: frozenset[str] = frozenset(Role.values)


class TrmFunction(models.TextChoices):
    """A function an organisation performs in the referral mechanism (SOPS §2)."""

    FIRST_CONTACT_POINT = "FCP", _("First contact point")
    COMPETENT_AUTHORITY = "CA", _("Competent identification authority")
    NATIONAL_CONTACT_POINT = "NCP", _("National coordinator / TRM contact point")
    SERVICE_PROVIDER = "SP", _("Specialised service provider")
    SOCIAL_SERVICES = "SS", _("Social services / child protection")
    MIGRATION = "MIG", _("Migration authority")
    PROSECUTION = "PROS", _("Prosecutor / investigative judge / court")
    FOREIGN_AFFAIRS = "MFA", _("Ministry of Foreign Affairs / consulate")
    INTERNATIONAL_ORGANISATION = "IO", _("International organisation")
    GUARDIANSHIP_AUTHORITY = "GUARDIAN_AUTHORITY", _("Guardianship authority")


class Organisation(models.Model):
    """An organisation taking part in the node's referral mechanism."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(_("name"), max_length=200, unique=True)
    #: NFKC + casefold of ``name`` (:func:`trm.common.text.fold_key`), kept by the
    #: services: uniqueness regardless of case in any script, and search.
    #: NULL only for rows written outside the services (never two collide).
    name_key = models.CharField(  # noqa: DJ001 - NULLs never collide
        max_length=400, unique=True, null=True, editable=False
    )
    country = CountryField(_("country"))
    org_type = models.CharField(
        _("type (HTCDS org_Type)"), max_length=40, choices=OrgType.choices
    )
    functions = models.JSONField(
        _("TRM functions"),
        default=list,
        blank=True,
        help_text=_("What this organisation does in the referral mechanism."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    #: "" for an organisation working on this node; otherwise the id of the
    #: peer node it belongs to (a referral to it travels through the exchange).
    home_node = models.CharField(
        _("home node"),
        max_length=100,
        blank=True,
        default="",
        help_text=_(
            "Empty for an organisation that works on this node; otherwise the id "
            "of the peer node it belongs to (referrals to it go through the "
            "exchange)."
        ),
    )
    #: For an organisation of a peer node: its id on that node (what messages
    #: name it by); None for this node's own organisations.
    remote_id = models.UUIDField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["home_node", "remote_id"],
                condition=models.Q(remote_id__isnull=False),
                name="organisation_remote_unique",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def function_labels(self) -> list[str]:
        """Return the human labels of this organisation's TRM functions."""
        labels = dict(TrmFunction.choices)
        return [str(labels.get(code, code)) for code in self.functions]


class User(AbstractUser):
    """A person who signs in to the node; belongs to exactly one organisation."""

    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        related_name="users",
        null=True,
        blank=True,
        verbose_name=_("organisation"),
    )
    must_change_password = models.BooleanField(default=False)
    preferred_language = models.CharField(max_length=10, blank=True)
    #: Casefolded username, names and e-mail (see :meth:`search_key_now`), kept
    #: by the services so search ignores case in any script.
    search_key = models.TextField(default="", blank=True, editable=False)

    # ASCII only: "admin" spelt with a Cyrillic a (U+0430) must not pass for "admin".
    username = models.CharField(
        _("username"),
        max_length=150,
        unique=True,
        help_text=_(
            "Required. 150 characters or fewer. Letters, digits and @/./+/-/_ only."
        ),
        validators=[ASCIIUsernameValidator()],
        error_messages={"unique": _("A user with that username already exists.")},
    )

    REQUIRED_FIELDS: ClassVar[list[str]] = ["email"]

    def search_key_now(self) -> str:
        """Return the search key for the current username, names and e-mail."""
        parts = (self.username, self.first_name, self.last_name, self.email)
        return fold_key(" ".join(part for part in parts if part))

    def organisation_is_active(self) -> bool:
        """Return False if the user's organisation is deactivated."""
        org = self.organisation
        return org is None or org.is_active

    def may_use_account(self) -> bool:
        """Return True if neither the user nor their organisation is deactivated."""
        return self.is_active and self.organisation_is_active()

    def is_verified(self) -> bool:
        """Return True if this session passed the second factor.

        django-otp's middleware replaces this per request; outside a request
        (scripts, tests) no user counts as verified.
        """
        return False

    def role_codes(self) -> set[str]:
        """Return this user's role codes (cached per instance)."""
        cached: set[str] | None = self.__dict__.get("_role_cache")
        if cached is None:
            cached = set(self.memberships.values_list("role", flat=True))
            self.__dict__["_role_cache"] = cached
        return cached

    def forget_roles(self) -> None:
        """Drop the cached roles after they changed."""
        self.__dict__.pop("_role_cache", None)

    def has_role(self, *roles: str) -> bool:
        """Return True if the user holds any of ``roles``."""
        return bool(self.role_codes() & set(roles))

    def requires_two_factor(self) -> bool:
        """Return True if a role of this user can see personal data (2FA needed)."""
        return self.is_superuser or bool(self.role_codes() & PERSONAL_DATA_ROLES)


class Membership(models.Model):
    """A role a user holds at their organisation."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=40, choices=Role.choices)
    granted_at = models.DateTimeField(default=timezone.now)
    granted_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "role"], name="membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.role}"


class TOTPDevice(ThrottlingMixin, TimestampMixin, Device):
    """A TOTP authenticator (RFC 6238) whose secret is encrypted at rest.

    The 20-byte secret is sealed with AES-256-GCM under the node's ``"totp"`` key
    (wrapped by the key-encryption key in the keystore), bound to the device id, so a
    database dump does not reveal it. Verification follows django-otp's
    ``TOTPDevice``: 30-second steps, 6 digits, ±1 step tolerance, no reuse of a
    step already accepted, and exponential throttling after failures.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    sealed_key = models.BinaryField()
    step = models.PositiveSmallIntegerField(default=30)
    t0 = models.BigIntegerField(default=0)
    digits = models.PositiveSmallIntegerField(default=6)
    tolerance = models.PositiveSmallIntegerField(default=1)
    drift = models.SmallIntegerField(default=0)
    last_t = models.BigIntegerField(default=-1)

    class Meta:
        verbose_name = "TOTP device"

    def set_secret(self, secret_hex: str | None = None) -> str:
        """Store a new secret (random if not given); return it as hex."""
        secret_hex = secret_hex or random_hex(20)
        self.sealed_key = crypto.seal_node(
            "totp", bytes.fromhex(secret_hex), context=self.public_id.bytes
        )
        return secret_hex

    @property
    def bin_key(self) -> bytes:
        """Return the decrypted secret."""
        return crypto.unseal_node("totp", self.sealed_key, context=self.public_id.bytes)

    def config_url(self, *, issuer: str) -> str:
        """Return the ``otpauth://`` URL an authenticator app scans."""
        import base64
        from urllib.parse import quote, urlencode

        secret = base64.b32encode(self.bin_key).decode()
        label = quote(f"{issuer}:{self.user.get_username()}")
        params = urlencode(
            {"secret": secret, "issuer": issuer, "digits": self.digits, "period": 30}
        )
        return f"otpauth://totp/{label}?{params}"

    def get_throttle_factor(self) -> int:
        return 1

    def verify_token(self, token: object) -> bool:
        verify_allowed, _ = self.verify_is_allowed()
        if not verify_allowed:
            return False
        try:
            value = int(str(token).strip())
        except ValueError:
            self.throttle_increment()
            return False
        totp = TOTP(self.bin_key, self.step, self.t0, self.digits, self.drift)
        totp.time = timezone.now().timestamp()
        verified = totp.verify(value, self.tolerance, self.last_t + 1)
        if verified:
            self.last_t = totp.t()
            self.set_last_used_timestamp(commit=False)
            self.throttle_reset(commit=False)
            self.save()
        else:
            self.throttle_increment()
        return verified


def hash_token(raw: str) -> str:
    """Return the SHA-256 hex digest under which an API token is stored."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class APIToken(models.Model):
    """A bearer token for the JSON API. Only its SHA-256 digest is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=12, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    #: True if made from a session that passed the second factor. A token made
    #: without one stops working once the user's roles require two factors.
    issued_with_second_factor = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    def is_usable(self, now: object | None = None) -> bool:
        """Return True if the token is neither revoked nor expired."""
        moment = now or timezone.now()
        return self.revoked_at is None and self.expires_at > moment  # type: ignore[operator]
