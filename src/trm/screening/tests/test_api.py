"""The screening API: the lists a case would use, recording, reading; errors."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from conftest import sign_in_verified
from django.test import Client

from trm.accounts.models import Role
from trm.accounts.tests.factories import UserFactory
from trm.audit.models import AuditEntry
from trm.cases.tests.factories import open_case, team_member
from trm.cases.tracks import Identification
from trm.screening.models import Screening

pytestmark = pytest.mark.django_db

EV = "observed"
REFER = {
    "al.d1.deceived_nature_of_job": {"value": "present", "evidence": EV},
    "al.d1.deceived_wages": {"value": "present", "evidence": EV},
    "al.d4.excessive_working_hours": {"value": "present", "evidence": EV},
    "al.d4.low_or_no_salary": {"value": "present", "evidence": EV},
    "al.d5.debt_bondage": {"value": "present", "evidence": EV},
    "al.d5.confiscation_of_documents": {"value": "present", "evidence": "documented"},
}


class Api:
    def __init__(self, user: Any) -> None:
        self.client = Client()
        sign_in_verified(self.client, user)

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.get(f"/api/v1{path}", params or {})

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(f"/api/v1{path}", body, content_type="application/json")


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code, body
    error: dict[str, Any] = body["error"]
    return error


@pytest.fixture
def fcp(org_a):
    return UserFactory(
        username="fcp-a", organisation=org_a, roles=[Role.FIRST_CONTACT_POINT]
    )


@pytest.fixture
def case(fcp):
    return open_case(fcp)


def path(case: Any, suffix: str = "") -> str:
    return f"/cases/{case.pk}/screening{suffix}"


def test_lists_for_an_adult(fcp, case):
    response = Api(fcp).get(path(case, "/lists"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["child"] is False
    assert body["instrument"] == "ILO-EC-2009"
    assert body["verified"] is False
    assert body["dimension_rule"]["rule"] == "2S | 1S+1(M|W) | 3M | 2M+1W"
    assert body["combination_rule"]["rule"] == "(D1 | D2 | D3) & D4 & (D5 | D6)"
    assert [entry["id"] for entry in body["lists"]] == ["adult_labour", "adult_sexual"]
    assert body["lists"][0]["scoring"] is True
    assert body["lists"][1]["scoring"] is False
    assert len(body["lists"][0]["indicators"]) == 67
    assert body["facts"] == []


def test_lists_for_a_presumed_child(fcp):
    child_case = open_case(fcp, may_be_child=True)
    response = Api(fcp).get(path(child_case, "/lists"), {"exploitation": ["labour"]})
    body = response.json()
    assert body["child"] is True
    assert [entry["id"] for entry in body["lists"]] == ["child_labour"]
    assert body["combination_rule"]["rule"] == "recruitment_act & D4"
    assert [f["id"] for f in body["facts"]] == ["recruitment_act"]


def test_lists_with_unknown_exploitation_is_400(fcp, case):
    response = Api(fcp).get(path(case, "/lists"), {"exploitation": ["organs"]})
    error = _error(response, 400, "screening.invalid_input")
    assert error["details"] == {"field": "exploitation", "ids": ["organs"]}


def test_record_returns_201_with_the_result(fcp, case):
    response = Api(fcp).post(
        path(case),
        {"exploitation": ["labour"], "responses": REFER, "note": "Fictiv"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["result"] == "refer"
    assert body["rule_result"] == "indicative_positive"
    assert body["result_text"].startswith("Indicators suggest a presumed")
    assert body["list_ids"] == ["adult_labour"]
    assert body["assessor_id"] == fcp.pk
    assert "responses" not in body
    dims = body["dimension_summary"]["lists"]["adult_labour"]["dimensions"]
    assert dims["D5"]["present"] is True
    case.refresh_from_db()
    assert case.identification == Identification.SCREENING


def test_record_with_unknown_ids_is_400_and_writes_nothing(fcp, case):
    responses = {**REFER, "al.d1.made_up": {"value": "absent", "evidence": ""}}
    response = Api(fcp).post(
        path(case), {"exploitation": ["labour"], "responses": responses}
    )
    error = _error(response, 400, "screening.invalid_input")
    assert error["details"] == {"field": "responses", "ids": ["al.d1.made_up"]}
    assert not Screening.objects.exists()


def test_record_without_evidence_is_400(fcp, case):
    response = Api(fcp).post(
        path(case),
        {
            "exploitation": ["labour"],
            "responses": {"al.d1.deceived_wages": {"value": "present"}},
        },
    )
    error = _error(response, 400, "screening.invalid_input")
    assert error["details"]["ids"] == ["al.d1.deceived_wages"]
    assert "“Deceived about wages or earnings” (D1)" in error["message"]
    assert "al.d1.deceived_wages" not in error["message"]


def test_record_refuses_unknown_fields(fcp, case):
    response = Api(fcp).post(
        path(case), {"exploitation": ["labour"], "responses": {}, "score": 9}
    )
    _error(response, 422, "invalid_input")


def test_record_by_a_role_that_does_not_screen_is_403(case):
    prosecutor = team_member(case, Role.PROSECUTOR)
    response = Api(prosecutor).post(
        path(case), {"exploitation": ["labour"], "responses": {}}
    )
    error = _error(response, 403, "screening.role_required")
    assert "first_contact_point" in error["details"]["allowed_roles"]
    assert not Screening.objects.exists()


def test_other_case_is_404_everywhere(case, caseworker_b):
    api = Api(caseworker_b)
    _error(api.get(path(case, "/lists")), 404, "cases.not_found")
    _error(api.get(path(case)), 404, "cases.not_found")
    _error(
        api.post(path(case), {"exploitation": ["labour"], "responses": {}}),
        404,
        "cases.not_found",
    )
    _error(api.get(path(case, f"/{uuid.uuid4()}")), 404, "cases.not_found")


def test_list_and_detail(fcp, case):
    api = Api(fcp)
    created = api.post(
        path(case),
        {"exploitation": ["labour"], "responses": REFER, "note": "Fictiv note"},
    ).json()
    listing = api.get(path(case))
    assert listing.status_code == 200
    assert [s["id"] for s in listing.json()] == [created["id"]]
    detail = api.get(path(case, f"/{created['id']}"))
    assert detail.status_code == 200
    body = detail.json()
    assert body["note"] == "Fictiv note"
    assert body["answers_withheld"] is False
    assert body["responses"]["al.d5.confiscation_of_documents"] == {
        "value": "present",
        "evidence": "documented",
    }
    assert AuditEntry.objects.filter(
        action="screening.read", target_id=created["id"]
    ).exists()


def test_detail_for_a_prosecutor_gives_the_result_without_the_answers(fcp, case):
    created = (
        Api(fcp)
        .post(
            path(case),
            {"exploitation": ["labour"], "responses": REFER, "note": "Fictiv note"},
        )
        .json()
    )
    prosecutor = team_member(case, Role.PROSECUTOR)
    detail = Api(prosecutor).get(path(case, f"/{created['id']}"))
    assert detail.status_code == 200
    body = detail.json()
    assert body["result"] == created["result"] == "refer"
    assert body["answers_withheld"] is True
    assert body["responses"] is None
    assert body["facts"] == {}
    assert body["note"] is None
    assert b"Fictiv note" not in detail.content
    assert not AuditEntry.objects.filter(action="screening.read").exists()


def test_detail_of_unknown_screening_is_404(fcp, case):
    response = Api(fcp).get(path(case, f"/{uuid.uuid4()}"))
    _error(response, 404, "screening.not_found")


def test_record_on_a_closed_case_is_409(fcp, case, caseworker_a):
    from trm.cases import services as cases

    cases.case_team_add(
        actor=fcp, case_id=case.pk, user_id=caseworker_a.pk, role=Role.CASE_MANAGER
    )
    cases.case_close(actor=caseworker_a, case_id=case.pk, reason="goals_met")
    response = Api(fcp).post(path(case), {"exploitation": ["labour"], "responses": {}})
    _error(response, 409, "screening.case_closed")
    assert not Screening.objects.exists()
