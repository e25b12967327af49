"""SOP 4 preparation across nodes: the services that send the destination's
and the origin's messages, and the inner services the handlers of
:mod:`trm.returns.messages` call (EXCHANGE.md §3; SOPS §2 SOP 4 steps 2-4).

Destination node (the case in return preparation):

* :func:`joint_risk_share` — ``risk.assessment.joint`` side ``destination``;
* :func:`return_plan_send` — ``return.plan``;
* :func:`family_request_send` — ``family.assessment.request`` /
  ``family.tracing.request``; :func:`family_report_record` records a report
  that came outside TRM.

Origin node (the linked case opened from ``case.alert``):

* :func:`joint_risk_origin_rate` — rates the origin side, answers
  ``risk.assessment.joint`` side ``origin``;
* :func:`return_plan_answer` — answers ``return.plan.response``;
* :func:`family_report_send` — answers ``family.assessment.report`` /
  ``family.tracing.result``.

Every message goes to a peer of the case's conversation (its shared reference)
inside the service's transaction (:func:`trm.exchange.services.enqueue`).
On the origin node the national contact point acts on the linked case also
through node policy (the case is led by its organisation and these messages
are between contact points), as :func:`trm.proceedings.notices.
proceedings_notice_send` does; team members act with the planning roles.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import Role, User
from trm.assessments.models import DOMAIN_LABELS
from trm.care.common import Opener, check_date
from trm.cases.access import CaseAccess
from trm.cases.errors import CaseInvalidInput, CaseRoleRequired, TransitionNotAllowed
from trm.cases.messages import OrganisationRefV1, conversation_peers, organisation_ref
from trm.cases.models import Case
from trm.cases.services import lock_case, require_live_person
from trm.consent.models import Purpose
from trm.consent.services import valid_consent
from trm.exchange import services as exchange
from trm.exchange.models import OutboxMessage
from trm.identification.common import audit_case, clean_reason, require_open
from trm.returns import wire
from trm.returns.errors import (
    NothingArrived,
    ReturnNotLinked,
    UnknownFamilyRequest,
    UnknownPlan,
)
from trm.returns.models import (
    MATRIX_ITEMS,
    BestInterestsDetermination,
    CarerKind,
    DeclineReason,
    DocumentsStatus,
    FamilyDirection,
    FamilyExchange,
    FamilyKind,
    FamilyRecommendation,
    FamilyStatus,
    IncomingReturn,
    JointRiskAssessment,
    ReceiverDecision,
    ReturnPlan,
    highest,
)
from trm.returns.services.assessment import apply_origin_ratings
from trm.returns.services.common import (
    PLANNING_ROLES,
    TRANSIT_ROLES,
    clean_line,
    invalid,
    lock_for,
    require_planning,
    seal_json,
)

#: Who sends a family request (the guardian asks for tracing through the NCP).
FAMILY_ROLES = PLANNING_ROLES | frozenset({Role.GUARDIAN})
REQUEST_TYPES = {
    FamilyKind.ASSESSMENT: wire.FAMILY_ASSESSMENT_REQUEST,
    FamilyKind.TRACING: wire.FAMILY_TRACING_REQUEST,
}
REPORT_TYPES = {
    FamilyKind.ASSESSMENT: wire.FAMILY_ASSESSMENT_REPORT,
    FamilyKind.TRACING: wire.FAMILY_TRACING_RESULT,
}


# --- shared --------------------------------------------------------------------------


def peer_for(case: Case, to_node: str | None) -> str:
    """Return the node a message about ``case`` goes to: ``to_node`` if it
    shares the case's conversation, else the only such peer (or the only one
    of a country of the person's claimed nationality).

    Raises:
        ReturnNotLinked: no shared reference, no active peer in its
            conversation, ``to_node`` not among them, or several and none
            chosen (``details["reason"]``).
    """
    peers = conversation_peers(case.trm_case_ref)
    if not peers:
        raise ReturnNotLinked(
            _(
                "This case is not linked with a case in another country: send the "
                "case alert first."
            ),
            details={"reason": "not_linked"},
        )
    if to_node:
        if to_node not in {p.node_id for p in peers}:
            raise ReturnNotLinked(
                _("This case is not linked with a case on that node."),
                details={"reason": "not_linked", "field": "to_node"},
            )
        return to_node
    if len(peers) == 1:
        return peers[0].node_id
    nationals = [p for p in peers if p.country in set(case.person.citizenships)]
    if len(nationals) == 1:
        return nationals[0].node_id
    raise ReturnNotLinked(
        _("The case is linked with several nodes: choose one."),
        details={"reason": "several_peers", "field": "to_node"},
    )


def lock_origin(actor: User, case_id: UUID) -> tuple[Case, CaseAccess]:
    """Lock the origin node's linked case for a team member with a planning
    role, or the national contact point (also through node policy)."""
    case, access = lock_case(actor=actor, case_id=case_id)
    allowed = (
        Role.NATIONAL_CONTACT_POINT in access.roles
        if access.via_policy
        else bool(access.roles & PLANNING_ROLES)
    )
    if not allowed:
        raise CaseRoleRequired(
            _("Only these roles on the case may do this: %(roles)s.")
            % {"roles": ", ".join(str(Role(r).label) for r in sorted(PLANNING_ROLES))},
            details={"allowed_roles": sorted(PLANNING_ROLES)},
        )
    require_open(case)
    require_live_person(case)
    return case, access


def _organisation(actor: User | None, case: Case) -> OrganisationRefV1:
    own = actor.organisation if actor is not None else None
    if own is None or own.home_node:
        own = case.lead_organisation
    return organisation_ref(own)


def _open(
    case: Case, blob: bytes | memoryview | None, context: bytes
) -> dict[str, str]:
    text = Opener(case.person).open(blob, context=context)
    return json.loads(text) if text else {}


def consent_of(legal_basis: str) -> UUID | None:
    """Return the consent id of a ``consent:<id>`` basis (None otherwise)."""
    if not legal_basis.startswith("consent:"):
        return None
    try:
        return UUID(legal_basis.split(":", 1)[1].strip())
    except ValueError:
        return None


def _consent_basis(consent_id: UUID | None) -> str:
    return f"consent:{consent_id}" if consent_id else exchange.PSEUDONYMOUS


# --- risk.assessment.joint -----------------------------------------------------------


def _joint_payload(
    case: Case,
    assessment: JointRiskAssessment,
    *,
    side: str,
    ref: UUID,
    assessed_on: date,
    ratings: dict[str, str],
    overall: str,
    mitigations: bool,
    organisation: OrganisationRefV1,
) -> wire.JointRiskV1:
    return wire.JointRiskV1(
        trm_case_ref=case.trm_case_ref,
        assessment_ref=ref,
        side=side,
        assessed_on=assessed_on,
        valid_until=assessment.valid_until,
        ratings=ratings,
        overall_level=overall,
        first_needs=list(assessment.first_needs),
        mitigations_written=mitigations,
        sending_organisation=organisation,
    )


@transaction.atomic(durable=True)
def joint_risk_share(
    *, actor: User, case_id: UUID, to_node: str | None = None
) -> OutboxMessage:
    """Send the case's newest joint risk assessment to the origin node
    (``risk.assessment.joint`` v1, side ``destination``; SOPS §2 SOP 4 step 2;
    M5) for the origin side to rate. Risk information only: the ratings, the
    overall level, the first-needs codes and whether mitigations are written
    (their text stays here); legal basis ``pseudonymous``.

    Returns the queued message; the origin's answer comes back through
    :func:`trm.returns.messages.apply_joint_risk` into
    :func:`~trm.returns.services.apply_origin_ratings`.

    Raises:
        CaseNotFound, CaseRoleRequired (:data:`PLANNING_ROLES`),
        TransitionNotAllowed (closed; not in return preparation or on hold;
        no assessment: ``reason`` ``joint_risk_missing``), PersonErased,
        ReturnNotLinked, PeerUnavailable.
    """
    case = lock_for(actor, case_id, PLANNING_ROLES)
    require_planning(case)
    assessment = JointRiskAssessment.objects.filter(case=case).first()
    if assessment is None:
        raise TransitionNotAllowed(
            _("Record the joint risk assessment first."),
            details={"reason": "joint_risk_missing"},
        )
    node = peer_for(case, to_node)
    payload = _joint_payload(
        case,
        assessment,
        side="destination",
        ref=assessment.pk,
        assessed_on=assessment.assessed_on,
        ratings={
            item: (assessment.ratings.get(item) or {}).get("destination", "low")
            for item in MATRIX_ITEMS
        },
        overall=assessment.overall_level,
        mitigations=assessment.has_mitigations,
        organisation=_organisation(actor, case),
    )
    message = exchange.enqueue(
        to_node=node,
        type=wire.RISK_JOINT,
        payload=payload,
        legal_basis=exchange.PSEUDONYMOUS,
        categories=["risk"],
        conversation=case.trm_case_ref,
        case_id=case.pk,
        actor=actor,
    )
    audit_case(
        actor,
        "returns.joint_risk_shared",
        case,
        record=str(assessment.pk),
        to=node,
        message=str(message.msg_id),
    )
    return message


def joint_risk_receive(
    *, actor: User, case: Case, peer_node: str, msg_id: UUID, payload: wire.JointRiskV1
) -> JointRiskAssessment:
    """Record the destination's ratings on the origin's locked linked ``case``
    (inner service of the handler; not durable). The same assessment sent
    again replaces the destination's ratings and keeps the origin's. The
    origin side is left to rate (:func:`joint_risk_origin_rate`).
    """
    assessment = (
        JointRiskAssessment.objects.select_for_update()
        .filter(case=case, remote_ref=payload.assessment_ref)
        .first()
    )
    if assessment is None:
        assessment = JointRiskAssessment(
            case=case, remote_ref=payload.assessment_ref, recorded_by=actor
        )
    assessment.ratings = {
        item: {
            "destination": payload.ratings[item],
            "origin": (assessment.ratings.get(item) or {}).get("origin")
            if assessment.ratings
            else None,
        }
        for item in MATRIX_ITEMS
    }
    assessment.assessed_on = payload.assessed_on
    assessment.valid_until = payload.valid_until
    assessment.overall_level = payload.overall_level
    assessment.first_needs = list(payload.first_needs)
    assessment.has_mitigations = payload.mitigations_written
    assessment.peer_node = peer_node
    assessment.received_msg_id = msg_id
    assessment.recorded_at = timezone.now()
    assessment.save()
    audit_case(
        actor,
        "returns.joint_risk_received",
        case,
        record=str(assessment.pk),
        sender=peer_node,
        level=payload.overall_level,
    )
    return assessment


@transaction.atomic(durable=True)
def joint_risk_origin_rate(
    *,
    actor: User,
    case_id: UUID,
    ratings: dict[str, str],
    rated_on: date | None = None,
    assessment_id: UUID | None = None,
) -> OutboxMessage:
    """On the origin node: rate the origin side of a joint assessment that
    arrived (``assessment_id``, or the newest received) and send the ratings
    back (``risk.assessment.joint`` side ``origin``, in reply; M5).

    ``ratings``: every item of :data:`~trm.returns.models.MATRIX_ITEMS` →
    ``low``/``medium``/``high``; ``rated_on`` defaults to today. The origin's
    overall level sent is the highest of its ratings.

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed (closed case),
        PersonErased, NothingArrived (no assessment received),
        CaseInvalidInput, PeerUnavailable.
    """
    case, _access = lock_origin(actor, case_id)
    found = JointRiskAssessment.objects.select_for_update().filter(
        case=case, remote_ref__isnull=False
    )
    if assessment_id is not None:
        found = found.filter(pk=assessment_id)
    assessment = found.first()
    if assessment is None or assessment.received_msg_id is None:
        raise NothingArrived(
            _("No joint risk assessment arrived from the destination country."),
            details={"what": "joint_risk"},
        )
    organisation = _organisation(actor, case)
    day = rated_on or timezone.localdate()
    apply_origin_ratings(
        actor=actor,
        case=case,
        assessment=assessment,
        ratings=ratings,
        organisation=organisation.name,
        rated_on=day,
    )
    origin = {item: assessment.ratings[item]["origin"] for item in MATRIX_ITEMS}
    assert assessment.remote_ref is not None  # noqa: S101 - filtered above
    message = exchange.enqueue(
        to_node=assessment.peer_node,
        type=wire.RISK_JOINT,
        payload=_joint_payload(
            case,
            assessment,
            side="origin",
            ref=assessment.remote_ref,
            assessed_on=day,
            ratings=origin,
            overall=highest(list(origin.values())),
            mitigations=False,
            organisation=organisation,
        ),
        legal_basis=exchange.PSEUDONYMOUS,
        categories=["risk"],
        conversation=case.trm_case_ref,
        in_reply_to=assessment.received_msg_id,
        case_id=case.pk,
        actor=actor,
    )
    audit_case(
        actor,
        "returns.joint_risk_origin_sent",
        case,
        record=str(assessment.pk),
        to=assessment.peer_node,
        message=str(message.msg_id),
    )
    return message


# --- return.plan ----------------------------------------------------------------------


def _documents_status(plan: ReturnPlan) -> str:
    if plan.travel_document_issued_on is not None:
        return DocumentsStatus.ISSUED
    if plan.travel_document_requested_on is not None:
        return DocumentsStatus.REQUESTED
    return DocumentsStatus.NONE


def return_plan_carried(payload: wire.ReturnPlanV1) -> set[str]:
    """The categories a plan's free texts carry (codes and dates carry none)."""
    carried = set()
    if payload.itinerary:
        carried.add("case_summary")
    if payload.medical_needs:
        carried.add("health")
    if payload.legal_contact_needs:
        carried.add("legal")
    return carried


