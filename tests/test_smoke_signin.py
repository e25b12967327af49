from conftest import PASSWORD
from django.urls import reverse

from trm.accounts.tests.factories import TOTPDeviceFactory, current_code


def test_password_then_totp_reaches_home(client, caseworker_a):
    device = TOTPDeviceFactory(user=caseworker_a)
    response = client.post(
        reverse("accounts:login"), {"username": "caseworker-a", "password": PASSWORD}
    )
    assert response.status_code == 302
    home = client.get("/")
    assert home.status_code == 302
    assert home["Location"].startswith(reverse("accounts:verify"))
    response = client.post(
        reverse("accounts:verify"), {"otp_token": current_code(device), "next": "/"}
    )
    assert response.status_code == 302, response.content
    assert client.get("/").status_code == 200
