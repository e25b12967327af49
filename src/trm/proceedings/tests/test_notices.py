"""proceedings.notice (M12): sent for a linked case, applied on the receiving node."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from trm.accounts.models import Role
from trm.accounts.tests.factories import UserFactory
from trm.cases import messages as case_messages
from trm.cases import services as cases
from trm.cases.models import Case
from trm.cases.tests.exchange_fakes import apply, inbound, make_peer, payload_of
from trm.cases.tests.factories import open_case, set_states, team_member
from trm.cases.tracks import TransnationalLink
from trm.common.errors import DomainError
from trm.consent import services as consent
from trm.exchange import registry
from trm.exchange.models import OutboxMessage
from trm.proceedings import selectors
from trm.proceedings.messages import apply_proceedings_notice
from trm.proceedings.models import ProceedingsNotice
from trm.proceedings.notices import proceedings_notice_send
from trm.proceedings.tests.helpers import snapshot

pytestmark = pytest.mark.django_db

REMOTE_REF = "peer-ro-0123456789ab"
OBLIGATION = "legal_obligation:Fictional Victims Act art. 6"


def sender_org() -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "name": "Fictional NCP RO", "country": "RO"}


@pytest.fixture
def peer():
    return make_peer("peer-ro", "RO")


@pytest.fixture
def ncp(org_a):
    return UserFactory(
        username="ncp-a", organisation=org_a, roles=[Role.NATIONAL_CONTACT_POINT]
    )


@pytest.fixture
def linked(caseworker_a, ncp, peer) -> Case:
    """A case alerted to peer-ro (so they share its conversation)."""
    case = open_case(caseworker_a, citizenships=["RO"])
    set_states(case, transnational=TransnationalLink.NCP_NOTIFIED)
    cases.case_alert_send(
        actor=ncp,
        case_id=case.pk,
        peer_node="peer-ro",
        urgency="normal",
        requests=["services"],
    )
    case.refresh_from_db()
    return case


def _send(case: Case, actor: Any, **overrides: Any) -> ProceedingsNotice:
    values: dict[str, Any] = {
        "peer_node": "peer-ro",
        "kind": "remote_testimony",
        "legal_basis": OBLIGATION,
        "hearing_at": timezone.now() + timedelta(days=30),
        "support_needed": ["interpretation", "travel"],
        "judicial_reference": "MLA-FICT-2026-7",
    }
    values.update(overrides)
    return proceedings_notice_send(actor=actor, case_id=case.pk, **values)


def test_a_notice_goes_to_the_linked_node_with_logistics_only(linked, caseworker_a):
    notice = _send(linked, caseworker_a)
    [message] = OutboxMessage.objects.filter(type="proceedings.notice")
    assert message.peer.node_id == "peer-ro"
    assert message.categories == ["legal"]
    assert message.conversation == linked.trm_case_ref
    body = payload_of(message)
    assert body["kind"] == "remote_testimony" and body["remote_testimony"] is True
    assert body["judicial_reference"] == "MLA-FICT-2026-7"
    assert set(body) == set(case_messages.ProceedingsNoticeV1.model_fields)
    assert notice.direction == "out" and notice.msg_id == message.msg_id
    assert linked.events.filter(
        kind="sop5.notice_sent", code="remote_testimony"
    ).exists()


def test_an_outcome_notice_tells_the_person_the_outcome(linked, caseworker_a):
    _send(
        linked,
        caseworker_a,
        kind="outcome",
        hearing_at=None,
        outcome="Fictional outcome: the offender was convicted.",
    )
    assert linked.events.filter(kind="sop5.outcome_notified").exists()
    notice = ProceedingsNotice.objects.get(case=linked)
    assert b"convicted" not in bytes(notice.sealed_outcome or b"")


@pytest.mark.parametrize(
    ("override", "code", "field"),
    [
        ({"peer_node": "peer-md"}, "cases.invalid_input", "peer_node"),
        ({"kind": "summons"}, "cases.invalid_input", "kind"),
        ({"hearing_at": None}, "cases.invalid_input", "hearing_at"),
        ({"kind": "outcome", "outcome": ""}, "cases.invalid_input", "outcome"),
        ({"support_needed": ["money"]}, "cases.invalid_input", "support_needed"),
        ({"legal_basis": ""}, "cases.invalid_input", "legal_basis"),
        ({"legal_basis": "pseudonymous"}, "cases.invalid_input", "legal_basis"),
    ],
)
def test_a_bad_notice_is_refused_and_nothing_queued(
    linked, caseworker_a, override, code, field
):
    make_peer("peer-md", "MD")
    before = snapshot(linked), OutboxMessage.objects.count()
    with pytest.raises(DomainError) as caught:
        _send(linked, caseworker_a, **override)
    assert caught.value.code == code
    assert caught.value.details.get("field") == field
    assert (snapshot(linked), OutboxMessage.objects.count()) == before


def test_a_consent_not_covering_legal_data_is_refused(linked, caseworker_a):
    given = consent.consent_record(
        actor=caseworker_a,
        case_id=linked.pk,
        purpose="cross_border_transfer",
        categories=["case_summary"],
        given_by="person",
        language="ro",
        recipient_country="RO",
        declaration="Fictional declaration",
    )
    before = OutboxMessage.objects.count()
    with pytest.raises(DomainError) as caught:
        _send(linked, caseworker_a, legal_basis=f"consent:{given.pk}")
    assert caught.value.code == "consent.missing"
    assert OutboxMessage.objects.count() == before
    assert not ProceedingsNotice.objects.exists()


def test_a_case_without_a_link_sends_no_notice(caseworker_a, peer):
    case = open_case(caseworker_a)
    with pytest.raises(DomainError) as caught:
        _send(case, caseworker_a)
    assert caught.value.details["reason"] == "not_linked"


def test_a_service_provider_sends_no_notice(linked):
    provider = team_member(linked, Role.SERVICE_PROVIDER)
    with pytest.raises(DomainError) as caught:
        _send(linked, provider)
    assert caught.value.code == "cases.role_required"


def _notice(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "trm_case_ref": REMOTE_REF,
        "kind": "hearing",
        "hearing_at": (timezone.now() + timedelta(days=10)).isoformat(),
        "support_needed": ["accompaniment"],
        "sending_organisation": sender_org(),
    }
    values.update(overrides)
    return values


def test_the_receiving_node_records_the_notice_on_its_linked_case(org_a, peer):
    ncp = UserFactory(organisation=org_a, roles=[Role.NATIONAL_CONTACT_POINT])
    alert = {
        "trm_case_ref": REMOTE_REF,
        "country_of_identification": "RO",
        "urgency": "normal",
        "requests": ["services"],
        "sending_organisation": sender_org(),
    }
    apply(inbound(case_messages.CASE_ALERT, alert, conversation=REMOTE_REF))
    apply(
        inbound(
            "proceedings.notice",
            _notice(kind="offender_release", outcome="Fictional: released today."),
            conversation=REMOTE_REF,
            seq=2,
            legal_basis=OBLIGATION,
            categories=("legal",),
        )
    )
    case = Case.objects.get(trm_case_ref=REMOTE_REF)
    notice = ProceedingsNotice.objects.get(case=case)
    assert (notice.direction, notice.kind, notice.peer_node) == (
        "in",
        "offender_release",
        "peer-ro",
    )
    event = case.events.get(kind="sop5.notice_received")
    assert (event.code, event.visibility) == ("offender_release", "team")
    [view] = selectors.notices_for_user(user=ncp, case=case)
    assert view.outcome == "Fictional: released today."


def test_a_notice_for_no_linked_case_is_refused(peer):
    with pytest.raises(case_messages.NotLinked):
        apply(
            inbound(
                "proceedings.notice",
                _notice(),
                conversation=REMOTE_REF,
                legal_basis=OBLIGATION,
                categories=("legal",),
            )
        )
    assert not ProceedingsNotice.objects.exists()


def test_the_type_is_registered_with_this_apps_handler():
    mtype = registry.message_type("proceedings.notice")
    assert mtype is not None and mtype.handler is apply_proceedings_notice
    assert mtype.categories == {"legal", "risk"}
