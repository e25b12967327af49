import json

import pytest
from django.urls import reverse

from trm.cases.models import Person
from trm.dataprotection import services
from trm.dataprotection.models import ErasureRequest
from trm.dataprotection.tests import people

Status = ErasureRequest.Status
pytestmark = pytest.mark.django_db


@pytest.fixture
def case(caseworker_a):
    return people.open_case(caseworker_a)


def _person_url(case):
    return reverse("dataprotection:person", kwargs={"case_id": case.pk})


def _request_url(case):
    return reverse("dataprotection:erasure_request", kwargs={"case_id": case.pk})


def _export_url(case, fmt):
    return reverse("dataprotection:export", kwargs={"case_id": case.pk}) + (
        f"?format={fmt}"
    )


def _pending(actor, case):
    return services.erasure_request(actor=actor, case_id=case.pk, reason="gdpr_art17")


# --- navigation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "shown"),
    [("auditor", True), ("admin_user", True), ("caseworker_a", False)],
)
def test_navigation_shows_data_protection_to_dpo_and_admin(
    request, signed_in, persona, shown
):
    user = request.getfixturevalue(persona)

    page = signed_in(user).get(reverse("home"))

    assert (reverse("dataprotection:requests") in page.content.decode()) is shown


# --- person page and erasure request ------------------------------------------


def test_person_page_offers_the_request_form_and_exports(signed_in, caseworker_a, case):
    page = signed_in(caseworker_a).get(_person_url(case))

    assert page.status_code == 200
    body = page.content.decode()
    assert case.number in body
    assert 'name="reason"' in body
    assert "Do not write names" in body
    assert "?format=json" in body
    assert people.GIVEN not in body


@pytest.mark.parametrize("persona", ["caseworker_b", "admin_user"])
def test_person_page_is_not_found_for_users_outside_the_case(
    request, signed_in, case, persona
):
    client = signed_in(request.getfixturevalue(persona))

    assert client.get(_person_url(case)).status_code == 404
    assert client.post(_request_url(case), {"reason": "gdpr_art17"}).status_code == 404
    assert not ErasureRequest.objects.exists()


def test_request_without_reason_shows_a_clear_error_and_changes_nothing(
    signed_in, caseworker_a, case
):
    page = signed_in(caseworker_a).post(_request_url(case), {"reason": "", "note": ""})

    assert page.status_code == 400
    assert "Choose the reason for the erasure." in page.content.decode()
    assert not ErasureRequest.objects.exists()


def test_request_with_reason_waits_for_confirmation(signed_in, caseworker_a, case):
    client = signed_in(caseworker_a)

    response = client.post(
        _request_url(case), {"reason": "gdpr_art17", "note": "Letter DP-7"}
    )

    assert response.status_code == 302
    request = ErasureRequest.objects.get()
    assert request.status == Status.PENDING
    assert request.note == "Letter DP-7"
    page = client.get(_person_url(case)).content.decode()
    assert "waits for confirmation" in page
    assert 'name="reason"' not in page


def test_second_request_is_shown_as_a_form_error(
    signed_in, caseworker_a, auditor, case
):
    _pending(auditor, case)

    page = signed_in(caseworker_a).post(_request_url(case), {"reason": "court_order"})

    assert page.status_code == 400
    assert "already waiting for confirmation" in page.content.decode()


# --- requests list, confirm, cancel -------------------------------------------


def test_request_list_is_for_dpo_and_admin_only(
    signed_in, caseworker_a, auditor, admin_user, case
):
    _pending(caseworker_a, case)

    assert (
        signed_in(caseworker_a).get(reverse("dataprotection:requests")).status_code
        == 403
    )
    for decider in (auditor, admin_user):
        page = signed_in(decider).get(reverse("dataprotection:requests"))
        assert page.status_code == 200
        assert case.number in page.content.decode()


def test_confirmation_page_states_irreversibility_then_erases(
    signed_in, caseworker_a, auditor, case
):
    request = _pending(caseworker_a, case)
    client = signed_in(auditor)
    url = reverse("dataprotection:request_confirm", kwargs={"request_id": request.pk})

    page = client.get(url)
    assert page.status_code == 200
    assert "This cannot be undone." in page.content.decode()
    assert not Person.objects.get(pk=case.person_id).is_erased

    response = client.post(url)

    assert response.status_code == 302
    assert Person.objects.get(pk=case.person_id).is_erased


def test_requester_cannot_confirm_through_the_page(signed_in, auditor, case):
    request = _pending(auditor, case)
    client = signed_in(auditor)
    url = reverse("dataprotection:request_confirm", kwargs={"request_id": request.pk})

    page = client.get(url).content.decode()
    assert "a second person" in page
    assert "Erase the person" not in page
    response = client.post(url)

    assert response.status_code == 403
    assert not Person.objects.get(pk=case.person_id).is_erased


def test_case_manager_cannot_open_the_confirmation(
    signed_in, caseworker_a, auditor, case
):
    request = _pending(auditor, case)
    url = reverse("dataprotection:request_confirm", kwargs={"request_id": request.pk})

    assert signed_in(caseworker_a).post(url).status_code == 403
    assert ErasureRequest.objects.get(pk=request.pk).status == Status.PENDING


def test_cancel_page_then_cancel(signed_in, caseworker_a, admin_user, case):
    request = _pending(caseworker_a, case)
    client = signed_in(admin_user)
    url = reverse("dataprotection:request_cancel", kwargs={"request_id": request.pk})

    assert client.get(url).status_code == 200
    response = client.post(url)

    assert response.status_code == 302
    assert ErasureRequest.objects.get(pk=request.pk).status == Status.CANCELLED


def test_dpo_finds_a_case_by_number(signed_in, auditor, case):
    client = signed_in(auditor)

    response = client.get(reverse("dataprotection:requests"), {"number": case.number})
    missing = client.get(reverse("dataprotection:requests"), {"number": "ZZ-NONE-1"})

    assert response.status_code == 302
    assert response["Location"] == _person_url(case)
    assert "No case with this number" in missing.content.decode()


# --- export -------------------------------------------------------------------


def test_json_export_downloads_under_the_case_number(signed_in, auditor, case):
    response = signed_in(auditor).get(_export_url(case, "json"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    disposition = response["Content-Disposition"]
    assert disposition == f'attachment; filename="subject-access-{case.number}.json"'
    assert people.GIVEN not in disposition
    assert "no-store" in response["Cache-Control"]
    data = json.loads(response.content)
    assert data["person"]["identity"]["given_names"] == people.GIVEN


def test_html_export_is_printable_in_the_persons_language(
    signed_in, caseworker_a, case
):
    response = signed_in(caseworker_a).get(_export_url(case, "html"))

    assert response.status_code == 200
    assert response["Content-Language"] == "ro"
    body = response.content.decode()
    assert '<html lang="ro">' in body
    assert "window.print()" in body


def test_pdf_export_downloads(signed_in, auditor, case):
    response = signed_in(auditor).get(_export_url(case, "pdf"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    assert response["Content-Disposition"].endswith(f'{case.number}.pdf"')


def test_export_is_refused_to_others_and_for_unknown_formats(
    signed_in, caseworker_b, admin_user, auditor, case, org_a
):
    assert signed_in(caseworker_b).get(_export_url(case, "json")).status_code == 404
    assert signed_in(admin_user).get(_export_url(case, "json")).status_code == 404
    prosecutor = people.prosecutor_on(case, org_a)
    assert signed_in(prosecutor).get(_export_url(case, "json")).status_code == 403
    assert signed_in(auditor).get(_export_url(case, "xml")).status_code == 400
