"""The consent gate of the exchange, and "withdrawal travels" (EXCHANGE.md §1.7-8).

One test database plays both nodes at the handler level (see
:mod:`trm.cases.tests.exchange_fakes`). All data is synthetic.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from pydantic import BaseModel, ConfigDict

from trm.accounts.models import Role, User
from trm.accounts.tests.factories import OrganisationFactory, UserFactory
from trm.cases import services as cases
from trm.cases.models import Case, CaseEvent, Person
from trm.cases.tests.exchange_fakes import (
    apply,
    inbound,
    make_peer,
    payload_of,
    reply_to,
)
from trm.cases.tests.factories import open_case
from trm.consent import messages, services
from trm.consent.errors import ConsentMissing
from trm.consent.models import Consent
from trm.dataprotection.crypto import KeyDestroyed, data_key
from trm.exchange import registry
from trm.exchange import services as exchange
from trm.exchange.models import Conversation, OutboxMessage, OutboxStatus

pytestmark = pytest.mark.django_db

GATE_TYPE = "test.consent_gate"


class GateNoteV1(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str


@pytest.fixture(autouse=True)
def gate_type() -> Iterator[None]:
    """A test message type that may carry every category."""
    registry.register(
        registry.MessageType(
            name=GATE_TYPE,
            version=1,
            schema=GateNoteV1,
            categories=registry.CATEGORIES,
        )
    )
    yield
    registry._types.pop((GATE_TYPE, 1), None)


@pytest.fixture
def peer():
    return make_peer("peer-ro", "RO")


@pytest.fixture
def case(caseworker_a):
    return open_case(caseworker_a)


def record(actor: User, case: Case, **fields: Any) -> Consent:
    values: dict[str, Any] = {
        "purpose": "cross_border_transfer",
        "categories": ["identity"],
        "given_by": "person",
        "language": "ro",
        "recipient_country": "RO",
        "declaration": "Fictional declaration",
    }
    values.update(fields)
    return services.consent_record(actor=actor, case_id=case.pk, **values)


def send(
    case: Case, consent: Consent, categories: list[str], **kw: Any
) -> OutboxMessage:
    with transaction.atomic():
        return exchange.enqueue(
            to_node=kw.pop("to_node", "peer-ro"),
            type=GATE_TYPE,
            payload={"note": "Fictional note"},
            legal_basis=f"consent:{consent.pk}",
            categories=categories,
            case_id=case.pk,
            **kw,
        )


def refused(
    case: Case, consent: Consent, categories: list[str], **kw: Any
) -> dict[str, Any]:
    before = OutboxMessage.objects.count()
    with pytest.raises(ConsentMissing) as caught:
        send(case, consent, categories, **kw)
    assert OutboxMessage.objects.count() == before
    return caught.value.details


# --- the gate ------------------------------------------------------------------------


def test_the_consent_app_registers_its_gate():
    assert registry.legal_basis_check() is messages.check_legal_basis


def test_a_consent_naming_the_peers_country_and_covering_the_categories_passes(
    caseworker_a, case, peer
):
    consent = record(caseworker_a, case, categories=["identity", "documents"])
    message = send(case, consent, ["identity", "documents", "risk"])
    assert message.status == OutboxStatus.PENDING
    assert message.legal_basis == f"consent:{consent.pk}"


def test_a_consent_naming_another_country_is_refused(caseworker_a, case, peer):
    consent = record(caseworker_a, case, recipient_country="MD")
    assert refused(case, consent, ["identity"])["state"] == "recipient"


def test_an_expired_consent_is_refused(caseworker_a, case, peer):
    consent = record(caseworker_a, case, expires_at=timezone.now() + timedelta(days=1))
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        assert refused(case, consent, ["identity"])["state"] == "expired"


def test_a_withdrawn_consent_is_refused(caseworker_a, case, peer):
    consent = record(caseworker_a, case)
    services.consent_withdraw(actor=caseworker_a, consent_id=consent.pk)
    assert refused(case, consent, ["identity"])["state"] == "withdrawn"


def test_a_category_the_consent_does_not_cover_is_refused(caseworker_a, case, peer):
    consent = record(caseworker_a, case, categories=["identity"])
    details = refused(case, consent, ["identity", "health"])
    assert details["state"] == "categories"
    assert details["missing_categories"] == ["health"]


def test_a_consent_to_another_purpose_is_refused(caseworker_a, case, peer):
    consent = record(caseworker_a, case, purpose="referral")
    assert refused(case, consent, ["identity"])["state"] == "purpose"


def test_another_persons_consent_is_refused(caseworker_a, case, peer):
    other = open_case(caseworker_a)
    consent = record(caseworker_a, other)
    assert refused(case, consent, ["identity"])["state"] == "missing"


def test_an_unknown_consent_reference_is_refused(case, peer):
    with pytest.raises(ConsentMissing), transaction.atomic():
        exchange.enqueue(
            to_node="peer-ro",
            type=GATE_TYPE,
            payload={"note": "Fictional note"},
            legal_basis=f"consent:{uuid.uuid4()}",
            categories=["identity"],
            case_id=case.pk,
        )
    assert not OutboxMessage.objects.exists()


def test_a_message_to_an_organisation_needs_a_consent_naming_it(
    caseworker_a, case, peer
):
    mirror = OrganisationFactory(
        name="Fictional Shelter RO", country="RO", home_node="peer-ro"
    )
    by_country = record(caseworker_a, case, purpose="referral")
    assert (
        refused(case, by_country, ["identity"], organisation_id=mirror.pk)["state"]
        == "recipient"
    )
    named = record(
        caseworker_a,
        case,
        purpose="referral",
        recipient_country="",
        recipient_organisation_id=mirror.pk,
    )
    assert send(case, named, ["identity"], organisation_id=mirror.pk).pk


def test_risk_only_travels_pseudonymous_without_consent(case, peer):
    with transaction.atomic():
        message = exchange.enqueue(
            to_node="peer-ro",
            type=GATE_TYPE,
            payload={"note": "Fictional risk"},
            legal_basis=exchange.PSEUDONYMOUS,
            categories=["risk"],
            case_id=case.pk,
        )
    assert message.categories == ["risk"]


def test_a_childs_consent_given_without_the_guardian_is_refused(
    caseworker_a, case, peer
):
    consent = record(caseworker_a, case)
    # The person is found to be possibly a child after the consent was given.
    Person.objects.filter(pk=case.person_id).update(presumed_child=True)
    assert refused(case, consent, ["identity"])["state"] == "guardian_required"
    Consent.objects.filter(pk=consent.pk).update(given_by="guardian")
    assert send(case, consent, ["identity"]).pk


# --- withdrawal: the sending node -----------------------------------------------------


def _delivered(message: OutboxMessage) -> None:
    OutboxMessage.objects.filter(pk=message.pk).update(
        status=OutboxStatus.SENT, attempts=1, sent_at=timezone.now()
    )


def test_withdrawal_cancels_what_has_not_left_and_tells_each_recipient(
    caseworker_a, case, peer
):
    make_peer("peer-md", "MD")
    case.trm_case_ref = "dev-node-0123456789ab"
    case.save(update_fields=["trm_case_ref"])
    consent = record(caseworker_a, case, categories=["identity", "documents"])
    ref = case.trm_case_ref
    delivered = send(case, consent, ["identity"], conversation=ref)
    _delivered(delivered)
    waiting = send(case, consent, ["identity"], conversation=ref)
    with transaction.atomic():
        later = exchange.enqueue(
            to_node="peer-ro",
            type=GATE_TYPE,
            payload={"note": "Fictional risk"},
            legal_basis=exchange.PSEUDONYMOUS,
            categories=["risk"],
            conversation=ref,
            case_id=case.pk,
        )
    assert [delivered.seq, waiting.seq, later.seq] == [1, 2, 3]
    consent_md = record(caseworker_a, case, recipient_country="MD")
    never_left = send(case, consent_md, ["identity"], to_node="peer-md")

    services.consent_withdraw(actor=caseworker_a, consent_id=consent.pk)

    waiting.refresh_from_db()
    assert waiting.status == OutboxStatus.CANCELLED
    assert waiting.last_error == exchange.CANCELLED_CONSENT_WITHDRAWN
    later.refresh_from_db()
    assert later.status == OutboxStatus.PENDING and later.seq == 2  # no gap
    notices = list(OutboxMessage.objects.filter(type=messages.WITHDRAWN))
    assert [n.peer.node_id for n in notices] == ["peer-ro"]
    notice = notices[0]
    assert notice.seq == 3 and notice.conversation == ref
    assert notice.legal_basis == messages.withdrawal_basis(consent.pk)
    assert notice.categories == []
    body = payload_of(notice)
    assert body["consent_ref"] == str(consent.pk)
    assert body["categories"] == ["documents", "identity"]
    assert Conversation.objects.get(peer=peer, reference=ref).last_out_seq == 3
    # The other consent's message to another node is untouched.
    never_left.refresh_from_db()
    assert never_left.status == OutboxStatus.PENDING


def test_withdrawal_cancels_a_never_attempted_message_and_tells_no_one(
    caseworker_a, case, peer
):
    consent = record(caseworker_a, case)
    waiting = send(case, consent, ["identity"])
    services.consent_withdraw(actor=caseworker_a, consent_id=consent.pk)
    waiting.refresh_from_db()
    assert waiting.status == OutboxStatus.CANCELLED
    assert not OutboxMessage.objects.filter(type=messages.WITHDRAWN).exists()


def test_an_attempted_message_in_a_conversation_is_left_and_its_peer_told(
    caseworker_a, case, peer
):
    consent = record(caseworker_a, case)
    in_flight = send(case, consent, ["identity"], conversation="dev-node-aaaaaaaaaaaa")
    OutboxMessage.objects.filter(pk=in_flight.pk).update(
        status=OutboxStatus.RETRYING, attempts=2
    )
    services.consent_withdraw(actor=caseworker_a, consent_id=consent.pk)
    in_flight.refresh_from_db()
    assert in_flight.status == OutboxStatus.RETRYING
    notice = OutboxMessage.objects.get(type=messages.WITHDRAWN)
    assert notice.peer == peer
    assert notice.seq == in_flight.seq + 1


# --- withdrawal: the receiving node ---------------------------------------------------


REMOTE_REF = "peer-ro-abcdefabcdef"


@pytest.fixture
def contact_point(org_a):
    """This node's national contact point organisation (org A has the NCP function)."""
    return org_a


