"""Who acts for a node in the replay (:func:`trm.demo_replay.steps.user_with`)."""

from __future__ import annotations

import pytest

from trm.accounts.models import Role, TrmFunction
from trm.accounts.node_users import node_user
from trm.accounts.tests.factories import OrganisationFactory, UserFactory
from trm.demo_replay.steps import ReplayError, user_with

pytestmark = pytest.mark.django_db


def test_a_peer_nodes_user_holding_the_role_never_acts_for_this_node():
    """The exchange creates ``node.<peer>.….national_contact_point`` when the
    peer's first answer is applied; it sorts before the demo seed's
    ``rs-ncp`` but is not on this node's case teams (the 4-node demo's
    ``plan_send`` failed with cases.role_required)."""
    own = OrganisationFactory(
        name="Fictional NCP RS",
        country="RS",
        functions=[TrmFunction.NATIONAL_CONTACT_POINT],
    )
    peer = OrganisationFactory(
        name="Fictional NCP MD",
        country="MD",
        functions=[TrmFunction.NATIONAL_CONTACT_POINT],
        home_node="demo-md",
    )
    ncp = UserFactory(
        username="rs-ncp", organisation=own, roles=[Role.NATIONAL_CONTACT_POINT]
    )
    stand_in = node_user(organisation=peer, role=Role.NATIONAL_CONTACT_POINT)
    assert stand_in.username < ncp.username and stand_in.is_active
    # A person of a peer's organisation (e.g. mirrored), too.
    UserFactory(
        username="md-ncp", organisation=peer, roles=[Role.NATIONAL_CONTACT_POINT]
    )

    assert user_with(Role.NATIONAL_CONTACT_POINT) == ncp
    assert user_with(Role.NATIONAL_CONTACT_POINT, functions=frozenset({"NCP"})) == ncp


def test_no_person_of_this_node_holds_the_role():
    peer = OrganisationFactory(name="Fictional NCP RO", home_node="demo-ro")
    node_user(organisation=peer, role=Role.NATIONAL_CONTACT_POINT)
    with pytest.raises(ReplayError):
        user_with(Role.NATIONAL_CONTACT_POINT)
