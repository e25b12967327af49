"""export_for_person: everything this app holds about a person, readable."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.serializers.json import DjangoJSONEncoder

from trm.assessments import plans
from trm.assessments.export import export_for_person

from .conftest import erase
from .factories import record_needs, record_risk, save_plan

pytestmark = pytest.mark.django_db


def test_export_holds_every_record_decrypted_with_labels(case, caseworker_a):
    record_needs(case, caseworker_a)
    record_risk(case, caseworker_a, level="high")
    save_plan(case, caseworker_a)
    plans.plan_sign(actor=caseworker_a, case_id=case.pk)
    items: list[Any] = export_for_person(case.person)
    assert [i["type"] for i in items] == [
        "needs_assessment",
        "risk_assessment",
        "support_plan_version",
    ]
    needs, risk, plan = items
    assert needs["case_number"] == case.number
    safety = needs["needs"][0]
    assert safety["label"] == "Safety"
    assert safety["status"] == {"code": "urgent", "label": "Urgent"}
    assert "recruiter" in safety["note"]
    assert risk["level"] == {"code": "high", "label": "High"}
    assert risk["judgement"] == "Fictional judgement of the assessor."
    assert plan["status"]["code"] == "signed"
    fields = {f["field"]: f for f in plan["content"]}
    assert fields["place"]["value"] == "Fictional Town"
    assert fields["place"]["label"] == "Place"
    assert fields["organisations"]["value"] == ["Fictional Shelter Zeta"]
    json.dumps(items, cls=DjangoJSONEncoder)  # JSON-ready


def test_export_after_erasure_keeps_codes_and_says_the_text_is_gone(case, caseworker_a):
    record_needs(case, caseworker_a)
    record_risk(case, caseworker_a)
    save_plan(case, caseworker_a)
    erase(case)
    exported: list[Any] = export_for_person(case.person)
    needs, risk, plan = exported
    assert needs["readable"] is False
    assert all(n["note"] is None for n in needs["needs"])
    assert risk["judgement"] is None and risk["level"]["code"] == "low"
    assert plan["content"] is None and plan["readable"] is False


def test_export_of_a_person_without_assessments_is_empty(case):
    assert export_for_person(case.person) == []
