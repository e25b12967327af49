"""API endpoints of SOP 1 Identification: one POST per service.

Each calls the same service as the web form and answers the case's SOP 1
state after it (200 for a change of state, 201 for a new record). A refusal is
the project's structured error (``{"error": {"code", "message", "details"}}``):
400 bad input, 403 role, 404 no such case (or not visible), 409 state or rule
(the removal block, the consular channel for asylum applicants).

Identity checks through the exchange (SOPS §6.4 M2): what a case may send and
what it sent and received (``GET .../identity-checks``), sending one
(``POST .../identity-verification/exchange``, through the consent gate),
answering one received (``POST .../identity-verification/answer``), and the
list of checks counterpart nodes asked (``GET /cases/identity-checks/received``,
national contact points and competent authorities).
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field

from trm.cases import selectors as case_selectors
from trm.common.api import request_actor
from trm.exchange.models import OutboxMessage
from trm.identification import (
    children,
    common,
    contacts,
    reflection,
    services,
    verification,
)
from trm.identification import messages as verify
from trm.identification.models import RightsContext
from trm.sop import engine
from trm.sop import views as sop_views

router = Router(tags=["identification"])

REASON = Field("", max_length=common.MAX_REASON_CHARS)
NOTE = Field("", max_length=common.MAX_REASON_CHARS)


class IdentificationStrictIn(Schema):
    """Request bodies refuse unknown fields: a misspelt field is an error, not lost."""

    model_config = ConfigDict(extra="forbid")


class PresumeIn(IdentificationStrictIn):
    reason: str = Field(
        "",
        max_length=common.MAX_REASON_CHARS,
        description="Required unless the latest screening suggests referral.",
    )


class DecisionIn(IdentificationStrictIn):
    outcome: str = Field(description="identified or not_identified")
    reasons: str = Field(max_length=common.MAX_REASON_CHARS)
    informed: list[str] = Field(
        max_length=20, description="RightsItem codes the person was told."
    )
    language: str = Field(max_length=3, description="ISO 639 code")
    interpreter: bool = False


class IdentificationReasonIn(IdentificationStrictIn):
    reason: str = REASON


class NoIndicationIn(IdentificationStrictIn):
    information_given: bool = Field(
        description="The person was offered information and other services."
    )
    note: str = NOTE


class RightsIn(IdentificationStrictIn):
    context: str = Field(
        RightsContext.REFLECTION_PERIOD, description="reflection_period or other"
    )
    informed: list[str] = Field(max_length=20, description="RightsItem codes")
    language: str = Field(max_length=3, description="ISO 639 code")
    interpreter: bool = False


class ReflectionEndIn(IdentificationStrictIn):
    reason: str = Field(
        description=(
            "expired, decided_to_cooperate, decided_not_to_cooperate, "
            "public_order or improper_claim"
        )
    )
    detail: str = Field(
        "",
        max_length=common.MAX_REASON_CHARS,
        description="Written reasons; required for an early end.",
    )


class AgeAssessmentIn(IdentificationStrictIn):
    outcome: str = Field(description="child, adult or inconclusive")
    method: str = Field(max_length=common.MAX_REASON_CHARS)
    note: str = NOTE


class GuardianIn(IdentificationStrictIn):
    guardian_user_id: int | None = Field(
        None, description="A user of this node holding the guardian role."
    )
    note: str = NOTE


class ChildProtectionNoticeIn(IdentificationStrictIn):
    authority: str = Field(
        max_length=common.MAX_REASON_CHARS,
        description="The authority notified (an organisation, not a person).",
    )
    note: str = NOTE


class VerificationIn(IdentificationStrictIn):
    channel: str = Field(description="consulate, police, ncp or domestic")
    note: str = NOTE


class ContactIn(IdentificationStrictIn):
    kind: str = Field(description="in_person, phone, video, message or accompanied")
    note: str = NOTE


class EnforcedRemovalIn(IdentificationStrictIn):
    legal_basis: str = Field(max_length=common.MAX_REASON_CHARS)


class IdentificationRemovalBlockOut(Schema):
    reasons: list[str]
    until: date | None


class ReflectionPeriodOut(Schema):
    started_at: datetime
    ends_on: date = Field(description="The period's last day.")
    days_left: int
    running: bool
    ended_at: datetime | None
    end_reason: str


class IdentificationOut(Schema):
    """The case's SOP 1 state after the change."""

    case_id: UUID
    case_number: str
    identification: str
    reflection: str
    child_protection: str
    presumed_child: bool
    age_uncertain: bool
    asylum_applicant: bool
    removal_block: IdentificationRemovalBlockOut | None
    reflection_period: ReflectionPeriodOut | None


