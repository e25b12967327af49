import base64
import re
from datetime import timedelta
from typing import cast

import pytest
import time_machine
from axes.models import AccessAttempt
from conftest import PASSWORD, sign_in_verified
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from trm.accounts import services
from trm.accounts.models import APIToken, Organisation, Role, TOTPDevice, User
from trm.accounts.tests.factories import (
    OrganisationFactory,
    TOTPDeviceFactory,
    UserFactory,
    current_code,
)
from trm.accounts.tests.helpers import (
    assert_unchanged,
    audit_actions,
    message_texts,
    password_sign_in,
    snapshot,
    wrong_code,
)
from trm.audit.models import AuditEntry

pytestmark = pytest.mark.django_db

GOOD_NEW_PASSWORD = "violet-lantern-orbit-42"


@pytest.fixture
def clock():
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        yield traveller


def _is_signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _is_verified(client: Client) -> bool:
    return "otp_device_id" in client.session


def _text(response) -> str:
    return str(response.content.decode())


# --- Sign-in: password step -----------------------------------------------------------


def test_right_password_signs_in_and_audits_the_step(client, caseworker_a):
    response = password_sign_in(client, "caseworker-a", PASSWORD)
    assert response.status_code == 302
    assert _is_signed_in(client)
    assert not _is_verified(client)
    assert audit_actions(caseworker_a) == ["accounts.signed_in.password"]


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("caseworker-a", "not-the-password"),
        ("caseworker-a", PASSWORD.upper()),
        ("Caseworker-A", PASSWORD),
        ("nobody-here", PASSWORD),
    ],
    ids=["wrong-password", "wrong-case-password", "wrong-case-user", "unknown-user"],
)
def test_wrong_credentials_show_clear_message_and_change_nothing(
    client, caseworker_a, username, password
):
    before = snapshot()
    before.pop("lockouts")
    response = password_sign_in(client, username, password)
    assert response.status_code == 200
    assert "The username or password is not correct" in _text(response)
    assert not _is_signed_in(client)
    after = snapshot()
    # Nothing changes but one audit entry recording the failure (no username).
    assert audit_actions()[-1] == "accounts.sign_in_failed"
    after["audit"] = cast(int, after["audit"]) - 1
    assert {k: v for k, v in after.items() if k != "lockouts"} == before
    assert username not in str(list(AuditEntry.objects.values_list()))
    caseworker_a.refresh_from_db()
    assert caseworker_a.last_login is None


def test_deactivated_user_cannot_sign_in(client, caseworker_a):
    caseworker_a.is_active = False
    caseworker_a.save()
    response = password_sign_in(client, "caseworker-a", PASSWORD)
    assert response.status_code == 200
    assert "not correct" in _text(response)
    assert not _is_signed_in(client)


# --- Sign-in: second factor -----------------------------------------------------------


@pytest.fixture
def half_signed_in(client, caseworker_a):
    """A client past the password step of a user with an authenticator."""
    device = TOTPDeviceFactory(user=caseworker_a)
    password_sign_in(client, "caseworker-a", PASSWORD)
    return client, device


def test_right_code_verifies_and_audits(half_signed_in, caseworker_a):
    client, device = half_signed_in
    response = client.post(
        reverse("accounts:verify"), {"otp_token": current_code(device), "next": "/"}
    )
    assert response["Location"] == "/"
    assert _is_verified(client)
    assert audit_actions(caseworker_a)[-1] == "accounts.signed_in.second_factor"


def test_wrong_code_shows_clear_message_and_stays_unverified(half_signed_in):
    client, device = half_signed_in
    response = client.post(
        reverse("accounts:verify"), {"otp_token": wrong_code(device), "next": "/"}
    )
    assert response.status_code == 200
    assert "That code is not correct" in _text(response)
    assert not _is_verified(client)
    assert client.get("/")["Location"].startswith(reverse("accounts:verify"))


def test_code_with_letters_is_refused_as_not_digits(half_signed_in):
    client, _device = half_signed_in
    response = client.post(reverse("accounts:verify"), {"otp_token": "12ab56"})
    assert "Enter the digits shown in your app" in _text(response)
    assert not _is_verified(client)


def test_code_with_spaces_is_accepted(half_signed_in):
    client, device = half_signed_in
    code = current_code(device)
    client.post(reverse("accounts:verify"), {"otp_token": f"{code[:3]} {code[3:]}"})
    assert _is_verified(client)


def test_repeated_wrong_codes_throttle_even_the_right_code(half_signed_in, clock):
    client, device = half_signed_in
    url = reverse("accounts:verify")
    for wait in (0, 1, 2):  # waits the throttle asks for: 1 s, then 2 s
        clock.shift(timedelta(seconds=wait))
        client.post(url, {"otp_token": wrong_code(device)})
    device.refresh_from_db()
    assert device.throttling_failure_count == 3
    clock.shift(timedelta(seconds=2))
    response = client.post(url, {"otp_token": current_code(device)})
    assert "Too many wrong codes" in _text(response)
    assert not _is_verified(client)
    clock.shift(timedelta(seconds=3))
    client.post(url, {"otp_token": current_code(device)})
    assert _is_verified(client)


def test_verify_does_not_redirect_off_site(half_signed_in):
    client, device = half_signed_in
    response = client.post(
        reverse("accounts:verify"),
        {"otp_token": current_code(device), "next": "https://evil.example/"},
    )
    assert response["Location"] == "/"


def test_verify_without_device_sends_to_enrolment(client, caseworker_a):
    password_sign_in(client, "caseworker-a", PASSWORD)
    response = client.get(reverse("accounts:verify"))
    assert response["Location"] == reverse("accounts:enrol")


# --- Lockout (django-axes) ------------------------------------------------------------


def _fail(client: Client, times: int, username: str = "caseworker-a", **extra):
    return [
        password_sign_in(client, username, f"wrong-{i}", **extra).status_code
        for i in range(times)
    ]


def _assert_locked_out(response):
    assert response.status_code == 429
    text = _text(response)
    assert "Sign-in temporarily locked" in text
    assert "locked for 15 minutes" in text


