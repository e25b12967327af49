"""Regional statistics without pooling (issue 8, item 6; EXCHANGE
``stats.aggregate.request`` / ``.response``, :mod:`trm.statistics.messages`).

A coordinator node (its national contact point) asks member nodes for an
agreed table (:func:`regional_table_request`). Each member answers
automatically, if it shares its tables with that peer
(``settings.TRM_STATS_SHARE_AGGREGATES``), with ONLY its
disclosure-controlled table of its OWN cases (source ``live``):
:func:`~trm.statistics.tables.count_table` then
:func:`~trm.statistics.disclosure.protect` with its own threshold
(:func:`answer_aggregate_request`). No case-level record, and no exact small
count, leaves a node. The published datasets (``historical``, e.g. CTDC) are
the same public records on every node: members never count them; when the
request includes them the coordinator adds its own count once. The
coordinator stores each answer (:func:`receive_aggregate_response`) and combines them
(:func:`regional_table`): a regional figure is the sum of the nodes' published
(rounded) figures; if any node suppressed it, the regional figure is
*incomplete* (no value) rather than silently summed lower.

The regional table is not passed through ``protect`` again: its inputs are
already published figures (rounded, small counts suppressed by each node with
its own threshold); a sum of published figures reveals nothing the
coordinator did not already receive, and re-suppressing rounded sums (e.g. a
regional 5 made of one node's published 5) would hide figures that were safe
to publish while the exact counts needed to do it properly never leave the
nodes.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_countries import countries

from trm.accounts.models import Role, User
from trm.audit import services as audit
from trm.cases.models import AgeBand
from trm.common.htcds import Gender, TypeOfExploitation
from trm.exchange import registry
from trm.exchange import services as exchange
from trm.exchange.models import OutboxMessage, OutboxStatus, PeerStatus
from trm.statistics import disclosure
from trm.statistics.ctdc import AGE_BANDS as CTDC_AGE_BANDS
from trm.statistics.errors import (
    AlreadyAnswered,
    InvalidAnswer,
    InvalidTable,
    NotCoordinator,
    UnknownAggregateRequest,
    UnknownDimension,
)
from trm.statistics.messages import (
    AGGREGATE_REQUEST,
    AGGREGATE_RESPONSE,
    LEGAL_BASIS,
    StatsAggregateRequestV1,
    StatsAggregateResponseV1,
)
from trm.statistics.models import AggregateRequest, AggregateResponse, AggregateStatus
from trm.statistics.tables import (
    DIMENSIONS,
    SOURCES,
    Period,
    count_table,
    protected_table,
)

#: Who asks for and reads regional tables: the national coordinator.
COORDINATOR_ROLES = frozenset({Role.NATIONAL_CONTACT_POINT})
#: The reason of a refusal by a node that does not share with the asker.
NOT_SHARED = "not_shared"


@dataclass(frozen=True)
class TableSpec:
    """An agreed table: dimension codes, years (None: open), sources."""

    rows: str
    columns: str | None
    first_year: int | None
    last_year: int | None
    sources: tuple[str, ...]

    def audit_data(self) -> dict[str, Any]:
        """The spec as audit data (codes and years; never a figure)."""
        return {
            "rows": self.rows,
            "columns": self.columns or "",
            "first_year": self.first_year,
            "last_year": self.last_year,
            "sources": list(self.sources),
        }


def table_spec(
    *,
    rows: str,
    columns: str | None,
    first_year: int | None,
    last_year: int | None,
    sources: Iterable[str],
) -> TableSpec:
    """Validate a table spec strictly.

    Raises:
        UnknownDimension: ``rows``/``columns`` not in ``DIMENSIONS`` or a source
            not in ``SOURCES`` (``details["field"]``).
        InvalidTable: rows and columns the same, no source, or the period
            ends before it starts.
    """
    if rows not in DIMENSIONS:
        raise UnknownDimension(
            _("Unknown dimension."), details={"field": "rows", "value": rows[:40]}
        )
    if columns and columns not in DIMENSIONS:
        raise UnknownDimension(
            _("Unknown dimension."),
            details={"field": "columns", "value": columns[:40]},
        )
    if columns == rows:
        raise InvalidTable(
            _("Rows and columns must be different dimensions."),
            details={"field": "columns"},
        )
    chosen = tuple(sorted(set(sources)))
    if not chosen:
        raise InvalidTable(
            _("Choose at least one source."), details={"field": "sources"}
        )
    unknown = sorted(set(chosen) - SOURCES)
    if unknown:
        raise UnknownDimension(
            _("Unknown source."), details={"field": "sources", "value": unknown[0][:40]}
        )
    if first_year is not None and last_year is not None and last_year < first_year:
        raise InvalidTable(
            _("The period ends before it starts."), details={"field": "last_year"}
        )
    return TableSpec(rows, columns or None, first_year, last_year, chosen)


def require_coordinator(user: User) -> None:
    """Raises: NotCoordinator — the user is not a national contact point."""
    if not (user.is_active and user.has_role(*COORDINATOR_ROLES)):
        raise NotCoordinator(
            _("Only national contact points may ask for regional tables.")
        )


_WORD = re.compile(r"[A-Za-z_]{1,40}")


# --- Coordinator side -------------------------------------------------------------


@transaction.atomic(durable=True)
def regional_table_request(
    *,
    actor: User,
    rows: str,
    columns: str | None,
    period: Period,
    peers: Sequence[str],
    sources: Iterable[str] = ("live",),
) -> AggregateRequest:
    """Ask ``peers`` for an agreed table (``stats.aggregate.request`` v1).

    Args:
        actor: a national contact point (the national coordinator).
        rows, columns: codes of :data:`~trm.statistics.tables.DIMENSIONS`.
        period: years of registration.
        peers: node ids of active peers (at least one; each asked once).
        sources: subset of :data:`~trm.statistics.tables.SOURCES`. Members
            count only their own cases (``live``); ``historical`` (the
            published datasets every node may hold, e.g. CTDC) is counted once,
            by this node, in :func:`regional_table` — never once per member.

    Returns:
        The stored :class:`AggregateRequest`, with one ``waiting``
        :class:`AggregateResponse` per peer.

    Raises:
        NotCoordinator: the actor is not a national contact point.
        UnknownDimension, InvalidTable: see :func:`table_spec`; no peer;
            ``live`` not among the sources.
        PeerUnavailable: a peer is unknown or disabled (nothing is sent).
    """
    require_coordinator(actor)
    spec = table_spec(
        rows=rows,
        columns=columns,
        first_year=period.first_year,
        last_year=period.last_year,
        sources=sources,
    )
    if "live" not in spec.sources:
        raise InvalidTable(
            _(
                "A regional table counts the member nodes' own cases: keep "
                "their cases among the sources (the published datasets alone "
                "are on this node's dashboard)."
            ),
            details={"field": "sources"},
        )
    nodes = list(dict.fromkeys(peers))
    if not nodes:
        raise InvalidTable(_("Choose at least one node."), details={"field": "peers"})
    for node in nodes:
        exchange.active_peer(node)
    request = AggregateRequest.objects.create(
        id=uuid.uuid4(),
        rows=spec.rows,
        columns=spec.columns or "",
        first_year=spec.first_year,
        last_year=spec.last_year,
        sources=list(spec.sources),
        requested_by=actor,
        requested_at=timezone.now(),
    )
    payload = StatsAggregateRequestV1(
        request_id=request.pk,
        rows=spec.rows,
        columns=spec.columns,
        first_year=spec.first_year,
        last_year=spec.last_year,
        sources=list(spec.sources),
    )
    for node in nodes:
        message = exchange.enqueue(
            to_node=node,
            type=AGGREGATE_REQUEST,
            payload=payload,
            legal_basis=LEGAL_BASIS,
            actor=actor,
        )
        AggregateResponse.objects.create(
            request=request, peer_node=node, msg_id=message.msg_id
        )
    audit.record(
        actor=actor,
        action="statistics.aggregate_requested",
        target_type="statistics.aggregate_request",
        target_id=str(request.pk),
        data={**spec.audit_data(), "peers": nodes},
    )
    return request


def receive_aggregate_response(message: registry.Inbound) -> UUID | None:
    """Handler of ``stats.aggregate.response``: store a node's answer to a
    request this node sent it.

    Raises:
        UnknownAggregateRequest: no such request was sent to the sender.
        AlreadyAnswered: the sender already answered it.
    """
    payload = message.payload
    assert isinstance(payload, StatsAggregateResponseV1)  # noqa: S101 - the schema
    response = (
        AggregateResponse.objects.select_for_update()
        .filter(request_id=payload.request_id, peer_node=message.sender)
        .first()
    )
    if response is None or (
        message.in_reply_to is not None and message.in_reply_to != response.msg_id
    ):
        raise UnknownAggregateRequest(
            _("This node sent no such request to that node."),
            details={"field": "request_id"},
        )
    if response.status != AggregateStatus.WAITING:
        raise AlreadyAnswered(
            _("That node already answered this request."),
            details={"field": "request_id"},
        )
    answered = payload.status == "answered"
    if answered:
        check_answer(response.request, payload)
    response.status = AggregateStatus.ANSWERED if answered else AggregateStatus.REFUSED
    response.reason = "" if answered else (payload.reason or NOT_SHARED)
    response.table = (
        payload.model_dump(mode="json", exclude={"request_id", "status", "reason"})
        if answered
        else None
    )
    response.answered_at = timezone.now()
    response.save(update_fields=["status", "reason", "table", "answered_at"])
    audit.record(
        actor=f"node:{message.sender}",
        action="statistics.aggregate_received",
        target_type="statistics.aggregate_request",
        target_id=str(payload.request_id),
        data={"peer": message.sender, "outcome": response.status},
    )
    return None


def _label_is_code(dimension: str, label: str) -> bool:
    """Whether ``label`` is a value :func:`count_table` can give ``dimension``."""
    if label == "":
        return True
    if dimension == "year":
        return label.isdigit() and len(label) == 4
    if dimension == "sex":
        return label in Gender.values
    if dimension == "age_group":
        return label in AgeBand.values or label in CTDC_AGE_BANDS
    if dimension in {"citizenship", "country_of_exploitation"}:
        return label in dict(countries)
    if dimension == "child":
        return label in {"child", "adult"}
    # exploitation_type: HTCDS codes, or a screening kind passed through.
    return label in TypeOfExploitation.values or _WORD.fullmatch(label) is not None


def check_answer(request: AggregateRequest, payload: StatsAggregateResponseV1) -> None:
    """Refuse an answer that is not a protected table of ``request``'s spec.

    Every row label must be a code of the rows' dimension and every column
    label one of the columns' (``"total"`` without columns); every published
    figure a multiple of the answer's ``base`` and either 0 or at least the
    smallest figure its ``threshold`` lets through (threshold - base // 2),
    with a threshold of at least 3.

    Raises:
        InvalidAnswer: the first problem (``details["field"]``).
    """
    for label in payload.rows:
        if not _label_is_code(request.rows, label):
            raise InvalidAnswer(
                _("An answer row is not a code of the table's rows."),
                details={"field": "rows"},
            )
    for label in payload.columns:
        ok = (
            label == "total"
            if not request.columns
            else _label_is_code(request.columns, label)
        )
        if not ok:
            raise InvalidAnswer(
                _("An answer column is not a code of the table's columns."),
                details={"field": "columns"},
            )
    threshold, base = payload.threshold or 0, payload.base or 0
    if threshold < 3 or base < 1:
        raise InvalidAnswer(
            _("An answer must state a threshold of at least 3 and its base."),
            details={"field": "threshold"},
        )
    smallest = max(threshold - base // 2, 1)
    figures = [f for line in payload.cells for f in line]
    figures += [*payload.row_totals, *payload.column_totals]
    if payload.grand_total is not None:
        figures.append(payload.grand_total)
    for figure in figures:
        value = figure.value
        if value is not None and (value % base or (value != 0 and value < smallest)):
            raise InvalidAnswer(
                _("An answer holds a figure that protection cannot publish."),
                details={"field": "cells"},
            )


# --- Member side ------------------------------------------------------------------


#: What a member node counts in its answer, whatever the request's sources.
MEMBER_SOURCES = ("live",)


def shares_with(node_id: str) -> bool:
    """Whether this node answers ``node_id``'s requests with its tables
    (``TRM_STATS_SHARE_AGGREGATES``: node ids, or ``*`` for every peer)."""
    allowed = set(getattr(settings, "TRM_STATS_SHARE_AGGREGATES", []) or [])
    return "*" in allowed or node_id in allowed


def _figure(figure: disclosure.Figure) -> dict[str, Any]:
    # One reason for every hidden figure: "secondary" would tell the
    # coordinator that figure is at least the threshold (and "suppressed"
    # that it is below), which narrows the hidden counts beside it.
    return {
        "value": figure.value,
        "reason": "suppressed" if figure.reason is not None else None,
    }


def protected_payload(
    request_id: UUID, protected: disclosure.ProtectedTable
) -> StatsAggregateResponseV1:
    """The ``stats.aggregate.response`` of a protected table: published
    figures only (a ProtectedTable holds no exact count)."""
    return StatsAggregateResponseV1.model_validate(
        {
            "request_id": str(request_id),
            "status": "answered",
            "rows": list(protected.rows),
            "columns": list(protected.columns),
            "cells": [[_figure(f) for f in line] for line in protected.cells],
            "row_totals": [_figure(f) for f in protected.row_totals],
            "column_totals": [_figure(f) for f in protected.column_totals],
            "grand_total": _figure(protected.grand_total),
            "threshold": protected.threshold,
            "base": protected.base,
            "note": protected.note,
        }
    )


def answer_aggregate_request(message: registry.Inbound) -> UUID | None:
    """Handler of ``stats.aggregate.request``: answer with this node's
    disclosure-controlled table, or a refusal (``not_shared``) when it does not
    share with the sender. Audited (``statistics.aggregate_answered``: the
    request id, the spec and the outcome, never a figure).

    Raises:
        UnknownDimension, InvalidTable: the spec is not valid (the request is
            rejected with that code; nothing is answered).
    """
    payload = message.payload
    assert isinstance(payload, StatsAggregateRequestV1)  # noqa: S101 - the schema
    spec = table_spec(
        rows=payload.rows,
        columns=payload.columns,
        first_year=payload.first_year,
        last_year=payload.last_year,
        sources=payload.sources,
    )
    if shares_with(message.sender):
        # Only this node's own cases: the published datasets (historical) are
        # the same public records on every node and the coordinator counts them
        # once itself (regional_table), so summing them per member would count
        # each of their persons once per node.
        exact = count_table(
            rows=spec.rows,
            columns=spec.columns,
            period=Period(spec.first_year, spec.last_year),
            sources=MEMBER_SOURCES,
        )
        answer = protected_payload(payload.request_id, disclosure.protect(exact))
    else:
        answer = StatsAggregateResponseV1(
            request_id=payload.request_id, status="refused", reason=NOT_SHARED
        )
    exchange.enqueue(
        to_node=message.sender,
        type=AGGREGATE_RESPONSE,
        payload=answer,
        legal_basis=LEGAL_BASIS,
        in_reply_to=message.msg_id,
        actor=f"node:{message.sender}",
    )
    audit.record(
        actor=f"node:{message.sender}",
        action="statistics.aggregate_answered",
        target_type="statistics.aggregate_request",
        target_id=str(payload.request_id),
        data={
            **spec.audit_data(),
            "peer": message.sender,
            "outcome": answer.status,
        },
    )
    return None


# --- The regional table -----------------------------------------------------------


@dataclass(frozen=True)
class RegionalFigure:
    """A regional figure: the sum of the answering nodes' published figures,
    or ``value`` None and ``incomplete`` when a node suppressed it
    (``suppressed_by``: those nodes)."""

    value: int | None
    suppressed_by: tuple[str, ...] = ()

    @property
    def incomplete(self) -> bool:
        """Whether some node did not publish this figure."""
        return bool(self.suppressed_by)


@dataclass(frozen=True)
class NodeStatus:
    """One asked node: ``status`` waiting / answered / refused, or
    ``undelivered`` when the exchange gave up on (or the node rejected) the
    request message; ``reason`` a code; ``threshold``/``base`` it applied."""

    node: str
    status: str
    reason: str
    threshold: int | None
    base: int | None
    note: str


@dataclass(frozen=True)
class RegionalTable:
    """The combined table (labels are the union of the nodes' labels; a node
    without a label counted nobody there)."""

    request: AggregateRequest
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: tuple[tuple[RegionalFigure, ...], ...]
    row_totals: tuple[RegionalFigure, ...]
    column_totals: tuple[RegionalFigure, ...]
    grand_total: RegionalFigure
    nodes: tuple[NodeStatus, ...]

    @property
    def answered(self) -> tuple[str, ...]:
        """The nodes whose figures are in the table."""
        return tuple(n.node for n in self.nodes if n.status == AggregateStatus.ANSWERED)

    @property
    def complete(self) -> bool:
        """Whether every asked node answered and no figure is incomplete."""
        return len(self.answered) == len(self.nodes) and not any(
            f.incomplete for line in self.cells for f in line
        )


def _combine(parts: list[tuple[str, dict[str, Any] | None]]) -> RegionalFigure:
    total = 0
    suppressed: list[str] = []
    for node, figure in parts:
        if figure is None:
            continue
        if figure.get("value") is None:
            suppressed.append(node)
        else:
            total += int(figure["value"])
    if suppressed:
        return RegionalFigure(value=None, suppressed_by=tuple(suppressed))
    return RegionalFigure(value=total)


def _node_status(response: AggregateResponse, outbox: dict[UUID, str]) -> NodeStatus:
    table = response.table or {}
    status = str(response.status)
    if status == AggregateStatus.WAITING and outbox.get(response.msg_id) in {
        OutboxStatus.DEAD,
        OutboxStatus.REJECTED,
        OutboxStatus.CANCELLED,
    }:
        status = "undelivered"
    return NodeStatus(
        node=response.peer_node,
        status=status,
        reason=response.reason,
        threshold=table.get("threshold"),
        base=table.get("base"),
        note=str(table.get("note", "")),
    )


#: The name under which the coordinator's own count of the published datasets
#: enters a regional table (see :func:`regional_table`).
PUBLISHED_DATASETS = "published-datasets"


def _own_historical(request: AggregateRequest) -> dict[str, Any]:
    """This node's protected count of the published datasets for ``request``,
    in the shape of an answer's table."""
    table = protected_table(
        rows=request.rows,
        columns=request.columns or None,
        period=Period(request.first_year, request.last_year),
        sources=("historical",),
    )
    return protected_payload(request.pk, table).model_dump(
        mode="json", exclude={"request_id", "status", "reason"}
    )


def regional_table(request: AggregateRequest) -> RegionalTable:
    """Combine the answers to ``request`` into the regional table.

    Members answer with their own cases only; when the request includes
    ``historical``, the published datasets (the same public records on every
    node) are added ONCE, from this node's own import, as the part named
    :data:`PUBLISHED_DATASETS` (a figure it suppresses makes the regional
    figure incomplete, like a member's). Nothing is added while no member has
    answered.

    A cell, row total, column total or grand total is the sum of the
    answering nodes' published figures; if any answering node suppressed it,
    it is incomplete (value None, ``suppressed_by`` those nodes). Waiting and
    refused nodes contribute nothing (see :attr:`RegionalTable.nodes`). Not
    protected again (module docstring).
    """
    responses = list(request.responses.order_by("peer_node"))
    outbox = dict(
        OutboxMessage.objects.filter(
            msg_id__in=[r.msg_id for r in responses]
        ).values_list("msg_id", "status")
    )
    nodes = tuple(_node_status(r, outbox) for r in responses)
    tables = [
        (r.peer_node, r.table)
        for r in responses
        if r.status == AggregateStatus.ANSWERED and r.table
    ]
    if "historical" in (request.sources or []) and tables:
        tables.append((PUBLISHED_DATASETS, _own_historical(request)))
    rows = tuple(sorted({label for _n, t in tables for label in t["rows"]}))
    columns = tuple(sorted({label for _n, t in tables for label in t["columns"]}))

    def cell(table: dict[str, Any], row: str, column: str) -> dict[str, Any] | None:
        if row not in table["rows"] or column not in table["columns"]:
            return {"value": 0}
        lines: list[list[dict[str, Any]]] = table["cells"]
        i, j = int(table["rows"].index(row)), int(table["columns"].index(column))
        return lines[i][j]

    def line_total(table: dict[str, Any], key: str, labels: str, label: str) -> Any:
        if label not in table[labels]:
            return {"value": 0}
        return table[key][table[labels].index(label)]

    cells = tuple(
        tuple(_combine([(n, cell(t, r, c)) for n, t in tables]) for c in columns)
        for r in rows
    )
    return RegionalTable(
        request=request,
        rows=rows,
        columns=columns,
        cells=cells,
        row_totals=tuple(
            _combine([(n, line_total(t, "row_totals", "rows", r)) for n, t in tables])
            for r in rows
        ),
        column_totals=tuple(
            _combine(
                [(n, line_total(t, "column_totals", "columns", c)) for n, t in tables]
            )
            for c in columns
        ),
        grand_total=_combine([(n, t["grand_total"]) for n, t in tables]),
        nodes=nodes,
    )


# --- Readers ----------------------------------------------------------------------


def request_list(*, user: User) -> list[AggregateRequest]:
    """The regional table requests, newest first (coordinators only).

    Raises:
        NotCoordinator.
    """
    require_coordinator(user)
    return list(AggregateRequest.objects.prefetch_related("responses")[:200])


def request_get(*, user: User, request_id: UUID) -> AggregateRequest:
    """One request (coordinators only).

    Raises:
        NotCoordinator; UnknownAggregateRequest: no such request.
    """
    require_coordinator(user)
    request = AggregateRequest.objects.filter(pk=request_id).first()
    if request is None:
        raise UnknownAggregateRequest(_("No such regional table request."))
    return request


def active_peers() -> list[tuple[str, str]]:
    """``(node_id, label)`` of the active peers, for the request form."""
    from trm.exchange.models import Peer

    return [
        (p.node_id, f"{p.node_id} ({p.country})")
        for p in Peer.objects.filter(status=PeerStatus.ACTIVE).order_by("node_id")
    ]