def _state(request: HttpRequest, case_id: UUID) -> IdentificationOut:
    case, _access = case_selectors.case_get_for_user(
        user=request_actor(request), case_id=case_id
    )
    definition = sop_views.definition()
    events = engine.events_for_cases([case.pk]).get(case.pk, [])
    today = timezone.localdate()
    block = reflection.removal_block(
        case, definition=definition, events=events, today=today
    )
    period = sop_views.reflection_state(case, events, definition, today)
    person = case.person
    return IdentificationOut(
        case_id=case.pk,
        case_number=case.number,
        identification=case.identification,
        reflection=case.reflection,
        child_protection=case.child_protection,
        presumed_child=person.presumed_child,
        age_uncertain=person.age_uncertain,
        asylum_applicant=engine.is_asylum_applicant(case),
        removal_block=(
            IdentificationRemovalBlockOut(
                reasons=list(block.reasons), until=block.until
            )
            if block is not None
            else None
        ),
        reflection_period=(
            ReflectionPeriodOut(
                started_at=period.started_at,
                ends_on=period.ends_on,
                days_left=period.days_left,
                running=period.running,
                ended_at=period.ended_at,
                end_reason=period.end_reason,
            )
            if period is not None
            else None
        ),
    )


@router.post(
    "/{case_id}/identification/presume",
    response=IdentificationOut,
    summary="Record the person as a presumed trafficked person",
)
def presume(
    request: HttpRequest, case_id: UUID, payload: PresumeIn
) -> IdentificationOut:
    services.presume(
        actor=request_actor(request),
        case_id=case_id,
        reason=payload.reason,
    )
    return _state(request, case_id)


@router.post(
    "/{case_id}/identification/decision",
    response=IdentificationOut,
    summary="Record the formal identification decision (competent authority)",
)
def decision(
    request: HttpRequest, case_id: UUID, payload: DecisionIn
) -> IdentificationOut:
    services.decide(
        actor=request_actor(request),
        case_id=case_id,
        outcome=payload.outcome,
        reasons=payload.reasons,
        informed=payload.informed,
        language=payload.language,
        interpreter=payload.interpreter,
    )
    return _state(request, case_id)


@router.post(
    "/{case_id}/identification/reopen",
    response=IdentificationOut,
    summary="Re-open a 'not identified' case on new evidence",
)
def reopen(
    request: HttpRequest, case_id: UUID, payload: IdentificationReasonIn
) -> IdentificationOut:
    services.reopen(
        actor=request_actor(request), case_id=case_id, reason=payload.reason
    )
    return _state(request, case_id)


@router.post(
    "/{case_id}/identification/no-indication",
    response=IdentificationOut,
    summary="Close identification: screening found no indication",
)
def no_indication(
    request: HttpRequest, case_id: UUID, payload: NoIndicationIn
) -> IdentificationOut:
    services.close_no_indication(
        actor=request_actor(request),
        case_id=case_id,
        information_given=payload.information_given,
        note=payload.note,
    )
    return _state(request, case_id)


@router.post(
    "/{case_id}/identification/rights-information",
    response={201: IdentificationOut},
    summary="Record that the person was told their rights",
)
def rights_information(
    request: HttpRequest, case_id: UUID, payload: RightsIn
) -> Status[IdentificationOut]:
    services.rights_inform(
        actor=request_actor(request),
        case_id=case_id,
        context=payload.context,
        informed=payload.informed,
        language=payload.language,
        interpreter=payload.interpreter,
    )
    return Status(201, _state(request, case_id))


@router.post(
    "/{case_id}/identification/reflection-end",
    response=IdentificationOut,
    summary="End the reflection and recovery period",
)
def reflection_end(
    request: HttpRequest, case_id: UUID, payload: ReflectionEndIn
) -> IdentificationOut:
    reflection.reflection_end(
        actor=request_actor(request),
        case_id=case_id,
        reason=payload.reason,
        detail=payload.detail,
    )
    return _state(request, case_id)


@router.post(
    "/{case_id}/identification/possible-child",
    response=IdentificationOut,
    summary="Presume the person a child until an age assessment",
)
def possible_child(
    request: HttpRequest, case_id: UUID, payload: IdentificationReasonIn
) -> IdentificationOut:
    children.mark_possible_child(
        actor=request_actor(request), case_id=case_id, reason=payload.reason
    )
    return _state(request, case_id)


class AsylumIn(IdentificationStrictIn):
    note: str = NOTE


@router.post(
    "/{case_id}/identification/asylum-application",
    response={201: IdentificationOut},
    summary="Record that the person applied for international protection",
    description="From then on identity checks through the country of origin are "
    "refused (code identification.consular_check_blocked).",
)
def asylum_application(
    request: HttpRequest, case_id: UUID, payload: AsylumIn
) -> Status[IdentificationOut]:
    contacts.asylum_application_record(
        actor=request_actor(request), case_id=case_id, note=payload.note
    )
    return Status(201, _state(request, case_id))


