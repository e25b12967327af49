"""Stored payloads go with the person (review finding: erased identities stayed
readable in the exchange's stored messages).

The stored copy of a message about a case is sealed under the data key of the
case's person (the cases app names it through
:func:`trm.exchange.registry.register_data_key_lookup`; here a fake lookup and
a real data key stand in). Destroying the key makes it unreadable; erasure and
a withdrawal received forget what is stored; the worker never sends a payload
that is gone; the operator view says so. All data is synthetic.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from trm.accounts.models import Role, User
from trm.accounts.tests.factories import UserFactory
from trm.audit.models import AuditEntry
from trm.audit.services import keyed_digest
from trm.common.keys import DecryptionFailed
from trm.dataprotection import crypto
from trm.exchange import delivery, inbox, operations, registry, services
from trm.exchange.errors import MessageInvalid
from trm.exchange.models import (
    Conversation,
    InboxMessage,
    OutboxMessage,
    OutboxStatus,
)
from trm.exchange.nodekeys import PURPOSE
from trm.exchange.tests.conftest import SECRET_TEXT, NoteV1
from trm.exchange.tests.remote_nodes import incoming, make_peer, outgoing

pytestmark = pytest.mark.django_db

NOTICE_TYPE = "test.notice"


@dataclass
class FakePerson:
    """A case of this node and its person's (real) data key."""

    case_id: UUID
    key_id: UUID


@pytest.fixture
def person(db: Any) -> Iterator[FakePerson]:
    """A fake cases app: one case whose person has a live data key."""
    found = FakePerson(case_id=uuid.uuid4(), key_id=crypto.create_data_key())
    saved = list(registry._data_key_lookup)
    registry.register_data_key_lookup(
        lambda case_id: found.key_id if case_id == found.case_id else None
    )
    yield found
    registry._data_key_lookup[:] = saved


@pytest.fixture
def notice_type() -> Iterator[None]:
    """A type carrying no data category (as a withdrawal notice)."""
    registry.register(
        registry.MessageType(
            name=NOTICE_TYPE,
            version=1,
            schema=NoteV1,
            categories=frozenset(),
            handler=lambda inbound: None,
        )
    )
    yield
    registry.unregister(NOTICE_TYPE, 1)


@pytest.fixture
def case_team() -> Iterator[set[tuple[int, UUID]]]:
    saved = list(registry._case_access)
    team: set[tuple[int, UUID]] = set()
    registry.register_case_access(lambda user, case_id: (user.pk, case_id) in team)
    yield team
    registry._case_access[:] = saved


@pytest.fixture
def ncp(org_a: Any) -> User:
    return UserFactory(
        username="ncp-a", organisation=org_a, roles=[Role.NATIONAL_CONTACT_POINT]
    )


def enqueue(**overrides: Any) -> OutboxMessage:
    kwargs: dict[str, Any] = {
        "to_node": "test-peer",
        "type": "test.note",
        "payload": {"text": SECRET_TEXT},
        "legal_basis": "pseudonymous",
        "categories": ["risk"],
        **overrides,
    }
    with transaction.atomic():
        return services.enqueue(**kwargs)


def node_can_open(message: OutboxMessage | InboxMessage, direction: str) -> bool:
    try:
        crypto.unseal_node(
            PURPOSE,
            bytes(message.payload_sealed or b""),
            context=services.payload_context(message.msg_id, direction),
        )
    except DecryptionFailed:
        return False
    return True


# --- sealing ---------------------------------------------------------------------


def test_a_message_about_a_case_is_sealed_under_the_persons_key(
    peer, note_type, person
):
    message = enqueue(case_id=person.case_id)

    row = OutboxMessage.objects.get(pk=message.pk)
    assert row.payload_key_id == person.key_id
    assert SECRET_TEXT.encode() not in bytes(row.payload_sealed)
    assert not node_can_open(row, "out")  # not under the node's exchange key
    assert services.sealed_payload(row) == {"text": SECRET_TEXT, "number": 0}
    assert not services.payload_gone(row)


def test_without_a_case_or_a_key_the_node_key_is_used(peer, note_type, person):
    no_case = enqueue()
    unknown_case = enqueue(case_id=uuid.uuid4())

    for message in (no_case, unknown_case):
        row = OutboxMessage.objects.get(pk=message.pk)
        assert row.payload_key_id is None
        assert node_can_open(row, "out")


def test_a_type_carrying_nothing_of_the_person_outlives_the_erasure(
    peer, notice_type, person
):
    notice = enqueue(type=NOTICE_TYPE, categories=[], case_id=person.case_id)
    crypto.destroy_data_key(person.key_id)

    row = OutboxMessage.objects.get(pk=notice.pk)
    assert row.payload_key_id is None
    assert services.stored_payload(row) == {"text": SECRET_TEXT, "number": 0}
    assert not services.payload_gone(row)


def test_once_the_key_is_destroyed_the_payload_is_gone(peer, note_type, person):
    message = enqueue(case_id=person.case_id)

    crypto.destroy_data_key(person.key_id)

    row = OutboxMessage.objects.get(pk=message.pk)
    assert services.stored_payload(row) is None
    assert services.payload_gone(row)
    with pytest.raises(services.PayloadGone):
        services.sealed_payload(row)


