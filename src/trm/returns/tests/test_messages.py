"""SOP 4 preparation across nodes: risk.assessment.joint, return.plan (+ its
answer), family assessment and tracing — services, handlers, round trips.

One test database plays both nodes: the destination's case is alerted to
``peer-ro``; the origin's linked case is opened from an inbound ``case.alert``
of ``peer-ro`` under another shared reference. A round trip carries the
destination's payload to the origin (its reference rewritten to the origin's
linked case) and the origin's answer back as a reply to the destination's
message. All data is synthetic.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from trm.accounts.models import Role, User
from trm.accounts.tests.factories import UserFactory
from trm.cases import messages as case_messages
from trm.cases.models import Case
from trm.cases.tests.exchange_fakes import (
    apply,
    inbound,
    make_peer,
    payload_of,
    reply_to,
)
from trm.cases.tests.factories import team_member
from trm.common.errors import DomainError
from trm.consent import services as consent
from trm.exchange import registry
from trm.exchange.models import OutboxMessage
from trm.returns import messages, wire
from trm.returns.guards import gather, return_blockers
from trm.returns.models import (
    FamilyExchange,
    IncomingReturn,
    JointRiskAssessment,
    ReturnPlan,
)
from trm.returns.services import across

from .helpers import (
    ALL_LOW,
    preparing_case,
    record_bid,
    record_documents,
    record_joint,
    return_consent,
    snapshot,
)

pytestmark = pytest.mark.django_db

REMOTE_REF = "peer-ro-0123456789ab"
ALL_MEDIUM = dict.fromkeys(ALL_LOW, "medium")


def sender_org() -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "name": "Fictional NCP RO", "country": "RO"}


@pytest.fixture
def peer():
    return make_peer("peer-ro", "RO")


def _codes(case: Case) -> list[str]:
    case.refresh_from_db()
    return [
        b.code for b in return_blockers(case, gather(case), today=timezone.localdate())
    ]


def destination(actor: User, *, child: bool = False) -> tuple[Case, User]:
    """A case in return preparation, alerted to peer-ro (by
    :func:`preparing_case`); with its NCP."""
    return preparing_case(actor, child=child)


def origin(org_a: Any, *, child: bool = False) -> tuple[Case, User]:
    """The origin's linked case opened from peer-ro's alert; with an NCP
    (acting through node policy)."""
    ncp = UserFactory(organisation=org_a, roles=[Role.NATIONAL_CONTACT_POINT])
    alert = {
        "trm_case_ref": REMOTE_REF,
        "country_of_identification": "RO",
        "urgency": "normal",
        "requests": ["return_planning"],
        "presumed_child": child,
        "sending_organisation": sender_org(),
    }
    apply(inbound(case_messages.CASE_ALERT, alert, conversation=REMOTE_REF))
    return Case.objects.get(trm_case_ref=REMOTE_REF), ncp


def to_origin(message: OutboxMessage, *, seq: int = 2) -> Any:
    """The destination's message as the origin node receives it."""
    body = {**payload_of(message), "trm_case_ref": REMOTE_REF}
    return inbound(
        message.type,
        body,
        conversation=REMOTE_REF,
        seq=seq,
        legal_basis=message.legal_basis,
        categories=tuple(message.categories),
    )


def back_to(original: OutboxMessage, answer: OutboxMessage) -> Any:
    """The origin's answer as the destination receives it (a reply)."""
    body = {**payload_of(answer), "trm_case_ref": original.conversation}
    return reply_to(
        original,
        answer.type,
        body,
        legal_basis=answer.legal_basis,
        categories=tuple(answer.categories),
        seq=5,
    )


def _refused(code: str, call: Any) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call()
    assert caught.value.code == code, caught.value.details
    return caught.value


# --- risk.assessment.joint -----------------------------------------------------------


