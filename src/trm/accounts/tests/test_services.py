import uuid
from datetime import timedelta
from typing import cast

import pytest
import time_machine
from axes.models import AccessAttempt
from django.utils import timezone

from trm.accounts import errors, selectors, services
from trm.accounts.models import (
    APIToken,
    Membership,
    Organisation,
    Role,
    TOTPDevice,
    TrmFunction,
    User,
    hash_token,
)
from trm.accounts.tests.factories import (
    OrganisationFactory,
    TOTPDeviceFactory,
    UserFactory,
    current_code,
)
from trm.accounts.tests.helpers import (
    assert_unchanged,
    audit_actions,
    snapshot,
    wrong_code,
)
from trm.audit import services as audit
from trm.audit.models import AuditEntry
from trm.common.htcds import OrgType

pytestmark = pytest.mark.django_db

GOOD_NEW_PASSWORD = "violet-lantern-orbit-42"


def _refused(error_class, code, func, /, **kwargs):
    """Assert ``func`` raises ``error_class`` with ``code`` and writes nothing."""
    before = snapshot()
    with pytest.raises(error_class) as info:
        func(**kwargs)
    assert info.value.code == code
    assert info.value.message
    assert_unchanged(before)
    return info.value


def _org_kwargs(**overrides):
    return {
        "name": "Fictional Helpline C",
        "country": "md",
        "org_type": OrgType.NGO,
        "functions": [TrmFunction.SERVICE_PROVIDER],
    } | overrides


# --- organisation_create --------------------------------------------------------------


def test_organisation_create_stores_fields_and_audits(admin_user):
    org = services.organisation_create(actor=admin_user, **_org_kwargs())
    org.refresh_from_db()
    assert (org.name, org.country.code, org.org_type, org.functions) == (
        "Fictional Helpline C",
        "MD",
        OrgType.NGO,
        [TrmFunction.SERVICE_PROVIDER],
    )
    entry = AuditEntry.objects.get(action="accounts.organisation_created")
    assert (entry.actor_id, entry.target_id) == (admin_user.pk, str(org.pk))


def test_organisation_create_without_actor_is_the_bootstrap(db):
    org = services.organisation_create(actor=None, **_org_kwargs())
    entry = AuditEntry.objects.get(action="accounts.organisation_created")
    assert (entry.actor_kind, entry.target_id) == ("system", str(org.pk))


def test_organisation_create_drops_repeated_functions(admin_user):
    org = services.organisation_create(
        actor=admin_user,
        **_org_kwargs(functions=["SP", "FCP", "SP"]),
    )
    assert org.functions == ["SP", "FCP"]


def test_organisation_create_refused_to_non_admin(caseworker_a):
    _refused(
        errors.NotNodeAdministrator,
        "accounts.not_node_administrator",
        services.organisation_create,
        actor=caseworker_a,
        **_org_kwargs(),
    )


def test_organisation_create_refused_to_deactivated_admin(admin_user):
    admin_user.is_active = False
    admin_user.save()
    _refused(
        errors.NotNodeAdministrator,
        "accounts.not_node_administrator",
        services.organisation_create,
        actor=admin_user,
        **_org_kwargs(),
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "   "}, "name"),
        ({"org_type": "not-a-type"}, "org_type"),
        ({"functions": ["SP", "SPY"]}, "functions"),
        ({"country": "ZZ"}, "country"),
        ({"country": ""}, "country"),
    ],
    ids=[
        "blank-name",
        "unknown-type",
        "unknown-function",
        "unknown-country",
        "no-country",
    ],
)
def test_organisation_create_refuses_invalid_input(admin_user, overrides, field):
    error = _refused(
        errors.InvalidInput,
        "accounts.invalid_input",
        services.organisation_create,
        actor=admin_user,
        **_org_kwargs(**overrides),
    )
    assert error.details["field"] == field


def test_organisation_create_refuses_name_taken_in_other_case(admin_user, org_a):
    error = _refused(
        errors.DuplicateName,
        "accounts.duplicate",
        services.organisation_create,
        actor=admin_user,
        **_org_kwargs(name=f"  {org_a.name.upper()} "),
    )
    assert error.status == 409


# --- organisation_update --------------------------------------------------------------


def _update_kwargs(org, **overrides):
    return {
        "organisation_id": org.pk,
        "name": org.name,
        "country": org.country.code,
        "org_type": org.org_type,
        "functions": org.functions,
        "is_active": org.is_active,
    } | overrides


def test_organisation_update_changes_fields_and_audits(admin_user, org_b):
    services.organisation_update(
        actor=admin_user,
        **_update_kwargs(
            org_b, name="Fictional Shelter B2", country="ro", is_active=False
        ),
    )
    org_b.refresh_from_db()
    assert (org_b.name, org_b.country.code, org_b.is_active) == (
        "Fictional Shelter B2",
        "RO",
        False,
    )
    assert audit_actions(org_b) == [
        "accounts.organisation_updated",
        "accounts.organisation_deactivated",
    ]


