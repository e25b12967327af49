"""Several messages in one request (``POST /exchange/v1/batch``): each is
answered exactly as it would be alone, the good ones are applied in one
transaction, and a sender falls back to one message per request when the peer
does not take batches. All data is synthetic."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from django.db import transaction
from django.test import Client

from trm.audit import services as audit
from trm.audit.models import AuditEntry
from trm.exchange import delivery, envelope, inbox, nodekeys, services
from trm.exchange.models import (
    InboxMessage,
    InboxStatus,
    OutboxMessage,
    OutboxStatus,
    Peer,
)
from trm.exchange.tests.conftest import SECRET_TEXT, FakePeer, NoteHandler

pytestmark = pytest.mark.django_db

BATCH = "/exchange/v1/batch"


def tampered(body: bytes) -> bytes:
    parts = body.decode().split(".")
    parts[3] = ("A" if parts[3][0] != "A" else "B") + parts[3][1:]
    return ".".join(parts).encode()


def post(client: Client, data: Any, **extra: Any) -> Any:
    return client.post(
        BATCH, data=json.dumps(data), content_type="application/json", **extra
    )


# --- the inbox ----------------------------------------------------------------------


def test_each_message_of_a_batch_is_answered_as_it_would_be_alone(
    peer, fake_peer: FakePeer, note_type: NoteHandler
):
    good, good_claims = fake_peer.envelope({"text": "first"})
    first_of_case, _c = fake_peer.envelope(conversation="CASE-7", seq=1)
    gap, _g = fake_peer.envelope(conversation="CASE-8", seq=2)
    stale, _s = fake_peer.envelope(sent_at="2020-01-01T00:00:00+00:00")
    altered = tampered(fake_peer.envelope()[0])

    answers = inbox.receive_batch([good, altered, first_of_case, good, gap, stale])

    statuses = [a.status_code for a in answers]
    assert statuses == [202, 400, 202, 200, 409, 403]
    assert answers[3].json_body == answers[0].json_body
    assert answers[1].json_body["code"] == "undecryptable"
    assert answers[4].json_body["code"] == "retry_later"
    assert answers[5].json_body["code"] == "stale"
    receipt = envelope.verify_receipt(
        answers[0].json_body["receipt"],
        signer_keys={k["kid"]: k for k in nodekeys.public_keys() if k["use"] == "sig"},
    )
    assert receipt["msg_id"] == good_claims["msg_id"]
    assert receipt["digest"] == envelope.body_digest(good)
    # Applied once each, recorded with their receipts, audited once each.
    assert len(note_type.calls) == 2
    assert InboxMessage.objects.filter(status=InboxStatus.APPLIED).count() == 2
    assert AuditEntry.objects.filter(action="exchange.message_received").count() == 2
    assert audit.verify().ok


def test_the_same_message_again_in_a_later_batch_gets_its_original_receipt(
    peer, fake_peer, note_type
):
    body, _claims = fake_peer.envelope(conversation="CASE-3", seq=1)
    [first] = inbox.receive_batch([body])

    [again] = inbox.receive_batch([body])

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json_body == first.json_body
    assert len(note_type.calls) == 1


def test_a_message_failing_unexpectedly_is_retried_alone_and_the_others_kept(
    peer, fake_peer, note_type, monkeypatch
):
    first, _a = fake_peer.envelope({"text": "kept one"})
    broken, _b = fake_peer.envelope({"text": "breaks"})
    last, _c = fake_peer.envelope({"text": "kept two"})
    real = note_type.__call__

    def handler(inbound: Any) -> Any:
        if inbound.payload.text == "breaks":
            raise RuntimeError("fictional failure")
        return real(inbound)

    monkeypatch.setattr(type(note_type), "__call__", lambda self, i: handler(i))

    answers = inbox.receive_batch([first, broken, last])

    assert [a.status_code for a in answers] == [202, 500, 202]
    assert answers[1].json_body["error"]["code"] == "exchange.internal"
    kept = {c.payload.text for c in note_type.calls}
    assert kept == {"kept one", "kept two"}
    assert InboxMessage.objects.count() == 2
    # What the failed handler wrote before failing is not kept either.
    assert AuditEntry.objects.filter(action="test.note_applied").count() == 2


def test_a_handlers_refusal_in_a_batch_is_recorded_and_keeps_nothing_it_wrote(
    peer, fake_peer, note_type
):
    note_type.refuse = True
    body, _claims = fake_peer.envelope()

    [answer] = inbox.receive_batch([body])

    assert answer.status_code == 422
    assert answer.json_body["code"] == "refused:test.note_refused"
    assert InboxMessage.objects.get().status == InboxStatus.REJECTED
    assert not AuditEntry.objects.filter(action="test.note_applied").exists()


# --- the endpoint -------------------------------------------------------------------


def test_the_batch_endpoint_answers_each_message_in_order(peer, fake_peer, note_type):
    good, _g = fake_peer.envelope()
    altered = tampered(fake_peer.envelope()[0])

    response = post(Client(), {"messages": [good.decode(), altered.decode()]})

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    results = response.json()["results"]
    assert [r["status"] for r in results] == [202, 400]
    assert "receipt" in results[0]["body"]
    assert results[1]["body"]["code"] == "undecryptable"


@pytest.mark.parametrize(
    "data",
    [
        "not json at all",
        {"messages": []},
        {"messages": "a.b.c.d.e"},
        {"messages": [1, 2]},
        {"messages": ["Ünïcode.is.not.a.jwe"]},
        {"other": ["a.b.c.d.e"]},
    ],
)
def test_a_body_that_is_not_a_batch_is_a_structured_400(peer, data):
    client = Client()
    if isinstance(data, str):
        response = client.post(BATCH, data=data, content_type="application/json")
    else:
        response = post(client, data)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "exchange.bad_batch"
    assert not InboxMessage.objects.exists()


def test_more_messages_than_the_node_accepts_is_a_400(peer, fake_peer, settings):
    settings.TRM_EXCHANGE_BATCH_MAX = 2
    bodies = [fake_peer.envelope()[0].decode() for _ in range(3)]

    response = post(Client(), {"messages": bodies})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "exchange.bad_batch"


def test_an_oversize_batch_is_a_413(peer, fake_peer, settings):
    settings.TRM_EXCHANGE_MAX_BODY_BYTES = 2048
    bodies = [fake_peer.envelope()[0].decode() for _ in range(3)]

    response = post(Client(), {"messages": bodies})

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "exchange.too_large"


def test_the_batch_endpoint_refuses_get(peer):
    response = Client().get(BATCH)

    assert response.status_code == 405
    assert response["Allow"] == "POST"


# --- the sender ---------------------------------------------------------------------


def enqueue(n: int, *, text: str = SECRET_TEXT) -> list[OutboxMessage]:
    with transaction.atomic():
        return [
            services.enqueue(
                to_node="test-peer",
                type="test.note",
                payload={"text": f"{text} {i}"},
                legal_basis="pseudonymous",
                categories=["risk"],
            )
            for i in range(n)
        ]


def test_messages_to_one_peer_travel_together_with_a_receipt_each(
    peer_server, note_type, clock, settings
):
    settings.TRM_EXCHANGE_BATCH_SIZE = 2
    messages = enqueue(5)

    counts = delivery.deliver_due(now=clock.now)

    assert counts["sent"] == 5
    # 2 + 2 in batches, the fifth alone.
    assert (peer_server.batch_posts, peer_server.posts) == (2, 5)
    for message in messages:
        row = OutboxMessage.objects.get(pk=message.pk)
        assert row.status == OutboxStatus.SENT
        assert row.receipt_claims["msg_id"] == str(message.msg_id)
        assert row.receipt_claims["digest"] == row.envelope_digest
    assert AuditEntry.objects.filter(action="exchange.message_delivered").count() == 5


def test_a_peer_without_the_batch_endpoint_gets_them_one_by_one(
    peer_server, note_type, clock
):
    peer_server.batches = False
    messages = enqueue(3)

    counts = delivery.deliver_due(now=clock.now)

    # The first alone at once; the others given back (attempt too) and sent
    # one per request in the same run, each exactly once.
    assert counts["sent"] == 3
    assert (peer_server.batch_posts, peer_server.posts) == (0, 3)
    assert len(peer_server.applied) == 3
    for message in messages:
        row = OutboxMessage.objects.get(pk=message.pk)
        assert (row.status, row.attempts) == (OutboxStatus.SENT, 1)

    # Remembered: the next messages go one per request without asking again.
    enqueue(2)
    delivery.deliver_due(now=clock.advance(1))
    assert (peer_server.batch_posts, peer_server.posts) == (0, 5)


def test_answers_that_are_too_deeply_nested_are_not_a_crash(peer, fake_peer, note_type):
    nested = b"[" * 100_000
    response = Client().post(BATCH, data=nested, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "exchange.bad_batch"

    header = base64.urlsafe_b64encode(b"[" * 50_000).decode().rstrip("=")
    crafted = f"{header}.a.b.c.d".encode()
    good, _g = fake_peer.envelope()
    answers = inbox.receive_batch([good, crafted])
    assert [a.status_code for a in answers] == [202, 400]
    assert answers[1].json_body["code"] == "malformed"


def test_a_failed_batch_request_is_a_failed_attempt_of_each_message(
    peer_server, note_type, clock
):
    peer_server.mode = "503"
    messages = enqueue(3)

    counts = delivery.deliver_due(now=clock.now)

    assert counts["retrying"] == 3
    for message in messages:
        row = OutboxMessage.objects.get(pk=message.pk)
        assert (row.status, row.attempts, row.last_error) == (
            OutboxStatus.RETRYING,
            1,
            "http_503",
        )


def test_each_answer_of_a_batch_is_judged_on_its_own(peer_server, note_type, clock):
    peer_server.mode = "wrong_digest"
    messages = enqueue(2)

    delivery.deliver_due(now=clock.now)

    # A receipt over another body does not count, in a batch as alone.
    for message in messages:
        row = OutboxMessage.objects.get(pk=message.pk)
        assert (row.status, row.last_error) == (OutboxStatus.RETRYING, "bad_receipt")


def test_a_batch_travels_through_the_real_endpoint(node_keys, note_type, clock):
    """This node as its own peer, over the Django test client: the batch
    endpoint applies what the worker sends and the worker verifies each
    receipt, then a re-delivery gets the original ones."""
    Peer.objects.create(
        node_id="test-node",
        base_url="http://loopback.invalid",
        keys=nodekeys.public_keys(),
        fingerprint=nodekeys.fingerprint(),
    )
    django_client = Client()
    paths = []

    def handle(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        response = django_client.post(
            request.url.path,
            data=request.content,
            content_type=request.headers["content-type"],
        )
        return httpx.Response(response.status_code, content=response.content)

    client = httpx.Client(transport=httpx.MockTransport(handle))
    with transaction.atomic():
        messages = [
            services.enqueue(
                to_node="test-node",
                type="test.note",
                payload={"text": f"note {i}"},
                legal_basis="pseudonymous",
                categories=["risk"],
            )
            for i in range(3)
        ]

    assert delivery.deliver_due(now=clock.now, client=client)["sent"] == 3
    assert paths == ["/exchange/v1/batch"]
    assert sorted(c.payload.text for c in note_type.calls) == [
        "note 0",
        "note 1",
        "note 2",
    ]
    receipts = {m.msg_id: OutboxMessage.objects.get(pk=m.pk).receipt for m in messages}

    OutboxMessage.objects.update(status=OutboxStatus.PENDING, next_attempt_at=clock.now)
    assert delivery.deliver_due(now=clock.advance(1), client=client)["sent"] == 3
    assert len(note_type.calls) == 3
    for message in messages:
        assert (
            OutboxMessage.objects.get(pk=message.pk).receipt == receipts[message.msg_id]
        )
