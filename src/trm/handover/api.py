"""API of trm.handover: ``/api/v1/cases/{case_id}/handover``.

``GET`` lists the case's handovers (either side; texts ``null`` once the
person was erased; the read is audited); ``POST /{handover_id}/arrival``
confirms an arrival on the origin node
(:func:`trm.handover.services.return_arrival_confirm`). Legal-track-only
roles get 403; no access to the case, 404.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.http import HttpRequest
from ninja import Path, Router, Schema
from pydantic import ConfigDict, Field

from trm.accounts.models import User
from trm.cases import selectors as case_selectors
from trm.common.api import request_actor
from trm.handover import selectors, services
from trm.identification.common import MAX_REASON_CHARS

router = Router(tags=["handover"])


class HandoverOut(Schema):
    id: UUID
    handover_ref: UUID
    side: str = Field(description="destination or origin")
    peer_node: str
    departure_at: datetime
    expected_arrival_at: datetime
    alert_due_at: datetime
    escort_function: str
    meeting_person_function: str
    arrival_point: str | None
    itinerary: str | None
    sending_organisation: str
    status: str = Field(description="announced, arrived or not_arrived")
    arrival_at: datetime | None
    arrival_confirmed_at: datetime | None
    note: str | None
    alert_raised_at: datetime | None
    lead_side: str
    lead_moved_at: datetime | None


class HandoverListOut(Schema):
    handovers: list[HandoverOut]


class ArrivalIn(Schema):
    model_config = ConfigDict(extra="forbid")

    arrived: bool
    at: datetime = Field(description="With its time zone; not in the future")
    note: str = Field("", max_length=MAX_REASON_CHARS)


def _list(user: User, case_id: UUID) -> HandoverListOut:
    case, _access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    rows = selectors.handovers_for_user(user=user, case=case)
    return HandoverListOut(handovers=[HandoverOut(**vars(r)) for r in rows])


@router.get("", response=HandoverListOut, summary="The case's handovers (SOP 4)")
def handover_list(request: HttpRequest, case_id: Path[UUID]) -> HandoverListOut:
    return _list(request_actor(request), case_id)


@router.post(
    "/{handover_id}/arrival",
    response=HandoverListOut,
    summary="Confirm an arrival at origin (SOP 4 step 8)",
)
def handover_arrival(
    request: HttpRequest,
    case_id: Path[UUID],
    handover_id: Path[UUID],
    payload: ArrivalIn,
) -> HandoverListOut:
    user = request_actor(request)
    services.return_arrival_confirm(
        actor=user,
        case_id=case_id,
        handover_id=handover_id,
        arrived=payload.arrived,
        at=payload.at,
        note=payload.note,
    )
    return _list(user, case_id)