def test_organisation_update_keeps_own_name(admin_user, org_b):
    services.organisation_update(
        actor=admin_user, **_update_kwargs(org_b, name=org_b.name.lower())
    )
    org_b.refresh_from_db()
    assert org_b.name == "fictional shelter b"


def test_organisation_update_refused_to_non_admin(caseworker_a, org_b):
    _refused(
        errors.NotNodeAdministrator,
        "accounts.not_node_administrator",
        services.organisation_update,
        actor=caseworker_a,
        **_update_kwargs(org_b, name="Taken over"),
    )


def test_organisation_update_of_unknown_organisation_is_not_found(admin_user, org_b):
    error = _refused(
        errors.OrganisationNotFound,
        "accounts.organisation_not_found",
        services.organisation_update,
        actor=admin_user,
        **_update_kwargs(org_b, organisation_id=uuid.uuid4()),
    )
    assert error.status == 404


def test_organisation_update_refuses_name_of_another_organisation(
    admin_user, org_a, org_b
):
    _refused(
        errors.DuplicateName,
        "accounts.duplicate",
        services.organisation_update,
        actor=admin_user,
        **_update_kwargs(org_b, name=org_a.name),
    )


@pytest.mark.parametrize(
    "overrides",
    [{"name": ""}, {"org_type": "bank"}, {"functions": ["XX"]}, {"country": "QQ"}],
    ids=["blank-name", "unknown-type", "unknown-function", "unknown-country"],
)
def test_organisation_update_refuses_invalid_input(admin_user, org_b, overrides):
    _refused(
        errors.InvalidInput,
        "accounts.invalid_input",
        services.organisation_update,
        actor=admin_user,
        **_update_kwargs(org_b, **overrides),
    )


# --- user_create ----------------------------------------------------------------------


def _user_kwargs(org, **overrides):
    return {
        "username": "new-caseworker",
        "email": "new-caseworker@example.invalid",
        "organisation_id": org.pk,
        "roles": [Role.CASE_MANAGER, Role.FIRST_CONTACT_POINT],
        "first_name": "Ada",
        "last_name": "Testperson",
    } | overrides


def test_user_create_gives_one_time_password_roles_and_audit(admin_user, org_b):
    new = services.user_create(actor=admin_user, **_user_kwargs(org_b))
    user = User.objects.get(username="new-caseworker")
    assert user == new.user
    assert user.check_password(new.one_time_password)
    assert len(new.one_time_password) >= 16
    assert user.must_change_password
    assert user.organisation == org_b
    assert set(user.memberships.values_list("role", flat=True)) == {
        Role.CASE_MANAGER,
        Role.FIRST_CONTACT_POINT,
    }
    assert set(user.memberships.values_list("granted_by", flat=True)) == {admin_user.pk}
    assert audit_actions(user) == ["accounts.user_created"]


def test_user_create_gives_each_user_a_different_password(admin_user, org_b):
    first = services.user_create(actor=admin_user, **_user_kwargs(org_b))
    second = services.user_create(
        actor=admin_user, **_user_kwargs(org_b, username="other-caseworker")
    )
    assert first.one_time_password != second.one_time_password


def test_user_create_without_actor_is_the_bootstrap(org_a):
    new = services.user_create(
        actor=None, **_user_kwargs(org_a, roles=[Role.NODE_ADMINISTRATOR])
    )
    assert new.user.has_role(Role.NODE_ADMINISTRATOR)


def test_user_create_refused_to_non_admin(caseworker_a, org_b):
    _refused(
        errors.NotNodeAdministrator,
        "accounts.not_node_administrator",
        services.user_create,
        actor=caseworker_a,
        **_user_kwargs(org_b),
    )


def test_user_create_refuses_blank_username(admin_user, org_b):
    error = _refused(
        errors.InvalidInput,
        "accounts.invalid_input",
        services.user_create,
        actor=admin_user,
        **_user_kwargs(org_b, username="  "),
    )
    assert error.details["field"] == "username"


def test_user_create_refuses_unknown_role(admin_user, org_b):
    error = _refused(
        errors.InvalidInput,
        "accounts.invalid_input",
        services.user_create,
        actor=admin_user,
        **_user_kwargs(org_b, roles=[Role.CASE_MANAGER, "superhero"]),
    )
    assert error.details["field"] == "roles"
    assert "superhero" in error.message


def test_user_create_refuses_unknown_organisation(admin_user):
    _refused(
        errors.OrganisationNotFound,
        "accounts.organisation_not_found",
        services.user_create,
        actor=admin_user,
        **_user_kwargs(OrganisationFactory.build()),
    )


def test_user_create_refuses_deactivated_organisation(admin_user):
    closed = OrganisationFactory(name="Fictional Closed Office", is_active=False)
    _refused(
        errors.OrganisationNotFound,
        "accounts.organisation_not_found",
        services.user_create,
        actor=admin_user,
        **_user_kwargs(closed),
    )


def test_user_create_refuses_username_taken_in_other_case(
    admin_user, caseworker_a, org_b
):
    error = _refused(
        errors.DuplicateName,
        "accounts.duplicate",
        services.user_create,
        actor=admin_user,
        **_user_kwargs(org_b, username=" CASEWORKER-A "),
    )
    assert error.details["field"] == "username"


