"""Referrals across borders: referral.request / .response / .cancelled.

One test database plays both nodes: the referring node's services enqueue
messages in its outbox; the receiving node's handlers are called with the
:class:`~trm.exchange.registry.Inbound` the exchange's inbox would build, as if
the message came from the peer node "peer-md", inside a savepoint as the inbox
runs them. Where both sides would hold the same referral key or shared case
reference, the receiving side gets fresh ones.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from pydantic import BaseModel, ValidationError

from trm.accounts.models import Organisation, Role
from trm.audit.models import AuditEntry
from trm.cases.errors import TransitionNotAllowed
from trm.cases.identity import PersonIdentity
from trm.cases.models import Case, CaseEvent
from trm.cases.tests.factories import open_case
from trm.consent import services as consent_services
from trm.consent.errors import ConsentMissing
from trm.dataprotection import crypto
from trm.exchange import registry
from trm.exchange.errors import PeerUnavailable
from trm.exchange.models import OutboxMessage, OutboxStatus, Peer, PeerStatus
from trm.exchange.services import sealed_payload
from trm.referrals import messages, selectors, services
from trm.referrals.errors import (
    ExchangeMismatch,
    NotAcceptingReferrals,
    ReferralNotFound,
    RemoteNotSetUp,
)
from trm.referrals.models import Referral, ReferralMessage, Status
from trm.referrals.tests.factories import (
    RISK,
    SUMMARY,
    consent_for,
    draft,
    receiver_org,
    receiver_user,
)
from trm.referrals.transport import (
    register_remote_transport,
    remote_transport,
    unregister_remote_transport,
)

pytestmark = pytest.mark.django_db

PEER = "peer-md"


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _exchange_transport():
    """The exchange's transport, as ReferralsConfig.ready registers it."""
    previous = remote_transport()
    register_remote_transport(messages.send_over_exchange)
    yield
    if previous is None:
        unregister_remote_transport()
    else:
        register_remote_transport(previous)


@pytest.fixture(autouse=True)
def basis_checks():
    """Record the legal-basis checks of enqueue, passing them on to the consent
    app's gate when it is registered (a recording fake otherwise)."""
    real = registry.legal_basis_check()
    calls: list[dict[str, Any]] = []

    def check(**kwargs: Any) -> None:
        calls.append(kwargs)
        if real is not None:
            real(**kwargs)

    registry.register_legal_basis_check(check)
    yield calls
    if real is not None:
        registry.register_legal_basis_check(real)
    else:
        registry._legal_basis_checks.clear()


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def peer(db):
    return Peer.objects.create(
        node_id=PEER,
        name="Fictional peer node (test)",
        country="MD",
        base_url="http://127.0.0.1:9",
        fingerprint="fictional-fingerprint",
    )


@pytest.fixture
def case(caseworker_a):
    return open_case(caseworker_a, given_names="Fictiona", family_names="Testova")


@pytest.fixture
def remote(peer):
    """The peer node's shelter as this node knows it (a mirror row)."""
    org = receiver_org("Fictional Remote Shelter", home_node=PEER)
    Organisation.objects.filter(pk=org.pk).update(remote_id=uuid.uuid4())
    org.refresh_from_db()
    return org


@pytest.fixture
def shelter(db):
    """This node's shelter, receiving referrals from the peer node."""
    return receiver_org("Fictional Local Shelter")


@pytest.fixture
def provider(shelter):
    return receiver_user(
        shelter,
        username="local-provider",
        first_name="Fictional",
        last_name="Provider",
        email="provider@example.test",
    )


def _send(actor, case, org, *, categories=("identity", "case_summary"), texts=None):
    consent = None
    if set(categories) - {"risk"}:
        consent = consent_for(actor, case, org, categories)
    referral = draft(actor, case, org, categories=categories, texts=texts)
    referral = services.referral_send(actor=actor, referral_id=referral.pk)
    return referral, consent


def _outbox(type_: str) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(type=type_).order_by("created_at", "seq"))


def inbound(
    type_: str,
    payload: BaseModel | dict[str, Any],
    *,
    conversation: str,
    sender: str = PEER,
    legal_basis: str = "pseudonymous",
    categories: tuple[str, ...] = (),
) -> registry.Inbound:
    """The Inbound the exchange's inbox builds: the payload validated from JSON."""
    mtype = registry.message_type(type_, 1)
    assert mtype is not None and mtype.handler is not None
    body = (
        payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
    )
    return registry.Inbound(
        sender=sender,
        sender_country="MD",
        msg_id=uuid.uuid4(),
        type=type_,
        version=1,
        conversation=conversation,
        seq=1,
        in_reply_to=None,
        legal_basis=legal_basis,
        categories=categories,
        sent_at=timezone.now(),
        reply_by=None,
        payload=mtype.schema.model_validate(body),
    )


def deliver(message: registry.Inbound) -> uuid.UUID | None:
    """Apply a message as the inbox does: its handler inside a savepoint."""
    mtype = registry.message_type(message.type, message.version)
    assert mtype is not None and mtype.handler is not None
    with transaction.atomic():
        return mtype.handler(message)


def peer_ref() -> str:
    return f"{PEER}-{uuid.uuid4().hex[:12]}"


