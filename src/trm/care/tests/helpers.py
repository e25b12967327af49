"""Set-up shared by the trm.care tests. All data is synthetic and fictional."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from trm.audit.models import AuditEntry
from trm.care import services
from trm.care.models import (
    CarePlan,
    PlannedService,
    PlanReview,
    ResidenceStatus,
    ServiceEpisode,
)
from trm.cases.models import Case, CaseEvent, Person
from trm.cases.tests.factories import set_states
from trm.cases.tracks import Assistance
from trm.consent import services as consent_services
from trm.consent.models import Consent
from trm.dataprotection import crypto

GOALS = "Fictional goals: a safe home and a training course"


def snapshot(case: Case) -> tuple[object, ...]:
    """Everything a refused service must leave unchanged."""
    case.refresh_from_db()
    return (
        CaseEvent.objects.filter(case=case).count(),
        AuditEntry.objects.exclude(action__endswith="_read").count(),
        CarePlan.objects.filter(case=case).count(),
        list(CarePlan.objects.filter(case=case).values_list("status", flat=True)),
        PlannedService.objects.filter(plan__case=case).count(),
        PlanReview.objects.filter(plan__case=case).count(),
        ResidenceStatus.objects.filter(case=case).count(),
        list(
            ResidenceStatus.objects.filter(case=case).values_list(
                "superseded_by", flat=True
            )
        ),
        ServiceEpisode.objects.filter(case=case).count(),
        list(
            ServiceEpisode.objects.filter(case=case).values_list("outcome", flat=True)
        ),
        case.reflection,
        Person.objects.get(pk=case.person_id).asylum_applicant,
    )


def give_consent(case: Case, actor: Any, **overrides: Any) -> Consent:
    """Record the person's consent to assistance (the service agreement)."""
    values: dict[str, Any] = {
        "purpose": "assistance",
        "categories": ["case_summary"],
        "given_by": "person",
        "language": "ro",
        "recipient_country": "BG",
        "declaration": "Fictional declaration: I accept the services",
    }
    values.update(overrides)
    return consent_services.consent_record(actor=actor, case_id=case.pk, **values)


def draft(case: Case, actor: Any, **overrides: Any) -> CarePlan:
    """Save a draft plan with one planned service."""
    values: dict[str, Any] = {
        "goals": GOALS,
        "duration": "medium",
        "services": [
            services.PlannedServiceInput(
                service_type="psychological",
                frequency="Twice a week",
                notes="Fictional notes",
            )
        ],
    }
    values.update(overrides)
    return services.care_plan_save(actor=actor, case_id=case.pk, **values)


def agreed(case: Case, actor: Any) -> CarePlan:
    """A draft plan, agreed with a consent."""
    draft(case, actor)
    give_consent(case, actor)
    return services.care_plan_agree(actor=actor, case_id=case.pk)


def enter_long_term(case: Case, at: datetime | None = None) -> Case:
    """Put the case in long-term assistance as the pathway's move would (test
    set-up): the state and the ``case.track_moved`` event the engine reads."""
    set_states(case, assistance=Assistance.LONG_TERM)
    CaseEvent.objects.create(
        case=case,
        at=at or timezone.now(),
        kind="case.track_moved",
        track="assistance",
        from_state=Assistance.FIRST_ASSISTANCE,
        to_state=Assistance.LONG_TERM,
        visibility="assistance_only",
    )
    return case


def erase(case: Case) -> None:
    """Crypto-shred the case's person (test set-up; erasure has its own service)."""
    crypto.destroy_data_key(case.person.data_key_id)
    Person.objects.filter(pk=case.person_id).update(
        erased_at=timezone.now(), sealed_identity=None
    )
    case.refresh_from_db()
    case.person.refresh_from_db()


def close(case: Case) -> None:
    Case.objects.filter(pk=case.pk).update(closed_at=timezone.now())
    case.refresh_from_db()
