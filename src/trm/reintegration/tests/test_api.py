"""The reintegration API: plan, report under consent, refusals."""

from __future__ import annotations

import pytest

from trm.exchange.models import OutboxMessage
from trm.reintegration.tests.helpers import origin_case, transfer_consent

pytestmark = pytest.mark.django_db


def test_the_api_records_the_plan_and_a_consented_report(org_a, signed_in):
    case, provider = origin_case()
    client = signed_in(provider)
    base = f"/api/v1/cases/{case.pk}/reintegration"
    answer = client.post(
        f"{base}/plan",
        data={
            "starts_on": "2026-01-10",
            "services": ["shelter", "legal_aid"],
            "goals": "Fictional goals.",
            "case_manager_function": "Fictional social worker",
        },
        content_type="application/json",
    )
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["destination_node"] == "peer-bg"
    assert [f["due_on"] for f in body["follow_ups"]] == [
        "2026-02-10",
        "2026-04-10",
        "2026-07-10",
        "2027-01-10",
    ]
    first = body["follow_ups"][0]["id"]
    report = {
        "reported_on": "2026-02-12",
        "services_given": ["legal_aid"],
        "status": {"housing": "stable", "health": "stable"},
        "risk_level": "low",
    }
    refused = client.post(
        f"{base}/follow-ups/{first}/report",
        data=report,
        content_type="application/json",
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "consent.missing"
    given = transfer_consent(case, provider)
    answer = client.post(
        f"{base}/follow-ups/{first}/report",
        data={**report, "consent_id": str(given.pk)},
        content_type="application/json",
    )
    assert answer.status_code == 200, answer.json()
    reported = answer.json()["follow_ups"][0]
    assert (
        reported["sent_to_node"] == "peer-bg"
        and reported["status"]["income"] == "unknown"
    )
    assert OutboxMessage.objects.filter(type="followup.report").count() == 1


def test_the_api_refuses_a_plan_before_the_return(org_a, signed_in):
    case, provider = origin_case(assistance="first_assistance")
    answer = signed_in(provider).post(
        f"/api/v1/cases/{case.pk}/reintegration/plan",
        data={"starts_on": "2026-01-10"},
        content_type="application/json",
    )
    assert answer.status_code == 409
    assert answer.json()["error"]["details"]["reason"] == "not_in_reintegration"