def test_nothing_is_enqueued_for_a_person_whose_key_is_destroyed(
    peer, note_type, person
):
    crypto.destroy_data_key(person.key_id)

    with pytest.raises(MessageInvalid) as refused:
        enqueue(case_id=person.case_id, conversation="FICTIONAL-REF-1")

    assert refused.value.details["reason"] == "erased"
    assert not OutboxMessage.objects.exists()
    # The conversation's counter did not move: no gap for the peer to wait on.
    assert not Conversation.objects.filter(last_out_seq__gt=0).exists()


# --- the worker never sends what is gone -----------------------------------------


def test_the_worker_cancels_an_erased_message_and_closes_the_gap(
    peer_server, note_type, notice_type, person, clock
):
    erased = enqueue(case_id=person.case_id, conversation="FICTIONAL-REF-2")
    notice = enqueue(
        type=NOTICE_TYPE,
        categories=[],
        case_id=person.case_id,
        conversation="FICTIONAL-REF-2",
    )
    assert (erased.seq, notice.seq) == (1, 2)
    crypto.destroy_data_key(person.key_id)

    counts = delivery.deliver_due(now=clock.now)

    assert counts["cancelled"] == 1 and counts["sent"] == 1
    erased.refresh_from_db()
    notice.refresh_from_db()
    assert (erased.status, erased.last_error) == (OutboxStatus.CANCELLED, "erased")
    assert erased.conversation == ""  # left the conversation
    assert notice.status == OutboxStatus.SENT and notice.seq == 1
    # Only the notice reached the peer, numbered to follow on without a gap.
    assert [c["msg_id"] for c in peer_server.order] == [str(notice.msg_id)]
    assert peer_server.order[0]["seq"] == 1
    entry = AuditEntry.objects.get(
        action="exchange.message_cancelled", target_id=str(erased.msg_id)
    )
    assert entry.data_digest == keyed_digest(
        {
            "type": "test.note",
            "to": "test-peer",
            "digest": erased.payload_digest,
            "reason": "erased",
            "conversation": "FICTIONAL-REF-2",
            "seq": 1,
        }
    )


def test_a_message_already_tried_keeps_its_place_when_cancelled(
    peer_server, note_type, person, clock
):
    erased = enqueue(case_id=person.case_id, conversation="FICTIONAL-REF-3")
    OutboxMessage.objects.filter(pk=erased.pk).update(
        attempts=2, status=OutboxStatus.RETRYING
    )
    crypto.destroy_data_key(person.key_id)

    counts = delivery.deliver_due(now=clock.now)

    assert counts["cancelled"] == 1
    erased.refresh_from_db()
    assert (erased.status, erased.last_error) == (OutboxStatus.CANCELLED, "erased")
    assert (erased.conversation, erased.seq) == ("FICTIONAL-REF-3", 1)
    assert peer_server.posts == 0


# --- inbound -----------------------------------------------------------------------


def test_an_inbound_payload_is_stored_under_the_persons_key(
    fake_peer, peer, note_type, person
):
    note_type.case_id = person.case_id
    body, claims = fake_peer.envelope({"text": SECRET_TEXT}, categories=["risk"])

    answer = inbox.receive(body)

    assert answer.status_code == 202
    stored = InboxMessage.objects.get(msg_id=claims["msg_id"])
    assert stored.case_id == person.case_id
    assert stored.payload_key_id == person.key_id
    assert not node_can_open(stored, "in")
    assert services.stored_payload(stored) == {"text": SECRET_TEXT, "number": 0}

    crypto.destroy_data_key(person.key_id)
    stored.refresh_from_db()
    assert services.stored_payload(stored) is None
    assert services.payload_gone(stored)


def test_an_inbound_payload_about_no_case_stays_under_the_node_key(
    fake_peer, peer, note_type, person
):
    body, claims = fake_peer.envelope({"text": SECRET_TEXT}, categories=["risk"])

    assert inbox.receive(body).status_code == 202

    stored = InboxMessage.objects.get(msg_id=claims["msg_id"])
    assert stored.payload_key_id is None
    assert services.stored_payload(stored) == {"text": SECRET_TEXT, "number": 0}


def test_an_inbound_payload_for_an_erased_person_is_not_kept(
    fake_peer, peer, note_type, person
):
    note_type.case_id = person.case_id
    crypto.destroy_data_key(person.key_id)  # erased while the message was applied
    body, claims = fake_peer.envelope({"text": SECRET_TEXT}, categories=["risk"])

    assert inbox.receive(body).status_code == 202

    stored = InboxMessage.objects.get(msg_id=claims["msg_id"])
    assert stored.payload_sealed is None and stored.payload_key_id is None
    assert services.payload_gone(stored)


# --- forgetting --------------------------------------------------------------------