def test_the_joint_assessment_round_trip_clears_the_origin_blocker(
    caseworker_a, org_a, peer
):
    case, _ncp = destination(caseworker_a)
    joint = record_joint(caseworker_a, case, origin_ratings=None, mitigations="x")
    assert "joint_risk_origin_missing" in _codes(case)

    sent = across.joint_risk_share(actor=caseworker_a, case_id=case.pk)
    body = payload_of(sent)
    assert (sent.type, sent.legal_basis, sent.categories) == (
        "risk.assessment.joint",
        "pseudonymous",
        ["risk"],
    )
    assert body["assessment_ref"] == str(joint.pk) and body["side"] == "destination"
    assert body["mitigations_written"] is True and "mitigations" not in body
    assert set(body) == set(wire.JointRiskV1.model_fields)

    there, origin_ncp = origin(org_a)
    apply(to_origin(sent))
    received = JointRiskAssessment.objects.get(case=there)
    assert received.remote_ref == joint.pk and received.origin_missing() == list(
        ALL_LOW
    )
    answer = across.joint_risk_origin_rate(
        actor=origin_ncp, case_id=there.pk, ratings=ALL_MEDIUM
    )
    assert payload_of(answer)["side"] == "origin"
    assert payload_of(answer)["overall_level"] == "medium"
    assert answer.in_reply_to == received.received_msg_id

    apply(back_to(sent, answer))
    joint.refresh_from_db()
    assert joint.origin_missing() == []
    assert joint.origin_organisation == org_a.name
    assert "joint_risk_origin_missing" not in _codes(case)


def test_origin_ratings_for_an_unknown_assessment_are_refused(caseworker_a, peer):
    case, _ncp = destination(caseworker_a)
    record_joint(caseworker_a, case, origin_ratings=None)
    sent = across.joint_risk_share(actor=caseworker_a, case_id=case.pk)
    body = {**payload_of(sent), "side": "origin", "assessment_ref": str(uuid.uuid4())}
    with pytest.raises(DomainError) as caught:
        apply(reply_to(sent, sent.type, body, categories=("risk",), seq=3))
    assert caught.value.code == "returns.unknown_assessment"


def test_origin_ratings_answering_nothing_are_refused(caseworker_a, peer):
    case, _ncp = destination(caseworker_a)
    joint = record_joint(caseworker_a, case, origin_ratings=None)
    body = {
        "trm_case_ref": case.trm_case_ref,
        "assessment_ref": str(joint.pk),
        "side": "origin",
        "assessed_on": timezone.localdate().isoformat(),
        "valid_until": joint.valid_until.isoformat(),
        "ratings": ALL_LOW,
        "overall_level": "low",
        "sending_organisation": sender_org(),
    }
    with pytest.raises(case_messages.UnknownReply):
        apply(
            inbound(
                "risk.assessment.joint",
                body,
                conversation=case.trm_case_ref,
                categories=("risk",),
                seq=3,
            )
        )
    joint.refresh_from_db()
    assert joint.origin_missing()


def test_sharing_refuses_unlinked_cases_wrong_roles_and_no_assessment(
    caseworker_a, peer
):
    case, _ncp = preparing_case(caseworker_a, linked=False)
    record_joint(caseworker_a, case, origin_ratings=None)
    _refused(
        "returns.not_linked",
        lambda: across.joint_risk_share(actor=caseworker_a, case_id=case.pk),
    )
    linked, _ = destination(caseworker_a)
    _refused(
        "cases.transition_not_allowed",
        lambda: across.joint_risk_share(actor=caseworker_a, case_id=linked.pk),
    )
    record_joint(caseworker_a, linked, origin_ratings=None)
    guardian = team_member(linked, Role.GUARDIAN)
    before = snapshot(linked), OutboxMessage.objects.count()
    _refused(
        "cases.role_required",
        lambda: across.joint_risk_share(actor=guardian, case_id=linked.pk),
    )
    _refused(
        "returns.not_linked",
        lambda: across.joint_risk_share(
            actor=caseworker_a, case_id=linked.pk, to_node="peer-md"
        ),
    )
    assert (snapshot(linked), OutboxMessage.objects.count()) == before


def test_the_origin_cannot_rate_before_an_assessment_arrived(org_a, peer):
    there, ncp = origin(org_a)
    _refused(
        "returns.nothing_arrived",
        lambda: across.joint_risk_origin_rate(
            actor=ncp, case_id=there.pk, ratings=ALL_LOW
        ),
    )
    other = UserFactory(organisation=org_a, roles=[Role.CASE_MANAGER])
    _refused(
        "cases.not_found",
        lambda: across.joint_risk_origin_rate(
            actor=other, case_id=there.pk, ratings=ALL_LOW
        ),
    )


