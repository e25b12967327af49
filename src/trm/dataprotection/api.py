"""API endpoints for data protection: erasure requests and the subject-access export.

The same selectors and services as the pages in :mod:`trm.dataprotection.views`,
called in the same order, so the same access checks (404 for a case or request
the user may not know, 403 for a role that may not do this), the same audit
entries and the same refusals (structured errors with stable codes) apply.

Erasure requests are answered without personal data: codes, times, the case
number and staff usernames, as on the pages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from trm.common.api import request_actor
from trm.common.pagination import capped_count
from trm.dataprotection import export, selectors, services
from trm.dataprotection.models import ErasureRequest

router = Router(tags=["data protection"])

MAX_PAGE_SIZE = 200
#: Beyond this the offset no longer fits the database's integer; no list is longer.
MAX_PAGE = 1_000_000


# --- schemas ------------------------------------------------------------------------


class ErasureRequestIn(Schema):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        description=(
            "ErasureReason code: gdpr_art17, retention_expired, recorded_in_error, "
            "court_order or other."
        )
    )
    note: str = Field(
        "",
        max_length=2000,
        description=(
            "Short justification kept after the erasure: no personal data. At most "
            f"{ErasureRequest.NOTE_MAX_LENGTH} characters once whitespace is "
            "collapsed; required for 'other'."
        ),
    )


class ErasureRequestOut(Schema):
    id: UUID
    case_id: UUID
    case_number: str
    status: str = Field(description="pending, confirmed or cancelled")
    reason: str
    note: str
    requested_by: str | None = Field(
        description="Username; None for the retention job or a deleted account."
    )
    requested_at: datetime
    decided_by: str | None = Field(
        description="Who confirmed or cancelled it; None while pending or by system."
    )
    decided_at: datetime | None


class ErasureRequestListQuery(Schema):
    status: Literal["pending", "decided", "all"] = Field(
        "all",
        description=(
            "pending: oldest first; decided: the erasure register, newest first; "
            "all: newest first."
        ),
    )
    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class ErasureRequestPage(Schema):
    count: int = Field(description="Matching requests, counted up to 1,000")
    more: bool = Field(
        default=False, description="True when more than 1,000 requests match"
    )
    items: list[ErasureRequestOut]


# --- building answers -------------------------------------------------------------


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def _out(request: ErasureRequest) -> ErasureRequestOut:
    decided_by = request.confirmed_by or request.cancelled_by
    return ErasureRequestOut(
        id=request.pk,
        case_id=request.case_id,
        case_number=request.case.number,
        status=request.status,
        reason=request.reason,
        note=request.note,
        requested_by=_username(request.requested_by),
        requested_at=request.requested_at,
        decided_by=_username(decided_by),
        decided_at=request.confirmed_at or request.cancelled_at,
    )


# --- endpoints --------------------------------------------------------------------


@router.post(
    "/cases/{case_id}/erasure-requests",
    response={201: ErasureRequestOut},
    summary="Request the erasure of the case's person",
    description=(
        "The case manager on the case team or the data-protection officer asks; "
        "the erasure happens only when a second person (data-protection officer "
        "or node administrator) confirms."
    ),
)
def erasure_request(
    request: HttpRequest, case_id: UUID, payload: ErasureRequestIn
) -> Status[ErasureRequestOut]:
    created = services.erasure_request(
        actor=request_actor(request),
        case_id=case_id,
        reason=payload.reason,
        note=payload.note,
    )
    return Status(201, _out(created))


@router.get(
    "/erasure-requests",
    response=ErasureRequestPage,
    summary="Erasure requests: pending and decided (DPO, node administrator)",
)
def erasure_request_list(
    request: HttpRequest, filters: Query[ErasureRequestListQuery]
) -> ErasureRequestPage:
    qs = selectors.erasure_requests_for_user(
        user=request_actor(request), status=filters.status
    )
    count, more = capped_count(qs)
    start = (filters.page - 1) * filters.page_size
    rows = list(qs[start : start + filters.page_size])
    return ErasureRequestPage(count=count, more=more, items=[_out(r) for r in rows])


@router.post(
    "/erasure-requests/{request_id}/confirm",
    response=ErasureRequestOut,
    summary="Confirm an erasure request: erases the person (irreversible)",
    description=(
        "Only the data-protection officer or the node administrator, and never "
        "the person who made the request (four eyes)."
    ),
)
def erasure_confirm(request: HttpRequest, request_id: UUID) -> ErasureRequestOut:
    user = request_actor(request)
    selectors.require_decider(user)
    selectors.erasure_request_for_user(user=user, request_id=request_id)
    return _out(services.erasure_confirm(actor=user, request_id=request_id))


@router.post(
    "/erasure-requests/{request_id}/cancel",
    response=ErasureRequestOut,
    summary="Cancel an erasure request (decider, or the requester withdrawing it)",
)
def erasure_cancel(request: HttpRequest, request_id: UUID) -> ErasureRequestOut:
    user = request_actor(request)
    selectors.erasure_request_for_user(user=user, request_id=request_id)
    return _out(services.erasure_cancel(actor=user, request_id=request_id))


@router.get(
    "/cases/{case_id}/export",
    response={200: dict[str, Any]},
    summary="Everything held about the case's person (GDPR Art. 15, audited)",
    description=(
        "The subject-access export as JSON, the same document as the page's "
        "JSON download: the data-protection officer's covers every case of the "
        "person, a case manager's the cases they may see. Never cached."
    ),
)
def subject_access_export(request: HttpRequest, case_id: UUID) -> HttpResponse:
    result = selectors.subject_access_export(
        user=request_actor(request), case_id=case_id, fmt="json"
    )
    response = HttpResponse(
        export.render_json(result), content_type="application/json; charset=utf-8"
    )
    response["Content-Language"] = result.language
    patch_cache_control(response, no_store=True, private=True)
    return response
