"""Documents, logistics and the receiving organisation's answer (SOP 4 steps 3-7)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import User
from trm.care.common import check_date
from trm.cases.models import Case
from trm.identification.common import (
    audit_case,
    clean_reason,
)
from trm.returns.models import (
    CarerKind,
    DecisionSource,
    MedicalFitness,
    ReceiverDecision,
    ReturnPlan,
)
from trm.returns.services.common import (
    PLANNING_ROLES,
    clean_line,
    invalid,
    lock_for,
    record_event,
    require_planning,
    seal_json,
)


def _plan(case: Case, actor: User | None) -> ReturnPlan:
    plan = ReturnPlan.objects.select_for_update().filter(case=case).first()
    if plan is None:
        plan = ReturnPlan(case=case, updated_at=timezone.now(), updated_by=actor)
    return plan


def _plan_dates(
    requested: date | None,
    issued: date | None,
    valid_until: date | None,
    departure: date | None,
) -> None:
    check_date(
        requested, field="travel_document_requested_on", required=False, not_future=True
    )
    check_date(
        issued,
        field="travel_document_issued_on",
        required=False,
        not_future=True,
        not_before=requested,
        message=_("The document cannot be issued before it was requested."),
    )
    if issued is not None and requested is None:
        raise invalid(
            _("Give the date the travel document was requested."),
            "travel_document_requested_on",
        )
    if valid_until is not None and issued is None:
        raise invalid(
            _("Give the date the document was issued."), "travel_document_issued_on"
        )
    check_date(
        valid_until,
        field="travel_document_valid_until",
        required=False,
        not_before=issued,
        message=_("The document cannot expire before it was issued."),
    )
    check_date(
        departure,
        field="departure_on",
        required=False,
        not_before=timezone.localdate(),
        message=_("The departure day is in the past: change it."),
    )


@transaction.atomic(durable=True)
def return_plan_update(
    *,
    actor: User,
    case_id: UUID,
    travel_document_requested_on: date | None = None,
    travel_document_issued_on: date | None = None,
    travel_document_valid_until: date | None = None,
    departure_on: date | None = None,
    itinerary: str = "",
    escort_function: str = "",
    medical_fitness: str = MedicalFitness.NOT_ASSESSED,
    medical_fitness_on: date | None = None,
    meeting_person_function: str = "",
    meeting_point: str = "",
    legal_contact_needs: str = "",
) -> ReturnPlan:
    """Set the documents and logistics of the return (SOPS §2 SOP 4 steps 5-7;
    CETS Art. 16(3)-(4); §6.1 ReturnPlan). Every field is replaced.

    Args:
        travel_document_*: requested ≤ issued ≤ valid until; not in the future
            (valid until may be).
        departure_on: today or later.
        itinerary: route, carrier, times (sealed).
        escort_function: who escorts, as a function (a child always travels
            with one: the journey's guard checks it).
        medical_fitness: ``not_assessed``, ``fit`` or ``not_fit``; the date is
            required for ``fit`` and ``not_fit``.
        meeting_person_function / meeting_point: who meets the person and where
            (the point is sealed).
        legal_contact_needs: how the person stays reachable for proceedings
            (sealed; SOP 4 step 6). Never read by a guard (rule 1).

    Writes the event ``sop4.travel_documents_ready`` when the document is first
    recorded as issued, and the audit entry ``returns.plan_updated``.

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed (closed case; not
        in return preparation or on hold), PersonErased, CaseInvalidInput,
        InvalidText.
    """
    case = lock_for(actor, case_id, PLANNING_ROLES)
    require_planning(case)
    _plan_dates(
        travel_document_requested_on,
        travel_document_issued_on,
        travel_document_valid_until,
        departure_on,
    )
    if medical_fitness not in MedicalFitness.values:
        raise invalid(_("Choose the medical fitness to travel."), "medical_fitness")
    if medical_fitness == MedicalFitness.NOT_ASSESSED:
        medical_fitness_on = None
    else:
        check_date(
            medical_fitness_on,
            field="medical_fitness_on",
            not_future=True,
            message=_("Give the date of the medical assessment."),
        )
    escort = clean_line(escort_function, field="escort_function")
    meeting_person = clean_line(
        meeting_person_function, field="meeting_person_function"
    )
    texts = {
        "itinerary": clean_reason(itinerary, field="itinerary", required=False),
        "meeting_point": clean_reason(
            meeting_point, field="meeting_point", required=False
        ),
        "legal_contact_needs": clean_reason(
            legal_contact_needs, field="legal_contact_needs", required=False
        ),
    }
    plan = _plan(case, actor)
    newly_issued = (
        plan.travel_document_issued_on is None and travel_document_issued_on is not None
    )
    plan.travel_document_requested_on = travel_document_requested_on
    plan.travel_document_issued_on = travel_document_issued_on
    plan.travel_document_valid_until = travel_document_valid_until
    plan.departure_on = departure_on
    plan.escort_function = escort
    plan.medical_fitness = medical_fitness
    plan.medical_fitness_on = medical_fitness_on
    plan.meeting_person_function = meeting_person
    plan.sealed_text = seal_json(case, texts, plan.text_context())
    plan.updated_at = timezone.now()
    plan.updated_by = actor
    plan.save()
    if newly_issued:
        record_event(case, actor, kind="sop4.travel_documents_ready")
    audit_case(
        actor,
        "returns.plan_updated",
        case,
        record=str(plan.pk),
        documents_issued=plan.travel_document_issued_on is not None,
        medical_fitness=medical_fitness,
        escort=bool(escort),
    )
    return plan


def apply_receiver_decision(
    *,
    actor: User | None,
    case: Case,
    decision: str,
    organisation: str,
    decided_on: date | None,
    source: str = DecisionSource.RECORDED,
    carer_kind: str = "",
    carer_confirmed_on: date | None = None,
) -> ReturnPlan:
    """Record the receiving organisation's answer on a locked ``case`` (M7).

    For :func:`receiver_decision_record` and, later, the handler of an inbound
    ``return.plan.response`` (``actor=None``, ``source="message"``). For a child,
    an acceptance may carry the carer confirmation (UNICEF ch. 10: a carer who
    agreed and is able to care for the child). Writes the event
    ``sop4.receiver_confirmed`` on an acceptance and the audit entry
    ``returns.receiver_answered``.

    Raises:
        CaseInvalidInput (decision, organisation, date, source; a carer for an
        adult, or with a decline; a carer without date), InvalidText.
    """
    if decision not in {ReceiverDecision.ACCEPTED, ReceiverDecision.DECLINED}:
        raise invalid(_("Say whether the organisation accepted."), "decision")
    if source not in DecisionSource.values:
        raise invalid(_("Unknown source of the answer."), "source")
    name = clean_line(
        organisation,
        field="organisation",
        required=True,
        message=_("Name the receiving organisation."),
    )
    check_date(
        decided_on,
        field="decided_on",
        not_future=True,
        message=_("Give the date of the answer."),
    )
    if carer_kind or carer_confirmed_on:
        if not case.person.presumed_child:
            raise invalid(_("A carer is confirmed for a child."), "carer_kind")
        if decision != ReceiverDecision.ACCEPTED:
            raise invalid(_("A carer is confirmed with an acceptance."), "carer_kind")
        if carer_kind not in CarerKind.values:
            raise invalid(_("Choose who will care for the child."), "carer_kind")
        check_date(
            carer_confirmed_on,
            field="carer_confirmed_on",
            not_future=True,
            message=_("Give the date the carer confirmed."),
        )
    plan = _plan(case, actor)
    plan.receiver_decision = decision
    plan.receiver_organisation = name
    plan.receiver_decided_on = decided_on
    plan.receiver_source = source
    plan.carer_kind = carer_kind
    plan.carer_confirmed_on = carer_confirmed_on if carer_kind else None
    plan.updated_at = timezone.now()
    plan.updated_by = actor
    plan.save()
    if decision == ReceiverDecision.ACCEPTED:
        record_event(case, actor, kind="sop4.receiver_confirmed", code=source)
    audit_case(
        actor,
        "returns.receiver_answered",
        case,
        record=str(plan.pk),
        decision=decision,
        source=source,
        carer=bool(carer_kind),
    )
    return plan


@transaction.atomic(durable=True)
def receiver_decision_record(
    *,
    actor: User,
    case_id: UUID,
    decision: str,
    organisation: str,
    decided_on: date | None,
    carer_kind: str = "",
    carer_confirmed_on: date | None = None,
) -> ReturnPlan:
    """Record the receiving organisation's answer as the partner gave it
    (:func:`apply_receiver_decision`, source ``recorded``).

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed (closed case; not
        in return preparation or on hold), PersonErased, CaseInvalidInput,
        InvalidText.
    """
    case = lock_for(actor, case_id, PLANNING_ROLES)
    require_planning(case)
    return apply_receiver_decision(
        actor=actor,
        case=case,
        decision=decision,
        organisation=organisation,
        decided_on=decided_on,
        carer_kind=carer_kind,
        carer_confirmed_on=carer_confirmed_on,
    )
