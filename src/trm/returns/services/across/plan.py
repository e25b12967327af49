"""``return.plan`` (M6) and its answer ``return.plan.response`` (M7; added to
the catalogue, see :mod:`trm.returns.messages`): SOPS §2 SOP 4 steps 3-4."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import User
from trm.assessments.models import DOMAIN_LABELS
from trm.care.common import check_date
from trm.cases.errors import TransitionNotAllowed
from trm.cases.models import Case
from trm.consent.models import Purpose
from trm.consent.services import valid_consent
from trm.exchange import services as exchange
from trm.exchange.models import OutboxMessage
from trm.identification.common import audit_case, clean_reason, require_open
from trm.returns import wire
from trm.returns.errors import (
    NothingArrived,
    UnknownPlan,
)
from trm.returns.models import (
    BestInterestsDetermination,
    CarerKind,
    DeclineReason,
    DocumentsStatus,
    IncomingReturn,
    ReceiverDecision,
    ReturnPlan,
)
from trm.returns.services.across.common import (
    consent_basis,
    consent_of,
    lock_origin,
    open_text,
    peer_for,
    sender_organisation,
)
from trm.returns.services.common import (
    TRANSIT_ROLES,
    clean_line,
    invalid,
    lock_for,
    require_planning,
    seal_json,
)

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
    texts = open_text(case, plan.sealed_text, plan.text_context()) if consent_id else {}
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
        sending_organisation=sender_organisation(actor, case),
    )
    message = exchange.enqueue(
        to_node=node,
        type=wire.RETURN_PLAN,
        payload=payload,
        legal_basis=consent_basis(consent_id),
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
            sending_organisation=sender_organisation(actor, case),
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

    A late or replayed answer cannot rewrite a journey already under way:
    the case must be open and its return still in preparation (or on hold).

    Raises:
        UnknownPlan (the case's plan is not the one answered), CaseInvalidInput,
        TransitionNotAllowed (closed case, or the journey started).
    """
    from trm.returns.services.logistics import apply_receiver_decision

    require_open(case)
    require_planning(case)
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
