"""The journey's guard as a pure function: no database (unsaved instances)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from trm.assessments.models import RiskAssessment
from trm.cases.models import Case, Person
from trm.cases.tracks import Assistance, ChildProtection, Legal
from trm.returns.guards import ReturnFacts, return_blockers
from trm.returns.models import (
    MATRIX_ITEMS,
    BestInterestsDetermination,
    FamilyExchange,
    JointRiskAssessment,
    ReturnPlan,
)

TODAY = date(2031, 5, 20)


def _case(*, child: bool = False, **states: str) -> Case:
    values = {
        "assistance": Assistance.RETURN_PREPARATION,
        "child_protection": ChildProtection.GUARDIAN_APPOINTED
        if child
        else ChildProtection.NOT_APPLICABLE,
        **states,
    }
    return Case(person=Person(presumed_child=child), **values)


def _joint(**overrides: Any) -> JointRiskAssessment:
    values: dict[str, Any] = {
        "assessed_on": TODAY - timedelta(days=3),
        "valid_until": TODAY + timedelta(days=10),
        "ratings": {i: {"destination": "low", "origin": "low"} for i in MATRIX_ITEMS},
        "overall_level": "low",
    }
    values.update(overrides)
    return JointRiskAssessment(**values)


def _plan(**overrides: Any) -> ReturnPlan:
    values: dict[str, Any] = {
        "travel_document_issued_on": TODAY - timedelta(days=1),
        "travel_document_valid_until": TODAY + timedelta(days=30),
        "receiver_decision": "accepted",
        "escort_function": "Social worker",
        "carer_kind": "parent",
        "carer_confirmed_on": TODAY,
    }
    values.update(overrides)
    return ReturnPlan(**values)


def _facts(**overrides: Any) -> ReturnFacts:
    values: dict[str, Any] = {
        "joint": _joint(),
        "plan": _plan(),
        "bid": BestInterestsDetermination(outcome="return_to_family"),
        "child_security": RiskAssessment(level="low", next_review_due=TODAY),
        "family_report": FamilyExchange(kind="assessment", status="reported"),
    }
    values.update(overrides)
    return ReturnFacts(**values)


def _codes(case: Case, facts: ReturnFacts) -> list[str]:
    return [b.code for b in return_blockers(case, facts, today=TODAY)]


@pytest.mark.parametrize("child", [False, True])
def test_nothing_blocks_when_every_condition_holds(child):
    assert _codes(_case(child=child), _facts()) == []


def test_an_empty_record_names_every_missing_condition_of_an_adult():
    facts = ReturnFacts(consent_problem="No consent to return.")
    assert _codes(_case(), facts) == [
        "return_consent",
        "joint_risk_missing",
        "receiver_not_accepted",
        "travel_document_missing",
    ]


def test_an_empty_record_names_every_missing_condition_of_a_child():
    case = _case(child=True, child_protection=ChildProtection.GUARDIAN_REQUESTED)
    assert _codes(case, ReturnFacts(consent_problem="x")) == [
        "return_consent",
        "joint_risk_missing",
        "receiver_not_accepted",
        "travel_document_missing",
        "guardian_not_appointed",
        "bid_missing",
        "family_assessment_missing",
        "carer_not_confirmed",
        "escort_not_assigned",
        "child_security_missing",
    ]


def test_each_blocker_has_a_message_and_a_part():
    case = _case(child=True, assistance=Assistance.LONG_TERM)
    blockers = return_blockers(
        case, ReturnFacts(removal_reasons=("Pending.",)), today=TODAY
    )
    assert blockers[0].code == "not_in_return_preparation"
    assert blockers[1].code == "removal_blocked"
    assert blockers[1].message == "Pending."
    assert all(b.message and b.part for b in blockers)


@pytest.mark.parametrize(
    ("joint", "code"),
    [
        (_joint(valid_until=TODAY - timedelta(days=1)), "joint_risk_expired"),
        (_joint(assessed_on=TODAY + timedelta(days=1)), "joint_risk_expired"),
        (
            _joint(ratings={i: {"destination": "low"} for i in MATRIX_ITEMS}),
            "joint_risk_origin_missing",
        ),
        (_joint(overall_level="high"), "joint_risk_high_unmitigated"),
        (_joint(overall_level="critical", has_mitigations=True), "joint_risk_critical"),
    ],
)
def test_the_joint_assessment_must_be_valid_joint_and_not_high_unmitigated(joint, code):
    assert _codes(_case(), _facts(joint=joint)) == [code]


def test_one_sides_high_rating_counts_even_if_the_overall_level_is_lower():
    ratings = {i: {"destination": "low", "origin": "low"} for i in MATRIX_ITEMS}
    ratings["traffickers"]["origin"] = "high"
    joint = _joint(ratings=ratings, overall_level="medium")
    assert _codes(_case(), _facts(joint=joint)) == ["joint_risk_high_unmitigated"]
    joint.has_mitigations = True
    assert _codes(_case(), _facts(joint=joint)) == []


@pytest.mark.parametrize(
    ("plan", "codes"),
    [
        (_plan(receiver_decision="pending"), ["receiver_not_accepted"]),
        (_plan(receiver_decision="declined"), ["receiver_declined"]),
        (_plan(travel_document_issued_on=None), ["travel_document_missing"]),
        (
            _plan(travel_document_valid_until=TODAY - timedelta(days=1)),
            ["travel_document_expired"],
        ),
        (
            _plan(
                departure_on=TODAY + timedelta(days=40),
                travel_document_valid_until=TODAY + timedelta(days=30),
            ),
            ["travel_document_expired"],
        ),
        (_plan(medical_fitness="not_fit"), ["not_fit_to_travel"]),
    ],
)
def test_receiver_documents_and_fitness(plan, codes):
    assert _codes(_case(), _facts(plan=plan)) == codes


@pytest.mark.parametrize(
    ("overrides", "codes"),
    [
        ({"bid": None}, ["bid_missing"]),
        ({"family_report": None}, ["family_assessment_missing"]),
        (
            {"bid": BestInterestsDetermination(outcome="local_integration")},
            ["bid_not_return"],
        ),
        (
            {"bid": BestInterestsDetermination(outcome="third_country")},
            ["bid_not_return"],
        ),
        ({"plan": _plan(carer_kind="")}, ["carer_not_confirmed"]),
        ({"plan": _plan(escort_function="")}, ["escort_not_assigned"]),
        ({"child_security": None}, ["child_security_missing"]),
        (
            {"child_security": RiskAssessment(level="high", next_review_due=TODAY)},
            ["child_security_not_positive"],
        ),
        (
            {
                "child_security": RiskAssessment(
                    level="low", next_review_due=TODAY - timedelta(days=1)
                )
            },
            ["child_security_expired"],
        ),
    ],
)
def test_a_childs_additional_conditions(overrides, codes):
    assert _codes(_case(child=True), _facts(**overrides)) == codes


def test_an_adult_needs_no_bid_carer_escort_or_child_assessment():
    facts = _facts(
        bid=None,
        child_security=None,
        family_report=None,
        plan=_plan(escort_function=""),
    )
    assert _codes(_case(), facts) == []


@pytest.mark.parametrize("child", [False, True])
def test_rule_1_the_guard_does_not_read_the_legal_track(child):
    """SOPS §6.5 rule 1, both ways: with every condition met, and with none."""
    for facts in (_facts(), ReturnFacts(consent_problem="x")):
        outcomes = {
            legal: _codes(_case(child=child, legal=legal), facts)
            for legal in Legal.values
        }
        assert len({tuple(codes) for codes in outcomes.values()}) == 1, outcomes
