"""Return-side message types still only declared: what each payload carries
(EXCHANGE.md §1.7).

``travel.document.*`` and ``return.arrival`` have no handler (their
workflows come later), but each already says which data categories a payload
actually carries, and the exchange refuses a message carrying a category its
envelope does not declare: the sender at enqueue, the receiver in its inbox
(here given a recording handler for the test, so that it gets past
``unsupported_type``). ``followup.report`` (registered by
:mod:`trm.reintegration.messages`) is checked the same way. The types
implemented by :mod:`trm.returns` are checked in its own tests
(``returns/tests/test_wire_categories.py``). All data is synthetic.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
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

pytestmark = pytest.mark.django_db

REF = "peer-ro-00aa11bb22cc"
TODAY = timezone.localdate()


def org() -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "name": "Fictional Agency RO", "country": "RO"}


def _soon(days: int) -> str:
    return (timezone.now() + timedelta(days=days)).isoformat()


#: (type, a payload, what it carries)
CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    (
        "travel.document.request",
        {
            "identity": {
                "family_names": "Fictiv",
                "documents": [{"kind": "passport", "number": "FX000001"}],
            },
            "document_type": "passport",
        },
        {"identity", "documents"},
    ),
    (
        "travel.document.issued",
        {
            "document_type": "emergency_travel_document",
            "number": "FX000002",
            "issued_on": TODAY.isoformat(),
            "valid_until": (TODAY + timedelta(days=30)).isoformat(),
        },
        {"documents"},
    ),
    (
        "return.arrival",
        {"arrived": True, "at": _soon(31)},
        {"case_summary"},
    ),
    (
        "followup.report",
        {
            "sequence": 1,
            "reported_on": TODAY.isoformat(),
            "health": "at_risk",
            "risk_level": "low",
            "risk_update": "Fictional: no contact from the recruiters.",
        },
        {"case_summary", "health", "risk"},
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
    mtype = registry.message_type(name)
    assert mtype is not None and mtype.carried is not None
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


DECLARED_ONLY = ("travel.document.request", "travel.document.issued", "return.arrival")


def test_without_a_handler_the_types_are_still_unsupported():
    fake = signed_peer()
    for name, body, expected in CASES:
        if name not in DECLARED_ONLY:
            continue
        answer = deliver(
            fake,
            name,
            payload(body),
            conversation=REF,
            legal_basis=basis_for(expected),
            categories=sorted(expected),
        )
        assert answer.json_body["code"] == "unsupported_type", name


def test_each_implemented_type_is_registered_once_with_its_handler():
    """The types trm.returns, trm.handover and trm.reintegration implement are
    no longer declared here: their registration carries the handler."""
    from trm.assistance.messages import _types

    declared = {t.name for t in _types()}
    assert declared == set(DECLARED_ONLY)
    for name in (
        "family.assessment.request",
        "family.assessment.report",
        "family.tracing.request",
        "family.tracing.result",
        "risk.assessment.joint",
        "return.plan",
        "return.handover",
        "followup.report",
    ):
        mtype = registry.message_type(name, 1)
        assert mtype is not None and mtype.handler is not None, name


def test_minimal_payloads_carry_only_what_is_always_there():
    minimal: dict[str, dict[str, Any]] = {
        "followup.report": {
            "sequence": 1,
            "reported_on": TODAY.isoformat(),
            "risk_level": "low",
        },
        "travel.document.request": {
            "identity": {},
            "document_type": "passport",
        },
    }
    expected: dict[str, set[str]] = {
        "followup.report": {"case_summary", "risk"},
        "travel.document.request": set(),
    }
    for name, body in minimal.items():
        mtype = registry.message_type(name)
        assert mtype is not None and mtype.carried is not None
        carried = mtype.carried(mtype.schema.model_validate(payload(body)))
        assert carried == expected[name], name