def test_sixth_attempt_after_five_wrong_passwords_is_locked_out(client, caseworker_a):
    statuses = _fail(client, 5)
    assert statuses[:4] == [200, 200, 200, 200]
    response = password_sign_in(client, "caseworker-a", PASSWORD)
    _assert_locked_out(response)
    assert not _is_signed_in(client)


def test_fifth_wrong_password_already_shows_the_lockout(client, caseworker_a):
    assert _fail(client, 5)[-1] == 429


def test_lockout_ends_after_cool_off(client, caseworker_a, clock):
    _fail(client, 5)
    clock.shift(timedelta(minutes=15, seconds=1))
    response = password_sign_in(client, "caseworker-a", PASSWORD)
    assert response.status_code == 302
    assert _is_signed_in(client)


def test_attempt_during_lockout_restarts_the_cool_off(client, caseworker_a, clock):
    """django-axes' default (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT):
    the page's "locked for 15 minutes" counts from the latest attempt."""
    _fail(client, 5)
    clock.shift(timedelta(minutes=14))
    _assert_locked_out(password_sign_in(client, "caseworker-a", PASSWORD))
    clock.shift(timedelta(minutes=14))
    _assert_locked_out(password_sign_in(client, "caseworker-a", PASSWORD))
    clock.shift(timedelta(minutes=15, seconds=1))
    assert password_sign_in(client, "caseworker-a", PASSWORD).status_code == 302


def test_lockout_is_per_username_and_address(client, caseworker_a, caseworker_b):
    _fail(client, 5)
    other_address = password_sign_in(
        Client(), "caseworker-a", PASSWORD, REMOTE_ADDR="192.0.2.7"
    )
    assert other_address.status_code == 302
    other_user = password_sign_in(Client(), "caseworker-b", PASSWORD)
    assert other_user.status_code == 302


def test_credentials_reset_lifts_the_lockout(client, admin_user, caseworker_a):
    _fail(client, 5)
    new = services.user_reset_credentials(actor=admin_user, user_id=caseworker_a.pk)
    response = password_sign_in(client, "caseworker-a", new.one_time_password)
    assert response.status_code == 302
    assert _is_signed_in(client)


def test_successful_sign_in_resets_the_failure_count(client, caseworker_a):
    _fail(client, 4)
    password_sign_in(client, "caseworker-a", PASSWORD)
    client.post(reverse("accounts:logout"))
    assert _fail(client, 4) == [200, 200, 200, 200]


# --- Enrolment ------------------------------------------------------------------------


@pytest.fixture
def enrolling(client, caseworker_a):
    """A client past the password step of a user without an authenticator."""
    password_sign_in(client, "caseworker-a", PASSWORD)
    return client


def _pending(user: User) -> TOTPDevice:
    return TOTPDevice.objects.get(user=user, confirmed=False)


def test_enrolment_page_shows_qr_code_and_secret(enrolling, caseworker_a):
    response = enrolling.get(reverse("accounts:enrol"))
    assert response.status_code == 200
    text = _text(response)
    assert "<svg" in text
    shown = re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)<', text)
    assert shown is not None
    secret = base64.b32decode(shown.group(1).replace(" ", ""))
    assert secret == _pending(caseworker_a).bin_key


def test_enrolment_page_keeps_the_same_secret_on_reload(enrolling, caseworker_a):
    enrolling.get(reverse("accounts:enrol"))
    first = _pending(caseworker_a)
    enrolling.get(reverse("accounts:enrol"))
    assert _pending(caseworker_a) == first


def test_enrolment_with_wrong_code_redisplays_form_and_confirms_nothing(
    enrolling, caseworker_a
):
    enrolling.get(reverse("accounts:enrol"))
    device = _pending(caseworker_a)
    response = enrolling.post(
        reverse("accounts:enrol"), {"otp_token": wrong_code(device), "next": "/"}
    )
    assert response.status_code == 200
    text = _text(response)
    assert "That code is not correct" in text
    assert "<svg" in text
    assert not TOTPDevice.objects.filter(user=caseworker_a, confirmed=True).exists()
    assert not _is_verified(enrolling)
    assert "accounts.totp_enrolled" not in audit_actions(caseworker_a)


def test_enrolment_with_right_code_confirms_and_verifies(enrolling, caseworker_a):
    enrolling.get(reverse("accounts:enrol"))
    device = _pending(caseworker_a)
    response = enrolling.post(
        reverse("accounts:enrol"), {"otp_token": current_code(device), "next": "/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
    device.refresh_from_db()
    assert device.confirmed
    assert _is_verified(enrolling)
    assert "accounts.totp_enrolled" in audit_actions(caseworker_a)
    home = enrolling.get("/", follow=True)
    assert home.status_code == 200
    assert "Your authenticator app is set up." in message_texts(home)


def test_unverified_user_with_device_cannot_enrol_a_new_one(half_signed_in):
    client, _device = half_signed_in
    response = client.get(reverse("accounts:enrol"))
    assert response["Location"] == reverse("accounts:verify")
    assert not TOTPDevice.objects.filter(confirmed=False).exists()


def test_verified_user_may_replace_the_authenticator(signed_in, caseworker_a):
    client = signed_in(caseworker_a)
    old = TOTPDevice.objects.get(user=caseworker_a)
    client.post(reverse("accounts:enrol"), {"password": PASSWORD})
    client.get(reverse("accounts:enrol"))
    new = _pending(caseworker_a)
    client.post(reverse("accounts:enrol"), {"otp_token": current_code(new)})
    assert list(TOTPDevice.objects.filter(user=caseworker_a)) == [new]
    assert old.pk != new.pk


# --- Password change ------------------------------------------------------------------


@pytest.fixture
def first_sign_in(client, admin_user, org_a):
    """A new user created with a one-time password, signed in with both factors."""
    new = services.user_create(
        actor=admin_user,
        username="new-starter",
        email="new-starter@example.invalid",
        organisation_id=org_a.pk,
        roles=[Role.CASE_MANAGER],
    )
    password_sign_in(client, "new-starter", new.one_time_password)
    client.get(reverse("accounts:enrol"))
    device = _pending(new.user)
    client.post(reverse("accounts:enrol"), {"otp_token": current_code(device)})
    return client, new


def test_new_user_is_sent_to_password_page_after_second_factor(first_sign_in):
    client, _new = first_sign_in
    assert _is_verified(client)
    response = client.get("/")
    assert response["Location"] == reverse("accounts:password_change")


def _change(client, old, new, again=None):
    return client.post(
        reverse("accounts:password_change"),
        {
            "old_password": old,
            "new_password": new,
            "new_password_again": new if again is None else again,
        },
    )


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("short", "This password is too short"),
        ("common", "This password is too common"),
        ("numeric", "This password is entirely numeric"),
        ("mismatch", "The two new passwords differ"),
        ("like-username", "too similar to the username"),
        ("unchanged", "must differ from the current one"),
    ],
)
def test_password_policy_violation_shows_message_and_changes_nothing(
    first_sign_in, kind, message
):
    client, new = first_sign_in
    otp = new.one_time_password
    attempts = {
        "short": (otp, "Sh0rt-pw"),
        "common": (otp, "password1234"),
        "numeric": (otp, "804215937261"),
        "mismatch": (otp, GOOD_NEW_PASSWORD, GOOD_NEW_PASSWORD + "x"),
        "like-username": (otp, "new-starter1"),
        "unchanged": (otp, otp),
    }
    before = snapshot()
    response = _change(client, *attempts[kind])
    assert response.status_code == 200
    assert message in _text(response)
    assert_unchanged(before)
    user = User.objects.get(username="new-starter")
    assert user.must_change_password
    assert user.check_password(otp)


