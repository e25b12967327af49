"""Regional statistics without pooling: stats.aggregate.request / .response
(issue 8, item 6). One test database plays the coordinator and the members at
the handler level (trm.cases.tests.exchange_fakes); the real inbox checks the
request's spec (inbox_fakes). All records are synthetic."""

from __future__ import annotations

import uuid

import pytest

from trm.accounts.models import Role
from trm.accounts.tests.factories import UserFactory
from trm.audit.models import AuditEntry
from trm.cases.tests.exchange_fakes import (
    apply,
    inbound,
    make_peer,
    payload_of,
    reply_to,
)
from trm.cases.tests.inbox_fakes import deliver, signed_peer
from trm.exchange.errors import PeerUnavailable
from trm.exchange.models import OutboxMessage
from trm.statistics import disclosure, regional
from trm.statistics.errors import (
    AlreadyAnswered,
    InvalidTable,
    NotCoordinator,
    UnknownAggregateRequest,
    UnknownDimension,
)
from trm.statistics.messages import (
    AGGREGATE_REQUEST,
    AGGREGATE_RESPONSE,
    StatsAggregateResponseV1,
)
from trm.statistics.models import AggregateRequest, AggregateResponse
from trm.statistics.tables import Period
from trm.statistics.tests.test_tables import live_case

pytestmark = pytest.mark.django_db

SMALL = 3  # a count below the threshold (10): it must never leave the node.


def record(actor, n: int, *, year: int, gender: str, citizenship: str) -> None:
    """``n`` live cases (identified trafficked persons) opened in ``year``:
    what a member node counts in its answers (its own cases)."""
    for _ in range(n):
        live_case(actor, opened=year, gender=gender, citizenships=[citizenship])


def request_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "request_id": str(uuid.uuid4()),
        "rows": "citizenship",
        "columns": "sex",
        "first_year": 2018,
        "last_year": 2019,
        "sources": ["live"],
    }
    body.update(overrides)
    return body


@pytest.fixture
def coordinator(org_a):
    return UserFactory(
        username="ncp-coord", organisation=org_a, roles=[Role.NATIONAL_CONTACT_POINT]
    )


@pytest.fixture
def records(caseworker_a):
    record(caseworker_a, SMALL, year=2018, gender="Feminine", citizenship="MD")
    record(caseworker_a, 42, year=2018, gender="Masculine", citizenship="MD")
    record(caseworker_a, 37, year=2019, gender="Feminine", citizenship="RO")
    record(caseworker_a, 51, year=2019, gender="Masculine", citizenship="RO")
    record(caseworker_a, 12, year=2019, gender="Feminine", citizenship="MD")
    record(caseworker_a, 99, year=2015, gender="Masculine", citizenship="UA")


# --- member side --------------------------------------------------------------------


def test_the_member_answers_only_protected_figures(records, settings):
    settings.TRM_STATS_SHARE_AGGREGATES = ["peer-coord"]
    make_peer("peer-coord", "BG")
    body = request_body()
    message = inbound(AGGREGATE_REQUEST, body, sender="peer-coord")
    apply(message)

    [out] = OutboxMessage.objects.filter(type=AGGREGATE_RESPONSE)
    assert out.peer.node_id == "peer-coord"
    assert out.legal_basis == "pseudonymous" and out.categories == []
    assert out.conversation == "" and out.seq == 0
    assert out.in_reply_to == message.msg_id
    answer = payload_of(out)
    assert answer["status"] == "answered"
    assert answer["request_id"] == body["request_id"]
    assert answer["rows"] == ["MD", "RO"]  # 2015 is outside the period
    assert answer["columns"] == ["Feminine", "Masculine"]
    assert answer["threshold"] == 10 and answer["base"] == 5 and answer["note"]
    figures = [f for line in answer["cells"] for f in line]
    figures += answer["row_totals"] + answer["column_totals"] + [answer["grand_total"]]
    # MD × Female = 3 + 12 = 15 is published; the small 2018 count only inside it.
    md_female = answer["cells"][0][0]
    assert md_female == {"value": 15, "reason": None}
    for figure in figures:
        assert figure["value"] is None or figure["value"] % 5 == 0
        assert figure["value"] not in {SMALL, 12, 37, 42, 51}  # no exact count
    assert set(answer) == set(StatsAggregateResponseV1.model_fields)
    entry = AuditEntry.objects.get(action="statistics.aggregate_answered")
    assert entry.target_id == body["request_id"]