def _received_identity(remote_consent: uuid.UUID) -> Case:
    """A verification request from peer-ro opened a linked case with identity."""
    from trm.identification.messages import REQUEST

    stored = apply(
        inbound(
            REQUEST,
            {
                "trm_case_ref": REMOTE_REF,
                "purpose": "identity_and_nationality",
                "identity": {
                    "given_names": "Ana",
                    "family_names": "Fictiv-Test",
                    "place_of_birth": "Fictional Town",
                },
                "nationality_claimed": ["RO"],
                "sending_organisation": {
                    "id": str(uuid.uuid4()),
                    "name": "Fictional NCP RO",
                    "country": "RO",
                },
            },
            conversation=REMOTE_REF,
            legal_basis=f"consent:{remote_consent}",
            categories=("identity",),
        )
    )
    assert stored.case_id is not None
    return Case.objects.select_related("person").get(pk=stored.case_id)


def _withdrawn(remote_consent: uuid.UUID, seq: int = 2) -> Any:
    return inbound(
        messages.WITHDRAWN,
        {
            "consent_ref": str(remote_consent),
            "trm_case_ref": REMOTE_REF,
            "categories": ["identity"],
            "effective_at": timezone.now().isoformat(),
        },
        conversation=REMOTE_REF,
        legal_basis=messages.withdrawal_basis(remote_consent),
        seq=seq,
    )