def test_password_change_clears_flag_audits_and_keeps_session(first_sign_in):
    client, new = first_sign_in
    response = _change(client, new.one_time_password, GOOD_NEW_PASSWORD)
    assert response["Location"] == reverse("home")
    user = User.objects.get(username="new-starter")
    assert not user.must_change_password
    assert user.check_password(GOOD_NEW_PASSWORD)
    assert "accounts.password_changed" in audit_actions(user)
    home = client.get("/", follow=True)
    assert home.status_code == 200
    assert "Your password is changed." in message_texts(home)


def test_password_change_ends_the_users_other_sessions(signed_in, caseworker_a):
    here = signed_in(caseworker_a)
    elsewhere = signed_in(caseworker_a)
    assert elsewhere.get("/").status_code == 200
    response = _change(here, PASSWORD, GOOD_NEW_PASSWORD)
    assert response["Location"] == reverse("home")
    assert here.get("/").status_code == 200
    assert elsewhere.get("/")["Location"].startswith(reverse("accounts:login"))


# --- CSRF -----------------------------------------------------------------------------


def test_sign_in_without_csrf_token_is_refused_and_changes_nothing(caseworker_a):
    client = Client(enforce_csrf_checks=True)
    before = snapshot()
    response = password_sign_in(client, "caseworker-a", PASSWORD)
    assert response.status_code == 403
    assert "The form could not be sent" in _text(response)
    assert not _is_signed_in(client)
    assert_unchanged(before)


def test_sign_in_with_csrf_token_works(caseworker_a):
    client = Client(enforce_csrf_checks=True)
    client.get(reverse("accounts:login"))
    token = client.cookies["csrftoken"].value
    response = client.post(
        reverse("accounts:login"),
        {
            "username": "caseworker-a",
            "password": PASSWORD,
            "csrfmiddlewaretoken": token,
        },
    )
    assert response.status_code == 302


def test_admin_form_without_csrf_token_is_refused_and_changes_nothing(admin_user):
    client = Client(enforce_csrf_checks=True)
    sign_in_verified(client, admin_user)
    before = snapshot()
    response = client.post(
        reverse("accounts:organisation_create"),
        {"name": "Fictional Shelter D", "country": "BG", "org_type": "NGO"},
    )
    assert response.status_code == 403
    assert "The form could not be sent" in _text(response)
    assert_unchanged(before)


# --- Administration: access -----------------------------------------------------------


def _admin_urls(org: Organisation, user: User) -> list[str]:
    return [
        reverse("accounts:organisation_list"),
        reverse("accounts:organisation_create"),
        reverse("accounts:organisation_edit", args=[org.pk]),
        reverse("accounts:user_list"),
        reverse("accounts:user_create"),
        reverse("accounts:user_detail", args=[user.pk]),
        *(
            reverse("accounts:user_action", args=[user.pk, action])
            for action in ("deactivate", "reactivate", "reset")
        ),
    ]


def test_admin_pages_are_refused_to_non_admin(signed_in, caseworker_a, org_b):
    client = signed_in(caseworker_a)
    target = UserFactory(username="someone-else", organisation=org_b)
    before = snapshot()
    for url in _admin_urls(org_b, target):
        for method in (client.get, client.post):
            response = method(url)
            assert response.status_code == 403, (method.__name__, url)
            assert "Only a node administrator" in _text(response)
    assert_unchanged(before)


def test_admin_pages_open_for_admin(signed_in, admin_user, org_b):
    client = signed_in(admin_user)
    target = UserFactory(username="someone-else", organisation=org_b)
    for url in _admin_urls(org_b, target):
        assert client.get(url).status_code == 200, url


# --- Administration: organisations ----------------------------------------------------


def _org_form(**overrides):
    return {
        "name": "Fictional Shelter D",
        "country": "RO",
        "org_type": "NGO",
        "functions": ["SP", "FCP"],
        "is_active": "on",
    } | overrides