@transaction.atomic(durable=True)
def return_plan_send(
    *,
    actor: User,
    case_id: UUID,
    consent_id: UUID | None = None,
    to_node: str | None = None,
    medical_needs: str = "",
) -> OutboxMessage:
    """Send the return plan to the origin node's national contact point
    (``return.plan`` v1; SOPS §2 SOP 4; M6).

    Content: for an adult the id of the person's valid ``return`` consent (a
    reference), for a child the newest best-interests determination (outcome,
    guardian's opinion, date); departure day, escort and meeting person
    (functions), medical fitness, the travel document's status. With
    ``consent_id`` — a consent to a transfer naming the origin's country, for
    the categories the filled texts need — the itinerary (``case_summary``),
    ``medical_needs`` (``health``) and the contact needs for proceedings
    (``legal``) travel too; without it, codes and dates only (and
    ``medical_needs`` is refused).

    Raises:
        CaseNotFound, CaseRoleRequired (national contact point only),
        TransitionNotAllowed (closed; not in return preparation or on hold; no
        plan: ``reason`` ``plan_missing``; a child without determination:
        ``bid_missing``), PersonErased, ConsentMissing (no valid consent to
        return; or the transfer consent does not cover the texts, is
        withdrawn, names another country), CaseInvalidInput (medical needs
        without consent), InvalidText, ReturnNotLinked, PeerUnavailable.
    """
    case = lock_for(actor, case_id, TRANSIT_ROLES)
    require_planning(case)
    node = peer_for(case, to_node)
    plan = ReturnPlan.objects.filter(case=case).first()
    if plan is None:
        raise TransitionNotAllowed(
            _("Record the documents and the journey first."),
            details={"reason": "plan_missing"},
        )
    child = case.person.presumed_child
    best: wire.BestInterestsV1 | None = None
    consent_ref: UUID | None = None
    if child:
        bid = BestInterestsDetermination.objects.filter(case=case).first()
        if bid is None:
            raise TransitionNotAllowed(
                _("Record the best-interests determination first."),
                details={"reason": "bid_missing"},
            )
        best = wire.BestInterestsV1(
            outcome=bid.outcome,
            guardian_opinion=bid.guardian_opinion,
            determined_on=bid.determined_on,
        )
    else:
        consent_ref = valid_consent(person=case.person, purpose=Purpose.RETURN).pk
    needs = clean_reason(medical_needs, field="medical_needs", required=False)
    if needs and consent_id is None:
        raise invalid(
            _("Medical needs are sent only with the person's consent to the transfer."),
            "medical_needs",
            reason="consent_required",
        )
    texts = _open(case, plan.sealed_text, plan.text_context()) if consent_id else {}
    payload = wire.ReturnPlanV1(
        trm_case_ref=case.trm_case_ref,
        plan_ref=plan.pk,
        child=child,
        consent_ref=consent_ref,
        best_interests=best,
        departure_on=plan.departure_on,
        itinerary=texts.get("itinerary", ""),
        escort_function=plan.escort_function,
        meeting_person_function=plan.meeting_person_function,
        medical_fitness=plan.medical_fitness,
        medical_needs=needs,
        documents_status=_documents_status(plan),
        document_valid_until=plan.travel_document_valid_until,
        legal_contact_needs=texts.get("legal_contact_needs", ""),
        sending_organisation=_organisation(actor, case),
    )
    message = exchange.enqueue(
        to_node=node,
        type=wire.RETURN_PLAN,
        payload=payload,
        legal_basis=_consent_basis(consent_id),
        categories=sorted(return_plan_carried(payload)),
        conversation=case.trm_case_ref,
        case_id=case.pk,
        actor=actor,
    )
    audit_case(
        actor,
        "returns.plan_sent",
        case,
        record=str(plan.pk),
        to=node,
        with_consent=consent_id is not None,
        message=str(message.msg_id),
    )
    return message


