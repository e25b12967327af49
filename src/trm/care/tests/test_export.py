"""The subject-access export of trm.care: everything held, readable."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from trm.care import episodes, residence, services
from trm.care.export import export_for_person
from trm.care.tests.helpers import GOALS, agreed, erase
from trm.cases.tests.factories import adult_birth_date, open_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def case(caseworker_a):
    return open_case(caseworker_a, birth_date=adult_birth_date())


def fill(case, actor) -> None:
    today = timezone.localdate()
    agreed(case, actor)
    services.care_plan_review(
        actor=actor,
        case_id=case.pk,
        reviewed_on=today,
        outcome="continue",
        note="Fictional review note",
    )
    residence.residence_status_record(
        actor=actor,
        case_id=case.pk,
        residence_type="temp_permit_personal_situation",
        valid_from=today - timedelta(days=10),
        valid_until=today + timedelta(days=300),
        document_number="ZZ3131",
        issuing_authority="Fictional Migration Office",
    )
    episodes.service_episode_record(
        actor=actor,
        case_id=case.pk,
        service_type="vocational_training",
        started_on=today,
        provider_name="Fictional Training Centre",
        note="Fictional episode note",
    )


def test_the_export_holds_every_record_readable(case, caseworker_a):
    fill(case, caseworker_a)
    rows: list[dict[str, Any]] = export_for_person(case.person)
    kinds = [row["record"] for row in rows]
    assert kinds == ["care_plan", "residence_status", "service_given"]
    plan, status, service = rows
    assert plan["case"] == case.number
    assert plan["goals"] == GOALS
    assert plan["status"] == "agreed" and plan["duration_label"]
    assert plan["planned_services"][0]["frequency"] == "Twice a week"
    assert plan["reviews"][0]["note"] == "Fictional review note"
    assert status["document_number"] == "ZZ3131" and status["current"] is True
    assert service["provider"] == "Fictional Training Centre"
    assert service["note"] == "Fictional episode note"
    json.dumps(rows)  # plain data, ready for JSON
    assert "caseworker" not in json.dumps(rows)  # staff are not named


def test_the_export_covers_every_case_of_the_person(case, caseworker_a):
    fill(case, caseworker_a)
    assert len(export_for_person(case.person)) == 3
    other = open_case(caseworker_a)
    assert export_for_person(other.person) == []


def test_after_erasure_the_text_is_null(case, caseworker_a):
    fill(case, caseworker_a)
    erase(case)
    rows: list[dict[str, Any]] = export_for_person(case.person)
    plan, status, service = rows
    assert plan["goals"] is None and plan["reviews"][0]["note"] is None
    assert status["document_number"] is None
    assert service["provider"] is None and service["note"] is None
    assert status["issuing_authority"] == "Fictional Migration Office"
