"""SOP 1 on a phone, as a first contact point: screen, presume, see the SOP panel.

Screenshots (test-artifacts/): the screening form and result, the case page
with the removal block and SOP panel, and My tasks.
"""

from __future__ import annotations

import pytest
from conftest import sign_in_verified
from django.conf import settings
from django.test import Client

from trm.accounts.models import Role
from trm.accounts.tests.factories import OrganisationFactory, UserFactory
from trm.cases.models import Case
from trm.cases.tests.factories import adult_birth_date, open_case
from trm.sop import loader

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PRESENT = [
    "al.d1.deceived_nature_of_job",
    "al.d1.deceived_wages",
    "al.d4.excessive_working_hours",
    "al.d4.low_or_no_salary",
    "al.d5.confiscation_of_documents",
    "al.d5.debt_bondage",
]
PHONE = {"width": 390, "height": 844}


def _cookie(user, url: str) -> dict[str, str]:
    client = Client()
    sign_in_verified(client, user)
    return {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": url,
    }


def test_a_first_contact_point_screens_and_presumes_on_a_phone(
    live_server, browser, artifacts
):
    loader.clear_cache()
    org = OrganisationFactory(name="Fictional Border Police", functions=["FCP"])
    fcp = UserFactory(
        username="browser-fcp",
        first_name="Fictional",
        last_name="Officer",
        organisation=org,
        roles=[Role.FIRST_CONTACT_POINT],
    )
    case = open_case(fcp, birth_date=adult_birth_date(), citizenships=["MD"])
    phone = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    phone.add_cookies([_cookie(fcp, live_server.url)])
    page = phone.new_page()

    page.goto(f"{live_server.url}/cases/{case.pk}/screening/new/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.get_by_text("not verified").first.is_visible()
    for indicator in PRESENT:
        page.check(f'input[name="i-{indicator}"][value="present"]')
        page.select_option(f'select[name="e-{indicator}"]', "observed")
    page.screenshot(path=str(artifacts / "sop1-screening-phone.png"), full_page=False)
    page.locator('form[method="post"] button[type="submit"]').last.click()
    page.wait_for_load_state()
    assert page.get_by_text("refer to the competent authority").first.is_visible()
    assert "victim" not in page.locator("main").inner_text().lower()
    page.screenshot(path=str(artifacts / "sop1-screening-result-phone.png"))

    page.get_by_role("link", name="Record as presumed trafficked person").first.click()
    page.wait_for_load_state()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.locator('main form[method="post"] button[type="submit"]').last.click()
    page.wait_for_load_state()
    assert Case.objects.get(pk=case.pk).identification == "presumed"

    page.goto(f"{live_server.url}/cases/{case.pk}/")
    main = page.locator("main").inner_text()
    assert "removed" in main  # the removal block
    assert "Procedures (SOPs)" in main
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(artifacts / "sop1-case-page-phone.png"), full_page=True)

    page.goto(f"{live_server.url}/tasks/")
    assert case.number in page.locator("main").inner_text()
    page.screenshot(path=str(artifacts / "sop1-my-tasks-phone.png"), full_page=True)
    phone.close()
