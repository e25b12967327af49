"""The operator view's readers and the retry writer (trm.exchange.operations)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from django.utils import timezone

from trm.accounts.models import Role, User
from trm.accounts.tests.factories import UserFactory
from trm.audit.models import AuditEntry
from trm.exchange import nodekeys, operations, registry
from trm.exchange.errors import (
    InvalidFilter,
    MessageNotFound,
    MessageNotRetryable,
    NotExchangeOperator,
    PeerNotFound,
)
from trm.exchange.models import OutboxStatus
from trm.exchange.tests.remote_nodes import SECRET, incoming, make_peer, outgoing

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
def case_team() -> Iterator[set[tuple[int, UUID]]]:
    """A fake cases app: (user id, case id) pairs on the case team."""
    saved = list(registry._case_access)
    team: set[tuple[int, UUID]] = set()
    registry.register_case_access(lambda user, case_id: (user.pk, case_id) in team)
    yield team
    registry._case_access[:] = saved


@pytest.fixture
def no_case_hook() -> Iterator[None]:
    saved = list(registry._case_access)
    registry._case_access[:] = []
    yield
    registry._case_access[:] = saved


# --- who -------------------------------------------------------------------------


def test_node_administrators_and_national_contact_points_are_operators(
    admin_user, ncp, caseworker_a, auditor
):
    assert operations.is_operator(admin_user)
    assert operations.is_operator(ncp)
    assert not operations.is_operator(caseworker_a)
    assert not operations.is_operator(auditor)
    assert operations.may_manage_peers(admin_user)
    assert not operations.may_manage_peers(ncp)


def test_others_may_not_see_the_exchange(own_keys, caseworker_a):
    peer = make_peer()
    message = outgoing(peer)

    with pytest.raises(NotExchangeOperator):
        operations.peer_overview(user=caseworker_a)
    with pytest.raises(NotExchangeOperator):
        operations.message_list(user=caseworker_a, node_id=peer.node_id)
    with pytest.raises(NotExchangeOperator):
        operations.message_get(user=caseworker_a, msg_id=message.msg_id)
    with pytest.raises(NotExchangeOperator):
        operations.message_retry(actor=caseworker_a, msg_id=message.msg_id)


# --- peers with counts ---------------------------------------------------------------


def test_overview_counts_messages_per_peer_in_one_query(
    own_keys, ncp, django_assert_num_queries
):
    md, ro = make_peer("fictional-md"), make_peer("fictional-ro", country="RO")
    for status, n in (("pending", 2), ("retrying", 1), ("dead", 3), ("sent", 4)):
        for _ in range(n):
            outgoing(md, status, sent_at=timezone.now() if status == "sent" else None)
    outgoing(md, "rejected")
    outgoing(ro, "cancelled")
    latest = timezone.now() + timedelta(minutes=5)
    outgoing(md, "sent", sent_at=latest)
    incoming(md)
    incoming(md, "rejected")
    ncp.role_codes()  # roles cached: the count is the overview's own

    with django_assert_num_queries(1):
        rows = operations.peer_overview(user=ncp)

    by_node = {row.peer.node_id: row for row in rows}
    md_row, ro_row = by_node["fictional-md"], by_node["fictional-ro"]
    assert (md_row.pending, md_row.retrying, md_row.dead) == (2, 1, 3)
    assert (md_row.sent, md_row.rejected, md_row.cancelled) == (5, 1, 0)
    assert md_row.received == 2
    assert md_row.last_delivery_at == latest
    assert md_row.last_received_at is not None
    assert md_row.attention
    assert (ro_row.pending, ro_row.cancelled, ro_row.received) == (0, 1, 0)
    assert ro_row.last_delivery_at is None
    assert not ro_row.attention


def test_peer_get_of_an_unknown_peer(own_keys, ncp):
    with pytest.raises(PeerNotFound):
        operations.peer_get(user=ncp, node_id="fictional-none")


# --- lists ---------------------------------------------------------------------------


def test_message_list_filters_by_direction_and_status(own_keys, ncp):
    peer = make_peer()
    other = make_peer("fictional-ro", country="RO")
    dead = outgoing(peer, "dead")
    outgoing(peer, "sent")
    outgoing(other, "dead")
    received = incoming(peer)

    dead_rows = operations.message_list(
        user=ncp, node_id=peer.node_id, direction="out", status="dead"
    )
    everything_out = operations.message_list(user=ncp, node_id=peer.node_id)
    everything_in = operations.message_list(
        user=ncp, node_id=peer.node_id, direction="in"
    )

    assert [m.msg_id for m in dead_rows] == [dead.msg_id]
    assert everything_out.count() == 2
    rows = [operations.message_row(m, peer.node_id) for m in everything_in]
    assert [(r.direction, r.msg_id, r.status) for r in rows] == [
        ("in", received.msg_id, "applied")
    ]
    assert operations.message_row(dead, peer.node_id).retryable


def test_message_list_is_newest_first(own_keys, ncp):
    peer = make_peer()
    now = timezone.now()
    old = outgoing(peer, created_at=now - timedelta(hours=1))
    new = outgoing(peer, created_at=now)

    rows = operations.message_list(user=ncp, node_id=peer.node_id)

    assert [m.msg_id for m in rows] == [new.msg_id, old.msg_id]


@pytest.mark.parametrize(
    ("direction", "status"), [("sideways", ""), ("in", "dead"), ("out", "applied")]
)
def test_message_list_refuses_an_unknown_filter(own_keys, ncp, direction, status):
    peer = make_peer()

    with pytest.raises(InvalidFilter):
        operations.message_list(
            user=ncp, node_id=peer.node_id, direction=direction, status=status
        )


# --- one message, and its payload -----------------------------------------------


def test_message_detail_shows_routing_fields_not_the_payload(own_keys, ncp, case_team):
    peer = make_peer()
    in_reply_to = uuid.uuid4()
    message = outgoing(
        peer,
        "sent",
        conversation="BG-FICTIONAL-1",
        seq=3,
        in_reply_to=in_reply_to,
        case_id=uuid.uuid4(),
        attempts=2,
        envelope_digest="e" * 64,
        receipt_claims={"status": "accepted", "digest": "e" * 64},
        sent_at=timezone.now(),
    )

    detail = operations.message_get(user=ncp, msg_id=message.msg_id)

    assert detail.direction == "out"
    assert detail.node_id == "fictional-md"
    assert (detail.type, detail.version) == ("fictional.note", 1)
    assert (detail.conversation, detail.seq) == ("BG-FICTIONAL-1", 3)
    assert detail.in_reply_to == in_reply_to
    assert detail.legal_basis_kind == "consent"
    assert detail.categories == ["case_summary"]
    assert detail.attempts == 2
    assert detail.payload_digest == message.payload_digest
    assert detail.envelope_digest == "e" * 64
    assert detail.receipt_claims == {"status": "accepted", "digest": "e" * 64}
    assert detail.has_case
    assert detail.payload is None  # not on the case team
    assert not detail.retryable
    assert not AuditEntry.objects.filter(action="exchange.payload_viewed").exists()


def test_the_case_team_sees_the_payload_and_the_reading_is_audited(
    own_keys, ncp, case_team
):
    peer = make_peer()
    case_id = uuid.uuid4()
    message = outgoing(peer, case_id=case_id)
    case_team.add((ncp.pk, case_id))

    detail = operations.message_get(user=ncp, msg_id=message.msg_id)

    assert detail.payload == {"note": SECRET}
    entry = AuditEntry.objects.get(action="exchange.payload_viewed")
    assert entry.actor_id == ncp.pk
    assert entry.target_id == str(message.msg_id)


def test_the_payload_of_a_received_message_for_the_case_team(own_keys, ncp, case_team):
    peer = make_peer()
    case_id = uuid.uuid4()
    message = incoming(peer, case_id=case_id)
    case_team.add((ncp.pk, case_id))

    detail = operations.message_get(user=ncp, msg_id=message.msg_id, direction="in")

    assert detail.direction == "in"
    assert detail.payload == {"note": SECRET}
    assert detail.receipt_claims["msg_id"] == str(message.msg_id)  # verified


def test_no_payload_without_a_case_access_hook(own_keys, admin_user, no_case_hook):
    peer = make_peer()
    message = outgoing(peer, case_id=uuid.uuid4())

    detail = operations.message_get(user=admin_user, msg_id=message.msg_id)

    assert detail.payload is None


def test_no_payload_for_a_message_about_no_case(own_keys, ncp, case_team):
    peer = make_peer()
    message = outgoing(peer)

    assert operations.message_get(user=ncp, msg_id=message.msg_id).payload is None


def test_message_get_of_an_unknown_message_or_another_peers(own_keys, ncp):
    peer = make_peer()
    make_peer("fictional-ro", country="RO")
    message = outgoing(peer)

    with pytest.raises(MessageNotFound):
        operations.message_get(user=ncp, msg_id=uuid.uuid4())
    with pytest.raises(MessageNotFound):
        operations.message_get(user=ncp, msg_id=message.msg_id, node_id="fictional-ro")
    with pytest.raises(MessageNotFound):
        operations.message_get(user=ncp, msg_id=message.msg_id, direction="in")


# --- retry ------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["dead", "rejected", "retrying"])
def test_retry_puts_the_message_back_to_pending_now(own_keys, ncp, status):
    peer = make_peer()
    message = outgoing(
        peer,
        status,
        attempts=20,
        last_error="connect_error",
        next_attempt_at=timezone.now() + timedelta(hours=1),
    )
    before = timezone.now()

    operations.message_retry(actor=ncp, msg_id=message.msg_id)

    message.refresh_from_db()
    assert message.status == OutboxStatus.PENDING
    assert message.attempts == 0
    assert message.last_error == ""
    assert before <= message.next_attempt_at <= timezone.now()
    entry = AuditEntry.objects.get(action="exchange.message_retried")
    assert entry.actor_id == ncp.pk
    assert entry.target_id == str(message.msg_id)


@pytest.mark.parametrize("status", ["sent", "cancelled", "pending"])
def test_retry_is_refused_for_a_message_not_failed(own_keys, admin_user, status):
    peer = make_peer()
    message = outgoing(peer, status)

    with pytest.raises(MessageNotRetryable):
        operations.message_retry(actor=admin_user, msg_id=message.msg_id)

    message.refresh_from_db()
    assert message.status == status
    assert not AuditEntry.objects.filter(action="exchange.message_retried").exists()


def test_retry_of_an_unknown_message(own_keys, ncp):
    with pytest.raises(MessageNotFound):
        operations.message_retry(actor=ncp, msg_id=uuid.uuid4())