def test_receiver_erases_an_identity_that_came_only_under_the_consent(
    contact_point, peer
):
    remote_consent = uuid.uuid4()
    case = _received_identity(remote_consent)
    person = case.person
    assert data_key(person.data_key_id)
    notice = apply(_withdrawn(remote_consent))

    person.refresh_from_db()
    assert person.is_erased and person.sealed_identity is None
    with pytest.raises(KeyDestroyed):
        data_key(person.data_key_id)
    assert CaseEvent.objects.filter(
        case=case, kind="consent.restricted", code="erased"
    ).exists()
    done = OutboxMessage.objects.get(type=messages.WITHDRAWN_DONE)
    assert done.peer == peer and done.in_reply_to == notice.msg_id
    assert done.legal_basis == exchange.PSEUDONYMOUS
    assert payload_of(done)["outcome"] == "erased"


def test_receiver_restricts_when_this_node_added_its_own_records(contact_point, peer):
    remote_consent = uuid.uuid4()
    case = _received_identity(remote_consent)
    ncp = UserFactory(organisation=contact_point, roles=[Role.NATIONAL_CONTACT_POINT])
    cases.case_note_add(actor=ncp, case_id=case.pk, text="Fictional note of our own")
    apply(_withdrawn(remote_consent))

    case.person.refresh_from_db()
    assert not case.person.is_erased
    assert CaseEvent.objects.filter(
        case=case, kind="consent.restricted", code="restricted"
    ).exists()
    done = OutboxMessage.objects.get(type=messages.WITHDRAWN_DONE)
    assert payload_of(done)["outcome"] == "restricted"


