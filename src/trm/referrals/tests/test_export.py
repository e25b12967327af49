"""What the subject-access export gets from trm.referrals."""

from __future__ import annotations

import pytest

from trm.cases.tests.factories import open_case
from trm.referrals import services
from trm.referrals.export import export_for_person
from trm.referrals.tests.factories import (
    RISK,
    SUMMARY,
    consent_for,
    draft,
    erase,
    receiver_org,
    receiver_user,
)

pytestmark = pytest.mark.django_db


def test_export_holds_every_referral_decrypted(caseworker_a):
    case = open_case(caseworker_a)
    other = open_case(caseworker_a)
    shelter = receiver_org()
    provider = receiver_user(shelter)
    consent_for(caseworker_a, case, shelter)
    referral = draft(
        caseworker_a, case, shelter, texts={"case_summary": SUMMARY, "risk": RISK}
    )
    services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    services.referral_accept(actor=provider, referral_id=referral.pk)
    services.referral_feedback(
        actor=provider, referral_id=referral.pk, outcome="arrived", text="Fictional"
    )
    draft(caseworker_a, other, shelter)  # another person's: not exported
    [item] = export_for_person(case.person)
    assert item["reference"] == referral.reference
    assert item["case_number"] == case.number
    assert item["status"] == "Accepted"
    assert item["to"] == shelter.name
    assert item["services"] == ["Shelter"]
    assert item["texts"] == {"case_summary": SUMMARY, "risk": RISK}
    shared = item["shared"]
    assert isinstance(shared, dict)
    assert set(shared) == {"identity", "case_summary"}
    assert item["risk"] == RISK
    assert item["risk_shared_without_consent"] is True
    feedback, history = item["feedback"], item["history"]
    assert isinstance(feedback, list) and isinstance(history, list)
    assert [f["text"] for f in feedback] == ["Fictional"]
    assert [h["status"] for h in history] == [
        "Draft",
        "Sent, awaiting a reply",
        "Accepted",
    ]


def test_export_after_erasure_holds_no_content(caseworker_a):
    case = open_case(caseworker_a)
    shelter = receiver_org()
    draft(caseworker_a, case, shelter)
    erase(case)
    [item] = export_for_person(case.person)
    assert item["texts"] is None
    assert item["shared"] is None