def request_body(shelter: Organisation, **overrides: Any) -> dict[str, Any]:
    """A referral.request as the peer node sends it (fictional content)."""
    body: dict[str, Any] = {
        "trm_case_ref": peer_ref(),
        "exchange_key": str(uuid.uuid4()),
        "from_organisation": {
            "id": str(uuid.uuid4()),
            "name": "Fictional Referring NGO",
            "country": "MD",
            "org_type": "NGO",
        },
        "to_organisation_id": str(shelter.pk),
        "reason": "AdditionalServicesRequired",
        "services": ["shelter", "medical"],
        "urgency": "urgent",
        "reply_by": (timezone.now() + timedelta(hours=24)).isoformat(),
        "categories": ["identity", "case_summary", "risk"],
        "consent_ref": str(uuid.uuid4()),
        "risk_shared_without_consent": True,
        "shared": {
            "identity": {
                "given_names": "Fictiona",
                "family_names": "Peerova",
                "aliases": [],
                "birth_date": "1999-04-01",
                "birth_date_is_estimate": False,
                "place_of_birth": "Fictional Town",
            },
            "case_summary": SUMMARY,
        },
        "risk": RISK,
        "meeting": {
            "who": "Fictional escort (test)",
            "where": "Fictional station (test)",
            "at": (timezone.now() + timedelta(days=2)).isoformat(),
        },
        "person": {
            "gender": "Feminine",
            "age_band": "24--26",
            "presumed_child": False,
            "citizenships": ["MD"],
            "languages": ["ro"],
        },
    }
    body.update(overrides)
    return body


def receive(shelter: Organisation, **overrides: Any) -> tuple[Referral, dict[str, Any]]:
    body = request_body(shelter, **overrides)
    case_id = deliver(
        inbound(
            "referral.request",
            body,
            conversation=body["trm_case_ref"],
            legal_basis=f"consent:{body['consent_ref']}",
            categories=tuple(body["categories"]),
        )
    )
    referral = Referral.objects.get(exchange_key=body["exchange_key"])
    assert referral.case_id == case_id
    return referral, body


def _identity_of(case: Case) -> PersonIdentity:
    person = case.person
    raw = crypto.open_for(
        person.data_key_id, person.sealed_identity, context=person.identity_context()
    )
    assert raw is not None
    return PersonIdentity.model_validate_json(raw)


# --- schemas and registration ---------------------------------------------------------


def test_the_three_types_are_registered_with_their_categories():
    request = registry.message_type("referral.request", 1)
    response = registry.message_type("referral.response", 1)
    cancelled = registry.message_type("referral.cancelled", 1)
    assert request is not None and response is not None and cancelled is not None
    assert request.categories == {
        "identity",
        "documents",
        "contact",
        "case_summary",
        "health",
        "family",
        "legal",
        "risk",
    }
    assert "photo" not in request.categories
    assert response.categories == frozenset() == cancelled.categories
    assert all(t.handler is not None for t in (request, response, cancelled))


def test_the_request_schema_refuses_extra_fields_and_undeclared_content(shelter):
    schema = messages.ReferralRequestV1
    schema.model_validate(request_body(shelter))
    with pytest.raises(ValidationError):
        schema.model_validate({**request_body(shelter), "case_number": "BG-1"})
    with pytest.raises(ValidationError, match="beyond the categories"):
        schema.model_validate(
            request_body(shelter, categories=["case_summary", "risk"])
        )
    with pytest.raises(ValidationError, match="risk"):
        schema.model_validate(request_body(shelter, risk=""))
    with pytest.raises(ValidationError):
        schema.model_validate(request_body(shelter, categories=["photo"], shared={}))
    with pytest.raises(ValidationError):  # strict: a number is not a text
        schema.model_validate(request_body(shelter, reason=7))
    long = {**request_body(shelter)["shared"], "case_summary": "x" * 5001}
    with pytest.raises(ValidationError):
        schema.model_validate(request_body(shelter, shared=long))


def test_the_response_schema_needs_a_code_for_a_decline():
    key = str(uuid.uuid4())
    with pytest.raises(ValidationError):
        messages.ReferralResponseV1.model_validate(
            {"exchange_key": key, "outcome": "declined"}
        )
    with pytest.raises(ValidationError):
        messages.ReferralResponseV1.model_validate(
            {"exchange_key": key, "outcome": "accepted", "note": "x"}
        )
    with pytest.raises(ValidationError):
        messages.ReferralCancelledV1.model_validate(
            {"exchange_key": key, "status": "deleted"}
        )


# --- the referring node ---------------------------------------------------------------


