"""The reintegration pages: record, plan form, report form, case-page block."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from trm.accounts.models import Role
from trm.cases.tests.factories import team_member
from trm.exchange.models import OutboxMessage
from trm.reintegration import services
from trm.reintegration.models import FollowUp, ReintegrationPlan
from trm.reintegration.tests.helpers import origin_case, transfer_consent

pytestmark = pytest.mark.django_db

START = date(2026, 1, 10)


@pytest.fixture
def origin(org_a):
    return origin_case()


def _plan(case, provider):
    services.reintegration_plan_record(
        actor=provider,
        case_id=case.pk,
        starts_on=START,
        services=["shelter"],
        goals="Fictional goals.",
        case_manager_function="Fictional social worker",
    )


def test_the_empty_record_says_what_comes(origin, signed_in):
    case, provider = origin
    client = signed_in(provider)
    page = client.get(reverse("reintegration:detail", args=[case.pk])).content.decode()
    assert "No reintegration plan recorded yet." in page
    assert "No follow-ups scheduled" in page
    # This node is the country of origin: it makes the reports, it does not
    # wait for one "from the country of origin".
    assert 'data-side="origin"' in page
    assert "This node is the country of origin" in page
    assert "No follow-up report has been received" not in page
    assert reverse("reintegration:plan", args=[case.pk]) in page
    case_page = client.get(reverse("cases:detail", args=[case.pk])).content.decode()
    assert 'id="reintegration"' in case_page


def test_the_plan_form_records_the_plan(origin, signed_in):
    case, provider = origin
    client = signed_in(provider)
    url = reverse("reintegration:plan", args=[case.pk])
    assert client.get(url).status_code == 200
    answer = client.post(
        url,
        {
            "starts_on": "2026-01-10",
            "services": ["shelter", "medical"],
            "goals": "Fictional goals.",
            "case_manager_function": "Fictional social worker",
            "report_to_node": "peer-bg",
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    plan = ReintegrationPlan.objects.get(case=case)
    assert plan.report_to_node == "peer-bg"
    page = client.get(answer["Location"]).content.decode()
    assert "Shelter" in page and "Fictional goals." in page
    assert page.count(">Record the report<") == 4


def test_a_bad_plan_is_shown_at_its_field(origin, signed_in):
    case, provider = origin
    answer = signed_in(provider).post(
        reverse("reintegration:plan", args=[case.pk]),
        {"starts_on": "2026-01-10", "goals": "Fictional goals."},
    )
    assert answer.status_code == 400
    assert "Choose at least one service." in answer.content.decode()
    assert not ReintegrationPlan.objects.exists()


def _report_post(follow_up, **overrides):
    data = {
        "reported_on": follow_up.due_on.isoformat(),
        "services_given": ["psychological"],
        "status_housing": "stable",
        "status_health": "at_risk",
        "status_income": "unknown",
        "status_education": "not_applicable",
        "risk_level": "low",
        "risk_note": "Fictional: calm.",
        "contact_kept": "on",
        "send": "on",
        "confirm": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_the_report_form_sends_with_consent_and_confirmation(origin, signed_in):
    case, provider = origin
    _plan(case, provider)
    given = transfer_consent(case, provider)
    first = FollowUp.objects.get(case=case, sequence=1)
    client = signed_in(provider)
    url = reverse("reintegration:report", args=[case.pk, first.pk])
    page = client.get(url).content.decode()
    assert "peer-bg" in page and str(given.pk) in page
    # Sending without the confirmation is refused at the box.
    answer = client.post(
        url, _report_post(first, consent_id=str(given.pk), confirm=None)
    )
    assert answer.status_code == 400
    assert "Confirm the person agrees" in answer.content.decode()
    answer = client.post(url, _report_post(first, consent_id=str(given.pk)))
    assert answer.status_code == 302
    assert OutboxMessage.objects.filter(type="followup.report").count() == 1
    first.refresh_from_db()
    assert first.is_reported and first.sent_to_node == "peer-bg"


def test_without_a_consent_the_form_says_so_and_nothing_is_recorded(origin, signed_in):
    case, provider = origin
    _plan(case, provider)
    first = FollowUp.objects.get(case=case, sequence=1)
    client = signed_in(provider)
    url = reverse("reintegration:report", args=[case.pk, first.pk])
    assert "No valid consent" in client.get(url).content.decode()
    answer = client.post(url, _report_post(first))
    assert answer.status_code == 400
    assert "only with the person" in answer.content.decode()
    first.refresh_from_db()
    assert not first.is_reported
    # Kept here only, it is recorded.
    answer = client.post(url, _report_post(first, send=None, confirm=None))
    assert answer.status_code == 302
    first.refresh_from_db()
    assert first.is_reported and first.sent_to_node == ""


def test_a_prosecutor_sees_no_reintegration(origin, signed_in):
    case, _provider = origin
    prosecutor = team_member(case, Role.PROSECUTOR)
    client = signed_in(prosecutor)
    assert (
        client.get(reverse("reintegration:detail", args=[case.pk])).status_code == 403
    )
    assert (
        'id="reintegration"'
        not in client.get(reverse("cases:detail", args=[case.pk])).content.decode()
    )


def test_the_forms_wait_for_the_return(org_a, signed_in):
    case, provider = origin_case(assistance="long_term")
    client = signed_in(provider)
    assert client.get(reverse("reintegration:plan", args=[case.pk])).status_code == 409
    page = client.get(reverse("cases:detail", args=[case.pk])).content.decode()
    assert "Reintegration starts once the person has returned" in page


def test_the_destination_waits_for_reports_from_the_country_of_origin(
    caseworker_a, signed_in
):
    """On the node that returned the person, the same page tells what it
    receives (and not that it is the country of origin)."""
    from trm.cases.tests.factories import open_case, set_states
    from trm.reintegration.tests.factories import handed_over_to

    case = open_case(caseworker_a, citizenships=["RO"])
    set_states(case, assistance="follow_up")
    handed_over_to(case)
    page = (
        signed_in(caseworker_a)
        .get(reverse("reintegration:detail", args=[case.pk]))
        .content.decode()
    )
    assert 'data-side="destination"' in page
    assert "No follow-up report has been received from the country of origin." in page
    assert "This node is the country of origin" not in page
