"""Wire schemas of ``return.handover`` and ``return.handover.arrival`` (v1:
never edited once released; EXCHANGE.md §3, SOPS §6.4 M9)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from trm.cases.messages import OrganisationRefV1, WireModel

RETURN_HANDOVER = "return.handover"
RETURN_HANDOVER_ARRIVAL = "return.handover.arrival"

_REF = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$"
MAX_FUNCTION_CHARS = 200
MAX_ARRIVAL_POINT_CHARS = 500
MAX_ITINERARY_CHARS = 2000


class ReturnHandoverV1(WireModel):
    """``return.handover`` v1 (destination NCP → origin NCP): the journey is
    under way. Times and functions always; the arrival point and the itinerary
    (category ``case_summary``) only under the person's consent to a transfer
    to the origin country, otherwise empty."""

    trm_case_ref: str = Field(pattern=_REF)
    handover_ref: UUID
    departure_at: datetime
    expected_arrival_at: datetime
    escort_function: str = Field(default="", max_length=MAX_FUNCTION_CHARS)
    meeting_person_function: str = Field(default="", max_length=MAX_FUNCTION_CHARS)
    arrival_point: str = Field(default="", max_length=MAX_ARRIVAL_POINT_CHARS)
    itinerary: str = Field(default="", max_length=MAX_ITINERARY_CHARS)
    sending_organisation: OrganisationRefV1


class ReturnHandoverArrivalV1(WireModel):
    """``return.handover.arrival`` v1 (origin → destination): arrived or not,
    and when. Codes and times only."""

    trm_case_ref: str = Field(pattern=_REF)
    handover_ref: UUID
    arrived: bool
    at: datetime
    sending_organisation: OrganisationRefV1
