"""The cases app on the transnational channel: linked cases, case alerts and
their acknowledgement, urgent safety alerts, closure, the timeline hooks.

Handlers are called with inbound messages as the inbox hands them over
(:mod:`trm.cases.tests.exchange_fakes`). All data is synthetic.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from trm.accounts.models import Role
from trm.accounts.node_users import is_node_user, node_user
from trm.accounts.tests.factories import OrganisationFactory, UserFactory
from trm.cases import messages, services
from trm.cases.access import case_access
from trm.cases.errors import (
    CaseInvalidInput,
    CaseNotFound,
    CaseRoleRequired,
)
from trm.cases.identity import PersonIdentity
from trm.cases.models import Case, CaseEvent, CaseTeamMember
from trm.cases.selectors import person_identity_for_user
from trm.cases.tests.exchange_fakes import (
    apply,
    inbound,
    make_peer,
    payload_of,
    reply_to,
)
from trm.cases.tests.factories import open_case, set_states, team_member
from trm.cases.tests.inbox_fakes import deliver, signed_peer
from trm.cases.tracks import TransnationalLink
from trm.exchange import registry
from trm.exchange import services as exchange
from trm.exchange.errors import LegalBasisMissing, MessageInvalid, PeerUnavailable
from trm.exchange.models import OutboxMessage

pytestmark = pytest.mark.django_db

REMOTE_REF = "peer-ro-0123456789ab"
T = TransnationalLink


@pytest.fixture
def peer():
    return make_peer("peer-ro", "RO")


@pytest.fixture
def ncp_org(org_a):
    """This node's national contact point organisation (org A has the NCP function)."""
    return org_a


@pytest.fixture
def ncp(ncp_org):
    return UserFactory(
        username="ncp-a",
        organisation=ncp_org,
        roles=[Role.NATIONAL_CONTACT_POINT],
        email="ncp-a@example.invalid",
    )


@pytest.fixture
def case(caseworker_a):
    return open_case(caseworker_a, citizenships=["RO"], may_be_child=False)


def sender_org() -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "name": "Fictional NCP RO", "country": "RO"}


def alert_payload(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "trm_case_ref": REMOTE_REF,
        "country_of_identification": "RO",
        "gender": "Feminine",
        "age_band": "9--17",
        "presumed_child": True,
        "nationality_claimed": ["BG"],
        "exploitation": ["labour"],
        "urgency": "urgent",
        "requests": ["identity_check", "return_planning"],
        "sending_organisation": sender_org(),
    }
    values.update(overrides)
    return values


# --- the linked case ------------------------------------------------------------------


def test_open_linked_case_is_led_here_and_has_no_team_from_the_peer(ncp_org):
    peer_org = OrganisationFactory(
        name="Fictional Peer NCP", country="RO", home_node="peer-ro"
    )
    actor = node_user(organisation=peer_org, role=Role.NATIONAL_CONTACT_POINT)
    with transaction.atomic():
        case = services.case_open_linked(
            actor=actor,
            organisation_id=ncp_org.pk,
            trm_case_ref=REMOTE_REF,
            identity=None,
            gender="Masculine",
            age_band="24--26",
            may_be_child=False,
            citizenships=["RO"],
            languages=["ro"],
        )
    assert case.lead_organisation == ncp_org
    assert case.trm_case_ref == REMOTE_REF
    assert case.transnational == T.LINKED
    assert not CaseTeamMember.objects.filter(case=case).exists()
    assert not case.person.presumed_child
    kinds = set(case.events.values_list("kind", flat=True))
    assert {"case.opened", "case.linked"} <= kinds
    # No identity was invented: the person has none.
    reader = UserFactory(organisation=ncp_org, roles=[Role.NATIONAL_CONTACT_POINT])
    assert person_identity_for_user(user=reader, case=case) == PersonIdentity()


def test_open_linked_presumes_a_child_and_refuses_a_second_link(ncp_org):
    peer_org = OrganisationFactory(name="Fictional Peer", home_node="peer-ro")
    actor = node_user(organisation=peer_org, role=Role.NATIONAL_CONTACT_POINT)
    with transaction.atomic():
        case = services.case_open_linked(
            actor=actor,
            organisation_id=ncp_org.pk,
            trm_case_ref=REMOTE_REF,
            identity=None,
            gender="Feminine",
            age_band="unknown",
            may_be_child=True,
            citizenships=[],
            languages=[],
        )
    assert case.person.presumed_child
    assert case.child_protection == "guardian_requested"
    with pytest.raises(CaseInvalidInput) as caught, transaction.atomic():
        services.case_open_linked(
            actor=actor,
            organisation_id=ncp_org.pk,
            trm_case_ref=REMOTE_REF,
            identity=None,
            gender="Feminine",
            age_band="unknown",
            may_be_child=False,
            citizenships=[],
            languages=[],
        )
    assert caught.value.details["reason"] == "already_linked"


