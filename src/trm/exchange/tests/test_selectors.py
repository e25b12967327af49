"""The exchange's readers for domain handlers: is a peer party to a case?

All data is synthetic.
"""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from trm.exchange.models import (
    Conversation,
    InboxMessage,
    InboxStatus,
    OutboxMessage,
    OutboxStatus,
    Peer,
    PeerStatus,
)
from trm.exchange.selectors import is_party

pytestmark = pytest.mark.django_db

REF = "peer-ro-0a1b2c3d4e5f"
CASE = uuid.uuid4()


def _peer(node_id: str) -> Peer:
    return Peer.objects.create(
        node_id=node_id,
        name=f"Fictional node {node_id}",
        country="RO",
        base_url="http://127.0.0.1:9/",
        fingerprint="fictional-fingerprint",
        status=PeerStatus.ACTIVE,
    )


def _received(
    peer: Peer,
    status: str,
    *,
    conversation: str = REF,
    case_id: uuid.UUID | None = CASE,
) -> InboxMessage:
    return InboxMessage.objects.create(
        peer=peer,
        msg_id=uuid.uuid4(),
        type="case.closure",
        conversation=conversation,
        seq=1,
        legal_basis="pseudonymous",
        case_id=case_id,
        envelope_digest="0" * 64,
        status=status,
        error_code="" if status == InboxStatus.APPLIED else "refused:test.refused",
        received_at=timezone.now(),
        receipt="fictional-receipt",
    )


def _sent(
    peer: Peer,
    *,
    seq: int,
    conversation: str = REF,
    case_id: uuid.UUID | None = CASE,
) -> OutboxMessage:
    now = timezone.now()
    return OutboxMessage.objects.create(
        peer=peer,
        type="case.alert",
        conversation=conversation,
        seq=seq,
        legal_basis="pseudonymous",
        case_id=case_id,
        payload_sealed=b"fictional",
        payload_digest="0" * 64,
        status=OutboxStatus.SENT,
        next_attempt_at=now,
        created_at=now,
    )


def test_a_peer_is_party_once_one_of_its_messages_about_a_case_was_applied():
    ro, md = _peer("peer-ro"), _peer("peer-md")
    assert not is_party("peer-ro", REF)
    assert not is_party("peer-ro", "")
    assert not is_party("", REF)
    # Refused messages consume seq numbers: neither they nor the counter count.
    _received(ro, InboxStatus.REJECTED)
    Conversation.objects.create(peer=ro, reference=REF, last_in_seq=7)
    assert not is_party("peer-ro", REF)
    # Nor does an applied message that touched no case here.
    _received(ro, InboxStatus.APPLIED, case_id=None)
    assert not is_party("peer-ro", REF)
    _received(ro, InboxStatus.APPLIED)
    assert is_party("peer-ro", REF)
    # Only in that conversation, only that peer.
    assert not is_party("peer-ro", "peer-ro-ffffffffffff")
    assert not is_party("peer-md", REF)
    _received(md, InboxStatus.APPLIED, conversation="")
    assert not is_party("peer-md", REF)


def test_a_peer_this_node_wrote_to_about_the_case_is_party():
    md = _peer("peer-md")
    # An answer about no case here (e.g. "nothing held") does not count.
    Conversation.objects.create(peer=md, reference=REF, last_out_seq=2)
    _sent(md, seq=1, case_id=None)
    assert not is_party("peer-md", REF)
    # A message cancelled before it left has left the conversation.
    _sent(md, seq=2, conversation="")
    assert not is_party("peer-md", REF)
    _sent(md, seq=2)
    assert is_party("peer-md", REF)
