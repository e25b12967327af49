"""Fictional organisations and users of a demo node (``trm demo seed``).

Every node of the demo federation gets the same six kinds of organisation —
national contact point, competent authority, police, an NGO shelter, social
services and a prosecutor's office — named "Demo … <country> (fictional)",
and one user per :class:`~trm.accounts.models.Role`, named ``<cc>-<role>``
(e.g. ``md-ncp``; :mod:`trm.demo.names`). Everything goes through the
accounts services, as an administrator would (audited); running it again
creates only what is missing.

With ``settings.TRM_DEMO`` on (``TRM_DEMO=1``, development only) each new user
also gets ``password`` instead of a one-time password, and an authenticator
enrolled with ``totp_secret_hex``, so the printed DEMO ONLY credentials sign
in at once. Without it the users get one-time passwords (shown once) and
enrol their own authenticator at first sign-in, as with ``trm createadmin``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django_countries import countries
from django_otp.oath import totp

from trm.accounts import services
from trm.accounts.models import Organisation, Role, TrmFunction, User
from trm.common.htcds import OrgType
from trm.demo.names import USERS, username_for


@dataclass(frozen=True)
class OrgKind:
    """One of the six kinds of demo organisation."""

    key: str
    name: str  # with {country}
    org_type: str
    functions: tuple[str, ...]


ORG_KINDS: tuple[OrgKind, ...] = (
    OrgKind(
        "ncp",
        "Demo National Coordination Office {country} (fictional)",
        OrgType.CENTRAL_GOVERNMENT_ORGANISATION,
        (TrmFunction.NATIONAL_CONTACT_POINT,),
    ),
    OrgKind(
        "authority",
        "Demo Identification Authority {country} (fictional)",
        OrgType.CENTRAL_GOVERNMENT_ORGANISATION,
        (TrmFunction.COMPETENT_AUTHORITY, TrmFunction.MIGRATION),
    ),
    OrgKind(
        "police",
        "Demo Police Anti-Trafficking Unit {country} (fictional)",
        OrgType.LAW_ENFORCEMENT,
        (TrmFunction.FIRST_CONTACT_POINT,),
    ),
    OrgKind(
        "shelter",
        "Demo Shelter {country} (fictional)",
        OrgType.NGO,
        (TrmFunction.SERVICE_PROVIDER, TrmFunction.FIRST_CONTACT_POINT),
    ),
    OrgKind(
        "social",
        "Demo Social Services {country} (fictional)",
        OrgType.LOCAL_GOVERNMENT_ORGANISATION,
        (TrmFunction.SOCIAL_SERVICES, TrmFunction.GUARDIANSHIP_AUTHORITY),
    ),
    OrgKind(
        "prosecutor",
        "Demo Prosecutor's Office {country} (fictional)",
        OrgType.CENTRAL_GOVERNMENT_ORGANISATION,
        (TrmFunction.PROSECUTION,),
    ),
)


@dataclass(frozen=True)
class SeededUser:
    """A demo user: ``password`` is set only when it was created just now
    without demo mode (its one-time password, shown once)."""

    username: str
    role: str
    organisation: str
    created: bool
    one_time_password: str = ""


@dataclass
class SeedResult:
    organisations_created: int = 0
    users: list[SeededUser] = field(default_factory=list)

    @property
    def users_created(self) -> int:
        return sum(1 for u in self.users if u.created)


def _functions(kind: OrgKind) -> list[str]:
    """The kind's TRM functions; the identification authority also acts as
    the bodies the node's SOP variant lets decide on formal identification
    (``formal_identification.authority_functions``: e.g. social services in
    Serbia, the national contact point in Moldova), so that its competent
    authority user can take the decision."""
    functions = list(kind.functions)
    if kind.key == "authority":
        from trm.identification.common import node_definition

        deciding = node_definition().setting(
            "formal_identification.authority_functions"
        )
        for function in deciding if isinstance(deciding, list) else []:
            if str(function) not in functions:
                functions.append(str(function))
    return functions


def seed(
    *, country: str | None = None, password: str = "", totp_secret_hex: str = ""
) -> SeedResult:
    """Create the node's missing demo organisations and users.

    Args:
        country: ISO code (default ``settings.TRM_COUNTRY``).
        password: demo mode only: every new user's password (the password
            policy applies).
        totp_secret_hex: demo mode only: every new user's authenticator
            secret, 20 bytes as 40 hex digits.

    Raises:
        ImproperlyConfigured: ``password`` or ``totp_secret_hex`` given without
            ``settings.TRM_DEMO``, or one missing with it.
        DomainError: from the accounts services (e.g. the demo password fails
            the password policy).
    """
    code = (country or settings.TRM_COUNTRY).upper()
    demo = bool(settings.TRM_DEMO)
    if demo and not (password and totp_secret_hex):
        raise ImproperlyConfigured(
            "Demo mode (TRM_DEMO=1) needs the demo password and TOTP secret."
        )
    if not demo and (password or totp_secret_hex):
        raise ImproperlyConfigured(
            "A known password or TOTP secret is set only in demo mode (TRM_DEMO=1)."
        )
    if totp_secret_hex:
        bytes.fromhex(totp_secret_hex)  # ValueError if malformed
    result = SeedResult()
    country_name = str(countries.name(code)) or code
    orgs: dict[str, Organisation] = {}
    for kind in ORG_KINDS:
        name = kind.name.format(country=country_name)
        org = Organisation.objects.filter(name=name, home_node="").first()
        if org is None:
            org = services.organisation_create(
                actor=None,
                name=name,
                country=code,
                org_type=kind.org_type,
                functions=_functions(kind),
            )
            result.organisations_created += 1
        orgs[kind.key] = org
    for role, (_suffix, kind_key, _what) in USERS.items():
        username = username_for(code, role)
        org = orgs[kind_key]
        if User.objects.filter(username__iexact=username).exists():
            result.users.append(SeededUser(username, role, org.name, created=False))
            continue
        new = services.user_create(
            actor=None,
            username=username,
            email=f"{username}@demo.invalid",
            organisation_id=org.pk,
            roles=[role],
            first_name="Demo",
            last_name=str(Role(role).label),
        )
        if demo:
            _demo_credentials(new, password=password, totp_secret_hex=totp_secret_hex)
            result.users.append(SeededUser(username, role, org.name, created=True))
        else:
            result.users.append(
                SeededUser(username, role, org.name, True, new.one_time_password)
            )
    return result


def _demo_credentials(
    new: services.NewUser, *, password: str, totp_secret_hex: str
) -> None:
    """Set the demo password and enrol the demo authenticator (demo mode only)."""
    user = services.password_change(
        user=new.user, old_password=new.one_time_password, new_password=password
    )
    pending = services.totp_enrol_start(user=user, secret_hex=totp_secret_hex)
    device = pending.device
    # The previous step's code (within the ±1 step tolerance): the current
    # code stays unused, so the demo user can sign in with it at once.
    code = totp(device.bin_key, device.step, device.t0, device.digits, device.drift - 1)
    services.totp_enrol_confirm(
        user=user, device_id=device.pk, token=f"{code:0{device.digits}d}"
    )
