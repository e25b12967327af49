"""The keep-alive endpoint a long form calls while the person is answering."""

from datetime import timedelta

import pytest
import time_machine
from conftest import sign_in_verified
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from trm.accounts.middleware import SESSION_LAST_SEEN

pytestmark = pytest.mark.django_db

URL = "/accounts/keep-alive/"


@pytest.fixture
def clock():
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        yield traveller


def test_keep_alive_url_is_stable():
    assert reverse("accounts:keep_alive") == URL


def test_keep_alive_answers_204_with_nothing_in_it(signed_in, caseworker_a):
    response = signed_in(caseworker_a).post(URL)
    assert response.status_code == 204
    assert response.content == b""
    assert "no-store" in response["Cache-Control"]


def test_keep_alive_updates_the_last_seen_time(signed_in, caseworker_a, clock):
    client = signed_in(caseworker_a)
    client.get("/")
    before = client.session[SESSION_LAST_SEEN]
    clock.shift(timedelta(minutes=20))
    assert client.post(URL).status_code == 204
    assert client.session[SESSION_LAST_SEEN] == pytest.approx(before + 20 * 60)


def test_keep_alive_while_answering_outlasts_the_idle_limit(
    signed_in, caseworker_a, clock
):
    client = signed_in(caseworker_a)
    client.get("/")
    for _ in range(3):  # 45 minutes on one form, a ping every 15
        clock.shift(timedelta(minutes=15))
        assert client.post(URL).status_code == 204
    clock.shift(timedelta(minutes=15))
    assert client.get("/").status_code == 200
    assert "_auth_user_id" in client.session


def test_keep_alive_does_not_revive_an_idle_session(signed_in, caseworker_a, clock):
    client = signed_in(caseworker_a)
    client.get("/")
    clock.shift(timedelta(minutes=31))
    response = client.post(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    assert "_auth_user_id" not in client.session


def test_keep_alive_signed_out_is_sent_to_sign_in(client):
    response = client.post(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_keep_alive_refuses_get(signed_in, caseworker_a):
    assert signed_in(caseworker_a).get(URL).status_code == 405


def test_keep_alive_needs_the_csrf_token(caseworker_a):
    client = Client(enforce_csrf_checks=True)
    sign_in_verified(client, caseworker_a)
    client.get("/")  # sets the CSRF cookie, as any page does
    assert client.post(URL).status_code == 403
    token = client.cookies["csrftoken"].value
    assert client.post(URL, headers={"X-CSRFToken": token}).status_code == 204