# --- user_set_roles -------------------------------------------------------------------


def test_user_set_roles_grants_and_revokes_with_one_audit_entry_each(
    admin_user, caseworker_a
):
    services.user_set_roles(
        actor=admin_user,
        user_id=caseworker_a.pk,
        roles=[Role.AUDITOR, Role.GUARDIAN],
    )
    assert set(caseworker_a.memberships.values_list("role", flat=True)) == {
        Role.AUDITOR,
        Role.GUARDIAN,
    }
    assert audit_actions(caseworker_a) == [
        "accounts.role_granted",
        "accounts.role_granted",
        "accounts.role_revoked",
    ]
    granted = Membership.objects.get(user=caseworker_a, role=Role.AUDITOR)
    assert granted.granted_by == admin_user


def test_user_set_roles_with_same_roles_changes_nothing(admin_user, caseworker_a):
    before = snapshot()
    services.user_set_roles(
        actor=admin_user, user_id=caseworker_a.pk, roles=[Role.CASE_MANAGER]
    )
    assert_unchanged(before)


def test_user_set_roles_returns_user_with_fresh_roles(admin_user, caseworker_a):
    user = services.user_set_roles(
        actor=admin_user, user_id=caseworker_a.pk, roles=[Role.PROSECUTOR]
    )
    assert user.role_codes() == {Role.PROSECUTOR}


def test_user_set_roles_refused_to_non_admin(caseworker_a):
    _refused(
        errors.NotNodeAdministrator,
        "accounts.not_node_administrator",
        services.user_set_roles,
        actor=caseworker_a,
        user_id=caseworker_a.pk,
        roles=[Role.NODE_ADMINISTRATOR],
    )


def test_user_set_roles_of_unknown_user_is_not_found(admin_user):
    _refused(
        errors.UserNotFound,
        "accounts.user_not_found",
        services.user_set_roles,
        actor=admin_user,
        user_id=987654,
        roles=[],
    )


def test_user_set_roles_refuses_unknown_role(admin_user, caseworker_a):
    _refused(
        errors.InvalidInput,
        "accounts.invalid_input",
        services.user_set_roles,
        actor=admin_user,
        user_id=caseworker_a.pk,
        roles=[Role.AUDITOR, "root"],
    )


@pytest.mark.parametrize(
    "roles",
    [
        [Role.NODE_ADMINISTRATOR, Role.NATIONAL_CONTACT_POINT],
        [Role.NODE_ADMINISTRATOR, Role.AUDITOR],
        [Role.CASE_MANAGER],
        [],
    ],
)
def test_administrator_cannot_change_their_own_roles(admin_user, roles):
    UserFactory(username="second-admin", roles=[Role.NODE_ADMINISTRATOR])
    error = _refused(
        errors.OwnRolesLocked,
        "accounts.own_roles_locked",
        services.user_set_roles,
        actor=admin_user,
        user_id=admin_user.pk,
        roles=roles,
    )
    assert "Another administrator must change your roles" in error.message


def test_another_administrator_may_revoke_the_role(admin_user):
    second = UserFactory(username="second-admin", roles=[Role.NODE_ADMINISTRATOR])
    services.user_set_roles(actor=second, user_id=admin_user.pk, roles=[])
    assert not admin_user.memberships.exists()
    assert audit_actions(admin_user) == ["accounts.role_revoked"]


# --- user_set_active ------------------------------------------------------------------


def test_user_set_active_deactivates_and_reactivates_with_audit(
    admin_user, caseworker_a
):
    services.user_set_active(actor=admin_user, user_id=caseworker_a.pk, active=False)
    caseworker_a.refresh_from_db()
    assert not caseworker_a.is_active
    services.user_set_active(actor=admin_user, user_id=caseworker_a.pk, active=True)
    caseworker_a.refresh_from_db()
    assert caseworker_a.is_active
    assert audit_actions(caseworker_a) == [
        "accounts.user_deactivated",
        "accounts.user_activated",
    ]


def test_user_set_active_refused_to_non_admin(caseworker_a, caseworker_b):
    _refused(
        errors.NotNodeAdministrator,
        "accounts.not_node_administrator",
        services.user_set_active,
        actor=caseworker_a,
        user_id=caseworker_b.pk,
        active=False,
    )


def test_user_set_active_of_unknown_user_is_not_found(admin_user):
    _refused(
        errors.UserNotFound,
        "accounts.user_not_found",
        services.user_set_active,
        actor=admin_user,
        user_id=987654,
        active=False,
    )


def test_administrator_cannot_deactivate_own_account(admin_user):
    _refused(
        errors.InvalidInput,
        "accounts.invalid_input",
        services.user_set_active,
        actor=admin_user,
        user_id=admin_user.pk,
        active=False,
    )


