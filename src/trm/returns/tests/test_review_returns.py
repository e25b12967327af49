"""Review tests (issue 7, SOP 4 return across nodes): late or replayed
answers. All data is synthetic and fictional."""

from __future__ import annotations

import contextlib
import uuid

import pytest
from django.utils import timezone

from trm.cases.tests.exchange_fakes import apply, make_peer, payload_of, reply_to
from trm.common.errors import DomainError
from trm.returns import services as returns
from trm.returns.models import ReturnPlan
from trm.returns.services import across

from .helpers import arrival_in, ready_case

pytestmark = pytest.mark.django_db


def _declined(sent, case):
    body = {
        "trm_case_ref": case.trm_case_ref,
        "plan_ref": payload_of(sent)["plan_ref"],
        "decision": "declined",
        "decline_reason": "no_capacity",
        "receiving_organisation": "Fictiv Reception Centre",
        "decided_on": timezone.localdate().isoformat(),
        "sending_organisation": {
            "id": str(uuid.uuid4()),
            "name": "Fictional NCP RO",
            "country": "RO",
        },
    }
    return reply_to(sent, "return.plan.response", body, seq=7)


def test_review_a_late_plan_response_cannot_rewrite_a_started_journey(caseworker_a):
    """Destination: once the person is in transit (the guard read "accepted"),
    a return.plan.response — late, replayed under a new msg_id, or forged by
    the origin — still rewrites the receiver decision to "declined" (no state
    check in plan_response_apply / apply_receiver_decision)."""
    make_peer("peer-ro", "RO")
    case, ncp = ready_case(caseworker_a)
    sent = across.return_plan_send(actor=ncp, case_id=case.pk)
    returns.return_in_transit(
        actor=ncp, case_id=case.pk, expected_arrival_at=arrival_in()
    )
    case.refresh_from_db()
    assert case.assistance == "in_transit"
    refused = False
    try:
        apply(_declined(sent, case))
    except DomainError:
        refused = True
    plan = ReturnPlan.objects.get(case=case)
    assert refused and plan.receiver_decision == "accepted", (
        f"receiver decision rewritten to {plan.receiver_decision} while in transit"
    )


def test_review_a_peer_cannot_push_a_destination_assessment_into_our_own_case(
    caseworker_a,
):
    """Destination: risk.assessment.joint side "destination" is meant for the
    origin node, but its handler only checks that the sender is party. The
    origin (party) sends one about the destination's own case: a second
    JointRiskAssessment (remote_ref set) becomes the newest, and the journey
    guard (gather: ``.filter(case=case).first()``, ordered -recorded_at) now
    reads the peer's row: a ready case is blocked (joint_risk_origin_missing)
    and joint_risk_share would send the peer's ratings back as ours."""
    from trm.cases.tests.exchange_fakes import inbound
    from trm.returns import wire
    from trm.returns.guards import gather, return_blockers
    from trm.returns.models import MATRIX_ITEMS

    make_peer("peer-ro", "RO")
    case, _ncp = ready_case(caseworker_a)
    assert return_blockers(case, gather(case), today=timezone.localdate()) == []
    today = timezone.localdate()
    body = {
        "trm_case_ref": case.trm_case_ref,
        "assessment_ref": str(uuid.uuid4()),
        "side": "destination",
        "assessed_on": today.isoformat(),
        "valid_until": today.isoformat(),
        "ratings": dict.fromkeys(MATRIX_ITEMS, "high"),
        "overall_level": "critical",
        "sending_organisation": {
            "id": str(uuid.uuid4()),
            "name": "Fictional NCP RO",
            "country": "RO",
        },
    }
    with contextlib.suppress(DomainError):
        apply(
            inbound(
                wire.RISK_JOINT,
                body,
                sender="peer-ro",
                conversation=case.trm_case_ref,
                seq=4,
                categories=("risk",),
            )
        )
    case.refresh_from_db()
    assert return_blockers(case, gather(case), today=timezone.localdate()) == []
