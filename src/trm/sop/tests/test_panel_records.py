"""The SOP panel follows what the other apps record (the guided scenario's cases).

The destination's proceedings records complete SOP 5; the origin's linked
case (opened from a counterpart's ``case.alert``) shows SOP 1's
identification steps as not applicable, and SOP 4's reception, reintegration
plan and follow-up from the handover and reintegration records.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from trm.accounts.models import Role
from trm.cases import services as cases
from trm.cases.models import Case
from trm.cases.tests.factories import adult_birth_date, open_case, team_member
from trm.handover import services as handover
from trm.handover.tests.helpers import announce, origin_case
from trm.identification.services import presume
from trm.proceedings import services as proceedings
from trm.reintegration import services as reintegration
from trm.sop import engine, loader, selectors
from trm.sop.engine import EventFact, SopSummary, StepState
from trm.sop.tests.test_engine import T0, make_case, moved

pytestmark = pytest.mark.django_db

COURT = "Fictional District Court"


@pytest.fixture(autouse=True)
def _fresh_definitions():
    loader.clear_cache()
    yield
    loader.clear_cache()


def _panel(user, case: Case) -> dict[str, engine.StepStatus]:
    statuses = selectors.case_sop_panel_for_user(user=user, case_id=case.pk)
    return {s.step.id: s for sop in statuses for s in sop.steps}


def _summary(user, case: Case, number: int) -> str:
    statuses = selectors.case_sop_panel_for_user(user=user, case_id=case.pk)
    return next(sop.summary for sop in statuses if sop.number == number)


# --- SOP 5 on the destination ---------------------------------------------------------


def test_proceedings_records_complete_the_sop5_steps(signed_in, caseworker_a):
    case = open_case(caseworker_a, birth_date=adult_birth_date())
    presume(actor=caseworker_a, case_id=case.pk, reason="Fictional grounds")
    prosecutor = team_member(case, Role.PROSECUTOR)
    today = timezone.localdate()
    proceedings.rights_inform(
        actor=prosecutor,
        case_id=case.pk,
        informed_on=today,
        language="ro",
        interpreter=True,
        has_lawyer=True,
        lawyer="Fictional Legal Aid Bureau",
    )
    measure = proceedings.protection_assess(
        actor=prosecutor, case_id=case.pk, kind="no_contact", assessed_on=today
    )
    proceedings.protection_order(
        actor=prosecutor,
        case_id=case.pk,
        measure_id=measure.pk,
        ordering_authority=COURT,
        ordered_on=today,
    )
    for target in ("deciding", "cooperating", "statement_given"):
        cases.case_move(actor=prosecutor, case_id=case.pk, track="legal", target=target)
    proceedings.hearing_record(
        actor=prosecutor,
        case_id=case.pk,
        at=timezone.now() + timedelta(days=5),
        court=COURT,
        kind="interview",
        interpreter_needed=True,
    )
    charge = proceedings.charge_flag(
        actor=caseworker_a, case_id=case.pk, offence="irregular_stay", flagged_on=today
    )
    proceedings.non_punishment_request(
        actor=caseworker_a, case_id=case.pk, record_id=charge.pk, requested_on=today
    )
    proceedings.non_punishment_decide(
        actor=prosecutor,
        case_id=case.pk,
        record_id=charge.pk,
        outcome="not_prosecuted",
        decided_on=today,
        legal_reference="Fictional Criminal Code art. 1",
    )
    proceedings.compensation_file(
        actor=caseworker_a, case_id=case.pk, route="criminal", filed_on=today
    )

    steps = _panel(caseworker_a, case)
    for step_id in (
        "sop5.rights_information",
        "sop5.legal_aid",
        "sop5.cooperation_decision",
        "sop5.protection",
        "sop5.hearings",
        "sop5.compensation",
        "sop5.non_punishment",
    ):
        assert steps[step_id].state == StepState.DONE, step_id
    # The person has not returned: nothing to tell the other country yet.
    assert steps["sop5.notice_abroad"].state == StepState.NOT_STARTED
    # Only the outcome is still to come: in progress, not "not started".
    assert steps["sop5.outcome_notified"].state == StepState.NOT_STARTED
    assert _summary(caseworker_a, case, 5) == SopSummary.IN_PROGRESS
    page = signed_in(caseworker_a).get(reverse("sop:case_panel", args=[case.pk]))
    sop5 = page.content.decode().split("SOP 5:", 1)[1].split("</summary>", 1)[0]
    assert ">In progress</span>" in sop5


def test_a_protection_measure_ordered_completes_the_protection_step():
    defn = loader.get_definition()
    events = [
        EventFact("case.opened", T0),
        moved("legal", "cooperating", T0 + timedelta(days=1)),
        EventFact("sop5.protection_ordered", T0 + timedelta(days=2), code="relocation"),
    ]
    (status,) = [
        s
        for sop in engine.case_sop_status(
            make_case(), definition=defn, events=events, today=date(2026, 4, 1)
        )
        for s in sop.steps
        if s.step.id == "sop5.protection"
    ]
    assert status.state == StepState.DONE


def test_a_sop_with_done_steps_and_none_due_is_in_progress_not_unstarted():
    defn = loader.get_definition()
    events = [
        EventFact("case.opened", T0),
        EventFact("sop5.rights_informed", T0 + timedelta(days=1), code="ro"),
    ]
    statuses = engine.case_sop_status(
        make_case(), definition=defn, events=events, today=date(2026, 4, 1)
    )
    sop5 = next(sop for sop in statuses if sop.number == 5)
    assert sop5.summary == SopSummary.IN_PROGRESS
    untouched = next(sop for sop in statuses if sop.number == 3)
    assert untouched.summary == StepState.NOT_STARTED


# --- identity verification on the destination -------------------------------------


def test_travel_documents_from_the_country_of_origin_verify_the_nationality():
    defn = loader.get_definition()
    events = [
        EventFact("case.opened", T0),
        moved("identification", "presumed", T0 + timedelta(days=1)),
    ]

    def state(extra: list[EventFact]) -> str:
        statuses = engine.case_sop_status(
            make_case(), definition=defn, events=events + extra, today=T0.date()
        )
        return next(
            s.state
            for sop in statuses
            for s in sop.steps
            if s.step.id == "sop1.identity_verification"
        )

    assert state([]) == StepState.DUE
    ready = EventFact("sop4.travel_documents_ready", T0 + timedelta(days=40))
    assert state([ready]) == StepState.DONE


# --- the origin's linked case ---------------------------------------------------------


def test_the_origin_does_not_identify_a_person_identified_abroad(org_a, caseworker_a):
    case = origin_case(org_a)
    manager = team_member(case, Role.CASE_MANAGER)
    steps = _panel(manager, case)
    for step_id in (
        "sop1.initial_identification",
        "sop1.screening",
        "sop1.risk_assessment",
    ):
        assert steps[step_id].state == StepState.NOT_APPLICABLE, step_id
        assert "identified in the country where they were found" in (
            steps[step_id].explanation
        )
    assert not any(s.is_open for s in steps.values() if s.step.sop == 1)
    # A case opened here still has them to do.
    local = open_case(caseworker_a, birth_date=adult_birth_date())
    mine = _panel(caseworker_a, local)
    assert mine["sop1.initial_identification"].state == StepState.DUE
    assert mine["sop1.screening"].state == StepState.DUE


def test_the_origin_sop4_follows_the_arrival_and_the_reintegration_plan(org_a):
    case = origin_case(org_a)
    manager = team_member(case, Role.CASE_MANAGER)
    assert _panel(manager, case)["sop4.handover"].state == StepState.NOT_STARTED

    row = announce()
    assert _panel(manager, case)["sop4.handover"].state == StepState.DUE

    handover.return_arrival_confirm(
        actor=manager,
        case_id=case.pk,
        handover_id=row.pk,
        arrived=True,
        at=timezone.now() - timedelta(minutes=10),
        note="Fictional: met at the gate.",
    )
    steps = _panel(manager, case)
    assert steps["sop4.handover"].state == StepState.DONE
    assert steps["sop4.reintegration_plan"].state == StepState.DUE
    assert steps["sop4.reintegration_plan"].due_on is not None
    assert steps["sop4.follow_up"].state == StepState.NOT_STARTED

    reintegration.reintegration_plan_record(
        actor=manager,
        case_id=case.pk,
        starts_on=timezone.localdate(),
        services=["shelter", "psychological"],
        goals="Fictional goals: a safe flat.",
        case_manager_function="Social worker, Fictional Reintegration Centre",
    )
    steps = _panel(manager, case)
    assert steps["sop4.reintegration_plan"].state == StepState.DONE
    assert steps["sop4.follow_up"].state == StepState.DUE
    assert _summary(manager, case, 4) == StepState.DUE


def test_after_the_return_the_proceedings_notice_abroad_falls_due():
    defn = loader.get_definition()
    events = [
        EventFact("case.opened", T0),
        moved("assistance", "handed_over", T0 + timedelta(days=60)),
    ]

    def state(legal: str, extra: list[EventFact]) -> str:
        case = make_case()
        case.legal = legal
        statuses = engine.case_sop_status(
            case, definition=defn, events=events + extra, today=date(2026, 6, 1)
        )
        return next(
            s.state
            for sop in statuses
            for s in sop.steps
            if s.step.id == "sop5.notice_abroad"
        )

    assert state("witness", []) == StepState.DUE
    sent = EventFact("sop5.notice_sent", T0 + timedelta(days=61), code="hearing")
    assert state("witness", [sent]) == StepState.DONE
    # No proceedings under way: nothing to tell.
    assert state("not_informed", []) == StepState.NOT_APPLICABLE
