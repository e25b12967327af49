"""Care API: each endpoint calls its service; refusals are structured errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from conftest import sign_in_verified
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone

from trm.accounts.models import Role
from trm.care.models import CarePlan, ServiceEpisode
from trm.care.tests.helpers import (
    GOALS,
    agreed,
    draft,
    enter_long_term,
    erase,
    give_consent,
    snapshot,
)
from trm.cases.tests.factories import adult_birth_date, open_case, team_member
from trm.sop import loader

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


def client_for(user) -> Client:
    client = Client()
    sign_in_verified(client, user)
    return client


def call(user, method: str, case, path: str, body: dict[str, Any] | None = None):
    client = client_for(user)
    url = f"/api/v1/cases/{case.pk}/care{path}"
    if method == "get":
        return client.get(url)
    return client.post(url, body or {}, content_type="application/json")


def error(response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


PLAN = {
    "goals": GOALS,
    "duration": "long",
    "services": [{"service_type": "shelter", "frequency": "Every night"}],
}


def test_the_plan_is_written_agreed_and_reviewed(case, caseworker_a):
    enter_long_term(case)
    response = call(caseworker_a, "get", case, "/plan")
    assert response.status_code == 200
    body = response.json()
    assert body["plan"] is None
    assert body["deadline"]["days"] == 30 and body["deadline"]["state"] == "due"
    response = call(caseworker_a, "post", case, "/plan", PLAN)
    assert response.status_code == 200
    plan = response.json()["plan"]
    assert plan["status"] == "draft" and plan["goals"] == GOALS
    assert plan["services"][0]["frequency"] == "Every night"
    assert "1 year" in plan["warnings"][0]
    response = call(caseworker_a, "post", case, "/plan/agree", {})
    assert response.status_code == 403
    assert error(response)["code"] == "consent.missing"
    assert error(response)["details"]["record_url"].endswith("/record/")
    give_consent(case, caseworker_a)
    response = call(caseworker_a, "post", case, "/plan/agree", {"note": ""})
    assert response.status_code == 200
    body = response.json()
    assert body["plan"]["status"] == "agreed" and body["plan"]["consent_id"]
    assert body["deadline"]["state"] == "done"
    response = call(
        caseworker_a,
        "post",
        case,
        "/plan/reviews",
        {"reviewed_on": TODAY().isoformat(), "outcome": "close", "note": "Done"},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["plan"] is None
    assert body["previous"][0]["reviews"][0]["note"] == "Done"


@override_settings(TRM_SOP_VARIANT="bg")
def test_the_deadline_follows_the_bulgarian_rule(case, caseworker_a):
    enter_long_term(case)
    deadline = call(caseworker_a, "get", case, "/plan").json()["deadline"]
    assert (deadline["days"], deadline["variant"]) == (20, "bg")
    assert deadline["due_on"] == (TODAY() + timedelta(days=20)).isoformat()


def test_bad_input_is_a_structured_error_naming_the_field(case, caseworker_a):
    before = snapshot(case)
    response = call(caseworker_a, "post", case, "/plan", {**PLAN, "goals": " "})
    assert response.status_code == 400
    assert error(response)["code"] == "cases.invalid_input"
    assert error(response)["details"]["field"] == "goals"
    response = call(caseworker_a, "post", case, "/plan", {**PLAN, "colour": "red"})
    assert response.status_code in {400, 422}
    assert snapshot(case) == before


def test_an_agreed_plan_is_not_edited(case, caseworker_a):
    agreed(case, caseworker_a)
    response = call(caseworker_a, "post", case, "/plan", PLAN)
    assert response.status_code == 409
    assert error(response)["code"] == "cases.transition_not_allowed"


def test_a_prosecutor_gets_none_of_it(case, caseworker_a):
    draft(case, caseworker_a)
    prosecutor = team_member(case, Role.PROSECUTOR)
    for path in ("/plan", "/residence", "/services"):
        response = call(prosecutor, "get", case, path)
        assert response.status_code == 403
        assert error(response)["code"] == "care.not_for_legal_track"
    response = call(prosecutor, "post", case, "/plan", PLAN)
    assert response.status_code == 403
    assert error(response)["code"] == "cases.role_required"


def test_someone_off_the_team_gets_404(case, caseworker_b):
    assert call(caseworker_b, "get", case, "/plan").status_code == 404
    assert call(caseworker_b, "post", case, "/plan", PLAN).status_code == 404


def test_residence_is_recorded_and_listed(case, caseworker_a):
    body = {
        "residence_type": "temp_permit_cooperation",
        "valid_from": TODAY().isoformat(),
        "valid_until": (TODAY() + timedelta(days=90)).isoformat(),
        "document_number": "ZZ8080",
        "renewal_notice_days": 14,
    }
    response = call(caseworker_a, "post", case, "/residence", body)
    assert response.status_code == 201
    out = response.json()
    assert out["track_moved"] and out["reflection"] == "permit_cooperation"
    assert out["renewal_due_on"] == (TODAY() + timedelta(days=76)).isoformat()
    assert out["warnings"]  # shorter than 6 months
    assert out["document_number"] == "ZZ8080"
    again = call(
        caseworker_a,
        "post",
        case,
        "/residence",
        {**body, "valid_until": (TODAY() + timedelta(days=400)).isoformat()},
    ).json()
    assert again["superseded"] == out["id"]
    listed = call(caseworker_a, "get", case, "/residence").json()
    assert [(r["current"], r["document_number"]) for r in listed] == [
        (True, "ZZ8080"),
        (False, "ZZ8080"),
    ]
    response = call(
        caseworker_a, "post", case, "/residence", {**body, "valid_until": None}
    )
    assert response.status_code == 400
    assert error(response)["details"]["field"] == "valid_until"


def test_services_are_recorded_listed_and_ended(case, caseworker_a):
    response = call(
        caseworker_a,
        "post",
        case,
        "/services",
        {
            "service_type": "medical",
            "started_on": TODAY().isoformat(),
            "provider_name": "Fictional Clinic",
            "note": "Fictional",
        },
    )
    assert response.status_code == 201
    episode = response.json()
    assert episode["outcome"] == "ongoing"
    assert episode["provider_name"] == "Fictional Clinic"
    page = call(caseworker_a, "get", case, "/services").json()
    assert page["count"] == 1 and page["items"][0]["id"] == episode["id"]
    response = call(
        caseworker_a,
        "post",
        case,
        f"/services/{episode['id']}/end",
        {"outcome": "completed", "ended_on": TODAY().isoformat()},
    )
    assert response.status_code == 200
    assert response.json()["outcome"] == "completed"
    response = call(
        caseworker_a,
        "post",
        case,
        f"/services/{episode['id']}/end",
        {"outcome": "completed", "ended_on": TODAY().isoformat()},
    )
    assert response.status_code == 409
    assert ServiceEpisode.objects.filter(case=case).count() == 1


def test_ending_an_unknown_service_is_404(case, caseworker_a):
    response = call(
        caseworker_a,
        "post",
        case,
        f"/services/{case.pk}/end",
        {"outcome": "completed", "ended_on": TODAY().isoformat()},
    )
    assert response.status_code == 404
    assert error(response)["code"] == "care.not_found"


def test_the_services_list_pages(case, caseworker_a):
    from trm.care import episodes

    for days in range(5):
        episodes.service_episode_record(
            actor=caseworker_a,
            case_id=case.pk,
            service_type="shelter",
            started_on=TODAY() - timedelta(days=days),
        )
    client = client_for(caseworker_a)
    page = client.get(
        f"/api/v1/cases/{case.pk}/care/services?page=2&page_size=2"
    ).json()
    assert page["count"] == 5 and len(page["items"]) == 2
    assert page["items"][0]["started_on"] == (TODAY() - timedelta(days=2)).isoformat()


def test_after_erasure_sealed_text_is_null_and_writes_are_refused(case, caseworker_a):
    agreed(case, caseworker_a)
    erase(case)
    plan = call(caseworker_a, "get", case, "/plan").json()["plan"]
    assert plan["goals"] is None and plan["services"][0]["frequency"] is None
    response = call(
        caseworker_a,
        "post",
        case,
        "/plan/reviews",
        {"reviewed_on": TODAY().isoformat(), "outcome": "continue"},
    )
    assert response.status_code == 409
    assert error(response)["code"] == "cases.person_erased"
    assert CarePlan.objects.get(case=case).status == "agreed"