def test_sending_to_a_peer_organisation_enqueues_a_referral_request(
    caseworker_a, case, remote, basis_checks, mailoutbox, commit
):
    with commit():
        referral, consent = _send(
            caseworker_a,
            case,
            remote,
            texts={"case_summary": SUMMARY, "risk": RISK},
        )
    [out] = _outbox("referral.request")
    case.refresh_from_db()
    assert re.fullmatch(r"test-node-[0-9a-f]{12}", case.trm_case_ref)
    assert out.peer.node_id == PEER
    assert out.conversation == case.trm_case_ref
    assert out.seq == 1
    assert out.case_id == case.pk
    assert out.categories == ["case_summary", "identity", "risk"]
    assert out.legal_basis == f"consent:{consent.pk}"
    assert out.status == OutboxStatus.PENDING
    assert out.reply_by == referral.reply_by
    # The gate was asked about the personal categories, for the organisation.
    [check] = basis_checks
    assert check["organisation_id"] == remote.pk
    assert check["categories"] == ["case_summary", "identity"]
    assert check["case_id"] == case.pk
    payload = sealed_payload(out)
    assert payload["trm_case_ref"] == case.trm_case_ref
    assert payload["exchange_key"] == str(referral.exchange_key)
    assert payload["to_organisation_id"] == str(remote.remote_id)
    assert payload["from_organisation"]["id"] == str(caseworker_a.organisation_id)
    assert payload["consent_ref"] == str(consent.pk)
    shared = {k for k, v in payload["shared"].items() if v is not None}
    assert shared == {"identity", "case_summary"}
    assert payload["shared"]["identity"]["family_names"] == "Testova"
    assert payload["risk"] == RISK
    assert payload["person"]["citizenships"] == ["RO"]
    # Nothing identifies the case outside the payload, which is sealed.
    assert case.number not in str(payload)
    assert case.number not in case.trm_case_ref
    assert b"Testova" not in bytes(out.payload_sealed)
    # No e-mail on this node: the receiver is told on its own node.
    assert mailoutbox == []
    [record] = ReferralMessage.objects.filter(referral=referral)
    assert (record.msg_id, record.direction) == (out.msg_id, "out")


def test_only_risk_travels_pseudonymously(caseworker_a, case, remote, basis_checks):
    _send(caseworker_a, case, remote, categories=(), texts={"risk": RISK})
    [out] = _outbox("referral.request")
    assert out.legal_basis == "pseudonymous"
    assert out.categories == ["risk"]
    assert basis_checks == []
    payload = sealed_payload(out)
    assert payload["consent_ref"] is None
    assert payload["risk_shared_without_consent"] is True
    assert all(v is None for v in payload["shared"].values())


def test_a_refused_send_enqueues_nothing(caseworker_a, case, remote):
    referral = draft(caseworker_a, case, remote)
    with pytest.raises(ConsentMissing):
        services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    assert OutboxMessage.objects.count() == 0
    assert not ReferralMessage.objects.exists()
    case.refresh_from_db()
    assert case.trm_case_ref == ""


def test_a_disabled_peer_refuses_the_send_and_nothing_is_written(
    caseworker_a, case, remote, peer
):
    Peer.objects.filter(pk=peer.pk).update(status=PeerStatus.DISABLED)
    consent_for(caseworker_a, case, remote)
    referral = draft(caseworker_a, case, remote)
    with pytest.raises(PeerUnavailable):
        services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    referral.refresh_from_db()
    assert referral.status == Status.DRAFT and referral.sealed_shared is None
    assert OutboxMessage.objects.count() == 0


def test_cancelling_enqueues_referral_cancelled_in_the_same_conversation(
    caseworker_a, case, remote
):
    referral, _consent = _send(caseworker_a, case, remote)
    services.referral_cancel(
        actor=caseworker_a, referral_id=referral.pk, reason="person_moved"
    )
    [request] = _outbox("referral.request")
    [cancel] = _outbox("referral.cancelled")
    assert cancel.conversation == request.conversation
    assert cancel.seq == request.seq + 1
    assert cancel.legal_basis == "pseudonymous" and cancel.categories == []
    assert sealed_payload(cancel) == {
        "exchange_key": str(referral.exchange_key),
        "status": "cancelled",
        "reason": "person_moved",
    }


def test_withdrawing_the_consent_enqueues_a_revocation(caseworker_a, case, remote):
    referral, consent = _send(caseworker_a, case, remote)
    consent_services.consent_withdraw(actor=caseworker_a, consent_id=consent.pk)
    [cancel] = _outbox("referral.cancelled")
    assert sealed_payload(cancel)["status"] == "revoked"
    referral.refresh_from_db()
    assert referral.status == Status.REVOKED
    # The request had not left: the consent app withdrew it from the outbox,
    # and the referral's page says so.
    states = {
        d.message.type: d.state
        for d in selectors.exchange_deliveries(referral=referral)
    }
    assert states == {"referral.request": "cancelled", "referral.cancelled": "waiting"}


# --- the receiving node ---------------------------------------------------------------


def test_a_request_opens_a_linked_case_and_a_sent_referral(
    peer, shelter, provider, mailoutbox, commit
):
    with commit():
        referral, body = receive(shelter)
    case = referral.case
    assert case.trm_case_ref == body["trm_case_ref"]
    assert case.transnational == "linked"
    assert case.lead_organisation == shelter
    assert case.person.citizenships == ["MD"] and case.person.age_band == "24--26"
    assert _identity_of(case).family_names == "Peerova"
    mirror = referral.from_organisation
    assert mirror.home_node == PEER
    assert str(mirror.remote_id) == body["from_organisation"]["id"]
    assert mirror.name == "Fictional Referring NGO"
    assert referral.to_organisation == shelter
    assert referral.status == Status.SENT and referral.sent_at is not None
    assert referral.consent is None
    assert str(referral.remote_consent_ref) == body["consent_ref"]
    assert referral.categories == ["identity", "case_summary", "risk"]
    assert referral.urgency == "urgent"
    assert [t.to_status for t in referral.transitions.all()] == ["draft", "sent"]
    assert CaseEvent.objects.filter(case=case, kind="sop2.referral_sent").exists()
    # The receiving organisation sees it in its inbox, with what was shared.
    assert list(selectors.inbox_for_user(user=provider)) == [referral]
    view = selectors.shared_for_receiver(user=provider, referral=referral)
    assert view.readable
    assert view.shared is not None
    assert view.shared["identity"]["family_names"] == "Peerova"
    assert view.shared["case_summary"] == SUMMARY
    assert view.risk == RISK
    assert view.meeting is not None and view.meeting.who == "Fictional escort (test)"
    # Sealed under this node's person key: nothing personal in clear.
    assert b"Peerova" not in bytes(referral.sealed_shared or b"")
    assert [m.to for m in mailoutbox] == [[provider.email]]
    assert "Peerova" not in mailoutbox[0].body
    assert ReferralMessage.objects.filter(referral=referral, direction="in").exists()