def return_plan_receive(
    *,
    actor: User,
    case: Case,
    peer_node: str,
    msg_id: UUID,
    payload: wire.ReturnPlanV1,
    legal_basis: str = exchange.PSEUDONYMOUS,
) -> IncomingReturn:
    """Record a return plan on the origin's locked linked ``case`` (inner
    service of the handler; not durable). A plan sent again replaces what
    arrived before and clears the answer. Free text is sealed under the
    person's key (nothing is kept after erasure)."""
    incoming = (
        IncomingReturn.objects.select_for_update()
        .filter(case=case, plan_ref=payload.plan_ref)
        .first()
    ) or IncomingReturn(case=case, plan_ref=payload.plan_ref)
    best = payload.best_interests
    incoming.peer_node = peer_node
    incoming.msg_id = msg_id
    incoming.sending_organisation = payload.sending_organisation.name
    incoming.child = payload.child
    incoming.consent_ref = payload.consent_ref
    incoming.bid_outcome = best.outcome if best else ""
    incoming.guardian_opinion = best.guardian_opinion if best else ""
    incoming.bid_determined_on = best.determined_on if best else None
    incoming.departure_on = payload.departure_on
    incoming.escort_function = payload.escort_function
    incoming.meeting_person_function = payload.meeting_person_function
    incoming.medical_fitness = payload.medical_fitness
    incoming.documents_status = payload.documents_status
    incoming.document_valid_until = payload.document_valid_until
    incoming.received_under = consent_of(legal_basis)
    incoming.legal_basis_kind = (
        "consent" if incoming.received_under else exchange.PSEUDONYMOUS
    )
    incoming.received_at = timezone.now()
    incoming.decision = ReceiverDecision.PENDING
    incoming.decline_reason = ""
    incoming.receiving_organisation = ""
    incoming.case_manager_function = ""
    incoming.services = []
    incoming.carer_kind = ""
    incoming.carer_confirmed_on = None
    incoming.answered_on = None
    incoming.answered_by = None
    incoming.sealed_text = (
        None
        if case.person.is_erased
        else seal_json(
            case,
            {
                "itinerary": payload.itinerary,
                "medical_needs": payload.medical_needs,
                "legal_contact_needs": payload.legal_contact_needs,
            },
            incoming.text_context(),
        )
    )
    incoming.save()
    audit_case(
        actor,
        "returns.plan_received",
        case,
        record=str(incoming.pk),
        sender=peer_node,
        child=payload.child,
    )
    return incoming


