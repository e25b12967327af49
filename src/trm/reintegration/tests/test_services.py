"""SOP 4 steps 9–10 at the origin node: the plan, the schedule, the reports."""

from __future__ import annotations

import textwrap
from datetime import date, timedelta
from typing import Any

import pytest
from django.utils import timezone

from trm.accounts.models import Role
from trm.cases.tests.exchange_fakes import payload_of
from trm.cases.tests.factories import team_member
from trm.common.errors import DomainError
from trm.consent import services as consent
from trm.exchange.models import OutboxMessage
from trm.reintegration import services
from trm.reintegration.messages import FollowupReportV1
from trm.reintegration.models import FollowUp, ReintegrationPlan
from trm.reintegration.tests.helpers import (
    DESTINATION_REF,
    origin_case,
    snapshot,
    transfer_consent,
)
from trm.sop import loader

pytestmark = pytest.mark.django_db

START = date(2026, 1, 31)
GOALS = "Fictional goals: a safe flat and a training course."


def plan(case: Any, actor: Any, **overrides: Any) -> ReintegrationPlan:
    values: dict[str, Any] = {
        "starts_on": START,
        "services": ["shelter", "psychological", "vocational_training"],
        "goals": GOALS,
        "case_manager_function": "Social worker, Fictional Reintegration Centre",
    }
    values.update(overrides)
    return services.reintegration_plan_record(actor=actor, case_id=case.pk, **values)


def report(case: Any, actor: Any, follow_up: FollowUp, **overrides: Any) -> FollowUp:
    values: dict[str, Any] = {
        "follow_up_id": follow_up.pk,
        "reported_on": timezone.localdate(),
        "services_given": ["psychological", "employment"],
        "status": {
            "housing": "stable",
            "health": "at_risk",
            "income": "at_risk",
            "education": "not_applicable",
        },
        "risk_level": "medium",
        "risk_note": "Fictional: a recruiter called the family once.",
    }
    values.update(overrides)
    return services.followup_report_record(actor=actor, case_id=case.pk, **values)


@pytest.fixture
def origin(org_a):
    return origin_case()


# --- the plan and its schedule -----------------------------------------------------


def test_the_plan_schedules_follow_ups_at_1_3_6_and_12_months(origin):
    case, provider = origin
    recorded = plan(case, provider)
    rows = list(FollowUp.objects.filter(case=case).order_by("sequence"))
    assert [(f.sequence, f.months, f.due_on) for f in rows] == [
        (1, 1, date(2026, 2, 28)),
        (2, 3, date(2026, 4, 30)),
        (3, 6, date(2026, 7, 31)),
        (4, 12, date(2027, 1, 31)),
    ]
    assert all(f.plan_id == recorded.pk for f in rows)
    assert recorded.services == ["shelter", "psychological", "vocational_training"]
    assert GOALS.encode() not in bytes(recorded.sealed_goals or b"")
    assert case.events.filter(kind="sop4.reintegration_planned", code="4").exists()