def test_a_second_delivery_of_the_request_creates_nothing(peer, shelter, provider):
    referral, body = receive(shelter)
    counts = (
        Referral.objects.count(),
        Case.objects.count(),
        Organisation.objects.count(),
        CaseEvent.objects.count(),
    )
    again = inbound(
        "referral.request",
        body,
        conversation=body["trm_case_ref"],
        legal_basis=f"consent:{body['consent_ref']}",
        categories=tuple(body["categories"]),
    )
    assert deliver(again) == referral.case_id
    assert (
        Referral.objects.count(),
        Case.objects.count(),
        Organisation.objects.count(),
        CaseEvent.objects.count(),
    ) == counts


def test_a_second_referral_of_the_same_case_reuses_the_linked_case(
    peer, shelter, provider
):
    first, body = receive(shelter)
    second, _body = receive(
        shelter,
        trm_case_ref=body["trm_case_ref"],
        from_organisation=body["from_organisation"],
        categories=["case_summary"],
        shared={"case_summary": SUMMARY},
        risk="",
    )
    assert second.case_id == first.case_id
    assert second.from_organisation == first.from_organisation
    assert Case.objects.filter(trm_case_ref=body["trm_case_ref"]).count() == 1


def test_without_the_identity_category_the_linked_case_holds_no_identity(peer, shelter):
    referral, _body = receive(
        shelter,
        categories=["case_summary"],
        shared={"case_summary": SUMMARY},
        risk="",
        risk_shared_without_consent=False,
    )
    assert _identity_of(referral.case) == PersonIdentity()


@pytest.mark.parametrize(
    ("organisation", "reason"),
    [("unknown", "unknown"), ("closed", "not_accepting"), ("mirror", "unknown")],
)
def test_a_request_for_an_organisation_that_cannot_receive_is_refused(
    peer, remote, organisation, reason
):
    target = {
        "unknown": lambda: uuid.uuid4(),
        "closed": lambda: receiver_org("Fictional Full Shelter", accepts=False).pk,
        # An organisation of a peer node is not one of this node's.
        "mirror": lambda: remote.pk,
    }[organisation]()
    cases, orgs = Case.objects.count(), Organisation.objects.count()
    body = request_body(Organisation(pk=target))
    message = inbound(
        "referral.request",
        body,
        conversation=body["trm_case_ref"],
        categories=tuple(body["categories"]),
    )
    with pytest.raises(NotAcceptingReferrals) as refused:
        deliver(message)
    assert refused.value.details["reason"] == reason
    assert Case.objects.count() == cases
    assert Organisation.objects.count() == orgs
    assert not Referral.objects.filter(exchange_key=body["exchange_key"]).exists()


def test_a_request_in_another_conversation_is_refused(peer, shelter):
    body = request_body(shelter)
    message = inbound(
        "referral.request",
        body,
        conversation=peer_ref(),
        categories=tuple(body["categories"]),
    )
    with pytest.raises(ExchangeMismatch) as refused:
        deliver(message)
    assert refused.value.details["reason"] == "conversation"
    assert not Case.objects.filter(trm_case_ref=body["trm_case_ref"]).exists()


def test_a_request_sharing_more_than_its_envelope_declares_is_refused(peer, shelter):
    body = request_body(shelter)
    message = inbound(
        "referral.request",
        body,
        conversation=body["trm_case_ref"],
        legal_basis=f"consent:{body['consent_ref']}",
        categories=("case_summary", "risk"),
    )
    with pytest.raises(ExchangeMismatch) as refused:
        deliver(message)
    assert refused.value.details["categories"] == ["identity"]
    assert not Referral.objects.filter(exchange_key=body["exchange_key"]).exists()


def test_a_referring_organisation_whose_name_is_taken_gets_the_node_added(
    peer, shelter
):
    receiver_org("Fictional Referring NGO")
    referral, _body = receive(shelter)
    assert referral.from_organisation.name == f"Fictional Referring NGO ({PEER})"


def test_accepting_on_the_receiving_node_enqueues_a_response(
    peer, shelter, provider, mailoutbox, commit
):
    referral, body = receive(shelter)
    with commit():
        services.referral_accept(actor=provider, referral_id=referral.pk)
    [out] = _outbox("referral.response")
    assert out.peer == peer
    assert out.conversation == body["trm_case_ref"]
    assert out.legal_basis == "pseudonymous" and out.categories == []
    assert out.case_id == referral.case_id
    assert sealed_payload(out) == {
        "exchange_key": body["exchange_key"],
        "outcome": "accepted",
        "code": "",
        "case_manager": "Fictional Provider",
        "services_offered": ["shelter", "medical"],
        "carer_confirmed": None,
        "receiver_case_ref": referral.case.number,
    }
    # The referring user is on the other node: no e-mail here.
    assert mailoutbox == []


