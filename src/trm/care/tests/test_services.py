"""The care plan, residence and service-log services, and every refusal.

Each refusal is checked to write nothing: no plan, review, record, episode,
event, audit entry, track move or flag (``helpers.snapshot``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from trm.accounts.models import Role
from trm.accounts.tests.factories import OrganisationFactory, UserFactory
from trm.audit.models import AuditEntry
from trm.care import episodes, residence, services
from trm.care.errors import CareRecordNotFound
from trm.care.models import (
    CarePlan,
    PlannedService,
    PlanStatus,
    ResidenceStatus,
    ServiceEpisode,
)
from trm.care.tests.helpers import (
    GOALS,
    agreed,
    close,
    draft,
    enter_long_term,
    erase,
    give_consent,
    snapshot,
)
from trm.cases.errors import (
    CaseInvalidInput,
    CaseNotFound,
    CaseRoleRequired,
    PersonErased,
    TransitionNotAllowed,
)
from trm.cases.models import CaseEvent, Person
from trm.cases.tests.factories import (
    adult_birth_date,
    open_case,
    set_states,
    team_member,
)
from trm.cases.tracks import Reflection
from trm.common.errors import DomainError
from trm.common.text import InvalidText
from trm.consent.errors import ConsentMissing
from trm.consent.services import consent_withdraw
from trm.sop import engine, loader
from trm.sop.engine import StepState

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate


@pytest.fixture(autouse=True)
def _fresh_definitions():
    loader.clear_cache()
    yield
    loader.clear_cache()


@pytest.fixture
def case(caseworker_a):
    return open_case(caseworker_a, birth_date=adult_birth_date())


def refused(case, error: type[DomainError], call) -> DomainError:
    before = snapshot(case)
    with pytest.raises(error) as excinfo:
        call()
    assert snapshot(case) == before
    return excinfo.value


def row(**values: Any) -> services.PlannedServiceInput:
    return services.PlannedServiceInput(**{"service_type": "shelter", **values})


# --- the care plan ---------------------------------------------------------------


def test_a_plan_is_drafted_with_its_goals_and_services_sealed(case, caseworker_a):
    provider = OrganisationFactory(name="Fictional Shelter Provider")
    plan = draft(
        case,
        caseworker_a,
        services=[
            row(provider_id=provider.pk, frequency="Every day"),
            row(service_type="legal_aid"),
        ],
    )
    assert plan.status == PlanStatus.DRAFT
    assert plan.responsible == caseworker_a
    stored = CarePlan.objects.get(pk=plan.pk)
    assert GOALS.encode() not in bytes(stored.sealed_goals or b"")
    planned = list(PlannedService.objects.filter(plan=plan))
    assert [(p.service_type, p.provider_id) for p in planned] == [
        ("shelter", provider.pk),
        ("legal_aid", None),
    ]
    assert b"Every day" not in bytes(planned[0].sealed_details or b"")
    assert planned[1].sealed_details is None
    entry = AuditEntry.objects.filter(action="care.plan_saved").get()
    assert GOALS not in str(entry.__dict__)


def test_saving_the_draft_again_replaces_its_services(case, caseworker_a):
    plan = draft(case, caseworker_a)
    again = draft(case, caseworker_a, services=[row(service_type="education")])
    assert again.pk == plan.pk
    assert list(
        PlannedService.objects.filter(plan=plan).values_list("service_type", flat=True)
    ) == ["education"]
    assert CarePlan.objects.filter(case=case).count() == 1


def test_a_long_plan_is_accepted_with_the_one_year_warning(case, caseworker_a):
    plan = draft(case, caseworker_a, duration="long")
    assert plan.duration == "long"
    assert plan.longer_than_normal
    assert "1 year" in services.duration_warning("long")
    assert services.duration_warning("medium") == ""


def test_the_responsible_worker_may_be_a_service_provider_on_the_team(
    case, caseworker_a
):
    provider = team_member(case, Role.SERVICE_PROVIDER)
    plan = draft(case, caseworker_a, responsible_id=provider.pk)
    assert plan.responsible == provider


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"goals": "  \u200b "}, "goals"),
        ({"duration": "forever"}, "duration"),
        ({"services": [row(service_type="teleportation")]}, "services"),
        ({"services": [row(frequency="Twice\na week")]}, "services"),
        ({"services": [row()] * (services.MAX_PLANNED_SERVICES + 1)}, "services"),
        ({"goals": "x" * 5001}, "goals"),
    ],
)
def test_a_plan_with_bad_input_is_refused(case, caseworker_a, overrides, field):
    error = refused(
        case,
        DomainError,
        lambda: draft(case, caseworker_a, **overrides),
    )
    assert error.details["field"] == field


def test_a_bad_service_row_is_named(case, caseworker_a):
    error = refused(
        case,
        CaseInvalidInput,
        lambda: draft(
            case, caseworker_a, services=[row(), row(service_type="nonsense")]
        ),
    )
    assert error.details == {"field": "services", "row": 1, "row_field": "service_type"}


def test_control_characters_in_a_frequency_are_refused(case, caseworker_a):
    refused(
        case,
        InvalidText,
        lambda: draft(case, caseworker_a, services=[row(frequency="a\u202eb")]),
    )


def test_an_inactive_provider_is_refused(case, caseworker_a):
    gone = OrganisationFactory(name="Fictional Closed Provider", is_active=False)
    error = refused(
        case,
        CaseInvalidInput,
        lambda: draft(case, caseworker_a, services=[row(provider_id=gone.pk)]),
    )
    assert error.details["row_field"] == "provider"


def test_the_responsible_worker_must_be_on_the_team(case, caseworker_a, caseworker_b):
    error = refused(
        case,
        CaseInvalidInput,
        lambda: draft(case, caseworker_a, responsible_id=caseworker_b.pk),
    )
    assert error.details["field"] == "responsible"
    guardian = team_member(case, Role.GUARDIAN)
    refused(
        case,
        CaseInvalidInput,
        lambda: draft(case, caseworker_a, responsible_id=guardian.pk),
    )


@pytest.mark.parametrize(
    "role", [Role.PROSECUTOR, Role.GUARDIAN, Role.FIRST_CONTACT_POINT]
)
def test_only_case_managers_and_service_providers_write_the_plan(case, role):
    user = team_member(case, role)
    refused(case, CaseRoleRequired, lambda: draft(case, user))


def test_a_service_provider_writes_the_plan(case):
    provider = team_member(case, Role.SERVICE_PROVIDER)
    assert draft(case, provider).responsible == provider


def test_someone_off_the_team_is_told_there_is_no_such_case(case, caseworker_b):
    refused(case, CaseNotFound, lambda: draft(case, caseworker_b))


def test_a_closed_case_takes_no_plan(case, caseworker_a):
    close(case)
    refused(case, TransitionNotAllowed, lambda: draft(case, caseworker_a))


def test_an_erased_person_gets_no_plan(case, caseworker_a):
    erase(case)
    refused(case, PersonErased, lambda: draft(case, caseworker_a))


def test_agreeing_needs_a_consent_to_assistance(case, caseworker_a):
    draft(case, caseworker_a)
    error = refused(
        case,
        ConsentMissing,
        lambda: services.care_plan_agree(actor=caseworker_a, case_id=case.pk),
    )
    assert error.details["state"] == "missing"
    assert error.details["record_url"] == f"/consent/case/{case.pk}/record/"
    assert "consent" in error.message


def test_a_consent_to_another_purpose_does_not_count(case, caseworker_a):
    draft(case, caseworker_a)
    give_consent(case, caseworker_a, purpose="referral")
    refused(
        case,
        ConsentMissing,
        lambda: services.care_plan_agree(actor=caseworker_a, case_id=case.pk),
    )


def test_a_withdrawn_consent_does_not_count(case, caseworker_a):
    draft(case, caseworker_a)
    consent = give_consent(case, caseworker_a)
    consent_withdraw(actor=caseworker_a, consent_id=consent.pk)
    error = refused(
        case,
        ConsentMissing,
        lambda: services.care_plan_agree(actor=caseworker_a, case_id=case.pk),
    )
    assert error.details["state"] == "withdrawn"


def test_an_expired_consent_does_not_count(case, caseworker_a):
    draft(case, caseworker_a)
    given = timezone.now() - timedelta(days=10)
    give_consent(
        case, caseworker_a, given_at=given, expires_at=given + timedelta(days=1)
    )
    error = refused(
        case,
        ConsentMissing,
        lambda: services.care_plan_agree(actor=caseworker_a, case_id=case.pk),
    )
    assert error.details["state"] == "expired"


def test_a_child_agrees_with_the_guardian(case, caseworker_a):
    draft(case, caseworker_a)
    give_consent(case, caseworker_a)  # given as an adult, by the person alone
    Person.objects.filter(pk=case.person_id).update(presumed_child=True)
    set_states(case, child_protection="guardian_appointed")
    error = refused(
        case,
        ConsentMissing,
        lambda: services.care_plan_agree(actor=caseworker_a, case_id=case.pk),
    )
    assert error.details["state"] == "guardian_required"
    give_consent(case, caseworker_a, given_by="both")
    plan = services.care_plan_agree(actor=caseworker_a, case_id=case.pk)
    assert plan.status == PlanStatus.AGREED


def test_agreeing_records_the_service_agreement(case, caseworker_a):
    draft(case, caseworker_a)
    consent = give_consent(case, caseworker_a)
    plan = services.care_plan_agree(
        actor=caseworker_a, case_id=case.pk, note="Fictional: signed together"
    )
    assert plan.status == PlanStatus.AGREED
    assert plan.consent == consent
    assert plan.agreed_by == caseworker_a
    event = CaseEvent.objects.get(case=case, kind="sop3.care_plan_agreed")
    assert (event.code, event.visibility) == ("medium", "assistance_only")
    assert b"Fictional" not in bytes(event.sealed_detail or b"")
    assert AuditEntry.objects.filter(action="care.plan_agreed").count() == 1


def test_agreeing_needs_a_draft_with_services(case, caseworker_a):
    give_consent(case, caseworker_a)
    refused(
        case,
        TransitionNotAllowed,
        lambda: services.care_plan_agree(actor=caseworker_a, case_id=case.pk),
    )
    draft(case, caseworker_a, services=[])
    error = refused(
        case,
        CaseInvalidInput,
        lambda: services.care_plan_agree(actor=caseworker_a, case_id=case.pk),
    )
    assert error.details["field"] == "services"


def test_an_agreed_plan_is_not_agreed_or_edited_again(case, caseworker_a):
    agreed(case, caseworker_a)
    refused(
        case,
        TransitionNotAllowed,
        lambda: services.care_plan_agree(actor=caseworker_a, case_id=case.pk),
    )
    refused(case, TransitionNotAllowed, lambda: draft(case, caseworker_a))


def test_agreeing_is_refused_to_other_roles_and_on_a_closed_case(case, caseworker_a):
    draft(case, caseworker_a)
    give_consent(case, caseworker_a)
    prosecutor = team_member(case, Role.PROSECUTOR)
    refused(
        case,
        CaseRoleRequired,
        lambda: services.care_plan_agree(actor=prosecutor, case_id=case.pk),
    )
    close(case)
    refused(
        case,
        TransitionNotAllowed,
        lambda: services.care_plan_agree(actor=caseworker_a, case_id=case.pk),
    )


def test_agreeing_is_refused_after_erasure(case, caseworker_a):
    draft(case, caseworker_a)
    give_consent(case, caseworker_a)
    erase(case)
    refused(
        case,
        PersonErased,
        lambda: services.care_plan_agree(actor=caseworker_a, case_id=case.pk),
    )


def review(case, actor, outcome: str = "continue", **kw: Any):
    return services.care_plan_review(
        actor=actor,
        case_id=case.pk,
        reviewed_on=kw.pop("reviewed_on", TODAY()),
        outcome=outcome,
        **kw,
    )


def test_a_review_that_continues_keeps_the_plan_agreed(case, caseworker_a):
    plan = agreed(case, caseworker_a)
    done = review(case, caseworker_a, note="Fictional progress")
    plan.refresh_from_db()
    assert plan.status == PlanStatus.AGREED
    assert b"Fictional" not in bytes(done.sealed_note or b"")
    event = CaseEvent.objects.get(case=case, kind="sop3.plan_reviewed")
    assert (event.code, event.visibility) == ("continue", "assistance_only")


def test_a_review_that_changes_the_plan_sends_it_back_to_draft(case, caseworker_a):
    plan = agreed(case, caseworker_a)
    review(case, caseworker_a, "change")
    plan.refresh_from_db()
    assert plan.status == PlanStatus.DRAFT
    assert plan.agreed_at is not None  # when it was last agreed
    draft(case, caseworker_a, goals="Fictional new goals")
    again = services.care_plan_agree(actor=caseworker_a, case_id=case.pk)
    assert again.pk == plan.pk
    assert CaseEvent.objects.filter(kind="sop3.care_plan_agreed").count() == 2


def test_a_review_that_closes_the_plan_lets_a_new_one_start(case, caseworker_a):
    plan = agreed(case, caseworker_a)
    review(case, caseworker_a, "close")
    plan.refresh_from_db()
    assert plan.status == PlanStatus.CLOSED and plan.closed_at
    fresh = draft(case, caseworker_a)
    assert fresh.pk != plan.pk
    assert CarePlan.objects.filter(case=case).count() == 2


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"reviewed_on": None}, "reviewed_on"),
        ({"reviewed_on": TODAY() + timedelta(days=1)}, "reviewed_on"),
        ({"reviewed_on": TODAY() - timedelta(days=1)}, "reviewed_on"),
        ({"outcome": "pause"}, "outcome"),
    ],
)
def test_a_review_with_bad_input_is_refused(case, caseworker_a, overrides, field):
    agreed(case, caseworker_a)  # today: a review yesterday predates it
    outcome = overrides.pop("outcome", "continue")
    error = refused(
        case,
        CaseInvalidInput,
        lambda: review(case, caseworker_a, outcome, **overrides),
    )
    assert error.details["field"] == field


def test_only_an_agreed_plan_is_reviewed(case, caseworker_a):
    refused(case, TransitionNotAllowed, lambda: review(case, caseworker_a))
    draft(case, caseworker_a)
    refused(case, TransitionNotAllowed, lambda: review(case, caseworker_a))


def test_reviewing_a_closed_plan_says_to_start_a_new_one(case, caseworker_a):
    agreed(case, caseworker_a)
    review(case, caseworker_a, "close")
    error = refused(case, TransitionNotAllowed, lambda: review(case, caseworker_a))
    assert "closed" in error.message and "start a new plan" in error.message
    assert "agree the plan first" not in error.message
    assert error.details == {"plan_status": "closed"}


def test_reviewing_without_a_plan_or_with_a_draft_says_what_to_do(case, caseworker_a):
    error = refused(case, TransitionNotAllowed, lambda: review(case, caseworker_a))
    assert "no care plan" in error.message and error.details["plan_status"] is None
    draft(case, caseworker_a)
    error = refused(case, TransitionNotAllowed, lambda: review(case, caseworker_a))
    assert "agree the plan first" in error.message
    assert error.details["plan_status"] == "draft"


def test_reviews_are_refused_to_other_roles_closed_cases_and_erased_persons(
    case, caseworker_a
):
    agreed(case, caseworker_a)
    guardian = team_member(case, Role.GUARDIAN)
    refused(case, CaseRoleRequired, lambda: review(case, guardian))
    erase(case)
    refused(case, PersonErased, lambda: review(case, caseworker_a))
    close(case)
    refused(case, TransitionNotAllowed, lambda: review(case, caseworker_a))


def test_agreeing_completes_the_care_plan_step_and_starts_the_reviews(
    case, caseworker_a
):
    enter_long_term(case)
    agreed(case, caseworker_a)
    statuses = {s.step.id: s for sop in engine.case_sop_status(case) for s in sop.steps}
    assert statuses["sop3.care_plan"].state == StepState.DONE
    assert statuses["sop3.plan_review"].state == StepState.DUE
    review(case, caseworker_a)
    statuses = {s.step.id: s for sop in engine.case_sop_status(case) for s in sop.steps}
    assert statuses["sop3.plan_review"].state == StepState.DONE


# --- residence -----------------------------------------------------------------


def record(case, actor, residence_type: str = "temp_permit_cooperation", **kw: Any):
    values: dict[str, Any] = {
        "valid_from": TODAY(),
        "valid_until": TODAY() + timedelta(days=365),
        "issuing_authority": "Fictional Migration Directorate",
        "document_number": "ZZ123456",
    }
    values.update(kw)
    return residence.residence_status_record(
        actor=actor, case_id=case.pk, residence_type=residence_type, **values
    )


def test_a_permit_is_recorded_and_moves_the_residence_track(case, caseworker_a):
    done = record(case, caseworker_a)
    status = done.record
    assert status.renewal_notice_days == 30
    assert status.renewal_due_on == TODAY() + timedelta(days=335)
    assert b"ZZ123456" not in bytes(status.sealed_document_number or b"")
    assert done.track_moved_to == Reflection.PERMIT_COOPERATION
    case.refresh_from_db()
    assert case.reflection == Reflection.PERMIT_COOPERATION
    event = CaseEvent.objects.get(case=case, kind="sop3.residence_permit_recorded")
    assert (event.code, event.visibility, event.sealed_detail) == (
        "temp_permit_cooperation",
        "assistance_only",
        None,
    )
    move = CaseEvent.objects.get(case=case, kind="case.track_moved")
    assert (move.track, move.to_state) == ("reflection", "permit_cooperation")
    entry = AuditEntry.objects.filter(action="care.residence_recorded").get()
    assert "ZZ123456" not in str(entry.__dict__)


def test_the_notice_days_default_comes_from_the_setting(case, caseworker_a, settings):
    settings.TRM_RESIDENCE_RENEWAL_NOTICE_DAYS = 45
    status = record(case, caseworker_a).record
    assert status.renewal_due_on == status.valid_until - timedelta(days=45)
    own = record(case, caseworker_a, "eu_citizen", valid_until=None)
    assert own.record.renewal_due_on is None
    custom = record(
        case, caseworker_a, "temp_permit_personal_situation", renewal_notice_days=10
    ).record
    assert custom.renewal_due_on == custom.valid_until - timedelta(days=10)


def test_a_permit_during_the_reflection_period_moves_the_track(case, caseworker_a):
    set_states(case, reflection=Reflection.REFLECTION_PERIOD)
    record(case, caseworker_a, "temp_permit_personal_situation")
    case.refresh_from_db()
    assert case.reflection == Reflection.PERMIT_PERSONAL


def test_a_reflection_document_never_moves_the_track(case, caseworker_a):
    done = record(case, caseworker_a, "reflection_document")
    assert done.track_moved_to == ""
    case.refresh_from_db()
    assert case.reflection == Reflection.NOT_APPLICABLE


def test_a_role_that_may_not_move_the_track_just_records(case):
    provider = team_member(case, Role.SERVICE_PROVIDER)
    done = record(case, provider)
    assert done.track_moved_to == ""
    case.refresh_from_db()
    assert case.reflection == Reflection.NOT_APPLICABLE
    assert ResidenceStatus.objects.filter(case=case).count() == 1


def test_a_move_the_track_does_not_allow_is_not_made(case, caseworker_a):
    set_states(case, reflection=Reflection.ENDED_EARLY)
    done = record(case, caseworker_a, "temp_permit_cooperation")
    assert done.track_moved_to == ""
    case.refresh_from_db()
    assert case.reflection == Reflection.ENDED_EARLY


def test_a_newer_record_of_the_same_type_supersedes_the_older(case, caseworker_a):
    first = record(case, caseworker_a).record
    second = record(
        case,
        caseworker_a,
        valid_from=TODAY() + timedelta(days=300),
        valid_until=TODAY() + timedelta(days=700),
    )
    first.refresh_from_db()
    assert first.superseded_by == second.record
    assert second.superseded == first
    assert second.record.is_current
    assert second.track_moved_to == ""  # already in that state
    other = record(case, caseworker_a, "intl_protection_applicant", valid_until=None)
    assert other.superseded is None and other.record.is_current


def test_an_older_document_entered_late_goes_to_the_history(case, caseworker_a):
    current = record(case, caseworker_a).record
    late = record(
        case,
        caseworker_a,
        "temp_permit_cooperation",
        valid_from=TODAY() - timedelta(days=400),
        valid_until=TODAY() - timedelta(days=40),
    )
    assert late.record.superseded_by == current
    assert late.superseded is None
    current.refresh_from_db()
    assert current.is_current


def test_an_application_for_protection_marks_the_person_an_asylum_applicant(
    case, caseworker_a
):
    record(case, caseworker_a, "intl_protection_applicant", valid_until=None)
    case.refresh_from_db()
    case.person.refresh_from_db()
    assert case.reflection == Reflection.INTERNATIONAL_PROTECTION
    assert case.person.asylum_applicant
    assert engine.is_asylum_applicant(case)
    assert (
        CaseEvent.objects.filter(
            case=case, kind="sop1.asylum_application_recorded"
        ).count()
        == 1
    )


def test_protection_marks_the_applicant_even_without_a_track_move(case):
    provider = team_member(case, Role.SERVICE_PROVIDER)
    record(
        case,
        provider,
        "refugee_or_subsidiary_protection",
        valid_until=TODAY() + timedelta(days=1000),
    )
    case.refresh_from_db()
    assert case.reflection == Reflection.NOT_APPLICABLE
    assert Person.objects.get(pk=case.person_id).asylum_applicant
    assert CaseEvent.objects.filter(
        case=case, kind="sop1.asylum_application_recorded"
    ).exists()


def test_a_short_permit_is_recorded_with_a_warning(case, caseworker_a):
    done = record(case, caseworker_a, valid_until=TODAY() + timedelta(days=90))
    assert done.warnings and "2004/81/EC" in done.warnings[0]
    assert (
        record(case, caseworker_a, valid_until=TODAY() + timedelta(days=200)).warnings
        == []
    )


@pytest.mark.parametrize(
    ("residence_type", "overrides", "field"),
    [
        ("", {}, "residence_type"),
        ("tourist_visa", {}, "residence_type"),
        ("temp_permit_cooperation", {"valid_from": None}, "valid_from"),
        ("temp_permit_cooperation", {"valid_until": None}, "valid_until"),
        ("reflection_document", {"valid_until": None}, "valid_until"),
        (
            "temp_permit_cooperation",
            {"valid_until": TODAY() - timedelta(days=1)},
            "valid_until",
        ),
        ("temp_permit_cooperation", {"renewal_notice_days": -1}, "renewal_notice_days"),
        (
            "temp_permit_cooperation",
            {"renewal_notice_days": 366},
            "renewal_notice_days",
        ),
        ("temp_permit_cooperation", {"document_number": "ZZ\n1"}, "document_number"),
        (
            "temp_permit_cooperation",
            {"issuing_authority": "x" * 201},
            "issuing_authority",
        ),
    ],
)
def test_a_residence_record_with_bad_input_is_refused(
    case, caseworker_a, residence_type, overrides, field
):
    error = refused(
        case,
        DomainError,
        lambda: record(case, caseworker_a, residence_type, **overrides),
    )
    assert error.details["field"] == field


@pytest.mark.parametrize("role", [Role.PROSECUTOR, Role.GUARDIAN])
def test_residence_is_recorded_only_by_its_roles(case, role):
    user = team_member(case, role)
    refused(case, CaseRoleRequired, lambda: record(case, user))


@pytest.mark.parametrize(
    "role",
    [Role.NATIONAL_CONTACT_POINT, Role.COMPETENT_AUTHORITY, Role.SERVICE_PROVIDER],
)
def test_residence_roles_record(case, role):
    user = team_member(case, role)
    assert record(case, user, "eu_citizen", valid_until=None).record.pk


def test_residence_is_refused_on_a_closed_case_and_after_erasure(case, caseworker_a):
    erase(case)
    refused(case, PersonErased, lambda: record(case, caseworker_a))
    close(case)
    refused(case, TransitionNotAllowed, lambda: record(case, caseworker_a))
    outsider = UserFactory(roles=[Role.CASE_MANAGER])
    refused(case, CaseNotFound, lambda: record(case, outsider))


@pytest.mark.parametrize("variant", ["baseline", "bg"])
def test_a_permit_completes_the_residence_steps(case, caseworker_a, settings, variant):
    settings.TRM_SOP_VARIANT = variant
    loader.clear_cache()
    enter_long_term(case)

    def state(step_id: str) -> str:
        statuses = engine.case_sop_status(case)
        return next(
            s for sop in statuses for s in sop.steps if s.step.id == step_id
        ).state

    assert state("sop3.residence_permit") == StepState.DUE
    record(case, caseworker_a)
    assert state("sop3.residence_permit") == StepState.DONE


# --- services given ------------------------------------------------------------


def episode(case, actor, **kw: Any) -> ServiceEpisode:
    values: dict[str, Any] = {
        "service_type": "psychological",
        "started_on": TODAY() - timedelta(days=10),
    }
    values.update(kw)
    return episodes.service_episode_record(actor=actor, case_id=case.pk, **values)


def test_a_service_given_is_recorded(case, caseworker_a):
    provider = OrganisationFactory(name="Fictional Counselling Centre")
    done = episode(case, caseworker_a, provider_id=provider.pk, note="Fictional note")
    assert done.outcome == "ongoing" and done.ended_on is None
    assert b"Fictional" not in bytes(done.sealed_note or b"")
    event = CaseEvent.objects.get(case=case, kind="sop3.service_recorded")
    assert (event.code, event.visibility) == ("psychological", "assistance_only")


def test_a_provider_typed_by_hand_is_sealed(case, caseworker_a):
    done = episode(case, caseworker_a, provider_name="Fictional Volunteer Group")
    assert done.provider_id is None
    assert b"Volunteer" not in bytes(done.sealed_provider_name or b"")


def test_a_finished_service_is_recorded_with_its_end(case, caseworker_a):
    done = episode(
        case, caseworker_a, outcome="completed", ended_on=TODAY() - timedelta(days=1)
    )
    assert done.outcome == "completed" and done.ended_by == caseworker_a
    refused_service = episode(case, caseworker_a, outcome="refused_by_person")
    assert refused_service.ended_on is None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"service_type": "magic"}, "service_type"),
        ({"started_on": None}, "started_on"),
        ({"started_on": TODAY() + timedelta(days=1)}, "started_on"),
        ({"outcome": "paused"}, "outcome"),
        ({"ended_on": TODAY()}, "outcome"),  # ongoing with an end date
        ({"outcome": "completed"}, "ended_on"),
        ({"outcome": "completed", "ended_on": TODAY() + timedelta(days=1)}, "ended_on"),
        (
            {"outcome": "completed", "ended_on": TODAY() - timedelta(days=11)},
            "ended_on",
        ),
        ({"provider_name": "Fictional\tname"}, "provider_name"),
        ({"note": "x" * 5001}, "note"),
    ],
)
def test_a_service_with_bad_input_is_refused(case, caseworker_a, overrides, field):
    error = refused(case, DomainError, lambda: episode(case, caseworker_a, **overrides))
    assert error.details["field"] == field


def test_a_provider_is_an_organisation_or_a_name_not_both(case, caseworker_a):
    provider = OrganisationFactory(name="Fictional Clinic")
    error = refused(
        case,
        CaseInvalidInput,
        lambda: episode(
            case, caseworker_a, provider_id=provider.pk, provider_name="Other"
        ),
    )
    assert error.details["field"] == "provider_name"


def test_an_ongoing_service_is_ended(case, caseworker_a):
    ongoing = episode(case, caseworker_a)
    ended = episodes.service_episode_end(
        actor=caseworker_a,
        case_id=case.pk,
        episode_id=ongoing.pk,
        ended_on=TODAY(),
        outcome="interrupted",
        note="Fictional: the person moved",
    )
    assert (ended.outcome, ended.ended_on) == ("interrupted", TODAY())
    assert b"moved" not in bytes(ended.sealed_end_note or b"")
    assert CaseEvent.objects.filter(kind="sop3.service_recorded").count() == 2
    assert AuditEntry.objects.filter(action="care.service_ended").count() == 1


def test_ending_is_refused_when_it_does_not_fit(case, caseworker_a):
    ongoing = episode(case, caseworker_a)

    def end(**kw: Any):
        values: dict[str, Any] = {"ended_on": TODAY(), "outcome": "completed"}
        values.update(kw)
        return episodes.service_episode_end(
            actor=caseworker_a, case_id=case.pk, episode_id=ongoing.pk, **values
        )

    refused(case, CaseInvalidInput, lambda: end(outcome="ongoing"))
    refused(case, CaseInvalidInput, lambda: end(ended_on=None))
    refused(case, CaseInvalidInput, lambda: end(ended_on=TODAY() - timedelta(days=30)))
    guardian = team_member(case, Role.GUARDIAN)
    refused(
        case,
        CaseRoleRequired,
        lambda: episodes.service_episode_end(
            actor=guardian,
            case_id=case.pk,
            episode_id=ongoing.pk,
            ended_on=TODAY(),
            outcome="completed",
        ),
    )
    end()
    refused(case, TransitionNotAllowed, lambda: end())


def test_ending_a_service_of_another_case_is_not_found(case, caseworker_a):
    other = open_case(caseworker_a)
    elsewhere = episode(other, caseworker_a)
    refused(
        case,
        CareRecordNotFound,
        lambda: episodes.service_episode_end(
            actor=caseworker_a,
            case_id=case.pk,
            episode_id=elsewhere.pk,
            ended_on=TODAY(),
            outcome="completed",
        ),
    )


def test_services_are_refused_to_other_roles_closed_cases_and_erased_persons(
    case, caseworker_a
):
    prosecutor = team_member(case, Role.PROSECUTOR)
    refused(case, CaseRoleRequired, lambda: episode(case, prosecutor))
    erase(case)
    refused(case, PersonErased, lambda: episode(case, caseworker_a))
    close(case)
    refused(case, TransitionNotAllowed, lambda: episode(case, caseworker_a))