def test_admin_creates_organisation(signed_in, admin_user):
    client = signed_in(admin_user)
    response = client.post(reverse("accounts:organisation_create"), _org_form())
    assert response["Location"] == reverse("accounts:organisation_list")
    org = Organisation.objects.get(name="Fictional Shelter D")
    assert (org.country.code, org.org_type, org.functions) == (
        "RO",
        "NGO",
        ["SP", "FCP"],
    )
    assert audit_actions(org) == ["accounts.organisation_created"]
    listing = client.get(response["Location"])
    assert "Fictional Shelter D" in _text(listing)
    assert "Organisation saved." in message_texts(listing)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": "fictional ministry a"}, "An organisation with this name already"),
        ({"name": ""}, "This field is required."),
        ({"country": "ZZ"}, "Select a valid choice."),
        ({"country": ""}, "This field is required."),
        ({"org_type": "bank"}, "Select a valid choice."),
    ],
    ids=["duplicate-name", "missing-name", "bad-country", "no-country", "bad-type"],
)
def test_invalid_organisation_form_is_redisplayed_with_error(
    signed_in, admin_user, overrides, message
):
    client = signed_in(admin_user)
    before = snapshot()
    response = client.post(
        reverse("accounts:organisation_create"), _org_form(**overrides)
    )
    assert response.status_code == 400
    assert message in _text(response)
    assert 'role="alert"' in _text(response)
    assert_unchanged(before)


def test_duplicate_name_error_keeps_the_typed_values(signed_in, admin_user):
    client = signed_in(admin_user)
    response = client.post(
        reverse("accounts:organisation_create"),
        _org_form(name="Fictional Ministry A", country="MD"),
    )
    form = response.context["form"]
    assert form.errors["name"] == ["An organisation with this name already exists."]
    assert form.data["country"] == "MD"


def test_admin_edits_organisation(signed_in, admin_user, org_b):
    client = signed_in(admin_user)
    url = reverse("accounts:organisation_edit", args=[org_b.pk])
    page = client.get(url)
    assert page.context["form"].initial["name"] == "Fictional Shelter B"
    response = client.post(
        url,
        _org_form(
            name="Fictional Shelter B (north)",
            country="BG",
            functions=["SP"],
            is_active="",
            confirm_deactivation="on",
        ),
    )
    assert response.status_code == 302
    org_b.refresh_from_db()
    assert (org_b.name, org_b.is_active, org_b.functions) == (
        "Fictional Shelter B (north)",
        False,
        ["SP"],
    )
    assert audit_actions(org_b) == [
        "accounts.organisation_updated",
        "accounts.organisation_deactivated",
    ]


def test_edit_to_another_organisations_name_is_refused(
    signed_in, admin_user, org_a, org_b
):
    client = signed_in(admin_user)
    before = snapshot()
    response = client.post(
        reverse("accounts:organisation_edit", args=[org_b.pk]),
        _org_form(name=org_a.name),
    )
    assert response.status_code == 400
    assert "already exists" in _text(response)
    assert_unchanged(before)


def test_edit_of_unknown_organisation_is_404(signed_in, admin_user):
    client = signed_in(admin_user)
    url = reverse(
        "accounts:organisation_edit", args=["00000000-0000-4000-8000-000000000000"]
    )
    assert client.get(url).status_code == 404


def test_organisation_list_search(signed_in, admin_user, org_a, org_b):
    client = signed_in(admin_user)
    response = client.get(reverse("accounts:organisation_list"), {"q": "shelter"})
    names = [o.name for o in response.context["page"].object_list]
    assert names == ["Fictional Shelter B"]


# --- Administration: users ------------------------------------------------------------


def _user_form(org: Organisation, **overrides):
    return {
        "username": "new-guardian",
        "first_name": "Gita",
        "last_name": "Testperson",
        "email": "new-guardian@example.invalid",
        "organisation": str(org.pk),
        "roles": [Role.GUARDIAN, Role.SERVICE_PROVIDER],
    } | overrides


def test_admin_creates_user_and_sees_one_time_password_once(
    signed_in, admin_user, org_b
):
    client = signed_in(admin_user)
    response = client.post(reverse("accounts:user_create"), _user_form(org_b))
    assert response.status_code == 200
    password = response.context["password"]
    assert f'data-testid="one-time-password">{password}<' in _text(response)
    user = User.objects.get(username="new-guardian")
    assert user.check_password(password)
    assert user.must_change_password
    assert user.organisation == org_b
    assert user.role_codes() == {Role.GUARDIAN, Role.SERVICE_PROVIDER}
    for url in (
        reverse("accounts:user_detail", args=[user.pk]),
        reverse("accounts:user_list"),
    ):
        assert password not in _text(client.get(url))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"username": "CASEWORKER-A"}, "This username is taken."),
        ({"username": "bad name!"}, "Enter a valid username."),
        ({"roles": []}, "This field is required."),
        ({"email": "not-an-email"}, "Enter a valid email address."),
    ],
    ids=["duplicate-username", "bad-username", "no-role", "bad-email"],
)
def test_invalid_user_form_is_redisplayed_with_error(
    signed_in, admin_user, caseworker_a, org_b, overrides, message
):
    client = signed_in(admin_user)
    before = snapshot()
    response = client.post(
        reverse("accounts:user_create"), _user_form(org_b, **overrides)
    )
    assert response.status_code == 400
    assert message in _text(response)
    assert "one-time-password" not in _text(response)
    assert_unchanged(before)


def test_user_form_does_not_offer_deactivated_organisation(signed_in, admin_user):
    closed = OrganisationFactory(name="Fictional Closed Office", is_active=False)
    client = signed_in(admin_user)
    response = client.post(reverse("accounts:user_create"), _user_form(closed))
    assert response.status_code == 400
    assert not User.objects.filter(username="new-guardian").exists()


def test_admin_changes_roles_with_audited_grant_and_revoke(
    signed_in, admin_user, caseworker_a
):
    client = signed_in(admin_user)
    url = reverse("accounts:user_detail", args=[caseworker_a.pk])
    assert client.get(url).context["form"].initial["roles"] == [Role.CASE_MANAGER]
    response = client.post(url, {"roles": [Role.AUDITOR]})
    assert response["Location"] == url
    assert set(caseworker_a.memberships.values_list("role", flat=True)) == {
        Role.AUDITOR
    }
    assert audit_actions(caseworker_a) == [
        "accounts.role_granted",
        "accounts.role_revoked",
    ]


