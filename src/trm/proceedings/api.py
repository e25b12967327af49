"""API of SOP 5 proceedings, under ``/api/v1/cases/{case_id}/proceedings``.

The same services and selectors as the web pages. A refusal is the project's
structured error (``{"error": {"code", "message", "details"}}``): 400 bad
input (``details.field`` names it: a missing rights field, an amount without
currency, an unknown currency code…), 403 role (``cases.role_required``, or
``proceedings.not_for_role`` for a role that does not read these records),
404 no such case (or not visible) or record, 409 state (closed case, a move
the record's status does not allow, rights already recorded).

Amounts are decimal strings (``"1500.00"``) with an ISO 4217 ``currency``.
Sealed text is ``null`` once the person's data was erased.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from django.http import HttpRequest
from ninja import Path, Router, Schema, Status
from pydantic import ConfigDict, Field

from trm.cases import selectors as case_selectors
from trm.cases.models import Case
from trm.common.api import request_actor
from trm.identification.common import MAX_REASON_CHARS
from trm.proceedings import notices, selectors, services
from trm.proceedings.common import MAX_NAME_CHARS

#: Mounted at ``/cases/{case_id}/proceedings``.
router = Router(tags=["proceedings"])

NAME = Field("", max_length=MAX_NAME_CHARS)


class ProceedingsStrictIn(Schema):
    """Request bodies refuse unknown fields."""

    model_config = ConfigDict(extra="forbid")


# --- inputs ------------------------------------------------------------------------


class ProceedingsRightsIn(ProceedingsStrictIn):
    informed_on: date | None = None
    language: str = Field("", max_length=8, description="ISO 639 code.")
    interpreter: bool | None = Field(None, description="Required: true or false.")
    has_lawyer: bool | None = Field(
        None, description="Required: whether the person had a lawyer (true or false)."
    )
    lawyer: str = Field(
        "",
        max_length=MAX_NAME_CHARS,
        description=(
            "The lawyer's organisation: required when has_lawyer is true, "
            "empty when it is false."
        ),
    )


class ProceedingsLawyerIn(ProceedingsStrictIn):
    lawyer: str = NAME


class ProceedingsProtectionIn(ProceedingsStrictIn):
    kind: str = Field("", max_length=30)
    assessed_on: date | None = None


class ProceedingsProtectionOrderIn(ProceedingsStrictIn):
    ordering_authority: str = NAME
    ordered_on: date | None = None


class ProceedingsProtectionLiftIn(ProceedingsStrictIn):
    lifted_on: date | None = None


class ProceedingsClaimIn(ProceedingsStrictIn):
    route: str = Field("", max_length=20, description="criminal, civil or state")
    filed_on: date | None = None
    amount: Decimal | None = None
    currency: str = Field("", max_length=8, description="ISO 4217 code.")


class ProceedingsClaimDecisionIn(ProceedingsStrictIn):
    decided_on: date | None = None
    amount: Decimal | None = None
    currency: str = Field("", max_length=8)


class ProceedingsClaimRejectIn(ProceedingsStrictIn):
    decided_on: date | None = None


class ProceedingsClaimSettleIn(ProceedingsStrictIn):
    settled_on: date | None = None
    amount: Decimal | None = None
    currency: str = Field("", max_length=8)


class ProceedingsClaimUnpaidIn(ProceedingsStrictIn):
    settled_on: date | None = None


class ProceedingsChargeIn(ProceedingsStrictIn):
    offence: str = Field("", max_length=30)
    flagged_on: date | None = None
    charge: str = Field("", max_length=MAX_REASON_CHARS)


class ProceedingsAssessmentRequestIn(ProceedingsStrictIn):
    requested_on: date | None = None


class ProceedingsNonPunishmentDecisionIn(ProceedingsStrictIn):
    outcome: str = Field(
        "", max_length=30, description="not_prosecuted, penalty_not_applied, prosecuted"
    )
    decided_on: date | None = None
    legal_reference: str = Field("", max_length=MAX_REASON_CHARS)


class ProceedingsHearingIn(ProceedingsStrictIn):
    at: datetime | None = None
    court: str = NAME
    kind: str = Field("", max_length=20)
    remote_country: str = Field("", max_length=2, description="ISO 3166-1 alpha-2.")
    interpreter_needed: bool = False


class ProceedingsNoticeIn(ProceedingsStrictIn):
    peer_node: str = Field("", max_length=64)
    kind: str = Field(
        "",
        max_length=20,
        description="hearing, remote_testimony, outcome or offender_release",
    )
    legal_basis: str = Field(
        "", max_length=200, description="consent:<id> or legal_obligation:<reference>"
    )
    hearing_at: datetime | None = None
    support_needed: list[str] = Field(default_factory=list, max_length=5)
    outcome: str = Field("", max_length=notices.MAX_OUTCOME_CHARS)
    judicial_reference: str = Field("", max_length=notices.MAX_REFERENCE_CHARS)


# --- outputs -----------------------------------------------------------------------


class ProceedingsRightsOut(Schema):
    id: UUID
    informed_on: date
    language: str
    interpreter: bool
    lawyer_organisation: str = Field(description='"" when the person has none.')


class ProceedingsProtectionOut(Schema):
    id: UUID
    status: str
    kind: str
    assessed_on: date
    ordering_authority: str
    ordered_on: date | None
    lifted_on: date | None


class ProceedingsClaimOut(Schema):
    id: UUID
    status: str
    route: str
    filed_on: date
    claimed_amount: Decimal | None
    claimed_currency: str
    decided_on: date | None
    awarded_amount: Decimal | None
    awarded_currency: str
    settled_on: date | None
    paid_amount: Decimal | None
    paid_currency: str


class ProceedingsChargeOut(Schema):
    id: UUID
    status: str
    offence: str
    flagged_on: date
    charge: str | None
    requested_on: date | None
    decided_on: date | None
    legal_reference: str | None


class ProceedingsHearingOut(Schema):
    id: UUID
    at: datetime
    court: str
    kind: str
    remote_country: str
    interpreter_needed: bool


class ProceedingsOut(Schema):
    legal: str = Field(description="The case's legal track state.")
    rights: ProceedingsRightsOut | None
    protection: list[ProceedingsProtectionOut]
    compensation: list[ProceedingsClaimOut]
    charges: list[ProceedingsChargeOut]
    hearings: list[ProceedingsHearingOut]


class ProceedingsNoticeOut(Schema):
    id: UUID
    direction: str = Field(description="out (sent) or in (received)")
    peer_node: str
    msg_id: UUID
    kind: str
    hearing_at: datetime | None
    remote_testimony: bool
    support_needed: list[str]
    outcome: str | None
    judicial_reference: str
    recorded_at: datetime


# --- helpers -----------------------------------------------------------------------


def _case(request: HttpRequest, case_id: UUID) -> Case:
    case, _access = case_selectors.case_get_for_user(
        user=request_actor(request), case_id=case_id
    )
    return case


def _state(request: HttpRequest, case_id: UUID) -> ProceedingsOut:
    user = request_actor(request)
    case = _case(request, case_id)
    view = selectors.proceedings_for_user(user=user, case=case)
    rights = view.rights
    return ProceedingsOut(
        legal=case.legal,
        rights=ProceedingsRightsOut(
            id=rights.pk,
            informed_on=rights.informed_on,
            language=rights.language,
            interpreter=rights.interpreter,
            lawyer_organisation=rights.lawyer_organisation,
        )
        if rights
        else None,
        protection=[
            ProceedingsProtectionOut.model_validate(m, from_attributes=True)
            for m in view.protection
        ],
        compensation=[
            ProceedingsClaimOut.model_validate(c, from_attributes=True)
            for c in view.compensation
        ],
        charges=[
            ProceedingsChargeOut(
                id=c.record.pk,
                status=c.record.status,
                offence=c.record.offence,
                flagged_on=c.record.flagged_on,
                charge=c.charge,
                requested_on=c.record.requested_on,
                decided_on=c.record.decided_on,
                legal_reference=c.legal_reference,
            )
            for c in view.charges
        ],
        hearings=[
            ProceedingsHearingOut.model_validate(h, from_attributes=True)
            for h in view.hearings
        ],
    )


def _created(request: HttpRequest, case_id: UUID) -> Status[ProceedingsOut]:
    return Status(201, _state(request, case_id))


# --- endpoints ---------------------------------------------------------------------


@router.get("", response=ProceedingsOut, summary="Rights and sub-tracks (audited)")
def proceedings_get(request: HttpRequest, case_id: Path[UUID]) -> ProceedingsOut:
    return _state(request, case_id)


@router.post(
    "/rights",
    response={201: ProceedingsOut},
    summary="Record the rights information (moves the legal track)",
)
def rights_post(
    request: HttpRequest, case_id: Path[UUID], payload: ProceedingsRightsIn
) -> Status[ProceedingsOut]:
    services.rights_inform(
        actor=request_actor(request), case_id=case_id, **payload.model_dump()
    )
    return _created(request, case_id)


@router.post(
    "/rights/lawyer", response={201: ProceedingsOut}, summary="Record the lawyer"
)
def lawyer_post(
    request: HttpRequest, case_id: Path[UUID], payload: ProceedingsLawyerIn
) -> Status[ProceedingsOut]:
    services.legal_aid_appoint(
        actor=request_actor(request), case_id=case_id, lawyer=payload.lawyer
    )
    return _created(request, case_id)


@router.post(
    "/protection",
    response={201: ProceedingsOut},
    summary="Record a risk assessment for a protection measure",
)
def protection_post(
    request: HttpRequest, case_id: Path[UUID], payload: ProceedingsProtectionIn
) -> Status[ProceedingsOut]:
    services.protection_assess(
        actor=request_actor(request), case_id=case_id, **payload.model_dump()
    )
    return _created(request, case_id)


@router.post(
    "/protection/{measure_id}/order",
    response={201: ProceedingsOut},
    summary="Record that a protection measure was ordered",
)
def protection_order_post(
    request: HttpRequest,
    case_id: Path[UUID],
    measure_id: Path[UUID],
    payload: ProceedingsProtectionOrderIn,
) -> Status[ProceedingsOut]:
    services.protection_order(
        actor=request_actor(request),
        case_id=case_id,
        measure_id=measure_id,
        **payload.model_dump(),
    )
    return _created(request, case_id)


@router.post(
    "/protection/{measure_id}/lift",
    response={201: ProceedingsOut},
    summary="Record that a protection measure was lifted",
)
def protection_lift_post(
    request: HttpRequest,
    case_id: Path[UUID],
    measure_id: Path[UUID],
    payload: ProceedingsProtectionLiftIn,
) -> Status[ProceedingsOut]:
    services.protection_lift(
        actor=request_actor(request),
        case_id=case_id,
        measure_id=measure_id,
        **payload.model_dump(),
    )
    return _created(request, case_id)


@router.post("/compensation", response={201: ProceedingsOut}, summary="File a claim")
def claim_post(
    request: HttpRequest, case_id: Path[UUID], payload: ProceedingsClaimIn
) -> Status[ProceedingsOut]:
    services.compensation_file(
        actor=request_actor(request), case_id=case_id, **payload.model_dump()
    )
    return _created(request, case_id)


@router.post(
    "/compensation/{claim_id}/award",
    response={201: ProceedingsOut},
    summary="Record an award (amount and currency)",
)
def claim_award_post(
    request: HttpRequest,
    case_id: Path[UUID],
    claim_id: Path[UUID],
    payload: ProceedingsClaimDecisionIn,
) -> Status[ProceedingsOut]:
    services.compensation_award(
        actor=request_actor(request),
        case_id=case_id,
        claim_id=claim_id,
        **payload.model_dump(),
    )
    return _created(request, case_id)


@router.post(
    "/compensation/{claim_id}/reject",
    response={201: ProceedingsOut},
    summary="Record that the claim was rejected",
)
def claim_reject_post(
    request: HttpRequest,
    case_id: Path[UUID],
    claim_id: Path[UUID],
    payload: ProceedingsClaimRejectIn,
) -> Status[ProceedingsOut]:
    services.compensation_reject(
        actor=request_actor(request),
        case_id=case_id,
        claim_id=claim_id,
        **payload.model_dump(),
    )
    return _created(request, case_id)


@router.post(
    "/compensation/{claim_id}/paid",
    response={201: ProceedingsOut},
    summary="Record that the award was paid",
)
def claim_paid_post(
    request: HttpRequest,
    case_id: Path[UUID],
    claim_id: Path[UUID],
    payload: ProceedingsClaimSettleIn,
) -> Status[ProceedingsOut]:
    services.compensation_record_paid(
        actor=request_actor(request),
        case_id=case_id,
        claim_id=claim_id,
        **payload.model_dump(),
    )
    return _created(request, case_id)


@router.post(
    "/compensation/{claim_id}/unpaid",
    response={201: ProceedingsOut},
    summary="Record that the award was not paid",
)
def claim_unpaid_post(
    request: HttpRequest,
    case_id: Path[UUID],
    claim_id: Path[UUID],
    payload: ProceedingsClaimUnpaidIn,
) -> Status[ProceedingsOut]:
    services.compensation_record_unpaid(
        actor=request_actor(request),
        case_id=case_id,
        claim_id=claim_id,
        **payload.model_dump(),
    )
    return _created(request, case_id)


@router.post(
    "/charges",
    response={201: ProceedingsOut},
    summary="Flag a charge linked to the trafficking (non-punishment)",
)
def charge_post(
    request: HttpRequest, case_id: Path[UUID], payload: ProceedingsChargeIn
) -> Status[ProceedingsOut]:
    services.charge_flag(
        actor=request_actor(request), case_id=case_id, **payload.model_dump()
    )
    return _created(request, case_id)


@router.post(
    "/charges/{record_id}/assessment",
    response={201: ProceedingsOut},
    summary="Record that a non-punishment assessment was asked for",
)
def assessment_post(
    request: HttpRequest,
    case_id: Path[UUID],
    record_id: Path[UUID],
    payload: ProceedingsAssessmentRequestIn,
) -> Status[ProceedingsOut]:
    services.non_punishment_request(
        actor=request_actor(request),
        case_id=case_id,
        record_id=record_id,
        **payload.model_dump(),
    )
    return _created(request, case_id)


@router.post(
    "/charges/{record_id}/decision",
    response={201: ProceedingsOut},
    summary="Record the outcome of the non-punishment assessment",
)
def decision_post(
    request: HttpRequest,
    case_id: Path[UUID],
    record_id: Path[UUID],
    payload: ProceedingsNonPunishmentDecisionIn,
) -> Status[ProceedingsOut]:
    services.non_punishment_decide(
        actor=request_actor(request),
        case_id=case_id,
        record_id=record_id,
        **payload.model_dump(),
    )
    return _created(request, case_id)


@router.post("/hearings", response={201: ProceedingsOut}, summary="Record a hearing")
def hearing_post(
    request: HttpRequest, case_id: Path[UUID], payload: ProceedingsHearingIn
) -> Status[ProceedingsOut]:
    services.hearing_record(
        actor=request_actor(request), case_id=case_id, **payload.model_dump()
    )
    return _created(request, case_id)


def _notice_out(view: selectors.NoticeView) -> ProceedingsNoticeOut:
    n = view.notice
    return ProceedingsNoticeOut(
        id=n.pk,
        direction=n.direction,
        peer_node=n.peer_node,
        msg_id=n.msg_id,
        kind=n.kind,
        hearing_at=n.hearing_at,
        remote_testimony=n.remote_testimony,
        support_needed=list(n.support_needed),
        outcome=view.outcome,
        judicial_reference=n.judicial_reference,
        recorded_at=n.recorded_at,
    )


@router.get(
    "/notices",
    response=list[ProceedingsNoticeOut],
    summary="Proceedings notices sent and received (audited)",
)
def notices_get(
    request: HttpRequest, case_id: Path[UUID]
) -> list[ProceedingsNoticeOut]:
    case = _case(request, case_id)
    return [
        _notice_out(v)
        for v in selectors.notices_for_user(user=request_actor(request), case=case)
    ]


@router.post(
    "/notices",
    response={201: ProceedingsNoticeOut},
    summary="Send a proceedings notice to the counterpart node (M12)",
)
def notice_post(
    request: HttpRequest, case_id: Path[UUID], payload: ProceedingsNoticeIn
) -> Status[ProceedingsNoticeOut]:
    user = request_actor(request)
    notice = notices.proceedings_notice_send(
        actor=user, case_id=case_id, **payload.model_dump()
    )
    case = _case(request, case_id)
    views = selectors.notices_for_user(user=user, case=case)
    return Status(201, _notice_out(next(v for v in views if v.notice.pk == notice.pk)))
