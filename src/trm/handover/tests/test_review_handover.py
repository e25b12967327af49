"""Review tests (issue 7, SOP 4 return across nodes): handover edge cases.
All data is synthetic and fictional."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from trm.cases.tests.exchange_fakes import apply, inbound
from trm.common.errors import DomainError
from trm.consent.messages import WITHDRAWN
from trm.handover.models import HandoverStatus, ReturnHandover, Side
from trm.handover.schemas import RETURN_HANDOVER, RETURN_HANDOVER_ARRIVAL

from .helpers import (
    DESTINATION_PEER,
    REMOTE_REF,
    handover_payload,
    journey,
    origin_case,
    sender_org,
)

pytestmark = pytest.mark.django_db


def test_review_withdrawn_consent_erases_the_handover_texts_received_under_it(org_a):
    """Origin node: the arrival point and itinerary came under consent:<X>;
    when the person withdraws X at the destination, consent.withdrawn must
    erase them here (as return.plan texts, family reports and follow-up
    reports are). trm.handover registers no restriction hook: they stay."""
    origin_case(org_a)
    consent_ref = uuid.uuid4()
    payload = handover_payload(
        arrival_point="Fictiv bus station, gate 3", itinerary="Fictional coach 12"
    )
    apply(
        inbound(
            RETURN_HANDOVER,
            payload,
            sender=DESTINATION_PEER,
            conversation=REMOTE_REF,
            seq=2,
            legal_basis=f"consent:{consent_ref}",
            categories=("case_summary",),
        )
    )
    row = ReturnHandover.objects.get(
        handover_ref=payload["handover_ref"], side=Side.ORIGIN
    )
    assert row.sealed_text is not None
    apply(
        inbound(
            WITHDRAWN,
            {
                "consent_ref": str(consent_ref),
                "trm_case_ref": REMOTE_REF,
                "categories": ["case_summary"],
                "effective_at": timezone.now().isoformat(),
                "erase_requested": False,
            },
            sender=DESTINATION_PEER,
            conversation=REMOTE_REF,
            seq=3,
            legal_basis=f"legal_obligation:GDPR Art. 19 consent:{consent_ref}",
        )
    )
    row.refresh_from_db()
    assert row.sealed_text is None, "handover texts kept after consent.withdrawn"


def _arrival(case, row, **overrides):
    body = {
        "trm_case_ref": case.trm_case_ref,
        "handover_ref": str(row.handover_ref),
        "arrived": True,
        "at": timezone.now().isoformat(),
        "sending_organisation": sender_org("RO"),
    }
    body.update(overrides)
    return inbound(
        RETURN_HANDOVER_ARRIVAL,
        body,
        sender="peer-ro",
        conversation=case.trm_case_ref,
        seq=5,
    )


@pytest.mark.parametrize(
    "at",
    [
        pytest.param(lambda row: timezone.now() + timedelta(days=30), id="future"),
        pytest.param(
            lambda row: row.departure_at - timedelta(days=3), id="before-departure"
        ),
    ],
)
def test_review_an_impossible_arrival_time_is_refused(caseworker_a, at):
    """Destination: the origin's arrival time is taken as is (the origin's
    own service refuses a future time; a forged or buggy peer is not)."""
    case, _ncp, row = journey(caseworker_a)
    with pytest.raises(DomainError):
        apply(_arrival(case, row, at=at(row).isoformat()))
    row.refresh_from_db()
    case.refresh_from_db()
    assert row.status == HandoverStatus.ANNOUNCED
    assert case.assistance == "in_transit"


def test_review_the_legal_track_does_not_see_the_handover_on_the_timeline(
    caseworker_a,
):
    """The handover is assistance ("not for the legal track", docs/handover.md;
    the journey's own track move and every trm.returns event are
    assistance-only), yet handover.* events are written with visibility TEAM:
    a prosecutor on the team reads on the timeline that the person was
    returned, when, and whether they arrived."""
    from trm.accounts.models import Role
    from trm.cases.selectors import case_timeline_for_user
    from trm.cases.tests.factories import team_member

    case, _ncp, _row = journey(caseworker_a)
    prosecutor = team_member(case, Role.PROSECUTOR)
    kinds = {
        view.event.kind for view in case_timeline_for_user(user=prosecutor, case=case)
    }
    assert not {k for k in kinds if k.startswith("handover.")}, kinds


def test_review_a_peer_announcing_arrival_in_year_9999_does_not_break_the_case(
    org_a,
):
    """Origin: return.handover's times are only typed as datetimes. An
    expected arrival of 9999-12-31T23:00Z is recorded, and then every read of
    the handover (page, API) raises OverflowError (alert_due_at = expected +
    alert hours): a 500 for the whole handover section. The destination's own
    journey form accepts the same value. Refuse implausible times (e.g. more
    than a year ahead / before 1990) at both entry points."""
    from trm.accounts.models import Role
    from trm.accounts.tests.factories import UserFactory
    from trm.handover import selectors

    case = origin_case(org_a)
    payload = handover_payload(expected_arrival_at="9999-12-31T23:00:00+00:00")
    try:
        apply(
            inbound(
                RETURN_HANDOVER,
                payload,
                sender=DESTINATION_PEER,
                conversation=REMOTE_REF,
                seq=2,
            )
        )
    except DomainError:
        return  # refused: fine
    ncp = UserFactory(organisation=org_a, roles=[Role.NATIONAL_CONTACT_POINT])
    selectors.handovers_for_user(user=ncp, case=case)


def test_review_the_origin_refuses_an_arrival_before_the_departure(org_a):
    """Origin: the API accepted ``at`` = 0001-01-01 (only the future was
    refused) and sent it on."""
    from trm.handover import services
    from trm.handover.tests.helpers import announce, origin_worker

    case = origin_case(org_a)
    row = announce()
    worker = origin_worker(case)
    with pytest.raises(DomainError) as caught:
        services.return_arrival_confirm(
            actor=worker,
            case_id=case.pk,
            handover_id=row.pk,
            arrived=True,
            at=row.departure_at - timedelta(days=2),
        )
    assert caught.value.details["reason"] == "before_departure"
    row.refresh_from_db()
    assert row.status == HandoverStatus.ANNOUNCED


@pytest.mark.parametrize(
    "times",
    [
        {"expected_arrival_at": "9999-12-31T23:00:00+00:00"},
        {
            "expected_arrival_at": "2999-01-01T10:00:00+00:00",
            "departure_at": "0001-01-01T00:00:00+00:00",
        },
    ],
)
def test_review_the_journey_refuses_implausible_times(caseworker_a, times):
    """Destination: year 9999 was accepted and then the case page and the
    handover page answered 500 (OverflowError); year 1 was accepted too."""
    from datetime import datetime

    from trm.returns import services as returns
    from trm.returns.tests.helpers import ready_case

    case, ncp = ready_case(caseworker_a)
    values: dict[str, Any] = {k: datetime.fromisoformat(v) for k, v in times.items()}
    with pytest.raises(DomainError) as caught:
        returns.return_in_transit(actor=ncp, case_id=case.pk, **values)
    assert caught.value.details["reason"] == "implausible"
    case.refresh_from_db()
    assert case.assistance == "return_preparation"


def test_review_a_case_in_transit_is_not_closed_mid_journey(caseworker_a):
    """Destination: case_close sets assistance to closed whatever the track
    graph says (in_transit has no move to closed). Closed mid-journey, the
    origin's arrival confirmation is then refused and the missed-handover
    job still raises an alert for the closed case. Either refuse closing in
    transit (require the arrival answer first) or close the handover too."""
    from trm.cases.services import case_close

    case, ncp, _row = journey(caseworker_a)
    with pytest.raises(DomainError):
        case_close(actor=ncp, case_id=case.pk, reason="goals_met")
    case.refresh_from_db()
    assert case.assistance == "in_transit"


def test_review_a_handover_about_our_own_outgoing_case_is_refused(caseworker_a):
    """return.handover is destination → origin, but its handler only checks
    reference and party. A case of this node alerted to peer-ro (this node
    is the destination / country of identification) accepts a handover from
    peer-ro: an origin row appears, the page offers "Confirm the arrival",
    and confirming it moves this node's assistance (long_term) to
    reintegration — no return guard ran. Require the case to have been opened
    from the sender's alert (cases.messages.opened_from) for the
    destination → origin types (return.handover, return.plan,
    risk.assessment.joint side destination, family.*.request)."""
    from trm.cases.tests.factories import set_states
    from trm.returns.tests.helpers import preparing_case

    case, _ncp = preparing_case(caseworker_a)
    set_states(case, assistance="long_term")
    with pytest.raises(DomainError):
        apply(
            inbound(
                RETURN_HANDOVER,
                handover_payload(trm_case_ref=case.trm_case_ref),
                sender="peer-ro",
                conversation=case.trm_case_ref,
                seq=3,
            )
        )
    assert not ReturnHandover.objects.filter(case=case).exists()


def test_a_too_long_itinerary_is_refused_not_cut(caseworker_a):
    """The journey refuses an itinerary longer than the message allows,
    naming the field, instead of sending a silently shortened one."""
    from trm.handover.schemas import MAX_ITINERARY_CHARS
    from trm.returns.services import return_in_transit
    from trm.returns.tests.helpers import arrival_in, ready_case

    case, ncp = ready_case(caseworker_a)
    with pytest.raises(DomainError) as refused:
        return_in_transit(
            actor=ncp,
            case_id=case.pk,
            expected_arrival_at=arrival_in(),
            itinerary="Fictional coach " + "x" * MAX_ITINERARY_CHARS,
        )
    assert refused.value.details.get("field") == "itinerary"
    case.refresh_from_db()
    assert case.assistance == "return_preparation"
    assert not ReturnHandover.objects.filter(case=case).exists()
