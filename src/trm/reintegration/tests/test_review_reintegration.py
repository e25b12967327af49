"""Review tests (issue 7): bad input to the reintegration plan.
All data is synthetic and fictional."""

from __future__ import annotations

import contextlib
import json
from datetime import date

import pytest

from trm.common.errors import DomainError
from trm.reintegration import services
from trm.reintegration.tests.helpers import origin_case

pytestmark = pytest.mark.django_db


def test_review_a_plan_starting_in_year_9999_is_a_clear_refusal(org_a):
    """check_date has no upper bound; add_months overflows (ValueError) and
    the API answers 500 instead of cases.invalid_input."""
    case, provider = origin_case()
    with pytest.raises(DomainError):
        services.reintegration_plan_record(
            actor=provider,
            case_id=case.pk,
            starts_on=date(9999, 6, 1),
            services=["shelter"],
            goals="Fictional goals",
            case_manager_function="Social worker",
        )


def test_review_the_api_answers_a_structured_error_not_500(org_a, signed_in):
    case, provider = origin_case()
    client = signed_in(provider)
    client.raise_request_exception = False
    answer = client.post(
        f"/api/v1/cases/{case.pk}/reintegration/plan",
        json.dumps(
            {
                "starts_on": "9999-06-01",
                "services": ["shelter"],
                "goals": "Fictional goals",
                "case_manager_function": "Social worker",
            }
        ),
        content_type="application/json",
    )
    assert answer.status_code == 400, answer.status_code


def _report(ref: str, **overrides):
    import uuid as _uuid

    body = {
        "trm_case_ref": ref,
        "sequence": 1,
        "reported_on": "2026-03-02",
        "services": ["psychological"],
        "housing": "stable",
        "health": "unknown",
        "risk_level": "low",
        "risk_update": "Fictional note",
        "sending_organisation": {
            "id": str(_uuid.uuid4()),
            "name": "Fictional Reintegration RO",
            "country": "RO",
        },
    }
    body.update(overrides)
    return body


def test_review_a_followup_report_for_a_person_never_returned_is_refused(
    caseworker_a,
):
    """Destination: followup.report is applied to any case linked under the
    reference from any party to it, whatever the case's state: a case still
    in return preparation (no journey, no handover) gets "follow-up after
    return" reports and the SOP step sop4.follow_up. The handler should
    require a handover to that same peer that arrived (status arrived, lead
    moved to origin)."""
    import uuid as _uuid

    from trm.cases.tests.exchange_fakes import apply, inbound, make_peer
    from trm.reintegration.messages import FOLLOWUP_REPORT
    from trm.reintegration.models import FollowUpReport
    from trm.returns.tests.helpers import preparing_case

    make_peer("peer-ro", "RO")
    case, _ncp = preparing_case(caseworker_a)
    assert case.assistance == "return_preparation"
    with contextlib.suppress(DomainError):
        apply(
            inbound(
                FOLLOWUP_REPORT,
                _report(case.trm_case_ref),
                conversation=case.trm_case_ref,
                seq=2,
                legal_basis=f"consent:{_uuid.uuid4()}",
                categories=("case_summary", "risk"),
            )
        )
    assert not FollowUpReport.objects.filter(case=case).exists()


def test_review_the_same_follow_up_reported_twice_is_not_stored_twice(
    caseworker_a,
):
    """A replay under a new msg_id (or a buggy peer) of sequence 1 adds a
    second report of follow-up 1; nothing ties (case, peer, sequence)."""
    import uuid as _uuid

    from trm.cases.tests.exchange_fakes import apply, inbound, make_peer
    from trm.cases.tests.factories import set_states
    from trm.reintegration.messages import FOLLOWUP_REPORT
    from trm.reintegration.models import FollowUpReport
    from trm.returns.tests.helpers import preparing_case

    make_peer("peer-ro", "RO")
    from trm.reintegration.tests.factories import handed_over_to

    case, _ncp = preparing_case(caseworker_a)
    set_states(case, assistance="follow_up")
    handed_over_to(case)
    for seq in (2, 3):
        with contextlib.suppress(DomainError):
            apply(
                inbound(
                    FOLLOWUP_REPORT,
                    _report(case.trm_case_ref),
                    conversation=case.trm_case_ref,
                    seq=seq,
                    legal_basis=f"consent:{_uuid.uuid4()}",
                    categories=("case_summary", "risk"),
                )
            )
    assert FollowUpReport.objects.filter(case=case, sequence=1).count() == 1