def test_a_joint_assessment_for_no_linked_case_is_refused(peer):
    body = {
        "trm_case_ref": REMOTE_REF,
        "assessment_ref": str(uuid.uuid4()),
        "side": "destination",
        "assessed_on": timezone.localdate().isoformat(),
        "valid_until": (timezone.localdate() + timedelta(days=9)).isoformat(),
        "ratings": ALL_LOW,
        "overall_level": "low",
        "sending_organisation": sender_org(),
    }
    with pytest.raises(case_messages.NotLinked):
        apply(
            inbound(
                "risk.assessment.joint",
                body,
                conversation=REMOTE_REF,
                categories=("risk",),
            )
        )


# --- return.plan and its answer -----------------------------------------------------


def _transfer_consent(actor: User, case: Case, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "purpose": "cross_border_transfer",
        "categories": ["case_summary", "health", "legal"],
        "given_by": "both" if case.person.presumed_child else "person",
        "language": "ro",
        "recipient_country": "RO",
        "declaration": "Fictional declaration",
    }
    values.update(overrides)
    return consent.consent_record(actor=actor, case_id=case.pk, **values)


def test_an_adults_plan_without_consent_carries_codes_only(caseworker_a, peer):
    case, ncp = destination(caseworker_a)
    return_consent(caseworker_a, case)
    record_documents(caseworker_a, case)
    sent = across.return_plan_send(actor=ncp, case_id=case.pk)
    body = payload_of(sent)
    assert (sent.legal_basis, sent.categories) == ("pseudonymous", [])
    assert body["itinerary"] == body["legal_contact_needs"] == ""
    assert body["consent_ref"] and body["best_interests"] is None
    assert body["documents_status"] == "issued" and body["medical_fitness"] == "fit"
    _refused(
        "cases.invalid_input",
        lambda: across.return_plan_send(
            actor=ncp, case_id=case.pk, medical_needs="Fictional: insulin"
        ),
    )


def test_the_plan_round_trip_with_consent_confirms_the_receiver(
    caseworker_a, org_a, peer
):
    case, ncp = destination(caseworker_a, child=True)
    record_documents(caseworker_a, case, escort_function="Social worker")
    record_bid(caseworker_a, case)
    given = _transfer_consent(caseworker_a, case)
    sent = across.return_plan_send(
        actor=ncp,
        case_id=case.pk,
        consent_id=given.pk,
        medical_needs="Fictional: daily medicine",
    )
    body = payload_of(sent)
    assert sent.legal_basis == f"consent:{given.pk}"
    assert sent.categories == ["case_summary", "health", "legal"]
    assert body["best_interests"]["outcome"] == "return_to_family"
    assert body["itinerary"] == "Fictional coach route via Fictiv"
    assert "receiver_not_accepted" in _codes(case)

    there, origin_ncp = origin(org_a, child=True)
    apply(to_origin(sent))
    incoming = IncomingReturn.objects.get(case=there)
    assert incoming.child and incoming.bid_outcome == "return_to_family"
    assert b"Fictiv" not in bytes(incoming.sealed_text or b"")
    # A child is received only with a carer.
    _refused(
        "cases.invalid_input",
        lambda: across.return_plan_answer(
            actor=origin_ncp,
            case_id=there.pk,
            decision="accepted",
            receiving_organisation="Fictiv Reception Centre",
        ),
    )
    answer = across.return_plan_answer(
        actor=origin_ncp,
        case_id=there.pk,
        decision="accepted",
        receiving_organisation="Fictiv Reception Centre",
        case_manager_function="Social worker",
        services=["housing", "education"],
        carer_kind="relative",
        carer_confirmed_on=timezone.localdate(),
    )
    assert answer.type == "return.plan.response" and answer.categories == []

    apply(back_to(sent, answer))
    plan = ReturnPlan.objects.get(case=case)
    assert (plan.receiver_decision, plan.receiver_source) == ("accepted", "message")
    assert plan.carer_confirmed and set(plan.receiver_services) == {
        "housing",
        "education",
    }
    codes = _codes(case)
    assert "receiver_not_accepted" not in codes and "carer_not_confirmed" not in codes


