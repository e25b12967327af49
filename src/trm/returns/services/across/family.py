"""``family.assessment.*`` and ``family.tracing.*`` (M3, M4): the destination
asks, the origin reports; a report received outside TRM is recorded by hand
(EXCHANGE §3 "always before a child's return")."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import User
from trm.care.common import check_date
from trm.cases.errors import CaseInvalidInput
from trm.cases.models import Case
from trm.exchange import services as exchange
from trm.identification.common import audit_case, clean_reason
from trm.returns import wire
from trm.returns.errors import (
    NothingArrived,
    UnknownFamilyRequest,
)
from trm.returns.models import (
    FamilyDirection,
    FamilyExchange,
    FamilyKind,
    FamilyRecommendation,
    FamilyStatus,
)
from trm.returns.services.across.common import (
    FAMILY_ROLES,
    REPORT_TYPES,
    REQUEST_TYPES,
    consent_of,
    lock_origin,
    open_text,
    peer_for,
    sender_organisation,
)
from trm.returns.services.common import (
    clean_line,
    invalid,
    lock_for,
    seal_json,
)

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
            sending_organisation=sender_organisation(actor, case),
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
    opened = open_text(case, record.sealed_text, record.text_context())
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
            sending_organisation=sender_organisation(actor, case),
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