@transaction.atomic(durable=True)
def return_plan_answer(
    *,
    actor: User,
    case_id: UUID,
    decision: str,
    receiving_organisation: str,
    decided_on: date | None = None,
    decline_reason: str = "",
    case_manager_function: str = "",
    services: Sequence[str] = (),
    carer_kind: str = "",
    carer_confirmed_on: date | None = None,
    plan_id: UUID | None = None,
) -> OutboxMessage:
    """On the origin node: answer the return plan that arrived (``plan_id``,
    or the newest) — ``return.plan.response`` v1 in reply (M7).

    Args:
        decision: ``accepted`` or ``declined``.
        receiving_organisation: the organisation that will receive the person.
        decided_on: defaults to today (not in the future).
        decline_reason: a :class:`~trm.returns.models.DeclineReason` code,
            required with a decline.
        case_manager_function: the named case manager, as a function.
        services: need-domain codes of :data:`trm.assessments.models.DOMAINS`.
        carer_kind / carer_confirmed_on: for a child, required to accept
            (UNICEF ch. 10: a carer who agreed and is able to care for them);
            never for an adult or with a decline.

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed (closed),
        PersonErased, NothingArrived (no plan arrived), CaseInvalidInput,
        InvalidText, PeerUnavailable.
    """
    case, _access = lock_origin(actor, case_id)
    found = IncomingReturn.objects.select_for_update().filter(case=case)
    if plan_id is not None:
        found = found.filter(pk=plan_id)
    incoming = found.first()
    if incoming is None:
        raise NothingArrived(
            _("No return plan arrived for this case."),
            details={"what": "return_plan"},
        )
    if decision not in {ReceiverDecision.ACCEPTED, ReceiverDecision.DECLINED}:
        raise invalid(_("Say whether you accept the return."), "decision")
    accepted = decision == ReceiverDecision.ACCEPTED
    name = clean_line(
        receiving_organisation,
        field="receiving_organisation",
        required=True,
        message=_("Name the receiving organisation."),
    )
    day = check_date(
        decided_on or timezone.localdate(),
        field="decided_on",
        not_future=True,
        message=_("Give the date of the answer."),
    )
    assert day is not None  # noqa: S101 - defaulted above
    if accepted:
        decline_reason = ""
    elif decline_reason not in DeclineReason.values:
        raise invalid(_("Choose why the return is declined."), "decline_reason")
    manager = clean_line(case_manager_function, field="case_manager_function")
    if isinstance(services, str) or any(s not in DOMAIN_LABELS for s in services):
        raise invalid(_("Unknown service."), "services")
    offered = [s for s in DOMAIN_LABELS if s in set(services)]
    if carer_kind or carer_confirmed_on:
        if not incoming.child:
            raise invalid(_("A carer is confirmed for a child."), "carer_kind")
        if not accepted:
            raise invalid(_("A carer is confirmed with an acceptance."), "carer_kind")
    if incoming.child and accepted:
        if carer_kind not in CarerKind.values:
            raise invalid(
                _("A child is received only with a carer: say who will care."),
                "carer_kind",
            )
        check_date(
            carer_confirmed_on,
            field="carer_confirmed_on",
            not_future=True,
            message=_("Give the date the carer confirmed."),
        )
    incoming.decision = decision
    incoming.decline_reason = decline_reason
    incoming.receiving_organisation = name
    incoming.case_manager_function = manager
    incoming.services = offered
    incoming.carer_kind = carer_kind if accepted else ""
    incoming.carer_confirmed_on = carer_confirmed_on if carer_kind else None
    incoming.answered_on = day
    incoming.answered_by = actor
    incoming.save()
    message = exchange.enqueue(
        to_node=incoming.peer_node,
        type=wire.RETURN_PLAN_RESPONSE,
        payload=wire.ReturnPlanResponseV1(
            trm_case_ref=case.trm_case_ref,
            plan_ref=incoming.plan_ref,
            decision=decision,
            decline_reason=decline_reason,
            receiving_organisation=name,
            case_manager_function=manager,
            services=offered,
            carer_kind=incoming.carer_kind,
            carer_confirmed_on=incoming.carer_confirmed_on,
            decided_on=day,
            sending_organisation=_organisation(actor, case),
        ),
        legal_basis=exchange.PSEUDONYMOUS,
        conversation=case.trm_case_ref,
        in_reply_to=incoming.msg_id,
        case_id=case.pk,
        actor=actor,
    )
    audit_case(
        actor,
        "returns.plan_answered",
        case,
        record=str(incoming.pk),
        decision=decision,
        carer=bool(incoming.carer_kind),
        message=str(message.msg_id),
    )
    return message