def test_a_small_count_is_suppressed_not_sent(records, settings, caseworker_a):
    settings.TRM_STATS_SHARE_AGGREGATES = ["*"]
    make_peer("peer-coord", "BG")
    apply(
        inbound(
            AGGREGATE_REQUEST,
            request_body(first_year=2018, last_year=2018, columns=None),
            sender="peer-coord",
        )
    )
    answer = payload_of(OutboxMessage.objects.get(type=AGGREGATE_RESPONSE))
    assert answer["rows"] == ["MD"]
    [[cell]] = answer["cells"]
    assert cell["value"] == 45  # 45 persons (42 + 3), rounded: still 45
    # A table whose only small figure is a cell: it is suppressed with its complement.
    record(caseworker_a, SMALL, year=2017, gender="Feminine", citizenship="RO")
    record(caseworker_a, 30, year=2017, gender="Masculine", citizenship="RO")
    apply(
        inbound(
            AGGREGATE_REQUEST,
            request_body(first_year=2017, last_year=2017),
            sender="peer-coord",
        )
    )
    [second] = OutboxMessage.objects.filter(type=AGGREGATE_RESPONSE).order_by(
        "-created_at"
    )[:1]
    answer = payload_of(second)
    values = [f["value"] for line in answer["cells"] for f in line]
    assert SMALL not in values and None in values
    assert {f["reason"] for line in answer["cells"] for f in line} >= {"suppressed"}


def test_a_node_that_does_not_share_refuses_and_audits(records, settings):
    settings.TRM_STATS_SHARE_AGGREGATES = ["peer-other"]
    make_peer("peer-coord", "BG")
    body = request_body()
    apply(inbound(AGGREGATE_REQUEST, body, sender="peer-coord"))
    answer = payload_of(OutboxMessage.objects.get(type=AGGREGATE_RESPONSE))
    assert answer["status"] == "refused" and answer["reason"] == "not_shared"
    assert answer["cells"] == [] and answer["grand_total"] is None
    assert AuditEntry.objects.filter(
        action="statistics.aggregate_answered", target_id=body["request_id"]
    ).exists()


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"rows": "name"}, "rows"),
        ({"columns": "date_of_birth"}, "columns"),
        ({"sources": ["case_files"]}, "sources"),
    ],
)
def test_an_unknown_dimension_is_refused(override, field, settings):
    settings.TRM_STATS_SHARE_AGGREGATES = ["*"]
    make_peer("peer-coord", "BG")
    with pytest.raises(UnknownDimension) as caught:
        apply(inbound(AGGREGATE_REQUEST, request_body(**override), sender="peer-coord"))
    assert caught.value.code == "statistics.unknown_dimension"
    assert caught.value.details["field"] == field
    assert not OutboxMessage.objects.exists()


def test_the_inbox_rejects_an_unknown_dimension_with_its_code(settings):
    settings.TRM_STATS_SHARE_AGGREGATES = ["*"]
    fake = signed_peer("peer-coord", "BG")
    answer = deliver(fake, AGGREGATE_REQUEST, request_body(rows="name"))
    assert answer.status_code == 422
    assert answer.json_body["code"] == "refused:statistics.unknown_dimension"
    answer = deliver(fake, AGGREGATE_REQUEST, request_body())
    assert answer.status_code == 202, answer.json_body
    # Aggregates carry no personal category: any declared one is refused.
    answer = deliver(
        fake,
        AGGREGATE_REQUEST,
        request_body(),
        legal_basis="vital_interest",
        categories=["identity"],
    )
    assert answer.status_code == 422


