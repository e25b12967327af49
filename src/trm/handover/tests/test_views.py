"""The handover panel on the case page (both nodes), the handover page, the
arrival form (a confirmation before it is sent) and the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from trm.accounts.models import Role
from trm.cases.tests.factories import team_member
from trm.cases.tracks import Assistance
from trm.exchange.models import OutboxMessage
from trm.handover.models import HandoverStatus
from trm.handover.schemas import RETURN_HANDOVER_ARRIVAL

from .helpers import announce, journey, origin_case

pytestmark = pytest.mark.django_db


def test_the_destination_case_page_shows_the_expected_arrival(caseworker_a, signed_in):
    case, ncp, row = journey(caseworker_a)
    page = signed_in(ncp).get(f"/cases/{case.pk}/").content.decode()
    assert 'id="handover"' in page
    assert 'data-status="announced"' in page
    assert "Safety alert if not confirmed by" in page
    assert f"/cases/{case.pk}/handover/{row.pk}/arrival/" not in page
    body = signed_in(ncp).get(f"/cases/{case.pk}/handover/").content.decode()
    assert "Fictiv bus station" in body  # from the return plan, opened here


def test_the_prosecutor_sees_no_handover(caseworker_a, signed_in):
    case, _ncp, _row = journey(caseworker_a)
    prosecutor = team_member(case, Role.PROSECUTOR)
    client = signed_in(prosecutor)
    assert 'id="handover"' not in client.get(f"/cases/{case.pk}/").content.decode()
    assert client.get(f"/cases/{case.pk}/handover/").status_code == 403
    assert client.get(f"/api/v1/cases/{case.pk}/handover").status_code == 403


def test_the_origin_confirms_the_arrival_after_ticking_the_confirmation(
    org_a, signed_in
):
    origin = origin_case(org_a)
    row = announce()
    worker = team_member(origin, Role.CASE_MANAGER)
    client = signed_in(worker)
    page = client.get(f"/cases/{origin.pk}/").content.decode()
    url = f"/cases/{origin.pk}/handover/{row.pk}/arrival/"
    assert url in page
    at = timezone.localtime(timezone.now() - timedelta(minutes=5))
    data = {"arrived": "yes", "at": at.strftime("%Y-%m-%dT%H:%M")}
    # Without the confirmation nothing is sent.
    response = client.post(url, data)
    assert response.status_code == 400
    assert not OutboxMessage.objects.filter(type=RETURN_HANDOVER_ARRIVAL).exists()
    response = client.post(url, {**data, "confirm": "on"})
    assert response.status_code == 302
    origin.refresh_from_db()
    row.refresh_from_db()
    assert origin.assistance == Assistance.REINTEGRATION
    assert row.status == HandoverStatus.ARRIVED
    assert OutboxMessage.objects.filter(type=RETURN_HANDOVER_ARRIVAL).count() == 1
    # A second confirmation: the page is refused with the reason.
    response = client.post(url, {**data, "confirm": "on"})
    assert response.status_code == 400
    assert "already recorded" in response.content.decode()


def test_a_guardian_cannot_confirm_an_arrival(org_a, signed_in):
    origin = origin_case(org_a)
    row = announce()
    guardian = team_member(origin, Role.GUARDIAN)
    response = signed_in(guardian).get(f"/cases/{origin.pk}/handover/{row.pk}/arrival/")
    assert response.status_code == 403


def test_the_api_lists_and_confirms(org_a, signed_in):
    origin = origin_case(org_a)
    row = announce(arrival_point="Fictiv bus station, gate 3")
    worker = team_member(origin, Role.SERVICE_PROVIDER)
    client = signed_in(worker)
    body = client.get(f"/api/v1/cases/{origin.pk}/handover").json()
    [listed] = body["handovers"]
    assert listed["side"] == "origin" and listed["status"] == "announced"
    assert listed["arrival_point"] == "Fictiv bus station, gate 3"
    url = f"/api/v1/cases/{origin.pk}/handover/{row.pk}/arrival"
    future = (timezone.now() + timedelta(hours=3)).isoformat()
    response = client.post(
        url, {"arrived": True, "at": future}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"]["field"] == "at"
    response = client.post(
        url,
        {"arrived": True, "at": timezone.now().isoformat()},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["handovers"][0]["lead_side"] == "origin"
    response = client.post(
        url,
        {"arrived": True, "at": timezone.now().isoformat()},
        content_type="application/json",
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "handover.already_confirmed"


def test_after_the_arrival_the_destination_page_tells_the_return_went_through(
    caseworker_a, signed_in
):
    """The return section, the header's lead and the removal action agree
    with the handover: the person is home, the origin leads."""
    from django.urls import reverse

    from .helpers import arrived

    case, ncp, row = journey(caseworker_a)
    client = signed_in(ncp)
    removal = reverse("identification:enforced_removal", args=[case.pk])
    before = client.get(f"/cases/{case.pk}/").content.decode()
    assert removal in before  # in transit: still offered
    assert 'data-lead="origin"' not in before

    arrived(case, row)
    case.refresh_from_db()
    assert case.assistance == Assistance.FOLLOW_UP
    page = client.get(f"/cases/{case.pk}/").content.decode()
    assert 'data-return="completed"' in page
    assert "Arrived and handed over on" in page
    assert "No return is being prepared." not in page
    assert 'data-lead="origin"' in page
    assert "the country of origin leads since the handover on" in page
    assert removal not in page
    assert client.get(removal).status_code == 409