def test_last_node_administrator_cannot_be_deactivated(admin_user):
    """The actor's role was revoked meanwhile (a stale request); the target is
    then the only administrator left."""
    other = UserFactory(username="other-admin", roles=[Role.NODE_ADMINISTRATOR])
    assert admin_user.has_role(Role.NODE_ADMINISTRATOR)  # cached on the instance
    Membership.objects.filter(user=admin_user).delete()
    _refused(
        errors.LastAdministrator,
        "accounts.last_administrator",
        services.user_set_active,
        actor=admin_user,
        user_id=other.pk,
        active=False,
    )


def test_administrator_may_deactivate_another_administrator(admin_user):
    other = UserFactory(username="other-admin", roles=[Role.NODE_ADMINISTRATOR])
    services.user_set_active(actor=admin_user, user_id=other.pk, active=False)
    other.refresh_from_db()
    assert not other.is_active


# --- user_reset_credentials -----------------------------------------------------------


def test_reset_credentials_issues_password_removes_devices_and_audits(
    admin_user, caseworker_a
):
    TOTPDeviceFactory(user=caseworker_a)
    TOTPDeviceFactory(user=caseworker_a, confirmed=False)
    kept = TOTPDeviceFactory(user=admin_user)
    new = services.user_reset_credentials(actor=admin_user, user_id=caseworker_a.pk)
    caseworker_a.refresh_from_db()
    assert caseworker_a.check_password(new.one_time_password)
    assert caseworker_a.must_change_password
    assert list(TOTPDevice.objects.all()) == [kept]
    assert audit_actions(caseworker_a) == ["accounts.credentials_reset"]


def test_reset_credentials_lifts_lockout_of_that_user_only(admin_user, caseworker_a):
    for username in ("caseworker-a", "caseworker-b"):
        AccessAttempt.objects.create(
            username=username,
            ip_address="127.0.0.1",
            user_agent="test",
            failures_since_start=5,
            get_data="",
            post_data="",
            http_accept="",
            path_info="/accounts/login/",
        )
    services.user_reset_credentials(actor=admin_user, user_id=caseworker_a.pk)
    assert list(AccessAttempt.objects.values_list("username", flat=True)) == [
        "caseworker-b"
    ]


def test_reset_credentials_refused_to_non_admin(caseworker_a, caseworker_b):
    _refused(
        errors.NotNodeAdministrator,
        "accounts.not_node_administrator",
        services.user_reset_credentials,
        actor=caseworker_a,
        user_id=caseworker_b.pk,
    )


def test_reset_credentials_of_unknown_user_is_not_found(admin_user):
    _refused(
        errors.UserNotFound,
        "accounts.user_not_found",
        services.user_reset_credentials,
        actor=admin_user,
        user_id=987654,
    )


# --- password_change ------------------------------------------------------------------


def test_password_change_sets_password_clears_flag_and_audits(caseworker_a):
    caseworker_a.must_change_password = True
    caseworker_a.save()
    services.password_change(
        user=caseworker_a,
        old_password="correct-horse-battery-staple",
        new_password=GOOD_NEW_PASSWORD,
    )
    caseworker_a.refresh_from_db()
    assert caseworker_a.check_password(GOOD_NEW_PASSWORD)
    assert not caseworker_a.must_change_password
    assert audit_actions(caseworker_a) == ["accounts.password_changed"]


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ("correct-horse-battery-staple", "correct-horse-battery-staple", "differ"),
        ("correct-horse-battery-staple", "Sh0rt-pw", "too short"),
        ("correct-horse-battery-staple", "password1234", "too common"),
        ("correct-horse-battery-staple", "804215937261", "entirely numeric"),
        ("correct-horse-battery-staple", "caseworker-a!", "too similar"),
    ],
    ids=["unchanged", "short", "common", "numeric", "like-username"],
)
def test_password_change_refusals_change_nothing(caseworker_a, old, new, fragment):
    caseworker_a.must_change_password = True
    caseworker_a.save()
    error = _refused(
        errors.InvalidInput,
        "accounts.invalid_input",
        services.password_change,
        user=caseworker_a,
        old_password=old,
        new_password=new,
    )
    assert fragment in error.message
    caseworker_a.refresh_from_db()
    assert caseworker_a.must_change_password


def test_password_policy_refusal_lists_every_reason(caseworker_a):
    error = _refused(
        errors.InvalidInput,
        "accounts.invalid_input",
        services.password_change,
        user=caseworker_a,
        old_password="correct-horse-battery-staple",
        new_password="12345678",
    )
    assert len(error.details["messages"]) == 3  # short, common, numeric


# --- Second factor enrolment ----------------------------------------------------------


def test_enrol_start_creates_unconfirmed_device_with_returned_secret(caseworker_a):
    pending = services.totp_enrol_start(user=caseworker_a)
    device = TOTPDevice.objects.get(user=caseworker_a)
    assert device == pending.device
    assert not device.confirmed
    assert device.bin_key == bytes.fromhex(pending.secret_hex)


def test_enrol_start_replaces_unconfirmed_device_but_keeps_confirmed_one(
    caseworker_a,
):
    confirmed = TOTPDeviceFactory(user=caseworker_a)
    first = services.totp_enrol_start(user=caseworker_a).device
    second = services.totp_enrol_start(user=caseworker_a).device
    assert set(TOTPDevice.objects.filter(user=caseworker_a)) == {confirmed, second}
    assert first.pk != second.pk