def test_the_schedule_follows_the_nodes_variant(origin, settings, tmp_path):
    case, provider = origin
    path = tmp_path / "xx.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            schema_version: 1
            variant: xx
            extends: baseline
            title: "Example country"
            country: XX
            example: true
            note: "Test values."
            source: "test"
            settings:
              follow_up:
                months_after_return: [2, 24]
            """
        ),
        encoding="utf-8",
    )
    settings.TRM_SOP_VARIANT = str(path)
    loader.clear_cache()
    try:
        plan(case, provider)
    finally:
        loader.clear_cache()
    assert list(FollowUp.objects.filter(case=case).values_list("months", "due_on")) == [
        (2, date(2026, 3, 31)),
        (24, date(2028, 1, 31)),
    ]


def test_a_new_plan_keeps_reported_follow_ups_and_reschedules_the_others(origin):
    case, provider = origin
    plan(case, provider)
    first = FollowUp.objects.get(case=case, sequence=1)
    report(case, provider, first, send=False)
    plan(case, provider, starts_on=date(2026, 3, 1))
    rows = list(FollowUp.objects.filter(case=case).order_by("sequence"))
    assert [r.sequence for r in rows] == [1, 2, 3, 4]
    assert rows[0].pk == first.pk and rows[0].is_reported
    assert rows[1].due_on == date(2026, 6, 1)


@pytest.mark.parametrize("state", ["none", "long_term", "return_preparation", "closed"])
def test_no_plan_before_the_person_is_back(org_a, state):
    case, provider = origin_case(assistance=state)
    before = snapshot(case)
    with pytest.raises(DomainError) as caught:
        plan(case, provider)
    assert caught.value.code == "cases.transition_not_allowed"
    assert snapshot(case) == before


def test_a_follow_up_state_allows_the_plan(org_a):
    case, provider = origin_case(assistance="follow_up")
    plan(case, provider)
    assert FollowUp.objects.filter(case=case).count() == 4


@pytest.mark.parametrize(
    "role", [Role.PROSECUTOR, Role.GUARDIAN, Role.FIRST_CONTACT_POINT]
)
def test_other_roles_record_no_plan(origin, role):
    case, _provider = origin
    other = team_member(case, role)
    before = snapshot(case)
    with pytest.raises(DomainError) as caught:
        plan(case, other)
    assert caught.value.code == "cases.role_required"
    assert snapshot(case) == before


@pytest.mark.parametrize("role", [Role.CASE_MANAGER, Role.NATIONAL_CONTACT_POINT])
def test_the_case_manager_and_the_ncp_record_the_plan(origin, role):
    case, _provider = origin
    plan(case, team_member(case, role))
    assert ReintegrationPlan.objects.filter(case=case).count() == 1


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"starts_on": None}, "starts_on"),
        ({"services": []}, "services"),
        ({"services": ["money_laundering"]}, "services"),
        ({"goals": " "}, "goals"),
        ({"case_manager_function": ""}, "case_manager_function"),
        ({"report_to_node": "peer-md"}, "report_to_node"),
    ],
)
def test_a_bad_plan_is_refused_and_nothing_written(origin, override, field):
    case, provider = origin
    before = snapshot(case)
    with pytest.raises(DomainError) as caught:
        plan(case, provider, **override)
    assert caught.value.code == "cases.invalid_input"
    assert caught.value.details["field"] == field
    assert snapshot(case) == before


# --- the reports -------------------------------------------------------------------


def test_a_report_goes_back_under_the_persons_consent(origin):
    case, provider = origin
    plan(case, provider, starts_on=timezone.localdate() - timedelta(days=40))
    given = transfer_consent(case, provider)
    first = FollowUp.objects.get(case=case, sequence=1)
    done = report(case, provider, first, consent_id=given.pk)
    [message] = OutboxMessage.objects.filter(type="followup.report")
    assert message.peer.node_id == "peer-bg"
    assert message.conversation == DESTINATION_REF
    assert message.legal_basis == f"consent:{given.pk}"
    assert message.categories == ["case_summary", "health", "risk"]
    body = payload_of(message)
    assert set(body) == set(FollowupReportV1.model_fields)
    assert body["sequence"] == 1 and body["due_on"] == first.due_on.isoformat()
    assert body["health"] == "at_risk" and body["risk_level"] == "medium"
    assert body["services"] == ["psychological", "employment"]
    assert done.is_reported and done.msg_id == message.msg_id
    assert done.sent_to_node == "peer-bg" and done.consent_id == given.pk
    assert b"recruiter" not in bytes(done.sealed_risk_note or b"")
    assert case.events.filter(kind="sop4.follow_up_recorded", code="sent").exists()


def test_without_a_health_status_the_consent_needs_no_health(origin):
    case, provider = origin
    plan(case, provider)
    given = transfer_consent(case, provider, categories=("case_summary",))
    first = FollowUp.objects.get(case=case, sequence=1)
    report(
        case,
        provider,
        first,
        reported_on=START,
        consent_id=given.pk,
        status={"housing": "stable", "health": "unknown"},
    )
    [message] = OutboxMessage.objects.filter(type="followup.report")
    assert message.categories == ["case_summary", "risk"]


def test_a_report_kept_here_needs_no_consent(origin):
    case, provider = origin
    plan(case, provider)
    first = FollowUp.objects.get(case=case, sequence=1)
    done = report(case, provider, first, reported_on=START, send=False)
    assert done.is_reported and done.msg_id is None and done.sent_to_node == ""
    assert not OutboxMessage.objects.filter(type="followup.report").exists()
    assert case.events.filter(kind="sop4.follow_up_recorded", code="kept").exists()


def _consent_refusal(case: Any, provider: Any, consent_id: Any) -> DomainError:
    first = FollowUp.objects.get(case=case, sequence=1)
    before = snapshot(case)
    with pytest.raises(DomainError) as caught:
        report(case, provider, first, reported_on=START, consent_id=consent_id)
    assert snapshot(case) == before
    assert not FollowUp.objects.get(pk=first.pk).is_reported
    return caught.value


def test_no_consent_no_report(origin):
    case, provider = origin
    plan(case, provider)
    error = _consent_refusal(case, provider, None)
    assert error.code == "consent.missing"
    assert error.details["state"] == "missing"


def test_after_the_person_withdraws_consent_no_report_goes(origin):
    case, provider = origin
    plan(case, provider)
    given = transfer_consent(case, provider)
    consent.consent_withdraw(actor=provider, consent_id=given.pk)
    error = _consent_refusal(case, provider, given.pk)
    assert error.code == "consent.missing"
    assert error.details["state"] == "withdrawn"


def test_a_consent_naming_another_country_is_refused(origin):
    case, provider = origin
    plan(case, provider)
    given = transfer_consent(case, provider, country="MD")
    error = _consent_refusal(case, provider, given.pk)
    assert error.code == "consent.missing"
    assert error.details["state"] == "recipient"


def test_a_consent_not_covering_health_is_refused_for_a_health_status(origin):
    case, provider = origin
    plan(case, provider)
    given = transfer_consent(case, provider, categories=("case_summary",))
    error = _consent_refusal(case, provider, given.pk)
    assert error.details["state"] == "categories"
    assert error.details["missing_categories"] == ["health"]


def test_a_report_for_an_unknown_follow_up_is_refused(origin):
    import uuid

    case, provider = origin
    plan(case, provider)
    before = snapshot(case)
    with pytest.raises(DomainError) as caught:
        services.followup_report_record(
            actor=provider,
            case_id=case.pk,
            follow_up_id=uuid.uuid4(),
            reported_on=START,
            services_given=[],
            status={},
            risk_level="low",
            send=False,
        )
    assert caught.value.code == "reintegration.follow_up_not_found"
    assert snapshot(case) == before


def test_a_follow_up_is_reported_once(origin):
    case, provider = origin
    plan(case, provider)
    first = FollowUp.objects.get(case=case, sequence=1)
    report(case, provider, first, reported_on=START, send=False)
    with pytest.raises(DomainError) as caught:
        report(case, provider, first, reported_on=START, send=False)
    assert caught.value.details["reason"] == "already_reported"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"reported_on": None}, "reported_on"),
        ({"reported_on": START - timedelta(days=1)}, "reported_on"),
        ({"services_given": ["nothing"]}, "services_given"),
        ({"status": {"housing": "fine"}}, "status_housing"),
        ({"status": {"mood": "stable"}}, "status"),
        ({"risk_level": "unknown"}, "risk_level"),
    ],
)
def test_a_bad_report_is_refused(origin, override, field):
    case, provider = origin
    plan(case, provider)
    first = FollowUp.objects.get(case=case, sequence=1)
    before = snapshot(case)
    with pytest.raises(DomainError) as caught:
        report(case, provider, first, send=False, **{"reported_on": START, **override})
    assert caught.value.details["field"] == field
    assert snapshot(case) == before


def test_a_prosecutor_records_no_report(origin):
    case, provider = origin
    plan(case, provider)
    first = FollowUp.objects.get(case=case, sequence=1)
    prosecutor = team_member(case, Role.PROSECUTOR)
    with pytest.raises(DomainError) as caught:
        report(case, prosecutor, first, reported_on=START, send=False)
    assert caught.value.code == "cases.role_required"


def test_no_report_once_the_case_left_reintegration(origin):
    from trm.cases.tests.factories import set_states

    case, provider = origin
    plan(case, provider)
    first = FollowUp.objects.get(case=case, sequence=1)
    set_states(case, assistance="closed")
    with pytest.raises(DomainError) as caught:
        report(case, provider, first, reported_on=START, send=False)
    assert caught.value.details["reason"] == "not_in_reintegration"