def plan_response_apply(
    *, actor: User, case: Case, payload: wire.ReturnPlanResponseV1
) -> ReturnPlan:
    """Apply the origin's answer on the destination's locked ``case`` (inner
    service of the handler): :func:`~trm.returns.services.apply_receiver_
    decision` with ``source="message"`` (and the carer for a child), then the
    case manager's function, the services offered and a decline's reason.

    Raises:
        UnknownPlan (the case's plan is not the one answered), CaseInvalidInput.
    """
    from trm.returns.services.logistics import apply_receiver_decision

    plan = ReturnPlan.objects.select_for_update().filter(case=case).first()
    if plan is None or plan.pk != payload.plan_ref:
        raise UnknownPlan(
            _("The answer names a return plan this case does not have."),
            details={"field": "plan_ref"},
        )
    plan = apply_receiver_decision(
        actor=actor,
        case=case,
        decision=payload.decision,
        organisation=payload.receiving_organisation,
        decided_on=payload.decided_on,
        source="message",
        carer_kind=payload.carer_kind,
        carer_confirmed_on=payload.carer_confirmed_on,
    )
    plan.receiver_decline_reason = payload.decline_reason
    plan.receiver_case_manager_function = payload.case_manager_function
    plan.receiver_services = list(payload.services)
    plan.save(
        update_fields=[
            "receiver_decline_reason",
            "receiver_case_manager_function",
            "receiver_services",
        ]
    )
    return plan


