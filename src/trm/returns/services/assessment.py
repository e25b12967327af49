"""The joint pre-return risk and needs assessment (SOP 4 step 2; TACT; M5)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import User
from trm.assessments.models import DOMAIN_LABELS, RiskLevel
from trm.care.common import check_date
from trm.cases.errors import TransitionNotAllowed
from trm.cases.models import Case
from trm.identification.common import (
    audit_case,
    clean_reason,
)
from trm.returns.errors import ReturnRecordNotFound
from trm.returns.models import (
    ITEM_LEVELS,
    MATRIX_ITEMS,
    JointRiskAssessment,
)
from trm.returns.services.common import (
    MAX_VALIDITY_DAYS,
    PLANNING_ROLES,
    clean_line,
    invalid,
    lock_for,
    record_event,
    require_planning,
    seal_json,
)


def _clean_ratings(ratings: Mapping[str, str], *, field: str) -> dict[str, str]:
    if not isinstance(ratings, Mapping):
        raise invalid(_("Give a rating for each item."), field)
    unknown = sorted(set(ratings) - set(MATRIX_ITEMS))
    if unknown:
        raise invalid(_("Unknown risk items."), field, ids=unknown)
    missing = [item for item in MATRIX_ITEMS if not ratings.get(item)]
    if missing:
        raise invalid(
            _("Rate every item of the matrix."),
            f"{field}_{missing[0]}",
            missing=missing,
        )
    for item in MATRIX_ITEMS:
        if ratings[item] not in ITEM_LEVELS:
            raise invalid(_("Rate the item low, medium or high."), f"{field}_{item}")
    return {item: ratings[item] for item in MATRIX_ITEMS}


def apply_origin_ratings(
    *,
    actor: User | None,
    case: Case,
    assessment: JointRiskAssessment,
    ratings: Mapping[str, str],
    organisation: str,
    rated_on: date | None,
) -> JointRiskAssessment:
    """Put the origin side's ratings into the joint matrix of a locked ``case``.

    For :func:`joint_risk_origin_record` and, later, the handler of an inbound
    ``risk.assessment.joint`` (``actor=None``; the codes are the wire's). Every
    item must be rated (``low``/``medium``/``high``). When the matrix is then
    complete it writes the event ``sop4.joint_risk_assessed``; always the
    audit entry ``returns.joint_risk_origin_rated``.

    Raises:
        CaseInvalidInput (a missing or unknown item or rating; no organisation;
        the date), InvalidText.
    """
    clean = _clean_ratings(ratings, field="origin")
    name = clean_line(
        organisation,
        field="origin_organisation",
        required=True,
        message=_("Name the organisation in the country of origin that rated."),
    )
    day = check_date(
        rated_on,
        field="origin_rated_on",
        not_future=True,
        not_before=assessment.assessed_on,
        message=_("Give the date the origin side rated (not before the assessment)."),
    )
    assessment.ratings = {
        item: {**(assessment.ratings.get(item) or {}), "origin": clean[item]}
        for item in MATRIX_ITEMS
    }
    assessment.origin_organisation = name
    assessment.origin_rated_on = day
    assessment.save(update_fields=["ratings", "origin_organisation", "origin_rated_on"])
    record_event(
        case, actor, kind="sop4.joint_risk_assessed", code=assessment.effective_level()
    )
    audit_case(
        actor,
        "returns.joint_risk_origin_rated",
        case,
        record=str(assessment.pk),
        level=assessment.effective_level(),
    )
    return assessment


@transaction.atomic(durable=True)
def joint_risk_record(
    *,
    actor: User,
    case_id: UUID,
    assessed_on: date | None,
    valid_until: date | None,
    ratings: Mapping[str, str],
    overall_level: str,
    mitigations: str = "",
    first_needs: Sequence[str] = (),
    needs_note: str = "",
    origin_ratings: Mapping[str, str] | None = None,
    origin_organisation: str = "",
) -> JointRiskAssessment:
    """Record the joint pre-return risk and needs assessment (SOPS §2 SOP 4
    step 2; IOM/TACT matrix; §6.4 M5). It replaces the previous one.

    Args:
        assessed_on: the date (not in the future).
        valid_until: from today to 90 days after ``assessed_on``.
        ratings: the destination side's rating per item of
            :data:`~trm.returns.models.MATRIX_ITEMS` (all of them).
        overall_level: ``low``, ``medium``, ``high`` or ``critical``.
        mitigations: the measures that make the return safe (sealed); a high
            rating without them blocks the journey.
        first_needs: need-domain codes of
            :data:`trm.assessments.models.DOMAINS` needed first on arrival.
        needs_note: free text on those needs (sealed).
        origin_ratings / origin_organisation: the origin side's ratings when
            the matrix was filled together (else later, through
            :func:`joint_risk_origin_record`).

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed (closed case; not
        in return preparation or on hold), PersonErased, CaseInvalidInput
        (``details["missing"]`` lists unrated items), InvalidText.
    """
    case = lock_for(actor, case_id, PLANNING_ROLES)
    require_planning(case)
    day = check_date(
        assessed_on,
        field="assessed_on",
        not_future=True,
        message=_("Give the date of the assessment."),
    )
    assert day is not None  # noqa: S101 - required above
    today = timezone.localdate()
    until = check_date(
        valid_until,
        field="valid_until",
        not_before=max(day, today),
        message=_("Give how long the assessment stays valid (from today)."),
    )
    assert until is not None  # noqa: S101 - required above
    if until > day + timedelta(days=MAX_VALIDITY_DAYS):
        raise invalid(
            _("A joint risk assessment is valid for at most %(n)d days.")
            % {"n": MAX_VALIDITY_DAYS},
            "valid_until",
        )
    clean = _clean_ratings(ratings, field="destination")
    if overall_level not in RiskLevel.values:
        raise invalid(_("Choose the overall level."), "overall_level")
    if isinstance(first_needs, str) or any(n not in DOMAIN_LABELS for n in first_needs):
        raise invalid(_("Unknown need on arrival."), "first_needs")
    needs = [n for n in DOMAIN_LABELS if n in set(first_needs)]
    measures = clean_reason(mitigations, field="mitigations", required=False)
    note = clean_reason(needs_note, field="needs_note", required=False)
    assessment = JointRiskAssessment(
        case=case,
        assessed_on=day,
        valid_until=until,
        ratings={item: {"destination": clean[item], "origin": None} for item in clean},
        overall_level=overall_level,
        first_needs=needs,
        has_mitigations=bool(measures),
        recorded_at=timezone.now(),
        recorded_by=actor,
    )
    assessment.sealed_text = seal_json(
        case,
        {"mitigations": measures, "needs_note": note},
        assessment.text_context(),
    )
    assessment.save(force_insert=True)
    audit_case(
        actor,
        "returns.joint_risk_recorded",
        case,
        record=str(assessment.pk),
        level=overall_level,
    )
    if origin_ratings:
        apply_origin_ratings(
            actor=actor,
            case=case,
            assessment=assessment,
            ratings=origin_ratings,
            organisation=origin_organisation,
            rated_on=day,
        )
    return assessment


@transaction.atomic(durable=True)
def joint_risk_origin_record(
    *,
    actor: User,
    case_id: UUID,
    assessment_id: UUID,
    ratings: Mapping[str, str],
    origin_organisation: str,
    rated_on: date | None,
) -> JointRiskAssessment:
    """Record the origin side's ratings of the case's current joint assessment,
    as the partner gave them (:func:`apply_origin_ratings`).

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed (closed case; not
        in return preparation or on hold; a newer assessment replaced this
        one), ReturnRecordNotFound (no such assessment on the case),
        PersonErased, CaseInvalidInput, InvalidText.
    """
    case = lock_for(actor, case_id, PLANNING_ROLES)
    require_planning(case)
    assessment = (
        JointRiskAssessment.objects.select_for_update()
        .filter(case=case, pk=assessment_id)
        .first()
    )
    if assessment is None:
        raise ReturnRecordNotFound(_("No such joint risk assessment on this case."))
    newest = JointRiskAssessment.objects.filter(case=case).values_list("pk", flat=True)
    if newest.first() != assessment.pk:
        raise TransitionNotAllowed(
            _("A newer joint risk assessment replaced this one: rate that one."),
            details={"reason": "superseded"},
        )
    return apply_origin_ratings(
        actor=actor,
        case=case,
        assessment=assessment,
        ratings=ratings,
        organisation=origin_organisation,
        rated_on=rated_on,
    )