@router.post(
    "/{case_id}/identification/age-assessment",
    response={201: IdentificationOut},
    summary="Record an age assessment",
)
def age_assessment(
    request: HttpRequest, case_id: UUID, payload: AgeAssessmentIn
) -> Status[IdentificationOut]:
    children.age_assessment_record(
        actor=request_actor(request),
        case_id=case_id,
        outcome=payload.outcome,
        method=payload.method,
        note=payload.note,
    )
    return Status(201, _state(request, case_id))


@router.post(
    "/{case_id}/identification/guardian",
    response=IdentificationOut,
    summary="Record that a guardian was appointed",
)
def guardian(
    request: HttpRequest, case_id: UUID, payload: GuardianIn
) -> IdentificationOut:
    children.guardian_appoint(
        actor=request_actor(request),
        case_id=case_id,
        guardian_user_id=payload.guardian_user_id,
        note=payload.note,
    )
    return _state(request, case_id)


@router.post(
    "/{case_id}/identification/child-protection-notice",
    response={201: IdentificationOut},
    summary="Record that the child-protection authority was notified",
)
def child_protection_notice(
    request: HttpRequest, case_id: UUID, payload: ChildProtectionNoticeIn
) -> Status[IdentificationOut]:
    children.child_protection_notify(
        actor=request_actor(request),
        case_id=case_id,
        authority=payload.authority,
        note=payload.note,
    )
    return Status(201, _state(request, case_id))


@router.post(
    "/{case_id}/identification/identity-verification",
    response={201: IdentificationOut},
    summary="Record a request to verify identity and nationality",
    description="Channels that contact the country of origin answer 409 for an "
    "asylum applicant (code identification.consular_check_blocked).",
)
def identity_verification(
    request: HttpRequest, case_id: UUID, payload: VerificationIn
) -> Status[IdentificationOut]:
    contacts.identity_verification_request(
        actor=request_actor(request),
        case_id=case_id,
        channel=payload.channel,
        note=payload.note,
    )
    return Status(201, _state(request, case_id))


@router.post(
    "/{case_id}/identification/contacts",
    response={201: IdentificationOut},
    summary="Record a contact with the person (a risk assessment falls due)",
)
def contact_add(
    request: HttpRequest, case_id: UUID, payload: ContactIn
) -> Status[IdentificationOut]:
    contacts.contact_record(
        actor=request_actor(request),
        case_id=case_id,
        kind=payload.kind,
        note=payload.note,
    )
    return Status(201, _state(request, case_id))


@router.post(
    "/{case_id}/identification/enforced-removal",
    response={201: IdentificationOut},
    summary="Record an enforced removal (409 while the removal block applies)",
)
def enforced_removal(
    request: HttpRequest, case_id: UUID, payload: EnforcedRemovalIn
) -> Status[IdentificationOut]:
    reflection.enforced_removal_record(
        actor=request_actor(request),
        case_id=case_id,
        legal_basis=payload.legal_basis,
    )
    return Status(201, _state(request, case_id))


# --- identity checks through the exchange (M2) ---------------------------------------


class VerificationExchangeIn(IdentificationStrictIn):
    peer_node: str = Field(
        max_length=64,
        description="An active peer node of the person's claimed nationality.",
    )
    legal_basis: str = Field(
        max_length=200,
        description="consent:<id> (a consent to a transfer abroad naming the "
        "peer's country) or legal_obligation:<reference>",
    )
    purpose: str = Field(
        "identity_and_nationality",
        description="identity_and_nationality or travel_documents",
    )
    include_documents: bool = Field(
        False, description="Send identity documents too (category documents)."
    )
    note: str = NOTE


class VerificationAnswerIn(IdentificationStrictIn):
    outcome: str = Field(description="confirmed or not_confirmed")
    document_options: list[str] = Field(
        default_factory=list,
        max_length=4,
        description="passport, identity_card, emergency_travel_document or none",
    )


class IdentityCheckMessageOut(Schema):
    """The message queued for the peer node."""

    msg_id: UUID
    peer_node: str
    type: str
    status: str
    categories: list[str]


class IdentityCheckPeerOut(Schema):
    node_id: str
    name: str
    country: str


class IdentityCheckAnswerOut(Schema):
    outcome: str = Field(description="confirmed or not_confirmed")
    document_options: list[str]
    at: datetime | None


class IdentityCheckSentOut(Schema):
    msg_id: UUID
    peer_node: str
    queued_at: datetime
    status: str = Field(description="The delivery state of the request.")
    answer: IdentityCheckAnswerOut | None