# --- family assessment and tracing -------------------------------------------------


def _clean_kind(kind: str) -> str:
    if kind not in FamilyKind.values:
        raise invalid(_("Choose a family assessment or a family tracing."), "kind")
    return kind


@transaction.atomic(durable=True)
def family_request_send(
    *,
    actor: User,
    case_id: UUID,
    kind: str,
    questions: str,
    consent_id: UUID,
    to_node: str | None = None,
) -> FamilyExchange:
    """Ask the country of origin for a family assessment or, for a child, a
    family tracing (``family.assessment.request`` / ``family.tracing.request``
    v1; EXCHANGE §3; SOPS §2 SOP 2, 4; M3, M4). Personal (category
    ``family``): only under the person's consent to a transfer naming the
    origin's country and covering ``family`` (for a child, the guardian's).

    Args:
        kind: ``assessment`` or ``tracing`` (a child only).
        questions: the family and risk questions, or the known relatives
            (sealed here; sent).

    Raises:
        CaseNotFound, CaseRoleRequired (:data:`FAMILY_ROLES`),
        TransitionNotAllowed (closed), PersonErased, CaseInvalidInput (kind,
        tracing for an adult, no questions), InvalidText, ReturnNotLinked,
        ConsentMissing, PeerUnavailable.
    """
    case = lock_for(actor, case_id, FAMILY_ROLES)
    kind = _clean_kind(kind)
    if kind == FamilyKind.TRACING and not case.person.presumed_child:
        raise invalid(_("Family tracing is asked for a child."), "kind")
    text = clean_reason(
        questions,
        field="questions",
        required=True,
        message=_("Write what you ask of the country of origin."),
    )
    node = peer_for(case, to_node)
    record = FamilyExchange(
        case=case,
        kind=kind,
        direction=FamilyDirection.OUT,
        peer_node=node,
        requested_on=timezone.localdate(),
        recorded_at=timezone.now(),
    )
    record.request_ref = record.id
    message = exchange.enqueue(
        to_node=node,
        type=REQUEST_TYPES[FamilyKind(kind)],
        payload=wire.FamilyRequestV1(
            trm_case_ref=case.trm_case_ref,
            request_ref=record.request_ref,
            child=case.person.presumed_child,
            questions=text,
            sending_organisation=_organisation(actor, case),
        ),
        legal_basis=f"consent:{consent_id}",
        categories=["family"],
        conversation=case.trm_case_ref,
        case_id=case.pk,
        actor=actor,
    )
    record.request_msg_id = message.msg_id
    record.sealed_text = seal_json(
        case, {"questions": text, "findings": ""}, record.text_context()
    )
    record.save(force_insert=True)
    audit_case(
        actor,
        "returns.family_requested",
        case,
        record=str(record.pk),
        kind=kind,
        to=node,
        message=str(message.msg_id),
    )
    return record


