"""A person signs in with a password and a TOTP code in a real browser."""

from __future__ import annotations

import base64
import time

import pytest
from django_otp.oath import totp

from trm.accounts import services
from trm.accounts.models import Role, TOTPDevice
from trm.accounts.tests.factories import OrganisationFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _code_from_secret(spaced_secret: str) -> str:
    key = base64.b32decode(spaced_secret.replace(" ", ""))
    return f"{totp(key):06d}"


def test_new_case_manager_enrols_totp_changes_password_and_reaches_home(
    live_server, page, artifacts
):
    org = OrganisationFactory(name="Fictional Shelter Browser")
    new = services.user_create(
        actor=None,
        username="browser-cm",
        email="browser-cm@example.invalid",
        organisation_id=org.pk,
        roles=[Role.CASE_MANAGER],
    )

    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Username").fill("browser-cm")
    page.get_by_label("Password").fill(new.one_time_password)
    page.get_by_role("button", name="Sign in").click()

    # Second factor first: enrol an authenticator from the key shown on the page.
    page.wait_for_url("**/two-factor/enrol/**")
    secret = page.get_by_test_id("totp-secret").inner_text()
    page.screenshot(path=str(artifacts / "enrol-totp.png"), full_page=True)
    page.get_by_label("6-digit code from your authenticator app").fill("000000")
    page.get_by_role("button", name="Confirm and continue").click()
    assert page.get_by_text("That code is not correct").is_visible()
    # A wrong code throttles the next attempt (1 s after the first failure).
    time.sleep(1.5)
    page.get_by_label("6-digit code from your authenticator app").fill(
        _code_from_secret(secret)
    )
    page.get_by_role("button", name="Confirm and continue").click()

    # Then the one-time password must be replaced.
    page.wait_for_url("**/accounts/password/")
    page.get_by_label("Current password").fill(new.one_time_password)
    page.locator("#id_new_password").fill("Fictional-long-pass-2026")
    page.get_by_label("New password again").fill("Fictional-long-pass-2026")
    page.get_by_role("button", name="Change password").click()

    page.wait_for_url(f"{live_server.url}/")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Welcome")
    assert page.get_by_text("Case manager").is_visible()
    page.screenshot(path=str(artifacts / "home.png"), full_page=True)
    assert TOTPDevice.objects.get(user=new.user).confirmed


def test_enrolled_user_must_give_a_code_after_the_password(live_server, page):
    org = OrganisationFactory(name="Fictional Police Browser")
    new = services.user_create(
        actor=None,
        username="browser-fcp",
        email="browser-fcp@example.invalid",
        organisation_id=org.pk,
        roles=[Role.FIRST_CONTACT_POINT],
    )
    user = new.user
    user.set_password("Fictional-long-pass-2026")
    user.must_change_password = False
    user.save()
    device = TOTPDevice(user=user, name="phone", confirmed=True)
    device.set_secret()
    device.save()

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("browser-fcp")
    page.get_by_label("Password").fill("Fictional-long-pass-2026")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/accounts/login/verify/**")
    # Navigating away does not skip the second factor.
    page.goto(f"{live_server.url}/accounts/me/")
    assert "/accounts/login/verify/" in page.url
    page.get_by_label("6-digit code from your authenticator app").fill(
        f"{totp(device.bin_key):06d}"
    )
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(f"{live_server.url}/accounts/me/")
    assert page.get_by_role("heading", name="My account").is_visible()