@pytest.mark.parametrize(
    "roles",
    [[Role.CASE_MANAGER], [Role.NODE_ADMINISTRATOR, Role.NATIONAL_CONTACT_POINT]],
)
def test_administrator_cannot_change_own_roles_in_the_page(
    signed_in, admin_user, roles
):
    client = signed_in(admin_user)
    before = snapshot()
    response = client.post(
        reverse("accounts:user_detail", args=[admin_user.pk]), {"roles": roles}
    )
    assert response.status_code == 400
    assert "Another administrator must change your roles" in _text(response)
    assert_unchanged(before)


def test_administrator_cannot_deactivate_self_in_the_page(signed_in, admin_user):
    client = signed_in(admin_user)
    before = snapshot()
    response = client.post(
        reverse("accounts:user_action", args=[admin_user.pk, "deactivate"]),
        follow=True,
    )
    assert "You cannot deactivate your own account." in message_texts(response)
    assert_unchanged(before)


def test_deactivation_asks_for_confirmation_then_acts(
    signed_in, admin_user, caseworker_a
):
    client = signed_in(admin_user)
    url = reverse("accounts:user_action", args=[caseworker_a.pk, "deactivate"])
    page = client.get(url)
    assert page.status_code == 200
    assert "Deactivate the user caseworker-a?" in _text(page)
    assert 'method="post"' in _text(page)
    caseworker_a.refresh_from_db()
    assert caseworker_a.is_active
    response = client.post(url)
    assert response["Location"] == reverse(
        "accounts:user_detail", args=[caseworker_a.pk]
    )
    caseworker_a.refresh_from_db()
    assert not caseworker_a.is_active
    assert audit_actions(caseworker_a) == ["accounts.user_deactivated"]
    assert password_sign_in(Client(), "caseworker-a", PASSWORD).status_code == 200


def test_deactivated_user_session_ends(signed_in, admin_user, caseworker_a):
    victim = signed_in(caseworker_a)
    assert victim.get("/").status_code == 200
    services.user_set_active(actor=admin_user, user_id=caseworker_a.pk, active=False)
    assert victim.get("/")["Location"].startswith(reverse("accounts:login"))


def test_reactivation_asks_for_confirmation_then_acts(
    signed_in, admin_user, caseworker_a
):
    caseworker_a.is_active = False
    caseworker_a.save()
    client = signed_in(admin_user)
    url = reverse("accounts:user_action", args=[caseworker_a.pk, "reactivate"])
    assert "Reactivate the user caseworker-a?" in _text(client.get(url))
    caseworker_a.refresh_from_db()
    assert not caseworker_a.is_active
    client.post(url)
    caseworker_a.refresh_from_db()
    assert caseworker_a.is_active
    assert password_sign_in(Client(), "caseworker-a", PASSWORD).status_code == 302


def test_reset_asks_for_confirmation_then_shows_new_password(
    signed_in, admin_user, caseworker_a
):
    TOTPDeviceFactory(user=caseworker_a)
    client = signed_in(admin_user)
    url = reverse("accounts:user_action", args=[caseworker_a.pk, "reset"])
    page = client.get(url)
    assert "Reset the credentials of caseworker-a?" in _text(page)
    assert TOTPDevice.objects.filter(user=caseworker_a).exists()
    response = client.post(url)
    assert response.status_code == 200
    password = response.context["password"]
    assert password in _text(response)
    caseworker_a.refresh_from_db()
    assert caseworker_a.check_password(password)
    assert caseworker_a.must_change_password
    assert not TOTPDevice.objects.filter(user=caseworker_a).exists()
    assert audit_actions(caseworker_a) == ["accounts.credentials_reset"]


def test_reset_credentials_ends_the_users_open_session(
    signed_in, admin_user, caseworker_a
):
    victim = signed_in(caseworker_a)
    assert victim.get("/").status_code == 200
    signed_in(admin_user).post(
        reverse("accounts:user_action", args=[caseworker_a.pk, "reset"])
    )
    assert victim.get("/")["Location"].startswith(reverse("accounts:login"))


def test_unknown_user_action_is_404(signed_in, admin_user, caseworker_a):
    client = signed_in(admin_user)
    url = reverse("accounts:user_action", args=[caseworker_a.pk, "delete"])
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404
    assert User.objects.filter(pk=caseworker_a.pk, is_active=True).exists()


def test_unknown_user_is_404(signed_in, admin_user):
    client = signed_in(admin_user)
    assert client.get(reverse("accounts:user_detail", args=[987654])).status_code == 404
    url = reverse("accounts:user_action", args=[987654, "reset"])
    assert client.post(url).status_code == 404


@pytest.fixture
def thirty_users(org_b):
    return [
        UserFactory(username=f"listed-{i:02d}", organisation=org_b) for i in range(30)
    ]


def test_user_list_is_paginated(signed_in, admin_user, thirty_users):
    client = signed_in(admin_user)
    first = client.get(reverse("accounts:user_list"))
    second = client.get(reverse("accounts:user_list"), {"page": 2})
    first_names = [u.username for u in first.context["page"].object_list]
    second_names = [u.username for u in second.context["page"].object_list]
    assert len(first_names) == 25
    assert first_names[0] == "admin-a"
    assert second_names == [f"listed-{i:02d}" for i in range(24, 30)]
    assert "Page 2 of 2" in _text(second)
    assert 'rel="prev"' in _text(second)


def test_user_list_search_filters_and_keeps_query_in_page_links(
    signed_in, admin_user, thirty_users
):
    client = signed_in(admin_user)
    response = client.get(reverse("accounts:user_list"), {"q": "LISTED-"})
    page = response.context["page"]
    assert page.paginator.count == 30
    assert all(u.username.startswith("listed-") for u in page.object_list)
    assert "?q=LISTED-&amp;page=2" in _text(response)


def test_user_list_search_without_match_says_so(signed_in, admin_user):
    client = signed_in(admin_user)
    response = client.get(reverse("accounts:user_list"), {"q": "zzz-nobody"})
    assert "No user matches" in _text(response)


def test_user_list_out_of_range_page_shows_last_page(
    signed_in, admin_user, thirty_users
):
    client = signed_in(admin_user)
    response = client.get(reverse("accounts:user_list"), {"page": 99})
    assert response.context["page"].number == 2


