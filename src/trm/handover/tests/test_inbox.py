"""return.handover through the exchange's real inbox (signed, encrypted,
checked): the declared categories must match what the payload carries, and a
handler's refusal is answered with its stable code."""

from __future__ import annotations

import uuid

import pytest

from trm.cases import messages as case_messages
from trm.cases.tests.inbox_fakes import deliver, signed_peer
from trm.handover.models import ReturnHandover
from trm.handover.schemas import RETURN_HANDOVER

from .helpers import DESTINATION_PEER, REMOTE_REF, handover_payload, sender_org

pytestmark = pytest.mark.django_db


@pytest.fixture
def linked(org_a):
    fake = signed_peer(DESTINATION_PEER, "IT")
    answer = deliver(
        fake,
        case_messages.CASE_ALERT,
        {
            "trm_case_ref": REMOTE_REF,
            "country_of_identification": "IT",
            "urgency": "normal",
            "requests": ["return_planning"],
            "sending_organisation": sender_org(),
        },
        conversation=REMOTE_REF,
    )
    assert answer.status_code == 202, answer.json_body
    return fake


def test_texts_under_a_pseudonymous_envelope_are_rejected(linked):
    answer = deliver(
        linked,
        RETURN_HANDOVER,
        handover_payload(arrival_point="Fictiv bus station"),
        conversation=REMOTE_REF,
        seq=2,
    )
    assert answer.status_code >= 400
    assert "category" in answer.json_body["code"], answer.json_body
    assert not ReturnHandover.objects.exists()


def test_a_declared_announcement_is_applied(linked):
    answer = deliver(
        linked,
        RETURN_HANDOVER,
        handover_payload(arrival_point="Fictiv bus station"),
        conversation=REMOTE_REF,
        seq=2,
        legal_basis=f"consent:{uuid.uuid4()}",
        categories=["case_summary"],
    )
    assert answer.status_code == 202, answer.json_body
    assert ReturnHandover.objects.get().side == "origin"


def test_an_announcement_for_no_linked_case_answers_its_code(linked):
    other = "peer-it-ffffffffffff"
    answer = deliver(
        linked,
        RETURN_HANDOVER,
        handover_payload(trm_case_ref=other),
        conversation=other,
    )
    assert answer.json_body["code"] == "refused:handover.not_linked"
    assert not ReturnHandover.objects.exists()
