"""Node users: who is local, and how a node user is named for people."""

from __future__ import annotations

import uuid

import pytest
from django.template import Context, Template
from django.utils import translation

from trm.accounts.models import Role, User
from trm.accounts.node_users import (
    actor_label,
    is_local_user,
    local_users_q,
    node_user,
)
from trm.accounts.tests.factories import OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def peer():
    return OrganisationFactory(
        name="Demo National Coordination Office Romania (fictional)",
        home_node="demo-ro",
        remote_id=uuid.uuid4(),
    )


def test_only_this_nodes_people_are_local(peer):
    local = UserFactory()
    without_organisation = UserFactory(organisation=None)
    peer_user = UserFactory(organisation=peer)
    node = node_user(organisation=peer, role=Role.CASE_MANAGER)

    assert is_local_user(local)
    assert is_local_user(without_organisation)
    assert not is_local_user(peer_user)
    assert not is_local_user(node)
    assert set(User.objects.filter(local_users_q())) == {local, without_organisation}


def test_a_node_user_is_named_by_organisation_and_node_not_the_handlers_role(peer):
    node = node_user(organisation=peer, role=Role.NATIONAL_CONTACT_POINT)

    as_provider = node_user(organisation=peer, role=Role.SERVICE_PROVIDER)

    assert actor_label(node) == (
        "Demo National Coordination Office Romania (fictional) — node demo-ro"
    )
    assert actor_label(as_provider) == actor_label(node)


def test_a_person_is_named_by_full_name_else_username():
    named = UserFactory(first_name="Ana", last_name="Fictiva")
    unnamed = UserFactory(first_name="", last_name="")

    assert actor_label(named) == "Ana Fictiva"
    assert actor_label(unnamed) == unnamed.username


def test_actor_name_filter_renders_empty_for_no_user_so_a_default_follows(peer):
    node = node_user(organisation=peer, role=Role.CASE_MANAGER)
    template = Template('{% load trm_people %}{{ who|actor_name|default:"—" }}')

    with translation.override("en"):
        assert template.render(Context({"who": None})) == "—"
        assert template.render(Context({"who": node})) == (
            "Demo National Coordination Office Romania (fictional) — node demo-ro"
        )
