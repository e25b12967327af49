from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from conftest import PASSWORD
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from trm.accounts.models import Role, TOTPDevice
from trm.accounts.tests.factories import TOTPDeviceFactory, UserFactory, current_code
from trm.accounts.tests.helpers import message_texts, password_sign_in

pytestmark = pytest.mark.django_db

ADMIN_PAGE = "/accounts/admin/users/"
GATED_PATHS = ["/", ADMIN_PAGE]


def _path_and_next(response) -> tuple[str, str | None]:
    parts = urlsplit(response["Location"])
    return parts.path, parse_qs(parts.query).get("next", [None])[0]


def _password_only_client(role: str | None, *, with_device: bool):
    user = UserFactory(username="gate-user", roles=[role] if role else [])
    device = TOTPDeviceFactory(user=user) if with_device else None
    client = Client()
    response = password_sign_in(client, "gate-user", PASSWORD)
    assert response.status_code == 302
    return client, user, device


# --- Second factor gate ---------------------------------------------------------------


@pytest.mark.parametrize("role", Role.values)
@pytest.mark.parametrize("path", GATED_PATHS)
def test_password_only_user_without_device_is_sent_to_enrolment(role, path):
    client, _user, _device = _password_only_client(role, with_device=False)
    response = client.get(path)
    assert response.status_code == 302
    assert _path_and_next(response) == (reverse("accounts:enrol"), path)


@pytest.mark.parametrize("role", Role.values)
@pytest.mark.parametrize("path", GATED_PATHS)
def test_password_only_user_with_device_is_sent_to_verification(role, path):
    client, _user, _device = _password_only_client(role, with_device=True)
    response = client.get(path)
    assert response.status_code == 302
    assert _path_and_next(response) == (reverse("accounts:verify"), path)


