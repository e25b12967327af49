"""The sender's side of minimisation and order (EXCHANGE.md §1.3, §1.5, §1.7):
:func:`trm.exchange.services.enqueue`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction

from trm.audit.models import AuditEntry
from trm.exchange import registry, services
from trm.exchange.errors import LegalBasisMissing, MessageInvalid, PeerUnavailable
from trm.exchange.models import Conversation, OutboxMessage, OutboxStatus, PeerStatus
from trm.exchange.tests.conftest import SECRET_TEXT, NoteV1

pytestmark = pytest.mark.django_db


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


@pytest.fixture
def alert_type() -> Iterator[None]:
    """A type that may go without consent in a vital interest."""
    registry.register(
        registry.MessageType(
            name="test.alert",
            version=1,
            schema=NoteV1,
            categories=frozenset({"case_summary", "risk"}),
            handler=lambda inbound: None,
            exceptions=frozenset({"vital_interest"}),
        )
    )
    yield
    registry.unregister("test.alert", 1)


def test_enqueue_writes_a_pending_sealed_message(peer, note_type):
    message = enqueue()

    row = OutboxMessage.objects.get(pk=message.pk)
    assert (row.status, row.attempts, row.type, row.version) == (
        OutboxStatus.PENDING,
        0,
        "test.note",
        1,
    )
    assert SECRET_TEXT.encode() not in bytes(row.payload_sealed)
    assert services.sealed_payload(row) == {"text": SECRET_TEXT, "number": 0}
    assert AuditEntry.objects.filter(
        action="exchange.message_queued", target_id=str(row.msg_id)
    ).exists()


@pytest.mark.django_db(transaction=True)
def test_enqueue_outside_a_transaction_is_refused(peer, note_type):
    with pytest.raises(RuntimeError, match="inside the business transaction"):
        services.enqueue(
            to_node="test-peer",
            type="test.note",
            payload={"text": "x"},
            legal_basis="pseudonymous",
        )
    assert not OutboxMessage.objects.exists()


def test_a_payload_outside_the_schema_is_refused_naming_the_field(peer, note_type):
    with pytest.raises(MessageInvalid) as caught:
        enqueue(payload={"text": "x", "passport_number": SECRET_TEXT})

    assert caught.value.details["fields"] == ["passport_number"]
    assert SECRET_TEXT not in str(caught.value.details)
    assert not OutboxMessage.objects.exists()


def test_categories_beyond_the_type_are_refused_at_the_sender(peer, note_type):
    with pytest.raises(MessageInvalid) as caught:
        enqueue(categories=["risk", "identity"], legal_basis=f"consent:{uuid.uuid4()}")

    assert caught.value.details["categories"] == ["identity"]
    assert not OutboxMessage.objects.exists()


def test_a_payload_carrying_an_undeclared_category_is_refused(peer, carrying_note_type):
    with pytest.raises(MessageInvalid) as refused:
        enqueue(categories=["risk"])  # the text is a case summary: undeclared
    assert refused.value.details["categories"] == ["case_summary"]
    assert not OutboxMessage.objects.exists()
    # Declared (and covered by its basis), the same payload goes.
    previous = registry.legal_basis_check()
    registry.register_legal_basis_check(lambda **kwargs: None)
    try:
        enqueue(categories=["case_summary"], legal_basis=f"consent:{uuid.uuid4()}")
    finally:
        if previous is not None:
            registry.register_legal_basis_check(previous)
    assert OutboxMessage.objects.count() == 1


def test_personal_categories_under_pseudonymous_are_refused(peer, note_type):
    with pytest.raises(LegalBasisMissing) as caught:
        enqueue(categories=["case_summary"])

    assert caught.value.details["categories"] == ["case_summary"]


def test_vital_interest_is_refused_for_a_type_without_that_exception(peer, note_type):
    with pytest.raises(LegalBasisMissing):
        enqueue(categories=["case_summary"], legal_basis="vital_interest")


def test_vital_interest_is_allowed_for_a_type_with_that_exception(
    peer, note_type, alert_type
):
    message = enqueue(
        type="test.alert", categories=["case_summary"], legal_basis="vital_interest"
    )

    assert message.legal_basis == "vital_interest"


def test_an_unknown_legal_basis_is_refused(peer, note_type):
    with pytest.raises(LegalBasisMissing):
        enqueue(legal_basis="because")


def test_a_disabled_peer_is_refused(peer, note_type):
    peer.status = PeerStatus.DISABLED
    peer.save(update_fields=["status"])

    with pytest.raises(PeerUnavailable):
        enqueue()


def test_an_unknown_type_is_refused(peer, note_type):
    with pytest.raises(MessageInvalid):
        enqueue(type="test.nothing")


def test_messages_of_a_conversation_are_numbered_in_order(peer, note_type):
    first = enqueue(conversation="CASE-1")
    second = enqueue(conversation="CASE-1")
    other = enqueue(conversation="CASE-2")
    loose = enqueue()

    assert (first.seq, second.seq, other.seq, loose.seq) == (1, 2, 1, 0)
    assert Conversation.objects.get(reference="CASE-1").last_out_seq == 2


def test_a_rolled_back_business_change_leaves_no_message(peer, note_type):
    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        services.enqueue(
            to_node="test-peer",
            type="test.note",
            payload={"text": "x"},
            legal_basis="pseudonymous",
            categories=["risk"],
            conversation="CASE-1",
        )
        raise Undo

    assert not OutboxMessage.objects.exists()
    assert not Conversation.objects.filter(last_out_seq__gt=0).exists()


def test_a_second_registration_of_a_type_is_refused(note_type):
    """One app owns each (name, version): another definition is refused
    unless it explicitly replaces the first; the same one again is harmless."""
    registered = registry.message_type("test.note", 1)
    assert registered is not None
    other = registry.MessageType(
        name="test.note",
        version=1,
        schema=NoteV1,
        categories=frozenset({"risk"}),
        handler=None,
    )
    with pytest.raises(ValueError, match="already registered"):
        registry.register(other)
    assert registry.message_type("test.note", 1) is registered
    registry.register(registered)
    registry.register(other, replace=True)
    assert registry.message_type("test.note", 1) is other
