"""What trm.assessments holds about a person, for the subject-access export.

The caller (:mod:`trm.dataprotection`) checks access, audits the export and
chooses the language (labels are in the active language).
"""

from __future__ import annotations

from typing import Any

from trm.cases.models import Case, Person

from . import plans
from .models import (
    DOMAIN_LABELS,
    Involvement,
    NeedsAssessment,
    NeedsKind,
    NeedStatus,
    RiskAssessment,
    RiskFactor,
    RiskLevel,
    RiskType,
    SupportPlanVersion,
)
from .selectors import needs_view, plan_view, risk_view


def _label(choices: Any, code: str) -> dict[str, str]:
    return {"code": code, "label": str(dict(choices.choices).get(code, code))}


def _user(user: Any) -> str | None:
    """Name the organisation that acted, not the staff member (as the rest of
    the subject-access export does: staff are not exposed to the export)."""
    if user is None or user.organisation is None:
        return None
    return str(user.organisation.name)


def _needs(case: Case, assessment: NeedsAssessment) -> dict[str, object]:
    view = needs_view(case, assessment)
    statuses = dict(NeedStatus.choices)
    return {
        "type": "needs_assessment",
        "case_number": case.number,
        "at": assessment.at,
        "assessed_by": _user(assessment.assessor),
        "kind": _label(NeedsKind, assessment.kind),
        "willing_participation": assessment.willing_participation,
        "in_private": assessment.in_private,
        "interpreter": assessment.interpreter,
        "language": assessment.language,
        "readable": view.readable,
        "needs": [
            {
                "domain": domain,
                "label": str(DOMAIN_LABELS.get(domain, domain)),
                "status": {"code": status, "label": str(statuses.get(status, status))},
                "note": note,
            }
            for domain, status, note in view.rows
        ],
    }


def _risk(case: Case, assessment: RiskAssessment) -> dict[str, object]:
    view = risk_view(case, assessment)
    return {
        "type": "risk_assessment",
        "case_number": case.number,
        "at": assessment.at,
        "assessed_by": _user(assessment.assessor),
        "risk_type": _label(RiskType, assessment.type),
        "level": _label(RiskLevel, assessment.level),
        "factors": [_label(RiskFactor, code) for code in assessment.factors],
        "no_risk_factor": assessment.no_risk_factor,
        "involvement": _label(Involvement, assessment.involvement),
        "next_review_due": assessment.next_review_due,
        "readable": view.readable,
        "person_concerns": view.person_concerns,
        "judgement": view.judgement,
        "safety_measures": view.safety_measures,
    }


def _plan(case: Case, version: SupportPlanVersion) -> dict[str, object]:
    view = plan_view(case, version)
    content = view.content
    data: list[dict[str, object]] | None = None
    if content is not None:
        data = [
            {"field": code, "label": plans.field_label(code), "value": value}
            for code, value in (
                ("immediate_needs", content.immediate_needs),
                ("risk_summary", content.risk_summary),
                (
                    "steps",
                    [
                        {"what": s.what, "who": s.who, "by_when": s.by_when}
                        for s in content.steps
                    ],
                ),
                (
                    "organisations",
                    [o.name for o in content.organisations]
                    + content.other_organisations,
                ),
                ("safety_plan", content.safety_plan),
                ("timeframe", content.timeframe),
                ("person_name", content.person_name),
                ("person_acknowledged", content.person_acknowledged),
                ("interviewer_name", content.interviewer_name),
                ("interviewer_acknowledged", content.interviewer_acknowledged),
                (
                    "interviewer_organisation",
                    content.interviewer_organisation.name
                    if content.interviewer_organisation
                    else "",
                ),
                ("guardian_name", content.guardian_name),
                ("guardian_acknowledged", content.guardian_acknowledged),
                ("plan_date", content.plan_date),
                ("place", content.place),
            )
        ]
    return {
        "type": "support_plan_version",
        "case_number": case.number,
        "version": version.number,
        "status": {"code": version.status, "label": version.get_status_display()},
        "language": version.language,
        "drafted_at": version.created_at,
        "last_saved_at": version.updated_at,
        "signed_at": version.signed_at,
        "signed_by": _user(version.signed_by),
        "readable": content is not None,
        "content": data,
    }


def export_for_person(person: Person) -> list[dict[str, object]]:
    """Return every needs assessment, risk assessment and plan version held about
    ``person`` (over all their cases), decrypted and with labels.

    Each item has ``type`` (``needs_assessment``, ``risk_assessment`` or
    ``support_plan_version``) and ``case_number``; sealed text is None (and
    ``readable`` False) once the person was erased. Dates stay date objects
    (encode with ``DjangoJSONEncoder``). No access check or audit here: the
    subject-access export does both.
    """
    items: list[dict[str, object]] = []
    for case in Case.objects.filter(person=person).select_related("person"):
        for needs in (
            NeedsAssessment.objects.filter(case=case)
            .select_related("assessor__organisation")
            .order_by("at", "pk")
        ):
            items.append(_needs(case, needs))
        for risk in (
            RiskAssessment.objects.filter(case=case)
            .select_related("assessor__organisation")
            .order_by("at", "pk")
        ):
            items.append(_risk(case, risk))
        for version in (
            SupportPlanVersion.objects.filter(case=case)
            .select_related("signed_by__organisation")
            .order_by("number")
        ):
            items.append(_plan(case, version))
    return items
