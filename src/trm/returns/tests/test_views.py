"""The return record's pages, the case-page panel and the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from trm.accounts.models import Role
from trm.audit.models import AuditEntry
from trm.cases.tests.factories import open_case, team_member
from trm.cases.tracks import Assistance

from .helpers import arrival_in, preparing_case, ready_case, snapshot

pytestmark = pytest.mark.django_db


def test_the_case_page_lists_what_the_return_still_needs(caseworker_a, signed_in):
    case, _ = preparing_case(caseworker_a, child=True)
    page = signed_in(caseworker_a).get(f"/cases/{case.pk}/").content.decode()
    assert 'id="return-blockers"' in page
    for code in ("joint_risk_missing", "bid_missing", "escort_not_assigned"):
        assert f'data-code="{code}"' in page


def test_the_case_page_shows_an_empty_state_before_a_return(caseworker_a, signed_in):
    case = open_case(caseworker_a)
    page = signed_in(caseworker_a).get(f"/cases/{case.pk}/").content.decode()
    assert "No return is being prepared." in page
    assert "return-blockers" not in page


def test_a_prosecutor_sees_no_return_record(caseworker_a, signed_in):
    case, _ = ready_case(caseworker_a)
    client = signed_in(team_member(case, Role.PROSECUTOR))
    assert 'id="return"' not in client.get(f"/cases/{case.pk}/").content.decode()
    assert client.get(f"/cases/{case.pk}/return/").status_code == 403
    assert client.get(f"/api/v1/cases/{case.pk}/return").status_code == 403
    # Each refused attempt is audited (codes only), and nothing was read.
    assert AuditEntry.objects.filter(action="returns.read_refused").count() == 2
    assert not AuditEntry.objects.filter(action="returns.read").exists()
    assert client.get(f"/cases/{case.pk}/handover/").status_code == 403
    assert AuditEntry.objects.filter(action="handover.read_refused").count() == 1
    assert client.get(f"/cases/{case.pk}/reintegration/").status_code == 403
    assert AuditEntry.objects.filter(action="reintegration.read_refused").count() == 1


def test_the_record_page_opens_the_sealed_text_and_audits_the_read(
    caseworker_a, signed_in
):
    case, _ = ready_case(caseworker_a, child=True)
    response = signed_in(caseworker_a).get(f"/cases/{case.pk}/return/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "grandmother" in page
    assert "Fictiv bus station" in page
    assert "Every condition is met." in page
    assert AuditEntry.objects.filter(action="returns.read").count() == 1


def test_a_bad_form_is_shown_again_with_the_reason_and_nothing_changes(
    caseworker_a, signed_in
):
    case, _ = preparing_case(caseworker_a, child=True)
    before = snapshot(case)
    response = signed_in(caseworker_a).post(
        f"/cases/{case.pk}/return/best-interests/",
        {
            "determined_on": timezone.localdate().isoformat(),
            "panel": ["social_services", "case_manager"],
            "outcome": "return_to_family",
            "guardian_opinion": "agrees",
            "child_views": "Fictional views",
        },
    )
    assert response.status_code == 400
    assert "The guardian takes part" in response.content.decode()
    assert snapshot(case) == before


def test_the_journey_form_lists_every_blocker(caseworker_a, signed_in):
    case, ncp = preparing_case(caseworker_a)
    before = snapshot(case)
    response = signed_in(ncp).post(f"/cases/{case.pk}/return/in-transit/", {})
    page = response.content.decode()
    assert response.status_code == 400
    for code in ("return_consent", "joint_risk_missing", "travel_document_missing"):
        assert f'data-code="{code}"' in page
    assert snapshot(case) == before


def test_the_journey_starts_from_the_page_when_ready(caseworker_a, signed_in):
    case, ncp = ready_case(caseworker_a)
    client = signed_in(ncp)
    assert (
        'name="expected_arrival_at"'
        in client.get(f"/cases/{case.pk}/return/in-transit/").content.decode()
    )
    response = client.post(f"/cases/{case.pk}/return/in-transit/", {})
    assert response.status_code == 400
    assert "expected arrival" in response.content.decode().lower()
    arrival = timezone.localtime(arrival_in(8))
    response = client.post(
        f"/cases/{case.pk}/return/in-transit/",
        {"expected_arrival_at": arrival.strftime("%Y-%m-%dT%H:%M")},
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.assistance == Assistance.IN_TRANSIT


def test_the_journey_form_offers_the_transfer_consent_and_sends_under_it(
    caseworker_a, signed_in
):
    from trm.consent import services as consent
    from trm.exchange.models import OutboxMessage

    case, ncp = ready_case(caseworker_a)
    given = consent.consent_record(
        actor=caseworker_a,
        case_id=case.pk,
        purpose="cross_border_transfer",
        categories=["case_summary"],
        given_by="person",
        language="ro",
        recipient_country="RO",
        declaration="Fictional declaration",
    )
    client = signed_in(ncp)
    url = f"/cases/{case.pk}/return/in-transit/"
    assert f'value="consent:{given.pk}"' in client.get(url).content.decode()
    arrival = timezone.localtime(arrival_in(8))
    response = client.post(
        url,
        {
            "expected_arrival_at": arrival.strftime("%Y-%m-%dT%H:%M"),
            "arrival_point": "Fictiv central station, platform 2",
            "legal_basis": f"consent:{given.pk}",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    [message] = OutboxMessage.objects.filter(type="return.handover")
    assert message.legal_basis == f"consent:{given.pk}"
    assert message.categories == ["case_summary"]


def test_a_contact_point_through_node_policy_cannot_start_the_journey(
    caseworker_a, signed_in, org_b
):
    """The journey page is not one the origin's contact point may use through
    node policy: it is the destination's team's."""
    from trm.accounts.tests.factories import UserFactory

    case, _ = ready_case(caseworker_a)
    outsider = UserFactory(organisation=org_b, roles=[Role.NATIONAL_CONTACT_POINT])
    response = signed_in(outsider).get(f"/cases/{case.pk}/return/in-transit/")
    assert response.status_code in {403, 404}


def test_the_api_starts_the_journey_with_its_expected_arrival(caseworker_a, signed_in):
    case, ncp = ready_case(caseworker_a)
    client = signed_in(ncp)
    url = f"/api/v1/cases/{case.pk}/return/in-transit"
    past = (timezone.now() - timedelta(hours=1)).isoformat()
    response = client.post(
        url, data={"expected_arrival_at": past}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"]["field"] == "expected_arrival_at"
    response = client.post(
        url,
        data={"expected_arrival_at": arrival_in(8).isoformat()},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    case.refresh_from_db()
    assert case.assistance == Assistance.IN_TRANSIT


def test_the_joint_risk_form_records_both_sides(caseworker_a, signed_in):
    case, _ = preparing_case(caseworker_a)
    today = timezone.localdate()
    data = {
        "assessed_on": today.isoformat(),
        "valid_until": today.isoformat(),
        "overall_level": "medium",
        "mitigations": "Fictional mitigation",
        "first_needs": ["shelter", "health"],
        "origin_organisation": "Fictiv Centre",
    }
    for item in ("traffickers", "community_family", "health", "housing"):
        data[f"destination_{item}"] = "medium"
        data[f"origin_{item}"] = "low"
    for item in ("income", "stigma", "legal"):
        data[f"destination_{item}"] = "low"
        data[f"origin_{item}"] = "low"
    client = signed_in(caseworker_a)
    response = client.post(f"/cases/{case.pk}/return/joint-risk/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    body = client.get(f"/api/v1/cases/{case.pk}/return").json()
    assert body["joint_risk"]["effective_level"] == "medium"
    assert body["joint_risk"]["first_needs"] == ["health", "shelter"]
    assert "joint_risk_missing" not in [b["code"] for b in body["blockers"]]


def test_the_api_refuses_a_childs_journey_naming_every_condition(
    caseworker_a, signed_in
):
    case, ncp = preparing_case(caseworker_a, child=True)
    response = signed_in(ncp).post(
        f"/api/v1/cases/{case.pk}/return/in-transit",
        data={},
        content_type="application/json",
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "returns.blocked"
    codes = [b["code"] for b in error["details"]["blockers"]]
    assert {"bid_missing", "carer_not_confirmed", "escort_not_assigned"} <= set(codes)


def test_the_api_records_the_receivers_answer(caseworker_a, signed_in):
    case, _ = preparing_case(caseworker_a)
    response = signed_in(caseworker_a).post(
        f"/api/v1/cases/{case.pk}/return/receiver",
        data={
            "decision": "accepted",
            "organisation": "Fictiv Centre",
            "decided_on": timezone.localdate().isoformat(),
        },
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["plan"]["receiver_decision"] == "accepted"


def test_after_the_journey_started_the_pages_show_the_record_not_what_is_missing(
    caseworker_a, signed_in
):
    # An adult's journey from this node (destination): the case page links
    # to the return record, which no longer says what is "still missing".
    from trm.returns.services import return_in_transit

    case, ncp = ready_case(caseworker_a)
    client = signed_in(ncp)
    record = client.get(f"/cases/{case.pk}/return/").content.decode()
    assert "Every condition is met." in record
    return_in_transit(actor=ncp, case_id=case.pk, expected_arrival_at=arrival_in(8))
    case.refresh_from_db()
    assert case.assistance == Assistance.IN_TRANSIT
    record = client.get(f"/cases/{case.pk}/return/").content.decode()
    assert 'id="return-journey"' in record
    assert "Still missing before the journey can start" not in record
    assert 'id="return-blockers"' not in record
    page = client.get(f"/cases/{case.pk}/").content.decode()
    assert f'href="/cases/{case.pk}/return/"' in page
    assert "Open the return record" in page


def test_the_destination_sees_the_origins_ratings_of_its_joint_assessment(
    caseworker_a, signed_in
):
    # On the destination the assessment is recorded here, not received: the
    # page shows it with the origin's ratings, not "None received".
    case, ncp = ready_case(caseworker_a)
    page = signed_in(ncp).get(f"/cases/{case.pk}/return/across/").content.decode()
    assert 'id="joint-own-heading"' in page
    assert "The country of origin rated its side on" in page
    assert 'id="joint-in-heading"' not in page
    assert "None received." in page  # the return plans: none here