def test_open_linked_refuses_a_peer_organisation_as_lead():
    peer_org = OrganisationFactory(name="Fictional Peer", home_node="peer-ro")
    actor = node_user(organisation=peer_org, role=Role.NATIONAL_CONTACT_POINT)
    with pytest.raises(CaseInvalidInput), transaction.atomic():
        services.case_open_linked(
            actor=actor,
            organisation_id=peer_org.pk,
            trm_case_ref=REMOTE_REF,
            identity=None,
            gender="Feminine",
            age_band="unknown",
            may_be_child=False,
            citizenships=[],
            languages=[],
        )


# --- case.alert: sending --------------------------------------------------------------


def test_the_ncp_alerts_a_counterpart_with_a_pseudonymous_alert(case, ncp, peer):
    case = set_states(case, transnational=T.NO_LINK)
    CaseTeamMember.objects.create(case=case, user=ncp, role=Role.NATIONAL_CONTACT_POINT)
    services.case_alert_send(
        actor=ncp,
        case_id=case.pk,
        peer_node="peer-ro",
        urgency="urgent",
        requests=["identity_check", "services"],
    )
    case.refresh_from_db()
    assert case.transnational == T.COUNTERPART_ALERTED
    node, _sep, suffix = case.trm_case_ref.rpartition("-")
    assert node == settings.TRM_NODE_ID and len(suffix) == 12
    int(suffix, 16)
    message = OutboxMessage.objects.get(type=messages.CASE_ALERT)
    assert message.legal_basis == exchange.PSEUDONYMOUS
    assert message.categories == []
    assert message.conversation == case.trm_case_ref
    body = payload_of(message)
    assert body["nationality_claimed"] == ["RO"]
    assert body["requests"] == ["identity_check", "services"]
    identity = person_identity_for_user(user=ncp, case=case)
    assert identity is not None
    text = str(body)
    for value in (identity.given_names, identity.family_names, case.number):
        assert value not in text
    moves = list(
        case.events.filter(kind="case.track_moved", track="transnational")
        .order_by("at")
        .values_list("to_state", flat=True)
    )
    assert moves == [T.NCP_NOTIFIED, T.COUNTERPART_ALERTED]
    assert case.events.filter(kind="case.alert_sent", code="urgent").exists()
    # Every message out is on the timeline, by type only.
    assert case.events.filter(
        kind="exchange.message_sent", code=messages.CASE_ALERT
    ).exists()


def test_only_the_national_contact_point_alerts(case, caseworker_a, peer):
    with pytest.raises(CaseRoleRequired):
        services.case_alert_send(
            actor=caseworker_a,
            case_id=case.pk,
            peer_node="peer-ro",
            urgency="normal",
            requests=["services"],
        )
    assert not OutboxMessage.objects.exists()


def test_an_ncp_off_the_team_does_not_see_a_case_without_a_link(case, ncp, peer):
    with pytest.raises(CaseNotFound):
        services.case_alert_send(
            actor=ncp,
            case_id=case.pk,
            peer_node="peer-ro",
            urgency="normal",
            requests=["services"],
        )


def test_an_alert_asks_for_something_and_goes_once_per_node(case, ncp, peer):
    set_states(case, transnational=T.NCP_NOTIFIED)
    with pytest.raises(CaseInvalidInput):
        services.case_alert_send(
            actor=ncp,
            case_id=case.pk,
            peer_node="peer-ro",
            urgency="normal",
            requests=[],
        )
    services.case_alert_send(
        actor=ncp,
        case_id=case.pk,
        peer_node="peer-ro",
        urgency="normal",
        requests=["services"],
    )
    with pytest.raises(CaseInvalidInput) as caught:
        services.case_alert_send(
            actor=ncp,
            case_id=case.pk,
            peer_node="peer-ro",
            urgency="normal",
            requests=["services"],
        )
    assert caught.value.details["reason"] == "already_alerted"