def test_a_decline_and_feedback_send_codes_never_texts(peer, shelter, provider):
    referral, _body = receive(shelter)
    services.referral_decline(
        actor=provider,
        referral_id=referral.pk,
        reason="other",
        text="Fictional private explanation (test).",
    )
    [declined] = _outbox("referral.response")
    payload = sealed_payload(declined)
    assert (payload["outcome"], payload["code"]) == ("declined", "other")
    assert "Fictional private explanation" not in str(payload)
    other, _body = receive(shelter)
    services.referral_accept(actor=provider, referral_id=other.pk)
    services.referral_feedback(
        actor=provider,
        referral_id=other.pk,
        outcome="other",
        text="Fictional feedback text (test).",
    )
    feedback = _outbox("referral.response")[-1]
    payload = sealed_payload(feedback)
    assert (payload["outcome"], payload["code"]) == ("feedback", "other")
    assert "Fictional feedback text" not in str(payload)


def test_an_answer_that_cannot_travel_is_refused(peer, shelter, provider):
    referral, _body = receive(shelter)
    unregister_remote_transport()
    with pytest.raises(RemoteNotSetUp):
        services.referral_accept(actor=provider, referral_id=referral.pk)
    referral.refresh_from_db()
    assert referral.status == Status.SENT


def test_a_revocation_destroys_the_received_copy_but_the_risk(
    peer, shelter, provider, mailoutbox, commit
):
    referral, body = receive(shelter)
    services.referral_accept(actor=provider, referral_id=referral.pk)
    ended = {"exchange_key": body["exchange_key"], "status": "revoked"}
    with commit():
        case_id = deliver(
            inbound("referral.cancelled", ended, conversation=body["trm_case_ref"])
        )
    assert case_id == referral.case_id
    referral.refresh_from_db()
    assert referral.status == Status.REVOKED
    assert referral.sealed_shared is None
    assert referral.content_destroyed_at is not None
    assert referral.sealed_risk is not None
    step = referral.transitions.get(to_status="revoked")
    assert step.actor is not None
    assert step.actor.username.startswith(f"node.{PEER}.")
    view = selectors.shared_for_receiver(user=provider, referral=referral)
    assert not view.readable and view.shared is None
    assert [m.to for m in mailoutbox] == [[provider.email]]
    assert "revoked" in mailoutbox[0].subject


def test_a_cancellation_cancels_the_received_copy(peer, shelter, provider):
    referral, body = receive(shelter)
    ended = {
        "exchange_key": body["exchange_key"],
        "status": "cancelled",
        "reason": "person_moved",
    }
    deliver(inbound("referral.cancelled", ended, conversation=body["trm_case_ref"]))
    referral.refresh_from_db()
    assert referral.status == Status.CANCELLED
    assert referral.outcome_code == "person_moved"
    assert referral.sealed_shared is not None  # as a domestic cancellation
    assert not selectors.shared_for_receiver(user=provider, referral=referral).readable
    # Again: nothing more happens.
    before = referral.transitions.count()
    deliver(inbound("referral.cancelled", ended, conversation=body["trm_case_ref"]))
    assert referral.transitions.count() == before


def test_ending_a_referral_that_never_arrived_changes_nothing(peer):
    ended = {"exchange_key": str(uuid.uuid4()), "status": "revoked"}
    assert (
        deliver(inbound("referral.cancelled", ended, conversation=peer_ref())) is None
    )


def test_another_node_cannot_end_a_received_referral(peer, shelter):
    referral, body = receive(shelter)
    ended = {"exchange_key": body["exchange_key"], "status": "revoked"}
    message = inbound(
        "referral.cancelled", ended, conversation=body["trm_case_ref"], sender="peer-xx"
    )
    assert deliver(message) is None
    referral.refresh_from_db()
    assert referral.status == Status.SENT and referral.sealed_shared is not None


def test_a_consent_withdrawn_abroad_revokes_the_copies_made_under_it(peer, shelter):
    from trm.referrals.receiving import restrict_received

    referral, body = receive(shelter)
    other, _body = receive(
        shelter,
        trm_case_ref=body["trm_case_ref"],
        from_organisation=body["from_organisation"],
    )
    with transaction.atomic():
        done = restrict_received(
            case=referral.case,
            peer_node=PEER,
            consent_ref=uuid.UUID(body["consent_ref"]),
            categories=["identity"],
        )
    assert done == "restricted"
    referral.refresh_from_db()
    other.refresh_from_db()
    assert referral.status == Status.REVOKED and referral.sealed_shared is None
    assert other.status == Status.SENT and other.sealed_shared is not None
    assert (
        restrict_received(
            case=referral.case,
            peer_node="peer-xx",
            consent_ref=uuid.UUID(body["consent_ref"]),
            categories=["identity"],
        )
        is None
    )


# --- the answer back on the referring node --------------------------------------------


def _response(referral: Referral, outcome: str, code: str = "") -> dict[str, Any]:
    return {
        "exchange_key": str(referral.exchange_key),
        "outcome": outcome,
        "code": code,
        "case_manager": "Fictional Case Manager (test)",
        "services_offered": ["shelter"],
        "receiver_case_ref": "MD-2026-00001",
    }


