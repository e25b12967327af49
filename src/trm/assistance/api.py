"""API of the assistance pathway, under ``/api/v1/cases/{case_id}/assistance``.

``GET`` answers the state and the moves the caller may make now (each enabled
or with the reason a guard blocks it); one ``POST`` per move calls the same
service as the web form and answers the state after it. Refusals are the
project's structured errors: 400 bad input, 403 role or missing consent
(``consent.missing``), 404 no such case (or not visible, or legal-track-only
caller), 409 state.
"""

from __future__ import annotations

from uuid import UUID

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Path, Router, Schema
from pydantic import ConfigDict, Field

from trm.accounts.models import User
from trm.assistance import selectors, services
from trm.cases import selectors as case_selectors
from trm.cases.errors import CaseNotFound
from trm.common.api import request_actor
from trm.identification.common import MAX_REASON_CHARS

#: Mounted at ``/cases/{case_id}/assistance``.
router = Router(tags=["assistance"])

REASON = Field("", max_length=MAX_REASON_CHARS)


class AssistanceStrictIn(Schema):
    model_config = ConfigDict(extra="forbid")


class StartIn(AssistanceStrictIn):
    basis: str = Field(description="consent or emergency")
    reason: str = Field(
        "", max_length=MAX_REASON_CHARS, description="Required for emergency."
    )


class DeclineIn(AssistanceStrictIn):
    information_given: bool
    contact_details_given: bool = False
    reason: str = REASON


class AssistanceReasonIn(AssistanceStrictIn):
    reason: str = REASON


class AssistanceCloseIn(AssistanceStrictIn):
    closure: str = Field(description="A Closure code, e.g. goals_met")
    reason: str = REASON


class MoveOut(Schema):
    name: str
    label: str
    target: str
    enabled: bool
    explanation: str


class AssistanceOut(Schema):
    case_id: UUID
    state: str
    state_label: str
    moves: list[MoveOut]


def _state(user: User, case_id: UUID) -> AssistanceOut:
    case, access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    if access.legal_only:
        raise CaseNotFound(_("No such case."))
    return AssistanceOut(
        case_id=case.pk,
        state=case.assistance,
        state_label=selectors.state_label(case),
        moves=[
            MoveOut(
                name=m.name,
                label=str(m.label),
                target=m.target,
                enabled=m.enabled,
                explanation=m.explanation,
            )
            for m in selectors.moves_for(case, access)
        ],
    )


@router.get("", response=AssistanceOut, summary="Assistance state and possible moves")
def assistance_state(request: HttpRequest, case_id: Path[UUID]) -> AssistanceOut:
    return _state(request_actor(request), case_id)


@router.post("/start", response=AssistanceOut, summary="Start first assistance")
def assistance_start(
    request: HttpRequest, case_id: Path[UUID], payload: StartIn
) -> AssistanceOut:
    user = request_actor(request)
    services.assistance_start(
        actor=user, case_id=case_id, basis=payload.basis, reason=payload.reason
    )
    return _state(user, case_id)


@router.post(
    "/decline", response=AssistanceOut, summary="Record that assistance is declined"
)
def assistance_decline(
    request: HttpRequest, case_id: Path[UUID], payload: DeclineIn
) -> AssistanceOut:
    user = request_actor(request)
    services.assistance_decline(
        actor=user,
        case_id=case_id,
        information_given=payload.information_given,
        contact_details_given=payload.contact_details_given,
        reason=payload.reason,
    )
    return _state(user, case_id)


@router.post(
    "/long-term", response=AssistanceOut, summary="Start long-term assistance (SOP 3)"
)
def long_term_start(
    request: HttpRequest, case_id: Path[UUID], payload: AssistanceReasonIn
) -> AssistanceOut:
    user = request_actor(request)
    services.long_term_start(actor=user, case_id=case_id, reason=payload.reason)
    return _state(user, case_id)


@router.post(
    "/return-preparation",
    response=AssistanceOut,
    summary="Start preparing a voluntary return (SOP 4)",
)
def return_preparation_start(
    request: HttpRequest, case_id: Path[UUID], payload: AssistanceReasonIn
) -> AssistanceOut:
    user = request_actor(request)
    services.return_preparation_start(
        actor=user, case_id=case_id, reason=payload.reason
    )
    return _state(user, case_id)


@router.post("/close", response=AssistanceOut, summary="Close assistance with a reason")
def assistance_close(
    request: HttpRequest, case_id: Path[UUID], payload: AssistanceCloseIn
) -> AssistanceOut:
    user = request_actor(request)
    services.assistance_close(
        actor=user, case_id=case_id, closure=payload.closure, reason=payload.reason
    )
    return _state(user, case_id)
