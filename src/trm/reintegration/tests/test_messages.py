"""followup.report (M10) applied on the destination node, in-process and
through the real inbox."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from django.utils import timezone

from trm.accounts.models import Role
from trm.accounts.tests.factories import UserFactory
from trm.cases import services as cases
from trm.cases.models import Case, CaseEvent
from trm.cases.tests.exchange_fakes import apply, inbound, make_peer
from trm.cases.tests.factories import open_case, set_states
from trm.cases.tests.inbox_fakes import deliver, signed_peer
from trm.cases.tracks import TransnationalLink
from trm.common.errors import DomainError
from trm.exchange import registry
from trm.reintegration import selectors
from trm.reintegration.messages import FOLLOWUP_REPORT, followup_report_carried
from trm.reintegration.models import FollowUpReport
from trm.reintegration.tests.factories import handed_over_to
from trm.sop.engine import StepState
from trm.sop.selectors import case_sop_panel_for_user

pytestmark = pytest.mark.django_db

CATEGORIES = ("case_summary", "health", "risk")


def origin_org() -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "name": "Fictional Reintegration RO",
        "country": "RO",
    }


def report_body(ref: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "trm_case_ref": ref,
        "sequence": 1,
        "due_on": date(2026, 2, 28).isoformat(),
        "reported_on": date(2026, 3, 2).isoformat(),
        "services": ["psychological", "employment"],
        "housing": "stable",
        "health": "at_risk",
        "income": "at_risk",
        "education": "not_applicable",
        "risk_level": "medium",
        "risk_update": "Fictional: a recruiter called the family once.",
        "contact_kept": True,
        "sending_organisation": origin_org(),
    }
    body.update(overrides)
    return body


@pytest.fixture
def ncp(org_a):
    return UserFactory(
        username="ncp-a", organisation=org_a, roles=[Role.NATIONAL_CONTACT_POINT]
    )


@pytest.fixture
def returned(caseworker_a, ncp) -> Case:
    """A destination case alerted to peer-ro, the person handed over there."""
    make_peer("peer-ro", "RO")
    case = open_case(caseworker_a, citizenships=["RO"])
    set_states(case, transnational=TransnationalLink.NCP_NOTIFIED)
    cases.case_alert_send(
        actor=ncp,
        case_id=case.pk,
        peer_node="peer-ro",
        urgency="normal",
        requests=["return_planning"],
    )
    set_states(case, assistance="follow_up")
    CaseEvent.objects.create(
        case=case,
        at=timezone.now() - timedelta(days=40),
        kind="case.track_moved",
        track="assistance",
        from_state="in_transit",
        to_state="handed_over",
    )
    handed_over_to(case)
    case.refresh_from_db()
    return case


def _follow_up_step(user: Any, case: Case) -> Any:
    for sop in case_sop_panel_for_user(user=user, case_id=case.pk):
        for status in sop.steps:
            if status.step.id == "sop4.follow_up":
                return status
    raise AssertionError("no step sop4.follow_up")


def test_the_report_is_recorded_and_completes_the_follow_up_step(
    returned, caseworker_a
):
    assert _follow_up_step(caseworker_a, returned).state == StepState.OVERDUE
    apply(
        inbound(
            FOLLOWUP_REPORT,
            report_body(returned.trm_case_ref),
            conversation=returned.trm_case_ref,
            seq=2,
            legal_basis=f"consent:{uuid.uuid4()}",
            categories=CATEGORIES,
        )
    )
    report = FollowUpReport.objects.get(case=returned)
    assert (report.sequence, report.risk_level, report.peer_node) == (
        1,
        "medium",
        "peer-ro",
    )
    assert report.status == {
        "housing": "stable",
        "health": "at_risk",
        "income": "at_risk",
        "education": "not_applicable",
    }
    assert report.services == ["psychological", "employment"]
    assert report.sending_organisation == "Fictional Reintegration RO"
    assert b"recruiter" not in bytes(report.sealed_risk_note or b"")
    assert returned.events.filter(
        kind="sop4.follow_up_reported", code="medium"
    ).exists()
    assert _follow_up_step(caseworker_a, returned).state == StepState.DONE
    record = selectors.reintegration_record_for_user(user=caseworker_a, case=returned)
    assert record.received[0].risk_note == (
        "Fictional: a recruiter called the family once."
    )


def test_a_report_for_no_linked_case_is_refused(returned):
    with pytest.raises(DomainError) as caught:
        apply(
            inbound(
                FOLLOWUP_REPORT,
                report_body("peer-ro-ffffffffffff"),
                conversation="peer-ro-ffffffffffff",
                legal_basis=f"consent:{uuid.uuid4()}",
                categories=CATEGORIES,
            )
        )
    assert caught.value.code == "cases.not_linked"
    assert not FollowUpReport.objects.exists()


def test_a_report_from_a_node_not_party_to_the_case_is_refused(returned):
    make_peer("peer-md", "MD")
    with pytest.raises(DomainError) as caught:
        apply(
            inbound(
                FOLLOWUP_REPORT,
                report_body(returned.trm_case_ref),
                sender="peer-md",
                conversation=returned.trm_case_ref,
                legal_basis=f"consent:{uuid.uuid4()}",
                categories=CATEGORIES,
            )
        )
    assert caught.value.code == "cases.not_party"
    assert not FollowUpReport.objects.exists()
    assert not returned.events.filter(kind="sop4.follow_up_reported").exists()


def test_the_payload_says_what_it_carries():
    mtype = registry.message_type(FOLLOWUP_REPORT)
    assert mtype is not None and mtype.handler is not None
    full = mtype.schema.model_validate(report_body("ref-1"))
    assert followup_report_carried(full) == {"case_summary", "health", "risk"}
    bare = mtype.schema.model_validate(
        report_body("ref-1", health="unknown", risk_update="")
    )
    assert followup_report_carried(bare) == {"case_summary", "risk"}


@pytest.mark.parametrize(
    "override",
    [
        {"services": ["cash_in_hand"]},
        {"housing": "fine"},
        {"risk_level": "none"},
        {"sequence": 0},
        {"name": "Fictional Person"},
    ],
)
def test_the_schema_refuses_what_it_does_not_know(override):
    mtype = registry.message_type(FOLLOWUP_REPORT)
    assert mtype is not None
    with pytest.raises(ValueError):
        mtype.schema.model_validate(report_body("ref-1", **override))


def test_through_the_inbox_a_pseudonymous_report_is_refused(returned):
    fake = signed_peer()
    answer = deliver(
        fake,
        FOLLOWUP_REPORT,
        report_body(returned.trm_case_ref),
        conversation=returned.trm_case_ref,
        legal_basis="pseudonymous",
        categories=list(CATEGORIES),
    )
    assert answer.status_code >= 400
    assert not FollowUpReport.objects.exists()


def test_through_the_inbox_a_consented_report_is_applied(returned):
    fake = signed_peer()
    answer = deliver(
        fake,
        FOLLOWUP_REPORT,
        report_body(returned.trm_case_ref),
        conversation=returned.trm_case_ref,
        legal_basis=f"consent:{uuid.uuid4()}",
        categories=list(CATEGORIES),
    )
    assert answer.status_code == 202, answer.json_body
    assert FollowUpReport.objects.filter(case=returned).count() == 1


def test_a_withdrawal_at_the_origin_erases_the_reports_received(returned, caseworker_a):
    consent_ref = uuid.uuid4()
    apply(
        inbound(
            FOLLOWUP_REPORT,
            report_body(returned.trm_case_ref),
            conversation=returned.trm_case_ref,
            seq=2,
            legal_basis=f"consent:{consent_ref}",
            categories=CATEGORIES,
        )
    )
    other = apply(
        inbound(
            FOLLOWUP_REPORT,
            report_body(returned.trm_case_ref, sequence=2),
            conversation=returned.trm_case_ref,
            seq=3,
            legal_basis=f"consent:{uuid.uuid4()}",
            categories=CATEGORIES,
        )
    )
    assert FollowUpReport.objects.filter(case=returned).count() == 2
    apply(
        inbound(
            "consent.withdrawn",
            {
                "consent_ref": str(consent_ref),
                "trm_case_ref": returned.trm_case_ref,
                "categories": ["case_summary", "health"],
                "effective_at": timezone.now().isoformat(),
            },
            conversation=returned.trm_case_ref,
            seq=4,
            legal_basis=f"legal_obligation:GDPR Art. 19 consent:{consent_ref}",
        )
    )
    [kept] = FollowUpReport.objects.filter(case=returned)
    assert kept.sequence == 2 and other.case_id == returned.pk


def test_the_destinations_pages_show_the_report_received(
    returned, caseworker_a, signed_in
):
    from django.urls import reverse

    apply(
        inbound(
            FOLLOWUP_REPORT,
            report_body(returned.trm_case_ref),
            conversation=returned.trm_case_ref,
            seq=2,
            legal_basis=f"consent:{uuid.uuid4()}",
            categories=CATEGORIES,
        )
    )
    client = signed_in(caseworker_a)
    case_page = client.get(reverse("cases:detail", args=[returned.pk])).content.decode()
    assert "1 follow-up report received from the country of origin" in case_page
    page = client.get(
        reverse("reintegration:detail", args=[returned.pk])
    ).content.decode()
    assert "Fictional Reintegration RO" in page
    assert "At risk" in page and "Employment" in page
    assert "a recruiter called the family once" in page
