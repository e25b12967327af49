"""API endpoints of the guidance library: search, read, create, change, file.

The same selectors and services as the pages, with the same rules: everyone
signed in reads; national contact points and node administrators write. A
file is uploaded as ``multipart/form-data`` to ``/{slug}/file`` and checked
by :func:`trm.guidance.files.check_upload`; it is downloaded from the page
URL in ``file_url`` (always as an attachment).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.params.functions import File
from pydantic import ConfigDict, Field

from trm.common.api import MAX_PAGE, request_actor
from trm.common.languages import is_language_code
from trm.common.pagination import capped_count
from trm.guidance import selectors, services
from trm.guidance.errors import GuidanceInvalidInput
from trm.guidance.files import check_upload, max_upload_bytes, too_large_error
from trm.guidance.models import Category, Region, Resource
from trm.guidance.selectors import Filters
from trm.guidance.services import ResourceInput

router = Router(tags=["guidance"])
#: The upload's optional multipart field (optional, so that a caller who may
#: not edit is refused for that, not for a missing file).
NO_FILE = File(None)

PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


class GuidanceFilters(Schema):
    q: str = Field("", max_length=200, description="Words to find (every one)")
    category: str = Field("", max_length=20, description="Category code")
    region: str = Field("", max_length=40, description="Region code")
    topic: str = Field("", max_length=40, description="A topic tag")
    language: str = Field("", max_length=3, description="ISO 639 code")
    year: int | None = Field(None, ge=1900, le=2999)
    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)


class GuidanceResourceOut(Schema):
    id: UUID
    slug: str
    title: str
    publisher: str
    year: int | None
    category: str
    regions: list[str]
    topics: list[str]
    languages: list[str]
    summary: str
    link: str
    file_name: str
    file_type: str
    file_size: int | None
    file_url: str = Field(description="Download address (page URL); empty: no file")
    sop_steps: list[str]
    updated_at: datetime


def _out(resource: Resource) -> GuidanceResourceOut:
    return GuidanceResourceOut(
        id=resource.pk,
        slug=resource.slug,
        title=resource.title,
        publisher=resource.publisher,
        year=resource.year,
        category=resource.category,
        regions=list(resource.regions),
        topics=list(resource.topics),
        languages=list(resource.languages),
        summary=resource.summary,
        link=resource.link,
        file_name=resource.file_name,
        file_type=resource.file_type,
        file_size=resource.file_size,
        file_url=(
            reverse("guidance:download", args=[resource.slug]) if resource.file else ""
        ),
        sop_steps=list(resource.sop_steps),
        updated_at=resource.updated_at,
    )


class GuidancePage(Schema):
    count: int = Field(description="Matching resources, counted up to 1,000")
    more: bool = Field(description="True when more than 1,000 match")
    items: list[GuidanceResourceOut]


class GuidanceResourceIn(Schema):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(max_length=300)
    category: str = Field(max_length=20)
    publisher: str = Field("", max_length=200)
    year: int | None = None
    regions: list[str] = Field([], max_length=10)
    topics: list[str] = Field([], max_length=20)
    languages: list[str] = Field([], max_length=30)
    summary: str = Field("", max_length=4000)
    link: str = Field("", max_length=500)
    sop_steps: list[str] = Field([], max_length=60)
    slug: str = Field("", max_length=80, description="Empty: made from the title")


def _values(payload: GuidanceResourceIn) -> ResourceInput:
    return ResourceInput(**payload.model_dump())


def _check_filters(filters: GuidanceFilters) -> None:
    """Refuse an unknown category, region or language code (a typo must not
    look like an empty library), as the list page says "not valid".

    Raises:
        GuidanceInvalidInput: ``details["field"]`` names the filter and
            ``details["allowed"]`` lists the codes (category and region).
    """
    for name, allowed in (("category", Category.values), ("region", Region.values)):
        value = getattr(filters, name)
        if value and value not in allowed:
            raise GuidanceInvalidInput(
                _("Unknown code(s): %(codes)s.") % {"codes": value},
                details={"field": name, "allowed": list(allowed)},
            )
    if filters.language and not is_language_code(filters.language):
        raise GuidanceInvalidInput(
            _("Unknown language code(s): %(codes)s. Use ISO 639 codes such as en.")
            % {"codes": filters.language},
            details={"field": "language"},
        )


@router.get("", response=GuidancePage, summary="Search the guidance library")
def guidance_list(
    request: HttpRequest, filters: Query[GuidanceFilters]
) -> GuidancePage:
    """Search; an unknown category, region or language code is a 400
    (``guidance.invalid_input``)."""
    request_actor(request)
    _check_filters(filters)
    qs = selectors.search_resources(
        Filters(
            q=filters.q,
            category=filters.category,
            region=filters.region,
            topic=filters.topic,
            language=filters.language,
            year=filters.year,
        )
    )
    count, more = capped_count(qs)
    start = (filters.page - 1) * filters.page_size
    return GuidancePage(
        count=count,
        more=more,
        items=[_out(r) for r in qs[start : start + filters.page_size]],
    )


@router.get("/{slug}", response=GuidanceResourceOut, summary="One guidance resource")
def guidance_detail(request: HttpRequest, slug: str) -> GuidanceResourceOut:
    request_actor(request)
    return _out(selectors.resource_get(slug=slug))


@router.post(
    "",
    response={201: GuidanceResourceOut},
    summary="Add a resource (national contact point, node administrator)",
)
def guidance_create(
    request: HttpRequest, payload: GuidanceResourceIn
) -> Status[GuidanceResourceOut]:
    resource = services.resource_create(
        actor=request_actor(request), values=_values(payload)
    )
    return Status(201, _out(resource))


@router.put(
    "/{slug}",
    response=GuidanceResourceOut,
    summary="Change a resource (national contact point, node administrator)",
)
def guidance_update(
    request: HttpRequest, slug: str, payload: GuidanceResourceIn
) -> GuidanceResourceOut:
    actor = request_actor(request)
    services.require_editor(actor)
    resource = selectors.resource_get(slug=slug)
    return _out(
        services.resource_update(
            actor=actor, resource_id=resource.pk, values=_values(payload)
        )
    )


@router.post(
    "/{slug}/file",
    response=GuidanceResourceOut,
    summary="Upload or replace a resource's file (multipart; editors)",
)
def guidance_upload(
    request: HttpRequest, slug: str, file: UploadedFile | None = NO_FILE
) -> GuidanceResourceOut:
    actor = request_actor(request)
    services.require_editor(actor)
    resource = selectors.resource_get(slug=slug)
    if file is None:
        raise GuidanceInvalidInput(
            _("Send the file as multipart form data in the field 'file'."),
            details={"field": "file"},
        )
    if (file.size or 0) > max_upload_bytes():
        raise too_large_error()
    checked = check_upload(file.name or "", b"".join(file.chunks()))
    values = ResourceInput(
        title=resource.title,
        category=resource.category,
        publisher=resource.publisher,
        year=resource.year,
        regions=list(resource.regions),
        topics=list(resource.topics),
        languages=list(resource.languages),
        summary=resource.summary,
        link=resource.link,
        sop_steps=list(resource.sop_steps),
    )
    return _out(
        services.resource_update(
            actor=actor, resource_id=resource.pk, values=values, upload=checked
        )
    )


@router.delete(
    "/{slug}",
    response={204: None},
    summary="Delete a resource and its file (editors)",
)
def guidance_delete(request: HttpRequest, slug: str) -> Status[None]:
    actor = request_actor(request)
    services.require_editor(actor)
    resource = selectors.resource_get(slug=slug)
    services.resource_delete(actor=actor, resource_id=resource.pk)
    return Status(204, None)
