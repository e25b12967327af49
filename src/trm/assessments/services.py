"""The only writers of needs and risk assessments (SOPS §2 SOP 1 steps 4-5).

Each service locks the case (:func:`trm.cases.services.lock_case`), checks the
actor's role on the case team, that the case is open and the person not erased,
validates everything before writing anything, seals the free text under the
person's data key, writes a timeline event the SOP engine reads (visible to the
assistance side only) and an audit entry with codes only — all in one
transaction. The support and safety plan is in :mod:`trm.assessments.plans`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, timedelta
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import User
from trm.cases.models import Case, Visibility
from trm.cases.services import lock_case, record_case_event, require_live_person
from trm.common.languages import is_language_code
from trm.dataprotection import crypto
from trm.identification.common import audit_case, node_definition, require_open

from .common import ASSESSMENT_ROLES, clean_long_text, require_actor
from .errors import AssessmentInvalidInput, ParticipationRequired
from .models import (
    DOMAINS,
    LEVELS_NEEDING_MEASURES,
    Involvement,
    NeedsAssessment,
    NeedsKind,
    NeedStatus,
    RiskAssessment,
    RiskFactor,
    RiskLevel,
    RiskType,
)

#: The furthest ahead a next risk review may be set (days from today).
MAX_REVIEW_DAYS = 90
#: Used when the variant sets no maximum interval between reviews.
DEFAULT_REVIEW_DAYS = 30


def _invalid(message: str, field: str) -> AssessmentInvalidInput:
    return AssessmentInvalidInput(message, details={"field": field})


def _seal(case: Case, payload: dict[str, object], context: bytes) -> bytes:
    return crypto.seal_for(
        case.person.data_key_id,
        json.dumps(payload, sort_keys=True, ensure_ascii=False).encode(),
        context=context,
    )


def _clean_language(language: str) -> str:
    code = (language or "").strip().lower()
    if not is_language_code(code):
        raise _invalid(
            _("Choose the language of the interview (an ISO 639 code)."), "language"
        )
    return code


# --- needs ---------------------------------------------------------------------------


@transaction.atomic(durable=True)
def needs_assessment_record(
    *,
    actor: User,
    case_id: UUID,
    kind: str,
    willing_participation: bool,
    in_private: bool,
    language: str,
    statuses: Mapping[str, str],
    interpreter: bool = False,
    notes: Mapping[str, str] | None = None,
) -> NeedsAssessment:
    """Record an immediate (BG 1.3) or long-term (BG 3.1) needs assessment.

    The interview happens only with the person's willing participation and
    should be in private; both are recorded as answered. It asks about the
    person's condition, never about the trafficking story. Every domain of the
    kind gets a status; notes are optional and sealed. Writes the event
    ``sop1.needs_assessed`` (code = kind, assistance only) and the audit entry
    ``assessments.needs_assessed``.

    Who: first contact point, case manager, service provider, competent
    authority, national contact point on the case team, and the guardian of a
    person presumed a child.

    Args:
        kind: ``immediate`` or ``long_term`` (:class:`NeedsKind`).
        language: ISO 639 code of the language the interview was held in.
        statuses: domain code → ``no_need``/``met``/``action``/``urgent`` for
            every domain of ``kind`` (:data:`trm.assessments.models.DOMAINS`).
        notes: domain code → free text (at most 5,000 characters each).

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed (closed case),
        PersonErased, ParticipationRequired (no willing participation),
        AssessmentInvalidInput (unknown kind, language, domain or status, a
        domain without status — ``details["missing"]`` lists them — or a bad
        note). Nothing is written on refusal.
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    require_open(case)
    require_actor(access, case, ASSESSMENT_ROLES)
    require_live_person(case)
    if kind not in NeedsKind.values:
        raise _invalid(_("Choose the kind of needs assessment."), "kind")
    if not willing_participation:
        raise ParticipationRequired(
            _(
                "A needs assessment is made only with the person's willing "
                "participation. Come back to it when they agree."
            ),
            details={"field": "willing_participation"},
        )
    language = _clean_language(language)
    domains = DOMAINS[kind]
    unknown = sorted(set(statuses) - set(domains))
    if unknown:
        raise AssessmentInvalidInput(
            _("Unknown need domains."), details={"field": "statuses", "ids": unknown}
        )
    clean_statuses: dict[str, str] = {}
    missing = []
    for domain in domains:
        status = statuses.get(domain, "")
        if not status:
            missing.append(domain)
        elif status not in NeedStatus.values:
            raise _invalid(_("Choose how this need stands."), f"status_{domain}")
        else:
            clean_statuses[domain] = status
    if missing:
        raise AssessmentInvalidInput(
            _("Say how each need stands."),
            details={"field": f"status_{missing[0]}", "missing": missing},
        )
    clean_notes: dict[str, str] = {}
    for domain, text in (notes or {}).items():
        if domain not in domains:
            raise _invalid(_("Unknown need domain."), "notes")
        cleaned = clean_long_text(text, field=f"note_{domain}")
        if cleaned:
            clean_notes[domain] = cleaned

    assessment = NeedsAssessment(
        case=case,
        assessor=actor,
        at=timezone.now(),
        kind=kind,
        willing_participation=True,
        in_private=bool(in_private),
        interpreter=bool(interpreter),
        language=language,
        statuses=clean_statuses,
    )
    if clean_notes:
        assessment.sealed_notes = _seal(
            case, {"notes": clean_notes}, assessment.notes_context()
        )
    assessment.save(force_insert=True)
    record_case_event(
        case=case,
        actor=actor,
        kind="sop1.needs_assessed",
        code=kind,
        visibility=Visibility.ASSISTANCE_ONLY,
    )
    audit_case(
        actor,
        "assessments.needs_assessed",
        case,
        assessment=str(assessment.pk),
        kind=kind,
    )
    return assessment


