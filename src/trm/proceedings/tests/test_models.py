"""The sub-tracks' state machines, on unsaved rows (no database)."""

from __future__ import annotations

import pytest

from trm.proceedings.models import (
    CompensationClaim,
    CompensationStatus,
    NonPunishment,
    NonPunishmentStatus,
    ProtectionMeasure,
    ProtectionStatus,
)

P, C, N = ProtectionStatus, CompensationStatus, NonPunishmentStatus


@pytest.mark.parametrize(
    ("start", "target", "allowed"),
    [
        (P.RISK_ASSESSED, P.ORDERED, True),
        (P.RISK_ASSESSED, P.LIFTED, False),
        (P.ORDERED, P.LIFTED, True),
        (P.LIFTED, P.ORDERED, False),
    ],
)
def test_protection_measure_moves(start, target, allowed):
    assert ProtectionMeasure(status=start).can_transition_to(target) is allowed


@pytest.mark.parametrize(
    ("start", "target", "allowed"),
    [
        (C.FILED, C.AWARDED, True),
        (C.FILED, C.REJECTED, True),
        (C.FILED, C.PAID, False),
        (C.AWARDED, C.PAID, True),
        (C.AWARDED, C.UNPAID, True),
        (C.UNPAID, C.PAID, True),
        (C.REJECTED, C.AWARDED, False),
        (C.PAID, C.UNPAID, False),
    ],
)
def test_compensation_claim_moves(start, target, allowed):
    assert CompensationClaim(status=start).can_transition_to(target) is allowed


@pytest.mark.parametrize(
    ("start", "target", "allowed"),
    [
        (N.FLAGGED, N.ASSESSMENT_REQUESTED, True),
        (N.FLAGGED, N.NOT_PROSECUTED, False),
        (N.ASSESSMENT_REQUESTED, N.NOT_PROSECUTED, True),
        (N.ASSESSMENT_REQUESTED, N.PENALTY_NOT_APPLIED, True),
        (N.ASSESSMENT_REQUESTED, N.PROSECUTED, True),
        (N.PROSECUTED, N.NOT_PROSECUTED, False),
    ],
)
def test_non_punishment_moves(start, target, allowed):
    assert NonPunishment(status=start).can_transition_to(target) is allowed


def test_final_states_have_no_move():
    assert ProtectionMeasure(status=P.LIFTED).is_final
    assert CompensationClaim(status=C.REJECTED).is_final
    assert not CompensationClaim(status=C.UNPAID).is_final
    assert NonPunishment(status=N.PENALTY_NOT_APPLIED).is_final
