"""Identity checks through the exchange for people (SOPS §6.4 M2; rule 6).

The sending node's form and API (the peer of the person's claimed nationality,
the consent gate, never for an asylum applicant), the receiving node's list
and answer form, and the answer shown on the asking case. One database plays
both nodes at the handler level (:mod:`trm.cases.tests.exchange_fakes`). All
data is synthetic.
"""

from __future__ import annotations

import html as html_lib
import uuid
from typing import Any

import pytest
from conftest import sign_in_verified
from django.test import Client
from django.urls import reverse
from tests.test_accessibility import assert_invalid_fields_described, assert_page_basics

from trm.accounts.models import Role
from trm.accounts.tests.factories import UserFactory
from trm.accounts.tests.helpers import message_texts
from trm.cases.models import Case, CaseEvent
from trm.cases.tests.exchange_fakes import (
    apply,
    inbound,
    make_peer,
    payload_of,
    reply_to,
)
from trm.cases.tests.factories import adult_birth_date, open_case, team_member
from trm.consent import services as consent
from trm.exchange.models import OutboxMessage
from trm.identification import contacts
from trm.identification import messages as verify
from trm.sop import loader

pytestmark = pytest.mark.django_db

FAMILY_NAME = "Verifica-Fictiv"
REMOTE_REF = "peer-ro-0a1b2c3d4e5f"
OBLIGATION = "Fictional Readmission Act art. 12"


@pytest.fixture(autouse=True)
def _fresh_definitions():
    loader.clear_cache()
    yield
    loader.clear_cache()


@pytest.fixture
def peer():
    return make_peer("peer-ro", "RO")


@pytest.fixture
def case(caseworker_a):
    return open_case(
        caseworker_a,
        birth_date=adult_birth_date(),
        family_names=FAMILY_NAME,
        citizenships=["RO"],
    )


def url(name: str, case: Case) -> str:
    return reverse(f"identification:{name}", args=[case.pk])


def html(response: Any) -> str:
    return str(html_lib.unescape(response.content.decode()))


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


def exchange_form(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "channel": "exchange:peer-ro",
        "purpose": "identity_and_nationality",
        "note": "Fictional note",
    }
    data.update(overrides)
    return data


def sent() -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(type=verify.REQUEST))


def requested(case: Case) -> bool:
    return CaseEvent.objects.filter(
        case=case, kind="sop1.identity_verification_requested"
    ).exists()


