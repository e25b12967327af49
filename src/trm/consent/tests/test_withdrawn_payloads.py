"""The exchange's stored messages do not outlive an erasure or a withdrawal
(review finding: after a consent was withdrawn abroad and the person erased,
the stored ``identity.verify.request`` still showed their names to the
national contact point, on the page and through the API).

Receiving node: messages arrive through the real inbox from a fictional peer.
Sending node: messages are enqueued by the consent tests' gate type. All data
is synthetic.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pydantic import BaseModel, ConfigDict

from trm.accounts.models import Organisation, Role, User
from trm.accounts.tests.factories import UserFactory
from trm.cases import services as cases
from trm.cases.apps import person_data_key
from trm.cases.models import Case
from trm.cases.tests.exchange_fakes import make_peer
from trm.cases.tests.factories import open_case
from trm.consent import messages
from trm.consent import services as consent_services
from trm.consent.models import Consent
from trm.dataprotection.crypto import KeyDestroyed, data_key
from trm.dataprotection.services import erase_person
from trm.exchange import inbox, nodekeys, operations, registry
from trm.exchange import services as exchange
from trm.exchange.models import (
    InboxMessage,
    OutboxMessage,
    OutboxStatus,
    Peer,
    PeerStatus,
)
from trm.exchange.tests.conftest import FakePeer
from trm.identification.messages import REQUEST

pytestmark = pytest.mark.django_db

REMOTE_REF = "peer-ro-fedcba987654"
GIVEN, FAMILY = "Ana", "Fictiv-Test"
GATE_TYPE = "test.payload_gate"


class GateNoteV1(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str


@pytest.fixture(autouse=True)
def gate_type() -> Iterator[None]:
    registry.register(
        registry.MessageType(
            name=GATE_TYPE,
            version=1,
            schema=GateNoteV1,
            categories=registry.CATEGORIES,
        )
    )
    yield
    registry.unregister(GATE_TYPE, 1)


@pytest.fixture
def ncp(org_a: Organisation) -> User:
    """This node's national contact point (org A has the NCP function)."""
    return UserFactory(organisation=org_a, roles=[Role.NATIONAL_CONTACT_POINT])


@pytest.fixture
def remote(org_a: Organisation) -> FakePeer:
    """peer-ro, a trusted peer with real keys, and this node's exchange keys."""
    nodekeys.forget_cached_keys()
    nodekeys.init_keys()
    fake = FakePeer("peer-ro")
    Peer.objects.create(
        node_id=fake.node_id,
        name="Fictional Romanian node",
        country="RO",
        base_url="http://127.0.0.1:9",
        keys=fake.jwks,
        fingerprint=fake.sig_jwk["kid"],
        status=PeerStatus.ACTIVE,
    )
    return fake


def receive_request(remote: FakePeer, consent_ref: uuid.UUID) -> InboxMessage:
    body, claims = remote.envelope(
        {
            "trm_case_ref": REMOTE_REF,
            "purpose": "identity_and_nationality",
            "identity": {"given_names": GIVEN, "family_names": FAMILY},
            "nationality_claimed": ["RO"],
            "sending_organisation": {
                "id": str(uuid.uuid4()),
                "name": "Fictional NCP RO",
                "country": "RO",
            },
        },
        type=REQUEST,
        conversation=REMOTE_REF,
        seq=1,
        legal_basis=f"consent:{consent_ref}",
        categories=["identity"],
    )
    answer = inbox.receive(body)
    assert answer.status_code == 202, answer.json_body
    return InboxMessage.objects.get(msg_id=claims["msg_id"])


def receive_withdrawal(remote: FakePeer, consent_ref: uuid.UUID, seq: int) -> None:
    body, _claims = remote.envelope(
        {
            "consent_ref": str(consent_ref),
            "trm_case_ref": REMOTE_REF,
            "categories": ["identity"],
            "effective_at": timezone.now().isoformat(),
        },
        type=messages.WITHDRAWN,
        conversation=REMOTE_REF,
        seq=seq,
        legal_basis=messages.withdrawal_basis(consent_ref),
        categories=[],
    )
    answer = inbox.receive(body)
    assert answer.status_code == 202, answer.json_body


def case_of(message: InboxMessage) -> uuid.UUID:
    assert message.case_id is not None
    return message.case_id


def detail_page(client: Client, message: InboxMessage | OutboxMessage) -> str:
    direction = "in" if isinstance(message, InboxMessage) else "out"
    response = client.get(
        reverse(
            "exchange:message_detail",
            args=[message.peer.node_id, direction, message.msg_id],
        )
    )
    assert response.status_code == 200
    return str(response.content.decode())


# --- the cases app names the person's key ------------------------------------------


def test_the_cases_app_names_the_data_key_of_the_cases_person(caseworker_a):
    case = open_case(caseworker_a)

    assert registry.data_key_lookup() is person_data_key
    assert person_data_key(case.pk) == case.person.data_key_id
    assert person_data_key(uuid.uuid4()) is None
    with transaction.atomic():
        erase_person(actor=None, person_id=case.person_id, reason="recorded_in_error")
    assert person_data_key(case.pk) is None


# --- the receiving node ------------------------------------------------------------