def test_enrol_confirm_with_right_code_confirms_replaces_old_and_audits(
    caseworker_a,
):
    old = TOTPDeviceFactory(user=caseworker_a)
    pending = services.totp_enrol_start(user=caseworker_a).device
    device = services.totp_enrol_confirm(
        user=caseworker_a, device_id=pending.pk, token=current_code(pending)
    )
    assert device.confirmed
    assert list(TOTPDevice.objects.filter(user=caseworker_a)) == [device]
    assert not TOTPDevice.objects.filter(pk=old.pk).exists()
    assert audit_actions(caseworker_a) == ["accounts.totp_enrolled"]


def test_enrol_confirm_with_wrong_code_is_refused(caseworker_a):
    pending = services.totp_enrol_start(user=caseworker_a).device
    error = _refused(
        errors.InvalidTOTPCode,
        "accounts.invalid_totp_code",
        services.totp_enrol_confirm,
        user=caseworker_a,
        device_id=pending.pk,
        token=wrong_code(pending),
    )
    assert error.details["field"] == "otp_token"


def test_enrol_confirm_of_another_users_device_is_refused(caseworker_a, caseworker_b):
    pending = services.totp_enrol_start(user=caseworker_b).device
    _refused(
        errors.InvalidTOTPCode,
        "accounts.invalid_totp_code",
        services.totp_enrol_confirm,
        user=caseworker_a,
        device_id=pending.pk,
        token=current_code(pending),
    )


def test_enrol_confirm_of_already_confirmed_device_is_refused(caseworker_a):
    device = TOTPDeviceFactory(user=caseworker_a)
    _refused(
        errors.InvalidTOTPCode,
        "accounts.invalid_totp_code",
        services.totp_enrol_confirm,
        user=caseworker_a,
        device_id=device.pk,
        token=current_code(device),
    )


# --- API tokens -----------------------------------------------------------------------


def test_api_token_create_stores_only_the_hash_and_audits(caseworker_a):
    with time_machine.travel(timezone.now(), tick=False):
        new = services.api_token_create(actor=caseworker_a, name=" export ", days=30)
        expected_expiry = timezone.now() + timedelta(days=30)
    token = APIToken.objects.get()
    assert new.raw.startswith("trm_")
    assert token.token_hash == hash_token(new.raw)
    assert new.raw not in {token.token_hash, token.prefix, token.name}
    assert new.raw.startswith(token.prefix)
    assert token.name == "export"
    assert token.expires_at == expected_expiry
    assert audit_actions(token) == ["accounts.api_token_created"]


@pytest.mark.parametrize(
    ("name", "days", "field"),
    [(" ", 90, "name"), ("export", 0, "days"), ("export", 366, "days")],
    ids=["blank-name", "zero-days", "over-a-year"],
)
def test_api_token_create_refuses_invalid_input(caseworker_a, name, days, field):
    error = _refused(
        errors.InvalidInput,
        "accounts.invalid_input",
        services.api_token_create,
        actor=caseworker_a,
        name=name,
        days=days,
    )
    assert error.details["field"] == field


def test_api_token_revoke_by_owner_sets_revoked_and_audits_once(caseworker_a):
    token = services.api_token_create(actor=caseworker_a, name="export").token
    services.api_token_revoke(actor=caseworker_a, token_id=token.pk)
    services.api_token_revoke(actor=caseworker_a, token_id=token.pk)
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert audit_actions(token) == [
        "accounts.api_token_created",
        "accounts.api_token_revoked",
    ]


def test_api_token_revoke_of_another_users_token_is_not_found(
    caseworker_a, caseworker_b
):
    token = services.api_token_create(actor=caseworker_b, name="export").token
    _refused(
        errors.UserNotFound,
        "accounts.user_not_found",
        services.api_token_revoke,
        actor=caseworker_a,
        token_id=token.pk,
    )


def test_node_administrator_may_revoke_any_token(admin_user, caseworker_b):
    token = services.api_token_create(actor=caseworker_b, name="export").token
    services.api_token_revoke(actor=admin_user, token_id=token.pk)
    token.refresh_from_db()
    assert token.revoked_at is not None


# --- Sign-in events -------------------------------------------------------------------


def test_record_sign_in_audits_the_step(caseworker_a):
    services.record_sign_in(user=caseworker_a, step="password")
    assert audit_actions(caseworker_a) == ["accounts.signed_in.password"]


def test_audit_chain_stays_valid_after_account_changes(admin_user, org_b):
    new = services.user_create(actor=admin_user, **_user_kwargs(org_b))
    services.user_set_roles(actor=admin_user, user_id=new.user.pk, roles=[])
    services.user_reset_credentials(actor=admin_user, user_id=new.user.pk)
    result = audit.verify()
    assert result.ok, result.reason
    assert result.checked == 4


def test_unchanged_check_notices_a_write(db):
    before = snapshot()
    Organisation.objects.create(name="Fictional Extra", country="BG", org_type="NGO")
    with pytest.raises(AssertionError, match="organisations"):
        assert_unchanged(before)