def family_request_receive(
    *,
    actor: User,
    case: Case,
    kind: str,
    peer_node: str,
    msg_id: UUID,
    payload: wire.FamilyRequestV1,
    legal_basis: str = "",
) -> FamilyExchange:
    """Record a family request on the origin's locked linked ``case`` (inner
    service of the handler). The same request sent again replaces the
    questions."""
    record = (
        FamilyExchange.objects.select_for_update()
        .filter(case=case, request_ref=payload.request_ref, direction="in")
        .first()
    ) or FamilyExchange(
        case=case,
        kind=kind,
        direction=FamilyDirection.IN,
        request_ref=payload.request_ref,
        requested_on=timezone.localdate(),
    )
    record.peer_node = peer_node
    record.request_msg_id = msg_id
    record.received_under = consent_of(legal_basis)
    record.recorded_at = timezone.now()
    if not case.person.is_erased:
        record.sealed_text = seal_json(
            case,
            {"questions": payload.questions, "findings": ""},
            record.text_context(),
        )
    record.save()
    audit_case(
        actor,
        "returns.family_request_received",
        case,
        record=str(record.pk),
        kind=kind,
        sender=peer_node,
    )
    return record


def _clean_report(
    reported_on: date | None, assessor_function: str, findings: str, recommendation: str
) -> tuple[date, str, str]:
    day = check_date(
        reported_on,
        field="reported_on",
        not_future=True,
        message=_("Give the date of the report."),
    )
    assert day is not None  # noqa: S101 - required
    assessor = clean_line(
        assessor_function,
        field="assessor_function",
        required=True,
        message=_("Give the assessor's function."),
    )
    if recommendation not in FamilyRecommendation.values:
        raise invalid(_("Choose the recommendation."), "recommendation")
    text = clean_reason(findings, field="findings", required=False)
    return day, assessor, text


def _store_report(
    case: Case,
    record: FamilyExchange,
    *,
    day: date,
    assessor: str,
    findings: str,
    recommendation: str,
) -> None:
    opened = _open(case, record.sealed_text, record.text_context())
    record.status = FamilyStatus.REPORTED
    record.reported_on = day
    record.assessor_function = assessor
    record.recommendation = recommendation
    if not case.person.is_erased:
        record.sealed_text = seal_json(
            case,
            {"questions": opened.get("questions", ""), "findings": findings},
            record.text_context(),
        )
    record.save()


@transaction.atomic(durable=True)
def family_report_send(
    *,
    actor: User,
    case_id: UUID,
    legal_basis: str,
    reported_on: date | None,
    assessor_function: str,
    recommendation: str,
    findings: str = "",
    request_id: UUID | None = None,
) -> FamilyExchange:
    """On the origin node: answer a family request that arrived
    (``request_id``, or the newest unanswered) with the report or the tracing
    result (``family.assessment.report`` / ``family.tracing.result`` v1, in
    reply). ``findings`` is category ``family``: the basis is the person's
    consent recorded on this node (``consent:<id>``, naming the destination's
    country) or the child-protection authority's legal obligation
    (``legal_obligation:<reference>``).

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed (closed),
        PersonErased, NothingArrived, CaseInvalidInput (date, assessor,
        recommendation, basis), InvalidText, ConsentMissing /
        LegalBasisMissing, PeerUnavailable.
    """
    case, _access = lock_origin(actor, case_id)
    found = FamilyExchange.objects.select_for_update().filter(
        case=case, direction=FamilyDirection.IN
    )
    found = (
        found.filter(pk=request_id)
        if request_id is not None
        else found.filter(status=FamilyStatus.REQUESTED)
    )
    record = found.first()
    if record is None or record.request_msg_id is None:
        raise NothingArrived(
            _("No family request waits for an answer on this case."),
            details={"what": "family_request"},
        )
    day, assessor, text = _clean_report(
        reported_on, assessor_function, findings, recommendation
    )
    basis = (legal_basis or "").strip()
    if not (
        basis.startswith("consent:")
        or (
            basis.startswith(exchange.LEGAL_OBLIGATION + ":")
            and basis.split(":", 1)[1].strip()
        )
    ):
        raise CaseInvalidInput(
            _("Choose the person's consent, or name the legal obligation."),
            details={"field": "legal_basis"},
        )
    message = exchange.enqueue(
        to_node=record.peer_node,
        type=REPORT_TYPES[FamilyKind(record.kind)],
        payload=wire.FamilyReportV1(
            trm_case_ref=case.trm_case_ref,
            request_ref=record.request_ref,
            reported_on=day,
            assessor_function=assessor,
            findings=text,
            recommendation=recommendation,
            sending_organisation=_organisation(actor, case),
        ),
        legal_basis=basis,
        categories=["family"] if text else [],
        conversation=case.trm_case_ref,
        in_reply_to=record.request_msg_id,
        case_id=case.pk,
        actor=actor,
    )
    _store_report(
        case,
        record,
        day=day,
        assessor=assessor,
        findings=text,
        recommendation=recommendation,
    )
    audit_case(
        actor,
        "returns.family_reported",
        case,
        record=str(record.pk),
        kind=record.kind,
        recommendation=recommendation,
        message=str(message.msg_id),
    )
    return record