def test_a_plan_needs_a_valid_consent_naming_the_origin(caseworker_a, peer):
    case, ncp = destination(caseworker_a)
    record_documents(caseworker_a, case)
    _refused(
        "consent.missing", lambda: across.return_plan_send(actor=ncp, case_id=case.pk)
    )
    return_consent(caseworker_a, case)
    wrong = _transfer_consent(caseworker_a, case, recipient_country="MD")
    _refused(
        "consent.missing",
        lambda: across.return_plan_send(
            actor=ncp, case_id=case.pk, consent_id=wrong.pk
        ),
    )
    given = _transfer_consent(caseworker_a, case)
    consent.consent_withdraw(actor=caseworker_a, consent_id=given.pk)
    _refused(
        "consent.missing",
        lambda: across.return_plan_send(
            actor=ncp, case_id=case.pk, consent_id=given.pk
        ),
    )
    assert not OutboxMessage.objects.filter(type="return.plan").exists()


def test_only_the_ncp_sends_a_plan_of_a_linked_case(caseworker_a, peer):
    case, ncp = preparing_case(caseworker_a, linked=False)
    return_consent(caseworker_a, case)
    record_documents(caseworker_a, case)
    _refused(
        "cases.role_required",
        lambda: across.return_plan_send(actor=caseworker_a, case_id=case.pk),
    )
    _refused(
        "returns.not_linked",
        lambda: across.return_plan_send(actor=ncp, case_id=case.pk),
    )


def test_an_answer_to_a_plan_never_sent_is_refused(caseworker_a, peer):
    case, _ncp = destination(caseworker_a)
    record_documents(caseworker_a, case)
    body = {
        "trm_case_ref": case.trm_case_ref,
        "plan_ref": str(ReturnPlan.objects.get(case=case).pk),
        "decision": "accepted",
        "receiving_organisation": "Fictiv Reception Centre",
        "decided_on": timezone.localdate().isoformat(),
        "sending_organisation": sender_org(),
    }
    alert = OutboxMessage.objects.get(type="case.alert")
    with pytest.raises(case_messages.UnknownReply):
        apply(reply_to(alert, "return.plan.response", body, seq=3))
    assert ReturnPlan.objects.get(case=case).receiver_decision == "pending"


def test_the_origin_answers_only_a_plan_that_arrived(org_a, peer):
    there, ncp = origin(org_a)
    _refused(
        "returns.nothing_arrived",
        lambda: across.return_plan_answer(
            actor=ncp,
            case_id=there.pk,
            decision="declined",
            decline_reason="no_capacity",
            receiving_organisation="Fictiv Centre",
        ),
    )


# --- family assessment and tracing -------------------------------------------------


def test_the_family_assessment_round_trip_clears_the_childs_blocker(
    caseworker_a, org_a, peer
):
    case, _ncp = destination(caseworker_a, child=True)
    assert "family_assessment_missing" in _codes(case)
    given = _transfer_consent(caseworker_a, case, categories=["family"])
    request = across.family_request_send(
        actor=caseworker_a,
        case_id=case.pk,
        kind="assessment",
        questions="Fictional: can the grandmother care for her?",
        consent_id=given.pk,
    )
    sent = OutboxMessage.objects.get(type="family.assessment.request")
    assert sent.categories == ["family"] and sent.legal_basis == f"consent:{given.pk}"
    assert payload_of(sent)["request_ref"] == str(request.request_ref)

    there, origin_ncp = origin(org_a, child=True)
    apply(to_origin(sent))
    asked = FamilyExchange.objects.get(case=there)
    assert (asked.direction, asked.status) == ("in", "requested")
    across.family_report_send(
        actor=origin_ncp,
        case_id=there.pk,
        legal_basis="legal_obligation:Fictional Child Protection Act art. 9",
        reported_on=timezone.localdate(),
        assessor_function="Social worker",
        recommendation="return_with_support",
        findings="Fictional: a safe home with the grandmother",
    )
    answer = OutboxMessage.objects.get(type="family.assessment.report")
    assert answer.in_reply_to == asked.request_msg_id and answer.categories == [
        "family"
    ]

    apply(back_to(sent, answer))
    request.refresh_from_db()
    assert (request.status, request.recommendation) == (
        "reported",
        "return_with_support",
    )
    assert "family_assessment_missing" not in _codes(case)


