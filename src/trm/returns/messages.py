"""trm.returns on the transnational channel: SOP 4 preparation between the
destination node and the origin node (EXCHANGE.md §3; SOPS §2 SOP 4; §6.4).

``risk.assessment.joint`` v1 (destination ↔ origin; M5)
    One side's ratings of the joint pre-return risk and needs matrix: the
    destination's assessment id (``assessment_ref``, the same on both sides),
    ``side``, dates, the rating of each of the seven items, the overall level,
    the first needs (codes) and whether mitigations are written (their text
    stays home). Risk information (category ``risk``, basis
    ``pseudonymous``). Side ``destination`` is recorded on the origin's linked
    case, side ``origin`` (a reply) fills the origin column of the
    destination's matrix (:func:`~trm.returns.services.apply_origin_ratings`).
``return.plan`` v1 (destination NCP → origin NCP; M6)
    Consent reference (adult) or best-interests outcome and guardian opinion
    (child), departure, escort and meeting person (functions), medical
    fitness, the travel document's status; with ``consent:<id>`` also the
    itinerary (``case_summary``), medical needs (``health``) and contact needs
    for proceedings (``legal``). Recorded on the origin as
    :class:`~trm.returns.models.IncomingReturn`.
``return.plan.response`` v1 (origin NCP → destination NCP; M7) — added
    The answer to a plan: accepted / declined (+ reason code), the receiving
    organisation, the case manager's function, the services offered (codes),
    for a child the carer and the date they confirmed. The catalogue carries
    this answer as ``referral.response``, but that type answers a *referral*
    (its payload names the referral's key and :mod:`trm.referrals` owns its
    handler); a return plan is not a referral, so this type is added with the
    same content. Applied through
    :func:`~trm.returns.services.apply_receiver_decision` (``source="message"``).
``family.assessment.request`` / ``.report`` v1 (destination → origin social
services; M3) and ``family.tracing.request`` / ``.result`` v1 (child track; M4)
    The questions (or the known relatives) and the answer: date, assessor's
    function, findings, recommendation code. Category ``family``: a consent,
    or for the answer the authority's legal obligation. "Always before a
    child's return": the guard's ``family_assessment_missing``.

Handlers run inside the inbox's transaction with the node user standing for
the sender's organisation (:func:`trm.cases.messages.actor_for`); a case-bound
message must come in the case's conversation from a peer party to it; a reply
must answer a message this node sent (``in_reply_to``,
:func:`trm.cases.messages.answered_case`) or it is refused
(``cases.unknown_reply``).
"""

from __future__ import annotations

from uuid import UUID

from django.utils.translation import gettext as _
from pydantic import BaseModel

from trm.cases.messages import (
    NotLinked,
    UnknownReply,
    actor_for,
    answered_case,
    carries_nothing,
    check_reference,
    linked_case,
    require_party,
)
from trm.cases.models import Case
from trm.exchange import registry
from trm.exchange import services as exchange
from trm.returns import wire
from trm.returns.errors import UnknownAssessment
from trm.returns.models import FamilyKind, JointRiskAssessment
from trm.returns.services import across
from trm.returns.services.assessment import apply_origin_ratings
from trm.returns.sides import require_origin_side

FAMILY_REQUESTS = {
    wire.FAMILY_ASSESSMENT_REQUEST: FamilyKind.ASSESSMENT,
    wire.FAMILY_TRACING_REQUEST: FamilyKind.TRACING,
}
FAMILY_REPORTS = {
    wire.FAMILY_ASSESSMENT_REPORT: (
        FamilyKind.ASSESSMENT,
        wire.FAMILY_ASSESSMENT_REQUEST,
    ),
    wire.FAMILY_TRACING_RESULT: (FamilyKind.TRACING, wire.FAMILY_TRACING_REQUEST),
}