def test_the_response_moves_the_referral_through_the_receiver_services(
    caseworker_a, case, remote, mailoutbox, commit
):
    caseworker_a.email = "caseworker@example.test"
    caseworker_a.save()
    referral, _consent = _send(caseworker_a, case, remote)
    case.refresh_from_db()
    with commit():
        assert (
            deliver(
                inbound(
                    "referral.response",
                    _response(referral, "accepted"),
                    conversation=case.trm_case_ref,
                )
            )
            == case.pk
        )
    referral.refresh_from_db()
    assert referral.status == Status.ACCEPTED
    step = referral.transitions.get(to_status="accepted")
    assert step.actor.username.startswith(f"node.{PEER}.")
    assert step.actor.organisation == remote
    assert step.actor.has_role(Role.SERVICE_PROVIDER)
    assert AuditEntry.objects.filter(
        action="referrals.accept", target_id=str(referral.pk)
    ).exists()
    assert [m.to for m in mailoutbox] == [[caseworker_a.email]]
    assert "accepted" in mailoutbox[0].subject
    # The same answer again (a re-sent message) changes nothing.
    before = referral.transitions.count()
    deliver(
        inbound(
            "referral.response",
            _response(referral, "accepted"),
            conversation=case.trm_case_ref,
        )
    )
    assert referral.transitions.count() == before
    for outcome, status in (
        ("started", Status.IN_PROGRESS),
        ("completed", Status.COMPLETED),
    ):
        deliver(
            inbound(
                "referral.response",
                _response(referral, outcome),
                conversation=case.trm_case_ref,
            )
        )
        referral.refresh_from_db()
        assert referral.status == status
    deliver(
        inbound(
            "referral.response",
            _response(referral, "feedback", "arrived"),
            conversation=case.trm_case_ref,
        )
    )
    [feedback] = referral.feedback.all()
    assert (feedback.outcome, feedback.side) == ("arrived", "receiver")
    assert referral.exchange_messages.filter(direction="in").count() == 5
    # The referring node does not answer its own receiver back.
    assert _outbox("referral.response") == []


def test_a_decline_other_arrives_with_a_note_instead_of_the_text(
    caseworker_a, case, remote
):
    referral, _consent = _send(caseworker_a, case, remote)
    case.refresh_from_db()
    deliver(
        inbound(
            "referral.response",
            _response(referral, "declined", "other"),
            conversation=case.trm_case_ref,
        )
    )
    referral.refresh_from_db()
    assert referral.status == Status.DECLINED and referral.outcome_code == "other"
    detail = selectors.referral_detail(user=caseworker_a, referral=referral)
    assert detail.outcome_text is not None and PEER in detail.outcome_text


def test_a_response_from_another_node_is_refused(caseworker_a, case, remote):
    referral, _consent = _send(caseworker_a, case, remote)
    case.refresh_from_db()
    with pytest.raises(ReferralNotFound):
        deliver(
            inbound(
                "referral.response",
                _response(referral, "accepted"),
                conversation=case.trm_case_ref,
                sender="peer-xx",
            )
        )
    referral.refresh_from_db()
    assert referral.status == Status.SENT


def test_a_response_that_does_not_fit_the_state_is_refused(caseworker_a, case, remote):
    referral, _consent = _send(caseworker_a, case, remote)
    case.refresh_from_db()
    with pytest.raises(TransitionNotAllowed, match="cannot be changed"):
        deliver(
            inbound(
                "referral.response",
                _response(referral, "completed"),
                conversation=case.trm_case_ref,
            )
        )
    referral.refresh_from_db()
    assert referral.status == Status.SENT


def test_an_answer_crossing_the_cancellation_changes_nothing(
    caseworker_a, case, remote
):
    referral, _consent = _send(caseworker_a, case, remote)
    services.referral_cancel(
        actor=caseworker_a, referral_id=referral.pk, reason="person_moved"
    )
    case.refresh_from_db()
    deliver(
        inbound(
            "referral.response",
            _response(referral, "accepted"),
            conversation=case.trm_case_ref,
        )
    )
    referral.refresh_from_db()
    assert referral.status == Status.CANCELLED
    assert AuditEntry.objects.filter(action="referrals.remote_answer_ignored").exists()


# --- both nodes, one after the other --------------------------------------------------


def test_a_referral_abroad_round_trip(caseworker_a, case, peer, shelter, provider):
    """The referring node's request applied on the receiving node, the
    receiver's acceptance applied back on the referring node."""
    # On the referring node, the receiving shelter is a peer organisation
    # whose id there is `shelter.pk`.
    mirror = receiver_org("Fictional Shelter abroad", home_node=PEER)
    Organisation.objects.filter(pk=mirror.pk).update(remote_id=shelter.pk)
    mirror.refresh_from_db()
    sent, consent = _send(
        caseworker_a, case, mirror, texts={"case_summary": SUMMARY, "risk": RISK}
    )
    [request] = _outbox("referral.request")
    body = sealed_payload(request)
    # Both nodes share this database: the receiving side gets its own key and
    # reference, as it would hold them in its own database.
    body = {**body, "exchange_key": str(uuid.uuid4()), "trm_case_ref": peer_ref()}
    deliver(
        inbound(
            "referral.request",
            body,
            conversation=body["trm_case_ref"],
            legal_basis=request.legal_basis,
            categories=tuple(request.categories),
        )
    )
    copy = Referral.objects.get(exchange_key=body["exchange_key"])
    assert copy.to_organisation == shelter and copy.status == Status.SENT
    assert copy.remote_consent_ref == consent.pk
    assert copy.from_organisation.remote_id == caseworker_a.organisation_id
    assert _identity_of(copy.case).family_names == "Testova"
    services.referral_accept(actor=provider, referral_id=copy.pk)
    [answer] = _outbox("referral.response")
    response = {**sealed_payload(answer), "exchange_key": str(sent.exchange_key)}
    case.refresh_from_db()
    deliver(inbound("referral.response", response, conversation=case.trm_case_ref))
    sent.refresh_from_db()
    assert sent.status == Status.ACCEPTED