def test_family_requests_need_consent_and_tracing_a_child(caseworker_a, peer):
    case, _ncp = destination(caseworker_a)
    _refused(
        "consent.missing",
        lambda: across.family_request_send(
            actor=caseworker_a,
            case_id=case.pk,
            kind="assessment",
            questions="Fictional questions",
            consent_id=uuid.uuid4(),
        ),
    )
    given = _transfer_consent(caseworker_a, case, categories=["family"])
    _refused(
        "cases.invalid_input",
        lambda: across.family_request_send(
            actor=caseworker_a,
            case_id=case.pk,
            kind="tracing",
            questions="Fictional relatives",
            consent_id=given.pk,
        ),
    )
    assert not FamilyExchange.objects.exists()


def test_a_family_report_answering_nothing_is_refused(caseworker_a, peer):
    case, _ncp = destination(caseworker_a)
    alert = OutboxMessage.objects.get(type="case.alert")
    body = {
        "trm_case_ref": case.trm_case_ref,
        "request_ref": str(uuid.uuid4()),
        "reported_on": timezone.localdate().isoformat(),
        "assessor_function": "Social worker",
        "recommendation": "no_return",
        "sending_organisation": sender_org(),
    }
    with pytest.raises(case_messages.UnknownReply):
        apply(reply_to(alert, "family.assessment.report", body, seq=3))


def test_the_types_are_registered_with_this_apps_handlers():
    expected = {
        "risk.assessment.joint": messages.apply_joint_risk,
        "return.plan": messages.apply_return_plan,
        "return.plan.response": messages.apply_return_plan_response,
        "family.assessment.request": messages.apply_family_request,
        "family.tracing.request": messages.apply_family_request,
        "family.assessment.report": messages.apply_family_report,
        "family.tracing.result": messages.apply_family_report,
    }
    for name, handler in expected.items():
        mtype = registry.message_type(name)
        assert mtype is not None and mtype.handler is handler, name


# --- pages and API --------------------------------------------------------------------


def test_the_origin_ncp_answers_a_plan_through_the_page(
    caseworker_a, org_a, peer, signed_in
):
    case, ncp = destination(caseworker_a)
    return_consent(caseworker_a, case)
    record_documents(caseworker_a, case)
    given = _transfer_consent(caseworker_a, case)
    sent = across.return_plan_send(actor=ncp, case_id=case.pk, consent_id=given.pk)
    there, origin_ncp = origin(org_a)
    apply(to_origin(sent))
    client = signed_in(origin_ncp)
    page = client.get(f"/cases/{there.pk}/return/across/").content.decode()
    assert "Fictional coach route via Fictiv" in page
    assert f"/cases/{there.pk}/return/across/plan/answer/" in page
    response = client.post(
        f"/cases/{there.pk}/return/across/plan/answer/",
        {
            "decision": "declined",
            "decline_reason": "no_capacity",
            "receiving_organisation": "Fictiv Reception Centre",
            "decided_on": timezone.localdate().isoformat(),
        },
    )
    assert response.status_code == 302
    assert IncomingReturn.objects.get(case=there).decision == "declined"
    answer = OutboxMessage.objects.get(type="return.plan.response")
    apply(back_to(sent, answer))
    assert "receiver_declined" in _codes(case)
    assert ReturnPlan.objects.get(case=case).receiver_decline_reason == "no_capacity"


