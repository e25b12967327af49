"""SOP 3 individual care plan: draft it, agree it with the person, review it.

BG 3.1: within 20 days of long-term assistance starting, an individual needs
assessment and an individual **care plan** are made and a service agreement is
signed with the person's consent; services last up to 6 months (short), 1 year
(medium) or 3 years (long), for trafficked persons normally no longer than 1
year. BG SOP 3 step 5: the plan and the risks are reviewed regularly and every
review is recorded in the personal file. The deadline itself is the SOP
engine's (step ``sop3.care_plan``, setting ``care_plan.within_days``).

Every function is keyword-only, takes the acting user, locks the case
(:func:`trm.cases.services.lock_case`), checks the case is open, the actor's
role on it (:data:`trm.care.common.CARE_ROLES`) and that the person was not
erased, then writes the change, the timeline event (visibility "assistance
only") and an audit entry (codes only) in one transaction. On refusal it raises
a :class:`~trm.common.errors.DomainError` subclass and writes nothing. The
residence records are in :mod:`trm.care.residence`, the services given in
:mod:`trm.care.episodes`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from uuid import UUID

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import Organisation, User
from trm.care.common import CARE_ROLES, Sealer, check_date
from trm.care.models import (
    DURATION_MONTHS,
    NORMAL_MAX_MONTHS,
    CarePlan,
    PlanDuration,
    PlannedService,
    PlanReview,
    PlanStatus,
    ReviewOutcome,
)
from trm.cases.errors import CaseInvalidInput, TransitionNotAllowed
from trm.cases.models import Case, CaseTeamMember, Visibility
from trm.cases.services import lock_case, record_case_event, require_live_person
from trm.common.errors import DomainError
from trm.common.text import clean_text
from trm.consent.errors import ConsentMissing
from trm.consent.models import Consent, Purpose
from trm.consent.services import valid_consent
from trm.directory.models import ServiceType
from trm.identification.common import (
    audit_case,
    clean_reason,
    optional_text,
    require_open,
    require_roles,
)

#: The most services one plan lists.
MAX_PLANNED_SERVICES = 30
#: Longest "how often" of a planned service (one line).
MAX_FREQUENCY_CHARS = 200


@dataclass(frozen=True)
class PlannedServiceInput:
    """One planned service as a caller gives it (not yet checked)."""

    service_type: str
    provider_id: UUID | None = None
    frequency: str = ""
    notes: str = ""


def duration_warning(duration: str) -> str:
    """Return the warning for a duration above the 1-year norm, or ``""`` [BG 3.1]."""
    if DURATION_MONTHS.get(duration, 0) <= NORMAL_MAX_MONTHS:
        return ""
    return _(
        "For trafficked persons services normally last no longer than 1 year "
        "(BG 3.1). Say in the goals why this plan needs longer."
    )


def open_plan(case: Case, *, lock: bool = False) -> CarePlan | None:
    """Return the case's plan that is not closed (at most one), or None."""
    plans = CarePlan.objects.filter(case=case).exclude(status=PlanStatus.CLOSED)
    if lock:
        plans = plans.select_for_update()
    return plans.first()


def _responsible(case: Case, actor: User, responsible_id: int | None) -> User:
    if responsible_id is None:
        return actor
    member = (
        CaseTeamMember.objects.filter(
            case=case, user_id=responsible_id, role__in=sorted(CARE_ROLES)
        )
        .select_related("user")
        .first()
    )
    if (
        member is None
        or not member.user.is_active
        or member.role not in member.user.role_codes()
    ):
        raise CaseInvalidInput(
            _(
                "The responsible case worker must be a case manager or service "
                "provider on the case team."
            ),
            details={"field": "responsible"},
        )
    return member.user


def clean_provider(provider_id: UUID | None, *, field: str) -> Organisation | None:
    """Return the active organisation ``provider_id`` names, or refuse it."""
    if provider_id is None:
        return None
    organisation = Organisation.objects.filter(pk=provider_id, is_active=True).first()
    if organisation is None:
        raise CaseInvalidInput(
            _("Choose an active organisation of this node as the provider."),
            details={"field": field},
        )
    return organisation


def clean_service_type(service_type: str, *, field: str) -> str:
    """Return ``service_type`` if it is a directory service code, or refuse it."""
    if service_type not in ServiceType.values:
        raise CaseInvalidInput(
            _("Choose the kind of service."), details={"field": field}
        )
    return service_type


@dataclass(frozen=True)
class _Service:
    service_type: str
    provider: Organisation | None
    frequency: str
    notes: str