def _linked(message: registry.Inbound, reference: str) -> Case:
    check_reference(message, reference)
    case = linked_case(reference)
    if case is None:
        raise NotLinked(
            _("No case on this node is linked under that reference."),
            details={"field": "trm_case_ref"},
        )
    require_party(message, case)
    require_origin_side(case, message.sender, message.type)
    return case


def _answered(message: registry.Inbound, *, asked: str, reference: str) -> Case:
    check_reference(message, reference)
    case = answered_case(message, asked=asked, trm_case_ref=reference)
    if case is None:
        raise UnknownReply(
            _("This answers no message sent from this node."),
            details={"type": message.type},
        )
    require_party(message, case)
    return case


def risk_carried(payload: BaseModel) -> set[str]:
    """``risk.assessment.joint`` carries risk information only."""
    return {"risk"}


def apply_joint_risk(message: registry.Inbound) -> UUID | None:
    """Apply ``risk.assessment.joint``: side ``destination`` is recorded on the
    linked case here (the origin side left to rate); side ``origin`` must
    answer this node's assessment and fills its origin column.

    Raises:
        NotLinked, NotParty, UnknownReply (an origin side answering nothing
        sent from here), UnknownAssessment (``returns.unknown_assessment``:
        the case has no assessment ``assessment_ref``), CaseInvalidInput (a
        rating or date the matrix refuses).
    """
    payload = message.payload
    assert isinstance(payload, wire.JointRiskV1)  # noqa: S101 - the schema
    actor = actor_for(
        message.sender, payload.sending_organisation, "national_contact_point"
    )
    if payload.side == "destination":
        case = _linked(message, payload.trm_case_ref)
        across.joint_risk_receive(
            actor=actor,
            case=case,
            peer_node=message.sender,
            msg_id=message.msg_id,
            payload=payload,
        )
        return case.pk
    case = _answered(message, asked=wire.RISK_JOINT, reference=payload.trm_case_ref)
    assessment = (
        JointRiskAssessment.objects.select_for_update()
        .filter(case=case, pk=payload.assessment_ref, remote_ref__isnull=True)
        .first()
    )
    if assessment is None:
        raise UnknownAssessment(
            _("The ratings name a joint risk assessment this case does not have."),
            details={"field": "assessment_ref"},
        )
    apply_origin_ratings(
        actor=actor,
        case=case,
        assessment=assessment,
        ratings=payload.ratings,
        organisation=payload.sending_organisation.name,
        rated_on=payload.assessed_on,
    )
    return case.pk


def plan_carried(payload: BaseModel) -> set[str]:
    assert isinstance(payload, wire.ReturnPlanV1)  # noqa: S101 - the schema
    return across.return_plan_carried(payload)


def apply_return_plan(message: registry.Inbound) -> UUID | None:
    """Record a return plan on the linked case here (origin node).

    Raises:
        NotLinked, NotParty.
    """
    payload = message.payload
    assert isinstance(payload, wire.ReturnPlanV1)  # noqa: S101
    case = _linked(message, payload.trm_case_ref)
    actor = actor_for(
        message.sender, payload.sending_organisation, "national_contact_point"
    )
    across.return_plan_receive(
        actor=actor,
        case=case,
        peer_node=message.sender,
        msg_id=message.msg_id,
        payload=payload,
        legal_basis=message.legal_basis,
    )
    return case.pk


def apply_return_plan_response(message: registry.Inbound) -> UUID | None:
    """Apply the origin's answer to this node's return plan (destination).

    Raises:
        NotLinked, NotParty, UnknownReply (answers no plan sent from here),
        UnknownPlan, CaseInvalidInput.
    """
    payload = message.payload
    assert isinstance(payload, wire.ReturnPlanResponseV1)  # noqa: S101
    case = _answered(message, asked=wire.RETURN_PLAN, reference=payload.trm_case_ref)
    actor = actor_for(
        message.sender, payload.sending_organisation, "national_contact_point"
    )
    across.plan_response_apply(actor=actor, case=case, payload=payload)
    return case.pk


