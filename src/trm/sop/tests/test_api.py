"""SOP API: a case's panel and the caller's tasks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from conftest import sign_in_verified
from django.test import Client
from django.utils import timezone

from trm.accounts.models import Role
from trm.assessments.tests.factories import record_risk
from trm.cases.tests.factories import adult_birth_date, open_case, team_member
from trm.identification import contacts, services
from trm.sop import loader

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_definitions():
    loader.clear_cache()
    yield
    loader.clear_cache()


def get(user, path: str, params: dict[str, Any] | None = None) -> Any:
    client = Client()
    sign_in_verified(client, user)
    return client.get(f"/api/v1{path}", params or {})


def test_case_sop_answers_the_panel_with_the_removal_block(caseworker_a):
    case = open_case(caseworker_a, birth_date=adult_birth_date())
    services.presume(actor=caseworker_a, case_id=case.pk, reason="Fictional grounds")
    response = get(caseworker_a, f"/cases/{case.pk}/sop")
    assert response.status_code == 200
    body = response.json()
    assert body["case_number"] == case.number
    assert body["variant"] == "baseline" and body["example"] is False
    assert [s["number"] for s in body["sops"]] == [1, 2, 3, 4, 5]
    steps = {s["id"]: s for sop in body["sops"] for s in sop["steps"]}
    assert steps["sop1.initial_identification"]["state"] == "done"
    reflection = steps["sop1.reflection_period"]
    assert reflection["state"] == "due"
    assert reflection["due_on"] == body["reflection"]["ends_on"]
    assert body["removal_block"]["until"] == body["reflection"]["ends_on"]
    assert len(body["removal_block"]["reasons"]) == 2


def test_case_sop_of_a_case_off_the_team_is_404(caseworker_a, caseworker_b):
    case = open_case(caseworker_a)
    response = get(caseworker_b, f"/cases/{case.pk}/sop")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "cases.not_found"


def test_tasks_list_the_callers_overdue_steps_only_for_their_role(caseworker_a):
    with time_machine.travel(timezone.now() - timedelta(days=10), tick=False):
        case = open_case(caseworker_a, birth_date=adult_birth_date())
    guardian = team_member(case, Role.GUARDIAN)
    response = get(caseworker_a, "/tasks", {"overdue_only": "true"})
    assert response.status_code == 200
    body = response.json()
    assert body["truncated"] is False
    items = {i["step_id"]: i for i in body["items"]}
    assert items["sop1.initial_identification"]["state"] == "overdue"
    assert items["sop1.initial_identification"]["days_left"] == -7
    assert items["sop1.initial_identification"]["case_number"] == case.number
    assert items["sop1.initial_identification"]["roles"] == ["case_manager"]
    assert "person" not in str(body)  # case numbers only, never names
    assert get(guardian, "/tasks").json() == {
        "count": 0,
        "variant": "baseline",
        "variant_title": body["variant_title"],
        "example": False,
        "truncated": False,
        "items": [],
    }


def test_tasks_say_the_variant_is_an_example(caseworker_a, settings):
    settings.TRM_SOP_VARIANT = "md"
    open_case(caseworker_a, birth_date=adult_birth_date())
    body = get(caseworker_a, "/tasks").json()
    assert body["variant"] == "md"
    assert body["example"] is True
    assert "example" in body["variant_title"]
    assert body["items"]


def test_tasks_of_a_verified_variant_are_not_an_example(caseworker_a):
    body = get(caseworker_a, "/tasks").json()
    assert body["variant"] == "baseline"
    assert body["example"] is False


def test_tasks_refuse_a_bad_page_size(caseworker_a):
    response = get(caseworker_a, "/tasks", {"page_size": "0"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"


def test_case_sop_of_a_prosecutor_leaves_out_assistance_only_events(caseworker_a):
    case = open_case(caseworker_a, birth_date=adult_birth_date())
    services.presume(actor=caseworker_a, case_id=case.pk, reason="Fictional grounds")
    contacts.contact_record(actor=caseworker_a, case_id=case.pk, kind="in_person")
    record_risk(case, caseworker_a, level="low")
    prosecutor = team_member(case, Role.PROSECUTOR)

    managers = get(caseworker_a, f"/cases/{case.pk}/sop").json()
    theirs = get(prosecutor, f"/cases/{case.pk}/sop").json()

    def step(body: dict[str, Any], step_id: str) -> dict[str, Any]:
        return next(
            s for sop in body["sops"] for s in sop["steps"] if s["id"] == step_id
        )

    assert step(managers, "sop1.risk_review")["state"] == "done"
    # The prosecutor learns that it was done, not when (assistance-only events).
    review = step(theirs, "sop1.risk_review")
    assert review["state"] == "done"
    assert review["started_at"] is None and review["done_at"] is None
    # The protection is computed from every event, whoever asks.
    assert theirs["removal_block"] == managers["removal_block"] is not None
    assert theirs["reflection"] == managers["reflection"]