# --- Security review: tokens and the second factor ------------------------------------


@pytest.mark.parametrize("second_factor", [True, False])
def test_api_token_create_records_whether_the_session_passed_two_factors(
    caseworker_a, second_factor
):
    new = services.api_token_create(
        actor=caseworker_a, name="export", second_factor=second_factor
    )
    new.token.refresh_from_db()
    assert new.token.issued_with_second_factor is second_factor


def test_api_token_made_by_a_service_call_defaults_to_no_second_factor(caseworker_a):
    token = services.api_token_create(actor=caseworker_a, name="export").token
    token.refresh_from_db()
    assert token.issued_with_second_factor is False


def _tokens_of(user, count: int) -> list[APIToken]:
    return [
        services.api_token_create(actor=user, name=f"script {i}").token
        for i in range(count)
    ]


def test_reset_credentials_revokes_the_users_live_tokens_with_audit(
    admin_user, caseworker_a, caseworker_b
):
    live = _tokens_of(caseworker_a, 2)
    other = _tokens_of(caseworker_b, 1)[0]
    services.user_reset_credentials(actor=admin_user, user_id=caseworker_a.pk)
    for token in live:
        token.refresh_from_db()
        assert token.revoked_at is not None
        assert audit_actions(token) == [
            "accounts.api_token_created",
            "accounts.api_token_revoked",
        ]
    other.refresh_from_db()
    assert other.revoked_at is None


def test_api_tokens_revoke_all_revokes_only_live_tokens_and_counts_them(
    admin_user, caseworker_a
):
    live = _tokens_of(caseworker_a, 2)
    revoked = _tokens_of(caseworker_a, 1)[0]
    services.api_token_revoke(actor=caseworker_a, token_id=revoked.pk)
    revoked.refresh_from_db()
    revoked_at = revoked.revoked_at

    count = services.api_tokens_revoke_all(actor=admin_user, user_id=caseworker_a.pk)

    assert count == 2
    assert all(APIToken.objects.get(pk=t.pk).revoked_at is not None for t in live)
    revoked.refresh_from_db()
    assert revoked.revoked_at == revoked_at
    entries = AuditEntry.objects.filter(
        action="accounts.api_token_revoked", actor_id=admin_user.pk
    )
    assert sorted(entries.values_list("target_id", flat=True)) == sorted(
        str(t.pk) for t in live
    )


def test_api_tokens_revoke_all_refused_to_non_admin(caseworker_a, caseworker_b):
    _tokens_of(caseworker_b, 1)
    _refused(
        errors.NotNodeAdministrator,
        "accounts.not_node_administrator",
        services.api_tokens_revoke_all,
        actor=caseworker_a,
        user_id=caseworker_b.pk,
    )


def test_api_tokens_revoke_all_of_unknown_user_is_not_found(admin_user):
    _refused(
        errors.UserNotFound,
        "accounts.user_not_found",
        services.api_tokens_revoke_all,
        actor=admin_user,
        user_id=987654,
    )


# --- Security review: hidden characters, case in every script -------------------------

HIDDEN = {
    "nul": "\x00",
    "tab": "\t",
    "newline": "\n",
    "del": "\x7f",
    "lre": "\u202a",
    "rlo": "\u202e",
    "lri": "\u2066",
    "pdi": "\u2069",
    "zwsp": "\u200b",
    "zwj": "\u200d",
    "word-joiner": "\u2060",
    "bom": "\ufeff",
}


@pytest.mark.parametrize("char", HIDDEN.values(), ids=HIDDEN.keys())
def test_organisation_name_with_hidden_character_is_refused(admin_user, org_b, char):
    name = f"Fictional{char}Helpline"
    for func, kwargs in (
        (services.organisation_create, _org_kwargs(name=name)),
        (services.organisation_update, _update_kwargs(org_b, name=name)),
    ):
        error = _refused(
            errors.InvalidInput,
            "accounts.invalid_input",
            func,
            actor=admin_user,
            **kwargs,
        )
        assert error.details["field"] == "name"


@pytest.mark.parametrize("char", HIDDEN.values(), ids=HIDDEN.keys())
@pytest.mark.parametrize("field", ["username", "first_name", "last_name"])
def test_user_fields_with_hidden_character_are_refused(admin_user, org_b, field, char):
    error = _refused(
        errors.InvalidInput,
        "accounts.invalid_input",
        services.user_create,
        actor=admin_user,
        **_user_kwargs(org_b, **{field: f"ab{char}cd"}),
    )
    assert error.details["field"] == field


def test_organisation_name_differing_only_in_cyrillic_case_is_a_duplicate(admin_user):
    services.organisation_create(
        actor=admin_user, **_org_kwargs(name="Министерство на труда")
    )
    _refused(
        errors.DuplicateName,
        "accounts.duplicate",
        services.organisation_create,
        actor=admin_user,
        **_org_kwargs(name="министерство на труда".upper()),
    )