def test_an_alert_to_a_disabled_peer_is_refused(case, ncp):
    make_peer("peer-md", "MD", active=False)
    set_states(case, transnational=T.NCP_NOTIFIED)
    with pytest.raises(PeerUnavailable):
        services.case_alert_send(
            actor=ncp,
            case_id=case.pk,
            peer_node="peer-md",
            urgency="normal",
            requests=["services"],
        )
    case.refresh_from_db()
    assert case.transnational == T.NCP_NOTIFIED


# --- case.alert: receiving, and the acknowledgement -----------------------------------


def test_a_received_alert_opens_a_linked_case_and_is_acknowledged(ncp, peer):
    message = inbound(messages.CASE_ALERT, alert_payload(), conversation=REMOTE_REF)
    stored = apply(message)

    case = Case.objects.get(trm_case_ref=REMOTE_REF)
    assert stored.case_id == case.pk
    assert case.lead_organisation == ncp.organisation
    assert case.transnational == T.LINKED
    assert case.person.presumed_child and case.person.citizenships == ["BG"]
    assert case.opened_by is not None and is_node_user(case.opened_by)
    assert case.events.filter(kind="case.alert_received", code="urgent").exists()
    assert case.events.filter(
        kind="exchange.message_received", code=messages.CASE_ALERT
    ).exists()
    ack = OutboxMessage.objects.get(type=messages.CASE_ALERT_ACK)
    assert ack.peer == peer and ack.in_reply_to == message.msg_id
    assert ack.conversation == REMOTE_REF and ack.case_id == case.pk
    body = payload_of(ack)
    assert body["receiver_reference"] == case.number
    assert body["contact"]["name"] == ncp.organisation.name
    # The national contact point sees the case through its link abroad.
    assert case_access(ncp, case) is not None


