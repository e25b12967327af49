"""SOP 4 preparation types: what each payload carries (EXCHANGE.md §1.7).

Each type says which data categories a payload actually carries, and the
exchange refuses a message carrying a category its envelope does not
declare: the sender at enqueue, the receiver in its inbox (here the type's
handler is swapped for a recording one, so that only the exchange's checks
are under test). Moved here, for this app's schemas, from the checks
trm.assistance made of its former placeholders. All data is synthetic.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from trm.cases.tests.exchange_fakes import make_peer
from trm.cases.tests.inbox_fakes import deliver, handled, signed_peer
from trm.exchange import registry
from trm.exchange import services as exchange
from trm.exchange.errors import MessageInvalid
from trm.exchange.models import OutboxMessage
from trm.returns import wire
from trm.returns.tests.helpers import ALL_LOW

pytestmark = pytest.mark.django_db

REF = "peer-ro-00aa11bb22cc"
TODAY = timezone.localdate().isoformat()


def org() -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "name": "Fictional NCP RO", "country": "RO"}


def joint(**extra: Any) -> dict[str, Any]:
    return {
        "assessment_ref": str(uuid.uuid4()),
        "side": "destination",
        "assessed_on": TODAY,
        "valid_until": TODAY,
        "ratings": ALL_LOW,
        "overall_level": "low",
        **extra,
    }


def plan(**extra: Any) -> dict[str, Any]:
    return {
        "plan_ref": str(uuid.uuid4()),
        "child": False,
        "consent_ref": str(uuid.uuid4()),
        "medical_fitness": "fit",
        "documents_status": "issued",
        **extra,
    }


def request(**extra: Any) -> dict[str, Any]:
    return {
        "request_ref": str(uuid.uuid4()),
        "child": True,
        "questions": "Fictional: can the grandmother care for her?",
        **extra,
    }


def report(**extra: Any) -> dict[str, Any]:
    return {
        "request_ref": str(uuid.uuid4()),
        "reported_on": TODAY,
        "assessor_function": "Social worker",
        "recommendation": "return_to_family",
        **extra,
    }


#: (type, a payload carrying all it may, what it carries)
CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    (wire.RISK_JOINT, joint(first_needs=["housing"]), {"risk"}),
    (
        wire.RETURN_PLAN,
        plan(
            itinerary="Fictional coach route via Fictiv",
            medical_needs="Fictional medication (test).",
            legal_contact_needs="Fictional: the prosecutor's contact.",
        ),
        {"case_summary", "health", "legal"},
    ),
    (wire.FAMILY_ASSESSMENT_REQUEST, request(), {"family"}),
    (wire.FAMILY_TRACING_REQUEST, request(), {"family"}),
    (
        wire.FAMILY_ASSESSMENT_REPORT,
        report(findings="Fictional findings (test)."),
        {"family"},
    ),
    (
        wire.FAMILY_TRACING_RESULT,
        report(findings="Fictional: an aunt was found (test)."),
        {"family"},
    ),
]
IDS = [name for name, _payload, _carried in CASES]


def payload(body: dict[str, Any]) -> dict[str, Any]:
    return {"trm_case_ref": REF, "sending_organisation": org(), **body}


def basis_for(categories: set[str]) -> str:
    """A basis the receiver accepts for these categories (it does not check
    that the sender's consent exists: that is the sender's gate)."""
    return f"consent:{uuid.uuid4()}" if categories - {"risk"} else "pseudonymous"


@pytest.mark.parametrize(("name", "body", "expected"), CASES, ids=IDS)
def test_each_type_says_what_its_payload_carries(name, body, expected):
    mtype = registry.message_type(name, 1)
    assert mtype is not None and mtype.carried is not None
    assert mtype.handler is not None
    assert mtype.carried(mtype.schema.model_validate(payload(body))) == expected
    assert expected <= mtype.categories


@pytest.mark.parametrize(("name", "body", "expected"), CASES, ids=IDS)
def test_undeclared_data_is_refused_at_enqueue(name, body, expected):
    make_peer("peer-ro", "RO")
    with pytest.raises(MessageInvalid) as caught, transaction.atomic():
        exchange.enqueue(
            to_node="peer-ro",
            type=name,
            payload=payload(body),
            legal_basis=exchange.PSEUDONYMOUS,
            categories=[],
            conversation=REF,
        )
    assert caught.value.details["categories"] == sorted(expected)
    assert not OutboxMessage.objects.exists()


@pytest.mark.parametrize(("name", "body", "expected"), CASES, ids=IDS)
def test_undeclared_data_is_rejected_by_the_inbox(name, body, expected):
    fake = signed_peer()
    with handled(name) as calls:
        answer = deliver(
            fake,
            name,
            payload(body),
            conversation=REF,
            legal_basis="pseudonymous",
            categories=[],
        )
        assert answer.status_code == 422
        assert answer.json_body["code"] == "category_not_allowed"
        if len(expected) > 1:
            # One category short is as bad as none.
            short = sorted(expected)[1:]
            answer = deliver(
                fake,
                name,
                payload(body),
                conversation=REF,
                legal_basis=basis_for(set(short)),
                categories=short,
            )
            assert answer.json_body["code"] == "category_not_allowed"
        assert calls == []
        # Declared, the message reaches its handler.
        answer = deliver(
            fake,
            name,
            payload(body),
            conversation=REF,
            legal_basis=basis_for(expected),
            categories=sorted(expected),
        )
        assert answer.status_code == 202, answer.json_body
        assert len(calls) == 1


def test_minimal_payloads_carry_only_what_is_always_there():
    minimal: list[tuple[str, dict[str, Any], set[str]]] = [
        (wire.RISK_JOINT, joint(), {"risk"}),
        (wire.RETURN_PLAN, plan(), set()),
        (wire.FAMILY_ASSESSMENT_REPORT, report(), set()),
        (wire.FAMILY_TRACING_RESULT, report(), set()),
        (
            wire.RETURN_PLAN_RESPONSE,
            {
                "plan_ref": str(uuid.uuid4()),
                "decision": "accepted",
                "receiving_organisation": "Fictiv Reception Centre",
                "decided_on": TODAY,
            },
            set(),
        ),
    ]
    for name, body, expected in minimal:
        mtype = registry.message_type(name, 1)
        assert mtype is not None and mtype.carried is not None
        carried = mtype.carried(mtype.schema.model_validate(payload(body)))
        assert carried == expected, name
