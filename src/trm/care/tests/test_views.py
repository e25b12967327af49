"""Care pages: the case page's section, each form, refusals next to their field."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from tests.test_accessibility import assert_invalid_fields_described, assert_page_basics

from trm.accounts.models import Role
from trm.care import episodes, services
from trm.care.models import CarePlan, PlanStatus, ResidenceStatus, ServiceEpisode
from trm.care.tests.helpers import (
    GOALS,
    agreed,
    close,
    draft,
    enter_long_term,
    erase,
    give_consent,
    snapshot,
)
from trm.cases.tests.factories import adult_birth_date, open_case, team_member
from trm.sop import loader

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate


@pytest.fixture(autouse=True)
def _fresh_definitions():
    loader.clear_cache()
    yield
    loader.clear_cache()


@pytest.fixture
def case(caseworker_a):
    return open_case(caseworker_a, birth_date=adult_birth_date())


@pytest.fixture
def client_a(signed_in, caseworker_a):
    return signed_in(caseworker_a)


def url(name: str, case, *args: Any) -> str:
    return reverse(f"care:{name}", args=[case.pk, *args])


def html(response) -> str:
    return str(response.content.decode())


def plan_form(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "goals": GOALS,
        "duration": "medium",
        "responsible": "",
        "services-TOTAL_FORMS": "2",
        "services-INITIAL_FORMS": "0",
        "services-MIN_NUM_FORMS": "0",
        "services-MAX_NUM_FORMS": "30",
        "services-0-service_type": "shelter",
        "services-0-frequency": "Every night",
        "services-0-notes": "",
        "services-1-service_type": "",
        "services-1-frequency": "",
        "services-1-notes": "",
    }
    data.update(overrides)
    return data


# --- the case page --------------------------------------------------------------


def test_the_case_page_shows_the_care_section_with_the_deadline(
    case, caseworker_a, client_a
):
    enter_long_term(case)
    draft(case, caseworker_a)
    page = html(client_a.get(reverse("cases:detail", args=[case.pk])))
    assert 'id="care"' in page
    assert "Care plan due by" in page and "30 days" in page
    assert "Draft" in page
    assert "No residence status recorded yet." in page
    assert url("plan_edit", case) not in page  # a plan exists: open it instead
    assert url("plan", case) in page


def test_the_case_page_shows_residence_tags_and_latest_services(
    case, caseworker_a, client_a
):
    today = TODAY()
    from trm.care import residence

    residence.residence_status_record(
        actor=caseworker_a,
        case_id=case.pk,
        residence_type="temp_permit_cooperation",
        valid_from=today - timedelta(days=200),
        valid_until=today + timedelta(days=5),
        document_number="ZZ4242",
    )
    episodes.service_episode_record(
        actor=caseworker_a,
        case_id=case.pk,
        service_type="legal_aid",
        started_on=today,
        provider_name="Fictional Law Clinic",
    )
    page = html(client_a.get(reverse("cases:detail", args=[case.pk])))
    assert "Renewal due" in page
    assert "ZZ4242" not in page  # numbers only on the residence page
    assert "Fictional Law Clinic" in page
    assert "Legal aid" in page


def test_a_prosecutor_sees_no_care_section(case, signed_in):
    prosecutor = team_member(case, Role.PROSECUTOR)
    page = html(signed_in(prosecutor).get(reverse("cases:detail", args=[case.pk])))
    assert 'id="care"' not in page
    assert signed_in(prosecutor).get(url("plan", case)).status_code == 403


# --- the care plan -----------------------------------------------------------------


def test_the_plan_page_without_a_plan_offers_to_write_one(case, client_a):
    response = client_a.get(url("plan", case))
    assert response.status_code == 200
    assert_page_basics(html(response))
    assert "No care plan yet" in html(response)
    assert url("plan_edit", case) in html(response)


def test_writing_the_plan(case, caseworker_a, client_a):
    response = client_a.get(url("plan_edit", case))
    assert response.status_code == 200
    assert_page_basics(html(response))
    response = client_a.post(url("plan_edit", case), plan_form())
    assert response.status_code == 302
    assert response["Location"] == url("plan", case)
    plan = CarePlan.objects.get(case=case)
    assert plan.status == PlanStatus.DRAFT
    assert plan.responsible == caseworker_a  # the writer, when none is chosen
    assert [p.service_type for p in plan.planned_services.all()] == ["shelter"]
    page = html(client_a.get(url("plan", case)))
    assert GOALS in page and "Every night" in page


def test_a_service_provider_on_the_team_may_be_made_responsible(case, client_a):
    provider = team_member(case, Role.SERVICE_PROVIDER)
    page = html(client_a.get(url("plan_edit", case)))
    assert f'<option value="{provider.pk}">' in page
    response = client_a.post(url("plan_edit", case), plan_form(responsible=provider.pk))
    assert response.status_code == 302
    assert CarePlan.objects.get(case=case).responsible == provider


def test_a_long_plan_is_saved_with_a_warning(case, client_a):
    response = client_a.post(
        url("plan_edit", case), plan_form(duration="long"), follow=True
    )
    assert "normally last no longer than 1 year" in html(response)
    assert CarePlan.objects.get(case=case).duration == "long"


def test_a_plan_without_goals_is_shown_again_with_what_was_typed(case, client_a):
    before = snapshot(case)
    response = client_a.post(url("plan_edit", case), plan_form(goals=" "))
    assert response.status_code == 400
    page = html(response)
    tree = assert_page_basics(page)
    assert assert_invalid_fields_described(tree)
    assert "Write the long-term goals" in page
    assert "Every night" in page  # the service row is kept
    assert snapshot(case) == before


def test_a_bad_service_row_gets_the_message(case, client_a):
    response = client_a.post(
        url("plan_edit", case), plan_form(**{"services-0-frequency": "a\u202eb"})
    )
    assert response.status_code == 400
    page = html(response)
    assert "Check the planned services marked below." in page
    assert 'id="id_services-0-frequency_error"' in page
    assert not CarePlan.objects.filter(case=case).exists()


def test_editing_the_draft_shows_its_services(case, caseworker_a, client_a):
    draft(case, caseworker_a)
    page = html(client_a.get(url("plan_edit", case)))
    assert "Twice a week" in page
    assert 'value="psychological" selected' in page


def test_agreeing_without_consent_links_to_recording_it(case, caseworker_a, client_a):
    draft(case, caseworker_a)
    record_url = reverse("consent:record", args=[case.pk])
    page = html(client_a.get(url("plan_agree", case)))
    assert "No valid consent is recorded for: Assistance and services." in page
    assert record_url in page
    before = snapshot(case)
    response = client_a.post(url("plan_agree", case), {"note": "Fictional"})
    assert response.status_code == 400
    assert "No valid consent is recorded for: Assistance and services." in html(
        response
    )
    assert record_url in html(response)
    assert snapshot(case) == before


def test_agreeing_with_consent(case, caseworker_a, client_a):
    draft(case, caseworker_a)
    give_consent(case, caseworker_a)
    page = html(client_a.get(url("plan_agree", case)))
    assert "Consent to assistance given on" in page
    response = client_a.post(url("plan_agree", case), {"note": ""})
    assert response.status_code == 302
    assert CarePlan.objects.get(case=case).status == PlanStatus.AGREED
    page = html(client_a.get(url("plan", case)))
    assert url("plan_review", case) in page
    assert url("plan_edit", case) not in page


def test_forms_the_plan_state_does_not_allow_answer_409(case, caseworker_a, client_a):
    assert client_a.get(url("plan_agree", case)).status_code == 409
    assert client_a.get(url("plan_review", case)).status_code == 409
    agreed(case, caseworker_a)
    assert client_a.get(url("plan_edit", case)).status_code == 409
    assert client_a.get(url("plan_agree", case)).status_code == 409


def test_a_review_in_the_future_is_refused_on_its_field(case, caseworker_a, client_a):
    agreed(case, caseworker_a)
    assert client_a.get(url("plan_review", case)).status_code == 200
    tomorrow = TODAY() + timedelta(days=1)
    response = client_a.post(
        url("plan_review", case),
        {"reviewed_on": tomorrow.isoformat(), "outcome": "continue", "note": "Kept"},
    )
    assert response.status_code == 400
    page = html(response)
    assert 'id="id_reviewed_on_error"' in page and "in the future" in page
    assert "Kept" in page
    response = client_a.post(
        url("plan_review", case),
        {"reviewed_on": TODAY().isoformat(), "outcome": "close", "note": ""},
    )
    assert response.status_code == 302
    assert CarePlan.objects.get(case=case).status == PlanStatus.CLOSED
    page = html(client_a.get(url("plan", case)))
    assert "Earlier plans" in page and "Close the plan" in page


def test_other_roles_read_but_do_not_write(case, signed_in):
    guardian = team_member(case, Role.GUARDIAN)
    client = signed_in(guardian)
    assert client.get(url("plan", case)).status_code == 200
    assert client.get(url("plan_edit", case)).status_code == 403
    assert client.get(url("residence_add", case)).status_code == 403
    assert client.get(url("service_add", case)).status_code == 403


def test_a_closed_case_takes_no_new_care_records(case, client_a):
    close(case)
    assert client_a.get(url("plan", case)).status_code == 200
    assert client_a.get(url("plan_edit", case)).status_code == 409
    assert client_a.get(url("residence_add", case)).status_code == 409


def test_after_erasure_the_plan_can_no_longer_be_read(case, caseworker_a, client_a):
    agreed(case, caseworker_a)
    erase(case)
    page = html(client_a.get(url("plan", case)))
    assert "can no longer be read" in page and GOALS not in page
    assert client_a.get(url("plan_review", case)).status_code == 409


# --- residence ---------------------------------------------------------------------


def residence_form(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "residence_type": "temp_permit_personal_situation",
        "valid_from": TODAY().isoformat(),
        "valid_until": (TODAY() + timedelta(days=365)).isoformat(),
        "issuing_authority": "Fictional Migration Office",
        "document_number": "ZZ55",
        "renewal_notice_days": "30",
    }
    data.update(overrides)
    return data


def test_recording_residence_and_replacing_it_after_confirmation(case, client_a):
    response = client_a.get(url("residence_add", case))
    assert response.status_code == 200
    assert_page_basics(html(response))
    response = client_a.post(url("residence_add", case), residence_form(), follow=True)
    assert response.redirect_chain[-1][0] == url("residence", case)
    assert "Residence permit (personal situation)" in html(response)  # the track
    assert "ZZ55" in html(response)
    later = residence_form(
        valid_from=(TODAY() + timedelta(days=300)).isoformat(),
        valid_until=(TODAY() + timedelta(days=800)).isoformat(),
        document_number="ZZ66",
    )
    before = snapshot(case)
    response = client_a.post(url("residence_add", case), later)
    assert response.status_code == 200
    page = html(response)
    assert "This replaces the current record" in page
    assert "Record and replace" in page and 'name="confirm_replace"' in page
    assert snapshot(case) == before
    response = client_a.post(
        url("residence_add", case), {**later, "confirm_replace": "True"}
    )
    assert response.status_code == 302
    assert ResidenceStatus.objects.filter(case=case).count() == 2
    page = html(client_a.get(url("residence", case)))
    assert "Replaced records" in page and "ZZ55" in page and "ZZ66" in page


def test_a_residence_end_before_its_start_is_refused_on_its_field(case, client_a):
    before = snapshot(case)
    response = client_a.post(
        url("residence_add", case),
        residence_form(valid_until=(TODAY() - timedelta(days=1)).isoformat()),
    )
    assert response.status_code == 400
    tree = assert_page_basics(html(response))
    assert assert_invalid_fields_described(tree)
    assert 'id="id_valid_until_error"' in html(response)
    assert "Fictional Migration Office" in html(response)
    assert snapshot(case) == before


def test_the_residence_page_without_records(case, client_a):
    page = html(client_a.get(url("residence", case)))
    assert "No residence status recorded yet." in page
    assert url("residence_add", case) in page


# --- services given ---------------------------------------------------------------


def test_recording_and_ending_a_service(case, client_a):
    response = client_a.get(url("service_add", case))
    assert response.status_code == 200
    assert_page_basics(html(response))
    response = client_a.post(
        url("service_add", case),
        {
            "service_type": "psychological",
            "provider": "",
            "provider_name": "Fictional Therapist Group",
            "started_on": TODAY().isoformat(),
            "outcome": "ongoing",
            "ended_on": "",
            "note": "Fictional",
        },
    )
    assert response.status_code == 302
    episode = ServiceEpisode.objects.get(case=case)
    page = html(client_a.get(url("services", case)))
    assert "Fictional Therapist Group" in page
    end = url("service_end", case, episode.pk)
    assert end in page
    confirm = client_a.get(end)
    assert confirm.status_code == 200
    assert "End this service?" in html(confirm)
    response = client_a.post(
        end, {"outcome": "completed", "ended_on": TODAY().isoformat(), "note": ""}
    )
    assert response.status_code == 302
    episode.refresh_from_db()
    assert episode.outcome == "completed"
    assert client_a.get(end).status_code == 409


def test_a_service_with_bad_dates_is_shown_again(case, client_a):
    before = snapshot(case)
    response = client_a.post(
        url("service_add", case),
        {
            "service_type": "shelter",
            "started_on": (TODAY() + timedelta(days=2)).isoformat(),
            "outcome": "ongoing",
            "provider_name": "Fictional Kept Name",
        },
    )
    assert response.status_code == 400
    assert 'id="id_started_on_error"' in html(response)
    assert "Fictional Kept Name" in html(response)
    assert snapshot(case) == before


def test_the_services_list_is_paginated(case, caseworker_a, client_a):
    for days in range(30):
        episodes.service_episode_record(
            actor=caseworker_a,
            case_id=case.pk,
            service_type="shelter",
            started_on=TODAY() - timedelta(days=days),
        )
    first = html(client_a.get(url("services", case)))
    assert "Page 1 of 2" in first
    second = client_a.get(url("services", case) + "?page=2")
    assert second.status_code == 200
    assert html(second).count("<tr>") == 1 + 5  # header + the last five


def test_the_services_list_is_empty_at_first(case, client_a):
    page = html(client_a.get(url("services", case)))
    assert "No service recorded yet." in page


def test_ending_a_service_of_another_case_is_not_found(case, caseworker_a, client_a):
    other = open_case(caseworker_a)
    elsewhere = episodes.service_episode_record(
        actor=caseworker_a,
        case_id=other.pk,
        service_type="shelter",
        started_on=TODAY(),
    )
    assert client_a.get(url("service_end", case, elsewhere.pk)).status_code == 404


def test_review_page_of_a_closed_plan_says_it_is_closed(case, caseworker_a, client_a):
    from trm.care.tests.helpers import agreed

    agreed(case, caseworker_a)
    services.care_plan_review(
        actor=caseworker_a,
        case_id=case.pk,
        reviewed_on=timezone.localdate(),
        outcome="close",
        note="",
    )
    response = client_a.get(url("plan_review", case))
    assert response.status_code == 409
    assert "This care plan is closed: start a new plan." in html(response)
