"""The only readers of long-term care. Access follows the case; reads are audited.

A user reads a case's care plan, residence records and services given when
they may see the case (:mod:`trm.cases.access`; no access answers 404, as "no
such case") and their roles on it are not legal-track only (a prosecutor gets
:class:`~trm.care.errors.CareNotForLegalTrack`, 403: this is assistance
content, SOPS §3). Sealed text is opened under the person's data key; after
erasure it is ``None`` ("can no longer be read"). Every read that opens sealed
text is audited (``care.plan_read``, ``care.residence_read``,
``care.services_read``) with record ids only.

The care plan's deadline comes from the SOP engine (:func:`care_plan_deadline`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import User
from trm.audit import services as audit
from trm.care.common import Opener, require_reader
from trm.care.errors import CareRecordNotFound
from trm.care.models import (
    CarePlan,
    PlannedService,
    PlanReview,
    PlanStatus,
    ResidenceStatus,
    ServiceEpisode,
)
from trm.cases.access import CaseAccess, case_access
from trm.cases.errors import CaseNotFound
from trm.cases.models import Case
from trm.sop import engine

#: The step of the SOP definitions that is the care plan, and its setting.
CARE_PLAN_STEP = "sop3.care_plan"
#: The most plans and residence records one read returns (a case has a few).
MAX_RECORDS = 200


def care_access_for_user(*, user: User, case: Case) -> CaseAccess:
    """Return the user's access to ``case`` if they may read its long-term care.

    Raises:
        CaseNotFound: the user may not see the case.
        CareNotForLegalTrack: the user's roles on the case are legal-track only.
    """
    access = case_access(user, case)
    if access is None:
        raise CaseNotFound(_("No such case."))
    require_reader(access)
    return access


def _audit(user: User, action: str, case: Case, **data: object) -> None:
    with transaction.atomic():
        audit.record(actor=user, action=action, target=case, data=dict(data))


# --- the care plan ------------------------------------------------------------


@dataclass(frozen=True)
class PlannedServiceView:
    """A planned service with its frequency and notes (None: can no longer be read)."""

    service: PlannedService
    frequency: str | None
    notes: str | None


@dataclass(frozen=True)
class ReviewView:
    review: PlanReview
    note: str | None


@dataclass(frozen=True)
class PlanView:
    """A care plan as shown to a user; sealed text is None once erased."""

    plan: CarePlan
    goals: str | None
    services: list[PlannedServiceView]
    reviews: list[ReviewView]

    @property
    def readable(self) -> bool:
        return self.goals is not None


def plan_contents(plan: CarePlan, opener: Opener) -> PlanView:
    services = []
    for item in plan.planned_services.all():
        raw = opener.open(item.sealed_details, context=item.details_context())
        if raw:
            details = json.loads(raw)
            frequency, notes = details.get("frequency", ""), details.get("notes", "")
        else:
            frequency = notes = raw
        services.append(PlannedServiceView(item, frequency, notes))
    reviews = [
        ReviewView(r, opener.open(r.sealed_note, context=r.note_context()))
        for r in plan.reviews.all()
    ]
    return PlanView(
        plan=plan,
        goals=opener.open(plan.sealed_goals, context=plan.goals_context()),
        services=services,
        reviews=reviews,
    )


def _plans(case: Case) -> QuerySet[CarePlan]:
    return (
        CarePlan.objects.filter(case=case)
        .select_related("responsible", "agreed_by", "consent")
        .prefetch_related("planned_services__provider", "reviews__recorded_by")
        .order_by("-created_at", "-pk")
    )


def plans_for_user(*, user: User, case: Case) -> list[PlanView]:
    """Return the case's care plans, the open one first, then the closed ones.

    Audited as ``care.plan_read`` when there is any.

    Raises:
        CaseNotFound, CareNotForLegalTrack.
    """
    care_access_for_user(user=user, case=case)
    plans = list(_plans(case)[:MAX_RECORDS])
    if not plans:
        return []
    plans.sort(key=lambda p: p.status == PlanStatus.CLOSED)
    _audit(user, "care.plan_read", case, plans=[str(p.pk) for p in plans])
    opener = Opener(case.person)
    return [plan_contents(plan, opener) for plan in plans]


def current_plan_for_user(*, user: User, case: Case) -> PlanView | None:
    """Return the case's plan that is not closed, opened; None if there is none.

    Audited as ``care.plan_read``.

    Raises:
        CaseNotFound, CareNotForLegalTrack.
    """
    care_access_for_user(user=user, case=case)
    plan = _plans(case).exclude(status=PlanStatus.CLOSED).first()
    if plan is None:
        return None
    _audit(user, "care.plan_read", case, plans=[str(plan.pk)])
    return plan_contents(plan, Opener(case.person))


def plan_summary_for_user(*, user: User, case: Case) -> CarePlan | None:
    """Return the newest plan's row (status, duration, dates), nothing sealed.

    For the case page: no sealed text is opened, so the read is not audited
    beyond the case page's own.

    Raises:
        CaseNotFound, CareNotForLegalTrack.
    """
    care_access_for_user(user=user, case=case)
    plans = _plans(case)
    return plans.exclude(status=PlanStatus.CLOSED).first() or plans.first()


@dataclass(frozen=True)
class CarePlanDeadline:
    """The SOP engine's view of the care-plan step on a case.

    Attributes:
        state: the step's :class:`~trm.sop.engine.StepState`.
        due_on: the date the plan is due (``None`` until long-term assistance
            starts).
        days: the national time limit in days (``None``: none in this variant).
        variant, variant_title: the node's SOP variant.
        example: the variant's national rules are an unverified example.
        started_at: when long-term assistance started (the step's trigger).
        done_at: when the plan was agreed.
        days_left: days until ``due_on`` (negative: days late).
    """

    state: str
    state_label: str
    due_on: date | None
    days: int | None
    variant: str
    variant_title: str
    example: bool
    started_at: datetime | None
    done_at: datetime | None
    days_left: int | None

    @property
    def overdue(self) -> bool:
        return self.state == engine.StepState.OVERDUE

    @property
    def days_late(self) -> int:
        return -self.days_left if self.days_left is not None else 0


def care_plan_deadline(
    *, case: Case, access: CaseAccess, today: date | None = None
) -> CarePlanDeadline | None:
    """Return where the care-plan step stands under the node's variant.

    Computed by the SOP engine from the events ``access`` may see (step
    :data:`CARE_PLAN_STEP`, triggered by entering long-term assistance, due
    ``care_plan.within_days`` later: 30 in the baseline, 20 in ``bg``). None if
    the variant has no such step. The caller has checked access.
    """
    from trm.sop.loader import deadline_days, get_definition

    definition = get_definition()
    try:
        step = definition.step(CARE_PLAN_STEP)
    except KeyError:
        return None
    today = today or timezone.localdate()
    events = engine.EventIndex(
        engine.events_for_cases([case.pk], visibility=access.visible_levels()).get(
            case.pk, []
        )
    )
    status = engine.step_status(
        step,
        case=case,
        events=events,
        definition=definition,
        values=engine.conditions(case, events, definition),
        today=today,
    )
    return CarePlanDeadline(
        state=str(status.state),
        state_label=str(engine.StepState(status.state).label),
        due_on=status.due_on,
        days=deadline_days(definition, step),
        variant=definition.variant,
        variant_title=definition.title,
        example=definition.example,
        started_at=status.started_at,
        done_at=status.done_at,
        days_left=(status.due_on - today).days if status.due_on else None,
    )


# --- residence ------------------------------------------------------------------


@dataclass(frozen=True)
class ResidenceView:
    """A residence record as shown to a user.

    Attributes:
        document_number: ``""`` if none was given; None when it was not read
            (``with_numbers=False``) or can no longer be read (erased).
        expired: past its end date.
        renewal_due: current, not expired, and past its renewal date.
    """

    record: ResidenceStatus
    document_number: str | None
    expired: bool
    renewal_due: bool

    @property
    def current(self) -> bool:
        return self.record.is_current


def residence_for_user(
    *,
    user: User,
    case: Case,
    with_numbers: bool = True,
    today: date | None = None,
) -> list[ResidenceView]:
    """Return the case's residence records, newest first (current and history).

    With ``with_numbers`` the document numbers are opened and the read is
    audited as ``care.residence_read``; without, nothing sealed is read.

    Raises:
        CaseNotFound, CareNotForLegalTrack.
    """
    care_access_for_user(user=user, case=case)
    today = today or timezone.localdate()
    records = list(
        ResidenceStatus.objects.filter(case=case)
        .select_related("recorded_by")
        .order_by("-valid_from", "-recorded_at")[:MAX_RECORDS]
    )
    opener = None
    if with_numbers and records:
        _audit(user, "care.residence_read", case, records=[str(r.pk) for r in records])
        opener = Opener(case.person)
    return [
        ResidenceView(
            record=r,
            document_number=(
                opener.open(
                    r.sealed_document_number, context=r.document_number_context()
                )
                if opener is not None
                else None
            ),
            expired=r.is_expired(today),
            renewal_due=r.renewal_is_due(today),
        )
        for r in records
    ]


# --- services given ------------------------------------------------------------


@dataclass(frozen=True)
class EpisodeView:
    """A service given as shown to a user; sealed text is None once erased."""

    episode: ServiceEpisode
    provider_name: str | None
    note: str | None
    end_note: str | None


def episodes_for_user(*, user: User, case: Case) -> QuerySet[ServiceEpisode]:
    """Return the case's services given, newest first (rows only, for paging).

    Open the shown page with :func:`episode_views_for_user`.

    Raises:
        CaseNotFound, CareNotForLegalTrack.
    """
    care_access_for_user(user=user, case=case)
    return (
        ServiceEpisode.objects.filter(case=case)
        .select_related("provider")
        .order_by("-started_on", "-recorded_at", "-pk")
    )


def episode_views_for_user(
    *, user: User, case: Case, episodes: Iterable[ServiceEpisode]
) -> list[EpisodeView]:
    """Open the sealed text of ``episodes`` (of ``case``); audited as
    ``care.services_read``.

    Raises:
        CaseNotFound, CareNotForLegalTrack.
    """
    care_access_for_user(user=user, case=case)
    shown = [e for e in episodes if e.case_id == case.pk]
    if not shown:
        return []
    _audit(user, "care.services_read", case, episodes=[str(e.pk) for e in shown])
    opener = Opener(case.person)
    return [
        EpisodeView(
            episode=e,
            provider_name=opener.open(
                e.sealed_provider_name, context=e.provider_name_context()
            ),
            note=opener.open(e.sealed_note, context=e.note_context()),
            end_note=opener.open(e.sealed_end_note, context=e.end_note_context()),
        )
        for e in shown
    ]


def episode_for_user(*, user: User, case: Case, episode_id: UUID) -> EpisodeView:
    """Return one service given on ``case``, opened (audited).

    Raises:
        CaseNotFound, CareNotForLegalTrack, CareRecordNotFound.
    """
    episode = episodes_for_user(user=user, case=case).filter(pk=episode_id).first()
    if episode is None:
        raise CareRecordNotFound(_("No such service on this case."))
    return episode_views_for_user(user=user, case=case, episodes=[episode])[0]
