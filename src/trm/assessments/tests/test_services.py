"""The writers of needs and risk assessments and of the support and safety plan."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from trm.accounts.models import Role
from trm.accounts.tests.factories import OrganisationFactory
from trm.assessments import plans, selectors, services
from trm.assessments.errors import (
    AssessmentInvalidInput,
    NoDraftToSign,
    ParticipationRequired,
    PlanIncomplete,
    PlanVersionChanged,
)
from trm.assessments.models import (
    NeedsAssessment,
    NeedsKind,
    PlanStatus,
    RiskAssessment,
    SupportPlanVersion,
)
from trm.assessments.plans import PlanInput, PlanStep
from trm.audit.models import AuditEntry
from trm.cases.errors import (
    CaseNotFound,
    CaseRoleRequired,
    PersonErased,
    TransitionNotAllowed,
)
from trm.cases.models import CaseEvent, Visibility
from trm.cases.services import case_close
from trm.cases.tests.factories import team_member
from trm.common.text import InvalidText
from trm.identification import contacts

from .conftest import FAMILY_NAME, erase
from .factories import (
    all_statuses,
    complete_plan,
    record_needs,
    record_risk,
    save_plan,
)

pytestmark = pytest.mark.django_db


def counts(case) -> tuple[int, ...]:
    """Everything this app writes for a case (to check that a refusal wrote nothing)."""
    return (
        NeedsAssessment.objects.filter(case=case).count(),
        RiskAssessment.objects.filter(case=case).count(),
        SupportPlanVersion.objects.filter(case=case).count(),
        CaseEvent.objects.filter(case=case).count(),
        AuditEntry.objects.filter(action__startswith="assessments.").count(),
    )


def refused(case, error: type[Exception], call: Any, **match: Any) -> Exception:
    before = counts(case)
    with pytest.raises(error) as raised:
        call()
    assert counts(case) == before, "a refusal wrote something"
    for key, value in match.items():
        assert raised.value.details.get(key) == value  # type: ignore[attr-defined]
    return raised.value


# --- needs ---------------------------------------------------------------------------


def test_a_needs_assessment_keeps_statuses_in_clear_and_seals_the_notes(
    case, caseworker_a
):
    assessment = record_needs(case, caseworker_a)
    assert assessment.kind == NeedsKind.IMMEDIATE
    assert assessment.statuses["safety"] == "urgent"
    assert len(assessment.statuses) == 10
    assert (assessment.in_private, assessment.interpreter) == (True, True)
    assert assessment.language == "ro"
    raw = bytes(NeedsAssessment.objects.get(pk=assessment.pk).sealed_notes or b"")
    assert b"recruiter" not in raw
    event = CaseEvent.objects.get(case=case, kind="sop1.needs_assessed")
    assert (event.code, event.visibility) == ("immediate", Visibility.ASSISTANCE_ONLY)
    assert event.sealed_detail is None
    assert AuditEntry.objects.filter(action="assessments.needs_assessed").exists()


def test_a_long_term_needs_assessment_adds_the_long_term_domains(case, caseworker_a):
    assessment = record_needs(
        case,
        caseworker_a,
        kind=NeedsKind.LONG_TERM,
        statuses=all_statuses(NeedsKind.LONG_TERM, "action"),
        notes={"employment": "Fictional wish: a job in a fictional bakery."},
    )
    assert {"education", "employment", "legal_help", "documents", "safety"} <= set(
        assessment.statuses
    )
    assert len(assessment.statuses) == 17
    assert CaseEvent.objects.get(case=case, kind="sop1.needs_assessed").code == (
        "long_term"
    )
    assert selectors.has_needs_assessment(case)
    assert selectors.has_needs_assessment(case, kind=NeedsKind.LONG_TERM)
    assert not selectors.has_needs_assessment(case, kind=NeedsKind.IMMEDIATE)


def test_has_needs_assessment_is_false_without_one(case):
    assert not selectors.has_needs_assessment(case)


def test_no_needs_interview_without_willing_participation(case, caseworker_a):
    refused(
        case,
        ParticipationRequired,
        lambda: record_needs(case, caseworker_a, willing_participation=False),
        field="willing_participation",
    )


def test_an_interview_not_in_private_is_recorded_as_such(case, caseworker_a):
    assert record_needs(case, caseworker_a, in_private=False).in_private is False


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"kind": "someday"}, "kind"),
        ({"language": "xx"}, "language"),
        ({"language": ""}, "language"),
        ({"statuses": {**all_statuses(), "safety": "fine"}}, "status_safety"),
        ({"notes": {"safety": "Fictional\u202enote"}}, "note_safety"),
        ({"notes": {"safety": "x" * 5001}}, "note_safety"),
        ({"notes": {"safety": "Fictional\x00note"}}, "note_safety"),
    ],
)
def test_bad_needs_input_is_refused_on_its_field(case, caseworker_a, overrides, field):
    refused(
        case,
        AssessmentInvalidInput,
        lambda: record_needs(case, caseworker_a, **overrides),
        field=field,
    )


def test_every_domain_needs_a_status_and_the_missing_ones_are_named(case, caseworker_a):
    statuses = all_statuses()
    del statuses["sleep"], statuses["food"]
    error = refused(
        case,
        AssessmentInvalidInput,
        lambda: record_needs(case, caseworker_a, statuses=statuses),
    )
    assert error.details["missing"] == ["food", "sleep"]  # type: ignore[attr-defined]


def test_unknown_need_domains_are_refused(case, caseworker_a):
    refused(
        case,
        AssessmentInvalidInput,
        lambda: record_needs(
            case, caseworker_a, statuses={**all_statuses(), "education": "met"}
        ),
        field="statuses",
    )


def test_notes_keep_their_line_breaks(case, caseworker_a):
    assessment = record_needs(
        case, caseworker_a, notes={"health": "Fictional line one\r\nline two"}
    )
    view = selectors.needs_view(case, assessment)
    notes = {domain: note for domain, _status, note in view.rows}
    assert notes["health"] == "Fictional line one\nline two"
    assert notes["food"] == ""


# --- who may, and when ---------------------------------------------------------------


@pytest.mark.parametrize(
    "role",
    [
        Role.FIRST_CONTACT_POINT,
        Role.SERVICE_PROVIDER,
        Role.COMPETENT_AUTHORITY,
        Role.NATIONAL_CONTACT_POINT,
    ],
)
def test_these_roles_on_the_team_assess_needs_and_risks(case, role):
    member = team_member(case, role)
    record_needs(case, member)
    record_risk(case, member)


@pytest.mark.parametrize("role", [Role.PROSECUTOR, Role.GUARDIAN])
def test_the_legal_track_and_a_guardian_of_an_adult_do_not_assess(case, role):
    member = team_member(case, role)
    refused(case, CaseRoleRequired, lambda: record_needs(case, member))
    refused(case, CaseRoleRequired, lambda: record_risk(case, member))


def test_a_guardian_assesses_for_a_child(child_case):
    guardian = team_member(child_case, Role.GUARDIAN)
    record_needs(child_case, guardian)
    record_risk(child_case, guardian, risk_type="child_family")


def test_no_access_to_the_case_is_not_found(case, caseworker_b):
    refused(case, CaseNotFound, lambda: record_needs(case, caseworker_b))
    refused(case, CaseNotFound, lambda: record_risk(case, caseworker_b))
    refused(case, CaseNotFound, lambda: save_plan(case, caseworker_b))


def test_a_closed_case_takes_no_assessment_and_no_plan(case, caseworker_a):
    save_plan(case, caseworker_a)
    case_close(actor=caseworker_a, case_id=case.pk, reason="goals_met")
    refused(case, TransitionNotAllowed, lambda: record_needs(case, caseworker_a))
    refused(case, TransitionNotAllowed, lambda: record_risk(case, caseworker_a))
    refused(case, TransitionNotAllowed, lambda: save_plan(case, caseworker_a))
    refused(
        case,
        TransitionNotAllowed,
        lambda: plans.plan_sign(actor=caseworker_a, case_id=case.pk),
    )


def test_an_erased_person_takes_no_assessment_and_no_plan(case, caseworker_a):
    save_plan(case, caseworker_a)
    erase(case)
    refused(case, PersonErased, lambda: record_needs(case, caseworker_a))
    refused(case, PersonErased, lambda: record_risk(case, caseworker_a))
    refused(case, PersonErased, lambda: save_plan(case, caseworker_a))
    refused(
        case,
        PersonErased,
        lambda: plans.plan_sign(actor=caseworker_a, case_id=case.pk),
    )


# --- risk ----------------------------------------------------------------------------


def test_a_risk_assessment_seals_its_text_and_writes_the_review_event(
    case, caseworker_a
):
    assessment = record_risk(case, caseworker_a, level="high")
    assert assessment.factors == ["trafficker_threat"]
    assert assessment.no_risk_factor is False
    raw = bytes(RiskAssessment.objects.get(pk=assessment.pk).sealed_text or b"")
    assert b"Fictional" not in raw
    event = CaseEvent.objects.get(case=case, kind="sop1.risk_assessment_reviewed")
    assert (event.code, event.visibility) == ("high", Visibility.ASSISTANCE_ONLY)
    assert AuditEntry.objects.filter(action="assessments.risk_assessed").exists()


def test_the_next_review_defaults_to_the_variants_maximum_interval(case, caseworker_a):
    assessment = record_risk(case, caseworker_a)
    assert services.default_review_interval() == 30  # baseline.yaml
    assert assessment.next_review_due == timezone.localdate() + timedelta(days=30)


def test_an_explicit_no_risk_factor(case, caseworker_a):
    assessment = record_risk(case, caseworker_a, factors=[], no_risk_factor=True)
    assert assessment.factors == [] and assessment.no_risk_factor


def test_factors_are_kept_in_the_lists_order_once(case, caseworker_a):
    assessment = record_risk(
        case, caseworker_a, factors=["debt", "trafficker_threat", "debt"]
    )
    assert assessment.factors == ["trafficker_threat", "debt"]


def test_an_assessment_on_others_observation_says_so(case, caseworker_a):
    assessment = record_risk(
        case, caseworker_a, involvement="observation_only", person_concerns=""
    )
    assert assessment.involvement == "observation_only"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"risk_type": "yearly"}, "risk_type"),
        ({"risk_type": "child_family"}, "risk_type"),
        ({"level": "none"}, "level"),
        ({"factors": []}, "factors"),
        ({"factors": ["bad_luck"]}, "factors"),
        ({"factors": ["debt"], "no_risk_factor": True}, "factors"),
        ({"factors": "debt"}, "factors"),
        ({"involvement": "maybe"}, "involvement"),
        ({"judgement": "   "}, "judgement"),
        ({"judgement": "\u200b\u200b"}, "judgement"),
        ({"level": "critical", "safety_measures": ""}, "safety_measures"),
        (
            {"next_review_due": timezone.localdate() - timedelta(days=1)},
            "next_review_due",
        ),
        (
            {"next_review_due": timezone.localdate() + timedelta(days=91)},
            "next_review_due",
        ),
        ({"person_concerns": "x" * 5001}, "person_concerns"),
    ],
)
def test_bad_risk_input_is_refused_on_its_field(case, caseworker_a, overrides, field):
    refused(
        case,
        AssessmentInvalidInput,
        lambda: record_risk(case, caseworker_a, **overrides),
        field=field,
    )


def test_a_review_90_days_ahead_is_allowed(case, caseworker_a):
    due = timezone.localdate() + timedelta(days=90)
    assert record_risk(case, caseworker_a, next_review_due=due).next_review_due == due


def test_a_child_and_family_assessment_is_for_a_child(child_case, caseworker_a):
    assessment = record_risk(child_case, caseworker_a, risk_type="child_family")
    assert assessment.type == "child_family"


# --- rule 8 --------------------------------------------------------------------------


def test_rule_8_every_contact_makes_a_risk_assessment_due_until_one_is_recorded(
    case, caseworker_a
):
    assert not selectors.risk_review_due(case)
    contacts.contact_record(actor=caseworker_a, case_id=case.pk, kind="in_person")
    assert selectors.risk_review_due(case)
    record_risk(case, caseworker_a)
    assert not selectors.risk_review_due(case)
    contacts.contact_record(actor=caseworker_a, case_id=case.pk, kind="phone")
    assert selectors.risk_review_due(case)
    status = selectors.risk_status(case)
    assert status.due and status.level == "low" and status.last_contact_at


def test_rule_8_a_review_falls_overdue_after_its_next_review_date(case, caseworker_a):
    record_risk(case, caseworker_a, next_review_due=timezone.localdate())
    assert not selectors.risk_review_overdue(case)
    tomorrow = timezone.localdate() + timedelta(days=1)
    assert selectors.risk_review_overdue(case, today=tomorrow)
    assert selectors.risk_status(case, today=tomorrow).overdue
    assert not selectors.risk_review_due(case)


def test_rule_8_an_assessment_completes_the_sop_steps(case, caseworker_a):
    from trm.sop import engine
    from trm.sop.engine import StepState

    contacts.contact_record(actor=caseworker_a, case_id=case.pk, kind="in_person")
    record_risk(case, caseworker_a)
    case.refresh_from_db()
    (sop1, *_rest) = engine.case_sop_status(case)
    states = {s.step.id: s.state for s in sop1.steps}
    assert states["sop1.risk_review"] == StepState.DONE
    assert states["sop1.risk_assessment"] == StepState.DONE


# --- the support and safety plan ------------------------------------------------------


def test_the_first_save_starts_version_1_as_a_draft(case, caseworker_a, org_a):
    version, created = plans.plan_save(
        actor=caseworker_a, case_id=case.pk, content=PlanInput(immediate_needs="F")
    )
    assert created and version.number == 1 and version.status == PlanStatus.DRAFT
    assert version.language == "ro"  # the person's first language
    content = selectors.plan_view(case, version).content
    assert content is not None
    assert content.interviewer_organisation is not None
    assert content.interviewer_organisation.name == org_a.name
    event = CaseEvent.objects.get(case=case, kind="sop2.support_plan_drafted")
    assert (event.code, event.visibility) == ("v1", Visibility.ASSISTANCE_ONLY)


def test_saving_a_draft_again_edits_it(case, caseworker_a):
    save_plan(case, caseworker_a, PlanInput(immediate_needs="Fictional first"))
    version, created = plans.plan_save(
        actor=caseworker_a,
        case_id=case.pk,
        content=PlanInput(immediate_needs="Fictional second"),
        language="bg",
    )
    assert not created and version.number == 1 and version.language == "bg"
    assert SupportPlanVersion.objects.filter(case=case).count() == 1
    content = selectors.plan_view(case, version).content
    assert content is not None and content.immediate_needs == "Fictional second"
    assert CaseEvent.objects.filter(kind="sop2.support_plan_drafted").count() == 1
    assert AuditEntry.objects.filter(action="assessments.plan_saved").exists()


def test_the_plan_content_is_sealed(case, caseworker_a):
    version = save_plan(case, caseworker_a)
    raw = bytes(SupportPlanVersion.objects.get(pk=version.pk).sealed_content)
    for needle in (b"Fictiv Person", b"Fictional Shelter Zeta", b"Fictional Town"):
        assert needle not in raw


def test_empty_steps_are_dropped(case, caseworker_a):
    content = complete_plan(
        steps=[PlanStep(), PlanStep(what="Fictional", who="Someone"), PlanStep()]
    )
    version = save_plan(case, caseworker_a, content)
    saved = selectors.plan_view(case, version).content
    assert saved is not None and len(saved.steps) == 1


@pytest.mark.parametrize(
    ("content", "field", "error"),
    [
        (
            PlanInput(person_name="Fictiv\nPerson"),
            "person_name",
            InvalidText,
        ),
        (
            PlanInput(steps=[PlanStep(what="x" * 501)]),
            "step_0_what",
            InvalidText,
        ),
        (
            PlanInput(safety_plan="Fictional\u202eplan"),
            "safety_plan",
            AssessmentInvalidInput,
        ),
        (
            PlanInput(organisation_ids=["not-a-uuid"]),  # type: ignore[list-item]
            "organisations",
            AssessmentInvalidInput,
        ),
        (
            PlanInput(steps=[PlanStep(what="F")] * 41),
            "steps",
            AssessmentInvalidInput,
        ),
    ],
)
def test_bad_plan_input_is_refused_on_its_field(
    case, caseworker_a, content, field, error
):
    refused(case, error, lambda: save_plan(case, caseworker_a, content), field=field)


def test_an_unknown_print_language_is_refused(case, caseworker_a):
    refused(
        case,
        AssessmentInvalidInput,
        lambda: save_plan(case, caseworker_a, language="zz9"),
        field="language",
    )


def test_organisations_of_the_node_are_kept_by_id_and_name(case, caseworker_a, org_b):
    version = save_plan(case, caseworker_a, complete_plan(organisation_ids=[org_b.pk]))
    content = selectors.plan_view(case, version).content
    assert content is not None
    assert [(o.id, o.name) for o in content.organisations] == [
        (str(org_b.pk), org_b.name)
    ]


@pytest.mark.parametrize("role", [Role.NATIONAL_CONTACT_POINT, Role.GUARDIAN])
def test_only_plan_roles_write_and_sign_the_plan(case, caseworker_a, role):
    member = team_member(case, role)
    refused(case, CaseRoleRequired, lambda: save_plan(case, member))
    save_plan(case, caseworker_a)
    refused(
        case,
        CaseRoleRequired,
        lambda: plans.plan_sign(actor=member, case_id=case.pk),
    )


@pytest.mark.parametrize("role", [Role.SERVICE_PROVIDER, Role.FIRST_CONTACT_POINT])
def test_a_service_provider_and_a_first_contact_point_write_plans(case, role):
    member = team_member(case, role)
    save_plan(case, member)
    assert plans.plan_sign(actor=member, case_id=case.pk).status == PlanStatus.SIGNED


def test_signing_without_a_draft_is_refused(case, caseworker_a):
    refused(
        case,
        NoDraftToSign,
        lambda: plans.plan_sign(actor=caseworker_a, case_id=case.pk),
    )


def test_signing_another_version_than_the_one_read_is_refused(case, caseworker_a):
    save_plan(case, caseworker_a)
    refused(
        case,
        PlanVersionChanged,
        lambda: plans.plan_sign(actor=caseworker_a, case_id=case.pk, number=2),
        current=1,
    )


def test_signing_then_editing_starts_a_new_version_and_keeps_the_signed_one(
    case, caseworker_a
):
    save_plan(case, caseworker_a)
    signed = plans.plan_sign(actor=caseworker_a, case_id=case.pk, number=1)
    assert signed.status == PlanStatus.SIGNED and signed.signed_by == caseworker_a
    event = CaseEvent.objects.get(case=case, kind="sop2.support_plan_signed")
    assert (event.code, event.visibility) == ("v1", Visibility.ASSISTANCE_ONLY)

    draft = save_plan(
        case, caseworker_a, complete_plan(timeframe="Fictional: 6 months")
    )
    assert (draft.number, draft.status) == (2, PlanStatus.DRAFT)
    first = SupportPlanVersion.objects.get(case=case, number=1)
    assert first.status == PlanStatus.SIGNED  # still in force until v2 is signed
    old = selectors.plan_view(case, first).content
    assert old is not None and old.timeframe == "Fictional: 3 months"
    assert CaseEvent.objects.filter(kind="sop2.support_plan_drafted").count() == 2

    plans.plan_sign(actor=caseworker_a, case_id=case.pk)
    first.refresh_from_db()
    assert first.status == PlanStatus.SUPERSEDED and first.superseded_at is not None
    assert SupportPlanVersion.objects.get(case=case, number=2).status == "signed"


# --- rule 9 --------------------------------------------------------------------------


def test_rule_9_a_plan_is_signed_only_with_every_required_field(case, caseworker_a):
    save_plan(case, caseworker_a, PlanInput(immediate_needs="Fictional needs"))
    error = refused(
        case,
        PlanIncomplete,
        lambda: plans.plan_sign(actor=caseworker_a, case_id=case.pk),
    )
    missing = error.details["missing"]  # type: ignore[attr-defined]
    assert missing == [
        "risk_summary",
        "steps",
        "organisations",
        "safety_plan",
        "timeframe",
        "person_name",
        "person_acknowledged",
        "interviewer_name",
        "interviewer_acknowledged",
        "plan_date",
        "place",
    ]
    assert "Safety plan" in str(error)
    assert SupportPlanVersion.objects.get(case=case).status == PlanStatus.DRAFT


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"immediate_needs": ""}, "immediate_needs"),
        ({"risk_summary": ""}, "risk_summary"),
        ({"steps": []}, "steps"),
        ({"steps": [PlanStep(what="Fictional", who="Someone")]}, "steps"),
        ({"other_organisations": []}, "organisations"),
        ({"safety_plan": " "}, "safety_plan"),
        ({"timeframe": ""}, "timeframe"),
        ({"person_name": ""}, "person_name"),
        ({"person_acknowledged": False}, "person_acknowledged"),
        ({"interviewer_name": ""}, "interviewer_name"),
        ({"interviewer_acknowledged": False}, "interviewer_acknowledged"),
        ({"plan_date": None}, "plan_date"),
        ({"place": ""}, "place"),
    ],
)
def test_rule_9_each_missing_field_is_named(case, caseworker_a, change, code):
    save_plan(case, caseworker_a, complete_plan(**change))
    error = refused(
        case,
        PlanIncomplete,
        lambda: plans.plan_sign(actor=caseworker_a, case_id=case.pk),
    )
    assert error.details["missing"] == [code]  # type: ignore[attr-defined]


def test_rule_9_an_interviewer_without_organisation_is_missing_it(case, caseworker_a):
    caseworker_a.organisation = None
    caseworker_a.save(update_fields=["organisation"])
    save_plan(case, caseworker_a)
    error = refused(
        case,
        PlanIncomplete,
        lambda: plans.plan_sign(actor=caseworker_a, case_id=case.pk),
    )
    assert error.details["missing"] == [  # type: ignore[attr-defined]
        "interviewer_organisation"
    ]


def test_rule_9_a_childs_plan_also_needs_the_guardian(child_case, caseworker_a):
    save_plan(child_case, caseworker_a)
    error = refused(
        child_case,
        PlanIncomplete,
        lambda: plans.plan_sign(actor=caseworker_a, case_id=child_case.pk),
    )
    assert error.details["missing"] == [  # type: ignore[attr-defined]
        "guardian_name",
        "guardian_acknowledged",
    ]
    save_plan(
        child_case,
        caseworker_a,
        complete_plan(guardian_name="Fictiv Guardian", guardian_acknowledged=True),
    )
    signed = plans.plan_sign(actor=caseworker_a, case_id=child_case.pk)
    assert signed.status == PlanStatus.SIGNED


def test_rule_9_a_complete_plan_is_signed(case, caseworker_a):
    save_plan(case, caseworker_a)
    assert plans.plan_sign(actor=caseworker_a, case_id=case.pk).status == "signed"
    assert AuditEntry.objects.filter(action="assessments.plan_signed").exists()


# --- plausibility: dates and the interviewer's organisation --------------------------


def _step(by_when: date) -> PlanStep:
    return PlanStep(what="Fictional step", who="Fictional clinic", by_when=by_when)


def _far(day: date) -> date:
    """The last day a step may be due (3 years after ``day``)."""
    return day.replace(year=day.year + plans.MAX_STEP_YEARS)


@pytest.mark.parametrize(
    ("change", "details"),
    [
        pytest.param(
            lambda t: {"plan_date": date(2099, 12, 31)},
            {"field": "plan_date"},
            id="plan-date-2099",
        ),
        pytest.param(
            lambda t: {"plan_date": t + timedelta(days=1)},
            {"field": "plan_date"},
            id="plan-date-tomorrow",
        ),
        pytest.param(
            lambda t: {"plan_date": t - timedelta(days=plans.MAX_PLAN_AGE_DAYS + 1)},
            {"field": "plan_date"},
            id="plan-date-over-a-year-ago",
        ),
        pytest.param(
            lambda t: {"steps": [_step(date(1900, 1, 1))]},
            {"field": "step_0_by", "row": 0},
            id="step-1900",
        ),
        pytest.param(
            lambda t: {"steps": [_step(t - timedelta(days=1))]},
            {"field": "step_0_by", "row": 0},
            id="step-before-the-plan-date",
        ),
        pytest.param(
            lambda t: {
                "plan_date": None,
                "steps": [_step(date(1900, 1, 1))],
            },
            {"field": "step_0_by", "row": 0},
            id="step-1900-without-plan-date",
        ),
        pytest.param(
            lambda t: {
                "steps": [_step(t), PlanStep(), _step(_far(t) + timedelta(days=1))]
            },
            {"field": "step_2_by", "row": 2},  # the row as typed
            id="third-row-more-than-3-years-ahead",
        ),
        pytest.param(
            lambda t: {"steps": [_step(date(2099, 12, 31))]},
            {"field": "step_0_by", "row": 0},
            id="step-2099",
        ),
    ],
)
def test_implausible_dates_are_refused_on_their_field(
    case, caseworker_a, change: Callable[[date], dict[str, Any]], details
):
    content = complete_plan(**change(timezone.localdate()))
    error = refused(
        case, AssessmentInvalidInput, lambda: save_plan(case, caseworker_a, content)
    )
    assert error.details == details  # type: ignore[attr-defined]


def test_the_oldest_plan_date_and_the_step_date_bounds_are_accepted(case, caseworker_a):
    oldest = timezone.localdate() - timedelta(days=plans.MAX_PLAN_AGE_DAYS)
    content = complete_plan(
        plan_date=oldest, steps=[_step(oldest), _step(_far(oldest))]
    )
    save_plan(case, caseworker_a, content)
    assert plans.plan_sign(actor=caseworker_a, case_id=case.pk).status == "signed"


def test_an_unrelated_interviewer_organisation_is_refused(case, caseworker_a):
    office = OrganisationFactory(name="Fictional Prosecution Office")
    content = complete_plan(interviewer_organisation_id=office.pk)
    refused(
        case,
        AssessmentInvalidInput,
        lambda: save_plan(case, caseworker_a, content),
        field="interviewer_organisation",
    )
    # A prosecutor's office on the team is no interviewer's organisation either:
    # the legal track does not see the plan.
    team_member(case, Role.PROSECUTOR, organisation=office)
    refused(
        case,
        AssessmentInvalidInput,
        lambda: save_plan(case, caseworker_a, content),
        field="interviewer_organisation",
    )


def test_the_organisation_of_a_plan_writer_on_the_team_is_accepted(
    case, caseworker_a, org_b
):
    team_member(case, Role.SERVICE_PROVIDER, organisation=org_b)
    version = save_plan(
        case, caseworker_a, complete_plan(interviewer_organisation_id=org_b.pk)
    )
    content = selectors.plan_view(case, version).content
    assert content is not None and content.interviewer_organisation is not None
    assert content.interviewer_organisation.id == str(org_b.pk)
    assert plans.plan_sign(actor=caseworker_a, case_id=case.pk).status == "signed"


def _overwrite_draft(case, **changes: Any) -> None:
    """Give the draft content no save accepts now (as an older draft may hold)."""
    draft = SupportPlanVersion.objects.get(case=case, status=PlanStatus.DRAFT)
    content = selectors.plan_view(case, draft).content
    assert content is not None
    draft.sealed_content = plans._seal(
        case, draft, dataclasses.replace(content, **changes)
    )
    draft.save(update_fields=["sealed_content"])


@pytest.mark.parametrize(
    ("changes", "details"),
    [
        ({"plan_date": date(2099, 12, 31)}, {"field": "plan_date"}),
        ({"steps": [_step(date(1900, 1, 1))]}, {"field": "step_0_by", "row": 0}),
        (
            {
                "interviewer_organisation": plans.OrganisationRef(
                    id="00000000-0000-0000-0000-000000000001",
                    name="Fictional Prosecution Office",
                )
            },
            {"field": "interviewer_organisation"},
        ),
    ],
)
def test_signing_refuses_a_draft_with_implausible_content(
    case, caseworker_a, changes, details
):
    save_plan(case, caseworker_a)
    _overwrite_draft(case, **changes)
    error = refused(
        case,
        AssessmentInvalidInput,
        lambda: plans.plan_sign(actor=caseworker_a, case_id=case.pk),
    )
    assert error.details == details  # type: ignore[attr-defined]
    assert SupportPlanVersion.objects.get(case=case).status == PlanStatus.DRAFT


def test_signing_a_draft_dated_more_than_a_year_ago_is_refused(case, caseworker_a):
    save_plan(case, caseworker_a)
    later = timezone.now() + timedelta(days=plans.MAX_PLAN_AGE_DAYS + 2)
    with time_machine.travel(later, tick=False):
        refused(
            case,
            AssessmentInvalidInput,
            lambda: plans.plan_sign(actor=caseworker_a, case_id=case.pk),
            field="plan_date",
        )


def test_no_personal_text_reaches_events_or_audit(case, caseworker_a):
    record_needs(case, caseworker_a)
    record_risk(case, caseworker_a)
    save_plan(case, caseworker_a)
    plans.plan_sign(actor=caseworker_a, case_id=case.pk)
    for event in CaseEvent.objects.filter(case=case):
        assert event.sealed_detail is None or FAMILY_NAME.encode() not in bytes(
            event.sealed_detail
        )
        assert "Fictional" not in event.code