# --- risk ----------------------------------------------------------------------------


def default_review_interval() -> int:
    """Return the days until the next risk review by default.

    The variant's ``risk_assessment.max_interval_days`` (SOPS §6.3 [INF]:
    e.g. 30), at most :data:`MAX_REVIEW_DAYS`.
    """
    try:
        days = node_definition().setting("risk_assessment.max_interval_days")
    except KeyError:
        days = None
    if not isinstance(days, int) or days < 1:
        return DEFAULT_REVIEW_DAYS
    return min(days, MAX_REVIEW_DAYS)


def default_next_review(today: date | None = None) -> date:
    """Return today plus :func:`default_review_interval` days."""
    return (today or timezone.localdate()) + timedelta(days=default_review_interval())


def _clean_factors(factors: list[str], no_risk_factor: bool) -> list[str]:
    if isinstance(factors, str) or not all(isinstance(f, str) for f in factors):
        raise _invalid(_("Give the risk factors as a list."), "factors")
    chosen = list(dict.fromkeys(factors))
    if any(f not in RiskFactor.values for f in chosen):
        raise _invalid(_("Unknown risk factor."), "factors")
    if chosen and no_risk_factor:
        raise _invalid(
            _(
                "Either tick the risk factors found or “no risk factor found”, "
                "not both."
            ),
            "factors",
        )
    if not chosen and not no_risk_factor:
        raise _invalid(
            _(
                "Tick at least one risk factor, or say explicitly that you found "
                "no risk factor."
            ),
            "factors",
        )
    # Stored in the order of the list, whatever order they came in.
    return [f for f in RiskFactor.values if f in chosen]