# --- Own account: API tokens ----------------------------------------------------------


def test_api_token_is_shown_once_after_creation(signed_in, caseworker_a):
    client = signed_in(caseworker_a)
    response = client.post(
        reverse("accounts:api_token_create"), {"name": "export", "days": 30}
    )
    assert response.status_code == 200
    raw = response.context["new_token"]
    assert raw.startswith("trm_")
    assert raw in _text(response)
    assert raw not in _text(client.get(reverse("accounts:account")))


def test_api_token_form_refuses_too_long_lifetime(signed_in, caseworker_a):
    client = signed_in(caseworker_a)
    response = client.post(
        reverse("accounts:api_token_create"), {"name": "export", "days": 400}
    )
    assert response.status_code == 400
    assert not APIToken.objects.exists()


def test_api_token_revoke_asks_then_revokes(signed_in, caseworker_a):
    client = signed_in(caseworker_a)
    token = services.api_token_create(actor=caseworker_a, name="export").token
    url = reverse("accounts:api_token_revoke", args=[token.pk])
    assert "Revoke API token?" in _text(client.get(url))
    token.refresh_from_db()
    assert token.revoked_at is None
    client.post(url)
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_api_token_of_another_user_cannot_be_revoked(
    signed_in, caseworker_a, caseworker_b
):
    token = services.api_token_create(actor=caseworker_b, name="export").token
    client = signed_in(caseworker_a)
    url = reverse("accounts:api_token_revoke", args=[token.pk])
    assert client.post(url).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_lockout_counts_are_kept_in_the_database(client, caseworker_a):
    _fail(client, 2)
    assert AccessAttempt.objects.get(username="caseworker-a").failures_since_start == 2


# --- Security review: API tokens made from the web page -------------------------------


def test_token_made_in_a_verified_session_is_marked_second_factor(
    signed_in, caseworker_a
):
    client = signed_in(caseworker_a)
    client.post(reverse("accounts:api_token_create"), {"name": "export", "days": 30})
    assert APIToken.objects.get(user=caseworker_a).issued_with_second_factor


def test_token_made_in_a_password_only_session_is_not_marked(client, no_role_user):
    client.force_login(
        no_role_user, backend="django.contrib.auth.backends.ModelBackend"
    )
    response = client.post(
        reverse("accounts:api_token_create"), {"name": "export", "days": 30}
    )
    assert response.status_code == 200
    assert not APIToken.objects.get(user=no_role_user).issued_with_second_factor


# --- Security review: revoking a user's tokens from the admin page --------------------


def test_user_page_shows_live_token_count(signed_in, admin_user, caseworker_a):
    for name in ("one", "two"):
        services.api_token_create(actor=caseworker_a, name=name)
    revoked = services.api_token_create(actor=caseworker_a, name="old").token
    services.api_token_revoke(actor=caseworker_a, token_id=revoked.pk)
    response = signed_in(admin_user).get(
        reverse("accounts:user_detail", args=[caseworker_a.pk])
    )
    assert response.context["live_tokens"] == 2
    assert 'data-testid="live-tokens">2<' in _text(response)
    assert reverse(
        "accounts:user_action", args=[caseworker_a.pk, "revoke-tokens"]
    ) in _text(response)


def test_revoke_all_tokens_asks_then_revokes(signed_in, admin_user, caseworker_a):
    tokens = [services.api_token_create(actor=caseworker_a, name=n).token for n in "ab"]
    client = signed_in(admin_user)
    url = reverse("accounts:user_action", args=[caseworker_a.pk, "revoke-tokens"])
    page = client.get(url)
    assert "Revoke all API tokens of caseworker-a?" in _text(page)
    assert APIToken.objects.filter(revoked_at__isnull=True).count() == 2
    response = client.post(url, follow=True)
    assert "2 tokens revoked." in message_texts(response)
    for token in tokens:
        token.refresh_from_db()
        assert token.revoked_at is not None
        assert audit_actions(token)[-1] == "accounts.api_token_revoked"


def test_revoke_all_tokens_is_refused_to_non_admin(
    signed_in, caseworker_a, caseworker_b
):
    services.api_token_create(actor=caseworker_b, name="export")
    client = signed_in(caseworker_a)
    url = reverse("accounts:user_action", args=[caseworker_b.pk, "revoke-tokens"])
    before = snapshot()
    assert client.post(url).status_code == 403
    assert_unchanged(before)


# --- Security review: deactivated organisations ---------------------------------------


def test_sign_in_to_deactivated_organisation_is_refused_like_deactivated_user(
    client, caseworker_a, caseworker_b
):
    Organisation.objects.filter(pk=caseworker_a.organisation_id).update(is_active=False)
    caseworker_b.is_active = False
    caseworker_b.save()
    org_closed = password_sign_in(client, "caseworker-a", PASSWORD)
    user_closed = password_sign_in(Client(), "caseworker-b", PASSWORD)
    assert org_closed.status_code == user_closed.status_code == 200
    assert org_closed.context["form"].errors == user_closed.context["form"].errors
    assert "The username or password is not correct" in _text(org_closed)
    assert not _is_signed_in(client)
    # Audited and counted towards the lockout like any refused sign-in.
    assert audit_actions(caseworker_a) == ["accounts.sign_in_failed"]
    assert audit_actions(caseworker_b) == ["accounts.sign_in_failed"]
    attempts = dict(
        AccessAttempt.objects.values_list("username", "failures_since_start")
    )
    assert attempts == {"caseworker-a": 1, "caseworker-b": 1}


def test_deactivating_an_organisation_asks_for_confirmation(
    signed_in, admin_user, org_b, caseworker_b
):
    client = signed_in(admin_user)
    url = reverse("accounts:organisation_edit", args=[org_b.pk])
    assert "confirm_deactivation" not in client.get(url).context["form"].fields
    before = snapshot()
    response = client.post(url, _org_form(name=org_b.name, is_active=""))
    assert response.status_code == 400
    text = _text(response)
    assert "This organisation has 1 active user." in text
    assert "Tick this box to confirm" in text
    assert 'name="confirm_deactivation"' in text
    assert_unchanged(before)
    response = client.post(
        url, _org_form(name=org_b.name, is_active="", confirm_deactivation="on")
    )
    assert response.status_code == 302
    org_b.refresh_from_db()
    assert not org_b.is_active


