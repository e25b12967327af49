"""trm.statistics on the transnational channel: regional statistics without
pooling (issue 8, item 6).

``stats.aggregate.request`` v1 — a coordinator node asks a member node for an
agreed table: ``rows`` and ``columns`` (codes of
:data:`trm.statistics.tables.DIMENSIONS`), the years of registration and the
sources, under a ``request_id``.

``stats.aggregate.response`` v1 — the member node's answer, sent
automatically by :func:`trm.statistics.regional.answer_aggregate_request`:
ONLY its disclosure-controlled table (:func:`trm.statistics.disclosure.protect`
with its own threshold): labels, published figures (multiples of ``base``, or
``None`` with the reason ``suppressed`` / ``secondary``), the ``threshold`` and
``base`` used and the note; or ``status="refused"`` with a reason code when the
node does not share its tables with that peer (``TRM_STATS_SHARE_AGGREGATES``).

Neither carries a data category: aggregates of at least ``threshold`` persons,
rounded, are not personal data, so both travel under the ``pseudonymous``
legal basis (the exchange refuses that basis for any personal category). They
belong to no case and no case conversation (``conversation=""``, ``seq`` 0:
not ordered); the response names its request by ``in_reply_to`` and
``request_id``.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trm.exchange import registry

AGGREGATE_REQUEST = "stats.aggregate.request"
AGGREGATE_RESPONSE = "stats.aggregate.response"
#: The legal basis of both types: aggregates are not personal data.
LEGAL_BASIS = "pseudonymous"

#: Most labels a dimension may have in a table (every ISO country and a few).
MAX_LABELS = 300
_CODE = r"^[a-z_]{1,40}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StatsAggregateRequestV1(_Strict):
    """``stats.aggregate.request`` v1: the agreed table.

    ``rows`` / ``columns``: dimension codes (``columns`` None: one column
    ``"total"``); ``first_year`` / ``last_year``: years of registration, both
    included, None open; ``sources``: ``historical`` and/or ``live``. Codes
    outside the vocabularies are refused by the receiver's handler with
    ``statistics.unknown_dimension`` (stable across versions), not by the schema.
    """

    request_id: UUID
    rows: str = Field(pattern=_CODE)
    columns: str | None = Field(default=None, pattern=_CODE)
    first_year: int | None = Field(default=None, ge=1900, le=2100)
    last_year: int | None = Field(default=None, ge=1900, le=2100)
    sources: list[str] = Field(min_length=1, max_length=4)


class AggregateFigureV1(_Strict):
    """One published figure: ``value`` (persons, rounded) or None with
    ``reason``."""

    value: int | None = Field(default=None, ge=0)
    reason: Literal["suppressed", "secondary"] | None = None

    @model_validator(mode="after")
    def _value_or_reason(self) -> AggregateFigureV1:
        if (self.value is None) == (self.reason is None):
            raise ValueError("a figure has a value or a reason, not both")
        return self


class StatsAggregateResponseV1(_Strict):
    """``stats.aggregate.response`` v1: a node's disclosure-controlled table.

    ``status`` ``answered``: ``rows``/``columns`` labels, ``cells[i][j]``,
    ``row_totals[i]``, ``column_totals[j]``, ``grand_total`` (each an
    :class:`AggregateFigureV1`), the ``threshold`` and rounding ``base`` the
    node applied and its ``note``. ``refused``: ``reason`` (e.g.
    ``not_shared``) and no table.
    """

    request_id: UUID
    status: Literal["answered", "refused"]
    reason: str = Field(default="", max_length=40)
    rows: list[str] = Field(default_factory=list, max_length=MAX_LABELS)
    columns: list[str] = Field(default_factory=list, max_length=MAX_LABELS)
    cells: list[list[AggregateFigureV1]] = Field(
        default_factory=list, max_length=MAX_LABELS
    )
    row_totals: list[AggregateFigureV1] = Field(
        default_factory=list, max_length=MAX_LABELS
    )
    column_totals: list[AggregateFigureV1] = Field(
        default_factory=list, max_length=MAX_LABELS
    )
    grand_total: AggregateFigureV1 | None = None
    threshold: int | None = Field(default=None, ge=1)
    base: int | None = Field(default=None, ge=1)
    note: str = Field(default="", max_length=1000)

    @model_validator(mode="after")
    def _shape(self) -> StatsAggregateResponseV1:
        if self.status == "refused":
            if self.rows or self.cells or self.grand_total is not None:
                raise ValueError("a refusal carries no table")
            return self
        if self.grand_total is None or self.threshold is None or self.base is None:
            raise ValueError("an answer carries its table, threshold and base")
        if len(self.cells) != len(self.rows) or len(self.row_totals) != len(self.rows):
            raise ValueError("one line of cells and one total per row")
        if len(self.column_totals) != len(self.columns) or any(
            len(line) != len(self.columns) for line in self.cells
        ):
            raise ValueError("one cell and one total per column")
        return self


def register_all() -> None:
    """Register both types with their handlers (``ready()``)."""
    from trm.statistics.regional import (
        answer_aggregate_request,
        receive_aggregate_response,
    )

    registry.register(
        registry.MessageType(
            name=AGGREGATE_REQUEST,
            version=1,
            schema=StatsAggregateRequestV1,
            categories=frozenset(),
            handler=answer_aggregate_request,
            description="Regional statistics: ask a node for an agreed table",
        )
    )
    registry.register(
        registry.MessageType(
            name=AGGREGATE_RESPONSE,
            version=1,
            schema=StatsAggregateResponseV1,
            categories=frozenset(),
            handler=receive_aggregate_response,
            description="Regional statistics: a node's disclosure-controlled table",
        )
    )
