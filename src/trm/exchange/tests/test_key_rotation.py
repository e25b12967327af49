"""Key rotation does not lose messages (``trm keys rotate`` on either side).

Receiving: a message from a peer signed with a key this node has not seen is
answered "retry later" (``unknown_key``), and the worker refreshes the peer's
keys (key continuity decides), after which the message is accepted.
Sending: after this node rotates, the peer's ``unknown_key`` answer is retried
with backoff until the peer has refreshed, never treated as final.
"""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.core import mail
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from trm.audit.models import AuditEntry
from trm.exchange import delivery, envelope, inbox, nodekeys, peers, services
from trm.exchange.models import (
    InboxMessage,
    KeyUse,
    OutboxMessage,
    OutboxStatus,
    Peer,
    PeerStatus,
)
from trm.exchange.tests.conftest import SECRET_TEXT, PeerServer, node_signing_keys
from trm.exchange.tests.remote_nodes import DocumentServer, RemoteNode

pytestmark = pytest.mark.django_db
URL = "https://md.trm.example.invalid"


def audits(action: str) -> int:
    return AuditEntry.objects.filter(action=action).count()


def signed_by_remote(
    remote: RemoteNode, *, key: Any = None, **overrides: Any
) -> tuple[bytes, str]:
    """A ``test.note`` from ``remote`` signed with its current signing key (or
    ``key``, one of its ``(private, public, retired)`` entries)."""
    private, public, _retired = key or next(
        k for k in remote.keys if k[1]["use"] == "sig" and k[2] is None
    )
    claims = {
        "msg_id": str(uuid.uuid4()),
        "type": "test.note",
        "v": 1,
        "from": remote.node_id,
        "to": "test-node",
        "sent_at": timezone.now().isoformat(),
        "conversation": "",
        "seq": 0,
        "in_reply_to": None,
        "legal_basis": "pseudonymous",
        "categories": ["risk"],
        "reply_by": None,
        **overrides,
    }
    token = envelope.seal(
        claims=claims,
        payload={"text": "Fictional note"},
        signing_key=private,
        signing_kid=public["kid"],
        recipient_jwk=nodekeys.current(KeyUse.ENCRYPTION).public_jwk,
    )
    return token.encode("ascii"), claims["msg_id"]


@pytest.fixture
def remote() -> RemoteNode:
    return RemoteNode()


@pytest.fixture
def remote_peer(node_keys: None, remote: RemoteNode) -> Peer:
    """``remote`` added as a peer an hour ago (fingerprint checked)."""
    peers.peer_add(url=URL, fingerprint=remote.fingerprint, client=remote.client())
    Peer.objects.update(updated_at=timezone.now() - timedelta(hours=1))
    return Peer.objects.get()


def answer_claims(answer: inbox.Answer) -> dict[str, Any]:
    token = answer.json_body.get("retry_later") or answer.json_body["rejection"]
    return envelope.verify_receipt(str(token), signer_keys=node_signing_keys())


# --- receiving from a peer that rotated ---------------------------------------------


def test_a_peer_that_rotated_is_asked_to_retry_and_refreshed_then_accepted(
    remote_peer, remote, note_type
):
    remote.rotate()
    body, msg_id = signed_by_remote(remote)

    answer = inbox.receive(body)

    assert answer.status_code == 409
    assert answer.json_body["code"] == "unknown_key"
    claims = answer_claims(answer)
    assert (claims["status"], claims["code"], claims["msg_id"]) == (
        "retry_later",
        "unknown_key",
        msg_id,
    )
    assert claims["digest"] == envelope.body_digest(body)
    assert not InboxMessage.objects.exists()
    assert note_type.calls == []
    requested = Peer.objects.get().refresh_requested_at
    assert requested is not None
    assert audits("exchange.peer_refresh_requested") == 1
    assert audits("exchange.message_refused") == 0
    # The sender retries: one request stays, nothing more is audited.
    assert inbox.receive(body).status_code == 409
    assert Peer.objects.get().refresh_requested_at == requested
    assert audits("exchange.peer_refresh_requested") == 1

    counts = delivery.refresh_requested_peers(client=remote.client())

    assert counts == {"refreshed": 1, "failed": 0}
    peer = Peer.objects.get()
    assert peer.refresh_requested_at is None
    assert peer.fingerprint == remote.fingerprint
    assert audits("exchange.peer_refreshed") == 1
    # The next attempt (sealed afresh, same message id) is applied.
    again, _id = signed_by_remote(remote, msg_id=msg_id)
    assert inbox.receive(again).status_code == 202
    assert [str(c.msg_id) for c in note_type.calls] == [msg_id]