# --- coordinator side ---------------------------------------------------------------


def _answer(table: disclosure.Table, request_id: uuid.UUID) -> dict[str, object]:
    return regional.protected_payload(request_id, disclosure.protect(table)).model_dump(
        mode="json"
    )


def test_the_coordinator_combines_answers_and_marks_suppressed_cells(coordinator):
    make_peer("peer-md", "MD")
    make_peer("peer-ro", "RO")
    sent = regional.regional_table_request(
        actor=coordinator,
        rows="year",
        columns="sex",
        period=Period(2018, 2019),
        peers=["peer-md", "peer-ro"],
    )
    outs = {
        m.peer.node_id: m for m in OutboxMessage.objects.filter(type=AGGREGATE_REQUEST)
    }
    assert set(outs) == {"peer-md", "peer-ro"}
    assert outs["peer-md"].legal_basis == "pseudonymous"
    assert payload_of(outs["peer-md"])["request_id"] == str(sent.pk)

    # peer-md: 2019 × Female is small (4), suppressed with its complements.
    md = disclosure.Table(
        rows=["2018", "2019"],
        columns=["Feminine", "Masculine"],
        cells=[[20, 30], [4, 40]],
    )
    # peer-ro: everything publishable, and a column peer-md does not have.
    ro = disclosure.Table(
        rows=["2018", "2019"],
        columns=["Feminine", "Masculine", "NonSpecifiedUnknown"],
        cells=[[50, 60, 10], [70, 80, 15]],
    )
    apply(reply_to(outs["peer-md"], AGGREGATE_RESPONSE, _answer(md, sent.pk)))
    table = regional.regional_table(sent)
    assert [(n.node, n.status) for n in table.nodes] == [
        ("peer-md", "answered"),
        ("peer-ro", "waiting"),
    ]
    assert not table.complete
    apply(reply_to(outs["peer-ro"], AGGREGATE_RESPONSE, _answer(ro, sent.pk)))

    table = regional.regional_table(sent)
    assert table.rows == ("2018", "2019")
    assert table.columns == ("Feminine", "Masculine", "NonSpecifiedUnknown")
    female_2019 = table.cells[1][0]
    assert female_2019.incomplete and female_2019.value is None
    assert female_2019.suppressed_by == ("peer-md",)
    # Published figures add up; a column only peer-ro has counts 0 elsewhere.
    assert table.cells[0][2].value == 10 and not table.cells[0][2].incomplete
    assert not table.complete
    for line in table.cells:
        for figure in line:
            assert figure.value is None or figure.value % 5 == 0
    assert {n.node: n.threshold for n in table.nodes} == {"peer-md": 10, "peer-ro": 10}
    assert (
        AuditEntry.objects.filter(action="statistics.aggregate_received").count() == 2
    )
    requested = AuditEntry.objects.get(action="statistics.aggregate_requested")
    assert requested.target_id == str(sent.pk)

    # A second answer to the same request is refused.
    with pytest.raises(AlreadyAnswered):
        apply(reply_to(outs["peer-ro"], AGGREGATE_RESPONSE, _answer(ro, sent.pk)))


def test_a_refusal_is_shown_as_refused(coordinator):
    make_peer("peer-md", "MD")
    sent = regional.regional_table_request(
        actor=coordinator, rows="sex", columns=None, period=Period(), peers=["peer-md"]
    )
    out = OutboxMessage.objects.get(type=AGGREGATE_REQUEST)
    apply(
        reply_to(
            out,
            AGGREGATE_RESPONSE,
            {"request_id": str(sent.pk), "status": "refused", "reason": "not_shared"},
        )
    )
    table = regional.regional_table(sent)
    assert [(n.node, n.status, n.reason) for n in table.nodes] == [
        ("peer-md", "refused", "not_shared")
    ]
    assert table.rows == () and table.grand_total.value == 0