def test_saving_an_active_organisation_needs_no_confirmation(
    signed_in, admin_user, org_b
):
    client = signed_in(admin_user)
    url = reverse("accounts:organisation_edit", args=[org_b.pk])
    response = client.post(url, _org_form(name="Fictional Shelter B (renamed)"))
    assert response.status_code == 302
    org_b.refresh_from_db()
    assert (org_b.name, org_b.is_active) == ("Fictional Shelter B (renamed)", True)


def test_reactivating_an_organisation_needs_no_confirmation(
    signed_in, admin_user, org_b
):
    Organisation.objects.filter(pk=org_b.pk).update(is_active=False)
    client = signed_in(admin_user)
    url = reverse("accounts:organisation_edit", args=[org_b.pk])
    assert client.post(url, _org_form(name=org_b.name)).status_code == 302
    org_b.refresh_from_db()
    assert org_b.is_active


@pytest.mark.parametrize(
    "name", ["Fictional\u200bShelter", "Fictional \u202eShelter"], ids=["zwsp", "rlo"]
)
def test_organisation_form_refuses_hidden_characters(signed_in, admin_user, name):
    client = signed_in(admin_user)
    before = snapshot()
    response = client.post(
        reverse("accounts:organisation_create"), _org_form(name=name)
    )
    assert response.status_code == 400
    assert response.context["form"].errors["name"]
    assert "invisible formatting characters" in _text(response)
    assert_unchanged(before)


def test_user_form_refuses_cyrillic_homoglyph_username(signed_in, admin_user, org_b):
    client = signed_in(admin_user)
    before = snapshot()
    response = client.post(
        reverse("accounts:user_create"), _user_form(org_b, username="\u0430dmin")
    )
    assert response.status_code == 400
    assert "no Cyrillic" in _text(response)
    assert_unchanged(before)


# --- Security review: re-authentication -----------------------------------------------


def _wrong_old(client):
    return _change(client, "not-the-password", GOOD_NEW_PASSWORD)


def test_wrong_current_password_is_audited_and_counted_down(signed_in, caseworker_a):
    client = signed_in(caseworker_a)
    before = snapshot()
    response = _wrong_old(client)
    assert response.status_code == 200
    text = _text(response)
    assert "The current password is not correct" in text
    assert "After 4 more wrong attempts you will be signed out." in text
    assert audit_actions(caseworker_a) == ["accounts.password_change_failed"]
    before["audit"] = cast(int, before["audit"]) + 1  # the failure's entry
    assert snapshot() == before


def test_fifth_wrong_current_password_signs_out(signed_in, caseworker_a):
    client = signed_in(caseworker_a)
    for _ in range(4):
        assert _wrong_old(client).status_code == 200
    assert _is_signed_in(client)
    response = _wrong_old(client)
    assert response["Location"] == reverse("accounts:login")
    assert not _is_signed_in(client)
    login_page = client.get(response["Location"])
    assert any("wrong current password 5 times" in m for m in message_texts(login_page))
    assert audit_actions(caseworker_a).count("accounts.password_change_failed") == 5
    caseworker_a.refresh_from_db()
    assert caseworker_a.check_password(PASSWORD)


def test_right_current_password_resets_the_count(signed_in, caseworker_a):
    client = signed_in(caseworker_a)
    for _ in range(4):
        _wrong_old(client)
    assert _change(client, PASSWORD, GOOD_NEW_PASSWORD).status_code == 302
    response = _change(client, "still-wrong", "another-fine-password-7")
    assert "After 4 more wrong attempts" in _text(response)


def test_replacing_the_authenticator_asks_for_the_password_first(
    signed_in, caseworker_a
):
    client = signed_in(caseworker_a)
    old = TOTPDevice.objects.get(user=caseworker_a)
    page = client.get(reverse("accounts:enrol"))
    assert page.status_code == 200
    assert "Confirm your password" in _text(page)
    assert "<svg" not in _text(page)
    assert not TOTPDevice.objects.filter(confirmed=False).exists()
    # A code posted straight away does not skip the password.
    client.post(reverse("accounts:enrol"), {"otp_token": "123456"})
    assert list(TOTPDevice.objects.filter(user=caseworker_a)) == [old]

    wrong = client.post(reverse("accounts:enrol"), {"password": "guess"})
    assert wrong.status_code == 400
    assert "The current password is not correct" in _text(wrong)
    assert audit_actions(caseworker_a) == ["accounts.reauthentication_failed"]

    right = client.post(reverse("accounts:enrol"), {"password": PASSWORD, "next": "/"})
    assert right.status_code == 302
    assert right["Location"].startswith(reverse("accounts:enrol"))
    page = client.get(right["Location"])
    assert "<svg" in _text(page)
    assert page.context["next"] == "/"


def test_wrong_passwords_when_replacing_the_authenticator_sign_out(
    signed_in, caseworker_a
):
    client = signed_in(caseworker_a)
    for _ in range(5):
        response = client.post(reverse("accounts:enrol"), {"password": "guess"})
    assert response["Location"] == reverse("accounts:login")
    assert not _is_signed_in(client)


def test_first_enrolment_does_not_ask_for_the_password(enrolling):
    page = enrolling.get(reverse("accounts:enrol"))
    assert "<svg" in _text(page)


def test_enrolment_shows_throttle_message_after_a_wrong_code(
    enrolling, caseworker_a, clock
):
    enrolling.get(reverse("accounts:enrol"))
    device = _pending(caseworker_a)
    enrolling.post(reverse("accounts:enrol"), {"otp_token": wrong_code(device)})
    response = enrolling.post(
        reverse("accounts:enrol"), {"otp_token": current_code(device)}
    )
    assert "Too many wrong codes" in _text(response)
    assert not _is_verified(enrolling)
    clock.shift(timedelta(seconds=2))
    response = enrolling.post(
        reverse("accounts:enrol"), {"otp_token": current_code(device)}
    )
    assert response.status_code == 302
    assert _is_verified(enrolling)


