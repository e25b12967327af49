"""``trm demo seed``: six fictional organisations and one user per role,
idempotent; demo credentials only in demo mode."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django_otp.oath import TOTP

from trm.accounts.models import Membership, Organisation, Role, TOTPDevice, User
from trm.common.htcds import OrgType
from trm.demo import seed

pytestmark = pytest.mark.django_db

PASSWORD = "Demo-only-pass-4-tests"
SECRET = "3132333435363738393031323334353637383930"


@pytest.fixture
def demo(settings, monkeypatch):
    settings.TRM_DEMO = True
    settings.TRM_COUNTRY = "MD"
    monkeypatch.setenv("TRM_DEMO_PASSWORD", PASSWORD)
    monkeypatch.setenv("TRM_DEMO_TOTP_SECRET", SECRET)


def run(*args: str) -> dict[str, Any]:
    out = StringIO()
    call_command("demo", "seed", "--json", *args, stdout=out)
    answer: dict[str, Any] = json.loads(out.getvalue())
    return answer


def test_seeding_creates_six_organisations_and_one_user_per_role(demo):
    first = run()

    orgs = Organisation.objects.filter(home_node="")
    assert first["organisations_created"] == 6 == orgs.count()
    assert all("(fictional)" in o.name and "Moldova" in o.name for o in orgs)
    assert {o.country.code for o in orgs} == {"MD"}
    assert sorted(orgs.values_list("org_type", flat=True)) == sorted(
        [
            OrgType.CENTRAL_GOVERNMENT_ORGANISATION,
            OrgType.CENTRAL_GOVERNMENT_ORGANISATION,
            OrgType.CENTRAL_GOVERNMENT_ORGANISATION,
            OrgType.LAW_ENFORCEMENT,
            OrgType.NGO,
            OrgType.LOCAL_GOVERNMENT_ORGANISATION,
        ]
    )
    assert sorted(Membership.objects.values_list("role", flat=True)) == sorted(
        Role.values
    )
    assert {u["username"] for u in first["users"]} >= {"md-ncp", "md-admin"}
    assert all(u["created"] for u in first["users"])


def test_seeding_again_changes_nothing(demo):
    run()
    before = (Organisation.objects.count(), User.objects.count())

    second = run()

    assert second["organisations_created"] == 0
    assert not any(u["created"] for u in second["users"])
    assert len(second["users"]) == len(Role.values)
    assert (Organisation.objects.count(), User.objects.count()) == before


def test_demo_users_sign_in_with_the_demo_password_and_secret(demo):
    run()

    user = User.objects.get(username="md-cm")
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    assert user.check_password(PASSWORD) and not user.must_change_password
    assert device.bin_key == bytes.fromhex(SECRET)
    # The current code was not used by the enrolment: it signs in now.
    now = TOTP(device.bin_key, device.step, device.t0, device.digits).token()
    assert device.verify_token(now)


def test_without_demo_mode_users_get_one_time_passwords(settings):
    settings.TRM_DEMO = False
    settings.TRM_COUNTRY = "RS"
    result = seed.seed()

    assert all(u.one_time_password for u in result.users)
    assert User.objects.filter(must_change_password=True).count() == len(Role.values)
    assert not TOTPDevice.objects.exists()


def test_a_known_password_is_refused_outside_demo_mode(settings):
    settings.TRM_DEMO = False
    with pytest.raises(Exception, match="only in demo mode"):
        seed.seed(password=PASSWORD, totp_secret_hex=SECRET)
    assert not User.objects.exists()


def test_demo_mode_without_the_secret_is_refused(demo, monkeypatch):
    monkeypatch.delenv("TRM_DEMO_TOTP_SECRET")
    with pytest.raises(CommandError, match="TOTP secret"):
        run()
    assert not Organisation.objects.exists()


@pytest.mark.parametrize(
    ("variant", "deciding"),
    [("rs", {"SS"}), ("md", {"NCP"}), ("mk", {"CA", "SS"}), ("ro", {"PROS", "CA"})],
)
def test_the_authority_acts_as_the_variants_deciding_body(
    demo, settings, variant, deciding
):
    """The competent-authority user must be able to take the formal
    identification decision under the node's national SOP variant."""
    settings.TRM_SOP_VARIANT = variant
    run()
    ca = Membership.objects.get(role=Role.COMPETENT_AUTHORITY)
    organisation = ca.user.organisation
    assert organisation is not None
    assert deciding <= set(organisation.functions)
