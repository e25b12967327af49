"""The inbox (EXCHANGE.md §1.1, §1.4, §1.5, §1.7): what it accepts, answers and
records, called directly (:func:`trm.exchange.inbox.receive`) and through
``POST /exchange/v1/messages``."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from trm.audit.models import AuditEntry
from trm.exchange import envelope, inbox, registry
from trm.exchange.models import Conversation, InboxMessage, InboxStatus, PeerStatus
from trm.exchange.tests.conftest import (
    SECRET_TEXT,
    FakePeer,
    NoteHandler,
    _keypair,
    node_signing_keys,
)

pytestmark = pytest.mark.django_db

INBOX = "/exchange/v1/messages"


def verified(token: str) -> dict[str, Any]:
    return envelope.verify_receipt(token, signer_keys=node_signing_keys())


def assert_rejected(
    answer: inbox.Answer, code: str, status: int, body: bytes
) -> dict[str, Any]:
    assert answer.status_code == status, answer.json_body
    assert answer.json_body["code"] == code
    claims = verified(answer.json_body["rejection"])
    assert claims["status"] == "rejected"
    assert claims["code"] == code
    assert claims["digest"] == envelope.body_digest(body)
    return claims


def refused_audits() -> int:
    return AuditEntry.objects.filter(action="exchange.message_refused").count()


# --- accepted -----------------------------------------------------------------------


def test_accepts_a_message_and_answers_a_receipt_over_what_it_received(
    peer, fake_peer, note_type
):
    body, claims = fake_peer.envelope({"text": SECRET_TEXT, "number": 3})

    answer = inbox.receive(body)

    assert answer.status_code == 202
    receipt = verified(answer.json_body["receipt"])
    assert receipt == {
        "msg_id": claims["msg_id"],
        "from": "test-node",
        "to": "test-peer",
        "digest": envelope.body_digest(body),
        "status": "accepted",
        "code": "",
        "received_at": receipt["received_at"],
    }
    [call] = note_type.calls
    assert call.payload.model_dump() == {"text": SECRET_TEXT, "number": 3}
    assert (call.sender, call.sender_country, str(call.msg_id)) == (
        "test-peer",
        "MD",
        claims["msg_id"],
    )
    message = InboxMessage.objects.get()
    assert message.status == InboxStatus.APPLIED
    assert message.receipt == answer.json_body["receipt"]
    assert message.envelope_digest == envelope.body_digest(body)
    assert SECRET_TEXT.encode() not in bytes(message.payload_sealed or b"")
    assert AuditEntry.objects.filter(
        action="exchange.message_received", target_id=claims["msg_id"]
    ).exists()


def test_the_handler_may_call_durable_services_and_its_case_id_is_recorded(
    peer, fake_peer, note_type
):
    note_type.case_id = uuid.uuid4()
    body, _claims = fake_peer.envelope()

    assert inbox.receive(body).status_code == 202

    assert InboxMessage.objects.get().case_id == note_type.case_id
    assert AuditEntry.objects.filter(action="test.note_applied").count() == 1


def test_observers_see_each_recorded_message(peer, fake_peer, note_type, monkeypatch):
    seen: list[tuple[str, Any]] = []
    monkeypatch.setattr(
        registry, "_observers", [lambda d, m: seen.append((d, m.status))]
    )
    body, _claims = fake_peer.envelope()

    inbox.receive(body)

    assert seen == [("in", InboxStatus.APPLIED)]


def test_risk_may_travel_without_consent(peer, fake_peer, note_type):
    body, _claims = fake_peer.envelope(categories=["risk"], legal_basis="pseudonymous")

    assert inbox.receive(body).status_code == 202


# --- nothing applied twice ------------------------------------------------------------


def test_the_same_message_twice_answers_the_original_receipt_and_applies_once(
    peer, fake_peer, note_type
):
    body, _claims = fake_peer.envelope()
    first = inbox.receive(body)

    again = inbox.receive(body)

    assert again.status_code == 200
    assert again.json_body == first.json_body
    assert len(note_type.calls) == 1
    assert InboxMessage.objects.count() == 1


def test_a_resealed_redelivery_also_gets_the_original_receipt(
    peer, fake_peer, note_type
):
    body, claims = fake_peer.envelope()
    first = inbox.receive(body)
    resealed, _c = fake_peer.envelope(msg_id=claims["msg_id"])
    assert resealed != body

    again = inbox.receive(resealed)

    assert (again.status_code, again.json_body) == (200, first.json_body)
    assert len(note_type.calls) == 1


def test_a_redelivery_is_recognised_even_when_no_longer_fresh(
    peer, fake_peer, note_type
):
    body, _claims = fake_peer.envelope()
    first = inbox.receive(body)

    later = inbox.receive(body, now=timezone.now() + timedelta(hours=6))

    assert (later.status_code, later.json_body) == (200, first.json_body)
    assert len(note_type.calls) == 1


# --- order within a conversation ------------------------------------------------------


def test_a_message_before_its_predecessor_is_answered_retry_later(
    peer, fake_peer, note_type
):
    second, c2 = fake_peer.envelope({"text": "two"}, conversation="CASE-1", seq=2)
    first, _c1 = fake_peer.envelope({"text": "one"}, conversation="CASE-1", seq=1)

    early = inbox.receive(second)

    assert early.status_code == 409
    claims = verified(early.json_body["retry_later"])
    assert (claims["status"], claims["msg_id"]) == ("retry_later", c2["msg_id"])
    assert not InboxMessage.objects.exists()
    assert note_type.calls == []

    assert inbox.receive(first).status_code == 202
    assert inbox.receive(second).status_code == 202
    assert [c.payload.text for c in note_type.calls] == ["one", "two"]
    assert [c.seq for c in note_type.calls] == [1, 2]
    assert Conversation.objects.get(peer=peer, reference="CASE-1").last_in_seq == 2


def test_a_new_message_reusing_an_applied_seq_is_rejected(peer, fake_peer, note_type):
    body, _c = fake_peer.envelope(conversation="CASE-1", seq=1)
    inbox.receive(body)
    reused, _c2 = fake_peer.envelope(conversation="CASE-1", seq=1)

    answer = inbox.receive(reused)

    assert_rejected(answer, "seq_reused", 422, reused)
    assert len(note_type.calls) == 1


def test_conversations_are_ordered_per_peer(peer, fake_peer, note_type):
    body, _c = fake_peer.envelope(conversation="CASE-1", seq=1)
    other, _c2 = fake_peer.envelope(conversation="CASE-2", seq=1)

    assert inbox.receive(body).status_code == 202
    assert inbox.receive(other).status_code == 202


# --- authenticity ---------------------------------------------------------------------


def test_a_payload_altered_in_transit_is_rejected_and_nothing_recorded(
    peer, fake_peer, note_type
):
    body, _c = fake_peer.envelope()
    parts = body.split(b".")
    ciphertext = bytearray(parts[3])
    ciphertext[5] = ord("A") if ciphertext[5] != ord("A") else ord("B")
    altered = b".".join([*parts[:3], bytes(ciphertext), parts[4]])

    answer = inbox.receive(altered)

    assert_rejected(answer, "undecryptable", 400, altered)
    assert not InboxMessage.objects.exists()
    assert note_type.calls == []
    assert refused_audits() == 1


def test_a_message_signed_by_a_key_the_peer_never_published_is_not_applied(
    peer, fake_peer, note_type
):
    """Not final either: the peer may have rotated its keys (see
    test_key_rotation.py); it is asked to send again later."""
    stranger_key, stranger_jwk = _keypair("Ed25519", "sig")
    body, _c = fake_peer.envelope(
        signing_key=stranger_key, signing_kid=stranger_jwk["kid"]
    )

    answer = inbox.receive(body)

    assert answer.status_code == 409
    assert answer.json_body["code"] == "unknown_key"
    claims = verified(answer.json_body["retry_later"])
    assert (claims["status"], claims["code"]) == ("retry_later", "unknown_key")
    assert claims["digest"] == envelope.body_digest(body)
    assert note_type.calls == []
    assert not InboxMessage.objects.exists()


def test_a_message_claiming_a_published_kid_but_signed_by_another_key_is_rejected(
    peer, fake_peer, note_type
):
    stranger_key, _jwk = _keypair("Ed25519", "sig")
    body, _c = fake_peer.envelope(
        signing_key=stranger_key, signing_kid=fake_peer.sig_jwk["kid"]
    )

    assert_rejected(inbox.receive(body), "bad_signature", 403, body)


def test_a_message_encrypted_to_a_key_this_node_does_not_have_is_rejected(
    peer, fake_peer, note_type
):
    _key, other_enc = _keypair("X25519", "enc")
    body, _c = fake_peer.envelope(recipient_jwk=other_enc)

    assert_rejected(inbox.receive(body), "unknown_key", 403, body)


def test_a_message_addressed_to_another_node_is_rejected(peer, fake_peer, note_type):
    body, _c = fake_peer.envelope(to="other-node")

    assert_rejected(inbox.receive(body), "not_for_me", 421, body)
    assert note_type.calls == []


def test_a_message_from_an_unknown_node_is_rejected(peer, note_type):
    stranger = FakePeer("stranger-node")
    body, _c = stranger.envelope()

    assert_rejected(inbox.receive(body), "unknown_sender", 403, body)
    assert not InboxMessage.objects.exists()


def test_a_message_from_a_disabled_peer_is_rejected(peer, fake_peer, note_type):
    peer.status = PeerStatus.DISABLED
    peer.save(update_fields=["status"])
    body, _c = fake_peer.envelope()

    assert_rejected(inbox.receive(body), "unknown_sender", 403, body)
    assert note_type.calls == []


@pytest.mark.parametrize("minutes", [-6, 6])
def test_a_message_outside_the_clock_skew_is_stale(peer, fake_peer, note_type, minutes):
    sent_at = timezone.now() + timedelta(minutes=minutes)
    body, _c = fake_peer.envelope(sent_at=sent_at.isoformat())

    assert_rejected(inbox.receive(body), "stale", 403, body)
    assert note_type.calls == []


def test_the_clock_skew_is_configurable(peer, fake_peer, note_type, settings):
    settings.TRM_EXCHANGE_CLOCK_SKEW_SECONDS = 900
    sent_at = timezone.now() - timedelta(minutes=10)
    body, _c = fake_peer.envelope(sent_at=sent_at.isoformat())

    assert inbox.receive(body).status_code == 202


def test_garbage_is_malformed(peer, note_type):
    answer = inbox.receive(b"not a message at all")

    assert_rejected(answer, "malformed", 400, b"not a message at all")


def test_claims_of_the_wrong_shape_are_malformed(peer, fake_peer, note_type):
    body, _c = fake_peer.envelope(seq="first")

    assert_rejected(inbox.receive(body), "malformed", 400, body)


# --- types, schema, minimisation ------------------------------------------------------


def test_an_unregistered_type_is_unsupported(peer, fake_peer, note_type):
    body, _c = fake_peer.envelope(type="test.unknown")

    assert_rejected(inbox.receive(body), "unsupported_type", 422, body)


def test_an_unregistered_version_is_unsupported(peer, fake_peer, note_type):
    body, _c = fake_peer.envelope(v=2)

    assert_rejected(inbox.receive(body), "unsupported_type", 422, body)


def test_a_payload_outside_the_schema_is_rejected_naming_fields_only(
    peer, fake_peer, note_type
):
    body, _c = fake_peer.envelope({"text": "ok", "home_address": SECRET_TEXT})

    answer = inbox.receive(body)

    assert_rejected(answer, "schema_invalid", 422, body)
    assert answer.json_body["fields"] == ["home_address"]
    assert SECRET_TEXT not in json.dumps(answer.json_body)
    assert note_type.calls == []
    assert not InboxMessage.objects.exists()


def test_categories_beyond_the_type_are_rejected_at_the_receiver(
    peer, fake_peer, note_type
):
    # Crafted past the sender's check (enqueue refuses this): identity is not a
    # category test.note may carry.
    body, _c = fake_peer.envelope(categories=["case_summary", "identity"])

    assert_rejected(inbox.receive(body), "category_not_allowed", 422, body)
    assert note_type.calls == []


def test_personal_categories_without_a_legal_basis_are_rejected(
    peer, fake_peer, note_type
):
    body, _c = fake_peer.envelope(
        categories=["case_summary"], legal_basis="pseudonymous"
    )

    assert_rejected(inbox.receive(body), "legal_basis_missing", 422, body)


def test_an_exception_the_type_does_not_allow_is_rejected(peer, fake_peer, note_type):
    body, _c = fake_peer.envelope(
        categories=["case_summary"], legal_basis="vital_interest"
    )

    assert_rejected(inbox.receive(body), "legal_basis_missing", 422, body)


# --- the handler refuses --------------------------------------------------------------


def test_a_handler_refusal_is_a_signed_rejection_and_keeps_nothing_it_wrote(
    peer, fake_peer, note_type
):
    note_type.refuse = True
    body, _claims = fake_peer.envelope(
        {"text": SECRET_TEXT}, conversation="CASE-1", seq=1
    )

    answer = inbox.receive(body)

    assert_rejected(answer, "refused:test.note_refused", 422, body)
    assert not AuditEntry.objects.filter(action="test.note_applied").exists()
    message = InboxMessage.objects.get()
    assert (message.status, message.error_code) == (
        InboxStatus.REJECTED,
        "refused:test.note_refused",
    )
    assert message.payload_sealed is None
    # Its seq is consumed: the next message of the conversation is applied.
    note_type.refuse = False
    nxt, _c = fake_peer.envelope(conversation="CASE-1", seq=2)
    assert inbox.receive(nxt).status_code == 202
    # And a re-delivery of the refused one gets the same rejection back.
    again = inbox.receive(body)
    assert (again.status_code, again.json_body) == (422, answer.json_body)


# --- the HTTP endpoints ---------------------------------------------------------------


def post(client: Client, body: bytes) -> Any:
    return client.post(INBOX, data=body, content_type="application/jose")


def test_the_endpoint_needs_no_session_or_csrf_token_and_answers_json(
    peer, fake_peer, note_type
):
    client = Client(enforce_csrf_checks=True)
    body, _c = fake_peer.envelope()

    response = post(client, body)

    assert response.status_code == 202
    assert response["Content-Type"] == "application/json"
    assert verified(response.json()["receipt"])["status"] == "accepted"
    assert "no-store" in response["Cache-Control"]


def test_the_endpoint_answers_rejections_as_json(peer, fake_peer, note_type):
    body, _c = fake_peer.envelope(to="other-node")

    response = post(Client(enforce_csrf_checks=True), body)

    assert response.status_code == 421
    assert response.json()["code"] == "not_for_me"


def test_an_oversize_body_is_refused_with_413(peer, fake_peer, note_type, settings):
    settings.TRM_EXCHANGE_MAX_BODY_BYTES = 4096
    body, claims = fake_peer.envelope({"text": "x" * 6000})

    response = post(Client(), body)

    assert response.status_code == 413
    data = response.json()
    assert data["code"] == "too_large"
    assert verified(data["rejection"])["msg_id"] == claims["msg_id"]
    assert note_type.calls == []


def test_a_body_above_djangos_upload_limit_but_within_ours_is_read(
    peer, fake_peer, note_type, settings
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body, _c = fake_peer.envelope({"text": "x" * 3000})

    assert post(Client(), body).status_code == 202


def test_the_endpoint_refuses_get(peer):
    response = Client().get(INBOX)

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_the_endpoint_without_node_keys_answers_503(db):
    response = post(Client(), b"anything")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "exchange.no_keys"


def test_the_well_known_document_publishes_the_node_keys(node_keys):
    response = Client().get("/.well-known/trm-node.json")

    assert response.status_code == 200
    document = response.json()
    assert document["node_id"] == "test-node"
    assert {k["use"] for k in document["keys"]} == {"sig", "enc"}
    assert all("d" not in k for k in document["keys"])


def test_the_well_known_document_without_keys_is_a_json_503(db):
    response = Client().get("/.well-known/trm-node.json")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "exchange.no_keys"


def test_handler_receives_a_verified_inbound(peer, fake_peer, note_type):
    in_reply_to = uuid.uuid4()
    reply_by = timezone.now() + timedelta(days=3)
    body, _c = fake_peer.envelope(
        in_reply_to=str(in_reply_to),
        reply_by=reply_by.isoformat(),
        categories=["risk", "case_summary"],
    )

    inbox.receive(body)

    [call] = note_type.calls
    assert call.in_reply_to == in_reply_to
    assert call.reply_by == reply_by
    assert call.categories == ("case_summary", "risk")
    assert isinstance(note_type, NoteHandler)


def test_a_payload_carrying_undeclared_data_is_rejected_at_the_receiver(
    peer, fake_peer, carrying_note_type
):
    # A pseudonymous message whose payload holds a case summary all the same.
    body, _claims = fake_peer.envelope(
        {"text": SECRET_TEXT}, categories=[], legal_basis="pseudonymous"
    )

    answer = inbox.receive(body)

    assert_rejected(answer, "category_not_allowed", 422, body)
    assert carrying_note_type.calls == []
    assert not InboxMessage.objects.exists()


# --- what a rejection writes to the audit log ---------------------------------------

#: Readable text a sender might put where an id belongs (synthetic).
CLAIMED_TEXT = "Fictional Person, Imaginary Town, passport ZZ000000"


def test_a_claimed_message_id_that_is_not_a_uuid_is_not_audited(
    peer, fake_peer, note_type
):
    from trm.audit.services import keyed_digest

    body, _c = fake_peer.envelope(msg_id=CLAIMED_TEXT)

    answer = inbox.receive(body)

    assert_rejected(answer, "malformed", 400, body)
    entry = AuditEntry.objects.get(action="exchange.message_refused")
    assert entry.target_id == ""
    assert entry.data_digest == keyed_digest(
        {"code": "malformed", "digest": envelope.body_digest(body), "from": "test-peer"}
    )


def test_a_claimed_sender_that_is_not_a_peer_is_not_audited(peer, note_type):
    from trm.audit.services import keyed_digest

    stranger = FakePeer(CLAIMED_TEXT)
    body, claims = stranger.envelope()

    answer = inbox.receive(body)

    assert_rejected(answer, "unknown_sender", 403, body)
    entry = AuditEntry.objects.get(action="exchange.message_refused")
    # A message id that is a UUID is kept (as a UUID), the sender is not.
    assert entry.target_id == claims["msg_id"]
    assert entry.data_digest == keyed_digest(
        {"code": "unknown_sender", "digest": envelope.body_digest(body), "from": ""}
    )
    assert not AuditEntry.objects.filter(target_id__icontains="Fictional").exists()


# --- when a message was applied -------------------------------------------------------


def test_received_at_is_when_the_message_was_applied(peer, fake_peer, note_type):
    """The operator view sorts received messages by ``received_at``: the time
    of applying (after waiting for the conversation), not of arrival."""
    import dataclasses

    import time_machine

    arrival = timezone.now().replace(microsecond=0)
    with time_machine.travel(arrival, tick=False) as traveller:
        mtype = registry.message_type("test.note", 1)
        assert mtype is not None

        def slow_handler(inbound: registry.Inbound) -> None:
            traveller.shift(timedelta(seconds=90))  # waited, then applied
            note_type(inbound)

        registry.register(
            dataclasses.replace(mtype, handler=slow_handler), replace=True
        )
        body, _c = fake_peer.envelope()

        answer = inbox.receive(body)

    assert answer.status_code == 202
    message = InboxMessage.objects.get()
    assert message.received_at == arrival + timedelta(seconds=90)
    # The receipt says when it arrived.
    assert verified(answer.json_body["receipt"])["received_at"] == (arrival.isoformat())