# --- Security review: usability of the admin pages ------------------------------------


@pytest.mark.parametrize(
    "action", ["deactivate", "reactivate", "reset", "revoke-tokens"]
)
def test_confirmation_pages_name_the_user_and_cancel_to_their_page(
    signed_in, admin_user, caseworker_a, action
):
    client = signed_in(admin_user)
    page = client.get(reverse("accounts:user_action", args=[caseworker_a.pk, action]))
    text = _text(page)
    assert "caseworker-a" in page.context["title"]
    detail = reverse("accounts:user_detail", args=[caseworker_a.pk])
    assert f'href="{detail}" class="button-secondary">Cancel<' in text


def test_own_role_change_is_refused_and_shows_the_saved_roles(signed_in, admin_user):
    client = signed_in(admin_user)
    response = client.post(
        reverse("accounts:user_detail", args=[admin_user.pk]),
        {"roles": [Role.CASE_MANAGER]},
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert form["roles"].value() == [Role.NODE_ADMINISTRATOR]
    assert "Another administrator must change your roles" in _text(response)
    checked = re.findall(r'<input[^>]*name="roles"[^>]*>', _text(response))
    assert [i for i in checked if "checked" in i] == [
        i for i in checked if f'value="{Role.NODE_ADMINISTRATOR}"' in i
    ]


def _details_form(user, **overrides):
    return {
        "form": "details",
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "organisation": str(user.organisation_id),
    } | overrides


def test_admin_edits_a_users_details_on_their_page(
    signed_in, admin_user, caseworker_a, org_b
):
    client = signed_in(admin_user)
    url = reverse("accounts:user_detail", args=[caseworker_a.pk])
    assert client.get(url).context["details_form"].initial["email"] == (
        caseworker_a.email
    )
    response = client.post(
        url,
        _details_form(
            caseworker_a,
            first_name="Мария",
            last_name="Иванова",
            email="maria@example.invalid",
            organisation=str(org_b.pk),
        ),
    )
    assert response["Location"] == url
    caseworker_a.refresh_from_db()
    assert (caseworker_a.get_full_name(), caseworker_a.email) == (
        "Мария Иванова",
        "maria@example.invalid",
    )
    assert caseworker_a.organisation == org_b
    assert caseworker_a.role_codes() == {Role.CASE_MANAGER}
    assert audit_actions(caseworker_a) == ["accounts.user_updated"]
    assert "Details saved." in message_texts(client.get(url))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"email": "not-an-address"}, "Enter a valid email address."),
        ({"first_name": "Ma\u200bria"}, "invisible formatting characters"),
    ],
    ids=["bad-email", "zero-width"],
)
def test_invalid_user_details_are_redisplayed_with_error(
    signed_in, admin_user, caseworker_a, overrides, message
):
    client = signed_in(admin_user)
    before = snapshot()
    response = client.post(
        reverse("accounts:user_detail", args=[caseworker_a.pk]),
        _details_form(caseworker_a, **overrides),
    )
    assert response.status_code == 400
    assert message in _text(response)
    assert_unchanged(before)


def test_user_details_form_is_refused_to_non_admin(
    signed_in, caseworker_a, caseworker_b
):
    client = signed_in(caseworker_a)
    before = snapshot()
    response = client.post(
        reverse("accounts:user_detail", args=[caseworker_b.pk]),
        _details_form(caseworker_b, first_name="Taken over"),
    )
    assert response.status_code == 403
    assert_unchanged(before)


def test_sign_out_address_opened_directly_shows_a_sign_out_button(
    signed_in, caseworker_a
):
    client = signed_in(caseworker_a)
    page = client.get(reverse("accounts:logout"))
    assert page.status_code == 200
    text = _text(page)
    assert f'<form method="post" action="{reverse("accounts:logout")}"' in text
    assert _is_signed_in(client)
    response = client.post(reverse("accounts:logout"))
    assert response["Location"] == reverse("accounts:login")
    assert not _is_signed_in(client)


def test_sign_out_address_when_signed_out_goes_to_sign_in(client):
    response = client.get(reverse("accounts:logout"))
    assert response["Location"] == reverse("accounts:login")


# --- Security review: pages with secrets are not cached -------------------------------


def _no_store(response) -> bool:
    directives = {d.strip() for d in response.get("Cache-Control", "").split(",")}
    return {"no-store", "private"} <= directives


def test_one_time_password_pages_are_not_cached(signed_in, admin_user, org_b):
    client = signed_in(admin_user)
    created = client.post(reverse("accounts:user_create"), _user_form(org_b))
    assert created.context["password"]
    assert _no_store(created)
    user = User.objects.get(username="new-guardian")
    reset = client.post(reverse("accounts:user_action", args=[user.pk, "reset"]))
    assert reset.context["password"]
    assert _no_store(reset)


def test_new_token_and_enrolment_pages_are_not_cached(
    signed_in, enrolling, no_role_user
):
    assert _no_store(enrolling.get(reverse("accounts:enrol")))
    client = signed_in(no_role_user)
    response = client.post(
        reverse("accounts:api_token_create"), {"name": "export", "days": 30}
    )
    assert response.context["new_token"]
    assert _no_store(response)


def test_every_page_for_a_signed_in_user_is_not_cached(signed_in, admin_user):
    client = signed_in(admin_user)
    for url in ("/", reverse("accounts:user_list"), reverse("accounts:account")):
        assert _no_store(client.get(url)), url


def test_public_answers_for_anonymous_visitors_are_not_marked(client):
    assert "no-store" not in client.get("/healthz").get("Cache-Control", "")


def test_account_page_marks_tokens_made_without_second_factor(signed_in, caseworker_a):
    services.api_token_create(actor=caseworker_a, name="old script")
    services.api_token_create(actor=caseworker_a, name="new script", second_factor=True)
    text = _text(signed_in(caseworker_a).get(reverse("accounts:account")))
    assert text.count("Refused: made without two-factor sign-in") == 1
