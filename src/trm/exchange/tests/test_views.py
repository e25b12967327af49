"""Exchange pages and API: who may do what, forms, the payload rule."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

import pytest
from django.test import Client
from django.urls import reverse

from trm.accounts.models import Role, User
from trm.accounts.tests.factories import UserFactory
from trm.audit.models import AuditEntry
from trm.exchange import nodekeys, registry
from trm.exchange.models import OutboxStatus, Peer, PeerStatus
from trm.exchange.tests.remote_nodes import (
    SECRET,
    DocumentServer,
    RemoteNode,
    incoming,
    make_peer,
    new_key,
    outgoing,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def own_keys(db: Any) -> Iterator[None]:
    nodekeys.forget_cached_keys()
    nodekeys.init_keys()
    yield
    nodekeys.forget_cached_keys()


@pytest.fixture
def ncp(org_a: Any) -> User:
    return UserFactory(
        username="ncp-a", organisation=org_a, roles=[Role.NATIONAL_CONTACT_POINT]
    )


@pytest.fixture
def admin(signed_in: Callable[[User], Client], admin_user: User) -> Client:
    return signed_in(admin_user)


@pytest.fixture
def ncp_client(signed_in: Callable[[User], Client], ncp: User) -> Client:
    return signed_in(ncp)


@pytest.fixture
def case_team() -> Iterator[set[tuple[int, UUID]]]:
    saved = list(registry._case_access)
    team: set[tuple[int, UUID]] = set()
    registry.register_case_access(lambda user, case_id: (user.pk, case_id) in team)
    yield team
    registry._case_access[:] = saved


@pytest.fixture
def remote() -> RemoteNode:
    return RemoteNode()


@pytest.fixture
def served(remote: RemoteNode) -> Iterator[DocumentServer]:
    server = DocumentServer(remote.document)
    yield server
    server.close()


def text(response: Any) -> str:
    return str(response.content.decode())


# --- the peers page --------------------------------------------------------------


def test_peers_page_shows_this_nodes_id_and_fingerprint(own_keys, admin):
    response = admin.get(reverse("exchange:peers"))

    assert response.status_code == 200
    body = text(response)
    assert nodekeys.fingerprint() in body
    assert "test-node" in body
    assert reverse("exchange:peer_add") in body
    assert "No peer node yet" in body


def test_peers_page_says_when_the_node_has_no_keys(admin):
    response = admin.get(reverse("exchange:peers"))

    assert "no exchange keys yet" in text(response)


def test_peers_page_lists_peers_with_counts(own_keys, ncp_client):
    peer = make_peer()
    outgoing(peer, "dead")
    outgoing(peer, "dead")

    response = ncp_client.get(reverse("exchange:peers"))

    body = text(response)
    assert reverse("exchange:peer_detail", args=["fictional-md"]) in body
    assert '?direction=out&amp;status=dead"><strong>2</strong>' in body
    assert reverse("exchange:peer_add") not in body  # NCP: operator, not manager


@pytest.mark.parametrize("role", [Role.CASE_MANAGER, Role.AUDITOR])
def test_others_are_refused(own_keys, signed_in, org_a, role):
    client = signed_in(UserFactory(organisation=org_a, roles=[role]))
    peer = make_peer()
    message = outgoing(peer, "dead")

    assert client.get(reverse("exchange:peers")).status_code == 403
    assert (
        client.get(reverse("exchange:peer_detail", args=["fictional-md"])).status_code
        == 403
    )
    detail = reverse(
        "exchange:message_detail", args=["fictional-md", "out", message.msg_id]
    )
    assert client.get(detail).status_code == 403
    retry = reverse("exchange:message_retry", args=["fictional-md", message.msg_id])
    assert client.post(retry).status_code == 403
    message.refresh_from_db()
    assert message.status == OutboxStatus.DEAD


def test_signed_out_users_are_sent_to_sign_in(client):
    response = client.get(reverse("exchange:peers"))

    assert response.status_code == 302
    assert "/login" in response["Location"] or "login" in response["Location"]


def test_the_menu_has_exchange_for_operators_only(
    own_keys, signed_in, ncp, caseworker_a
):
    url = reverse("exchange:peers")

    assert f'href="{url}"' in text(signed_in(ncp).get(reverse("home")))
    assert f'href="{url}"' not in text(signed_in(caseworker_a).get(reverse("home")))


# --- adding a peer ------------------------------------------------------------------


def test_admin_adds_a_peer(own_keys, admin, remote, served):
    response = admin.post(
        reverse("exchange:peer_add"),
        {"url": served.url, "fingerprint": remote.fingerprint},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse(
        "exchange:peer_detail", args=["fictional-md"]
    )
    assert Peer.objects.get().fingerprint == remote.fingerprint
    page = admin.get(response["Location"])
    assert "Fictional Chisinau Shelter" in text(page)  # mirrored organisations
    # What was added is named, to check against what was agreed.
    assert (
        "The node fictional-md (Fictional Moldovan node, country MD) is now a peer"
        in text(page)
    )


def test_a_fingerprint_mismatch_redisplays_the_form_and_adds_nothing(
    own_keys, admin, remote, served
):
    wrong = new_key("sig")[1]["kid"]

    response = admin.post(
        reverse("exchange:peer_add"), {"url": served.url, "fingerprint": wrong}
    )

    assert response.status_code == 400
    body = text(response)
    assert "Fingerprint mismatch" in body
    assert wrong in body and remote.fingerprint in body
    assert f'value="{served.url}"' in body  # what was typed stays
    assert not Peer.objects.exists()


def test_a_malformed_fingerprint_is_marked_on_its_field(own_keys, admin, served):
    response = admin.post(
        reverse("exchange:peer_add"), {"url": served.url, "fingerprint": "abc"}
    )

    assert response.status_code == 400
    assert 'id="id_fingerprint_error"' in text(response)


def test_a_national_contact_point_may_not_add_peers(
    own_keys, ncp_client, remote, served
):
    assert ncp_client.get(reverse("exchange:peer_add")).status_code == 403
    response = ncp_client.post(
        reverse("exchange:peer_add"),
        {"url": served.url, "fingerprint": remote.fingerprint},
    )

    assert response.status_code == 403
    assert not Peer.objects.exists()
    assert served.requests == 0


# --- peer actions -----------------------------------------------------------------


def test_disable_asks_first_then_disables(own_keys, admin):
    make_peer()
    url = reverse("exchange:peer_disable", args=["fictional-md"])

    confirm = admin.get(url)
    assert confirm.status_code == 200
    assert Peer.objects.get().status == PeerStatus.ACTIVE
    assert "Disable the peer fictional-md?" in text(confirm)

    done = admin.post(url)

    assert done.status_code == 302
    assert Peer.objects.get().status == PeerStatus.DISABLED
    enable = admin.post(reverse("exchange:peer_enable", args=["fictional-md"]))
    assert enable.status_code == 302
    assert Peer.objects.get().status == PeerStatus.ACTIVE


def test_remove_with_messages_says_disable_instead(own_keys, admin):
    outgoing(make_peer())

    response = admin.post(reverse("exchange:peer_remove", args=["fictional-md"]))

    assert response.status_code == 409
    assert "Disable it instead" in text(response)
    assert Peer.objects.exists()


def test_remove_without_messages(own_keys, admin):
    make_peer()

    response = admin.post(reverse("exchange:peer_remove", args=["fictional-md"]))

    assert response.status_code == 302
    assert response["Location"] == reverse("exchange:peers")
    assert not Peer.objects.exists()


def test_refresh_takes_rotated_keys(own_keys, admin, remote, served):
    admin.post(
        reverse("exchange:peer_add"),
        {"url": served.url, "fingerprint": remote.fingerprint},
    )
    new = remote.rotate()

    response = admin.post(reverse("exchange:peer_refresh", args=["fictional-md"]))

    assert response.status_code == 302
    assert Peer.objects.get().fingerprint == new


def test_refresh_refused_shows_why(own_keys, admin, remote, served):
    admin.post(
        reverse("exchange:peer_add"),
        {"url": served.url, "fingerprint": remote.fingerprint},
    )
    remote.rotate()
    remote.rotate()

    response = admin.post(reverse("exchange:peer_refresh", args=["fictional-md"]))

    assert response.status_code == 409
    assert "not signed by any key this node trusts" in text(response)


def test_refresh_refuses_a_new_country_until_confirmed(own_keys, admin, remote, served):
    admin.post(
        reverse("exchange:peer_add"),
        {"url": served.url, "fingerprint": remote.fingerprint},
    )
    remote.country = "RO"
    url = reverse("exchange:peer_refresh", args=["fictional-md"])

    refused = admin.post(url)
    wrong = admin.post(url, {"country": "R0"})
    confirmed = admin.post(url, {"country": "RO"})

    assert refused.status_code == 409
    assert "now declares the country RO instead of MD" in text(refused)
    assert wrong.status_code == 400
    assert 'id="id_country_error"' in text(wrong)
    assert confirmed.status_code == 302
    assert Peer.objects.get().country == "RO"


def test_a_national_contact_point_may_not_disable(own_keys, ncp_client):
    make_peer()

    response = ncp_client.post(reverse("exchange:peer_disable", args=["fictional-md"]))

    assert response.status_code == 403
    assert Peer.objects.get().status == PeerStatus.ACTIVE


def test_unknown_peer_is_404(own_keys, admin):
    assert admin.get(reverse("exchange:peer_detail", args=["nope"])).status_code == 404
    assert admin.get(reverse("exchange:messages", args=["nope"])).status_code == 404


# --- messages ---------------------------------------------------------------------


def test_messages_are_filtered_by_status_and_paginated(own_keys, ncp_client):
    peer = make_peer()
    dead = [outgoing(peer, "dead") for _ in range(30)]
    outgoing(peer, "sent")
    url = reverse("exchange:messages", args=["fictional-md"])

    first = ncp_client.get(url, {"direction": "out", "status": "dead"})
    second = ncp_client.get(url, {"direction": "out", "status": "dead", "page": 2})

    shown = [str(m.msg_id) for m in dead]
    first_ids = [i for i in shown if i in text(first)]
    second_ids = [i for i in shown if i in text(second)]
    assert len(first_ids) == 25
    assert len(second_ids) == 5
    assert "Page 1 of 2" in text(first)
    assert "status=dead" in text(first)  # the next page keeps the filter


def test_received_messages_and_the_empty_state(own_keys, ncp_client):
    peer = make_peer()
    url = reverse("exchange:messages", args=["fictional-md"])
    assert "Nothing received from this peer yet" in text(
        ncp_client.get(url, {"direction": "in"})
    )
    message = incoming(peer)

    response = ncp_client.get(url, {"direction": "in"})

    assert str(message.msg_id) in text(response)


def test_an_impossible_filter_is_explained(own_keys, ncp_client):
    make_peer()

    response = ncp_client.get(
        reverse("exchange:messages", args=["fictional-md"]),
        {"direction": "in", "status": "dead"},
    )

    assert response.status_code == 400
    assert "No message in has the status dead" in text(response)


def test_message_detail_shows_routing_fields_never_the_payload(own_keys, ncp_client):
    peer = make_peer()
    message = outgoing(
        peer,
        "dead",
        conversation="BG-FICTIONAL-9",
        seq=4,
        case_id=uuid.uuid4(),
        last_error="connect_error",
        attempts=20,
    )

    response = ncp_client.get(
        reverse("exchange:message_detail", args=["fictional-md", "out", message.msg_id])
    )

    body = text(response)
    assert response.status_code == 200
    for shown in ("fictional.note", "BG-FICTIONAL-9", "connect_error", "consent"):
        assert shown in body
    assert message.payload_digest in body
    assert SECRET not in body
    assert "shown only to the team of the case" in body
    assert "Send again" in body


def test_the_case_team_sees_the_payload(own_keys, ncp, ncp_client, case_team):
    peer = make_peer()
    case_id = uuid.uuid4()
    message = outgoing(peer, case_id=case_id)
    case_team.add((ncp.pk, case_id))

    response = ncp_client.get(
        reverse("exchange:message_detail", args=["fictional-md", "out", message.msg_id])
    )

    assert SECRET in text(response)
    assert AuditEntry.objects.filter(action="exchange.payload_viewed").count() == 1


def test_message_detail_of_a_wrong_direction_is_404(own_keys, ncp_client):
    message = outgoing(make_peer())

    for direction in ("in", "sideways"):
        url = reverse(
            "exchange:message_detail", args=["fictional-md", direction, message.msg_id]
        )
        assert ncp_client.get(url).status_code == 404


def test_retry_by_a_national_contact_point(own_keys, ncp_client):
    message = outgoing(make_peer(), "dead", attempts=20)

    response = ncp_client.post(
        reverse("exchange:message_retry", args=["fictional-md", message.msg_id])
    )

    assert response.status_code == 302
    message.refresh_from_db()
    assert (message.status, message.attempts) == (OutboxStatus.PENDING, 0)
    assert "queued again" in text(ncp_client.get(response["Location"]))


def test_retry_of_a_delivered_message_is_refused(own_keys, admin):
    message = outgoing(make_peer(), "sent")

    response = admin.post(
        reverse("exchange:message_retry", args=["fictional-md", message.msg_id]),
        follow=True,
    )

    assert "can be sent again" in text(response)
    message.refresh_from_db()
    assert message.status == OutboxStatus.SENT


# --- the API ----------------------------------------------------------------------


def test_api_lists_peers_with_counts(own_keys, ncp_client):
    peer = make_peer()
    outgoing(peer, "retrying")

    response = ncp_client.get("/api/v1/exchange/peers")

    assert response.status_code == 200
    [row] = response.json()
    assert row["node_id"] == "fictional-md"
    assert (row["retrying"], row["pending"], row["status"]) == (1, 0, "active")


def test_api_lists_a_peers_messages(own_keys, ncp_client):
    peer = make_peer()
    for _ in range(3):
        outgoing(peer, "dead")
    outgoing(peer, "sent")

    response = ncp_client.get(
        "/api/v1/exchange/peers/fictional-md/messages",
        {"status": "dead", "page_size": 2, "page": 2},
    )

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert not body["more"]
    assert [m["status"] for m in body["items"]] == ["dead"]


def test_api_refuses_an_unknown_status(own_keys, ncp_client):
    make_peer()

    response = ncp_client.get(
        "/api/v1/exchange/peers/fictional-md/messages", {"status": "lost"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "exchange.invalid_filter"


def test_api_message_detail_has_no_payload_for_others(own_keys, ncp_client):
    message = outgoing(make_peer(), case_id=uuid.uuid4())

    response = ncp_client.get(f"/api/v1/exchange/messages/{message.msg_id}")

    body = response.json()
    assert response.status_code == 200
    assert body["payload"] is None
    assert body["has_case"] is True
    assert body["payload_digest"] == message.payload_digest
    assert SECRET not in json.dumps(body)


def test_api_message_detail_has_the_payload_for_the_case_team(
    own_keys, ncp, ncp_client, case_team
):
    case_id = uuid.uuid4()
    message = incoming(make_peer(), case_id=case_id)
    case_team.add((ncp.pk, case_id))

    response = ncp_client.get(
        f"/api/v1/exchange/messages/{message.msg_id}", {"direction": "in"}
    )

    assert response.json()["payload"] == {"note": SECRET}


def test_api_retry(own_keys, ncp_client):
    message = outgoing(make_peer(), "rejected")

    response = ncp_client.post(
        f"/api/v1/exchange/messages/{message.msg_id}/retry",
        content_type="application/json",
    )

    assert response.status_code == 200
    assert response.json()["status"] == "pending"


def test_api_retry_refused_for_a_cancelled_message(own_keys, ncp_client):
    message = outgoing(make_peer(), "cancelled")

    response = ncp_client.post(
        f"/api/v1/exchange/messages/{message.msg_id}/retry",
        content_type="application/json",
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "exchange.message_not_retryable"


def test_api_refuses_others(own_keys, signed_in, caseworker_a):
    client = signed_in(caseworker_a)

    response = client.get("/api/v1/exchange/peers")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "exchange.not_operator"


def test_an_unknown_status_keeps_the_direction_chosen(own_keys, ncp_client):
    message = incoming(make_peer())

    response = ncp_client.get(
        reverse("exchange:messages", args=["fictional-md"]),
        {"direction": "in", "status": "lost"},
    )

    assert response.status_code == 200
    assert str(message.msg_id) in text(response)
