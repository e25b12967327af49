"""Writing profiles and capacity: roles, checks, audit."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from trm.accounts.models import Role
from trm.accounts.tests.factories import UserFactory
from trm.audit.models import AuditEntry
from trm.common.errors import DomainError
from trm.directory import services
from trm.directory.models import ServiceProfile, ServiceType
from trm.directory.tests.factories import ServiceProfileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def profile(org_b):
    return ServiceProfileFactory(organisation=org_b, places_total=10, places_free=4)


@pytest.fixture
def provider_b(org_b):
    return UserFactory(
        username="provider-b", organisation=org_b, roles=[Role.SERVICE_PROVIDER]
    )


def _snapshot() -> tuple[int, list[tuple[object, ...]]]:
    return AuditEntry.objects.count(), sorted(
        ServiceProfile.objects.values_list(
            "pk", "places_total", "places_free", "service_types", "email"
        ),
        key=str,
    )


def _refused(code: str, action: Callable[[], object]) -> DomainError:
    before = _snapshot()
    with pytest.raises(DomainError) as excinfo:
        action()
    assert excinfo.value.code == code, excinfo.value
    assert _snapshot() == before
    return excinfo.value


def test_provider_updates_own_capacity_with_audit(profile, provider_b):
    updated = services.capacity_update(
        actor=provider_b,
        organisation_id=profile.organisation_id,
        places_total=12,
        places_free=0,
        accepts_referrals=False,
    )
    assert (updated.places_total, updated.places_free) == (12, 0)
    assert updated.accepts_referrals is False
    assert updated.capacity_updated_by == provider_b
    assert updated.capacity_updated_at is not None
    entry = AuditEntry.objects.order_by("-seq").first()
    assert entry is not None
    assert entry.action == "directory.capacity_updated"
    assert entry.actor_id == provider_b.pk


def test_case_manager_of_the_organisation_may_update_capacity(profile, caseworker_b):
    services.capacity_update(
        actor=caseworker_b,
        organisation_id=profile.organisation_id,
        places_total=3,
        places_free=3,
    )
    profile.refresh_from_db()
    assert profile.places_free == 3


def test_capacity_below_zero_is_refused(profile, provider_b):
    error = _refused(
        "directory.invalid_input",
        lambda: services.capacity_update(
            actor=provider_b,
            organisation_id=profile.organisation_id,
            places_total=5,
            places_free=-1,
        ),
    )
    assert error.details["field"] == "places_free"
    assert "below zero" in error.message


def test_more_free_places_than_total_is_refused(profile, provider_b):
    error = _refused(
        "directory.invalid_input",
        lambda: services.capacity_update(
            actor=provider_b,
            organisation_id=profile.organisation_id,
            places_total=5,
            places_free=6,
        ),
    )
    assert error.details["field"] == "places_free"


def test_user_of_another_organisation_may_not_update_capacity(profile, caseworker_a):
    _refused(
        "directory.capacity_not_allowed",
        lambda: services.capacity_update(
            actor=caseworker_a,
            organisation_id=profile.organisation_id,
            places_total=5,
            places_free=1,
        ),
    )


def test_user_without_capacity_role_may_not_update_capacity(profile, org_b):
    guardian = UserFactory(username="g-b", organisation=org_b, roles=[Role.GUARDIAN])
    _refused(
        "directory.capacity_not_allowed",
        lambda: services.capacity_update(
            actor=guardian,
            organisation_id=profile.organisation_id,
            places_total=5,
            places_free=1,
        ),
    )


def test_deactivated_provider_may_not_update_capacity(profile, provider_b):
    provider_b.is_active = False
    provider_b.save()
    _refused(
        "directory.capacity_not_allowed",
        lambda: services.capacity_update(
            actor=provider_b,
            organisation_id=profile.organisation_id,
            places_total=5,
            places_free=1,
        ),
    )


def test_node_administrator_may_update_any_capacity(profile, admin_user):
    services.capacity_update(
        actor=admin_user,
        organisation_id=profile.organisation_id,
        places_total=None,
        places_free=None,
    )
    profile.refresh_from_db()
    assert profile.places_total is None
    assert profile.capacity_updated_by == admin_user


def test_capacity_of_organisation_without_profile_is_not_found(org_b, admin_user):
    _refused(
        "directory.profile_not_found",
        lambda: services.capacity_update(
            actor=admin_user, organisation_id=org_b.pk, places_total=1, places_free=1
        ),
    )


def test_administrator_creates_then_updates_profile(org_b, admin_user):
    profile = services.profile_save(
        actor=admin_user,
        organisation_id=org_b.pk,
        service_types=["shelter", "legal_aid", "shelter"],
        target_groups=["women"],
        languages=["EN", "bg"],
        region="  Fictional Région ",
        email="Help@Example.ORG",
        latitude=42.7,
        longitude=23.3,
    )
    assert profile.service_types == ["shelter", "legal_aid"]
    assert profile.languages == ["en", "bg"]
    assert profile.region == "Fictional Région"
    assert profile.email == "Help@example.org"
    assert profile.search_key == "fictional shelter b fictional région"
    actions = list(AuditEntry.objects.values_list("action", flat=True))
    assert actions[-1] == "directory.profile_created"

    services.profile_save(
        actor=admin_user, organisation_id=org_b.pk, service_types=["medical"]
    )
    profile.refresh_from_db()
    assert profile.service_types == [ServiceType.MEDICAL]
    assert profile.region == ""
    assert AuditEntry.objects.order_by("-seq")[0].action == "directory.profile_updated"


def test_only_node_administrator_saves_profile(org_b, caseworker_b):
    _refused(
        "accounts.not_node_administrator",
        lambda: services.profile_save(
            actor=caseworker_b, organisation_id=org_b.pk, service_types=["shelter"]
        ),
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"service_types": ["spa"]}, "service_types"),
        ({"target_groups": ["pets"]}, "target_groups"),
        ({"languages": ["xx-not"]}, "languages"),
        ({"email": "not-an-address"}, "email"),
        ({"latitude": 91.0, "longitude": 0.0}, "latitude"),
        ({"latitude": 0.0, "longitude": -180.5}, "longitude"),
        ({"latitude": 10.0}, "longitude"),
        ({"phone": "1" * 41}, "phone"),
        ({"region": "Line\nbreak"}, "region"),
    ],
)
def test_bad_profile_values_are_refused_with_field(org_b, admin_user, overrides, field):
    values = {"service_types": ["shelter"], **overrides}
    error = _refused(
        "directory.invalid_input",
        lambda: services.profile_save(
            actor=admin_user, organisation_id=org_b.pk, **values
        ),
    )
    assert error.details["field"] == field


def test_an_impossible_capacity_is_refused_not_crashed(profile, provider_b):
    before = (profile.places_total, profile.places_free)
    with pytest.raises(DomainError) as refused:
        services.capacity_update(
            actor=provider_b,
            organisation_id=profile.organisation_id,
            places_total=100_000_000_000_000_000_000,
            places_free=1,
        )
    assert refused.value.details["field"] == "places_total"
    profile.refresh_from_db()
    assert (profile.places_total, profile.places_free) == before


@pytest.mark.parametrize(
    "website",
    ["javascript:alert(1)", "data:text/html,x", "vbscript:x", "two words.org"],
)
def test_a_website_must_be_a_web_address(org_b, admin_user, website):
    with pytest.raises(DomainError) as refused:
        services.profile_save(
            actor=admin_user,
            organisation_id=org_b.pk,
            service_types=[ServiceType.SHELTER],
            website=website,
        )
    assert refused.value.details["field"] == "website"
    assert not ServiceProfile.objects.filter(organisation=org_b).exists()


@pytest.mark.parametrize(
    "website",
    ["https://haven.example.org", "http://haven.example.org", "haven.example.org"],
)
def test_web_addresses_are_accepted(org_b, admin_user, website):
    profile = services.profile_save(
        actor=admin_user,
        organisation_id=org_b.pk,
        service_types=[ServiceType.SHELTER],
        website=website,
    )
    assert profile.website == website


def test_a_deactivated_organisation_leaves_the_directory(org_b, admin_user):
    from trm.directory import selectors
    from trm.directory.errors import ProfileNotFound

    services.profile_save(
        actor=admin_user, organisation_id=org_b.pk, service_types=[ServiceType.SHELTER]
    )
    org_b.is_active = False
    org_b.save()
    with pytest.raises(ProfileNotFound):
        selectors.profile_get(organisation_id=org_b.pk)
    assert selectors.profile_get(organisation_id=org_b.pk, include_inactive=True)