# --- what the referring team sees of the delivery -------------------------------------


def test_the_referral_page_shows_the_delivery_of_its_messages(
    caseworker_a, case, remote, signed_in
):
    referral, _consent = _send(caseworker_a, case, remote)
    client = signed_in(caseworker_a)
    url = reverse("referrals:detail", args=[referral.pk])
    page = client.get(url).content.decode()
    assert "Waiting to be delivered" in page
    [out] = _outbox("referral.request")
    OutboxMessage.objects.filter(pk=out.pk).update(
        status=OutboxStatus.REJECTED,
        receipt_claims={
            "status": "rejected",
            "code": "refused:referrals.not_accepting",
        },
    )
    page = client.get(url).content.decode()
    assert "Rejected by the receiving node (refused:referrals.not_accepting)" in page
    assert 'role="alert"' in page
    OutboxMessage.objects.filter(pk=out.pk).update(
        status=OutboxStatus.DEAD, last_error="connect_error"
    )
    page = client.get(url).content.decode()
    assert "Delivery failed — the national contact point was told" in page
    delivered = timezone.now()
    OutboxMessage.objects.filter(pk=out.pk).update(
        status=OutboxStatus.SENT, sent_at=delivered
    )
    [delivery] = selectors.exchange_deliveries(referral=referral)
    assert (delivery.state, delivery.at) == ("delivered", delivered)
    assert "Delivered" in client.get(url).content.decode()


def test_a_domestic_referral_shows_no_exchange(caseworker_a, case, shelter, signed_in):
    referral, _consent = _send(caseworker_a, case, shelter)
    url = reverse("referrals:detail", args=[referral.pk])
    page = signed_in(caseworker_a).get(url).content.decode()
    assert "Messages with the other node" not in page
    assert selectors.exchange_deliveries(referral=referral) == []


# --- through the exchange's inbox -----------------------------------------------------


def test_a_request_through_the_exchange_inbox(shelter, provider):
    """A signed and encrypted referral.request from the peer node, received by
    the exchange's inbox, is applied by the handler; a refusal comes back as
    the signed rejection ``refused:<code>``."""
    from trm.exchange import inbox, nodekeys
    from trm.exchange.models import InboxMessage, InboxStatus
    from trm.exchange.tests.conftest import FakePeer

    nodekeys.init_keys()
    fake = FakePeer(PEER)
    Peer.objects.create(
        node_id=PEER,
        country="MD",
        base_url="http://127.0.0.1:9",
        keys=fake.jwks,
        fingerprint=fake.sig_jwk["kid"],
    )
    body = request_body(shelter)
    envelope, _claims = fake.envelope(
        body,
        type="referral.request",
        conversation=body["trm_case_ref"],
        seq=1,
        categories=body["categories"],
        legal_basis=f"consent:{body['consent_ref']}",
    )
    answer = inbox.receive(envelope)
    assert answer.status_code == 202, answer.json_body
    referral = Referral.objects.get(exchange_key=body["exchange_key"])
    stored = InboxMessage.objects.get(type="referral.request")
    assert stored.status == InboxStatus.APPLIED
    assert stored.case_id == referral.case_id
    assert list(selectors.inbox_for_user(user=provider)) == [referral]
    refused = request_body(
        Organisation(pk=uuid.uuid4()), trm_case_ref=body["trm_case_ref"]
    )
    envelope, _claims = fake.envelope(
        refused,
        type="referral.request",
        conversation=body["trm_case_ref"],
        seq=2,
        categories=refused["categories"],
        legal_basis=f"consent:{refused['consent_ref']}",
    )
    answer = inbox.receive(envelope)
    assert answer.json_body["code"] == "refused:referrals.not_accepting"
    assert not Referral.objects.filter(exchange_key=refused["exchange_key"]).exists()


# --- review fixes: what a request carries; who may act on a linked case ---------------


def _carried(body: dict[str, Any]) -> set[str]:
    mtype = registry.message_type(messages.REQUEST, 1)
    assert mtype is not None and mtype.carried is not None
    return mtype.carried(mtype.schema.model_validate(body))


def test_a_request_carries_its_snapshot_its_risk_and_its_categories(shelter):
    assert _carried(request_body(shelter)) == {"identity", "case_summary", "risk"}
    risk_only = request_body(
        shelter, categories=["risk"], shared={}, consent_ref=None, risk=RISK
    )
    assert _carried(risk_only) == {"risk"}
    nothing = request_body(shelter, categories=[], shared={}, risk="")
    assert _carried(nothing) == set()
    for name in (messages.RESPONSE, messages.CANCELLED):
        mtype = registry.message_type(name, 1)
        assert mtype is not None and mtype.carried is not None
    response = registry.message_type(messages.RESPONSE, 1)
    assert response is not None and response.carried is not None
    answer = {"exchange_key": str(uuid.uuid4()), "outcome": "accepted"}
    assert response.carried(response.schema.model_validate(answer)) == set()


