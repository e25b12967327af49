"""Referral API: the same services; refusals are structured errors."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from trm.accounts.models import Role
from trm.cases.models import CaseEvent
from trm.cases.tests.factories import open_case, team_member
from trm.referrals.models import Referral, Status
from trm.referrals.tests.factories import (
    RISK,
    SUMMARY,
    consent_for,
    receiver_org,
    receiver_user,
    sent,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def case(caseworker_a):
    return open_case(caseworker_a)


@pytest.fixture
def shelter(db):
    return receiver_org()


@pytest.fixture
def provider(shelter):
    return receiver_user(shelter, username="shelter-provider")


def post(client, url, data=None):
    return client.post(url, json.dumps(data or {}), content_type="application/json")


def body(case, org, **overrides):
    data = {
        "case_id": str(case.pk),
        "to_organisation_id": str(org.pk),
        "services": ["shelter", "medical"],
        "categories": ["identity", "case_summary"],
        "texts": {"case_summary": SUMMARY},
    }
    data.update(overrides)
    return data


def test_create_send_accept_complete(caseworker_a, case, shelter, provider, signed_in):
    consent_for(caseworker_a, case, shelter)
    team = signed_in(caseworker_a)
    meeting_at = (timezone.now() + timedelta(days=1)).isoformat()
    created = post(
        team,
        "/api/v1/referrals",
        body(
            case,
            shelter,
            urgency="urgent",
            meeting={"who": "Fictional Worker", "where": "Fictional", "at": meeting_at},
        ),
    )
    assert created.status_code == 201, created.content
    referral = created.json()
    assert referral["status"] == "draft"
    assert referral["texts"] == {"case_summary": SUMMARY}
    assert referral["meeting"]["who"] == "Fictional Worker"
    sent_ = post(team, f"/api/v1/referrals/{referral['id']}/send")
    assert sent_.status_code == 200, sent_.content
    assert sent_.json()["status"] == "sent"
    assert set(sent_.json()["shared"]) == {"identity", "case_summary"}
    listed = team.get(f"/api/v1/referrals/cases/{case.pk}")
    assert [r["id"] for r in listed.json()] == [referral["id"]]

    receiver = signed_in(provider)
    inbox = receiver.get("/api/v1/referrals/inbox")
    assert inbox.json()["count"] == 1
    assert inbox.json()["items"][0]["urgency"] == "urgent"
    accepted = post(receiver, f"/api/v1/referrals/{referral['id']}/accept")
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "accepted"
    assert (
        post(receiver, f"/api/v1/referrals/{referral['id']}/start").status_code == 200
    )
    feedback = post(
        receiver,
        f"/api/v1/referrals/{referral['id']}/feedback",
        {"outcome": "arrived"},
    )
    assert feedback.status_code == 201
    assert feedback.json()["side"] == "receiver"
    done = post(receiver, f"/api/v1/referrals/{referral['id']}/complete")
    assert done.json()["status"] == "completed"
    assert done.json()["readable"] is False
    assert done.json()["shared"] is None
    history = team.get(f"/api/v1/referrals/{referral['id']}").json()["history"]
    assert [h["to_status"] for h in history] == [
        "draft",
        "sent",
        "accepted",
        "in_progress",
        "completed",
    ]


def test_missing_consent_is_a_structured_error_naming_what_is_missing(
    caseworker_a, case, shelter, signed_in
):
    consent_for(caseworker_a, case, shelter, ["identity"])
    team = signed_in(caseworker_a)
    referral = post(team, "/api/v1/referrals", body(case, shelter)).json()
    response = post(team, f"/api/v1/referrals/{referral['id']}/send")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "consent.missing"
    assert error["details"]["missing_categories"] == ["case_summary"]
    assert Referral.objects.get().status == Status.DRAFT


def test_capacity_warning_until_acknowledged(caseworker_a, case, signed_in):
    full = receiver_org("Fictional Full Shelter", places_free=0)
    consent_for(caseworker_a, case, full)
    team = signed_in(caseworker_a)
    referral = post(team, "/api/v1/referrals", body(case, full)).json()
    response = post(team, f"/api/v1/referrals/{referral['id']}/send")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "referrals.capacity_warning"
    assert response.json()["error"]["details"]["places_free"] == 0
    response = post(
        team,
        f"/api/v1/referrals/{referral['id']}/send",
        {"capacity_warning_accepted": True},
    )
    assert response.status_code == 200
    assert response.json()["status"] == "sent"


def test_an_organisation_not_accepting_is_409(caseworker_a, case, signed_in):
    closed = receiver_org("Fictional Closed Shelter", accepts=False)
    response = post(signed_in(caseworker_a), "/api/v1/referrals", body(case, closed))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "referrals.not_accepting"
    assert response.json()["error"]["details"]["reason"] == "not_accepting"


def test_unknown_fields_are_refused(caseworker_a, case, shelter, signed_in):
    response = post(
        signed_in(caseworker_a), "/api/v1/referrals", body(case, shelter, colour="red")
    )
    assert response.status_code == 422
    assert not Referral.objects.exists()


def test_risk_only_is_marked_for_the_receiver(
    caseworker_a, case, shelter, provider, signed_in
):
    team = signed_in(caseworker_a)
    referral = post(
        team,
        "/api/v1/referrals",
        body(case, shelter, categories=[], texts={"risk": RISK}),
    ).json()
    sent_ = post(team, f"/api/v1/referrals/{referral['id']}/send").json()
    assert sent_["consent_id"] is None
    assert sent_["risk_shared_without_consent"] is True
    view = signed_in(provider).get(f"/api/v1/referrals/inbox/{referral['id']}").json()
    assert view["risk"] == RISK
    assert "BG 1.4" in view["risk_mark"]
    assert view["shared"] == {}


def test_decline_then_not_possible(caseworker_a, case, shelter, provider, signed_in):
    referral = sent(caseworker_a, case, shelter)
    receiver = signed_in(provider)
    bad = post(receiver, f"/api/v1/referrals/{referral.pk}/decline", {"reason": "x"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "cases.invalid_input"
    declined = post(
        receiver, f"/api/v1/referrals/{referral.pk}/decline", {"reason": "safety"}
    )
    assert declined.json()["status"] == "declined"
    team = signed_in(caseworker_a)
    response = post(
        team, f"/api/v1/referrals/{referral.pk}/not-possible", {"reason": "declined"}
    )
    assert response.json()["status"] == "not_possible"
    assert response.json()["outcome_code"] == "declined"
    standalone = post(
        team,
        f"/api/v1/referrals/cases/{case.pk}/not-possible",
        {"reason": "person_refused"},
    )
    assert standalone.status_code == 201
    assert standalone.json()["to_organisation"] is None
    assert CaseEvent.objects.filter(kind="sop2.referral_not_possible").count() == 2


def test_the_receiver_cannot_read_the_team_view_and_others_cannot_act(
    caseworker_a, case, shelter, signed_in
):
    referral = sent(caseworker_a, case, shelter)
    stranger = signed_in(receiver_user(receiver_org("Fictional Other Shelter")))
    response = post(stranger, f"/api/v1/referrals/{referral.pk}/accept")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "referrals.not_found"
    guardian = signed_in(team_member(case, Role.GUARDIAN))
    response = post(
        guardian, f"/api/v1/referrals/{referral.pk}/cancel", {"reason": "other"}
    )
    assert response.status_code == 403
    assert guardian.get(f"/api/v1/referrals/{referral.pk}").status_code == 200


def test_update_a_draft(caseworker_a, case, shelter, signed_in):
    team = signed_in(caseworker_a)
    referral = post(team, "/api/v1/referrals", body(case, shelter)).json()
    data = body(case, shelter, services=["legal_aid"])
    del data["case_id"]
    response = team.put(
        f"/api/v1/referrals/{referral['id']}",
        json.dumps(data),
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["services"] == ["legal_aid"]


def test_the_inbox_is_403_for_roles_that_do_not_receive(signed_in, auditor):
    response = signed_in(auditor).get("/api/v1/referrals/inbox")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "referrals.not_receiver"