def received_request(**overrides: Any) -> Any:
    payload: dict[str, Any] = {
        "trm_case_ref": REMOTE_REF,
        "purpose": "travel_documents",
        "identity": {"given_names": "Ion", "family_names": "Fictiv-Primit"},
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


def linked_case_from_peer() -> Case:
    stored = apply(received_request())
    assert stored.case_id is not None
    return Case.objects.get(pk=stored.case_id)


def api_client(user: Any) -> Client:
    client = Client()
    sign_in_verified(client, user)
    return client


def api_post(user: Any, path: str, body: dict[str, Any]) -> Any:
    return api_client(user).post(
        f"/api/v1/cases/{path}", body, content_type="application/json"
    )


# --- the sending node: the form -------------------------------------------------------


def test_the_form_offers_only_the_active_peer_of_the_persons_nationality(
    signed_in, caseworker_a, case, peer
):
    make_peer("peer-ro-old", "RO", active=False)
    make_peer("peer-md", "MD")

    page = html(signed_in(caseworker_a).get(url("identity_verification", case)))

    assert 'value="exchange:peer-ro"' in page
    assert "Through the exchange to Fictional node peer-ro (RO)" in page
    assert "exchange:peer-ro-old" not in page
    assert "exchange:peer-md" not in page
    assert FAMILY_NAME not in page


def test_without_a_peer_of_that_country_the_form_says_why(
    signed_in, caseworker_a, case
):
    make_peer("peer-md", "MD")

    page = html(signed_in(caseworker_a).get(url("identity_verification", case)))

    assert "exchange:" not in page
    assert (
        "no active peer node of the person's claimed nationality (RO) is "
        "connected to this node" in page
    )


def test_an_asylum_applicant_is_not_offered_the_exchange_and_is_told_why(
    signed_in, caseworker_a, peer
):
    case = open_case(caseworker_a, asylum_applicant=True, citizenships=["RO"])
    basis = transfer_consent(caseworker_a, case)
    client = signed_in(caseworker_a)

    page = html(client.get(url("identity_verification", case)))
    assert "exchange:peer-ro" not in page
    assert "applied for international protection" in page
    assert "must not be contacted" in page

    response = client.post(
        url("identity_verification", case), exchange_form(legal_basis=basis)
    )
    assert response.status_code == 400
    assert not sent() and not requested(case)


def test_a_request_through_the_exchange_under_consent_is_queued(
    signed_in, caseworker_a, case, peer
):
    basis = transfer_consent(caseworker_a, case)
    client = signed_in(caseworker_a)
    page = html(client.get(url("identity_verification", case)))
    assert f'value="{basis}"' in page
    assert "The person's consent to a transfer to Romania" in page

    response = client.post(
        url("identity_verification", case),
        exchange_form(legal_basis=basis, include_documents="on"),
        follow=True,
    )

    assert response.status_code == 200
    assert message_texts(response) == [
        "The verification request is queued for peer-ro; its answer will show on "
        "this case."
    ]
    [message] = sent()
    assert message.peer == peer and message.case_id == case.pk
    assert message.legal_basis == basis
    assert message.categories == ["documents", "identity"]
    assert payload_of(message)["identity"]["family_names"] == FAMILY_NAME
    event = CaseEvent.objects.get(
        case=case, kind="sop1.identity_verification_requested"
    )
    assert event.code == contacts.VerificationChannel.NATIONAL_CONTACT_POINT
    page = html(response)
    assert "Identity checks through the exchange" in page
    assert "no answer yet." in page


def test_a_consent_not_covering_documents_redisplays_with_what_is_missing(
    signed_in, caseworker_a, case, peer
):
    basis = transfer_consent(caseworker_a, case, categories=["identity"])

    response = signed_in(caseworker_a).post(
        url("identity_verification", case),
        exchange_form(legal_basis=basis, include_documents="on"),
    )

    assert response.status_code == 400
    page = html(response)
    assert "The consent does not cover: Identity documents." in page
    invalid = assert_invalid_fields_described(assert_page_basics(page))
    assert {e.attrs["name"] for e in invalid} == {"legal_basis"}
    assert "Fictional note" in page  # what was typed is kept
    assert not sent() and not requested(case)


def test_a_consent_naming_another_country_is_refused_at_the_basis(
    signed_in, caseworker_a, case, peer
):
    basis = transfer_consent(caseworker_a, case, recipient_country="MD")

    response = signed_in(caseworker_a).post(
        url("identity_verification", case), exchange_form(legal_basis=basis)
    )

    assert response.status_code == 400
    assert "The consent does not name RO." in html(response)
    assert not sent()


def test_a_legal_obligation_must_be_named(signed_in, caseworker_a, case, peer):
    client = signed_in(caseworker_a)
    response = client.post(
        url("identity_verification", case),
        exchange_form(legal_basis="legal_obligation"),
    )
    assert response.status_code == 400
    assert "Name the legal obligation (the law and article)." in html(response)
    assert not sent()

    response = client.post(
        url("identity_verification", case),
        exchange_form(legal_basis="legal_obligation", legal_obligation=OBLIGATION),
    )
    assert response.status_code == 302
    [message] = sent()
    assert message.legal_basis == f"legal_obligation:{OBLIGATION}"
    assert message.categories == ["identity"]


def test_the_exchange_needs_a_legal_basis_chosen(signed_in, caseworker_a, case, peer):
    response = signed_in(caseworker_a).post(
        url("identity_verification", case), exchange_form()
    )

    assert response.status_code == 400
    assert "Choose the basis on which the person's identity goes abroad." in html(
        response
    )
    assert not sent() and not requested(case)


def test_a_domestic_check_still_records_without_sending(
    signed_in, caseworker_a, case, peer
):
    response = signed_in(caseworker_a).post(
        url("identity_verification", case), {"channel": "domestic"}, follow=True
    )

    assert message_texts(response) == ["The verification request is recorded."]
    assert requested(case) and not sent()


def test_a_role_that_does_not_verify_may_not_send(signed_in, caseworker_a, case, peer):
    provider = team_member(case, Role.SERVICE_PROVIDER)
    basis = transfer_consent(caseworker_a, case)

    client = signed_in(provider)
    assert client.get(url("identity_verification", case)).status_code == 403
    response = client.post(
        url("identity_verification", case), exchange_form(legal_basis=basis)
    )
    assert response.status_code == 403
    assert not sent() and not requested(case)


def test_the_asking_case_shows_the_answer(signed_in, caseworker_a, case, peer):
    basis = transfer_consent(caseworker_a, case)
    request = verify.identity_verification_send(
        actor=caseworker_a, case_id=case.pk, peer_node="peer-ro", legal_basis=basis
    )
    apply(
        reply_to(
            request,
            verify.RESPONSE,
            {
                "trm_case_ref": request.conversation,
                "outcome": "not_confirmed",
                "document_options": ["emergency_travel_document"],
                "sending_organisation": {
                    "id": str(uuid.uuid4()),
                    "name": "Fictional NCP RO",
                    "country": "RO",
                },
            },
        )
    )

    page = html(signed_in(caseworker_a).get(reverse("cases:detail", args=[case.pk])))

    assert "Asked Fictional node peer-ro (RO)" in page
    assert "Identity not confirmed" in page
    assert "Documents: Emergency travel document" in page


# --- the receiving node: the list and the answer --------------------------------------


def test_a_national_contact_point_lists_the_requests_received(signed_in, org_a, peer):
    linked = linked_case_from_peer()
    ncp = UserFactory(organisation=org_a, roles=[Role.NATIONAL_CONTACT_POINT])
    client = signed_in(ncp)

    page = html(client.get(reverse("identity_checks:received")))
    assert linked.number in page
    assert "Fictional node peer-ro (RO)" in page
    assert "1 request awaits an answer." in page
    # Seen through node policy, not on the team: told how to answer.
    assert url("identity_verification_answer", linked) not in page
    assert "join the case team" in page
    assert "Fictiv-Primit" not in page  # no personal data in the list

    team_ncp = team_member(linked, Role.NATIONAL_CONTACT_POINT)
    page = html(signed_in(team_ncp).get(reverse("identity_checks:received")))
    assert url("identity_verification_answer", linked) in page


def test_the_list_is_empty_until_a_counterpart_asks(signed_in, org_a):
    ncp = UserFactory(organisation=org_a, roles=[Role.NATIONAL_CONTACT_POINT])

    page = html(signed_in(ncp).get(reverse("identity_checks:received")))

    assert "No counterpart node has asked for an identity check" in page


def test_the_list_is_refused_to_other_roles(signed_in, caseworker_a, peer):
    linked_case_from_peer()

    response = signed_in(caseworker_a).get(reverse("identity_checks:received"))

    assert response.status_code == 403


def test_a_team_member_answers_and_the_answer_is_queued(signed_in, org_a, peer):
    linked = linked_case_from_peer()
    ncp = team_member(linked, Role.NATIONAL_CONTACT_POINT)
    client = signed_in(ncp)

    case_page = html(client.get(reverse("cases:detail", args=[linked.pk])))
    assert url("identity_verification_answer", linked) in case_page
    assert "awaiting an answer." in case_page
    page = html(client.get(url("identity_verification_answer", linked)))
    assert "Asked by Fictional node peer-ro (RO)" in page
    assert "Verify identity for travel documents" in page

    response = client.post(
        url("identity_verification_answer", linked),
        {"outcome": "confirmed", "document_options": ["passport", "identity_card"]},
        follow=True,
    )

    assert message_texts(response) == ["The answer is queued for the counterpart node."]
    [answer] = OutboxMessage.objects.filter(type=verify.RESPONSE)
    assert answer.case_id == linked.pk and answer.categories == []
    assert payload_of(answer)["outcome"] == "confirmed"
    assert payload_of(answer)["document_options"] == ["passport", "identity_card"]
    assert verify.pending_request(linked) is None
    page = html(client.get(reverse("identity_checks:received")))
    assert "Identity confirmed" in page and "(Passport, Identity card)" in page
    assert "0 requests await an answer." in page


def test_an_answer_without_an_outcome_redisplays_at_the_field(signed_in, org_a, peer):
    linked = linked_case_from_peer()
    ncp = team_member(linked, Role.COMPETENT_AUTHORITY)

    response = signed_in(ncp).post(
        url("identity_verification_answer", linked), {"document_options": ["none"]}
    )

    assert response.status_code == 400
    invalid = assert_invalid_fields_described(assert_page_basics(html(response)))
    assert {e.attrs["name"] for e in invalid} == {"outcome"}
    assert not OutboxMessage.objects.filter(type=verify.RESPONSE).exists()


def test_nothing_to_answer_says_so(signed_in, caseworker_a, case):
    response = signed_in(caseworker_a).get(url("identity_verification_answer", case))

    assert response.status_code == 409
    assert "No identity check from a counterpart node awaits an answer." in html(
        response
    )


def test_a_contact_point_seeing_the_case_through_policy_must_join_the_team(
    signed_in, org_a, peer
):
    linked = linked_case_from_peer()
    ncp = UserFactory(organisation=org_a, roles=[Role.NATIONAL_CONTACT_POINT])

    response = signed_in(ncp).post(
        url("identity_verification_answer", linked), {"outcome": "confirmed"}
    )

    assert response.status_code == 403
    assert "add yourself to the case team" in html(response)
    assert not OutboxMessage.objects.filter(type=verify.RESPONSE).exists()


def test_a_role_that_does_not_verify_may_not_answer(signed_in, org_a, peer):
    linked = linked_case_from_peer()
    provider = team_member(linked, Role.SERVICE_PROVIDER)

    response = signed_in(provider).post(
        url("identity_verification_answer", linked), {"outcome": "confirmed"}
    )

    assert response.status_code == 403
    assert not OutboxMessage.objects.filter(type=verify.RESPONSE).exists()


# --- the API --------------------------------------------------------------------------


def test_api_lists_where_a_check_may_go_and_why_not(caseworker_a, case, peer):
    client = api_client(caseworker_a)
    body = client.get(f"/api/v1/cases/{case.pk}/identification/identity-checks").json()
    assert [p["node_id"] for p in body["offered_peers"]] == ["peer-ro"]
    assert body["not_offered_reason"] == ""
    assert body["sent"] == [] and body["received"] == []

    contacts.asylum_application_record(actor=caseworker_a, case_id=case.pk)
    body = client.get(f"/api/v1/cases/{case.pk}/identification/identity-checks").json()
    assert body["offered_peers"] == []
    assert "applied for international protection" in body["not_offered_reason"]


def test_api_sends_a_request_under_a_legal_obligation(caseworker_a, case, peer):
    response = api_post(
        caseworker_a,
        f"{case.pk}/identification/identity-verification/exchange",
        {"peer_node": "peer-ro", "legal_basis": f"legal_obligation:{OBLIGATION}"},
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["peer_node"] == "peer-ro" and body["type"] == verify.REQUEST
    assert body["categories"] == ["identity"] and body["status"] == "pending"
    [message] = sent()
    assert str(message.msg_id) == body["msg_id"]
    checks = (
        api_client(caseworker_a)
        .get(f"/api/v1/cases/{case.pk}/identification/identity-checks")
        .json()
    )
    assert [c["msg_id"] for c in checks["sent"]] == [body["msg_id"]]
    assert checks["sent"][0]["answer"] is None


def test_api_a_consent_gap_is_a_403_saying_what_is_missing(caseworker_a, case, peer):
    basis = transfer_consent(caseworker_a, case, categories=["identity"])

    response = api_post(
        caseworker_a,
        f"{case.pk}/identification/identity-verification/exchange",
        {"peer_node": "peer-ro", "legal_basis": basis, "include_documents": True},
    )

    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "consent.missing"
    assert error["details"]["missing_categories"] == ["documents"]
    assert not sent() and not requested(case)


def test_api_refuses_an_asylum_applicant(caseworker_a, case, peer):
    basis = transfer_consent(caseworker_a, case)
    contacts.asylum_application_record(actor=caseworker_a, case_id=case.pk)

    response = api_post(
        caseworker_a,
        f"{case.pk}/identification/identity-verification/exchange",
        {"peer_node": "peer-ro", "legal_basis": basis},
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "identification.consular_check_blocked"
    assert not sent() and not requested(case)


def test_api_refuses_a_role_that_does_not_verify(caseworker_a, case, peer):
    provider = team_member(case, Role.SERVICE_PROVIDER)

    response = api_post(
        provider,
        f"{case.pk}/identification/identity-verification/exchange",
        {"peer_node": "peer-ro", "legal_basis": f"legal_obligation:{OBLIGATION}"},
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "cases.role_required"
    assert not sent()


def test_api_answers_a_request_received(org_a, peer):
    linked = linked_case_from_peer()
    ncp = team_member(linked, Role.NATIONAL_CONTACT_POINT)
    listing = api_client(ncp).get("/api/v1/cases/identity-checks/received").json()
    assert [(r["case_number"], r["awaiting"], r["may_answer"]) for r in listing] == [
        (linked.number, True, True)
    ]

    response = api_post(
        ncp,
        f"{linked.pk}/identification/identity-verification/answer",
        {"outcome": "not_confirmed", "document_options": ["none"]},
    )

    assert response.status_code == 201, response.content
    assert response.json()["type"] == verify.RESPONSE
    listing = api_client(ncp).get("/api/v1/cases/identity-checks/received").json()
    assert listing[0]["awaiting"] is False
    assert listing[0]["answer"]["outcome"] == "not_confirmed"
    assert listing[0]["answer"]["document_options"] == ["none"]
    again = api_post(
        ncp,
        f"{linked.pk}/identification/identity-verification/answer",
        {"outcome": "confirmed"},
    )
    assert again.status_code == 400
    assert again.json()["error"]["details"]["reason"] == "no_request"


def test_api_answer_and_list_refuse_other_roles(caseworker_a, org_a, peer):
    linked = linked_case_from_peer()
    provider = team_member(linked, Role.SERVICE_PROVIDER)

    response = api_post(
        provider,
        f"{linked.pk}/identification/identity-verification/answer",
        {"outcome": "confirmed"},
    )
    assert response.status_code == 403
    listing = api_client(caseworker_a).get("/api/v1/cases/identity-checks/received")
    assert listing.status_code == 403
    assert (
        listing.json()["error"]["code"] == "identification.verification_role_required"
    )
    assert not OutboxMessage.objects.filter(type=verify.RESPONSE).exists()
