"""The assessments API: the same services and selectors, structured errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from conftest import sign_in_verified
from django.test import Client
from django.utils import timezone

from trm.accounts.models import Role
from trm.accounts.tests.factories import OrganisationFactory
from trm.assessments.models import IMMEDIATE_DOMAINS, SupportPlanVersion
from trm.cases.tests.factories import team_member
from trm.identification import contacts

from .conftest import erase
from .factories import record_needs, record_risk, save_plan

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    sign_in_verified(client, user)
    return client


def post(user, case, path: str, body: dict[str, Any]) -> Any:
    return client_for(user).post(
        f"/api/v1/cases/{case.pk}/assessments/{path}",
        body,
        content_type="application/json",
    )


def get(user, case, path: str) -> Any:
    return client_for(user).get(f"/api/v1/cases/{case.pk}/assessments/{path}")


def error(response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


def needs_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "immediate",
        "willing_participation": True,
        "in_private": True,
        "interpreter": False,
        "language": "ro",
        "needs": {d: {"status": "met"} for d in IMMEDIATE_DOMAINS},
    }
    body["needs"]["safety"] = {"status": "urgent", "note": "Fictional threat"}
    body.update(overrides)
    return body


TODAY = timezone.localdate()
STEP_BY = (TODAY + timedelta(days=60)).isoformat()
PLAN = {
    "language": "ro",
    "immediate_needs": "Fictional needs",
    "risk_summary": "Fictional risks",
    "steps": [{"what": "Fictional step", "who": "Fictional NGO", "by_when": STEP_BY}],
    "other_organisations": ["Fictional Shelter Zeta"],
    "safety_plan": "Fictional safety plan",
    "timeframe": "Fictional: 3 months",
    "person_name": "Fictiv Person",
    "person_acknowledged": True,
    "interviewer_name": "Fictiv Interviewer",
    "interviewer_acknowledged": True,
    "plan_date": TODAY.isoformat(),
    "place": "Fictional Town",
}


# --- needs ---------------------------------------------------------------------------


def test_needs_are_recorded_and_listed(caseworker_a, case):
    response = post(caseworker_a, case, "needs", needs_body())
    assert response.status_code == 201, response.content
    body = response.json()
    safety = next(n for n in body["needs"] if n["domain"] == "safety")
    assert safety == {
        "domain": "safety",
        "label": "Safety",
        "status": "urgent",
        "note": "Fictional threat",
    }
    listed = get(caseworker_a, case, "needs").json()
    assert listed["count"] == 1 and listed["items"][0]["id"] == body["id"]


def test_needs_without_willing_participation_are_refused(caseworker_a, case):
    response = post(
        caseworker_a, case, "needs", needs_body(willing_participation=False)
    )
    assert response.status_code == 400
    assert error(response)["code"] == "assessments.participation_required"
    assert error(response)["details"]["field"] == "willing_participation"


def test_needs_name_the_domains_missing(caseworker_a, case):
    body = needs_body()
    del body["needs"]["sleep"]
    response = post(caseworker_a, case, "needs", body)
    assert response.status_code == 400
    assert error(response)["details"]["missing"] == ["sleep"]


def test_unknown_fields_are_refused(caseworker_a, case):
    response = post(caseworker_a, case, "needs", needs_body(colour="red"))
    assert response.status_code == 422
    assert error(response)["code"] == "invalid_input"


# --- risk ----------------------------------------------------------------------------


RISK = {
    "type": "initial",
    "level": "medium",
    "factors": ["trafficker_threat"],
    "involvement": "involved",
    "judgement": "Fictional judgement",
}


def test_a_risk_assessment_is_recorded_and_ends_the_due_review(caseworker_a, case):
    contacts.contact_record(actor=caseworker_a, case_id=case.pk, kind="in_person")
    status = get(caseworker_a, case, "risk/status").json()
    assert status["due"] is True and status["level"] == ""
    response = post(caseworker_a, case, "risk", RISK)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["judgement"] == "Fictional judgement"
    assert body["next_review_due"] == str(timezone.localdate() + timedelta(days=30))
    status = get(caseworker_a, case, "risk/status").json()
    assert status["due"] is False and status["level"] == "medium"
    assert status["overdue"] is False
    assert get(caseworker_a, case, "risk").json()["count"] == 1


def test_a_bad_risk_assessment_names_its_field(caseworker_a, case):
    response = post(caseworker_a, case, "risk", {**RISK, "factors": []})
    assert response.status_code == 400
    assert error(response) == {
        "code": "assessments.invalid_input",
        "message": error(response)["message"],
        "details": {"field": "factors"},
    }


def test_the_legal_track_gets_403_on_every_read(caseworker_a, case):
    prosecutor = team_member(case, Role.PROSECUTOR)
    record_needs(case, caseworker_a)
    for path in ("needs", "risk", "risk/status", "plan"):
        response = get(prosecutor, case, path)
        assert response.status_code == 403, path
        assert error(response)["code"] == "assessments.assistance_only"
    assert post(prosecutor, case, "risk", RISK).status_code == 403


def test_another_organisations_case_is_404(caseworker_b, case):
    assert get(caseworker_b, case, "needs").status_code == 404
    assert post(caseworker_b, case, "plan", {}).status_code == 404


def test_a_closed_or_erased_case_is_409(caseworker_a, case):
    erase(case)
    response = post(caseworker_a, case, "risk", RISK)
    assert response.status_code == 409
    assert error(response)["code"] == "cases.person_erased"


# --- the plan ------------------------------------------------------------------------


def test_the_plan_is_drafted_signed_and_versioned(caseworker_a, case):
    assert get(caseworker_a, case, "plan").json() == {"current": None, "versions": []}
    first = post(caseworker_a, case, "plan", {"immediate_needs": "Fictional"})
    assert first.status_code == 201
    assert first.json()["number"] == 1 and first.json()["status"] == "draft"
    assert "safety_plan" in first.json()["missing"]
    again = post(caseworker_a, case, "plan", PLAN)
    assert again.status_code == 200 and again.json()["missing"] == []
    signed = post(caseworker_a, case, "plan/sign", {"number": 1})
    assert signed.status_code == 200
    assert signed.json()["status"] == "signed"
    assert signed.json()["signed_by"] == caseworker_a.username
    assert signed.json()["content"]["steps"][0]["by_when"] == STEP_BY

    second = post(caseworker_a, case, "plan", {**PLAN, "timeframe": "Fictional: 6m"})
    assert second.status_code == 201 and second.json()["number"] == 2
    overview = get(caseworker_a, case, "plan").json()
    assert overview["current"]["number"] == 2
    assert [(v["number"], v["status"]) for v in overview["versions"]] == [
        (2, "draft"),
        (1, "signed"),
    ]
    old = get(caseworker_a, case, "plan/versions/1").json()
    assert old["content"]["timeframe"] == "Fictional: 3 months"
    assert get(caseworker_a, case, "plan/versions/9").status_code == 404


def test_rule_9_signing_names_every_missing_field(caseworker_a, case):
    post(
        caseworker_a, case, "plan", {**PLAN, "place": "", "person_acknowledged": False}
    )
    response = post(caseworker_a, case, "plan/sign", {})
    assert response.status_code == 409
    assert error(response)["code"] == "assessments.plan_incomplete"
    assert error(response)["details"]["missing"] == ["person_acknowledged", "place"]
    assert SupportPlanVersion.objects.get(case=case).status == "draft"


def test_signing_without_a_draft_is_409(caseworker_a, case):
    response = post(caseworker_a, case, "plan/sign", {})
    assert response.status_code == 409
    assert error(response)["code"] == "assessments.no_draft"


def test_the_plan_refuses_an_unknown_organisation(caseworker_a, case):
    response = post(
        caseworker_a,
        case,
        "plan",
        {"organisation_ids": ["00000000-0000-0000-0000-000000000000"]},
    )
    assert response.status_code == 400
    assert error(response)["details"]["field"] == "organisations"


def test_the_plan_refuses_implausible_dates_and_organisations_on_their_field(
    caseworker_a, case
):
    office = OrganisationFactory(name="Fictional Prosecution Office")
    cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"plan_date": "2099-12-31"}, {"field": "plan_date"}),
        (
            {"steps": [{"what": "F", "who": "F", "by_when": "1900-01-01"}]},
            {"field": "step_0_by", "row": 0},
        ),
        (
            {"interviewer_organisation_id": str(office.pk)},
            {"field": "interviewer_organisation"},
        ),
    ]
    for change, details in cases:
        response = post(caseworker_a, case, "plan", {**PLAN, **change})
        assert response.status_code == 400, change
        assert error(response)["code"] == "assessments.invalid_input"
        assert error(response)["details"] == details
    assert not SupportPlanVersion.objects.filter(case=case).exists()


def test_a_national_contact_point_may_not_write_the_plan(case):
    ncp = team_member(case, Role.NATIONAL_CONTACT_POINT)
    response = post(ncp, case, "plan", PLAN)
    assert response.status_code == 403
    assert error(response)["code"] == "cases.role_required"


def test_an_erased_persons_plan_reads_as_null(caseworker_a, case):
    save_plan(case, caseworker_a)
    record_risk(case, caseworker_a)
    erase(case)
    assert get(caseworker_a, case, "plan").json()["current"]["content"] is None
    item = get(caseworker_a, case, "risk").json()["items"][0]
    assert item["judgement"] is None and item["readable"] is False