def test_organisation_rename_to_cyrillic_case_variant_of_another_is_refused(
    admin_user, org_b
):
    services.organisation_create(
        actor=admin_user, **_org_kwargs(name="Дирекция Социално подпомагане")
    )
    _refused(
        errors.DuplicateName,
        "accounts.duplicate",
        services.organisation_update,
        actor=admin_user,
        **_update_kwargs(org_b, name="ДИРЕКЦИЯ социално подпомагане"),
    )


def test_organisation_may_change_the_case_of_its_own_cyrillic_name(admin_user):
    org = services.organisation_create(
        actor=admin_user, **_org_kwargs(name="агенция за закрила на детето")
    )
    services.organisation_update(
        actor=admin_user,
        **_update_kwargs(org, name="Агенция за закрила на детето"),
    )
    org.refresh_from_db()
    assert org.name == "Агенция за закрила на детето"
    assert org.name_key == "агенция за закрила на детето"


def test_organisation_search_ignores_cyrillic_case(admin_user):
    services.organisation_create(
        actor=admin_user, **_org_kwargs(name="Министерство на вътрешните работи")
    )
    found = selectors.organisation_list(actor=admin_user, query="министерство")
    assert [o.name for o in found] == ["Министерство на вътрешните работи"]


@pytest.mark.parametrize("query", ["иван", "ИВАН", "петров", "иван петров", "IVAN.P"])
def test_user_search_ignores_case_in_every_script(admin_user, org_b, query):
    services.user_create(
        actor=admin_user,
        **_user_kwargs(org_b, username="ivan.p", first_name="Иван", last_name="Петров"),
    )
    found = selectors.user_list_for_admin(actor=admin_user, query=query)
    assert [u.username for u in found] == ["ivan.p"]


@pytest.mark.parametrize(
    "username",
    ["\u0430dmin", "ad\u043cin", "jos\u00e9", "ivan petrov", "ivan!", "иван"],
    ids=["cyrillic-a", "cyrillic-m", "accent", "space", "punctuation", "cyrillic"],
)
def test_user_create_refuses_username_outside_ascii_letters(
    admin_user, org_b, username
):
    error = _refused(
        errors.InvalidInput,
        "accounts.invalid_input",
        services.user_create,
        actor=admin_user,
        **_user_kwargs(org_b, username=username),
    )
    assert error.details["field"] == "username"


def test_user_create_accepts_username_with_allowed_punctuation(admin_user, org_b):
    new = services.user_create(
        actor=admin_user, **_user_kwargs(org_b, username="i.petrov+ncp@bg_x-1")
    )
    assert new.user.username == "i.petrov+ncp@bg_x-1"


# --- Security review: user_update -----------------------------------------------------


def _details(user, **overrides):
    return {
        "user_id": user.pk,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "organisation_id": user.organisation_id,
    } | overrides


def test_user_update_changes_details_and_audits_the_field_names(
    admin_user, caseworker_a, org_b
):
    services.user_update(
        actor=admin_user,
        **_details(
            caseworker_a,
            first_name=" Мария ",
            last_name="Иванова",
            email="maria@example.invalid",
            organisation_id=org_b.pk,
        ),
    )
    caseworker_a.refresh_from_db()
    assert (
        caseworker_a.first_name,
        caseworker_a.last_name,
        caseworker_a.email,
        caseworker_a.organisation,
    ) == ("Мария", "Иванова", "maria@example.invalid", org_b)
    assert audit_actions(caseworker_a) == ["accounts.user_updated"]
    found = selectors.user_list_for_admin(actor=admin_user, query="МАРИЯ")
    assert list(found) == [caseworker_a]


def test_user_update_without_changes_writes_nothing(admin_user, caseworker_a):
    before = snapshot()
    services.user_update(actor=admin_user, **_details(caseworker_a))
    assert_unchanged(before)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"email": ""}, "email"),
        ({"first_name": "Ma\u202eria"}, "first_name"),
        ({"last_name": "x" * 151}, "last_name"),
    ],
    ids=["bad-email", "no-email", "bidi-name", "long-name"],
)
def test_user_update_refuses_invalid_details(
    admin_user, caseworker_a, overrides, field
):
    error = _refused(
        errors.InvalidInput,
        "accounts.invalid_input",
        services.user_update,
        actor=admin_user,
        **_details(caseworker_a, **overrides),
    )
    assert error.details["field"] == field


def test_user_update_refuses_moving_to_a_deactivated_organisation(
    admin_user, caseworker_a
):
    closed = OrganisationFactory(name="Fictional Closed Office", is_active=False)
    _refused(
        errors.OrganisationNotFound,
        "accounts.organisation_not_found",
        services.user_update,
        actor=admin_user,
        **_details(caseworker_a, organisation_id=closed.pk),
    )


def test_user_update_keeps_a_user_in_their_deactivated_organisation(
    admin_user, caseworker_b, org_b
):
    Organisation.objects.filter(pk=org_b.pk).update(is_active=False)
    services.user_update(
        actor=admin_user, **_details(caseworker_b, first_name="Renamed")
    )
    caseworker_b.refresh_from_db()
    assert (caseworker_b.first_name, caseworker_b.organisation_id) == (
        "Renamed",
        org_b.pk,
    )