def test_withdrawal_received_erases_the_stored_request_and_the_page_says_so(
    remote, ncp, signed_in
):
    consent_ref = uuid.uuid4()
    request = receive_request(remote, consent_ref)
    case = Case.objects.select_related("person").get(pk=case_of(request))
    # Stored under the person's own key, not the node's.
    assert request.payload_key_id == case.person.data_key_id
    before = operations.message_get(user=ncp, msg_id=request.msg_id, direction="in")
    assert before.payload is not None
    assert before.payload["identity"]["family_names"] == FAMILY

    receive_withdrawal(remote, consent_ref, seq=2)

    case.person.refresh_from_db()
    assert case.person.is_erased
    with pytest.raises(KeyDestroyed):
        data_key(case.person.data_key_id)
    request.refresh_from_db()
    assert request.payload_sealed is None  # forgotten, not only unreadable
    detail = operations.message_get(user=ncp, msg_id=request.msg_id, direction="in")
    assert detail.payload is None and detail.payload_gone
    client = signed_in(ncp)
    page = detail_page(client, request)
    assert "The payload is no longer held (erased or restricted)." in page
    assert FAMILY not in page and GIVEN not in page
    api = client.get(
        f"/api/v1/exchange/messages/{request.msg_id}", {"direction": "in"}
    ).json()
    assert api["payload"] is None and api["payload_gone"] is True
    assert FAMILY not in str(api)
    # The confirmation carries nothing of the person: readable, and it leaves.
    done = OutboxMessage.objects.get(type=messages.WITHDRAWN_DONE)
    assert done.status == OutboxStatus.PENDING and done.payload_key_id is None
    assert exchange.sealed_payload(done)["outcome"] == "erased"


def test_withdrawal_received_forgets_the_payload_even_when_the_person_stays(
    remote, ncp
):
    consent_ref = uuid.uuid4()
    request = receive_request(remote, consent_ref)
    case = Case.objects.select_related("person").get(pk=case_of(request))
    # This node added its own record: the person is restricted, not erased.
    cases.case_note_add(actor=ncp, case_id=case.pk, text="Fictional note of our own")

    receive_withdrawal(remote, consent_ref, seq=2)

    case.person.refresh_from_db()
    assert not case.person.is_erased
    request.refresh_from_db()
    assert request.payload_sealed is None
    detail = operations.message_get(user=ncp, msg_id=request.msg_id, direction="in")
    assert detail.payload is None and detail.payload_gone
    done = OutboxMessage.objects.get(type=messages.WITHDRAWN_DONE)
    assert exchange.sealed_payload(done)["outcome"] == "restricted"


def test_a_withdrawal_forgets_only_what_came_under_that_consent(remote, ncp):
    withdrawn, other = uuid.uuid4(), uuid.uuid4()
    request = receive_request(remote, withdrawn)
    case = Case.objects.get(pk=case_of(request))
    cases.case_note_add(actor=ncp, case_id=case.pk, text="Fictional note of our own")
    body, claims = remote.envelope(
        {"note": "Fictional second note"},
        type=GATE_TYPE,
        legal_basis=f"consent:{other}",
        categories=["case_summary"],
    )
    # The gate type has no handler here: applied by a test handler instead.
    mtype = registry.message_type(GATE_TYPE, 1)
    assert mtype is not None
    registry.register(
        registry.MessageType(
            name=GATE_TYPE,
            version=1,
            schema=GateNoteV1,
            categories=mtype.categories,
            handler=lambda inbound: case.pk,
        ),
        replace=True,
    )
    assert inbox.receive(body).status_code == 202
    kept = InboxMessage.objects.get(msg_id=claims["msg_id"])

    receive_withdrawal(remote, withdrawn, seq=2)

    request.refresh_from_db()
    kept.refresh_from_db()
    assert request.payload_sealed is None
    assert exchange.stored_payload(kept) == {"note": "Fictional second note"}


# --- the sending node --------------------------------------------------------------


def record_consent(actor: User, case: Case) -> Consent:
    return consent_services.consent_record(
        actor=actor,
        case_id=case.pk,
        purpose="cross_border_transfer",
        categories=["identity"],
        given_by="person",
        language="ro",
        recipient_country="RO",
        declaration="Fictional declaration",
    )


def send(case: Case, consent: Consent, **kw: Any) -> OutboxMessage:
    with transaction.atomic():
        return exchange.enqueue(
            to_node="peer-ro",
            type=GATE_TYPE,
            payload={"note": f"{GIVEN} {FAMILY}"},
            legal_basis=f"consent:{consent.pk}",
            categories=["identity"],
            case_id=case.pk,
            **kw,
        )


def test_erasure_on_the_sending_node_leaves_no_readable_payload(
    caseworker_a, ncp, signed_in
):
    make_peer("peer-ro", "RO")
    case = open_case(caseworker_a)
    case.trm_case_ref = "dev-node-0123456789ab"
    case.save(update_fields=["trm_case_ref"])
    consent = record_consent(caseworker_a, case)
    delivered = send(case, consent, conversation=case.trm_case_ref)
    assert delivered.payload_key_id == case.person.data_key_id
    OutboxMessage.objects.filter(pk=delivered.pk).update(
        status=OutboxStatus.SENT, attempts=1, sent_at=timezone.now()
    )
    consent_services.consent_withdraw(actor=caseworker_a, consent_id=consent.pk)
    notice = OutboxMessage.objects.get(type=messages.WITHDRAWN)
    waiting = send(case, record_consent(caseworker_a, case))

    with transaction.atomic():
        erase_person(actor=None, person_id=case.person_id, reason="recorded_in_error")

    delivered.refresh_from_db()
    waiting.refresh_from_db()
    notice.refresh_from_db()
    assert exchange.stored_payload(delivered) is None
    assert exchange.payload_gone(delivered)
    assert (waiting.status, waiting.last_error) == (OutboxStatus.CANCELLED, "erased")
    # The withdrawal notice holds nothing of the person and still has to
    # reach the peer: it stays queued and readable.
    assert notice.status == OutboxStatus.PENDING
    assert exchange.sealed_payload(notice)["consent_ref"] == str(consent.pk)
    page = detail_page(signed_in(ncp), delivered)
    assert "The payload is no longer held (erased or restricted)." in page
    assert FAMILY not in page
