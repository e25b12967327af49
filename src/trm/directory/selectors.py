"""Readers of the service directory.

The directory describes organisations, not persons: it holds no personal data,
so any signed-in user may read it and reads are not audited.
"""

from __future__ import annotations

from uuid import UUID

from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import translation
from django.utils.translation import gettext as _

from trm.common.text import fold_key
from trm.directory.errors import ProfileNotFound
from trm.directory.models import ServiceProfile, ServiceType, TargetGroup


def _has_code(field: str, code: str) -> Q:
    """Match profiles whose JSON list ``field`` holds ``code``."""
    if connection.features.supports_json_field_contains:
        return Q(**{f"{field}__contains": [code]})
    # SQLite: the list is stored as JSON text; a quoted code cannot match a
    # longer code ("shelter" vs "crisis_accommodation").
    return Q(**{f"{field}__icontains": f'"{code}"'})


def _codes_named(
    choices: type[ServiceType] | type[TargetGroup], term: str
) -> list[str]:
    """Return the codes whose label, in the active language or English, holds
    the folded ``term`` (at least 3 characters, so "a" does not match all)."""
    if len(term) < 3:
        return []
    labels = {code: [str(label)] for code, label in choices.choices}
    with translation.override("en"):
        for code, label in choices.choices:
            labels[code].append(str(label))
    return [
        code
        for code, names in labels.items()
        if any(term in fold_key(name) for name in names)
    ]


def directory_search(
    *,
    q: str = "",
    service_type: str = "",
    region: str = "",
    target_group: str = "",
    language: str = "",
    accepts_referrals: bool | None = None,
) -> QuerySet[ServiceProfile]:
    """Return the profiles of active organisations matching every given filter.

    ``q`` matches a part of the organisation's name or region, or of the name
    of a service type or target group it offers, in the user's language or in
    English ("shelter" finds every shelter), and ``region`` a part of the
    region, ignoring case in any script ("lagos" finds "Lagos State."). Codes
    match exactly. Ordered by organisation name.
    """
    qs = ServiceProfile.objects.filter(organisation__is_active=True).select_related(
        "organisation"
    )
    term = fold_key(q)
    if term:
        match = Q(search_key__contains=term) | Q(organisation__name_key__contains=term)
        for field, codes in (
            ("service_types", _codes_named(ServiceType, term)),
            ("target_groups", _codes_named(TargetGroup, term)),
        ):
            for code in codes:
                match |= _has_code(field, code)
        qs = qs.filter(match)
    region_term = fold_key(region)
    if region_term:
        qs = qs.filter(region_key__contains=region_term)
    if service_type:
        qs = qs.filter(_has_code("service_types", service_type.strip()))
    if target_group:
        qs = qs.filter(_has_code("target_groups", target_group.strip()))
    if language:
        qs = qs.filter(_has_code("languages", language.strip().lower()))
    if accepts_referrals is not None:
        qs = qs.filter(accepts_referrals=accepts_referrals)
    return qs.order_by("organisation__name")


def profile_get(
    *, organisation_id: UUID, include_inactive: bool = False
) -> ServiceProfile:
    """Return the organisation's profile.

    A deactivated organisation is out of the directory (as in the list) unless
    ``include_inactive`` (node administrators editing it).

    Raises:
        ProfileNotFound: the organisation has none, does not exist, or is
            deactivated.
    """
    profiles = ServiceProfile.objects.select_related(
        "organisation", "capacity_updated_by"
    ).filter(organisation_id=organisation_id)
    if not include_inactive:
        profiles = profiles.filter(organisation__is_active=True)
    profile = profiles.first()
    if profile is None:
        raise ProfileNotFound(_("This organisation has no directory profile."))
    return profile


def regions() -> list[str]:
    """Return the distinct non-empty regions of active organisations' profiles."""
    values = (
        ServiceProfile.objects.filter(organisation__is_active=True)
        .exclude(region="")
        .values_list("region", flat=True)
        .distinct()
    )
    return sorted(set(values), key=fold_key)