def test_a_withdrawal_forgets_what_that_peer_sent_under_that_basis_only(node_keys):
    md, ro = make_peer("fictional-md"), make_peer("fictional-ro", country="RO")
    basis, other_basis = f"consent:{uuid.uuid4()}", f"consent:{uuid.uuid4()}"
    under = [incoming(md, legal_basis=basis), incoming(md, legal_basis=basis)]
    kept = [
        incoming(md, legal_basis=other_basis),
        incoming(ro, legal_basis=basis),  # same reference, another peer
        incoming(md),  # pseudonymous
    ]

    with transaction.atomic():
        forgotten = services.forget_payloads(
            peer_node="fictional-md", legal_basis=basis, actor="node:fictional-md"
        )

    assert forgotten == 2
    for message in under:
        message.refresh_from_db()
        assert message.payload_sealed is None
        assert message.envelope_digest and message.receipt  # the record stays
        assert services.payload_gone(message)
    for message in kept:
        message.refresh_from_db()
        assert services.stored_payload(message) is not None
    entry = AuditEntry.objects.get(action="exchange.payloads_forgotten")
    assert entry.target_id == "fictional-md"
    assert entry.data_digest == keyed_digest(
        {"reason": "consent_withdrawn", "legal_basis": "consent", "incoming": 2}
    )


def test_erasure_forgets_every_stored_payload_of_the_persons_cases(
    node_keys, notice_type
):
    peer = make_peer()
    case_id, other_case = uuid.uuid4(), uuid.uuid4()
    # Older rows, sealed under the node's key.
    sent = outgoing(peer, "sent", case_id=case_id)
    pending = outgoing(peer, case_id=case_id, conversation="FICTIONAL-REF-4", seq=1)
    notice = outgoing(
        peer,
        case_id=case_id,
        type=NOTICE_TYPE,
        version=1,
        categories=[],
        conversation="FICTIONAL-REF-4",
        seq=2,
    )
    Conversation.objects.create(peer=peer, reference="FICTIONAL-REF-4", last_out_seq=2)
    received = incoming(peer, case_id=case_id)
    elsewhere = outgoing(peer, "sent", case_id=other_case)

    with transaction.atomic():
        result = services.forget_payloads_for_cases(case_ids=[case_id], actor=None)

    assert result == services.Forgotten(outgoing=2, incoming=1, cancelled=1)
    sent.refresh_from_db()
    pending.refresh_from_db()
    notice.refresh_from_db()
    received.refresh_from_db()
    elsewhere.refresh_from_db()
    assert bytes(sent.payload_sealed) == b"" and services.payload_gone(sent)
    assert (pending.status, pending.last_error) == (OutboxStatus.CANCELLED, "erased")
    assert bytes(pending.payload_sealed) == b""
    assert received.payload_sealed is None
    # The notice carries nothing of the person: it stays and moves up.
    assert notice.status == OutboxStatus.PENDING and notice.seq == 1
    assert services.stored_payload(notice) is not None
    assert services.stored_payload(elsewhere) is not None
    entry = AuditEntry.objects.get(action="exchange.payloads_forgotten")
    assert entry.data_digest == keyed_digest(
        {
            "reason": "erased",
            "cases": [str(case_id)],
            "outgoing": 2,
            "incoming": 1,
            "cancelled": 1,
        }
    )


# --- the operator view -------------------------------------------------------------


def test_the_operator_view_says_an_erased_payload_is_no_longer_held(
    node_keys, ncp, case_team, person, signed_in
):
    peer = make_peer()
    received = incoming(peer, case_id=person.case_id)
    # As the inbox now stores it: under the person's key.
    InboxMessage.objects.filter(pk=received.pk).update(
        payload_key_id=person.key_id,
        payload_sealed=crypto.seal_for(
            person.key_id,
            b'{"note":"Fictional identity"}',
            context=services.payload_context(received.msg_id, "in"),
        ),
    )
    case_team.add((ncp.pk, person.case_id))
    before = operations.message_get(user=ncp, msg_id=received.msg_id, direction="in")
    assert before.payload == {"note": "Fictional identity"}
    assert not before.payload_gone

    crypto.destroy_data_key(person.key_id)

    detail = operations.message_get(user=ncp, msg_id=received.msg_id, direction="in")
    assert detail.payload is None and detail.payload_gone
    client: Client = signed_in(ncp)
    page = client.get(
        reverse("exchange:message_detail", args=[peer.node_id, "in", received.msg_id])
    )
    body = page.content.decode()
    assert page.status_code == 200
    assert "The payload is no longer held (erased or restricted)." in body
    assert "Fictional identity" not in body
    api = client.get(
        f"/api/v1/exchange/messages/{received.msg_id}", {"direction": "in"}
    ).json()
    assert api["payload"] is None and api["payload_gone"] is True
    # Only the reading before the erasure was audited.
    assert AuditEntry.objects.filter(action="exchange.payload_viewed").count() == 1


def test_a_refused_inbound_message_is_not_said_to_be_erased(node_keys, ncp):
    peer = make_peer()
    refused = incoming(peer, "rejected", case_id=uuid.uuid4())
    InboxMessage.objects.filter(pk=refused.pk).update(payload_sealed=None)

    detail = operations.message_get(user=ncp, msg_id=refused.msg_id, direction="in")

    assert detail.payload is None and not detail.payload_gone
