"""The only writers of service profiles: :func:`profile_save`, :func:`capacity_update`.

Both are keyword-only, take the acting user, check the actor's roles, write an
audit entry in the same transaction and raise a
:class:`~trm.common.errors.DomainError` (``details["field"]`` names the field)
with nothing written on refusal. The importer (:mod:`trm.directory.importer`)
checks its rows with the same :func:`clean_profile_values` and writes through
:func:`apply_profile`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

from django.contrib.auth.base_user import BaseUserManager
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.errors import OrganisationNotFound
from trm.accounts.models import Organisation, Role, User
from trm.accounts.permissions import require_node_administrator
from trm.audit import services as audit
from trm.common.languages import is_language_code
from trm.common.text import InvalidText, clean_text
from trm.directory.errors import (
    CapacityNotAllowed,
    DirectoryInvalidInput,
    ProfileNotFound,
)
from trm.directory.models import ServiceProfile, ServiceType, TargetGroup

#: Roles that may report the capacity of their own organisation.
CAPACITY_ROLES: frozenset[str] = frozenset({Role.SERVICE_PROVIDER, Role.CASE_MANAGER})

#: Text fields of a profile and their longest length.
TEXT_FIELDS: dict[str, int] = {
    "region": 120,
    "opening_hours": 200,
    "contact_24_7": 200,
    "phone": 40,
    "website": 200,
}
ADDRESS_MAX = 1000

#: The fields :func:`clean_profile_values` knows, with their defaults.
PROFILE_DEFAULTS: dict[str, Any] = {
    "service_types": (),
    "target_groups": (),
    "languages": (),
    "region": "",
    "address": "",
    "opening_hours": "",
    "contact_24_7": "",
    "email": "",
    "phone": "",
    "website": "",
    "accepts_referrals": True,
    "latitude": None,
    "longitude": None,
}


def _invalid(message: str, field: str, **details: Any) -> DirectoryInvalidInput:
    return DirectoryInvalidInput(message, details={"field": field, **details})


def clean_line(value: str, *, field: str, max_length: int) -> str:
    """Return ``value`` checked by :func:`~trm.common.text.clean_text`."""
    try:
        return clean_text(value, field=field, max_length=max_length)
    except InvalidText as exc:
        raise _invalid(exc.message, field) from None


def clean_address(value: str) -> str:
    """Return the address with each line cleaned; line breaks are kept."""
    lines = [
        clean_line(line, field="address", max_length=ADDRESS_MAX)
        for line in value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    ]
    address = "\n".join(line for line in lines if line)
    if len(address) > ADDRESS_MAX:
        raise _invalid(
            _("Use at most %(max)d characters.") % {"max": ADDRESS_MAX}, "address"
        )
    return address


def clean_codes(
    values: Iterable[str], *, field: str, allowed: Iterable[str]
) -> list[str]:
    """Return the codes once each, in the given order, refusing unknown ones."""
    allowed_list = list(allowed)
    chosen = list(dict.fromkeys(str(value).strip() for value in values))
    chosen = [code for code in chosen if code]
    unknown = [code for code in chosen if code not in allowed_list]
    if unknown:
        raise _invalid(
            _("Unknown code(s): %(codes)s.") % {"codes": ", ".join(unknown)},
            field,
            allowed=allowed_list,
        )
    return chosen


def clean_languages(values: Iterable[str]) -> list[str]:
    """Return ISO 639 codes, lower case, once each; refuse anything else."""
    chosen = list(dict.fromkeys(str(v).strip().lower() for v in values))
    chosen = [code for code in chosen if code]
    unknown = [code for code in chosen if not is_language_code(code)]
    if unknown:
        raise _invalid(
            _("Unknown language code(s): %(codes)s. Use ISO 639 codes such as en.")
            % {"codes": ", ".join(unknown)},
            "languages",
        )
    return chosen


def clean_email(value: str) -> str:
    """Return the normalised e-mail address (or ``""``), refusing a bad one."""
    email = BaseUserManager.normalize_email(
        clean_line(value, field="email", max_length=254)
    )
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise _invalid(_("Enter a valid e-mail address."), "email") from None
    return email


def clean_website(value: str) -> str:
    """Return a web address (``https://…``, ``http://…`` or a bare host name such
    as ``haven.example.org``), refusing any other scheme (``javascript:``,
    ``data:``…) so the address is safe to show as a link one day."""
    website = clean_line(value, field="website", max_length=200)
    if not website:
        return ""
    scheme, sep, _rest = website.partition(":")
    if sep and scheme.lower() not in {"http", "https"} and "." not in scheme:
        raise _invalid(
            _("Give a web address starting with https:// or http://."), "website"
        )
    if " " in website:
        raise _invalid(_("A web address has no spaces."), "website")
    return website


def clean_coordinate(value: float | None, *, field: str) -> float | None:
    """Return a latitude (``field="latitude"``) or longitude within range."""
    if value is None:
        return None
    limit = 90.0 if field == "latitude" else 180.0
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _invalid(_("Give a number."), field) from None
    if not math.isfinite(number) or not -limit <= number <= limit:
        raise _invalid(
            _("Give a value between -%(limit)d and %(limit)d.") % {"limit": limit},
            field,
        )
    return number


#: The most places one provider may report: far above any shelter, and within
#: every database's integer column (a mistyped number fails here, not there).
MAX_PLACES = 100_000


def clean_capacity(
    places_total: int | None, places_free: int | None
) -> tuple[int | None, int | None]:
    """Return the places, refusing negative numbers and more free than in total."""
    for field, value in (("places_total", places_total), ("places_free", places_free)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int)
        ):
            raise _invalid(_("Give a whole number."), field)
        if value is not None and value < 0:
            raise _invalid(_("The capacity cannot be below zero."), field)
        if value is not None and value > MAX_PLACES:
            raise _invalid(_("Give at most %(n)d places.") % {"n": MAX_PLACES}, field)
    if (
        places_total is not None
        and places_free is not None
        and places_free > places_total
    ):
        raise _invalid(
            _("There cannot be more free places than places in total."), "places_free"
        )
    return places_total, places_free


def clean_profile_values(
    values: Mapping[str, Any],
) -> tuple[dict[str, Any], list[DirectoryInvalidInput]]:
    """Check every field of ``values`` (missing ones take their default).

    Returns the cleaned values and every problem found (one per field), so a
    caller may show them all at once.
    """
    raw = {**PROFILE_DEFAULTS, **values}
    cleaned: dict[str, Any] = {}
    problems: list[DirectoryInvalidInput] = []

    def run(field: str, check: Any) -> None:
        try:
            cleaned[field] = check()
        except DirectoryInvalidInput as exc:
            problems.append(exc)

    run(
        "service_types",
        lambda: clean_codes(
            raw["service_types"], field="service_types", allowed=ServiceType.values
        ),
    )
    run(
        "target_groups",
        lambda: clean_codes(
            raw["target_groups"], field="target_groups", allowed=TargetGroup.values
        ),
    )
    run("languages", lambda: clean_languages(raw["languages"]))
    for field, max_length in TEXT_FIELDS.items():
        run(
            field,
            lambda f=field, m=max_length: clean_line(
                str(raw[f] or ""), field=f, max_length=m
            ),
        )
    run("address", lambda: clean_address(str(raw["address"] or "")))
    run("email", lambda: clean_email(str(raw["email"] or "")))
    run("website", lambda: clean_website(str(raw["website"] or "")))
    run("accepts_referrals", lambda: bool(raw["accepts_referrals"]))
    run("latitude", lambda: clean_coordinate(raw["latitude"], field="latitude"))
    run("longitude", lambda: clean_coordinate(raw["longitude"], field="longitude"))
    if (
        "latitude" in cleaned
        and "longitude" in cleaned
        and (cleaned["latitude"] is None) != (cleaned["longitude"] is None)
    ):
        field = "longitude" if cleaned["longitude"] is None else "latitude"
        problems.append(
            _invalid(_("Give both latitude and longitude, or neither."), field)
        )
    return cleaned, problems


def apply_profile(
    *, organisation: Organisation, values: Mapping[str, Any]
) -> tuple[ServiceProfile, bool, list[str]]:
    """Create or update the organisation's profile from cleaned ``values``.

    Runs inside the caller's transaction and writes no audit entry (the caller
    does). Returns the profile, whether it was created, and the changed fields.
    """
    profile = (
        ServiceProfile.objects.select_for_update()
        .filter(organisation=organisation)
        .first()
    )
    created = profile is None
    if profile is None:
        profile = ServiceProfile(organisation=organisation)
    changed = [
        name for name, value in values.items() if getattr(profile, name) != value
    ]
    for name in changed:
        setattr(profile, name, values[name])
    keys = {
        "search_key": profile.search_key_now(organisation.name),
        "region_key": profile.region_key_now(),
    }
    stale = [name for name, value in keys.items() if getattr(profile, name) != value]
    for name in stale:
        setattr(profile, name, keys[name])
    if created:
        profile.save(force_insert=True)
    elif changed or stale:
        profile.save(update_fields=[*changed, *stale, "updated_at"])
    return profile, created, changed


def _organisation(organisation_id: UUID) -> Organisation:
    org = Organisation.objects.filter(pk=organisation_id).first()
    if org is None:
        raise OrganisationNotFound(_("No such organisation."))
    return org


@transaction.atomic(durable=True)
def profile_save(
    *,
    actor: User,
    organisation_id: UUID,
    service_types: Iterable[str],
    target_groups: Iterable[str] = (),
    languages: Iterable[str] = (),
    region: str = "",
    address: str = "",
    opening_hours: str = "",
    contact_24_7: str = "",
    email: str = "",
    phone: str = "",
    website: str = "",
    accepts_referrals: bool = True,
    latitude: float | None = None,
    longitude: float | None = None,
) -> ServiceProfile:
    """Create or update an organisation's directory profile (node administrator).

    Raises:
        NotNodeAdministrator, OrganisationNotFound,
        DirectoryInvalidInput: the first bad field (``details["field"]``).
    """
    require_node_administrator(actor)
    org = _organisation(organisation_id)
    cleaned, problems = clean_profile_values(
        {
            "service_types": list(service_types),
            "target_groups": list(target_groups),
            "languages": list(languages),
            "region": region,
            "address": address,
            "opening_hours": opening_hours,
            "contact_24_7": contact_24_7,
            "email": email,
            "phone": phone,
            "website": website,
            "accepts_referrals": accepts_referrals,
            "latitude": latitude,
            "longitude": longitude,
        }
    )
    if problems:
        raise problems[0]
    profile, created, changed = apply_profile(organisation=org, values=cleaned)
    audit.record(
        actor=actor,
        action="directory.profile_created" if created else "directory.profile_updated",
        target=profile,
        data={"organisation": str(org.pk), "changed": sorted(changed)},
    )
    return profile


def _require_capacity_reporter(actor: User, org: Organisation) -> None:
    if actor.is_active and actor.has_role(Role.NODE_ADMINISTRATOR):
        return
    if (
        actor.may_use_account()
        and actor.organisation_id == org.pk
        and actor.has_role(*CAPACITY_ROLES)
    ):
        return
    raise CapacityNotAllowed(
        _(
            "Only a service provider or case manager of this organisation, or a "
            "node administrator, may report its capacity."
        )
    )


@transaction.atomic(durable=True)
def capacity_update(
    *,
    actor: User,
    organisation_id: UUID,
    places_total: int | None,
    places_free: int | None,
    accepts_referrals: bool | None = None,
) -> ServiceProfile:
    """Report an organisation's places (and whether it accepts referrals now).

    Allowed to an active service provider or case manager of that organisation
    and to a node administrator. ``None`` places mean "not reported";
    ``accepts_referrals`` None leaves it as it is.

    Raises:
        CapacityNotAllowed, ProfileNotFound,
        DirectoryInvalidInput: capacity below zero, or more free than in total.
    """
    org = _organisation(organisation_id)
    _require_capacity_reporter(actor, org)
    places_total, places_free = clean_capacity(places_total, places_free)
    profile = (
        ServiceProfile.objects.select_for_update().filter(organisation=org).first()
    )
    if profile is None:
        raise ProfileNotFound(_("This organisation has no directory profile."))
    profile.places_total, profile.places_free = places_total, places_free
    profile.capacity_updated_at = timezone.now()
    profile.capacity_updated_by = actor
    fields = [
        "places_total",
        "places_free",
        "capacity_updated_at",
        "capacity_updated_by",
    ]
    if accepts_referrals is not None:
        profile.accepts_referrals = accepts_referrals
        fields.append("accepts_referrals")
    profile.save(update_fields=[*fields, "updated_at"])
    audit.record(
        actor=actor,
        action="directory.capacity_updated",
        target=profile,
        data={
            "places_total": places_total,
            "places_free": places_free,
            "accepts_referrals": profile.accepts_referrals,
        },
    )
    return profile