def test_a_request_carrying_identity_declared_pseudonymous_is_refused_at_enqueue(
    peer, shelter
):
    from trm.exchange import services as exchange
    from trm.exchange.errors import MessageInvalid

    body = request_body(shelter)
    with pytest.raises(MessageInvalid) as caught, transaction.atomic():
        exchange.enqueue(
            to_node=PEER,
            type=messages.REQUEST,
            payload=body,
            legal_basis=exchange.PSEUDONYMOUS,
            categories=["risk"],
            conversation=body["trm_case_ref"],
        )
    assert caught.value.details["categories"] == ["case_summary", "identity"]
    assert not OutboxMessage.objects.exists()


def test_a_request_carrying_identity_declared_pseudonymous_is_rejected_by_the_inbox(
    shelter,
):
    from trm.cases.tests.inbox_fakes import deliver as through_inbox
    from trm.cases.tests.inbox_fakes import signed_peer

    fake = signed_peer(PEER, "MD")
    body = request_body(shelter)
    answer = through_inbox(
        fake,
        messages.REQUEST,
        body,
        conversation=body["trm_case_ref"],
        legal_basis="pseudonymous",
        categories=[],
    )
    assert answer.status_code == 422
    assert answer.json_body["code"] == "category_not_allowed"
    assert not Referral.objects.filter(exchange_key=body["exchange_key"]).exists()
    assert not Case.objects.filter(trm_case_ref=body["trm_case_ref"]).exists()


def test_a_request_outside_any_conversation_is_refused(peer, shelter):
    body = request_body(shelter)
    message = inbound(
        "referral.request",
        body,
        conversation="",
        legal_basis=f"consent:{body['consent_ref']}",
        categories=tuple(body["categories"]),
    )
    with pytest.raises(ExchangeMismatch) as refused:
        deliver(message)
    assert refused.value.details["reason"] == "conversation"


def test_a_node_not_party_cannot_add_a_referral_to_a_linked_case(peer, shelter):
    from trm.cases.messages import NotParty
    from trm.cases.tests.exchange_fakes import make_peer

    referral, body = receive(shelter)
    make_peer("peer-xx", "XX")
    stranger = request_body(shelter, trm_case_ref=body["trm_case_ref"])
    message = inbound(
        "referral.request",
        stranger,
        conversation=stranger["trm_case_ref"],
        sender="peer-xx",
        legal_basis=f"consent:{stranger['consent_ref']}",
        categories=tuple(stranger["categories"]),
    )
    with pytest.raises(NotParty):
        deliver(message)
    assert not Referral.objects.filter(exchange_key=stranger["exchange_key"]).exists()
    assert Referral.objects.filter(case=referral.case).count() == 1
    # The node that opened the case may add another referral to it.
    again = request_body(shelter, trm_case_ref=body["trm_case_ref"])
    deliver(
        inbound(
            "referral.request",
            again,
            conversation=again["trm_case_ref"],
            legal_basis=f"consent:{again['consent_ref']}",
            categories=tuple(again["categories"]),
        )
    )
    assert Referral.objects.filter(case=referral.case).count() == 2


def test_an_answer_or_end_outside_the_conversation_is_refused(
    caseworker_a, case, remote, peer, shelter
):
    referral, _consent = _send(caseworker_a, case, remote)
    with pytest.raises(ExchangeMismatch):
        deliver(
            inbound(
                "referral.response", _response(referral, "accepted"), conversation=""
            )
        )
    received, body = receive(shelter)
    ended = {"exchange_key": body["exchange_key"], "status": "revoked"}
    with pytest.raises(ExchangeMismatch):
        deliver(inbound("referral.cancelled", ended, conversation=""))
    referral.refresh_from_db()
    received.refresh_from_db()
    assert referral.status == Status.SENT and received.status == Status.SENT


def test_an_answer_to_a_request_that_never_left_is_refused(caseworker_a, case, remote):
    """The request was cancelled before it left: the node it was for never
    became party to the case, whatever it claims to answer."""
    from trm.cases.messages import NotParty
    from trm.exchange import services as exchange

    referral, _consent = _send(caseworker_a, case, remote)
    [request] = _outbox(messages.REQUEST)
    with transaction.atomic():
        exchange.cancel_pending_for_basis(legal_basis=request.legal_basis)
    case.refresh_from_db()
    with pytest.raises(NotParty):
        deliver(
            inbound(
                "referral.response",
                _response(referral, "accepted"),
                conversation=case.trm_case_ref,
            )
        )
    referral.refresh_from_db()
    assert referral.status == Status.SENT


def test_ending_an_unknown_referral_does_not_make_a_node_party(peer, shelter):
    """Applied, but about no case here: it gives the stranger no standing."""
    from trm.cases.messages import NotParty
    from trm.cases.tests.exchange_fakes import apply, make_peer

    referral, body = receive(shelter)
    make_peer("peer-xx", "XX")
    reference = body["trm_case_ref"]
    ended = {"exchange_key": str(uuid.uuid4()), "status": "cancelled"}
    stored = apply(
        inbound("referral.cancelled", ended, conversation=reference, sender="peer-xx")
    )
    assert stored.case_id is None
    stranger = request_body(shelter, trm_case_ref=reference)
    with pytest.raises(NotParty):
        deliver(
            inbound(
                "referral.request",
                stranger,
                conversation=reference,
                sender="peer-xx",
                legal_basis=f"consent:{stranger['consent_ref']}",
                categories=tuple(stranger["categories"]),
            )
        )
    assert Referral.objects.filter(case=referral.case).count() == 1
