"""The proceedings pages and API: who sees what, forms and structured errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.urls import reverse

from trm.accounts.models import Role
from trm.audit.models import AuditEntry
from trm.cases import services as cases
from trm.cases.models import Case
from trm.cases.tests.factories import open_case, team_member
from trm.cases.tracks import Legal
from trm.proceedings.models import RightsInformation
from trm.proceedings.tests.helpers import LAWYER, charge, days_ago, inform, snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def case(caseworker_a) -> Case:
    return open_case(caseworker_a)


def _post_json(client: Any, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


def test_the_prosecutor_sees_the_legal_records_and_the_case_section(
    case, caseworker_a, signed_in
):
    prosecutor = team_member(case, Role.PROSECUTOR)
    inform(case, caseworker_a)
    charge(case, caseworker_a, charge="Fictional charge: forged visa")
    client = signed_in(prosecutor)
    page = client.get(reverse("proceedings:page", args=[case.pk]))
    assert page.status_code == 200
    assert LAWYER in page.content.decode()
    assert "Fictional charge: forged visa" in page.content.decode()
    assert AuditEntry.objects.filter(action="proceedings.records_read").exists()
    detail = client.get(reverse("cases:detail", args=[case.pk])).content.decode()
    assert 'id="proceedings"' in detail


def test_a_prosecutor_opening_assistance_notes_is_refused(
    case, caseworker_a, signed_in
):
    """Issue "SOP 5": the prosecutor sees the legal track, never assistance notes."""
    prosecutor = team_member(case, Role.PROSECUTOR)
    cases.case_note_add(
        actor=caseworker_a,
        case_id=case.pk,
        text="Fictional assistance note",
        visibility="assistance_only",
    )
    cases.case_note_add(
        actor=caseworker_a,
        case_id=case.pk,
        text="Fictional legal note",
        visibility="legal",
    )
    client = signed_in(prosecutor)
    notes = client.get(f"/api/v1/cases/{case.pk}/notes").json()
    assert [n["text"] for n in notes] == ["Fictional legal note"]
    page = client.get(reverse("cases:detail", args=[case.pk])).content.decode()
    assert "Fictional legal note" in page
    assert "Fictional assistance note" not in page
    # Assistance content pages answer 403 for the legal track.
    care = client.get(reverse("care:plan", args=[case.pk]))
    assert care.status_code == 403
    # Nor may the prosecutor write an assistance-only note they could not read.
    answer = _post_json(
        client,
        f"/api/v1/cases/{case.pk}/notes",
        {"text": "Fictional", "visibility": "assistance_only"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["details"]["field"] == "visibility"


def test_a_service_provider_does_not_read_the_proceedings(case, signed_in):
    provider = team_member(case, Role.SERVICE_PROVIDER)
    client = signed_in(provider)
    answer = client.get(reverse("proceedings:page", args=[case.pk]))
    assert answer.status_code == 403
    api = client.get(f"/api/v1/cases/{case.pk}/proceedings")
    assert api.json()["error"]["code"] == "proceedings.not_for_role"
    detail = client.get(reverse("cases:detail", args=[case.pk])).content.decode()
    assert 'id="proceedings"' not in detail


def test_the_rights_form_redisplays_a_missing_field_and_changes_nothing(
    case, caseworker_a, signed_in
):
    client = signed_in(caseworker_a)
    url = reverse("proceedings:rights", args=[case.pk])
    assert client.get(url).status_code == 200
    before = snapshot(case)
    filled = {
        "informed_on": str(days_ago(1)),
        "language": "ro",
        "interpreter": "no",
        "has_lawyer": "no",
        "lawyer": "",
    }
    answer = client.post(url, {**filled, "interpreter": ""})
    assert answer.status_code == 400
    assert "Say whether an interpreter was present." in answer.content.decode()
    assert 'value="ro"' in answer.content.decode()
    assert snapshot(case) == before
    answer = client.post(url, {**filled, "has_lawyer": ""})
    assert answer.status_code == 400
    assert "Say whether the person had a lawyer." in answer.content.decode()
    assert snapshot(case) == before
    answer = client.post(url, {**filled, "lawyer": "Fictional Bar"})
    assert answer.status_code == 400
    assert "person had no lawyer" in answer.content.decode()
    assert snapshot(case) == before
    answer = client.post(url, filled)
    assert answer.status_code == 302
    case.refresh_from_db()
    assert case.legal == Legal.INFORMED_OF_RIGHTS
    assert RightsInformation.objects.get(case=case).lawyer_organisation == ""


def test_the_api_answers_structured_errors_and_changes_nothing(
    case, caseworker_a, signed_in
):
    client = signed_in(caseworker_a)
    base = f"/api/v1/cases/{case.pk}/proceedings"
    before = snapshot(case)
    answer = _post_json(
        client,
        f"{base}/compensation",
        {"route": "criminal", "filed_on": str(days_ago(3)), "amount": "1500.00"},
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["code"], error["details"]["field"]) == (
        "cases.invalid_input",
        "currency",
    )
    answer = _post_json(
        client,
        f"{base}/compensation",
        {
            "route": "criminal",
            "filed_on": str(days_ago(3)),
            "amount": "1500",
            "currency": "EUX",
        },
    )
    assert answer.json()["error"]["details"]["reason"] == "unknown_currency"
    answer = _post_json(client, f"{base}/rights", {"language": "ro"})
    assert answer.status_code == 400
    rights = {
        "informed_on": str(days_ago(1)),
        "language": "ro",
        "interpreter": False,
        "lawyer": "",
    }
    answer = _post_json(client, f"{base}/rights", rights)
    assert answer.status_code == 400
    assert answer.json()["error"]["details"]["field"] == "has_lawyer"
    answer = _post_json(
        client, f"{base}/rights", {**rights, "has_lawyer": False, "lawyer": "none"}
    )
    assert answer.json()["error"]["details"]["field"] == "lawyer"
    assert snapshot(case) == before
    answer = _post_json(
        client,
        f"{base}/compensation",
        {
            "route": "state",
            "filed_on": str(days_ago(3)),
            "amount": "1500.5",
            "currency": "ron",
        },
    )
    assert answer.status_code == 201, answer.json()
    [claim] = answer.json()["compensation"]
    assert (claim["claimed_amount"], claim["claimed_currency"]) == ("1500.500", "RON")


def test_the_api_walks_a_charge_to_its_outcome(case, caseworker_a, signed_in):
    prosecutor = team_member(case, Role.PROSECUTOR)
    client = signed_in(prosecutor)
    base = f"/api/v1/cases/{case.pk}/proceedings"
    body = _post_json(
        client,
        f"{base}/charges",
        {"offence": "irregular_stay", "flagged_on": str(days_ago(9))},
    ).json()
    record = body["charges"][0]["id"]
    assert (
        _post_json(
            client,
            f"{base}/charges/{record}/assessment",
            {"requested_on": str(days_ago(5))},
        ).status_code
        == 201
    )
    body = _post_json(
        client,
        f"{base}/charges/{record}/decision",
        {
            "outcome": "not_prosecuted",
            "decided_on": str(days_ago(1)),
            "legal_reference": "Fictional Code art. 26",
        },
    ).json()
    assert body["charges"][0]["status"] == "not_prosecuted"
    assert body["charges"][0]["legal_reference"] == "Fictional Code art. 26"
    unknown = _post_json(
        client,
        f"{base}/charges/{case.pk}/assessment",
        {"requested_on": str(days_ago(1))},
    )
    assert unknown.status_code == 404
