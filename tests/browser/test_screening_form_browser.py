"""The long screening form in a browser: the keep-alive while answering, the jump
links, and the error summary that takes focus to the answers in error.

The page's clock is Playwright's fake one, so minutes pass at once.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import sign_in_verified
from django.conf import settings
from django.test import Client

from trm.accounts.models import Role
from trm.accounts.tests.factories import OrganisationFactory, UserFactory
from trm.cases.tests.factories import adult_birth_date, open_case

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
KEEP_ALIVE = "/accounts/keep-alive/"


def _cookie(user: Any, url: str) -> dict[str, str]:
    client = Client()
    sign_in_verified(client, user)
    return {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": url,
    }


@pytest.fixture
def form_page(live_server: Any, browser: Any) -> Any:
    org = OrganisationFactory(name="Fictional Border Police", functions=["FCP"])
    fcp = UserFactory(
        username="browser-fcp", organisation=org, roles=[Role.FIRST_CONTACT_POINT]
    )
    case = open_case(fcp, birth_date=adult_birth_date())
    phone = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    phone.add_cookies([_cookie(fcp, live_server.url)])
    page = phone.new_page()
    page.trm_url = f"{live_server.url}/cases/{case.pk}/screening/new/"
    yield page
    phone.close()


def _pings(page: Any) -> list[int]:
    statuses: list[int] = []
    page.on(
        "response",
        lambda r: statuses.append(r.status) if r.url.endswith(KEEP_ALIVE) else None,
    )
    return statuses


def test_keep_alive_pings_only_while_the_person_answers(form_page: Any) -> None:
    page = form_page
    page.clock.install()
    statuses = _pings(page)
    page.goto(page.trm_url)

    page.clock.run_for("10:00")  # a page left alone says nothing
    assert statuses == []

    with page.expect_response(lambda r: r.url.endswith(KEEP_ALIVE)) as first:
        page.check('input[name="i-al.d1.deceived_wages"][value="present"]')
        page.clock.run_for(1000)
    assert first.value.status == 204
    assert first.value.request.method == "POST"
    assert first.value.request.post_data in (None, "")  # no answers sent

    page.select_option('select[name="e-al.d1.deceived_wages"]', "observed")
    page.clock.run_for("01:00")
    assert len(statuses) == 1  # at most one ping per two minutes
    with page.expect_response(lambda r: r.url.endswith(KEEP_ALIVE)) as second:
        page.clock.run_for("01:01")  # the answer given meanwhile still counts
    assert second.value.status == 204

    page.clock.run_for("30:00")
    assert statuses == [204, 204]  # stopped answering: no more pings
    stored = page.evaluate(
        "JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])"
    )
    assert "deceived_wages" not in stored and "observed" not in stored


def test_jump_links_and_error_summary_move_focus_on_a_phone(
    form_page: Any, artifacts: Any
) -> None:
    page = form_page
    page.goto(page.trm_url)
    nav = page.locator("#form-sections")
    assert nav.is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    nav.get_by_role("link", name="D5 ·").click()
    assert page.url.endswith("#adult_labour-D5")
    page.screenshot(path=str(artifacts / "screening-jump-links-phone.png"))

    page.goto(page.trm_url)
    page.check('input[name="i-al.d4.low_or_no_salary"][value="present"]')
    page.locator('form[method="post"] button[type="submit"]').last.click()
    page.wait_for_load_state()
    assert page.evaluate("document.activeElement.id") == "form-errors"
    summary = page.locator("#form-errors")
    text = summary.inner_text()
    assert "Low or no salary (D4)" in text
    assert "al.d4" not in text
    page.screenshot(path=str(artifacts / "screening-error-summary-phone.png"))
    summary.get_by_role("link").first.click()
    assert page.evaluate("document.activeElement.name") == "e-al.d4.low_or_no_salary"