def test_the_ncps_are_emailed_without_personal_data(
    ncp, peer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        apply(inbound(messages.CASE_ALERT, alert_payload(), conversation=REMOTE_REF))
    assert [m.to for m in mail.outbox] == [[ncp.email]]
    assert REMOTE_REF not in mail.outbox[0].body


def test_an_alert_is_refused_without_a_national_contact_point_here(org_b, peer):
    with pytest.raises(messages.NoContactPoint):
        apply(inbound(messages.CASE_ALERT, alert_payload(), conversation=REMOTE_REF))
    assert not Case.objects.filter(trm_case_ref=REMOTE_REF).exists()
    assert not OutboxMessage.objects.exists()


def test_the_acknowledgement_links_the_alerted_case(case, ncp, peer):
    set_states(case, transnational=T.NCP_NOTIFIED)
    services.case_alert_send(
        actor=ncp,
        case_id=case.pk,
        peer_node="peer-ro",
        urgency="normal",
        requests=["return_planning"],
    )
    alert = OutboxMessage.objects.get(type=messages.CASE_ALERT)
    case.refresh_from_db()
    apply(
        reply_to(
            alert,
            messages.CASE_ALERT_ACK,
            {
                "trm_case_ref": case.trm_case_ref,
                "receiver_reference": "RO-2026-00042",
                "contact": sender_org(),
                "expected_answer_by": timezone.now().isoformat(),
            },
        )
    )
    case.refresh_from_db()
    assert case.transnational == T.LINKED
    event = case.events.get(kind="case.alert_acknowledged")
    assert event.actor is not None and is_node_user(event.actor)


def test_an_acknowledgement_of_no_alert_is_refused(case, peer):
    with pytest.raises(messages.UnknownReply):
        apply(
            inbound(
                messages.CASE_ALERT_ACK,
                {
                    "trm_case_ref": REMOTE_REF,
                    "receiver_reference": "RO-2026-00042",
                    "contact": sender_org(),
                    "expected_answer_by": timezone.now().isoformat(),
                },
                conversation=REMOTE_REF,
                in_reply_to=uuid.uuid4(),
            )
        )


# --- safety.alert ---------------------------------------------------------------------


def test_a_safety_alert_goes_without_consent_with_its_reason(case, caseworker_a, peer):
    services.safety_alert_send(
        actor=caseworker_a,
        case_id=case.pk,
        peer_node="peer-ro",
        nature="threats_to_family",
        reason="Fictional threats against the family reported today.",
        actions_requested=["protect_family"],
        people_at_risk=["family"],
    )
    message = OutboxMessage.objects.get(type=messages.SAFETY_ALERT)
    assert message.legal_basis == exchange.VITAL_INTEREST
    assert message.categories == ["risk"]
    assert payload_of(message)["description"].startswith("Fictional threats")
    event = case.events.get(kind="case.safety_alert_sent")
    assert event.code == "threats_to_family" and event.sealed_detail


def test_a_safety_alert_without_a_reason_is_refused(case, caseworker_a, peer):
    with pytest.raises(CaseInvalidInput) as caught:
        services.safety_alert_send(
            actor=caseworker_a,
            case_id=case.pk,
            peer_node="peer-ro",
            nature="threat_to_life",
            reason="   ",
            actions_requested=["protect_person"],
        )
    assert caught.value.details["field"] == "reason"
    assert not OutboxMessage.objects.exists()


def test_vital_interest_is_refused_for_other_types(case, peer):
    with pytest.raises(LegalBasisMissing), transaction.atomic():
        exchange.enqueue(
            to_node="peer-ro",
            type=messages.CASE_ALERT,
            payload=alert_payload(),
            legal_basis=exchange.VITAL_INTEREST,
            case_id=case.pk,
        )


def test_a_received_safety_alert_is_flagged_and_the_ncps_told(
    ncp, peer, django_capture_on_commit_callbacks, signed_in
):
    description = "Fictional: the child left the shelter at night."
    with django_capture_on_commit_callbacks(execute=True):
        apply(
            inbound(
                messages.SAFETY_ALERT,
                {
                    "trm_case_ref": REMOTE_REF,
                    "nature": "child_missing",
                    "people_at_risk": ["child"],
                    "description": description,
                    "actions_requested": ["locate_person"],
                    "sending_organisation": sender_org(),
                    "presumed_child": True,
                },
                conversation=REMOTE_REF,
                legal_basis=exchange.VITAL_INTEREST,
                categories=("risk",),
            )
        )
    case = Case.objects.get(trm_case_ref=REMOTE_REF)
    assert case.events.filter(
        kind="case.safety_alert_received", code="child_missing"
    ).exists()
    [email] = mail.outbox
    assert "urgent" in email.subject.lower()
    assert description not in email.body and REMOTE_REF not in email.body
    page = signed_in(ncp).get(reverse("cases:detail", args=[case.pk])).content
    assert b'<span class="tag tag-warn">Urgent</span>' in page
    assert description.encode() in page


# --- case.closure ---------------------------------------------------------------------


def test_closing_a_linked_case_tells_each_peer_of_its_conversation(
    case, caseworker_a, ncp, peer
):
    make_peer("peer-md", "MD")
    set_states(case, transnational=T.NCP_NOTIFIED)
    services.case_alert_send(
        actor=ncp,
        case_id=case.pk,
        peer_node="peer-ro",
        urgency="normal",
        requests=["services"],
    )
    services.case_close(actor=caseworker_a, case_id=case.pk, reason="goals_met")
    [closure] = OutboxMessage.objects.filter(type=messages.CASE_CLOSURE)
    assert closure.peer == peer
    body = payload_of(closure)
    assert body["reason"] == "goals_met" and body["data"] == "retained"


def test_closing_a_case_never_linked_sends_nothing(case, caseworker_a, peer):
    services.case_close(actor=caseworker_a, case_id=case.pk, reason="goals_met")
    assert not OutboxMessage.objects.exists()


def test_a_received_closure_unlinks_but_does_not_close(ncp, peer):
    apply(inbound(messages.CASE_ALERT, alert_payload(), conversation=REMOTE_REF))
    apply(
        inbound(
            messages.CASE_CLOSURE,
            {
                "trm_case_ref": REMOTE_REF,
                "reason": "referred",
                "closed_on": timezone.localdate().isoformat(),
                "data": "retained",
                "open_obligations": ["proceedings"],
                "sending_organisation": sender_org(),
            },
            conversation=REMOTE_REF,
            seq=2,
        )
    )
    case = Case.objects.get(trm_case_ref=REMOTE_REF)
    assert case.transnational == T.UNLINKED
    assert not case.is_closed
    assert case.events.filter(kind="case.closure_received", code="referred").exists()


def test_a_closure_for_no_linked_case_is_refused(peer):
    with pytest.raises(messages.NotLinked):
        apply(
            inbound(
                messages.CASE_CLOSURE,
                {
                    "trm_case_ref": REMOTE_REF,
                    "reason": "goals_met",
                    "closed_on": timezone.localdate().isoformat(),
                    "data": "erased",
                    "sending_organisation": sender_org(),
                },
                conversation=REMOTE_REF,
            )
        )


# --- the exchange's hooks and the catalogue -------------------------------------------


def test_the_cases_app_registers_its_hooks_and_types():
    assert messages.timeline_observer in registry.observers()
    assert registry.case_access() is messages.payload_access
    for name in (
        "case.alert",
        "case.alert.ack",
        "safety.alert",
        "case.closure",
        "proceedings.notice",
    ):
        assert registry.message_type(name) is not None
    assert registry.message_type("safety.alert").exceptions == {"vital_interest"}  # type: ignore[union-attr]
    # trm.proceedings registers proceedings.notice with its handler.
    assert registry.message_type("proceedings.notice").handler is not None  # type: ignore[union-attr]


def test_the_catalogue_holds_every_type_of_the_design():
    names = {t.name for t in registry.message_types()}
    expected = {
        "case.alert",
        "case.alert.ack",
        "identity.verify.request",
        "identity.verify.response",
        "family.assessment.request",
        "family.assessment.report",
        "family.tracing.request",
        "family.tracing.result",
        "risk.assessment.joint",
        "return.plan",
        "travel.document.request",
        "travel.document.issued",
        "return.handover",
        "return.arrival",
        "followup.report",
        "proceedings.notice",
        "consent.withdrawn",
        "consent.withdrawn.done",
        "safety.alert",
        "case.closure",
    }
    assert expected <= names
    for name in expected:
        schema = registry.message_type(name).schema  # type: ignore[union-attr]
        assert schema.model_config.get("extra") == "forbid", name


def test_payloads_are_for_those_who_see_the_case_except_the_legal_track(
    case, caseworker_a, caseworker_b
):
    prosecutor = team_member(case, Role.PROSECUTOR)
    assert messages.payload_access(caseworker_a, case.pk)
    assert not messages.payload_access(caseworker_b, case.pk)
    assert not messages.payload_access(prosecutor, case.pk)
    assert not messages.payload_access(caseworker_a, uuid.uuid4())


# --- the pages ------------------------------------------------------------------------


def test_the_case_page_offers_the_ncp_to_alert_the_nationalitys_node(
    case, ncp, peer, signed_in
):
    CaseTeamMember.objects.create(case=case, user=ncp, role=Role.NATIONAL_CONTACT_POINT)
    page = signed_in(ncp).get(reverse("cases:detail", args=[case.pk])).content.decode()
    assert reverse("cases:alert", args=[case.pk]) in page
    assert "has not been alerted yet" in page


def test_the_alert_form_sends_the_alert(case, ncp, peer, signed_in):
    CaseTeamMember.objects.create(case=case, user=ncp, role=Role.NATIONAL_CONTACT_POINT)
    client = signed_in(ncp)
    url = reverse("cases:alert", args=[case.pk])
    assert client.get(url).status_code == 200
    response = client.post(
        url, {"peer_node": "peer-ro", "urgency": "normal", "requests": ["services"]}
    )
    assert response.status_code == 302
    assert OutboxMessage.objects.filter(type=messages.CASE_ALERT).count() == 1


def test_the_safety_alert_form_needs_a_reason(case, caseworker_a, peer, signed_in):
    client = signed_in(caseworker_a)
    url = reverse("cases:safety_alert", args=[case.pk])
    data = {
        "peer_node": "peer-ro",
        "nature": "threat_to_life",
        "actions_requested": ["protect_person"],
        "reason": "",
    }
    assert client.post(url, data).status_code == 400
    assert not OutboxMessage.objects.exists()
    data["reason"] = "Fictional: a threat was made by phone."
    assert client.post(url, data).status_code == 302
    assert OutboxMessage.objects.filter(type=messages.SAFETY_ALERT).exists()


def test_a_received_closure_shows_on_the_case_page(ncp, peer, signed_in):
    apply(inbound(messages.CASE_ALERT, alert_payload(), conversation=REMOTE_REF))
    apply(
        inbound(
            messages.CASE_CLOSURE,
            {
                "trm_case_ref": REMOTE_REF,
                "reason": "goals_met",
                "closed_on": timezone.localdate().isoformat(),
                "data": "retained",
                "sending_organisation": sender_org(),
            },
            conversation=REMOTE_REF,
            seq=2,
        )
    )
    case = Case.objects.get(trm_case_ref=REMOTE_REF)
    page = signed_in(ncp).get(reverse("cases:detail", args=[case.pk])).content.decode()
    assert "The counterpart closed its case" in page


def test_exchange_events_on_the_timeline_name_the_type_only(case, caseworker_a):
    from trm.exchange.models import InboxMessage

    message = InboxMessage(case_id=case.pk, type="case.alert")
    messages.timeline_observer("in", message)
    event = CaseEvent.objects.get(case=case, kind="exchange.message_received")
    assert event.code == "case.alert" and not event.sealed_detail
    messages.timeline_observer("out", OutboxMessage(case_id=None, type="case.alert"))
    assert CaseEvent.objects.filter(kind__startswith="exchange.").count() == 1


# --- review fixes: what a payload carries; who may act on a linked case ---------------


def safety_payload(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "trm_case_ref": REMOTE_REF,
        "nature": "threat_to_life",
        "description": "Fictional: a threat was made by phone (test).",
        "actions_requested": ["contact_us"],
        "sending_organisation": sender_org(),
    }
    values.update(overrides)
    return values


def closure_payload(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "trm_case_ref": REMOTE_REF,
        "reason": "goals_met",
        "closed_on": timezone.localdate().isoformat(),
        "data": "retained",
        "sending_organisation": sender_org(),
    }
    values.update(overrides)
    return values


def carried(name: str, payload: dict[str, Any]) -> set[str]:
    mtype = registry.message_type(name)
    assert mtype is not None and mtype.carried is not None, name
    return mtype.carried(mtype.schema.model_validate(payload))


def test_each_case_type_says_what_its_payload_carries():
    assert carried(messages.CASE_ALERT, alert_payload()) == set()
    assert carried(messages.SAFETY_ALERT, safety_payload()) == {"risk"}
    assert carried(messages.CASE_CLOSURE, closure_payload()) == set()
    ack = {
        "trm_case_ref": REMOTE_REF,
        "receiver_reference": "RO-2026-00042",
        "contact": sender_org(),
        "expected_answer_by": timezone.now().isoformat(),
    }
    assert carried(messages.CASE_ALERT_ACK, ack) == set()
    notice = {
        "trm_case_ref": REMOTE_REF,
        "kind": "hearing",
        "hearing_at": timezone.now().isoformat(),
        "sending_organisation": sender_org(),
    }
    assert carried(messages.PROCEEDINGS_NOTICE, notice) == {"legal"}


def test_the_identity_block_says_which_categories_it_holds():
    wire = messages.WireIdentityV1
    assert messages.identity_categories(None) == set()
    assert messages.identity_categories(wire()) == set()
    assert messages.identity_categories(wire(family_names="Fictiv")) == {"identity"}
    assert messages.identity_categories(wire(aliases=["Fictional alias"])) == {
        "identity"
    }
    assert messages.identity_categories(
        wire(documents=[{"kind": "passport", "number": "FX000001"}])
    ) == {"documents"}
    assert messages.identity_categories(wire(phones=["+44 7700 900123"])) == {"contact"}


def test_a_safety_alert_not_declaring_its_risk_is_refused_at_enqueue(case, peer):
    with pytest.raises(MessageInvalid) as caught, transaction.atomic():
        exchange.enqueue(
            to_node="peer-ro",
            type=messages.SAFETY_ALERT,
            payload=safety_payload(trm_case_ref=case.trm_case_ref or REMOTE_REF),
            legal_basis=exchange.VITAL_INTEREST,
            categories=[],
            case_id=case.pk,
        )
    assert caught.value.details["categories"] == ["risk"]
    assert not OutboxMessage.objects.exists()


def test_a_safety_alert_not_declaring_its_risk_is_rejected_by_the_inbox(ncp_org):
    fake = signed_peer()
    answer = deliver(
        fake,
        messages.SAFETY_ALERT,
        safety_payload(),
        conversation=REMOTE_REF,
        legal_basis=exchange.VITAL_INTEREST,
        categories=[],
    )
    assert answer.status_code == 422
    assert answer.json_body["code"] == "category_not_allowed"
    assert not Case.objects.filter(trm_case_ref=REMOTE_REF).exists()
    # Declared, the same alert is applied.
    answer = deliver(
        fake,
        messages.SAFETY_ALERT,
        safety_payload(),
        conversation=REMOTE_REF,
        legal_basis=exchange.VITAL_INTEREST,
        categories=["risk"],
    )
    assert answer.status_code == 202, answer.json_body
    assert Case.objects.filter(trm_case_ref=REMOTE_REF).exists()


def test_an_alert_outside_its_conversation_is_refused_by_the_inbox(ncp_org):
    fake = signed_peer()
    answer = deliver(fake, messages.CASE_ALERT, alert_payload(), conversation="")
    assert answer.status_code == 422
    assert answer.json_body["code"] == "refused:cases.not_linked"
    answer = deliver(
        fake, messages.CASE_ALERT, alert_payload(), conversation="peer-ro-000000000000"
    )
    assert answer.json_body["code"] == "refused:cases.not_linked"
    assert not Case.objects.exists()
    assert not OutboxMessage.objects.exists()


@pytest.mark.parametrize(
    ("name", "payload", "extra"),
    [
        (messages.CASE_ALERT, alert_payload, {}),
        (
            messages.SAFETY_ALERT,
            safety_payload,
            {"legal_basis": exchange.VITAL_INTEREST, "categories": ("risk",)},
        ),
        (messages.CASE_CLOSURE, closure_payload, {}),
    ],
)
def test_case_messages_need_their_reference_as_conversation(
    ncp, peer, name, payload, extra
):
    apply(inbound(messages.CASE_ALERT, alert_payload(), conversation=REMOTE_REF))
    with pytest.raises(messages.NotLinked) as caught:
        apply(inbound(name, payload(), conversation="", **extra))
    assert caught.value.details["reason"] == "conversation"


def test_a_node_not_party_to_a_linked_case_cannot_act_on_it(ncp, peer):
    apply(inbound(messages.CASE_ALERT, alert_payload(), conversation=REMOTE_REF))
    case = Case.objects.get(trm_case_ref=REMOTE_REF)
    make_peer("peer-md", "MD")
    stranger: dict[str, Any] = {"sender": "peer-md", "conversation": REMOTE_REF}
    with pytest.raises(messages.NotParty):
        apply(inbound(messages.CASE_CLOSURE, closure_payload(), **stranger))
    with pytest.raises(messages.NotParty):
        apply(
            inbound(
                messages.SAFETY_ALERT,
                safety_payload(),
                legal_basis=exchange.VITAL_INTEREST,
                categories=("risk",),
                **stranger,
            )
        )
    with pytest.raises(messages.NotParty):
        apply(inbound(messages.CASE_ALERT, alert_payload(), **stranger))
    case.refresh_from_db()
    assert case.transnational == T.LINKED
    assert not case.events.filter(
        kind__in=["case.closure_received", "case.safety_alert_received"]
    ).exists()
    assert case.events.filter(kind="case.alert_received").count() == 1
    # Nothing went back to the stranger.
    assert list(OutboxMessage.objects.values_list("peer__node_id", flat=True)) == [
        "peer-ro"
    ]
    # The node that alerted is party: its closure applies.
    apply(inbound(messages.CASE_CLOSURE, closure_payload(), conversation=REMOTE_REF))
    case.refresh_from_db()
    assert case.transnational == T.UNLINKED


def test_through_the_inbox_a_stranger_stays_refused_whatever_its_seq(ncp_org):
    """A refused message consumes its seq, so the conversation's counter is no
    proof that its sender was ever accepted."""
    ro = signed_peer("peer-ro", "RO")
    md = signed_peer("peer-md", "MD")
    answer = deliver(ro, messages.CASE_ALERT, alert_payload(), conversation=REMOTE_REF)
    assert answer.status_code == 202, answer.json_body
    for seq in (1, 2, 3):
        answer = deliver(
            md,
            messages.CASE_CLOSURE,
            closure_payload(),
            conversation=REMOTE_REF,
            seq=seq,
        )
        assert answer.status_code == 422
        assert answer.json_body["code"] == "refused:cases.not_party"
    case = Case.objects.get(trm_case_ref=REMOTE_REF)
    assert case.transnational == T.LINKED
    answer = deliver(
        ro, messages.CASE_CLOSURE, closure_payload(), conversation=REMOTE_REF, seq=2
    )
    assert answer.status_code == 202, answer.json_body
    case.refresh_from_db()
    assert case.transnational == T.UNLINKED


def test_a_peer_this_node_alerted_is_party_to_the_case(case, ncp, peer):
    make_peer("peer-md", "MD")
    set_states(case, transnational=T.NCP_NOTIFIED)
    services.case_alert_send(
        actor=ncp,
        case_id=case.pk,
        peer_node="peer-ro",
        urgency="normal",
        requests=["services"],
    )
    case.refresh_from_db()
    reference = case.trm_case_ref
    with pytest.raises(messages.NotParty):
        apply(
            inbound(
                messages.CASE_CLOSURE,
                closure_payload(trm_case_ref=reference),
                sender="peer-md",
                conversation=reference,
            )
        )
    apply(
        inbound(
            messages.CASE_CLOSURE,
            closure_payload(trm_case_ref=reference),
            conversation=reference,
        )
    )
    assert case.events.filter(kind="case.closure_received").count() == 1


def test_a_case_opened_from_a_peers_message_is_that_peers(ncp_org, peer):
    make_peer("peer-md", "MD")
    peer_org = OrganisationFactory(
        name="Fictional Peer NCP", country="RO", home_node="peer-ro"
    )
    actor = node_user(organisation=peer_org, role=Role.NATIONAL_CONTACT_POINT)
    with transaction.atomic():
        case = services.case_open_linked(
            actor=actor,
            organisation_id=ncp_org.pk,
            trm_case_ref=REMOTE_REF,
            identity=None,
        )
    assert messages.opened_from(case, "peer-ro")
    assert not messages.opened_from(case, "peer-md")
    with pytest.raises(messages.NotParty):
        apply(
            inbound(
                messages.CASE_CLOSURE,
                closure_payload(),
                sender="peer-md",
                conversation=REMOTE_REF,
            )
        )
    apply(inbound(messages.CASE_CLOSURE, closure_payload(), conversation=REMOTE_REF))
    case.refresh_from_db()
    assert case.transnational == T.UNLINKED


def test_an_acknowledgement_outside_the_alerts_conversation_is_refused(case, ncp, peer):
    set_states(case, transnational=T.NCP_NOTIFIED)
    services.case_alert_send(
        actor=ncp,
        case_id=case.pk,
        peer_node="peer-ro",
        urgency="normal",
        requests=["return_planning"],
    )
    alert = OutboxMessage.objects.get(type=messages.CASE_ALERT)
    case.refresh_from_db()
    ack = {
        "trm_case_ref": case.trm_case_ref,
        "receiver_reference": "RO-2026-00042",
        "contact": sender_org(),
        "expected_answer_by": timezone.now().isoformat(),
    }
    with pytest.raises(messages.NotLinked):
        apply(
            inbound(
                messages.CASE_ALERT_ACK, ack, conversation="", in_reply_to=alert.msg_id
            )
        )
    case.refresh_from_db()
    assert case.transnational == T.COUNTERPART_ALERTED


def test_a_proceedings_notice_not_declaring_legal_is_refused_both_ways(case, peer):
    from trm.cases.tests.inbox_fakes import handled

    notice = {
        "trm_case_ref": REMOTE_REF,
        "kind": "hearing",
        "hearing_at": timezone.now().isoformat(),
        "support_needed": ["interpretation"],
        "sending_organisation": sender_org(),
    }
    obligation = "legal_obligation:Fictional Procedure Act art. 3"
    with pytest.raises(MessageInvalid) as caught, transaction.atomic():
        exchange.enqueue(
            to_node="peer-ro",
            type=messages.PROCEEDINGS_NOTICE,
            payload=notice,
            legal_basis=obligation,
            categories=["risk"],
            case_id=case.pk,
        )
    assert caught.value.details["categories"] == ["legal"]
    fake = signed_peer()
    with handled(messages.PROCEEDINGS_NOTICE) as calls:
        answer = deliver(
            fake,
            messages.PROCEEDINGS_NOTICE,
            notice,
            conversation=REMOTE_REF,
            legal_basis=exchange.PSEUDONYMOUS,
            categories=[],
        )
        assert answer.json_body["code"] == "category_not_allowed"
        answer = deliver(
            fake,
            messages.PROCEEDINGS_NOTICE,
            notice,
            conversation=REMOTE_REF,
            legal_basis=obligation,
            categories=["legal"],
        )
        assert answer.status_code == 202, answer.json_body
    assert len(calls) == 1
