"""The case page in a real browser: layout on a desktop and a phone, keyboard use."""

from __future__ import annotations

import pytest
from conftest import sign_in_verified
from django.conf import settings
from django.test import Client

from trm.accounts.models import Role
from trm.accounts.tests.factories import OrganisationFactory, UserFactory
from trm.cases import services
from trm.cases.identity import IdentityDocument, PersonIdentity
from trm.cases.models import Case
from trm.consent import services as consent_services
from trm.identification import services as identification

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _signed_in_cookie(user) -> dict[str, str]:
    client = Client()
    sign_in_verified(client, user)
    return {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
    }


@pytest.fixture
def worked_case():
    org = OrganisationFactory(name="Fictional Shelter Browser")
    partner = OrganisationFactory(name="Fictional Clinic Browser", country="RO")
    manager = UserFactory(
        username="browser-case-manager",
        first_name="Fictional",
        last_name="Manager",
        organisation=org,
        roles=[Role.CASE_MANAGER],
    )
    helper = UserFactory(
        username="browser-provider",
        first_name="Fictional",
        last_name="Provider",
        organisation=partner,
        roles=[Role.SERVICE_PROVIDER],
    )
    case = services.case_open(
        actor=manager,
        identity=PersonIdentity(
            given_names="Ioana",
            family_names="Fictivescu",
            aliases=["Иоана Фиктивеску"],
            birth_date="2000-05-17",
            place_of_birth="Fictional Town",
            documents=[IdentityDocument(kind="passport", number="ZZ 123 456")],
            phones=["+40 700 000 001"],
        ),
        gender="Feminine",
        citizenships=["RO"],
        languages=["ro", "en"],
    )
    services.case_team_add(
        actor=manager, case_id=case.pk, user_id=helper.pk, role=Role.SERVICE_PROVIDER
    )
    identification.presume(
        actor=manager,
        case_id=case.pk,
        reason="Fictional: indicators of labour exploitation",
    )
    services.case_note_add(
        actor=manager,
        case_id=case.pk,
        text="Fictional: prefers to be contacted in the morning.",
        visibility="assistance_only",
    )
    consent_services.consent_record(
        actor=manager,
        case_id=case.pk,
        purpose="referral",
        categories=["identity", "contact"],
        given_by="person",
        language="ro",
        recipient_organisation_id=partner.pk,
        declaration="Fictional declaration",
    )
    return manager, case


def test_case_page_layout_and_keyboard_move(
    live_server, browser, artifacts, worked_case
):
    manager, case = worked_case
    url = f"{live_server.url}/cases/{case.pk}/"

    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.add_cookies([{**_signed_in_cookie(manager), "url": live_server.url}])
    page = context.new_page()
    page.goto(url)
    assert page.get_by_role("heading", level=1).inner_text() == f"Case {case.number}"
    assert page.get_by_text("Ioana Fictivescu").first.is_visible()
    page.screenshot(path=str(artifacts / "case-page.png"), full_page=True)

    # Keyboard only: open "Change" on the transnational track, choose, save.
    summary = page.locator("#track-transnational summary")
    summary.focus()
    page.keyboard.press("Enter")
    radio = page.locator("#track-transnational input[value=ncp_notified]")
    assert radio.is_visible()
    radio.focus()
    page.keyboard.press("Space")
    page.locator("#track-transnational textarea").focus()
    page.keyboard.type("Fictional: the person is a foreign national")
    page.locator("#track-transnational button[type=submit]").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}#track-transnational")
    assert page.get_by_text("Transnational link is now").is_visible()
    assert Case.objects.get(pk=case.pk).transnational == "ncp_notified"
    context.close()

    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    )
    phone.add_cookies([{**_signed_in_cookie(manager), "url": live_server.url}])
    page = phone.new_page()
    page.goto(url)
    # Nothing wider than the screen: no sideways scrolling on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(artifacts / "case-page-phone.png"), full_page=True)
    page.goto(f"{live_server.url}/cases/open/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(artifacts / "case-open-phone.png"), full_page=True)
    phone.close()
