"""API endpoints of the service directory: search, read, capacity, profile.

The same selectors and services as the web pages, with the same rule on who
may read: anyone who works on cases, and node administrators.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import ConfigDict, Field

from trm.common.api import MAX_PAGE, request_actor
from trm.common.pagination import capped_count
from trm.directory import selectors, services
from trm.directory.models import ServiceProfile
from trm.directory.views import require_reader

router = Router(tags=["directory"])

PAGE_SIZE = 25
MAX_PAGE_SIZE = 100


class DirectoryFilters(Schema):
    q: str = Field("", max_length=200, description="Part of the name or region")
    service_type: str = Field("", max_length=40, description="ServiceType code")
    region: str = Field("", max_length=120, description="Part of the region")
    target_group: str = Field("", max_length=40, description="TargetGroup code")
    language: str = Field("", max_length=3, description="ISO 639 code")
    accepts_referrals: bool | None = Field(
        None, description="true: only those accepting referrals now"
    )
    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)


class ProfileOut(Schema):
    organisation_id: UUID
    organisation: str
    country: str
    service_types: list[str]
    target_groups: list[str]
    languages: list[str]
    region: str
    address: str
    opening_hours: str
    contact_24_7: str
    email: str
    phone: str
    website: str
    accepts_referrals: bool
    places_total: int | None
    places_free: int | None
    capacity_updated_at: datetime | None
    capacity_updated_by_provider: bool = Field(
        description="The capacity was reported by the organisation's own staff."
    )
    latitude: float | None
    longitude: float | None
    updated_at: datetime


def _out(profile: ServiceProfile) -> ProfileOut:
    organisation = profile.organisation
    updated_by = profile.capacity_updated_by
    return ProfileOut(
        organisation_id=organisation.pk,
        organisation=organisation.name,
        country=organisation.country.code or "",
        service_types=list(profile.service_types),
        target_groups=list(profile.target_groups),
        languages=list(profile.languages),
        region=profile.region,
        address=profile.address,
        opening_hours=profile.opening_hours,
        contact_24_7=profile.contact_24_7,
        email=profile.email,
        phone=profile.phone,
        website=profile.website,
        accepts_referrals=profile.accepts_referrals,
        places_total=profile.places_total,
        places_free=profile.places_free,
        capacity_updated_at=profile.capacity_updated_at,
        capacity_updated_by_provider=(
            updated_by is not None
            and updated_by.organisation_id == profile.organisation_id
        ),
        latitude=profile.latitude,
        longitude=profile.longitude,
        updated_at=profile.updated_at,
    )


class DirectoryPage(Schema):
    count: int = Field(description="Matching organisations, counted up to 1,000")
    more: bool = Field(description="True when more than 1,000 match")
    items: list[ProfileOut]


class CapacityIn(Schema):
    model_config = ConfigDict(extra="forbid")

    places_total: int | None = Field(description="None: not reported")
    places_free: int | None = Field(description="None: not reported")
    accepts_referrals: bool | None = Field(None, description="None leaves it as it is")


class ProfileIn(Schema):
    model_config = ConfigDict(extra="forbid")

    service_types: list[str] = Field(max_length=20, description="ServiceType codes")
    target_groups: list[str] = Field([], max_length=10)
    languages: list[str] = Field([], max_length=30, description="ISO 639 codes")
    region: str = Field("", max_length=120)
    address: str = Field("", max_length=1000)
    opening_hours: str = Field("", max_length=200)
    contact_24_7: str = Field("", max_length=200)
    email: str = Field("", max_length=254)
    phone: str = Field("", max_length=40)
    website: str = Field("", max_length=200)
    accepts_referrals: bool = True
    latitude: float | None = None
    longitude: float | None = None


@router.get("", response=DirectoryPage, summary="Search the service directory")
def directory_list(
    request: HttpRequest, filters: Query[DirectoryFilters]
) -> DirectoryPage:
    require_reader(request_actor(request))
    qs = selectors.directory_search(
        q=filters.q,
        service_type=filters.service_type,
        region=filters.region,
        target_group=filters.target_group,
        language=filters.language,
        accepts_referrals=filters.accepts_referrals,
    ).select_related("capacity_updated_by")
    count, more = capped_count(qs)
    start = (filters.page - 1) * filters.page_size
    profiles = list(qs[start : start + filters.page_size])
    return DirectoryPage(
        count=count,
        more=more,
        items=[_out(p) for p in profiles],
    )


@router.get(
    "/{organisation_id}",
    response=ProfileOut,
    summary="One organisation's directory profile",
)
def directory_detail(request: HttpRequest, organisation_id: UUID) -> ProfileOut:
    require_reader(request_actor(request))
    return _out(selectors.profile_get(organisation_id=organisation_id))


@router.post(
    "/{organisation_id}/capacity",
    response=ProfileOut,
    summary="Report an organisation's places (its own staff or a node administrator)",
)
def directory_capacity(
    request: HttpRequest, organisation_id: UUID, payload: CapacityIn
) -> ProfileOut:
    services.capacity_update(
        actor=request_actor(request),
        organisation_id=organisation_id,
        places_total=payload.places_total,
        places_free=payload.places_free,
        accepts_referrals=payload.accepts_referrals,
    )
    return _out(
        selectors.profile_get(organisation_id=organisation_id, include_inactive=True)
    )


@router.put(
    "/{organisation_id}",
    response=ProfileOut,
    summary="Create or replace an organisation's profile (node administrator)",
)
def directory_save(
    request: HttpRequest, organisation_id: UUID, payload: ProfileIn
) -> ProfileOut:
    services.profile_save(
        actor=request_actor(request),
        organisation_id=organisation_id,
        service_types=payload.service_types,
        target_groups=payload.target_groups,
        languages=payload.languages,
        region=payload.region,
        address=payload.address,
        opening_hours=payload.opening_hours,
        contact_24_7=payload.contact_24_7,
        email=payload.email,
        phone=payload.phone,
        website=payload.website,
        accepts_referrals=payload.accepts_referrals,
        latitude=payload.latitude,
        longitude=payload.longitude,
    )
    return _out(
        selectors.profile_get(organisation_id=organisation_id, include_inactive=True)
    )