def test_receiver_runs_the_apps_restriction_hooks(contact_point, peer):
    remote_consent = uuid.uuid4()
    case = _received_identity(remote_consent)
    calls: list[dict[str, Any]] = []

    def hook(**kw: Any) -> str:
        calls.append(kw)
        return "restricted"

    messages.register_restriction_hook(hook)
    try:
        apply(_withdrawn(remote_consent))
    finally:
        messages.unregister_restriction_hook(hook)
    assert len(calls) == 1
    assert calls[0]["case"] == case and calls[0]["peer_node"] == "peer-ro"
    assert calls[0]["consent_ref"] == remote_consent
    assert calls[0]["categories"] == ["identity"]


def test_receiver_confirms_when_it_holds_nothing(contact_point, peer):
    apply(_withdrawn(uuid.uuid4(), seq=1))
    done = OutboxMessage.objects.get(type=messages.WITHDRAWN_DONE)
    assert payload_of(done)["outcome"] == "nothing_held"


# --- the confirmation, back on the sending node ---------------------------------------


def test_the_confirmation_shows_on_the_consent_page(
    caseworker_a, case, peer, signed_in
):
    case.trm_case_ref = "dev-node-0123456789ab"
    case.save(update_fields=["trm_case_ref"])
    consent = record(caseworker_a, case)
    _delivered(send(case, consent, ["identity"], conversation=case.trm_case_ref))
    services.consent_withdraw(actor=caseworker_a, consent_id=consent.pk)
    notice = OutboxMessage.objects.get(type=messages.WITHDRAWN)
    client = signed_in(caseworker_a)
    page = client.get(reverse("consent:detail", args=[consent.pk]))
    assert "Not confirmed yet" in page.content.decode()

    apply(
        reply_to(
            notice,
            messages.WITHDRAWN_DONE,
            {
                "consent_ref": str(consent.pk),
                "trm_case_ref": case.trm_case_ref,
                "outcome": "erased",
                "at": timezone.now().isoformat(),
            },
        )
    )
    assert CaseEvent.objects.filter(
        case=case, kind="consent.withdrawal_confirmed", code="erased"
    ).exists()
    [row] = messages.withdrawal_status(consent)
    assert row.node_id == "peer-ro" and row.confirmed_at is not None
    assert row.outcome == "erased"
    page = client.get(reverse("consent:detail", args=[consent.pk]))
    assert "Confirmed by peer-ro" in page.content.decode()