def test_the_api_shares_the_assessment_and_lists_what_was_sent(
    caseworker_a, peer, signed_in
):
    case, _ncp = destination(caseworker_a)
    record_joint(caseworker_a, case, origin_ratings=None)
    client = signed_in(caseworker_a)
    response = client.post(
        f"/api/v1/cases/{case.pk}/return/across/joint-risk/share",
        data={},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    [sent] = response.json()["sent"]
    assert (sent["type"], sent["to_node"]) == ("risk.assessment.joint", "peer-ro")
    refused = client.post(
        f"/api/v1/cases/{case.pk}/return/across/joint-risk/rate",
        data={"ratings": ALL_LOW},
        content_type="application/json",
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "returns.nothing_arrived"


def test_a_withdrawn_consent_erases_the_plans_text_on_the_origin(
    caseworker_a, org_a, peer
):
    case, ncp = destination(caseworker_a)
    return_consent(caseworker_a, case)
    record_documents(caseworker_a, case)
    given = _transfer_consent(caseworker_a, case)
    sent = across.return_plan_send(actor=ncp, case_id=case.pk, consent_id=given.pk)
    there, _origin_ncp = origin(org_a)
    apply(to_origin(sent))
    incoming = IncomingReturn.objects.get(case=there)
    assert incoming.received_under == given.pk and incoming.sealed_text
    withdrawn = {
        "consent_ref": str(given.pk),
        "trm_case_ref": REMOTE_REF,
        "categories": ["case_summary", "health", "legal"],
        "effective_at": timezone.now().isoformat(),
    }
    apply(
        inbound(
            "consent.withdrawn",
            withdrawn,
            conversation=REMOTE_REF,
            seq=3,
            legal_basis=f"legal_obligation:GDPR Art. 19 consent:{given.pk}",
        )
    )
    incoming.refresh_from_db()
    assert incoming.sealed_text is None
    assert (incoming.departure_on, incoming.medical_fitness) == (
        ReturnPlan.objects.get(case=case).departure_on,
        "fit",
    )


def test_the_destination_page_lists_what_was_sent(caseworker_a, peer, signed_in):
    case, _ncp = destination(caseworker_a, child=True)
    record_joint(caseworker_a, case, origin_ratings=None)
    across.joint_risk_share(actor=caseworker_a, case_id=case.pk)
    client = signed_in(caseworker_a)
    assert (
        f"/cases/{case.pk}/return/across/"
        in client.get(f"/cases/{case.pk}/return/").content.decode()
    )
    page = client.get(f"/cases/{case.pk}/return/across/").content.decode()
    assert "risk.assessment.joint" in page
    assert f"/cases/{case.pk}/return/across/family/request/" in page
    response = client.post(
        f"/cases/{case.pk}/return/across/family/record/",
        {
            "kind": "assessment",
            "reported_on": timezone.localdate().isoformat(),
            "assessor_function": "Social worker",
            "recommendation": "return_to_family",
            "findings": "Fictional findings",
        },
    )
    assert response.status_code == 302
    assert "family_assessment_missing" not in _codes(case)
    assert (
        "Fictional findings"
        in client.get(f"/cases/{case.pk}/return/across/").content.decode()
    )


def test_the_tracing_round_trip_stores_the_result_for_the_guardian(
    caseworker_a, org_a, peer
):
    case, _ncp = destination(caseworker_a, child=True)
    guardian = team_member(case, Role.GUARDIAN)
    given = _transfer_consent(caseworker_a, case, categories=["family"])
    request = across.family_request_send(
        actor=guardian,
        case_id=case.pk,
        kind="tracing",
        questions="Fictional: an aunt in Fictiv",
        consent_id=given.pk,
    )
    sent = OutboxMessage.objects.get(type="family.tracing.request")
    assert case.events.filter(
        kind="exchange.message_sent", code="family.tracing.request"
    ).exists()
    there, origin_ncp = origin(org_a, child=True)
    apply(to_origin(sent))
    across.family_report_send(
        actor=origin_ncp,
        case_id=there.pk,
        legal_basis="legal_obligation:Fictional Child Protection Act art. 9",
        reported_on=timezone.localdate(),
        assessor_function="Child-protection officer",
        recommendation="family_not_found",
    )
    answer = OutboxMessage.objects.get(type="family.tracing.result")
    assert answer.categories == []  # no findings written: codes only
    apply(back_to(sent, answer))
    request.refresh_from_db()
    assert (request.status, request.recommendation) == ("reported", "family_not_found")
    # A tracing result is not the family assessment a child's return needs.
    assert "family_assessment_missing" in _codes(case)