class IdentityCheckReceivedOut(Schema):
    msg_id: UUID
    peer_node: str
    received_at: datetime
    case_id: UUID
    case_number: str
    awaiting: bool = Field(description="Not answered, and the case is open.")
    may_answer: bool = Field(description="The caller may answer it on the case.")
    answer: IdentityCheckAnswerOut | None


class IdentityChecksOut(Schema):
    """Identity checks through the exchange on one case."""

    offered_peers: list[IdentityCheckPeerOut] = Field(
        description="Where a check may go now (empty: see not_offered_reason)."
    )
    not_offered_reason: str
    sent: list[IdentityCheckSentOut]
    received: list[IdentityCheckReceivedOut]


def _message_out(message: OutboxMessage) -> IdentityCheckMessageOut:
    return IdentityCheckMessageOut(
        msg_id=message.msg_id,
        peer_node=message.peer.node_id,
        type=message.type,
        status=message.status,
        categories=list(message.categories),
    )


def _answer_out(answer: verification.Answer | None) -> IdentityCheckAnswerOut | None:
    if answer is None:
        return None
    return IdentityCheckAnswerOut(
        outcome=answer.outcome,
        document_options=list(answer.document_options),
        at=answer.at,
    )


def _received_out(row: verification.ReceivedCheck) -> IdentityCheckReceivedOut:
    return IdentityCheckReceivedOut(
        msg_id=row.msg_id,
        peer_node=row.peer.node_id,
        received_at=row.received_at,
        case_id=row.case_id,
        case_number=row.case_number,
        awaiting=row.awaiting,
        may_answer=row.may_answer,
        answer=_answer_out(row.answer),
    )


@router.get(
    "/identity-checks/received",
    response=list[IdentityCheckReceivedOut],
    summary="Identity checks counterpart nodes asked (awaiting an answer first)",
    description="National contact points and competent authorities only (403 "
    "identification.verification_role_required otherwise); the cases the caller "
    "sees. No personal data.",
)
def identity_checks_received(request: HttpRequest) -> list[IdentityCheckReceivedOut]:
    rows = verification.received_checks_for_user(user=request_actor(request))
    return [_received_out(r) for r in rows]


@router.get(
    "/{case_id}/identification/identity-checks",
    response=IdentityChecksOut,
    summary="Identity checks through the exchange on a case",
    description="Where a check may go now (never for an asylum applicant: "
    "not_offered_reason says why), the checks sent with their answers and the "
    "checks received.",
)
def identity_checks(request: HttpRequest, case_id: UUID) -> IdentityChecksOut:
    user = request_actor(request)
    case, _access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    offer = verification.exchange_offer(case)
    checks = verification.case_checks(user=user, case=case)
    return IdentityChecksOut(
        offered_peers=[
            IdentityCheckPeerOut(node_id=p.node_id, name=p.name, country=p.country)
            for p in offer.peers
        ],
        not_offered_reason=offer.reason,
        sent=[
            IdentityCheckSentOut(
                msg_id=c.msg_id,
                peer_node=c.peer.node_id,
                queued_at=c.queued_at,
                status=c.status,
                answer=_answer_out(c.answer),
            )
            for c in checks.sent
        ],
        received=[_received_out(r) for r in checks.received],
    )


@router.post(
    "/{case_id}/identification/identity-verification/exchange",
    response={201: IdentityCheckMessageOut},
    summary="Ask the peer node of the person's country to verify identity (M2)",
    description="Recorded as a request through the national contact point and "
    "queued for the peer. 409 identification.consular_check_blocked for an "
    "asylum applicant; 403 consent.missing when the consent does not cover it "
    "(details say what is missing); 400 exchange.legal_basis_missing or "
    "exchange.peer_unavailable.",
)
def identity_verification_exchange(
    request: HttpRequest, case_id: UUID, payload: VerificationExchangeIn
) -> Status[IdentityCheckMessageOut]:
    message = verify.identity_verification_send(
        actor=request_actor(request),
        case_id=case_id,
        peer_node=payload.peer_node,
        legal_basis=payload.legal_basis,
        purpose=payload.purpose,
        include_documents=payload.include_documents,
        note=payload.note,
    )
    return Status(201, _message_out(message))


@router.post(
    "/{case_id}/identification/identity-verification/answer",
    response={201: IdentityCheckMessageOut},
    summary="Answer the identity check a counterpart node asked about the case",
    description="Only the outcome and document options travel. 400 "
    "cases.invalid_input with details.reason no_request when none awaits.",
)
def identity_verification_answer(
    request: HttpRequest, case_id: UUID, payload: VerificationAnswerIn
) -> Status[IdentityCheckMessageOut]:
    message = verify.identity_verification_respond(
        actor=request_actor(request),
        case_id=case_id,
        outcome=payload.outcome,
        document_options=payload.document_options,
    )
    return Status(201, _message_out(message))