def test_the_worker_refreshes_a_peer_that_asked_for_it(node_keys, remote, note_type):
    server = DocumentServer(remote.document)
    try:
        peers.peer_add(url=server.url, fingerprint=remote.fingerprint)
        Peer.objects.update(updated_at=timezone.now() - timedelta(hours=1))
        remote.rotate()
        body, _id = signed_by_remote(remote)
        assert inbox.receive(body).status_code == 409

        call_command("worker", "--once", stdout=io.StringIO())
    finally:
        server.close()

    peer = Peer.objects.get()
    assert peer.refresh_requested_at is None
    assert peer.fingerprint == remote.fingerprint


def test_a_key_the_peer_retired_long_ago_stays_refused(remote_peer, remote, note_type):
    old = next(k for k in remote.keys if k[1]["use"] == "sig")
    remote.rotate()
    delivery.refresh_requested_peers()  # nothing asked: nothing done
    peers.peer_refresh(node_id=remote.node_id, client=remote.client())
    keys = Peer.objects.get().keys
    for key in keys:
        if key["kid"] == old[1]["kid"]:
            key["retired_at"] = (timezone.now() - timedelta(days=1)).isoformat()
    Peer.objects.update(keys=keys, updated_at=timezone.now() - timedelta(hours=1))
    body, _id = signed_by_remote(remote, key=old)

    answer = inbox.receive(body)

    assert answer.status_code == 403
    assert answer.json_body["code"] == "unknown_key"
    assert Peer.objects.get().refresh_requested_at is None


def test_a_disabled_peer_is_not_refreshed(remote_peer, remote, note_type):
    Peer.objects.update(status=PeerStatus.DISABLED)
    remote.rotate()
    body, _id = signed_by_remote(remote)

    assert inbox.receive(body).json_body["code"] == "unknown_sender"
    assert Peer.objects.get().refresh_requested_at is None
    assert not peers.request_refresh(node_id=remote.node_id, reason="unknown_key")


class CountingClient:
    """An httpx client around ``remote``'s answers that counts fetches."""

    def __init__(self, remote: RemoteNode, *, down: bool = False) -> None:
        self.fetches = 0
        self.down = down

        def answer(request: httpx.Request) -> httpx.Response:
            self.fetches += 1
            if self.down:
                raise httpx.ConnectError("refused", request=request)
            return httpx.Response(200, json=remote.document())

        self.client = httpx.Client(transport=httpx.MockTransport(answer))


def test_a_refused_refresh_is_audited_and_tried_again_an_hour_later(
    remote_peer, remote, note_type
):
    remote.rotate()
    remote.rotate()  # two rotations: no key this node trusts signs any more
    body, _id = signed_by_remote(remote)
    inbox.receive(body)
    http = CountingClient(remote)
    now = timezone.now()

    counts = delivery.refresh_requested_peers(now=now, client=http.client)

    assert counts == {"refreshed": 0, "failed": 1}
    peer = Peer.objects.get()
    assert peer.fingerprint != remote.fingerprint  # nothing taken
    assert peer.refresh_requested_at == now + delivery.REFRESH_RETRY_REFUSED
    assert audits("exchange.peer_refresh_failed") == 1
    # Not again before its time …
    later = now + timedelta(minutes=30)
    delivery.refresh_requested_peers(now=later, client=http.client)
    assert http.fetches == 1
    # … then again (still refused: an administrator must check the fingerprint).
    later = now + timedelta(minutes=61)
    delivery.refresh_requested_peers(now=later, client=http.client)
    assert http.fetches == 2
    assert audits("exchange.peer_refresh_failed") == 2


def test_an_unreachable_peer_is_tried_again_a_minute_later(
    remote_peer, remote, note_type
):
    remote.rotate()
    inbox.receive(signed_by_remote(remote)[0])
    http = CountingClient(remote, down=True)
    now = timezone.now()

    delivery.refresh_requested_peers(now=now, client=http.client)
    later = now + timedelta(seconds=30)
    delivery.refresh_requested_peers(now=later, client=http.client)
    assert http.fetches == 1
    http.down = False
    counts = delivery.refresh_requested_peers(
        now=now + timedelta(seconds=61), client=http.client
    )

    assert counts == {"refreshed": 1, "failed": 0}
    assert Peer.objects.get().fingerprint == remote.fingerprint