def test_user_update_refused_to_non_admin(caseworker_a, caseworker_b):
    _refused(
        errors.NotNodeAdministrator,
        "accounts.not_node_administrator",
        services.user_update,
        actor=caseworker_a,
        **_details(caseworker_b, first_name="Taken over"),
    )


def test_user_update_of_unknown_user_is_not_found(admin_user, caseworker_a):
    _refused(
        errors.UserNotFound,
        "accounts.user_not_found",
        services.user_update,
        actor=admin_user,
        **_details(caseworker_a, user_id=987654),
    )


# --- Security review: password checks, enrolment throttling ---------------------------


def test_wrong_old_password_is_refused_and_only_the_failure_is_audited(caseworker_a):
    before = snapshot()
    with pytest.raises(errors.WrongPassword) as info:
        services.password_change(
            user=caseworker_a,
            old_password="wrong-old-password",
            new_password=GOOD_NEW_PASSWORD,
        )
    assert info.value.code == "accounts.invalid_input"
    assert "current password is not correct" in info.value.message
    before["audit"] = cast(int, before["audit"]) + 1  # the failure's entry
    assert snapshot() == before
    assert audit_actions(caseworker_a) == ["accounts.password_change_failed"]
    entry = AuditEntry.objects.get(action="accounts.password_change_failed")
    assert entry.data_digest == ""


def test_password_confirm_audits_a_wrong_password(caseworker_a):
    services.password_confirm(
        user=caseworker_a, password="correct-horse-battery-staple"
    )
    with pytest.raises(errors.WrongPassword):
        services.password_confirm(user=caseworker_a, password="guess")
    assert audit_actions(caseworker_a) == ["accounts.reauthentication_failed"]


@pytest.mark.parametrize(
    ("new", "fragment"),
    [("orbit-42-orbit-42-orbit-42-", "repeated"), ("abababababab1", "different")],
    ids=["repeated", "few-distinct"],
)
def test_password_change_refuses_low_variety_password(caseworker_a, new, fragment):
    error = _refused(
        errors.InvalidInput,
        "accounts.invalid_input",
        services.password_change,
        user=caseworker_a,
        old_password="correct-horse-battery-staple",
        new_password=new,
    )
    assert fragment in error.message


def test_wrong_enrolment_code_throttles_even_the_right_code(caseworker_a):
    with time_machine.travel(timezone.now(), tick=False):
        pending = services.totp_enrol_start(user=caseworker_a).device
        with pytest.raises(errors.InvalidTOTPCode):
            services.totp_enrol_confirm(
                user=caseworker_a, device_id=pending.pk, token=wrong_code(pending)
            )
        pending.refresh_from_db()
        assert pending.throttling_failure_count == 1

        with pytest.raises(errors.TOTPThrottled) as info:
            services.totp_enrol_confirm(
                user=caseworker_a, device_id=pending.pk, token=current_code(pending)
            )
    assert info.value.code == "accounts.totp_throttled"
    assert "Too many wrong codes" in info.value.message
    pending.refresh_from_db()
    assert not pending.confirmed


def test_enrolment_code_is_accepted_once_the_throttle_wait_is_over(caseworker_a):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        pending = services.totp_enrol_start(user=caseworker_a).device
        with pytest.raises(errors.InvalidTOTPCode):
            services.totp_enrol_confirm(
                user=caseworker_a, device_id=pending.pk, token=wrong_code(pending)
            )
        clock.shift(timedelta(seconds=2))
        device = services.totp_enrol_confirm(
            user=caseworker_a, device_id=pending.pk, token=current_code(pending)
        )
    assert device.confirmed
    assert device.throttling_failure_count == 0


# --- node users (standing for peer nodes' organisations) ------------------------


@pytest.fixture
def node_account(db):
    from trm.accounts.node_users import node_user

    peer_org = OrganisationFactory(name="Fictional Peer Shelter", home_node="peer-md")
    return node_user(organisation=peer_org, role=Role.SERVICE_PROVIDER)


def test_nobody_can_be_given_the_password_of_a_node_user(admin_user, node_account):
    with pytest.raises(errors.NodeUserProtected):
        services.user_reset_credentials(actor=admin_user, user_id=node_account.pk)
    node_account.refresh_from_db()
    assert not node_account.has_usable_password()


def test_a_node_users_roles_are_not_changed_by_hand(admin_user, node_account):
    with pytest.raises(errors.NodeUserProtected):
        services.user_set_roles(
            actor=admin_user,
            user_id=node_account.pk,
            roles=[Role.NATIONAL_CONTACT_POINT],
        )
    assert set(node_account.memberships.values_list("role", flat=True)) == {
        Role.SERVICE_PROVIDER
    }


def test_a_person_cannot_take_a_node_users_name(admin_user, org_a):
    with pytest.raises(errors.InvalidInput) as refused:
        services.user_create(
            actor=admin_user,
            username="node.peer-md.fictional",
            email="fictional@example.org",
            organisation_id=org_a.pk,
            roles=[Role.CASE_MANAGER],
        )
    assert refused.value.details == {"field": "username"}