def test_an_answer_to_a_request_not_sent_to_that_node_is_refused(coordinator):
    make_peer("peer-md", "MD")
    make_peer("peer-ua", "UA")
    sent = regional.regional_table_request(
        actor=coordinator, rows="sex", columns=None, period=Period(), peers=["peer-md"]
    )
    table = disclosure.Table(rows=["Masculine"], columns=["total"], cells=[[20]])
    with pytest.raises(UnknownAggregateRequest):
        apply(inbound(AGGREGATE_RESPONSE, _answer(table, sent.pk), sender="peer-ua"))
    assert AggregateResponse.objects.get(peer_node="peer-md").status == "waiting"


def test_only_the_national_coordinator_asks(caseworker_a):
    make_peer("peer-md", "MD")
    with pytest.raises(NotCoordinator) as caught:
        regional.regional_table_request(
            actor=caseworker_a,
            rows="sex",
            columns=None,
            period=Period(),
            peers=["peer-md"],
        )
    assert caught.value.code == "statistics.not_coordinator"
    assert not AggregateRequest.objects.exists() and not OutboxMessage.objects.exists()


def test_a_request_to_a_disabled_peer_sends_nothing(coordinator):
    make_peer("peer-md", "MD")
    make_peer("peer-off", "UA", active=False)
    with pytest.raises(PeerUnavailable):
        regional.regional_table_request(
            actor=coordinator,
            rows="sex",
            columns=None,
            period=Period(),
            peers=["peer-md", "peer-off"],
        )
    assert not AggregateRequest.objects.exists() and not OutboxMessage.objects.exists()


def test_the_coordinator_validates_the_spec(coordinator):
    make_peer("peer-md", "MD")
    with pytest.raises(UnknownDimension):
        regional.regional_table_request(
            actor=coordinator,
            rows="name",
            columns=None,
            period=Period(),
            peers=["peer-md"],
        )
    with pytest.raises(InvalidTable):
        regional.regional_table_request(
            actor=coordinator,
            rows="sex",
            columns="sex",
            period=Period(),
            peers=["peer-md"],
        )
    with pytest.raises(InvalidTable):
        regional.regional_table_request(
            actor=coordinator,
            rows="sex",
            columns=None,
            period=Period(2020, 2019),
            peers=["peer-md"],
        )
    assert not AggregateRequest.objects.exists()


# --- pages --------------------------------------------------------------------------


def test_the_pages_send_a_request_after_confirmation_and_show_the_table(
    coordinator, signed_in
):
    make_peer("peer-md", "MD")
    client = signed_in(coordinator)
    assert client.get("/statistics/regional/").status_code == 200
    form = {
        "rows": "year",
        "columns": "sex",
        "sources": ["live"],
        "peers": ["peer-md"],
    }
    confirm = client.post("/statistics/regional/new/", form)
    assert confirm.status_code == 200
    assert b"Send the request" in confirm.content
    assert not AggregateRequest.objects.exists()
    sent = client.post("/statistics/regional/new/", {**form, "confirmed": "on"})
    assert sent.status_code == 302
    request = AggregateRequest.objects.get()
    out = OutboxMessage.objects.get(type=AGGREGATE_REQUEST)
    md = disclosure.Table(
        rows=["2018", "2019"],
        columns=["Feminine", "Masculine"],
        cells=[[20, 30], [4, 40]],
    )
    apply(reply_to(out, AGGREGATE_RESPONSE, _answer(md, request.pk)))
    page = client.get(sent["Location"])
    assert page.status_code == 200
    assert b"incomplete" in page.content and b"peer-md" in page.content
    bad = client.post("/statistics/regional/new/", {**form, "rows": "name"})
    assert bad.status_code == 400
