"""Delivery (EXCHANGE.md §1.3, §1.5, §1.6): the worker against a fake peer
served on 127.0.0.1, with explicit run times instead of sleeping."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import transaction

from trm.accounts.models import Role
from trm.accounts.tests.factories import OrganisationFactory, UserFactory
from trm.audit.models import AuditEntry
from trm.audit.services import keyed_digest
from trm.exchange import delivery, envelope, inbox, nodekeys, services
from trm.exchange.models import (
    InboxMessage,
    OutboxMessage,
    OutboxStatus,
    Peer,
    PeerStatus,
)
from trm.exchange.tests.conftest import SECRET_TEXT, PeerServer

pytestmark = pytest.mark.django_db


def enqueue(
    *, conversation: str = "", text: str = SECRET_TEXT, to: str = "test-peer"
) -> OutboxMessage:
    with transaction.atomic():
        return services.enqueue(
            to_node=to,
            type="test.note",
            payload={"text": text},
            legal_basis="pseudonymous",
            categories=["risk"],
            conversation=conversation,
        )


def reload(message: OutboxMessage) -> OutboxMessage:
    return OutboxMessage.objects.get(pk=message.pk)


@pytest.fixture
def ncp(db: Any) -> Any:
    org = OrganisationFactory(name="Fictional National Coordination")
    return UserFactory(
        username="ncp-a",
        email="ncp-a@example.invalid",
        organisation=org,
        roles=[Role.NATIONAL_CONTACT_POINT],
    )


def peer_keys(server: PeerServer) -> dict[str, dict[str, Any]]:
    return {server.peer.sig_jwk["kid"]: server.peer.sig_jwk}


# --- sent ---------------------------------------------------------------------------


def test_a_message_is_sent_with_a_verified_receipt(peer_server, note_type, clock):
    message = enqueue()

    counts = delivery.deliver_due(now=clock.now)

    assert counts == {"sent": 1, "retrying": 0, "rejected": 0, "dead": 0}
    sent = reload(message)
    assert sent.status == OutboxStatus.SENT
    assert sent.sent_at == clock.now
    claims = envelope.verify_receipt(sent.receipt, signer_keys=peer_keys(peer_server))
    assert claims == sent.receipt_claims
    assert claims["msg_id"] == str(message.msg_id)
    assert sent.envelope_digest == claims["digest"]
    assert peer_server.payloads == [{"text": SECRET_TEXT, "number": 0}]
    [received] = peer_server.order
    assert received["from"] == "test-node"
    assert received["to"] == "test-peer"
    assert received["type"] == "test.note"
    assert received["categories"] == ["risk"]
    assert AuditEntry.objects.filter(
        action="exchange.message_delivered", target_id=str(message.msg_id)
    ).exists()


def test_a_sent_message_is_not_sent_again(peer_server, note_type, clock):
    enqueue()
    delivery.deliver_due(now=clock.now)

    counts = delivery.deliver_due(now=clock.advance(3600))

    assert counts["sent"] == 0
    assert peer_server.posts == 1


# --- nothing lost ---------------------------------------------------------------------


def test_receiver_down_for_a_while_then_back_loses_nothing(
    peer_server, note_type, clock, settings
):
    settings.TRM_EXCHANGE_RETRY_BASE_SECONDS = 5
    message = enqueue()
    peer_server.stop()
    waits = []
    for attempt in (1, 2, 3, 4):
        assert delivery.deliver_due(now=clock.now)["retrying"] == 1
        row = reload(message)
        assert (row.status, row.attempts, row.last_error) == (
            OutboxStatus.RETRYING,
            attempt,
            "connect_error",
        )
        wait = (row.next_attempt_at - clock.now).total_seconds()
        # Capped exponential backoff with jitter: base·2^(n-1) · [0.5, 1].
        assert 5 * 2 ** (attempt - 1) * 0.5 <= wait <= 5 * 2 ** (attempt - 1)
        waits.append(wait)
        # Not due before its time.
        assert delivery.deliver_due(now=clock.advance(wait - 0.1))["retrying"] == 0
        clock.advance(0.1)

    peer_server.start()
    counts = delivery.deliver_due(now=clock.now)

    assert counts["sent"] == 1
    row = reload(message)
    assert row.status == OutboxStatus.SENT
    assert row.last_error == ""
    envelope.verify_receipt(row.receipt, signer_keys=peer_keys(peer_server))
    assert list(peer_server.applied) == [str(message.msg_id)]
    assert sum(waits) > 5 * (1 + 2 + 4 + 8) * 0.5 - 1


def test_backoff_is_capped(settings):
    settings.TRM_EXCHANGE_RETRY_BASE_SECONDS = 5
    settings.TRM_EXCHANGE_RETRY_CAP_SECONDS = 60

    assert all(30 <= delivery.backoff_seconds(12) <= 60 for _ in range(20))


class WorkerKilled(BaseException):
    """Stands for the worker process dying (not an error it could handle)."""


def test_worker_killed_between_send_and_marking_sent_has_no_duplicate_effect(
    peer_server, note_type, clock, settings, monkeypatch
):
    message = enqueue()

    def die(*args: Any, **kwargs: Any) -> None:
        raise WorkerKilled

    monkeypatch.setattr(delivery, "_mark_sent", die)
    with pytest.raises(WorkerKilled):
        delivery.deliver_due(now=clock.now)
    monkeypatch.undo()
    assert str(message.msg_id) in peer_server.applied
    row = reload(message)
    # Counted as attempted: the peer may have it (consent withdrawal reads this).
    assert (row.status, row.attempts) == (OutboxStatus.PENDING, 1)
    # Another worker does not take it while the dead one's lease lasts …
    assert delivery.deliver_due(now=clock.advance(30))["sent"] == 0

    # … and afterwards re-delivers it: the peer answers with its original receipt.
    counts = delivery.deliver_due(
        now=clock.advance(settings.TRM_EXCHANGE_LEASE_SECONDS)
    )

    assert counts["sent"] == 1
    assert peer_server.posts == 2
    assert len(peer_server.applied) == 1
    row = reload(message)
    assert row.status == OutboxStatus.SENT
    assert row.receipt == peer_server.applied[str(message.msg_id)]


def test_a_message_cancelled_in_flight_is_recorded_as_delivered_and_its_peer_counted(
    peer_server, note_type, clock, monkeypatch
):
    message = enqueue()
    record = delivery._mark_sent
    cancelled: list[OutboxMessage] = []

    def withdrawn_meanwhile(delivered: Any) -> None:
        # A consent withdrawal commits between the POST and the receipt's
        # recording: the message is still unsent in the outbox, so it is
        # cancelled, but the peer already has it.
        with transaction.atomic():
            cancelled.extend(
                services.cancel_pending_for_basis(legal_basis="pseudonymous")
            )
        record(delivered)

    monkeypatch.setattr(delivery, "_mark_sent", withdrawn_meanwhile)

    assert delivery.deliver_due(now=clock.now)["sent"] == 1

    assert [m.msg_id for m in cancelled] == [message.msg_id]
    row = reload(message)
    assert row.status == OutboxStatus.SENT
    assert row.receipt == peer_server.applied[str(message.msg_id)]
    actions = list(
        AuditEntry.objects.filter(target_id=str(message.msg_id))
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions[-2:] == ["exchange.message_cancelled", "exchange.message_delivered"]
    assert delivered_entry_says(message, cancelled_in_flight=True)
    # The withdrawal's notice goes to the peer that has it.
    assert [p.node_id for p in services.recipients_of_basis("pseudonymous")] == [
        "test-peer"
    ]


def delivered_entry_says(message: OutboxMessage, **more: Any) -> bool:
    """Whether the message's ``exchange.message_delivered`` entry was written
    with exactly this data (the log keeps a keyed digest of it)."""
    row = reload(message)
    data = {
        "type": row.type,
        "to": "test-peer",
        "digest": row.receipt_claims["digest"],
        "receipt_digest": nodekeys.sha256_hex(row.receipt.encode()),
        **more,
    }
    entry = AuditEntry.objects.get(
        action="exchange.message_delivered", target_id=str(message.msg_id)
    )
    return entry.data_digest == keyed_digest(data)


def test_a_message_delivered_normally_is_not_flagged(peer_server, note_type, clock):
    message = enqueue()

    delivery.deliver_due(now=clock.now)

    assert delivered_entry_says(message)
    assert not delivered_entry_says(message, cancelled_in_flight=True)


# --- dead, rejected, told -------------------------------------------------------------


def test_dead_after_max_attempts_and_the_ncps_are_told_without_personal_data(
    peer_server, note_type, clock, settings, ncp
):
    settings.TRM_EXCHANGE_MAX_ATTEMPTS = 3
    peer_server.mode = "503"
    first, second = enqueue(), enqueue(text="Fictional second note")
    outcomes = []
    for _ in range(3):
        outcomes.append(delivery.deliver_due(now=clock.now))
        clock.advance(settings.TRM_EXCHANGE_RETRY_CAP_SECONDS)

    assert [o["retrying"] for o in outcomes] == [2, 2, 0]
    assert outcomes[-1]["dead"] == 2
    for message in (first, second):
        row = reload(message)
        assert (row.status, row.attempts, row.last_error) == (
            OutboxStatus.DEAD,
            3,
            "http_503",
        )
    [email] = mail.outbox
    assert email.to == ["ncp-a@example.invalid"]
    assert str(first.msg_id) in email.body and str(second.msg_id) in email.body
    assert "test.note" in email.body and "test-peer" in email.body
    assert "http_503" in email.body
    assert SECRET_TEXT not in f"{email.subject}\n{email.body}"
    assert "Fictional second note" not in email.body
    assert AuditEntry.objects.filter(action="exchange.message_dead").count() == 2
    assert AuditEntry.objects.filter(action="exchange.failures_notified").exists()
    # Dead is terminal: nothing more is sent.
    assert delivery.deliver_due(now=clock.advance(10**6)) == {
        "sent": 0,
        "retrying": 0,
        "rejected": 0,
        "dead": 0,
    }


def test_a_signed_rejection_is_terminal_and_the_ncps_are_told(
    peer_server, note_type, clock, ncp
):
    peer_server.mode = "reject"
    message = enqueue()

    counts = delivery.deliver_due(now=clock.now)

    assert counts["rejected"] == 1
    row = reload(message)
    assert (row.status, row.last_error) == (OutboxStatus.REJECTED, "schema_invalid")
    assert row.receipt_claims["status"] == "rejected"
    [email] = mail.outbox
    assert str(message.msg_id) in email.body and "schema_invalid" in email.body
    assert SECRET_TEXT not in email.body
    peer_server.mode = "ok"
    assert delivery.deliver_due(now=clock.advance(10**6))["sent"] == 0


def test_node_users_and_inactive_people_are_not_emailed(
    peer_server, note_type, clock, ncp
):
    UserFactory(
        username="ncp-gone",
        email="gone@example.invalid",
        is_active=False,
        roles=[Role.NATIONAL_CONTACT_POINT],
    )
    UserFactory(
        username="node.other.abc.national_contact_point",
        email="node@example.invalid",
        roles=[Role.NATIONAL_CONTACT_POINT],
    )
    UserFactory(username="cm", email="cm@example.invalid", roles=[Role.CASE_MANAGER])
    peer_server.mode = "reject"
    enqueue()

    delivery.deliver_due(now=clock.now)

    assert [m.to for m in mail.outbox] == [["ncp-a@example.invalid"]]


@pytest.mark.parametrize("mode", ["forged", "wrong_msg", "wrong_digest"])
def test_an_answer_that_does_not_verify_is_not_a_delivery(
    peer_server, note_type, clock, mode
):
    peer_server.mode = mode
    message = enqueue()

    counts = delivery.deliver_due(now=clock.now)

    assert counts["retrying"] == 1
    row = reload(message)
    assert (row.status, row.last_error, row.receipt) == (
        OutboxStatus.RETRYING,
        "bad_receipt",
        "",
    )


def test_retry_later_waits_briefly_without_spending_an_attempt(
    peer_server, note_type, clock, settings
):
    settings.TRM_EXCHANGE_RETRY_BASE_SECONDS = 7
    peer_server.mode = "409"
    message = enqueue(conversation="CASE-1")

    delivery.deliver_due(now=clock.now)

    row = reload(message)
    assert (row.status, row.attempts, row.last_error) == (
        OutboxStatus.RETRYING,
        0,
        "retry_later",
    )
    assert row.next_attempt_at == clock.now + timedelta(seconds=7)


def test_retry_later_behind_a_message_that_will_never_come_is_dead(
    peer_server, note_type, clock
):
    first = enqueue(conversation="CASE-1")
    second = enqueue(conversation="CASE-1")
    OutboxMessage.objects.filter(pk=first.pk).update(status=OutboxStatus.CANCELLED)
    peer_server.mode = "409"

    counts = delivery.deliver_due(now=clock.now)

    assert counts["dead"] == 1
    row = reload(second)
    assert (row.status, row.last_error) == (OutboxStatus.DEAD, "order_gap")


# --- order and claiming ---------------------------------------------------------------


def test_a_later_message_of_a_conversation_waits_for_the_earlier_one(
    peer_server, note_type, clock
):
    first = enqueue(conversation="CASE-1", text="one")
    second = enqueue(conversation="CASE-1", text="two")
    other = enqueue(conversation="CASE-2", text="other")
    assert (first.seq, second.seq, other.seq) == (1, 1 + 1, 1)
    peer_server.stop()

    delivery.deliver_due(now=clock.now)

    assert reload(first).attempts == 1
    assert reload(other).attempts == 1
    assert reload(second).attempts == 0
    assert reload(second).status == OutboxStatus.PENDING

    peer_server.start()
    counts = delivery.deliver_due(now=clock.advance(3600))

    assert counts["sent"] == 3
    case_1 = [
        (c["seq"], p["text"])
        for c, p in zip(peer_server.order, peer_server.payloads, strict=True)
        if c["conversation"] == "CASE-1"
    ]
    assert case_1 == [(1, "one"), (2, "two")]


def test_only_heads_of_conversations_are_candidates(peer, note_type, clock):
    first = enqueue(conversation="CASE-1")
    enqueue(conversation="CASE-1")
    loose = enqueue()

    seen = {msg_id for msg_id, _at in delivery.candidates(now=clock.now, limit=10)}

    assert seen == {first.msg_id, loose.msg_id}


def test_two_claimers_never_claim_the_same_message(peer, note_type, clock):
    messages = [enqueue() for _ in range(3)]
    with transaction.atomic():
        seen = delivery.candidates(now=clock.now, limit=10)
    assert len(seen) == 3

    # Both saw the same rows; the compare-and-set gives each to one of them.
    mine = delivery.claim(seen, now=clock.now)
    theirs = delivery.claim(seen, now=clock.now)

    assert set(mine) == {m.msg_id for m in messages}
    assert theirs == []


def test_a_claimed_message_is_not_due_for_another_worker(peer, note_type, clock):
    enqueue()
    enqueue()

    first = delivery.claim_due(now=clock.now, limit=10)
    second = delivery.claim_due(now=clock.now, limit=10)

    assert len(first) == 2
    assert second == []
    assert not {m.msg_id for m in first} & {m.msg_id for m in second}


def test_a_disabled_peers_messages_wait(peer_server, note_type, clock):
    message = enqueue()
    Peer.objects.filter(node_id="test-peer").update(status=PeerStatus.DISABLED)

    counts = delivery.deliver_due(now=clock.now)

    assert sum(counts.values()) == 0
    assert peer_server.posts == 0
    row = reload(message)
    assert (row.status, row.attempts) == (OutboxStatus.PENDING, 0)


def test_nothing_is_attempted_without_node_keys(peer_server, note_type, clock):
    message = enqueue()
    from trm.exchange.models import ExchangeKey

    ExchangeKey.objects.all().delete()
    nodekeys.forget_cached_keys()

    assert sum(delivery.deliver_due(now=clock.now).values()) == 0
    assert reload(message).attempts == 0


def test_a_peer_without_an_encryption_key_is_a_failed_attempt(
    peer_server, note_type, clock
):
    message = enqueue()
    peer = Peer.objects.get(node_id="test-peer")
    peer.keys = [k for k in peer.keys if k["use"] == "sig"]
    peer.save(update_fields=["keys"])

    delivery.deliver_due(now=clock.now)

    assert reload(message).last_error == "no_peer_key"
    assert peer_server.posts == 0


# --- the wire contract with this node's own inbox -------------------------------------


def test_delivery_and_the_inbox_agree_on_the_wire(node_keys, note_type, clock):
    """This node as its own peer: what the worker sends, the inbox accepts, and
    what the inbox answers, the worker verifies (including a re-delivery)."""
    Peer.objects.create(
        node_id="test-node",
        base_url="http://loopback.invalid",
        keys=nodekeys.public_keys(),
        fingerprint=nodekeys.fingerprint(),
    )
    answers = []

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/exchange/v1/messages"
        answer = inbox.receive(request.content)
        answers.append(answer.status_code)
        return httpx.Response(answer.status_code, json=answer.json_body)

    client = httpx.Client(transport=httpx.MockTransport(handle))
    first = enqueue(to="test-node", conversation="CASE-9", text="one")
    second = enqueue(to="test-node", conversation="CASE-9", text="two")
    # Even when the later one looks older, it is not sent before the earlier one.
    OutboxMessage.objects.filter(pk=second.pk).update(
        created_at=first.created_at - timedelta(minutes=1)
    )
    counts = delivery.deliver_due(now=clock.now, client=client)

    assert counts["sent"] == 2
    assert [c.payload.text for c in note_type.calls] == ["one", "two"]
    assert answers == [202, 202]
    assert InboxMessage.objects.count() == 2
    for message in (first, second):
        row = reload(message)
        inbound = InboxMessage.objects.get(msg_id=message.msg_id)
        assert row.envelope_digest == inbound.envelope_digest
        assert row.receipt == inbound.receipt

    # A re-delivery (the worker lost the first answer) gets the original receipt.
    OutboxMessage.objects.filter(pk=first.pk).update(
        status=OutboxStatus.PENDING, next_attempt_at=clock.now
    )
    delivery.deliver_due(now=clock.advance(1), client=client)
    assert answers[-1] == 200
    assert reload(first).status == OutboxStatus.SENT
    assert len(note_type.calls) == 2


# --- the worker -----------------------------------------------------------------------


def test_worker_once_runs_the_jobs_and_delivers(peer_server, note_type):
    message = enqueue()
    out = io.StringIO()

    call_command("worker", "--once", stdout=out)

    assert reload(message).status == OutboxStatus.SENT
    assert "exchange: sent: 1" in out.getvalue()


def test_worker_refuses_a_too_short_exchange_interval():
    with pytest.raises(CommandError, match=r"exchange.interval"):
        call_command("worker", "--once", "--exchange-interval", "0.1")


def test_a_failed_delivery_run_does_not_stop_the_worker(monkeypatch, caplog):
    from trm.sop.management.commands.worker import Command

    def broken(**kwargs: Any) -> dict[str, int]:
        raise RuntimeError("fictional failure with " + SECRET_TEXT)

    monkeypatch.setattr(delivery, "deliver_due", broken)
    err = io.StringIO()
    command = Command(stderr=err)

    command._run_exchange(once=False)

    assert "RuntimeError" in err.getvalue()
    assert SECRET_TEXT not in err.getvalue() + caplog.text
    with pytest.raises(RuntimeError):
        command._run_exchange(once=True)


def test_the_enqueued_payload_reaches_the_peer_under_a_fresh_message_id(
    peer_server, note_type, clock
):
    a, b = enqueue(), enqueue()

    delivery.deliver_due(now=clock.now)

    assert set(peer_server.applied) == {str(a.msg_id), str(b.msg_id)}
    assert uuid.UUID(next(iter(peer_server.applied)))


# --- a rejection must be about the body sent ----------------------------------------


def test_a_rejection_of_another_body_is_not_final(peer_server, note_type, clock, ncp):
    """A proxy could replay the peer's signed rejection of a body it altered
    (``undecryptable``, over that body's digest): not a rejection of this one."""
    peer_server.mode = "reject_other_body"
    message = enqueue()

    counts = delivery.deliver_due(now=clock.now)

    assert counts["retrying"] == 1 and counts["rejected"] == 0
    row = reload(message)
    assert (row.status, row.last_error, row.receipt) == (
        OutboxStatus.RETRYING,
        "bad_receipt",
        "",
    )
    assert mail.outbox == []


def test_a_handlers_refusal_of_this_body_is_final(peer_server, note_type, clock):
    peer_server.mode = "refused"
    message = enqueue()

    delivery.deliver_due(now=clock.now)

    row = reload(message)
    assert (row.status, row.last_error) == (
        OutboxStatus.REJECTED,
        "refused:test.refused",
    )


def test_a_refusal_answering_a_redelivery_is_final_when_nothing_was_stored(
    peer_server, note_type, clock
):
    """The worker died before recording the peer's refusal: the re-delivery
    gets the original refusal, over the body first sent."""
    peer_server.mode = "refused"
    peer_server.refused_digest = "1" * 64
    message = enqueue()

    delivery.deliver_due(now=clock.now)

    assert reload(message).status == OutboxStatus.REJECTED


def test_a_refusal_over_a_body_other_than_the_stored_one_is_not_final(
    peer_server, note_type, clock
):
    """A message an operator sent again after a refusal: the refusal of
    another body than the one the peer first answered about does not count."""
    peer_server.mode = "refused"
    peer_server.refused_digest = "1" * 64
    message = enqueue()
    OutboxMessage.objects.filter(pk=message.pk).update(envelope_digest="2" * 64)

    delivery.deliver_due(now=clock.now)

    row = reload(message)
    assert (row.status, row.last_error) == (OutboxStatus.RETRYING, "bad_receipt")
    # Over the stored one, it is.
    OutboxMessage.objects.filter(pk=message.pk).update(
        envelope_digest="1" * 64, next_attempt_at=clock.now
    )
    delivery.deliver_due(now=clock.advance(1))
    assert reload(message).status == OutboxStatus.REJECTED


def test_a_too_large_rejection_without_a_digest_is_retried(
    peer_server, note_type, clock
):
    peer_server.mode = "too_large"
    message = enqueue()

    counts = delivery.deliver_due(now=clock.now)

    assert counts["retrying"] == 1
    row = reload(message)
    assert (row.status, row.last_error) == (OutboxStatus.RETRYING, "too_large")


def test_a_retry_later_over_another_body_is_not_believed(peer_server, note_type, clock):
    peer_server.mode = "409"
    peer_server.answer_digest = "3" * 64
    message = enqueue(conversation="CASE-1")

    delivery.deliver_due(now=clock.now)

    row = reload(message)
    assert (row.last_error, row.attempts) == ("bad_receipt", 1)
