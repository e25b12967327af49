"""SOP 1 API: each endpoint calls its service; refusals are structured errors."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import sign_in_verified
from django.test import Client

from trm.accounts.models import Role, TrmFunction
from trm.accounts.tests.factories import OrganisationFactory, UserFactory
from trm.cases.models import Case, CaseEvent
from trm.cases.tests.factories import (
    adult_birth_date,
    open_case,
    set_states,
    team_member,
)
from trm.cases.tracks import ChildProtection, Identification, Reflection
from trm.identification import services
from trm.identification.models import RightsInformation, RightsItem
from trm.sop import loader

pytestmark = pytest.mark.django_db

IDENTIFIED_ITEMS = [
    RightsItem.DECISION_AND_REASONS,
    RightsItem.REFLECTION_PERIOD,
    RightsItem.ASSISTANCE_UNCONDITIONAL,
    RightsItem.LEGAL_COUNSELLING,
]
NOT_IDENTIFIED_ITEMS = [
    RightsItem.DECISION_AND_REASONS,
    RightsItem.REVIEW,
    RightsItem.OTHER_SERVICES,
]


@pytest.fixture(autouse=True)
def _fresh_definitions():
    loader.clear_cache()
    yield
    loader.clear_cache()


def post(user, case: Case, action: str, body: dict[str, Any]) -> Any:
    client = Client()
    sign_in_verified(client, user)
    return client.post(
        f"/api/v1/cases/{case.pk}/identification/{action}",
        body,
        content_type="application/json",
    )


def error(response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


@pytest.fixture
def case(caseworker_a):
    return open_case(caseworker_a, birth_date=adult_birth_date())


@pytest.fixture
def child_case(caseworker_a):
    return open_case(caseworker_a, birth_date=None, may_be_child=True)


def authority(case: Case):
    org = OrganisationFactory(functions=[TrmFunction.COMPETENT_AUTHORITY])
    return team_member(case, Role.COMPETENT_AUTHORITY, organisation=org)


def presumed(case: Case, actor) -> Case:
    return services.presume(actor=actor, case_id=case.pk, reason="Fictional grounds")


# --- presume -------------------------------------------------------------------------


def test_presume_answers_the_new_state_with_the_removal_block(caseworker_a, case):
    response = post(caseworker_a, case, "presume", {"reason": "Fictional grounds"})
    assert response.status_code == 200
    body = response.json()
    assert body["identification"] == Identification.PRESUMED
    assert body["reflection"] == Reflection.REFLECTION_PERIOD
    assert len(body["removal_block"]["reasons"]) == 2
    assert body["reflection_period"]["running"] is True


def test_presume_without_reasons_is_a_structured_400(caseworker_a, case):
    response = post(caseworker_a, case, "presume", {})
    assert response.status_code == 400
    assert error(response)["code"] == "cases.invalid_input"
    assert error(response)["details"]["field"] == "reason"


# --- decision ---------------------------------------------------------------------


def test_decision_by_the_competent_authority(caseworker_a, case):
    presumed(case, caseworker_a)
    body = {
        "outcome": "identified",
        "reasons": "Fictional reasons",
        "informed": [str(i) for i in IDENTIFIED_ITEMS],
        "language": "ro",
        "interpreter": True,
    }
    response = post(authority(case), case, "decision", body)
    assert response.status_code == 200
    assert response.json()["identification"] == Identification.IDENTIFIED
    assert RightsInformation.objects.get(case=case).interpreter


def test_decision_by_a_case_manager_is_403(caseworker_a, case):
    presumed(case, caseworker_a)
    body = {
        "outcome": "identified",
        "reasons": "Fictional reasons",
        "informed": [str(i) for i in IDENTIFIED_ITEMS],
        "language": "ro",
    }
    response = post(caseworker_a, case, "decision", body)
    assert response.status_code == 403
    assert error(response)["code"] == "identification.not_competent_authority"
    case.refresh_from_db()
    assert case.identification == Identification.PRESUMED


# --- reopen and no indication -------------------------------------------------------


def test_reopen_on_new_evidence(caseworker_a, case):
    presumed(case, caseworker_a)
    ca = authority(case)
    services.decide(
        actor=ca,
        case_id=case.pk,
        outcome="not_identified",
        reasons="Fictional reasons",
        informed=NOT_IDENTIFIED_ITEMS,
        language="ro",
    )
    response = post(ca, case, "reopen", {"reason": "Fictional new evidence"})
    assert response.status_code == 200
    assert response.json()["identification"] == Identification.PRESUMED


def test_reopen_by_a_case_manager_is_403(caseworker_a, case):
    response = post(caseworker_a, case, "reopen", {"reason": "Fictional"})
    assert response.status_code == 403
    assert error(response)["code"] == "identification.not_competent_authority"


def test_no_indication(caseworker_a, case):
    set_states(case, identification=Identification.SCREENING)
    response = post(caseworker_a, case, "no-indication", {"information_given": True})
    assert response.status_code == 200
    assert response.json()["identification"] == Identification.NO_INDICATION


def test_no_indication_without_information_is_400(caseworker_a, case):
    set_states(case, identification=Identification.SCREENING)
    response = post(caseworker_a, case, "no-indication", {"information_given": False})
    assert response.status_code == 400
    assert error(response)["details"]["field"] == "information_given"


# --- rights and reflection -----------------------------------------------------------


def test_rights_information_is_201(caseworker_a, case):
    body = {
        "informed": [RightsItem.REFLECTION_PERIOD, RightsItem.ASSISTANCE_UNCONDITIONAL],
        "language": "ro",
    }
    response = post(caseworker_a, case, "rights-information", body)
    assert response.status_code == 201
    assert RightsInformation.objects.filter(case=case).count() == 1


def test_rights_information_missing_items_is_400(caseworker_a, case):
    body = {"informed": [RightsItem.REFLECTION_PERIOD], "language": "ro"}
    response = post(caseworker_a, case, "rights-information", body)
    assert response.status_code == 400
    assert error(response)["details"]["missing"] == ["assistance_unconditional"]


def test_reflection_end_by_the_persons_decision(caseworker_a, case):
    presumed(case, caseworker_a)
    response = post(
        caseworker_a, case, "reflection-end", {"reason": "decided_to_cooperate"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["reflection"] == Reflection.REFLECTION_ENDED
    assert body["reflection_period"]["end_reason"] == "decided_to_cooperate"


def test_early_reflection_end_by_a_case_manager_is_403(caseworker_a, case):
    presumed(case, caseworker_a)
    response = post(
        caseworker_a,
        case,
        "reflection-end",
        {"reason": "public_order", "detail": "Fictional"},
    )
    assert response.status_code == 403


# --- children -------------------------------------------------------------------------


def test_possible_child(caseworker_a, case):
    response = post(caseworker_a, case, "possible-child", {})
    assert response.status_code == 200
    body = response.json()
    assert body["presumed_child"] is True
    assert body["child_protection"] == ChildProtection.GUARDIAN_REQUESTED


def test_possible_child_twice_is_409(caseworker_a, child_case):
    response = post(caseworker_a, child_case, "possible-child", {})
    assert response.status_code == 409
    assert error(response)["code"] == "cases.transition_not_allowed"


def test_age_assessment(caseworker_a, child_case):
    body = {"outcome": "adult", "method": "Fictional documents"}
    response = post(caseworker_a, child_case, "age-assessment", body)
    assert response.status_code == 201
    assert response.json()["presumed_child"] is False


def test_age_assessment_with_an_unknown_outcome_is_400(caseworker_a, child_case):
    body = {"outcome": "teen", "method": "Fictional documents"}
    response = post(caseworker_a, child_case, "age-assessment", body)
    assert response.status_code == 400
    assert error(response)["details"]["field"] == "outcome"


def test_guardian_appointed(caseworker_a, child_case):
    guardian = UserFactory(
        organisation=child_case.lead_organisation, roles=[Role.GUARDIAN]
    )
    response = post(
        caseworker_a, child_case, "guardian", {"guardian_user_id": guardian.pk}
    )
    assert response.status_code == 200
    assert response.json()["child_protection"] == ChildProtection.GUARDIAN_APPOINTED


def test_guardian_without_the_role_is_400(caseworker_a, child_case):
    someone = UserFactory(organisation=child_case.lead_organisation)
    response = post(
        caseworker_a, child_case, "guardian", {"guardian_user_id": someone.pk}
    )
    assert response.status_code == 400
    assert error(response)["details"]["field"] == "guardian"


def test_child_protection_notice(caseworker_a, child_case):
    body = {"authority": "Fictional Child Agency"}
    response = post(caseworker_a, child_case, "child-protection-notice", body)
    assert response.status_code == 201


def test_child_protection_notice_for_an_adult_is_409(caseworker_a, case):
    body = {"authority": "Fictional Child Agency"}
    response = post(caseworker_a, case, "child-protection-notice", body)
    assert response.status_code == 409


# --- verification, contacts, risk reviews, removal ---------------------------------


def test_identity_verification(caseworker_a, case):
    response = post(caseworker_a, case, "identity-verification", {"channel": "ncp"})
    assert response.status_code == 201
    assert CaseEvent.objects.filter(
        case=case, kind="sop1.identity_verification_requested", code="ncp"
    ).exists()


def test_identity_verification_through_the_consulate_of_an_asylum_applicant_is_409(
    caseworker_a,
):
    case = open_case(caseworker_a, asylum_applicant=True)
    response = post(
        caseworker_a, case, "identity-verification", {"channel": "consulate"}
    )
    assert response.status_code == 409
    assert error(response)["code"] == "identification.consular_check_blocked"


def test_contacts(caseworker_a, case):
    response = post(caseworker_a, case, "contacts", {"kind": "in_person"})
    assert response.status_code == 201


def test_contacts_by_a_prosecutor_is_403(case):
    prosecutor = team_member(case, Role.PROSECUTOR)
    response = post(prosecutor, case, "contacts", {"kind": "in_person"})
    assert response.status_code == 403


def test_risk_reviews_are_recorded_under_assessments_only(caseworker_a, case):
    # One write path for risk assessments: /api/v1/cases/{id}/assessments/risk.
    response = post(caseworker_a, case, "risk-reviews", {"level": "medium"})
    assert response.status_code == 404


def test_enforced_removal_when_nothing_blocks_it(caseworker_a, case):
    response = post(
        caseworker_a, case, "enforced-removal", {"legal_basis": "Fictional order"}
    )
    assert response.status_code == 201


def test_enforced_removal_while_blocked_is_409_with_the_reasons(caseworker_a, case):
    presumed(case, caseworker_a)
    response = post(
        caseworker_a, case, "enforced-removal", {"legal_basis": "Fictional order"}
    )
    assert response.status_code == 409
    body = error(response)
    assert body["code"] == "identification.removal_blocked"
    assert "CETS Art. 13(1)" in body["message"]
    assert body["details"]["until"]


def test_a_case_off_the_team_is_404(caseworker_b, case):
    response = post(caseworker_b, case, "contacts", {"kind": "phone"})
    assert response.status_code == 404
    assert error(response)["code"] == "cases.not_found"
