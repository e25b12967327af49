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
