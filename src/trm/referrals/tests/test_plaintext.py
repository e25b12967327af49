"""No plaintext personal data in the tables a referral writes (ARCHITECTURE §4)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from trm.cases.selectors import person_identity_for_user
from trm.cases.tests.factories import open_case
from trm.referrals import services
from trm.referrals.tests.factories import (
    consent_for,
    draft,
    receiver_org,
    receiver_user,
)

pytestmark = pytest.mark.django_db

TABLES = (
    "referrals_referral",
    "referrals_referraltransition",
    "referrals_referralfeedback",
    "cases_caseevent",
    "audit_auditentry",
)


def _stored() -> bytes:
    out = []
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - fixed names
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        out.append(bytes(value))
                    else:
                        out.append(str(value).encode())
    return b"\n".join(out)


def test_a_whole_referral_leaves_no_plaintext(caseworker_a):
    case = open_case(caseworker_a, given_names="Zorvikaref", phones=["+44 7700 900418"])
    shelter = receiver_org()
    provider = receiver_user(shelter)
    categories = ["identity", "contact", "documents", "case_summary", "health"]
    consent_for(caseworker_a, case, shelter, categories)
    referral = draft(
        caseworker_a,
        case,
        shelter,
        categories=categories,
        texts={
            "case_summary": "Quilbasummary needs",
            "health": "Quilbahealth note",
            "risk": "Quilbarisk threat",
        },
        meeting_who="Quilbawho worker",
        meeting_where="Quilbawhere station",
        meeting_at=timezone.now() + timedelta(days=1),
    )
    services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    services.referral_accept(actor=provider, referral_id=referral.pk)
    services.referral_feedback(
        actor=provider, referral_id=referral.pk, outcome="other", text="Quilbafeedback"
    )
    second = draft(caseworker_a, case, shelter)
    services.referral_cancel(
        actor=caseworker_a, referral_id=second.pk, reason="other", text="Quilbacancel"
    )
    identity = person_identity_for_user(user=caseworker_a, case=case)
    assert identity is not None
    stored = _stored()
    assert referral.reference.lower().encode() in stored.lower()  # positive control
    assert b"sop2.referral_feedback" in stored
    for needle in (
        "Zorvikaref",
        identity.family_names,
        "7700 900418",
        identity.documents[0].number,
        identity.addresses[0],
        "Quilba",
    ):
        assert needle.encode() not in stored, needle