def _clean_services(services: Sequence[PlannedServiceInput]) -> list[_Service]:
    if len(services) > MAX_PLANNED_SERVICES:
        raise CaseInvalidInput(
            _("A plan lists at most %(n)d services.") % {"n": MAX_PLANNED_SERVICES},
            details={"field": "services"},
        )
    cleaned = []
    for index, row in enumerate(services):
        try:
            cleaned.append(
                _Service(
                    service_type=clean_service_type(
                        row.service_type, field="service_type"
                    ),
                    provider=clean_provider(row.provider_id, field="provider"),
                    frequency=clean_text(
                        row.frequency or "",
                        field="frequency",
                        max_length=MAX_FREQUENCY_CHARS,
                    ),
                    notes=clean_reason(row.notes, field="notes", required=False),
                )
            )
        except DomainError as exc:
            # The row and its field, so a form shows the message on that row.
            raise type(exc)(
                exc.message,
                details={
                    "field": "services",
                    "row": index,
                    "row_field": exc.details.get("field", ""),
                },
            ) from None
    return cleaned


@transaction.atomic(durable=True)
def care_plan_save(
    *,
    actor: User,
    case_id: UUID,
    goals: str,
    duration: str,
    services: Sequence[PlannedServiceInput],
    responsible_id: int | None = None,
) -> CarePlan:
    """Draft the case's individual care plan, or replace the draft's contents [BG 3.1].

    ``services`` replaces every planned service of the draft. A long duration
    (up to 3 years) is accepted; :func:`duration_warning` says why it should be
    rare. The responsible case worker is the actor unless ``responsible_id``
    names a case manager or service provider on the team. An agreed plan is
    changed only after a review that decides to change it (back to draft).

    Raises:
        CaseNotFound, CaseRoleRequired, PersonErased,
        TransitionNotAllowed (closed case; the plan is agreed),
        CaseInvalidInput (no goals, unknown duration or service type, an
        inactive provider, a responsible worker not on the team, too long).
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    require_open(case)
    require_roles(access, CARE_ROLES)
    require_live_person(case)
    goals = clean_reason(
        goals,
        field="goals",
        required=True,
        message=_("Write the long-term goals agreed with the person."),
    )
    if duration not in PlanDuration.values:
        raise CaseInvalidInput(
            _("Choose how long the services last."), details={"field": "duration"}
        )
    responsible = _responsible(case, actor, responsible_id)
    rows = _clean_services(services)
    plan = open_plan(case, lock=True)
    if plan is not None and plan.status == PlanStatus.AGREED:
        raise TransitionNotAllowed(
            _(
                "The plan is agreed with the person. Record a review that changes "
                "the plan before editing it; it is then agreed again."
            )
        )
    created = plan is None
    if plan is None:
        plan = CarePlan(case=case, status=PlanStatus.DRAFT, created_by=actor)
    sealer = Sealer(case)
    plan.duration = duration
    plan.responsible = responsible
    plan.sealed_goals = sealer.seal(goals, context=plan.goals_context())
    if created:
        plan.save(force_insert=True)
    else:
        plan.save(
            update_fields=["duration", "responsible", "sealed_goals", "updated_at"]
        )
        PlannedService.objects.filter(plan=plan).delete()
    planned = []
    for position, row in enumerate(rows):
        item = PlannedService(
            plan=plan,
            position=position,
            service_type=row.service_type,
            provider=row.provider,
        )
        if row.frequency or row.notes:
            details = json.dumps({"frequency": row.frequency, "notes": row.notes})
            item.sealed_details = sealer.seal(details, context=item.details_context())
        planned.append(item)
    PlannedService.objects.bulk_create(planned)
    audit_case(
        actor,
        "care.plan_saved",
        case,
        plan=str(plan.pk),
        created=created,
        duration=duration,
        services=sorted(r.service_type for r in rows),
    )
    return plan


def assistance_consent(case: Case) -> Consent:
    """Return the valid consent to assistance the agreement rests on, or refuse
    (:func:`trm.consent.services.valid_consent`: a child's with the guardian).

    Raises:
        ConsentMissing: ``details`` add ``record_url``, the page to record one.
    """
    try:
        return valid_consent(person=case.person, purpose=Purpose.ASSISTANCE)
    except ConsentMissing as exc:
        exc.details["record_url"] = reverse("consent:record", args=[case.pk])
        raise


@transaction.atomic(durable=True)
def care_plan_agree(*, actor: User, case_id: UUID, note: str = "") -> CarePlan:
    """Agree the draft care plan with the person: the service agreement [BG 3.1].

    Needs the long-term goals, at least one planned service and a valid consent
    of purpose ``assistance`` (neither withdrawn nor expired; given with the
    guardian for a person who is or may be a child). Writes
    ``sop3.care_plan_agreed`` (code: the duration), which completes the SOP
    step ``sop3.care_plan`` and starts the reviews (``sop3.plan_review``).

    Raises:
        CaseNotFound, CaseRoleRequired, PersonErased,
        TransitionNotAllowed (closed case; no draft plan),
        CaseInvalidInput (no planned service),
        ConsentMissing (no valid consent to assistance; ``details`` has
        ``state`` and ``record_url``, the page to record one).
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    require_open(case)
    require_roles(access, CARE_ROLES)
    require_live_person(case)
    plan = open_plan(case, lock=True)
    if plan is None:
        raise TransitionNotAllowed(_("Write the care plan before agreeing it."))
    if not plan.can_transition_to(PlanStatus.AGREED):
        raise TransitionNotAllowed(_("The care plan is already agreed."))
    if not plan.planned_services.exists():
        raise CaseInvalidInput(
            _("Add at least one planned service before agreeing the plan."),
            details={"field": "services"},
        )
    consent = assistance_consent(case)
    note = optional_text(case, note, field="note")
    plan.status = PlanStatus.AGREED
    plan.agreed_at = timezone.now()
    plan.agreed_by = actor
    plan.consent = consent
    plan.save(
        update_fields=["status", "agreed_at", "agreed_by", "consent", "updated_at"]
    )
    record_case_event(
        case=case,
        actor=actor,
        kind="sop3.care_plan_agreed",
        code=plan.duration,
        detail=note,
        visibility=Visibility.ASSISTANCE_ONLY,
    )
    audit_case(
        actor,
        "care.plan_agreed",
        case,
        plan=str(plan.pk),
        consent=str(consent.pk),
        duration=plan.duration,
    )
    return plan


@transaction.atomic(durable=True)
def care_plan_review(
    *,
    actor: User,
    case_id: UUID,
    reviewed_on: date | None,
    outcome: str,
    note: str = "",
) -> PlanReview:
    """Record a review of the agreed care plan and the risks (BG SOP 3 step 5).

    ``outcome``: ``continue`` keeps the plan; ``change`` sends it back to draft
    (edit it, then agree it again with the person); ``close`` closes it (a new
    plan may then be drafted). The review date may not be in the future nor
    before the plan was agreed. Writes ``sop3.plan_reviewed`` (code: the
    outcome); the note is sealed on the review.

    Raises:
        CaseNotFound, CaseRoleRequired, PersonErased,
        TransitionNotAllowed (closed case; no agreed plan: ``details
        ["plan_status"]`` is ``None`` without a plan, ``"draft"``, or
        ``"closed"`` when the last plan was closed by a review and a new one
        must be started),
        CaseInvalidInput (date, unknown outcome, note too long).
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    require_open(case)
    require_roles(access, CARE_ROLES)
    require_live_person(case)
    plan = open_plan(case, lock=True)
    if plan is None:
        if CarePlan.objects.filter(case=case, status=PlanStatus.CLOSED).exists():
            raise TransitionNotAllowed(
                _("This care plan is closed: start a new plan."),
                details={"plan_status": PlanStatus.CLOSED.value},
            )
        raise TransitionNotAllowed(
            _("There is no care plan to review: draft and agree a plan first."),
            details={"plan_status": None},
        )
    if plan.status != PlanStatus.AGREED:
        raise TransitionNotAllowed(
            _("Only an agreed care plan is reviewed: agree the plan first."),
            details={"plan_status": plan.status},
        )
    agreed_on = timezone.localdate(plan.agreed_at) if plan.agreed_at else None
    reviewed_on = check_date(
        reviewed_on,
        field="reviewed_on",
        not_future=True,
        not_before=agreed_on,
        message=_("Give the date of the review (not before the plan was agreed)."),
    )
    assert reviewed_on is not None  # noqa: S101 - required above
    if outcome not in ReviewOutcome.values:
        raise CaseInvalidInput(
            _("Choose what the review decided."), details={"field": "outcome"}
        )
    note = optional_text(case, note, field="note")
    review = PlanReview(
        plan=plan, reviewed_on=reviewed_on, outcome=outcome, recorded_by=actor
    )
    review.sealed_note = Sealer(case).seal(note, context=review.note_context())
    review.save(force_insert=True)
    if outcome == ReviewOutcome.CHANGE:
        plan.status = PlanStatus.DRAFT
        plan.save(update_fields=["status", "updated_at"])
    elif outcome == ReviewOutcome.CLOSE:
        plan.status = PlanStatus.CLOSED
        plan.closed_at = timezone.now()
        plan.save(update_fields=["status", "closed_at", "updated_at"])
    record_case_event(
        case=case,
        actor=actor,
        kind="sop3.plan_reviewed",
        code=outcome,
        visibility=Visibility.ASSISTANCE_ONLY,
    )
    audit_case(
        actor,
        "care.plan_reviewed",
        case,
        plan=str(plan.pk),
        review=str(review.pk),
        outcome=outcome,
    )
    return review