def test_a_confirmation_of_no_withdrawal_is_refused(caseworker_a, case, peer):
    from trm.consent.messages import UnknownReply

    with pytest.raises(UnknownReply):
        apply(
            inbound(
                messages.WITHDRAWN_DONE,
                {
                    "consent_ref": str(uuid.uuid4()),
                    "outcome": "erased",
                    "at": timezone.now().isoformat(),
                },
                in_reply_to=uuid.uuid4(),
            )
        )


# --- review fixes: conversation, party, and "nothing held" ----------------------------


def _alerted() -> Case:
    """A pseudonymous alert from peer-ro opened a linked case (no identity)."""
    from trm.cases.messages import CASE_ALERT

    stored = apply(
        inbound(
            CASE_ALERT,
            {
                "trm_case_ref": REMOTE_REF,
                "country_of_identification": "RO",
                "urgency": "normal",
                "requests": ["services"],
                "sending_organisation": {
                    "id": str(uuid.uuid4()),
                    "name": "Fictional NCP RO",
                    "country": "RO",
                },
            },
            conversation=REMOTE_REF,
        )
    )
    assert stored.case_id is not None
    return Case.objects.select_related("person").get(pk=stored.case_id)


def test_the_withdrawal_types_carry_nothing(peer):
    for name in (messages.WITHDRAWN, messages.WITHDRAWN_DONE):
        mtype = registry.message_type(name)
        assert mtype is not None and mtype.carried is not None
    notice = _withdrawn(uuid.uuid4()).payload
    withdrawn = registry.message_type(messages.WITHDRAWN)
    assert withdrawn is not None and withdrawn.carried is not None
    assert withdrawn.carried(notice) == set()


def test_a_case_found_only_by_its_reference_holds_nothing_of_the_consent(
    contact_point, peer
):
    """Nothing arrived here under that consent: the answer is "nothing held",
    the person (opened from a pseudonymous alert) is not erased and no
    restriction is put on the timeline."""
    case = _alerted()
    apply(_withdrawn(uuid.uuid4()))
    case.person.refresh_from_db()
    assert not case.person.is_erased
    assert not CaseEvent.objects.filter(case=case, kind="consent.restricted").exists()
    done = OutboxMessage.objects.get(type=messages.WITHDRAWN_DONE)
    assert payload_of(done)["outcome"] == "nothing_held"
    assert done.case_id == case.pk


def test_a_hook_holding_something_makes_it_restricted(contact_point, peer):
    case = _alerted()

    def hook(**kw: Any) -> str:
        return "restricted"

    messages.register_restriction_hook(hook)
    try:
        apply(_withdrawn(uuid.uuid4()))
    finally:
        messages.unregister_restriction_hook(hook)
    case.person.refresh_from_db()
    assert not case.person.is_erased
    done = OutboxMessage.objects.get(type=messages.WITHDRAWN_DONE)
    assert payload_of(done)["outcome"] == "restricted"
    assert CaseEvent.objects.filter(
        case=case, kind="consent.restricted", code="restricted"
    ).exists()