def family_carried(payload: BaseModel) -> set[str]:
    """A family request's questions and a report's findings are ``family``."""
    if isinstance(payload, wire.FamilyReportV1):
        return {"family"} if payload.findings else set()
    return {"family"}


def apply_family_request(message: registry.Inbound) -> UUID | None:
    """Record a family assessment or tracing request on the linked case here.

    Raises:
        NotLinked, NotParty.
    """
    payload = message.payload
    assert isinstance(payload, wire.FamilyRequestV1)  # noqa: S101
    case = _linked(message, payload.trm_case_ref)
    actor = actor_for(
        message.sender, payload.sending_organisation, "national_contact_point"
    )
    across.family_request_receive(
        actor=actor,
        case=case,
        kind=FAMILY_REQUESTS[message.type],
        peer_node=message.sender,
        msg_id=message.msg_id,
        payload=payload,
        legal_basis=message.legal_basis,
    )
    return case.pk


def apply_family_report(message: registry.Inbound) -> UUID | None:
    """Store a family report or tracing result on this node's case.

    Raises:
        NotLinked, NotParty, UnknownReply, UnknownFamilyRequest.
    """
    payload = message.payload
    assert isinstance(payload, wire.FamilyReportV1)  # noqa: S101
    kind, asked = FAMILY_REPORTS[message.type]
    case = _answered(message, asked=asked, reference=payload.trm_case_ref)
    actor = actor_for(
        message.sender, payload.sending_organisation, "national_contact_point"
    )
    across.family_report_apply(
        actor=actor,
        case=case,
        kind=kind,
        payload=payload,
        legal_basis=message.legal_basis,
    )
    return case.pk


def _types() -> list[registry.MessageType]:
    family = frozenset({"family"})
    types = [
        registry.MessageType(
            name=wire.RISK_JOINT,
            version=1,
            schema=wire.JointRiskV1,
            categories=frozenset({"risk"}),
            handler=apply_joint_risk,
            carried=risk_carried,
            sop=(4,),
            description="Joint pre-return risk and needs matrix, each side (M5)",
        ),
        registry.MessageType(
            name=wire.RETURN_PLAN,
            version=1,
            schema=wire.ReturnPlanV1,
            categories=frozenset({"case_summary", "health", "legal"}),
            handler=apply_return_plan,
            carried=plan_carried,
            sop=(4,),
            description="Return plan to the country of origin (M6)",
        ),
        registry.MessageType(
            name=wire.RETURN_PLAN_RESPONSE,
            version=1,
            schema=wire.ReturnPlanResponseV1,
            categories=frozenset(),
            handler=apply_return_plan_response,
            carried=carries_nothing,
            sop=(4,),
            description="Answer to a return plan, carer for a child (M7)",
        ),
    ]
    for name in FAMILY_REQUESTS:
        types.append(
            registry.MessageType(
                name=name,
                version=1,
                schema=wire.FamilyRequestV1,
                categories=family,
                handler=apply_family_request,
                carried=family_carried,
                sop=(2, 4),
                description="Family assessment or tracing asked of the origin (M3, M4)",
            )
        )
    for name in FAMILY_REPORTS:
        types.append(
            registry.MessageType(
                name=name,
                version=1,
                schema=wire.FamilyReportV1,
                categories=family,
                handler=apply_family_report,
                exceptions=frozenset({exchange.LEGAL_OBLIGATION}),
                carried=family_carried,
                sop=(2, 4),
                description="Family assessment report or tracing result (M3, M4)",
            )
        )
    return types


def register_all() -> None:
    """Register the SOP 4 preparation types with their handlers and the
    restriction hook of a withdrawn consent (``ready()``)."""
    from trm.consent.messages import register_restriction_hook

    for message_type in _types():
        registry.register(message_type)
    register_restriction_hook(across.restrict_received)
