"""The assistance pathway on the case page, its forms and its API."""

from __future__ import annotations

import pytest
from django.urls import reverse

from trm.accounts.models import Role
from trm.accounts.tests.helpers import message_texts
from trm.cases.tests.factories import open_case, set_states, team_member
from trm.cases.tracks import Assistance

pytestmark = pytest.mark.django_db


def test_case_page_offers_the_moves_and_explains_blocked_ones(
    signed_in, caseworker_a, monkeypatch
):
    monkeypatch.setattr(
        "trm.assessments.selectors.has_needs_assessment", lambda case: False
    )
    case = open_case(caseworker_a)
    set_states(case, assistance=Assistance.FIRST_ASSISTANCE)
    page = signed_in(caseworker_a).get(reverse("cases:detail", args=[case.pk]))
    html = page.content.decode()
    assert 'id="assistance"' in html
    assert "First assistance and protection" in html
    assert reverse("assistance:decline", args=[case.pk]) in html
    # Long-term help is shown but blocked, with the reason.
    assert "Start long-term assistance" in html
    assert "Record a needs assessment first." in html
    assert reverse("assistance:long_term", args=[case.pk]) not in html


def test_prosecutor_does_not_see_the_assistance_section(signed_in, caseworker_a):
    case = open_case(caseworker_a)
    prosecutor = team_member(case, Role.PROSECUTOR)
    html = (
        signed_in(prosecutor)
        .get(reverse("cases:detail", args=[case.pk]))
        .content.decode()
    )
    assert 'id="assistance"' not in html


def test_start_form_without_consent_redisplays_with_the_reason_and_a_link(
    signed_in, caseworker_a
):
    case = open_case(caseworker_a)
    client = signed_in(caseworker_a)
    url = reverse("assistance:start", args=[case.pk])
    response = client.post(url, {"basis": "consent", "reason": "Fictional note kept"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "No valid consent is recorded for: Assistance and services." in html
    assert reverse("consent:record", args=[case.pk]) in html
    assert "Fictional note kept" in html  # nothing typed is lost
    case.refresh_from_db()
    assert case.assistance == Assistance.NONE


def test_emergency_start_through_the_form(signed_in, caseworker_a):
    case = open_case(caseworker_a)
    client = signed_in(caseworker_a)
    response = client.post(
        reverse("assistance:start", args=[case.pk]),
        {"basis": "emergency", "reason": "Fictional: hypothermia, night shelter"},
        follow=True,
    )
    assert "First assistance has started." in message_texts(response)
    case.refresh_from_db()
    assert case.assistance == Assistance.FIRST_ASSISTANCE


def test_close_form_requires_a_reason(signed_in, caseworker_a):
    case = open_case(caseworker_a)
    set_states(case, assistance=Assistance.FIRST_ASSISTANCE)
    client = signed_in(caseworker_a)
    response = client.post(reverse("assistance:close", args=[case.pk]), {})
    assert response.status_code == 400
    response = client.post(
        reverse("assistance:close", args=[case.pk]), {"closure": "other"}
    )
    assert "Say why assistance ends." in response.content.decode()
    case.refresh_from_db()
    assert case.assistance == Assistance.FIRST_ASSISTANCE


def test_a_move_the_state_does_not_allow_answers_409(signed_in, caseworker_a):
    case = open_case(caseworker_a)
    response = signed_in(caseworker_a).get(
        reverse("assistance:long_term", args=[case.pk])
    )
    assert response.status_code == 409


def test_api_state_and_start(signed_in, caseworker_a):
    case = open_case(caseworker_a)
    client = signed_in(caseworker_a)
    body = client.get(f"/api/v1/cases/{case.pk}/assistance").json()
    assert body["state"] == "none"
    assert {m["name"] for m in body["moves"]} == {"start", "decline", "close"}
    refused = client.post(
        f"/api/v1/cases/{case.pk}/assistance/start",
        {"basis": "consent"},
        content_type="application/json",
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "consent.missing"
    moved = client.post(
        f"/api/v1/cases/{case.pk}/assistance/start",
        {"basis": "emergency", "reason": "Fictional emergency"},
        content_type="application/json",
    )
    assert moved.status_code == 200, moved.content
    assert moved.json()["state"] == "first_assistance"


def test_api_is_hidden_from_the_prosecutor(signed_in, caseworker_a):
    case = open_case(caseworker_a)
    prosecutor = team_member(case, Role.PROSECUTOR)
    response = signed_in(prosecutor).get(f"/api/v1/cases/{case.pk}/assistance")
    assert response.status_code == 404


def test_timeline_names_why_assistance_closed(signed_in, caseworker_a):
    case = open_case(caseworker_a)
    set_states(case, assistance=Assistance.FIRST_ASSISTANCE)
    from trm.assistance.services import assistance_close

    assistance_close(actor=caseworker_a, case_id=case.pk, closure="goals_met")
    html = (
        signed_in(caseworker_a)
        .get(reverse("cases:detail", args=[case.pk]))
        .content.decode()
    )
    assert "The goals of the support plan were met" in html
