"""SOPS §4 indicators from case events and message envelopes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from trm.cases.models import Case, CaseEvent
from trm.cases.tests.factories import open_case
from trm.screening.models import Screening
from trm.statistics import indicators
from trm.statistics.tables import Period

pytestmark = pytest.mark.django_db
OPENED = datetime(2024, 3, 1, 9, tzinfo=UTC)


def case_opened(actor, at=OPENED, **fields):
    case = open_case(actor, **fields)
    Case.objects.filter(pk=case.pk).update(opened_at=at)
    case.refresh_from_db()
    return case


def moved(case, track, to_state, after):
    CaseEvent.objects.create(
        case=case,
        at=case.opened_at + after,
        kind="case.track_moved",
        track=track,
        to_state=to_state,
    )


def test_median_days_to_the_identification_decision(caseworker_a):
    a, b, c = (case_opened(caseworker_a) for _ in range(3))
    moved(a, "identification", "identified", timedelta(days=10))
    moved(b, "identification", "not_identified", timedelta(days=20))
    moved(b, "identification", "identified", timedelta(days=40))  # reopened later
    moved(c, "identification", "presumed", timedelta(days=1))

    result = indicators.days_to_decision(Period(2024, 2024))

    assert result.value == 15
    assert (result.numerator, result.denominator) == (2, 3)
    assert result.unit == "days"
    assert result.small  # 3 < the suppression threshold


def test_screened_share_and_the_period(caseworker_a):
    screened = case_opened(caseworker_a)
    case_opened(caseworker_a)
    case_opened(caseworker_a, at=OPENED.replace(year=2022))
    for _ in range(2):
        Screening.objects.create(
            case=screened,
            at=OPENED,
            instrument="test",
            instrument_version="1",
            result="continue_assessment",
            rule_result="insufficient_data",
        )

    result = indicators.screened_share(Period(2024, 2024))

    assert (result.numerator, result.denominator, result.value) == (1, 2, 0.5)


def test_guardian_appointed_within_the_variant_deadline(caseworker_a):
    on_time = case_opened(caseworker_a, may_be_child=True)
    late = case_opened(caseworker_a, may_be_child=True)
    case_opened(caseworker_a, may_be_child=True)  # never appointed
    case_opened(caseworker_a)  # an adult: not in the cohort
    moved(on_time, "child_protection", "guardian_appointed", timedelta(days=2))
    moved(late, "child_protection", "guardian_appointed", timedelta(days=5))

    result = indicators.guardian_share(Period())

    assert (result.numerator, result.denominator) == (1, 3)
    assert "3 days" in result.note  # baseline: guardian.appoint_within_days


@pytest.fixture
def node_keys(db):
    from trm.exchange import nodekeys

    nodekeys.forget_cached_keys()
    nodekeys.init_keys()
    yield
    nodekeys.forget_cached_keys()


def test_alerts_acknowledged_within_the_sla(node_keys):
    from trm.exchange.tests.remote_nodes import incoming, make_peer, outgoing

    peer = make_peer()
    sent = datetime(2025, 5, 1, 8, tzinfo=UTC)
    for conversation, hours in (("c-1", 10), ("c-2", 100), ("c-3", None)):
        outgoing(peer, type="case.alert", conversation=conversation, created_at=sent)
        if hours is not None:
            incoming(
                peer,
                type="case.alert.ack",
                conversation=conversation,
                received_at=sent + timedelta(hours=hours),
            )

    result = indicators.alerts_acknowledged(Period(2025, 2025))

    assert (result.numerator, result.denominator) == (1, 3)
    assert "55.0" in result.note  # median of 10 h and 100 h


def test_compute_and_protected_counts(caseworker_a):
    case_opened(caseworker_a)

    results = indicators.compute()

    assert [r.id for r in results] == list(indicators.COMPUTABLE)
    assert not set(indicators.COMPUTABLE) & set(indicators.NOT_COMPUTABLE)
    protected = results[1].protected()  # 0 screened, 1 not: suppressed
    assert protected.categories == ("yes", "no")
    assert protected.figures[1].value is None


def test_returns_with_a_joint_risk_assessment_before_departure(caseworker_a):
    from datetime import date

    from trm.returns.models import JointRiskAssessment

    def joint(case, assessed_on, origin_rated_on):
        JointRiskAssessment.objects.create(
            case=case,
            assessed_on=assessed_on,
            valid_until=assessed_on + timedelta(days=30),
            overall_level="medium",
            origin_rated_on=origin_rated_on,
            recorded_at=case.opened_at,
        )

    departs = OPENED + timedelta(days=20)  # 2024-03-21
    documented, late, one_sided, none = (case_opened(caseworker_a) for _ in range(4))
    stays = case_opened(caseworker_a)
    for case in (documented, late, one_sided, none):
        moved(case, "assistance", "in_transit", timedelta(days=20))
    joint(documented, date(2024, 3, 10), date(2024, 3, 12))
    joint(late, date(2024, 3, 10), date(2024, 3, 25))  # origin rated after leaving
    joint(one_sided, date(2024, 3, 10), None)  # the origin never rated
    joint(stays, date(2024, 3, 10), date(2024, 3, 12))  # no return: not counted
    assert departs.date() == date(2024, 3, 21)

    result = indicators.joint_risk_assessment_share(Period(2024, 2024))

    assert (result.numerator, result.denominator) == (1, 4)
    assert result.value == 0.25 and result.sop == 4
    assert indicators.joint_risk_assessment_share(Period(2025, 2025)).denominator == 0


def test_returned_persons_followed_up_on_time(caseworker_a):
    from datetime import date

    from django.utils import timezone

    from trm.reintegration.models import FollowUp, ReintegrationPlan

    today = timezone.localdate()

    def returned(*follow_ups):
        case = case_opened(caseworker_a)
        plan = ReintegrationPlan.objects.create(
            case=case, starts_on=date(2024, 4, 1), recorded_at=case.opened_at
        )
        for sequence, (due_on, reported_on) in enumerate(follow_ups, start=1):
            FollowUp.objects.create(
                case=case,
                plan=plan,
                sequence=sequence,
                months=sequence,
                due_on=due_on,
                reported_on=reported_on,
            )

    # On time: early, on the day; the one not due yet does not count.
    returned(
        (date(2024, 5, 1), date(2024, 4, 28)),
        (date(2024, 7, 1), date(2024, 7, 1)),
        (today + timedelta(days=30), None),
    )
    returned(
        (date(2024, 5, 1), date(2024, 5, 1)), (date(2024, 10, 1), date(2024, 10, 9))
    )
    returned((date(2025, 4, 1), None))  # overdue, never reported
    returned((today + timedelta(days=30), None))  # nothing due yet: not counted

    result = indicators.followed_up_share(Period(2024, 2024))

    assert (result.numerator, result.denominator) == (1, 3)
    assert result.unit == "share"