def test_refreshes_are_at_most_once_a_minute_per_peer(remote_peer, remote, note_type):
    """Anyone can send a message claiming to be the peer, signed by some key:
    each asks for a refresh, but the peer is fetched at most once a minute."""
    http = CountingClient(remote)
    remote.rotate()
    inbox.receive(signed_by_remote(remote)[0])
    delivery.refresh_requested_peers(client=http.client)
    assert http.fetches == 1
    stranger = RemoteNode(remote.node_id)  # same node id, keys of its own
    inbox.receive(signed_by_remote(stranger)[0])
    assert Peer.objects.get().refresh_requested_at is not None

    delivery.refresh_requested_peers(client=http.client)
    assert http.fetches == 1
    delivery.refresh_requested_peers(
        now=timezone.now() + timedelta(seconds=61), client=http.client
    )
    assert http.fetches == 2
    assert Peer.objects.get().fingerprint == remote.fingerprint


# --- sending after this node rotated ------------------------------------------------


def enqueue() -> OutboxMessage:
    with transaction.atomic():
        return services.enqueue(
            to_node="test-peer",
            type="test.note",
            payload={"text": SECRET_TEXT},
            legal_basis="pseudonymous",
            categories=["risk"],
            conversation="CASE-ROT",
        )


def test_after_this_node_rotates_its_messages_wait_until_the_peer_refreshed(
    peer_server: PeerServer, note_type, clock, settings, ncp_email
):
    settings.TRM_EXCHANGE_RETRY_BASE_SECONDS = 5
    message = enqueue()
    nodekeys.rotate_keys()

    counts = delivery.deliver_due(now=clock.now)

    assert counts["retrying"] == 1
    assert peer_server.unknown_key_answers == 1
    row = OutboxMessage.objects.get(pk=message.pk)
    assert (row.status, row.last_error, row.attempts) == (
        OutboxStatus.RETRYING,
        "unknown_key",
        1,
    )
    wait = (row.next_attempt_at - clock.now).total_seconds()
    assert 2.5 <= wait <= 5  # backoff, as for any failed attempt
    assert mail.outbox == []  # not final: nobody is told

    # The peer's worker refreshes this node's keys (the old key signed them).
    assert peer_server.refresh()
    counts = delivery.deliver_due(now=clock.advance(wait))

    assert counts["sent"] == 1
    row = OutboxMessage.objects.get(pk=message.pk)
    assert row.status == OutboxStatus.SENT
    assert list(peer_server.applied) == [str(message.msg_id)]


def test_an_older_receivers_unknown_key_rejection_is_not_final(
    peer_server, note_type, clock, ncp_email
):
    peer_server.mode = "unknown_key_403"
    message = enqueue()

    counts = delivery.deliver_due(now=clock.now)

    assert counts["retrying"] == 1 and counts["rejected"] == 0
    row = OutboxMessage.objects.get(pk=message.pk)
    assert (row.status, row.last_error) == (OutboxStatus.RETRYING, "unknown_key")
    assert mail.outbox == []


def test_an_answer_signed_by_a_key_this_node_does_not_know_asks_for_a_refresh(
    peer_server, note_type, clock
):
    peer_server.mode = "forged"  # signed by a key the peer never published here
    enqueue()

    delivery.deliver_due(now=clock.now)

    assert Peer.objects.get().refresh_requested_at is not None
    assert audits("exchange.peer_refresh_requested") == 1


@pytest.fixture
def ncp_email(db: Any) -> Any:
    from trm.accounts.models import Role
    from trm.accounts.tests.factories import OrganisationFactory, UserFactory

    return UserFactory(
        username="ncp-rot",
        email="ncp-rot@example.invalid",
        organisation=OrganisationFactory(name="Fictional Coordination Office"),
        roles=[Role.NATIONAL_CONTACT_POINT],
    )


def test_node_signing_keys_after_rotation_include_the_old_key(node_keys):
    """(The fake peer's refresh relies on it: the document is signed by the
    current and the most recently retired signing key.)"""
    old = nodekeys.fingerprint()
    nodekeys.rotate_keys()

    document = nodekeys.published()

    assert old in peers.verified_signers(document, {old: node_signing_keys()[old]})


def test_an_unexpected_error_while_refreshing_is_tried_again_a_minute_later(
    remote_peer, remote, note_type, monkeypatch, caplog
):
    remote.rotate()
    inbox.receive(signed_by_remote(remote)[0])

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("fictional failure with " + SECRET_TEXT)

    monkeypatch.setattr(peers, "peer_refresh", broken)
    now = timezone.now()

    counts = delivery.refresh_requested_peers(now=now, client=remote.client())

    assert counts == {"refreshed": 0, "failed": 1}
    assert Peer.objects.get().refresh_requested_at == now + timedelta(seconds=60)
    assert audits("exchange.peer_refresh_failed") == 1
    assert "RuntimeError" in caplog.text and SECRET_TEXT not in caplog.text
