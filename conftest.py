"""Shared fixtures: personas (healthchecks' alice/bob style) and signed-in clients.

Personas:
    admin_user    node administrator of org A (the node operator)
    caseworker_a  case manager at org A
    caseworker_b  case manager at org B (same node)
    auditor       auditor / data-protection officer at org A
    no_role_user  signed-up user with no role yet
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from trm.accounts.models import Role, TOTPDevice, User
from trm.accounts.tests.factories import (
    OrganisationFactory,
    TOTPDeviceFactory,
    UserFactory,
)

#: Session fixtures of their own modules (``demo_federation``: three demo nodes).
pytest_plugins = ["tests.demo_federation"]

PASSWORD = "correct-horse-battery-staple"
_DB_FIXTURES = {"db", "transactional_db", "live_server"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every database test both databases: the main one and the keystore.

    Person data keys live in the keystore database (trm.dataprotection), so any
    test that touches personal data needs it; pytest-django allows only
    ``default`` unless told otherwise.
    """
    for item in items:
        marker = item.get_closest_marker("django_db")
        fixtures = set(getattr(item, "fixturenames", ()))
        uses_db = _DB_FIXTURES & fixtures
        if marker is None and not uses_db:
            continue
        kwargs = dict(marker.kwargs) if marker else {}
        if marker and marker.args:
            kwargs.setdefault("transaction", marker.args[0])
        if {"transactional_db", "live_server"} & fixtures:
            kwargs["transaction"] = True
        kwargs["databases"] = "__all__"
        item.add_marker(pytest.mark.django_db(**kwargs), append=False)


@pytest.fixture(autouse=True)
def _fresh_node_keys():
    """Node keys are cached per process; each test's keystore starts empty (and
    no peer is remembered as one that takes no batches)."""
    from trm.dataprotection.crypto import forget_cached_keys
    from trm.exchange import delivery, nodekeys

    forget_cached_keys()
    nodekeys.forget_cached_keys()
    delivery._no_batches.clear()
    yield
    forget_cached_keys()
    nodekeys.forget_cached_keys()
    delivery._no_batches.clear()


@pytest.fixture(autouse=True)
def _no_language_leak():
    """A request through LocaleMiddleware leaves its language active in the thread.

    Without this, a test that switched to Romanian makes every later test in the
    run see Romanian messages (the order depends on which tests are selected).
    """
    from django.utils import translation

    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _no_axes_leak(settings):
    settings.AXES_ENABLED = True


@pytest.fixture
def org_a(db):
    return OrganisationFactory(name="Fictional Ministry A", functions=["NCP"])


@pytest.fixture
def org_b(db):
    return OrganisationFactory(name="Fictional Shelter B", functions=["SP"])


@pytest.fixture
def admin_user(org_a) -> User:
    return UserFactory(
        username="admin-a", organisation=org_a, roles=[Role.NODE_ADMINISTRATOR]
    )


@pytest.fixture
def caseworker_a(org_a) -> User:
    return UserFactory(
        username="caseworker-a", organisation=org_a, roles=[Role.CASE_MANAGER]
    )


@pytest.fixture
def caseworker_b(org_b) -> User:
    return UserFactory(
        username="caseworker-b", organisation=org_b, roles=[Role.CASE_MANAGER]
    )


@pytest.fixture
def auditor(org_a) -> User:
    return UserFactory(username="auditor-a", organisation=org_a, roles=[Role.AUDITOR])


@pytest.fixture
def no_role_user(org_a) -> User:
    return UserFactory(username="no-role", organisation=org_a)


def sign_in_verified(client: Client, user: User) -> TOTPDevice:
    """Sign ``user`` in on ``client`` with a confirmed and verified second factor."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDeviceFactory(user=user)
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return device


@pytest.fixture
def signed_in() -> Callable[[User], Client]:
    """Return a function giving a client signed in (with 2FA) as a user."""

    def make(user: User) -> Client:
        client = Client()
        sign_in_verified(client, user)
        return client

    return make
