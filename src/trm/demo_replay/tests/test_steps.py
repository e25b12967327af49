"""Who acts for a node in the replay (:func:`trm.demo_replay.steps.user_with`);
a record's case met again by a replay run after an interrupted one
(:func:`trm.demo_replay.steps.open_case`)."""

from __future__ import annotations

import pytest

from trm.accounts.models import Role, TrmFunction
from trm.accounts.node_users import node_user
from trm.accounts.tests.factories import OrganisationFactory, UserFactory
from trm.cases.models import CaseTeamMember
from trm.cases.tests.exchange_fakes import make_peer
from trm.cases.tests.factories import open_case, set_states
from trm.demo_replay.management.commands.replay import run_action
from trm.demo_replay.steps import ReplayError, user_with
from trm.exchange.models import OutboxMessage

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


def _opened_before(caseworker, ncp_org, **states: str):
    """A record's case (``RPL-13-r001``) as an interrupted replay left it:
    opened, with this node's national contact point on the team, in
    ``states``; a peer for its citizenship country."""
    make_peer("peer-ro", "RO")
    ncp = UserFactory(
        username="rs-ncp", organisation=ncp_org, roles=[Role.NATIONAL_CONTACT_POINT]
    )
    case = open_case(caseworker, number="RPL-13-r001", citizenships=["RO"])
    CaseTeamMember.objects.create(case=case, user=ncp, role=Role.NATIONAL_CONTACT_POINT)
    return set_states(case, **states) if states else case


OPEN = {
    "records": [{"key": "r001", "citizenship": "RO", "returns": False}],
    "peers": {"RO": "peer-ro"},
    "seed": 13,
}


def test_a_case_stopped_just_before_its_alert_is_alerted_once_when_run_again(
    caseworker_a, org_a
):
    case = _opened_before(caseworker_a, org_a, assistance="long_term")

    first = run_action("open", OPEN)
    again = run_action("open", OPEN)

    case.refresh_from_db()
    assert case.trm_case_ref
    expected = {"case": str(case.pk), "ref": case.trm_case_ref, "transfer": ""}
    assert first == again == {"done": {"r001": expected}, "errors": {}}
    alerts = OutboxMessage.objects.filter(case_id=case.pk, type="case.alert")
    assert [m.peer.node_id for m in alerts] == ["peer-ro"]


def test_a_case_stopped_earlier_in_its_opening_is_reported_not_skipped(
    caseworker_a, org_a
):
    case = _opened_before(caseworker_a, org_a)

    result = run_action("open", OPEN)

    assert result["done"] == {}
    assert result["errors"]["r001"].startswith("demo_replay.half_opened: ")
    assert f"assistance {case.assistance}" in result["errors"]["r001"]
    assert not OutboxMessage.objects.filter(case_id=case.pk).exists()