def test_a_withdrawal_outside_its_conversation_is_refused(contact_point, peer):
    from trm.cases.messages import NotLinked

    remote_consent = uuid.uuid4()
    case = _received_identity(remote_consent)
    notice = inbound(
        messages.WITHDRAWN,
        {
            "consent_ref": str(remote_consent),
            "trm_case_ref": REMOTE_REF,
            "categories": ["identity"],
            "effective_at": timezone.now().isoformat(),
        },
        conversation="",
        legal_basis=messages.withdrawal_basis(remote_consent),
    )
    with pytest.raises(NotLinked):
        apply(notice)
    case.person.refresh_from_db()
    assert not case.person.is_erased
    assert not OutboxMessage.objects.filter(type=messages.WITHDRAWN_DONE).exists()


def test_a_node_not_party_cannot_restrict_a_linked_case(contact_point, peer):
    from trm.cases.messages import NotParty

    remote_consent = uuid.uuid4()
    case = _received_identity(remote_consent)
    make_peer("peer-md", "MD")
    notice = inbound(
        messages.WITHDRAWN,
        {
            "consent_ref": str(remote_consent),
            "trm_case_ref": REMOTE_REF,
            "categories": ["identity"],
            "effective_at": timezone.now().isoformat(),
        },
        sender="peer-md",
        conversation=REMOTE_REF,
        legal_basis=messages.withdrawal_basis(remote_consent),
    )
    with pytest.raises(NotParty):
        apply(notice)
    case.person.refresh_from_db()
    assert not case.person.is_erased
    assert not CaseEvent.objects.filter(case=case, kind="consent.restricted").exists()
    assert not OutboxMessage.objects.filter(type=messages.WITHDRAWN_DONE).exists()


def test_a_confirmation_must_come_in_the_withdrawals_conversation(
    caseworker_a, case, peer
):
    from trm.cases.messages import NotLinked

    case.trm_case_ref = "dev-node-0123456789ab"
    case.save(update_fields=["trm_case_ref"])
    consent = record(caseworker_a, case)
    _delivered(send(case, consent, ["identity"], conversation=case.trm_case_ref))
    services.consent_withdraw(actor=caseworker_a, consent_id=consent.pk)
    notice = OutboxMessage.objects.get(type=messages.WITHDRAWN)
    body = {
        "consent_ref": str(consent.pk),
        "trm_case_ref": case.trm_case_ref,
        "outcome": "erased",
        "at": timezone.now().isoformat(),
    }
    with pytest.raises(NotLinked):
        apply(
            inbound(
                messages.WITHDRAWN_DONE,
                body,
                conversation="",
                in_reply_to=notice.msg_id,
            )
        )
    other = "dev-node-ffffffffffff"
    with pytest.raises(messages.UnknownReply):
        apply(
            inbound(
                messages.WITHDRAWN_DONE,
                {**body, "trm_case_ref": other},
                conversation=other,
                in_reply_to=notice.msg_id,
            )
        )
    assert not CaseEvent.objects.filter(
        case=case, kind="consent.withdrawal_confirmed"
    ).exists()


def test_a_withdrawal_about_no_case_gives_no_standing_on_a_later_one(
    contact_point, peer
):
    """A stranger's withdrawal answered "nothing held" before the case existed
    here does not make it party to the case opened later under that
    reference."""
    from trm.cases.messages import NotParty

    make_peer("peer-md", "MD")
    stranger: dict[str, Any] = {"sender": "peer-md", "conversation": REMOTE_REF}
    body = {
        "consent_ref": str(uuid.uuid4()),
        "trm_case_ref": REMOTE_REF,
        "categories": ["identity"],
        "effective_at": timezone.now().isoformat(),
    }
    apply(inbound(messages.WITHDRAWN, body, **stranger))
    done = OutboxMessage.objects.get(type=messages.WITHDRAWN_DONE)
    assert payload_of(done)["outcome"] == "nothing_held" and done.case_id is None
    case = _alerted()
    with pytest.raises(NotParty):
        apply(inbound(messages.WITHDRAWN, body, seq=2, **stranger))
    assert not CaseEvent.objects.filter(case=case, kind="consent.restricted").exists()
