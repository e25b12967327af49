"""Identity verification through the counterpart node (SOPS §6.4 M2; rule 6).

Handlers are called with inbound messages as the inbox hands them over
(:mod:`trm.cases.tests.exchange_fakes`). All data is synthetic.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import transaction

from trm.accounts.models import Role
from trm.accounts.tests.factories import UserFactory
from trm.cases.errors import CaseInvalidInput
from trm.cases.messages import NotLinked, NotParty
from trm.cases.models import Case, CaseEvent
from trm.cases.selectors import person_identity_for_user
from trm.cases.tests.exchange_fakes import (
    apply,
    inbound,
    make_peer,
    payload_of,
    reply_to,
)
from trm.cases.tests.factories import open_case, team_member
from trm.cases.tests.inbox_fakes import deliver, signed_peer
from trm.consent import services as consent
from trm.consent.errors import ConsentMissing
from trm.exchange import registry
from trm.exchange import services as exchange
from trm.exchange.errors import LegalBasisMissing, MessageInvalid
from trm.exchange.models import OutboxMessage
from trm.identification import contacts
from trm.identification import messages as verify
from trm.identification.errors import ConsularCheckBlocked

pytestmark = pytest.mark.django_db

REMOTE_REF = "peer-ro-fedcba987654"


@pytest.fixture
def peer():
    return make_peer("peer-ro", "RO")


@pytest.fixture
def case(caseworker_a):
    return open_case(caseworker_a, citizenships=["RO"])


@pytest.fixture
def ncp(case):
    return team_member(case, Role.NATIONAL_CONTACT_POINT)


def transfer_consent(actor: Any, case: Case, **fields: Any) -> str:
    values: dict[str, Any] = {
        "purpose": "cross_border_transfer",
        "categories": ["identity", "documents"],
        "given_by": "person",
        "language": "ro",
        "recipient_country": "RO",
        "declaration": "Fictional declaration",
    }
    values.update(fields)
    record = consent.consent_record(actor=actor, case_id=case.pk, **values)
    return f"consent:{record.pk}"


def test_a_request_carries_the_identity_under_a_consent_naming_the_country(
    caseworker_a, case, ncp, peer
):
    basis = transfer_consent(caseworker_a, case)
    message = verify.identity_verification_send(
        actor=ncp,
        case_id=case.pk,
        peer_node="peer-ro",
        legal_basis=basis,
        include_documents=True,
    )
    assert message.categories == ["documents", "identity"]
    assert message.legal_basis == basis
    body = payload_of(message)
    identity = person_identity_for_user(user=ncp, case=case)
    assert identity is not None
    assert body["identity"]["family_names"] == identity.family_names
    assert body["identity"]["documents"][0]["number"] == identity.documents[0].number
    # Never contact details: the check does not need them.
    assert body["identity"]["phones"] == [] and body["identity"]["addresses"] == []
    event = CaseEvent.objects.get(
        case=case, kind="sop1.identity_verification_requested"
    )
    assert event.code == contacts.VerificationChannel.NATIONAL_CONTACT_POINT


def test_a_request_is_refused_for_an_asylum_applicant(caseworker_a, case, ncp, peer):
    basis = transfer_consent(caseworker_a, case)
    contacts.asylum_application_record(actor=caseworker_a, case_id=case.pk)
    with pytest.raises(ConsularCheckBlocked):
        verify.identity_verification_send(
            actor=ncp, case_id=case.pk, peer_node="peer-ro", legal_basis=basis
        )
    assert not OutboxMessage.objects.exists()
    assert not CaseEvent.objects.filter(
        case=case, kind="sop1.identity_verification_requested"
    ).exists()


def test_a_request_without_consent_or_obligation_is_refused(case, ncp, peer):
    with pytest.raises(LegalBasisMissing):
        verify.identity_verification_send(
            actor=ncp, case_id=case.pk, peer_node="peer-ro", legal_basis="pseudonymous"
        )
    assert not OutboxMessage.objects.exists()


def test_a_consent_not_covering_documents_refuses_them(caseworker_a, case, ncp, peer):
    basis = transfer_consent(caseworker_a, case, categories=["identity"])
    with pytest.raises(ConsentMissing) as caught:
        verify.identity_verification_send(
            actor=ncp,
            case_id=case.pk,
            peer_node="peer-ro",
            legal_basis=basis,
            include_documents=True,
        )
    assert caught.value.details["missing_categories"] == ["documents"]
    assert not OutboxMessage.objects.exists()


def test_a_named_legal_obligation_may_carry_the_request(case, ncp, peer):
    message = verify.identity_verification_send(
        actor=ncp,
        case_id=case.pk,
        peer_node="peer-ro",
        legal_basis="legal_obligation:Fictional Act art. 12",
    )
    assert message.categories == ["identity"]


def _request(**overrides: Any) -> Any:
    payload: dict[str, Any] = {
        "trm_case_ref": REMOTE_REF,
        "purpose": "identity_and_nationality",
        "identity": {"given_names": "Ion", "family_names": "Fictiv-Verify"},
        "nationality_claimed": ["BG"],
        "sending_organisation": {
            "id": str(uuid.uuid4()),
            "name": "Fictional NCP RO",
            "country": "RO",
        },
    }
    payload.update(overrides)
    return inbound(
        verify.REQUEST,
        payload,
        conversation=REMOTE_REF,
        legal_basis=f"consent:{uuid.uuid4()}",
        categories=("identity",),
    )


def test_a_received_request_opens_a_linked_case_with_the_identity(org_a, peer):
    stored = apply(_request())
    assert stored.case_id is not None
    case = Case.objects.get(pk=stored.case_id)
    assert case.trm_case_ref == REMOTE_REF and case.lead_organisation == org_a
    reader = UserFactory(organisation=org_a, roles=[Role.NATIONAL_CONTACT_POINT])
    identity = person_identity_for_user(user=reader, case=case)
    assert identity is not None and identity.family_names == "Fictiv-Verify"
    assert CaseEvent.objects.filter(
        case=case, kind="sop1.identity_verification_received"
    ).exists()
    assert verify.pending_request(case) is not None


def test_a_received_request_with_contact_details_is_refused(org_a, peer):
    with pytest.raises(CaseInvalidInput) as caught:
        apply(
            _request(identity={"family_names": "Fictiv", "phones": ["+44 7700 900123"]})
        )
    assert caught.value.details["field"] == "identity"
    assert not Case.objects.filter(trm_case_ref=REMOTE_REF).exists()


def test_the_answer_goes_back_and_is_recorded_on_the_asking_case(
    caseworker_a, case, ncp, org_a, peer
):
    # This node answers a request it received …
    stored = apply(_request())
    assert stored.case_id is not None
    linked = Case.objects.get(pk=stored.case_id)
    answerer = team_member(linked, Role.NATIONAL_CONTACT_POINT)
    response = verify.identity_verification_respond(
        actor=answerer,
        case_id=linked.pk,
        outcome="confirmed",
        document_options=["emergency_travel_document"],
    )
    assert response.in_reply_to == stored.msg_id
    assert response.legal_basis == "pseudonymous" and response.categories == []
    assert payload_of(response)["outcome"] == "confirmed"
    assert verify.pending_request(linked) is None
    # … and records the answer to one it sent.
    basis = transfer_consent(caseworker_a, case)
    request = verify.identity_verification_send(
        actor=ncp, case_id=case.pk, peer_node="peer-ro", legal_basis=basis
    )
    apply(
        reply_to(
            request,
            verify.RESPONSE,
            {
                "trm_case_ref": request.conversation,
                "outcome": "not_confirmed",
                "document_options": ["none"],
                "sending_organisation": {
                    "id": str(uuid.uuid4()),
                    "name": "Fictional NCP RO",
                    "country": "RO",
                },
            },
        )
    )
    assert CaseEvent.objects.filter(
        case=case, kind="sop1.identity_verification_result", code="not_confirmed"
    ).exists()


def test_an_answer_to_no_request_is_refused(peer):
    with pytest.raises(verify.UnknownReply):
        apply(
            inbound(
                verify.RESPONSE,
                {
                    "trm_case_ref": REMOTE_REF,
                    "outcome": "confirmed",
                    "sending_organisation": {
                        "id": str(uuid.uuid4()),
                        "name": "Fictional NCP RO",
                        "country": "RO",
                    },
                },
                conversation=REMOTE_REF,
                in_reply_to=uuid.uuid4(),
            )
        )


# --- review fixes: what a request carries; who may act on a linked case ---------------


def _request_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "trm_case_ref": REMOTE_REF,
        "purpose": "identity_and_nationality",
        "identity": {"given_names": "Ion", "family_names": "Fictiv-Verify"},
        "nationality_claimed": ["BG"],
        "sending_organisation": {
            "id": str(uuid.uuid4()),
            "name": "Fictional NCP RO",
            "country": "RO",
        },
    }
    body.update(overrides)
    return body


def _carried(name: str, body: dict[str, Any]) -> set[str]:
    mtype = registry.message_type(name)
    assert mtype is not None and mtype.carried is not None
    return mtype.carried(mtype.schema.model_validate(body))


def test_a_request_carries_its_identity_blocks_categories():
    assert _carried(verify.REQUEST, _request_body()) == {"identity"}
    documents = {
        "family_names": "Fictiv",
        "documents": [{"kind": "passport", "number": "FX000001"}],
    }
    assert _carried(verify.REQUEST, _request_body(identity=documents)) == {
        "identity",
        "documents",
    }
    contact = {"phones": ["+44 7700 900123"]}
    assert _carried(verify.REQUEST, _request_body(identity=contact)) == {"contact"}
    assert _carried(verify.REQUEST, _request_body(identity={})) == set()
    answer = {
        "trm_case_ref": REMOTE_REF,
        "outcome": "confirmed",
        "document_options": ["passport"],
        "sending_organisation": _request_body()["sending_organisation"],
    }
    assert _carried(verify.RESPONSE, answer) == set()


def test_a_request_carrying_names_declared_pseudonymous_is_refused_at_enqueue(
    case, peer
):
    with pytest.raises(MessageInvalid) as caught, transaction.atomic():
        exchange.enqueue(
            to_node="peer-ro",
            type=verify.REQUEST,
            payload=_request_body(),
            legal_basis=exchange.PSEUDONYMOUS,
            categories=[],
            case_id=case.pk,
        )
    assert caught.value.details["categories"] == ["identity"]
    documents = {
        "family_names": "Fictiv",
        "documents": [{"kind": "passport", "number": "FX000001"}],
    }
    with pytest.raises(MessageInvalid) as caught, transaction.atomic():
        exchange.enqueue(
            to_node="peer-ro",
            type=verify.REQUEST,
            payload=_request_body(identity=documents),
            legal_basis="legal_obligation:Fictional Act art. 12",
            categories=["identity"],
            case_id=case.pk,
        )
    assert caught.value.details["categories"] == ["documents"]
    assert not OutboxMessage.objects.exists()


def test_a_request_carrying_names_declared_pseudonymous_is_rejected_by_the_inbox(
    org_a,
):
    """The review's case: names under ``pseudonymous`` with no category."""
    fake = signed_peer()
    answer = deliver(
        fake,
        verify.REQUEST,
        _request_body(),
        conversation=REMOTE_REF,
        legal_basis=exchange.PSEUDONYMOUS,
        categories=[],
    )
    assert answer.status_code == 422
    assert answer.json_body["code"] == "category_not_allowed"
    assert not Case.objects.filter(trm_case_ref=REMOTE_REF).exists()
    # Declared and under a basis, the same request is applied.
    answer = deliver(
        fake,
        verify.REQUEST,
        _request_body(),
        conversation=REMOTE_REF,
        legal_basis=f"consent:{uuid.uuid4()}",
        categories=["identity"],
    )
    assert answer.status_code == 202, answer.json_body
    assert Case.objects.filter(trm_case_ref=REMOTE_REF).exists()