@transaction.atomic(durable=True)
def risk_assessment_record(
    *,
    actor: User,
    case_id: UUID,
    risk_type: str,
    level: str,
    factors: list[str],
    involvement: str,
    judgement: str,
    no_risk_factor: bool = False,
    person_concerns: str = "",
    safety_measures: str = "",
    next_review_due: date | None = None,
) -> RiskAssessment:
    """Record a risk assessment or review (SOPS §2 SOP 1 step 4 [BG 1.2]; TACT).

    The assessment combines the person's own worries with the interviewer's
    judgement; if the person cannot talk it rests on what others observe, and
    says so (``involvement``). At least one risk factor, or an explicit "no
    risk factor found". For a high or critical level the safety measures agreed
    must be written down (BG 1.2 step 2: an individual safety plan). Free text
    is sealed. Writes the event ``sop1.risk_assessment_reviewed`` (code =
    level, assistance only) — which completes the SOP steps
    ``sop1.risk_assessment`` and ``sop1.risk_review`` and ends "risk
    assessment due" after a contact (SOPS §6.5 rule 8) — and the audit entry
    ``assessments.risk_assessed``.

    Who: as :func:`needs_assessment_record`.

    Args:
        risk_type: ``initial``, ``ongoing``, ``witness`` or ``child_family`` (the
            last only for a person presumed a child).
        level: ``low``, ``medium``, ``high`` or ``critical``.
        factors: :class:`~trm.assessments.models.RiskFactor` codes.
        involvement: ``involved`` or ``observation_only``.
        judgement: the interviewer's judgement (required).
        next_review_due: the latest date of the next review, from today to 90
            days ahead; default today + the variant's
            ``risk_assessment.max_interval_days``.

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed (closed case),
        PersonErased, AssessmentInvalidInput (with ``details["field"]``).
        Nothing is written on refusal.
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    require_open(case)
    require_actor(access, case, ASSESSMENT_ROLES)
    require_live_person(case)
    if risk_type not in RiskType.values:
        raise _invalid(_("Choose the type of risk assessment."), "risk_type")
    if risk_type == RiskType.CHILD_FAMILY and not case.person.presumed_child:
        raise _invalid(
            _("A child and family risk assessment is only for a child."),
            "risk_type",
        )
    if level not in RiskLevel.values:
        raise _invalid(_("Choose the risk level."), "level")
    clean = _clean_factors(factors, no_risk_factor)
    if involvement not in Involvement.values:
        raise _invalid(
            _("Say whether the person took part or could not talk."), "involvement"
        )
    concerns = clean_long_text(person_concerns, field="person_concerns")
    judgement = clean_long_text(judgement, field="judgement")
    if not judgement:
        raise _invalid(_("Write down your judgement of the risks."), "judgement")
    measures = clean_long_text(safety_measures, field="safety_measures")
    if level in LEVELS_NEEDING_MEASURES and not measures:
        raise _invalid(
            _("At this level, write down the safety measures agreed with the person."),
            "safety_measures",
        )
    today = timezone.localdate()
    due = next_review_due or default_next_review(today)
    if due < today:
        raise _invalid(_("The next review cannot be in the past."), "next_review_due")
    if due > today + timedelta(days=MAX_REVIEW_DAYS):
        raise _invalid(
            _("Review the risks again within %(n)d days.") % {"n": MAX_REVIEW_DAYS},
            "next_review_due",
        )

    assessment = RiskAssessment(
        case=case,
        assessor=actor,
        at=timezone.now(),
        type=risk_type,
        level=level,
        factors=clean,
        no_risk_factor=not clean,
        involvement=involvement,
        next_review_due=due,
    )
    assessment.sealed_text = _seal(
        case,
        {
            "person_concerns": concerns,
            "judgement": judgement,
            "safety_measures": measures,
        },
        assessment.text_context(),
    )
    assessment.save(force_insert=True)
    record_case_event(
        case=case,
        actor=actor,
        kind="sop1.risk_assessment_reviewed",
        code=level,
        visibility=Visibility.ASSISTANCE_ONLY,
    )
    audit_case(
        actor,
        "assessments.risk_assessed",
        case,
        assessment=str(assessment.pk),
        type=risk_type,
        level=level,
    )
    return assessment
