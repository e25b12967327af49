"""API endpoints of referrals: the case team's and the receiving organisation's.

Each calls the same service or selector as the web pages. A refusal is the
project's structured error (``{"error": {"code", "message", "details"}}``):
400 bad input; 403 role, or ``consent.missing`` (``details`` name the missing
purpose, recipient or categories) or ``referrals.guardian_consent_required``;
404 no such referral or case (or not visible: the receiver never sees the
case); 409 state, ``referrals.not_accepting``, ``referrals.capacity_warning``
(send again with ``capacity_warning_accepted``) or
``referrals.remote_not_set_up``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from trm.accounts.models import Organisation, User
from trm.cases import selectors as case_selectors
from trm.common.api import MAX_PAGE, request_actor
from trm.common.htcds import ReasonForOutgoingReferral
from trm.common.pagination import capped_count
from trm.identification.common import MAX_REASON_CHARS
from trm.referrals import selectors, services
from trm.referrals.checks import MAX_MEETING_CHARS
from trm.referrals.content import Meeting
from trm.referrals.models import (
    RISK_MARK,
    Referral,
    ReferralFeedback,
    Urgency,
)
from trm.referrals.models import (
    Status as ReferralStatus,
)
from trm.referrals.selectors import FeedbackView

router = Router(tags=["referrals"])

MAX_PAGE_SIZE = 200
TEXT = Field("", max_length=MAX_REASON_CHARS)


# --- schemas ------------------------------------------------------------------------


class ReferralsStrictIn(Schema):
    """Request bodies refuse unknown fields: a misspelt field is an error, not lost."""

    model_config = ConfigDict(extra="forbid")


class TextsIn(ReferralsStrictIn):
    """The referrer's texts; each is shared only if its category is chosen,
    except ``risk``, which is always shared (BG 1.4)."""

    case_summary: str = TEXT
    health: str = TEXT
    family: str = TEXT
    legal: str = TEXT
    risk: str = TEXT


class MeetingIn(ReferralsStrictIn):
    who: str = Field("", max_length=MAX_MEETING_CHARS)
    where: str = Field("", max_length=MAX_MEETING_CHARS)
    at: datetime | None = Field(None, description="With its time zone; future.")


class DraftIn(ReferralsStrictIn):
    to_organisation_id: UUID
    services: list[str] = Field(
        max_length=20, description="ServiceType codes of the directory (at least one)"
    )
    reason: str = Field(
        ReasonForOutgoingReferral.ADDITIONAL_SERVICES_REQUIRED,
        description="HTCDS cas_ReasonForOutgoingReferral",
    )
    urgency: str = Field(Urgency.NORMAL, description="urgent (24 h) or normal (72 h)")
    categories: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="DataCategory codes to share (not photo; risk goes in texts)",
    )
    texts: TextsIn = Field(default_factory=TextsIn)
    meeting: MeetingIn | None = None


class CreateIn(DraftIn):
    case_id: UUID


class SendIn(ReferralsStrictIn):
    capacity_warning_accepted: bool = Field(
        False, description="Send although the receiver reports no free place."
    )


class OutcomeIn(ReferralsStrictIn):
    reason: str = Field(description="A reason code of the move")
    text: str = TEXT


class CaseNotPossibleIn(OutcomeIn):
    to_organisation_id: UUID | None = None


class FeedbackIn(ReferralsStrictIn):
    outcome: str = Field(description="arrived, did_not_arrive, services_started, other")
    text: str = TEXT


class ReferralOrganisationOut(Schema):
    id: UUID
    name: str
    home_node: str = Field(description="Empty: this node; else the peer node's id.")


class MeetingOut(Schema):
    who: str
    where: str
    at: datetime | None


class FeedbackOut(Schema):
    id: UUID
    at: datetime
    author: str | None
    side: str
    outcome: str
    text: str | None = Field(description="None once it can no longer be read.")


class TransitionOut(Schema):
    at: datetime
    actor: str | None
    side: str
    from_status: str
    to_status: str
    code: str


class ReferralSummaryOut(Schema):
    id: UUID
    reference: str
    status: str
    to_organisation: ReferralOrganisationOut | None
    urgency: str
    services: list[str]
    created_at: datetime
    sent_at: datetime | None
    reply_by: datetime | None
    overdue: bool


class ReferralOut(ReferralSummaryOut):
    """A referral as the case team sees it (an audited read)."""

    case_id: UUID
    case_number: str
    from_organisation: ReferralOrganisationOut
    referred_by: str | None
    reason: str
    categories: list[str]
    consent_id: UUID | None
    risk_shared_without_consent: bool
    responded_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    ended_at: datetime | None
    outcome_code: str
    outcome_text: str | None
    texts: dict[str, str] | None = Field(description="None once unreadable.")
    meeting: MeetingOut | None
    shared: dict[str, Any] | None = Field(
        description="What was shared when sent; None if not sent, destroyed "
        "(consent withdrawn) or unreadable (erased)."
    )
    risk: str | None
    content_destroyed_at: datetime | None
    feedback: list[FeedbackOut]
    history: list[TransitionOut]


class InboxItemOut(Schema):
    id: UUID
    reference: str
    status: str
    from_organisation: ReferralOrganisationOut
    services: list[str]
    urgency: str
    reason: str
    sent_at: datetime | None
    reply_by: datetime | None
    overdue: bool


class InboxReferralOut(InboxItemOut):
    """What the receiver sees: only what the referral shared, never the case."""

    referred_by: str
    categories: list[str]
    readable: bool = Field(description="False once closed or revoked.")
    shared: dict[str, Any] | None
    risk: str | None
    risk_mark: str | None = Field(
        description="Set when risk information was shared without consent."
    )
    meeting: MeetingOut | None
    notice: str
    feedback: list[FeedbackOut]


class InboxPage(Schema):
    count: int = Field(description="Matching referrals, counted up to 1,000")
    more: bool
    items: list[InboxItemOut]


class InboxQuery(Schema):
    status: Literal[
        "",
        "sent",
        "accepted",
        "declined",
        "in_progress",
        "completed",
        "cancelled",
        "revoked",
        "not_possible",
    ] = ""
    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


# --- building answers ---------------------------------------------------------------


def _name(user: User | None) -> str | None:
    if user is None:
        return None
    return user.get_full_name() or user.get_username()


def _org(organisation: Organisation | None) -> ReferralOrganisationOut | None:
    if organisation is None:
        return None
    return _org_out(organisation)


def _org_out(organisation: Organisation) -> ReferralOrganisationOut:
    return ReferralOrganisationOut(
        id=organisation.pk, name=organisation.name, home_node=organisation.home_node
    )


def _meeting(meeting: Meeting | None) -> MeetingOut | None:
    if meeting is None or meeting.is_empty():
        return None
    return MeetingOut(who=meeting.who, where=meeting.where, at=meeting.at)


def _feedback(views: list[FeedbackView]) -> list[FeedbackOut]:
    out = []
    for view in views:
        entry: ReferralFeedback = view.entry
        out.append(
            FeedbackOut(
                id=entry.pk,
                at=entry.at,
                author=_name(entry.author),
                side=entry.side,
                outcome=entry.outcome,
                text=view.text,
            )
        )
    return out


def _summary(referral: Referral) -> ReferralSummaryOut:
    return ReferralSummaryOut(
        id=referral.pk,
        reference=referral.reference,
        status=referral.status,
        to_organisation=_org(referral.to_organisation),
        urgency=referral.urgency,
        services=list(referral.services),
        created_at=referral.created_at,
        sent_at=referral.sent_at,
        reply_by=referral.reply_by,
        overdue=referral.is_overdue(),
    )


def _team_view(request: HttpRequest, referral_id: UUID) -> ReferralOut:
    user = request_actor(request)
    referral, _access = selectors.referral_for_team(user=user, referral_id=referral_id)
    detail = selectors.referral_detail(user=user, referral=referral)
    base = _summary(referral).model_dump()
    return ReferralOut(
        **base,
        case_id=referral.case_id,
        case_number=referral.case.number,
        from_organisation=_org_out(referral.from_organisation),
        referred_by=_name(referral.referred_by),
        reason=referral.reason,
        categories=list(referral.categories),
        consent_id=referral.consent_id,
        risk_shared_without_consent=referral.risk_shared_without_consent,
        responded_at=referral.responded_at,
        started_at=referral.started_at,
        completed_at=referral.completed_at,
        ended_at=referral.ended_at,
        outcome_code=referral.outcome_code,
        outcome_text=detail.outcome_text,
        texts=detail.texts,
        meeting=_meeting(detail.meeting),
        shared=detail.shared,
        risk=detail.risk or None,
        content_destroyed_at=referral.content_destroyed_at,
        feedback=_feedback(detail.feedback),
        history=[
            TransitionOut(
                at=t.at,
                actor=_name(t.actor),
                side=t.side,
                from_status=t.from_status,
                to_status=t.to_status,
                code=t.code,
            )
            for t in detail.history
        ],
    )


def _inbox_item(referral: Referral) -> InboxItemOut:
    return InboxItemOut(
        id=referral.pk,
        reference=referral.reference,
        status=referral.status,
        from_organisation=_org_out(referral.from_organisation),
        services=list(referral.services),
        urgency=referral.urgency,
        reason=referral.reason,
        sent_at=referral.sent_at,
        reply_by=referral.reply_by,
        overdue=referral.is_overdue(),
    )


def _inbox_view(request: HttpRequest, referral_id: UUID) -> InboxReferralOut:
    user = request_actor(request)
    referral = selectors.inbox_referral_for_user(user=user, referral_id=referral_id)
    view = selectors.shared_for_receiver(user=user, referral=referral)
    if referral.status == ReferralStatus.REVOKED:
        notice = _("Revoked: the person withdrew consent.")
    elif not view.readable:
        notice = _("This referral is closed: what it shared is no longer shown.")
    elif view.unreadable:
        notice = _("It can no longer be read: the person's data was erased.")
    else:
        notice = ""
    return InboxReferralOut(
        **_inbox_item(referral).model_dump(),
        referred_by=_name(referral.referred_by) or "",
        categories=list(referral.categories),
        readable=view.readable,
        shared=view.shared,
        risk=view.risk,
        risk_mark=(
            str(RISK_MARK)
            if view.risk and referral.risk_shared_without_consent
            else None
        ),
        meeting=_meeting(view.meeting),
        notice=notice,
        feedback=_feedback(view.feedback),
    )


def _draft_kwargs(payload: DraftIn) -> dict[str, Any]:
    meeting = payload.meeting
    return {
        "to_organisation_id": payload.to_organisation_id,
        "services": payload.services,
        "reason": payload.reason,
        "urgency": payload.urgency,
        "categories": payload.categories,
        "texts": payload.texts.model_dump(),
        "meeting_who": meeting.who if meeting else "",
        "meeting_where": meeting.where if meeting else "",
        "meeting_at": meeting.at if meeting else None,
    }


# --- the case team ------------------------------------------------------------------


@router.post(
    "",
    response={201: ReferralOut},
    summary="Draft a referral of a case's person",
)
def create(request: HttpRequest, payload: CreateIn) -> Status[ReferralOut]:
    referral = services.referral_create(
        actor=request_actor(request), case_id=payload.case_id, **_draft_kwargs(payload)
    )
    return Status(201, _team_view(request, referral.pk))


@router.get(
    "/cases/{case_id}",
    response=list[ReferralSummaryOut],
    summary="List a case's referrals (empty for legal-track roles)",
)
def case_list(request: HttpRequest, case_id: UUID) -> list[ReferralSummaryOut]:
    user = request_actor(request)
    case, _access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    return [_summary(r) for r in selectors.referrals_for_case(user=user, case=case)]


@router.post(
    "/cases/{case_id}/not-possible",
    response={201: ReferralOut},
    summary="Record that no referral is possible for the case's person",
)
def case_not_possible(
    request: HttpRequest, case_id: UUID, payload: CaseNotPossibleIn
) -> Status[ReferralOut]:
    referral = services.referral_not_possible_for_case(
        actor=request_actor(request),
        case_id=case_id,
        reason=payload.reason,
        text=payload.text,
        to_organisation_id=payload.to_organisation_id,
    )
    return Status(201, _team_view(request, referral.pk))


@router.get(
    "/inbox",
    response=InboxPage,
    summary="List the referrals sent to your organisation, newest first",
)
def inbox(request: HttpRequest, query: Query[InboxQuery]) -> InboxPage:
    qs = selectors.inbox_for_user(user=request_actor(request), status=query.status)
    count, more = capped_count(qs)
    start = (query.page - 1) * query.page_size
    items = [_inbox_item(r) for r in qs[start : start + query.page_size]]
    return InboxPage(count=count, more=more, items=items)


@router.get(
    "/inbox/{referral_id}",
    response=InboxReferralOut,
    summary="Read a referral sent to your organisation (only what it shared)",
)
def inbox_detail(request: HttpRequest, referral_id: UUID) -> InboxReferralOut:
    return _inbox_view(request, referral_id)


@router.get(
    "/{referral_id}",
    response=ReferralOut,
    summary="Read a referral of a case you work on",
)
def detail(request: HttpRequest, referral_id: UUID) -> ReferralOut:
    return _team_view(request, referral_id)


@router.put(
    "/{referral_id}",
    response=ReferralOut,
    summary="Change a draft referral",
)
def update(request: HttpRequest, referral_id: UUID, payload: DraftIn) -> ReferralOut:
    services.referral_update(
        actor=request_actor(request), referral_id=referral_id, **_draft_kwargs(payload)
    )
    return _team_view(request, referral_id)


@router.post(
    "/{referral_id}/send",
    response=ReferralOut,
    summary="Send a draft referral (consent, capacity and receiver checked)",
)
def send(request: HttpRequest, referral_id: UUID, payload: SendIn) -> ReferralOut:
    services.referral_send(
        actor=request_actor(request),
        referral_id=referral_id,
        capacity_warning_accepted=payload.capacity_warning_accepted,
    )
    return _team_view(request, referral_id)


@router.post(
    "/{referral_id}/cancel",
    response=ReferralOut,
    summary="Cancel a referral (CancelReason code; other needs text)",
)
def cancel(request: HttpRequest, referral_id: UUID, payload: OutcomeIn) -> ReferralOut:
    services.referral_cancel(
        actor=request_actor(request),
        referral_id=referral_id,
        reason=payload.reason,
        text=payload.text,
    )
    return _team_view(request, referral_id)


@router.post(
    "/{referral_id}/not-possible",
    response=ReferralOut,
    summary="Record that this referral is not possible (draft or declined)",
)
def not_possible(
    request: HttpRequest, referral_id: UUID, payload: OutcomeIn
) -> ReferralOut:
    services.referral_not_possible(
        actor=request_actor(request),
        referral_id=referral_id,
        reason=payload.reason,
        text=payload.text,
    )
    return _team_view(request, referral_id)


@router.post(
    "/{referral_id}/feedback",
    response={201: FeedbackOut},
    summary="Record feedback on a referral (the receiver, or the referring team)",
)
def feedback(
    request: HttpRequest, referral_id: UUID, payload: FeedbackIn
) -> Status[FeedbackOut]:
    entry = services.referral_feedback(
        actor=request_actor(request),
        referral_id=referral_id,
        outcome=payload.outcome,
        text=payload.text,
    )
    return Status(
        201,
        FeedbackOut(
            id=entry.pk,
            at=entry.at,
            author=_name(entry.author),
            side=entry.side,
            outcome=entry.outcome,
            text=payload.text.strip(),
        ),
    )


# --- the receiving organisation -----------------------------------------------------


@router.post(
    "/{referral_id}/accept",
    response=InboxReferralOut,
    summary="Accept a referral sent to your organisation",
)
def accept(request: HttpRequest, referral_id: UUID) -> InboxReferralOut:
    services.referral_accept(actor=request_actor(request), referral_id=referral_id)
    return _inbox_view(request, referral_id)


@router.post(
    "/{referral_id}/decline",
    response=InboxReferralOut,
    summary="Decline a referral sent to your organisation (DeclineReason code)",
)
def decline(
    request: HttpRequest, referral_id: UUID, payload: OutcomeIn
) -> InboxReferralOut:
    services.referral_decline(
        actor=request_actor(request),
        referral_id=referral_id,
        reason=payload.reason,
        text=payload.text,
    )
    return _inbox_view(request, referral_id)


@router.post(
    "/{referral_id}/start",
    response=InboxReferralOut,
    summary="Record that the referred services started",
)
def start(request: HttpRequest, referral_id: UUID) -> InboxReferralOut:
    services.referral_start(actor=request_actor(request), referral_id=referral_id)
    return _inbox_view(request, referral_id)


@router.post(
    "/{referral_id}/complete",
    response=InboxReferralOut,
    summary="Record that the referral is completed",
)
def complete(request: HttpRequest, referral_id: UUID) -> InboxReferralOut:
    services.referral_complete(actor=request_actor(request), referral_id=referral_id)
    return _inbox_view(request, referral_id)