def test_a_request_outside_its_conversation_is_refused(org_a, peer):
    with pytest.raises(NotLinked):
        apply(
            inbound(
                verify.REQUEST,
                _request_body(),
                conversation="",
                legal_basis=f"consent:{uuid.uuid4()}",
                categories=("identity",),
            )
        )
    assert not Case.objects.filter(trm_case_ref=REMOTE_REF).exists()


def test_a_node_not_party_cannot_set_the_identity_of_a_linked_case(org_a, peer):
    stored = apply(_request())
    assert stored.case_id is not None
    case = Case.objects.get(pk=stored.case_id)
    make_peer("peer-md", "MD")
    with pytest.raises(NotParty):
        apply(
            inbound(
                verify.REQUEST,
                _request_body(identity={"family_names": "Fictiv-Stranger"}),
                sender="peer-md",
                conversation=REMOTE_REF,
                legal_basis=f"consent:{uuid.uuid4()}",
                categories=("identity",),
            )
        )
    reader = UserFactory(organisation=org_a, roles=[Role.NATIONAL_CONTACT_POINT])
    identity = person_identity_for_user(user=reader, case=case)
    assert identity is not None and identity.family_names == "Fictiv-Verify"
    assert (
        CaseEvent.objects.filter(
            case=case, kind="sop1.identity_verification_received"
        ).count()
        == 1
    )


def test_an_answer_must_come_in_the_asking_cases_conversation(
    caseworker_a, case, ncp, peer
):
    basis = transfer_consent(caseworker_a, case)
    request = verify.identity_verification_send(
        actor=ncp, case_id=case.pk, peer_node="peer-ro", legal_basis=basis
    )
    answer = {
        "trm_case_ref": request.conversation,
        "outcome": "confirmed",
        "sending_organisation": _request_body()["sending_organisation"],
    }
    with pytest.raises(NotLinked):
        apply(
            inbound(
                verify.RESPONSE, answer, conversation="", in_reply_to=request.msg_id
            )
        )
    with pytest.raises(verify.UnknownReply):
        apply(
            inbound(
                verify.RESPONSE,
                {**answer, "trm_case_ref": REMOTE_REF},
                conversation=REMOTE_REF,
                in_reply_to=request.msg_id,
            )
        )
    assert not CaseEvent.objects.filter(
        case=case, kind="sop1.identity_verification_result"
    ).exists()
