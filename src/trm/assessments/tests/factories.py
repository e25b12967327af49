"""Helpers that write assessments through the services. Text is clearly fictional."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from trm.accounts.models import User
from trm.assessments import plans, services
from trm.assessments.models import (
    NeedsAssessment,
    NeedsKind,
    NeedStatus,
    RiskAssessment,
    SupportPlanVersion,
)
from trm.assessments.plans import PlanInput, PlanStep
from trm.cases.models import Case

DOMAIN_STATUSES: dict[str, dict[str, str]] = {
    NeedsKind.IMMEDIATE: {
        "safety": NeedStatus.URGENT,
        "health": NeedStatus.ACTION,
        "emotional_state": NeedStatus.ACTION,
        "shelter": NeedStatus.MET,
        "food": NeedStatus.MET,
        "medicine": NeedStatus.NO_NEED,
        "hygiene": NeedStatus.MET,
        "sleep": NeedStatus.ACTION,
        "family_ties": NeedStatus.NO_NEED,
        "near_term_plans": NeedStatus.ACTION,
    }
}


def all_statuses(kind: str = NeedsKind.IMMEDIATE, status: str = "") -> dict[str, str]:
    """Return a status for every domain of ``kind`` (``status`` for all if given)."""
    from trm.assessments.models import DOMAINS

    base = DOMAIN_STATUSES.get(kind, {})
    return {d: status or base.get(d, NeedStatus.MET) for d in DOMAINS[kind]}


def record_needs(
    case: Case, actor: User, *, kind: str = NeedsKind.IMMEDIATE, **overrides: Any
) -> NeedsAssessment:
    values: dict[str, Any] = {
        "kind": kind,
        "willing_participation": True,
        "in_private": True,
        "interpreter": True,
        "language": "ro",
        "statuses": all_statuses(kind if kind in NeedsKind.values else "immediate"),
        "notes": {"safety": "Fictional note: afraid of a fictional recruiter."},
    }
    values.update(overrides)
    return services.needs_assessment_record(actor=actor, case_id=case.pk, **values)


def record_risk(
    case: Case, actor: User, *, level: str = "low", **overrides: Any
) -> RiskAssessment:
    values: dict[str, Any] = {
        "risk_type": "initial",
        "level": level,
        "factors": ["trafficker_threat"],
        "involvement": "involved",
        "person_concerns": "Fictional worry about a fictional debt.",
        "judgement": "Fictional judgement of the assessor.",
        "safety_measures": "Fictional measure: change of phone.",
    }
    values.update(overrides)
    return services.risk_assessment_record(actor=actor, case_id=case.pk, **values)


def complete_plan(**overrides: Any) -> PlanInput:
    """Return a plan input with every field rule 9 requires (for an adult)."""
    values: dict[str, Any] = {
        "immediate_needs": "Fictional needs: a safe bed, a doctor.",
        "risk_summary": "Fictional risk: medium, threats by phone.",
        "steps": [
            PlanStep(
                what="Fictional step: medical check",
                who="Fictional clinic",
                by_when=timezone.localdate() + timedelta(days=45),
            )
        ],
        "other_organisations": ["Fictional Shelter Zeta"],
        "safety_plan": "Fictional safety plan: new phone, no contact with X.",
        "timeframe": "Fictional: 3 months",
        "person_name": "Fictiv Person",
        "person_acknowledged": True,
        "interviewer_name": "Fictiv Interviewer",
        "interviewer_acknowledged": True,
        "plan_date": timezone.localdate(),
        "place": "Fictional Town",
    }
    values.update(overrides)
    return PlanInput(**values)


def save_plan(
    case: Case, actor: User, content: PlanInput | None = None, language: str = ""
) -> SupportPlanVersion:
    version, _created = plans.plan_save(
        actor=actor,
        case_id=case.pk,
        content=content if content is not None else complete_plan(),
        language=language,
    )
    return version
