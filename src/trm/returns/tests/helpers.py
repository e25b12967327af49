"""Set-up shared by the trm.returns tests. All data is synthetic and fictional."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from trm.accounts.models import Role, User
from trm.assessments.services import risk_assessment_record
from trm.audit.models import AuditEntry
from trm.cases.models import Case, CaseEvent
from trm.cases.services import case_alert_send
from trm.cases.tests.exchange_fakes import make_peer
from trm.cases.tests.factories import open_case, set_states, team_member
from trm.cases.tracks import Assistance, ChildProtection, TransnationalLink
from trm.consent import services as consent
from trm.returns import services
from trm.returns.models import (
    MATRIX_ITEMS,
    BestInterestsDetermination,
    JointRiskAssessment,
    ReturnPlan,
)

ALL_LOW = dict.fromkeys(MATRIX_ITEMS, "low")
ORIGIN_ORG = "Fictiv Reception Centre"


def snapshot(case: Case) -> tuple[object, ...]:
    """Everything a refused service must leave unchanged."""
    case.refresh_from_db()
    plan = ReturnPlan.objects.filter(case=case).values().first()
    return (
        case.assistance,
        CaseEvent.objects.filter(case=case).count(),
        AuditEntry.objects.exclude(action__endswith="_read").count(),
        BestInterestsDetermination.objects.filter(case=case).count(),
        list(JointRiskAssessment.objects.filter(case=case).values()),
        {k: v for k, v in (plan or {}).items() if k != "sealed_text"},
    )


def return_consent(actor: User, case: Case) -> None:
    given_by = "both" if case.person.presumed_child else "person"
    consent.consent_record(
        actor=actor,
        case_id=case.pk,
        purpose="return",
        categories=["case_summary"],
        given_by=given_by,
        language="ro",
        recipient_organisation_id=case.lead_organisation_id,
        declaration="Fictional declaration",
    )


def arrival_in(hours: float = 6) -> datetime:
    """An expected arrival ``hours`` from now (the journey needs one)."""
    return timezone.now() + timedelta(hours=hours)


def link_origin(ncp: User, case: Case, node_id: str = "peer-ro") -> None:
    """Alert the origin node ``node_id`` about ``case`` (a return needs it)."""
    make_peer(node_id, "RO")
    case_alert_send(
        actor=ncp,
        case_id=case.pk,
        peer_node=node_id,
        urgency="normal",
        requests=["return_planning"],
    )
    case.refresh_from_db()


def preparing_case(
    actor: User, *, child: bool = False, linked: bool = True
) -> tuple[Case, User]:
    """A case in return preparation with its national contact point (no
    records), linked with the origin node ``peer-ro`` (``linked=False``: never
    alerted to any node, no shared reference)."""
    case = open_case(actor, may_be_child=child, citizenships=["RO"])
    ncp = team_member(case, Role.NATIONAL_CONTACT_POINT)
    if linked:
        set_states(case, transnational=TransnationalLink.NCP_NOTIFIED)
        link_origin(ncp, case)
    set_states(case, assistance=Assistance.RETURN_PREPARATION)
    if child:
        set_states(case, child_protection=ChildProtection.GUARDIAN_APPOINTED)
    return case, ncp


def record_joint(actor: User, case: Case, **overrides: Any) -> JointRiskAssessment:
    today = timezone.localdate()
    values: dict[str, Any] = {
        "assessed_on": today,
        "valid_until": today + timedelta(days=14),
        "ratings": ALL_LOW,
        "overall_level": "low",
        "origin_ratings": ALL_LOW,
        "origin_organisation": ORIGIN_ORG,
    }
    values.update(overrides)
    return services.joint_risk_record(actor=actor, case_id=case.pk, **values)


def record_documents(actor: User, case: Case, **overrides: Any) -> ReturnPlan:
    today = timezone.localdate()
    values: dict[str, Any] = {
        "travel_document_requested_on": today - timedelta(days=10),
        "travel_document_issued_on": today - timedelta(days=2),
        "travel_document_valid_until": today + timedelta(days=60),
        "departure_on": today + timedelta(days=5),
        "itinerary": "Fictional coach route via Fictiv",
        "medical_fitness": "fit",
        "medical_fitness_on": today,
        "meeting_person_function": "Social worker",
        "meeting_point": "Fictiv bus station",
        "legal_contact_needs": "Fictional: remote hearing by video",
    }
    values.update(overrides)
    return services.return_plan_update(actor=actor, case_id=case.pk, **values)


def record_acceptance(actor: User, case: Case, **overrides: Any) -> ReturnPlan:
    values: dict[str, Any] = {
        "decision": "accepted",
        "organisation": ORIGIN_ORG,
        "decided_on": timezone.localdate(),
    }
    if case.person.presumed_child:
        values.update(carer_kind="parent", carer_confirmed_on=timezone.localdate())
    values.update(overrides)
    return services.receiver_decision_record(actor=actor, case_id=case.pk, **values)


def record_bid(actor: User, case: Case, **overrides: Any) -> BestInterestsDetermination:
    values: dict[str, Any] = {
        "determined_on": timezone.localdate(),
        "panel": ["guardian", "child_protection_authority", "social_services"],
        "outcome": "return_to_family",
        "guardian_opinion": "agrees",
        "child_views": "Fictional: wants to go home to her grandmother",
    }
    values.update(overrides)
    return services.bid_record(actor=actor, case_id=case.pk, **values)


def record_child_security(actor: User, case: Case, level: str = "low") -> None:
    risk_assessment_record(
        actor=actor,
        case_id=case.pk,
        risk_type="child_family",
        level=level,
        factors=["family_involved"],
        involvement="involved",
        judgement="Fictional judgement: the family is safe",
        safety_measures="Fictional measures" if level in {"high", "critical"} else "",
    )


def ready_case(actor: User, *, child: bool = False) -> tuple[Case, User]:
    """A case meeting every condition of the journey; with its NCP."""
    case, ncp = preparing_case(actor, child=child)
    return_consent(actor, case)
    record_joint(actor, case)
    plan_extra = (
        {"escort_function": "Social worker of the guardianship"} if child else {}
    )
    record_documents(actor, case, **plan_extra)
    record_acceptance(actor, case)
    if child:
        record_bid(actor, case)
        record_child_security(actor, case)
        record_family_report(actor, case)
    return case, ncp


def record_family_report(actor: User, case: Case) -> None:
    from trm.returns.services.across import family_report_record

    family_report_record(
        actor=actor,
        case_id=case.pk,
        kind="assessment",
        reported_on=timezone.localdate(),
        assessor_function="Social worker",
        recommendation="return_to_family",
        findings="Fictional: the grandmother can care for her",
    )