@pytest.mark.parametrize("role", Role.values)
def test_user_reaches_home_after_verifying_code(role):
    client, _user, device = _password_only_client(role, with_device=True)
    response = client.post(
        reverse("accounts:verify"), {"otp_token": current_code(device), "next": "/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("role", Role.values)
def test_user_reaches_home_after_enrolling(role):
    client, user, _device = _password_only_client(role, with_device=False)
    client.get(reverse("accounts:enrol"))
    pending = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post(
        reverse("accounts:enrol"), {"otp_token": current_code(pending), "next": "/"}
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_user_returns_to_the_full_requested_address_after_verifying():
    client, _user, device = _password_only_client(Role.AUDITOR, with_device=True)
    wanted = ADMIN_PAGE + "?q=fictional&page=2"
    _target, next_url = _path_and_next(client.get(wanted))
    assert next_url == wanted
    response = client.post(
        reverse("accounts:verify"),
        {"otp_token": current_code(device), "next": next_url},
    )
    assert response["Location"] == wanted


def test_user_without_role_is_not_asked_for_a_second_factor():
    client, _user, _device = _password_only_client(None, with_device=False)
    response = client.get("/")
    assert response.status_code == 200
    assert "no role yet" in response.content.decode()


def test_gate_leaves_health_check_and_sign_out_open():
    client, _user, _device = _password_only_client(Role.AUDITOR, with_device=False)
    assert client.get("/healthz").status_code == 200
    response = client.post(reverse("accounts:logout"))
    assert response["Location"] == reverse("accounts:login")
    assert client.get("/")["Location"].startswith(reverse("accounts:login"))


def test_gate_answers_htmx_request_with_hx_redirect():
    client, _user, _device = _password_only_client(Role.AUDITOR, with_device=True)
    response = client.get("/", headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith(reverse("accounts:verify"))


def test_api_is_not_redirected_by_the_gate():
    client, _user, _device = _password_only_client(Role.AUDITOR, with_device=True)
    response = client.get("/api/v1/me")
    assert response.status_code != 302


def test_anonymous_user_is_sent_to_sign_in_not_to_the_gate(db):
    response = Client().get(ADMIN_PAGE)
    assert response.status_code == 302
    assert _path_and_next(response) == (reverse("accounts:login"), ADMIN_PAGE)


# --- Forced password change -----------------------------------------------------------


def test_one_time_password_user_is_sent_to_password_page_after_second_factor(
    signed_in, caseworker_a
):
    caseworker_a.must_change_password = True
    caseworker_a.save()
    client = signed_in(caseworker_a)
    for path in [*GATED_PATHS, reverse("accounts:account")]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"] == reverse("accounts:password_change")
    page = client.get(reverse("accounts:password_change"))
    assert page.status_code == 200
    assert "one-time password" in page.content.decode()


def test_one_time_password_user_must_verify_before_changing_password(caseworker_a):
    caseworker_a.must_change_password = True
    caseworker_a.save()
    TOTPDeviceFactory(user=caseworker_a)
    client = Client()
    password_sign_in(client, "caseworker-a", PASSWORD)
    response = client.get(reverse("accounts:password_change"))
    assert _path_and_next(response)[0] == reverse("accounts:verify")


# --- Idle session expiry --------------------------------------------------------------


@pytest.fixture
def clock():
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        yield traveller


def test_idle_session_is_signed_out_with_a_message(signed_in, caseworker_a, clock):
    client = signed_in(caseworker_a)
    assert client.get("/").status_code == 200
    clock.shift(timedelta(minutes=30, seconds=1))
    response = client.get(ADMIN_PAGE + "?q=x")
    assert response.status_code == 302
    assert _path_and_next(response) == (reverse("accounts:login"), ADMIN_PAGE + "?q=x")
    login_page = client.get(response["Location"])
    assert any("signed out after 30 minutes" in m for m in message_texts(login_page))
    assert "_auth_user_id" not in client.session
    assert client.get("/")["Location"].startswith(reverse("accounts:login"))


def test_activity_within_idle_limit_keeps_the_session(signed_in, caseworker_a, clock):
    client = signed_in(caseworker_a)
    for _ in range(4):
        assert client.get("/").status_code == 200
        clock.shift(timedelta(minutes=29))
    assert client.get("/").status_code == 200


def test_exactly_idle_limit_keeps_the_session(signed_in, caseworker_a, clock):
    client = signed_in(caseworker_a)
    client.get("/")
    clock.shift(timedelta(minutes=30))
    assert client.get("/").status_code == 200


def test_idle_limit_follows_the_setting(signed_in, caseworker_a, clock, settings):
    settings.TRM_SESSION_IDLE_MINUTES = 5
    client = signed_in(caseworker_a)
    client.get("/")
    clock.shift(timedelta(minutes=6))
    response = client.get("/", follow=True)
    assert any("signed out after 5 minutes" in m for m in message_texts(response))


def test_idle_api_session_is_signed_out_without_redirect(
    signed_in, caseworker_a, clock
):
    client = signed_in(caseworker_a)
    client.get("/")
    clock.shift(timedelta(hours=1))
    response = client.get("/api/v1/me")
    assert response.status_code in {401, 403}
    assert "_auth_user_id" not in client.session


def test_idle_htmx_request_gets_hx_redirect_to_sign_in(signed_in, caseworker_a, clock):
    client = signed_in(caseworker_a)
    client.get("/")
    clock.shift(timedelta(minutes=31))
    response = client.get("/", headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith(reverse("accounts:login"))


# --- Deactivated organisation ---------------------------------------------------------


def test_session_of_user_in_deactivated_organisation_ends_with_a_message(
    signed_in, caseworker_a
):
    from trm.accounts.models import Organisation

    client = signed_in(caseworker_a)
    assert client.get("/").status_code == 200
    Organisation.objects.filter(pk=caseworker_a.organisation_id).update(is_active=False)
    response = client.get(ADMIN_PAGE)
    assert response["Location"] == reverse("accounts:login")
    assert "_auth_user_id" not in client.session
    login_page = client.get(response["Location"])
    assert any(
        "Your organisation is deactivated" in m for m in message_texts(login_page)
    )


def test_deactivated_organisation_ends_password_only_session_too(no_role_user):
    from trm.accounts.models import Organisation

    client = Client()
    password_sign_in(client, "no-role", PASSWORD)
    Organisation.objects.filter(pk=no_role_user.organisation_id).update(is_active=False)
    response = client.get(reverse("accounts:enrol"))
    assert response["Location"] == reverse("accounts:login")
    assert "_auth_user_id" not in client.session
