"""The state machine as data, tested without a database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from trm.referrals.models import (
    FINAL,
    MOVES,
    SHARED_READABLE,
    CancelReason,
    Referral,
    Side,
    Status,
)
from trm.sop.vocabulary import EVENTS


def _referral(status: str) -> Referral:
    return Referral(status=status)


def test_every_move_writes_a_known_event_kind():
    assert all(move.kind in EVENTS for move in MOVES.values())


def test_the_documented_state_machine():
    allowed = {s: sorted(Referral.TRANSITIONS[s]) for s in Status.values}
    assert allowed == {
        "draft": ["cancelled", "not_possible", "sent"],
        "sent": ["accepted", "cancelled", "declined", "revoked"],
        "accepted": ["cancelled", "in_progress", "revoked"],
        "declined": ["not_possible"],
        "in_progress": ["cancelled", "completed", "revoked"],
        "completed": [],
        "cancelled": [],
        "revoked": [],
        "not_possible": [],
    }


@pytest.mark.parametrize(
    ("verb", "side"),
    [
        ("send", Side.REFERRER),
        ("cancel", Side.REFERRER),
        ("not_possible", Side.REFERRER),
        ("accept", Side.RECEIVER),
        ("decline", Side.RECEIVER),
        ("start", Side.RECEIVER),
        ("complete", Side.RECEIVER),
        ("revoke", Side.SYSTEM),
    ],
)
def test_who_makes_each_move(verb, side):
    assert MOVES[verb].side == side


def test_can_reads_only_the_referrals_state():
    assert _referral(Status.DRAFT).can("send")
    assert not _referral(Status.SENT).can("send")
    assert _referral(Status.SENT).can("accept")
    assert not _referral(Status.DRAFT).can("accept")
    assert _referral(Status.DECLINED).can("not_possible")
    assert not _referral(Status.COMPLETED).can("cancel")
    assert not _referral(Status.DRAFT).can("no_such_verb")


def test_can_transition_to_follows_the_table():
    assert _referral(Status.ACCEPTED).can_transition_to(Status.IN_PROGRESS)
    assert not _referral(Status.ACCEPTED).can_transition_to(Status.COMPLETED)


def test_only_a_sent_referral_past_its_reply_time_is_overdue():
    now = timezone.now()
    referral = _referral(Status.SENT)
    referral.reply_by = now - timedelta(minutes=1)
    assert referral.is_overdue(now)
    referral.reply_by = now + timedelta(hours=1)
    assert not referral.is_overdue(now)
    accepted = _referral(Status.ACCEPTED)
    accepted.reply_by = now - timedelta(days=1)
    assert not accepted.is_overdue(now)


def test_the_receiver_reads_content_only_while_the_referral_is_open():
    readable = {s for s in Status.values if _referral(s).shared_readable()}
    assert readable == {"sent", "accepted", "in_progress"}


def test_the_referrer_may_cancel_every_open_referral_even_in_progress():
    cancellable = {s for s in Status.values if _referral(s).can("cancel")}
    assert cancellable == {"draft", "sent", "accepted", "in_progress"}


def test_no_ended_referral_is_readable_by_the_receiver():
    assert not SHARED_READABLE & FINAL
    assert not _referral(Status.CANCELLED).shared_readable()


def test_assistance_ended_is_a_cancel_reason_with_its_label():
    referral = _referral(Status.CANCELLED)
    referral.outcome_code = CancelReason.ASSISTANCE_ENDED
    assert referral.outcome_code == "assistance_ended"
    assert referral.outcome_label() == (
        "Assistance ended: the person declined or assistance was closed"
    )


def test_reference_is_the_first_part_of_the_id():
    referral = Referral()
    assert referral.reference == str(referral.id).split("-")[0].upper()
    assert len(referral.reference) == 8