def family_report_apply(
    *,
    actor: User,
    case: Case,
    kind: str,
    payload: wire.FamilyReportV1,
    legal_basis: str = "",
) -> FamilyExchange:
    """Store a report or tracing result on the destination's locked ``case``
    (inner service of the handler).

    Raises:
        UnknownFamilyRequest: the case has no such request of that kind.
    """
    record = (
        FamilyExchange.objects.select_for_update()
        .filter(
            case=case,
            direction=FamilyDirection.OUT,
            kind=kind,
            request_ref=payload.request_ref,
        )
        .first()
    )
    if record is None:
        raise UnknownFamilyRequest(
            _("The report answers no family request of this case."),
            details={"field": "request_ref"},
        )
    record.received_under = consent_of(legal_basis)
    _store_report(
        case,
        record,
        day=payload.reported_on,
        assessor=payload.assessor_function,
        findings=payload.findings,
        recommendation=payload.recommendation,
    )
    audit_case(
        actor,
        "returns.family_report_received",
        case,
        record=str(record.pk),
        kind=kind,
        recommendation=payload.recommendation,
    )
    return record


@transaction.atomic(durable=True)
def family_report_record(
    *,
    actor: User,
    case_id: UUID,
    kind: str,
    reported_on: date | None,
    assessor_function: str,
    recommendation: str,
    findings: str = "",
) -> FamilyExchange:
    """On the destination node: record a family assessment report (or tracing
    result) that came outside TRM (e.g. by post from social services).

    Raises:
        CaseNotFound, CaseRoleRequired (:data:`FAMILY_ROLES`),
        TransitionNotAllowed (closed), PersonErased, CaseInvalidInput,
        InvalidText.
    """
    case = lock_for(actor, case_id, FAMILY_ROLES)
    kind = _clean_kind(kind)
    day, assessor, text = _clean_report(
        reported_on, assessor_function, findings, recommendation
    )
    record = FamilyExchange(
        case=case,
        kind=kind,
        direction=FamilyDirection.OUT,
        requested_on=day,
        recorded_at=timezone.now(),
    )
    record.request_ref = record.id
    _store_report(
        case,
        record,
        day=day,
        assessor=assessor,
        findings=text,
        recommendation=recommendation,
    )
    audit_case(
        actor,
        "returns.family_report_recorded",
        case,
        record=str(record.pk),
        kind=kind,
        recommendation=recommendation,
    )
    return record


#: What a withdrawn consent's categories reach in what arrived here.
PLAN_TEXT_CATEGORIES = frozenset({"case_summary", "health", "legal"})


def restrict_received(
    *,
    case: Case,
    peer_node: str,
    consent_ref: UUID,
    categories: Sequence[str],
    actor: User | None,
) -> str | None:
    """Restriction hook of ``consent.withdrawn`` (registered in ``ready()``):
    erase the free text of the return plans and family requests or reports
    that ``peer_node`` sent about ``case`` under ``consent_ref`` when the
    withdrawn categories reach it; codes and dates stay (they are not the
    consented data). Returns ``"erased"`` or None (nothing held)."""
    wanted = set(categories)
    erased = 0
    if wanted & PLAN_TEXT_CATEGORIES:
        erased += IncomingReturn.objects.filter(
            case=case, peer_node=peer_node, received_under=consent_ref
        ).update(sealed_text=None, legal_basis_kind="withdrawn")
    if "family" in wanted:
        for record in FamilyExchange.objects.select_for_update().filter(
            case=case, peer_node=peer_node, received_under=consent_ref
        ):
            # What this node wrote itself (its own questions) stays; what
            # arrived under the consent goes.
            opened = _open(case, record.sealed_text, record.text_context())
            mine = (
                {"questions": opened.get("questions", "")}
                if record.direction == FamilyDirection.OUT
                else {"findings": opened.get("findings", "")}
            )
            record.sealed_text = (
                seal_json(case, mine, record.text_context())
                if not case.person.is_erased
                else None
            )
            record.received_under = None
            record.save(update_fields=["sealed_text", "received_under"])
            erased += 1
    if not erased:
        return None
    audit_case(actor, "returns.received_restricted", case, records=erased)
    return "erased"
