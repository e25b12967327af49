"""Return-side message types still only declared (EXCHANGE.md §3; SOPS §6.4 M8, M9).

Schemas only, no handler: a peer sending one is answered
``unsupported_type``. They stay in the catalogue so that every type of the
design is declared. Each declares the data categories it may carry, which the
exchange enforces on both sides; personal ones need a consent naming the
recipient (or a named legal obligation where the type declares it). Each also
says which categories a payload actually carries (``carried``), so that a
message cannot carry data its envelope does not declare.

* ``travel.document.request`` / ``.issued`` v1 (M8): the consulate's part of
  the travel documents (recorded by hand on the return plan for now).
* ``return.arrival`` v1 (M9): declared, unused; the arrival confirmation is
  ``return.handover.arrival``.

The other return-side types are registered, with their own schemas and
handlers, by the apps that implement them (one registration per type and
version; :func:`trm.exchange.registry.register` refuses a second):

* :mod:`trm.returns.messages`: ``risk.assessment.joint``, ``return.plan``,
  ``return.plan.response``, ``family.assessment.request`` / ``.report``,
  ``family.tracing.request`` / ``.result`` (M3–M7);
* :mod:`trm.handover.messages`: ``return.handover``,
  ``return.handover.arrival`` (M9);
* :mod:`trm.reintegration.messages`: ``followup.report`` (M10).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from trm.cases.messages import (
    OrganisationRefV1,
    WireIdentityV1,
    WireModel,
    identity_categories,
)
from trm.exchange import registry
from trm.exchange import services as exchange

_REF = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$"


class TravelDocumentRequestV1(WireModel):
    """``travel.document.request`` v1 (M8): destination → origin consulate."""

    trm_case_ref: str = Field(pattern=_REF)
    identity: WireIdentityV1
    document_type: Literal["passport", "identity_card", "emergency_travel_document"]
    sending_organisation: OrganisationRefV1


class TravelDocumentIssuedV1(WireModel):
    """``travel.document.issued`` v1 (M8)."""

    trm_case_ref: str = Field(pattern=_REF)
    document_type: Literal["passport", "identity_card", "emergency_travel_document"]
    number: str = Field(default="", max_length=60)
    issued_on: date
    valid_until: date
    sending_organisation: OrganisationRefV1


class ReturnArrivalV1(WireModel):
    """``return.arrival`` v1 (M9): arrival confirmed or not (a missed
    confirmation raises a safety alert)."""

    trm_case_ref: str = Field(pattern=_REF)
    arrived: bool
    at: datetime | None = None
    handover_note: str = Field(default="", max_length=1000)
    sending_organisation: OrganisationRefV1


# --- what a payload carries (MessageType.carried) ------------------------------------


def travel_document_request_carried(payload: BaseModel) -> set[str]:
    """The person's identity block (``identity``, ``documents``, ``contact``)."""
    assert isinstance(payload, TravelDocumentRequestV1)  # noqa: S101
    return identity_categories(payload.identity)


def travel_document_issued_carried(payload: BaseModel) -> set[str]:
    """A document issued to the person (``documents``): always."""
    return {"documents"}


def return_arrival_carried(payload: BaseModel) -> set[str]:
    """Whether and when the person arrived (``case_summary``): always."""
    return {"case_summary"}


Carried = Callable[[BaseModel], set[str]]


def _types() -> list[registry.MessageType]:
    def schema_only(
        name: str,
        schema: type[WireModel],
        categories: set[str],
        sop: tuple[int, ...],
        description: str,
        exceptions: frozenset[str] = frozenset(),
        *,
        carried: Carried,
    ) -> registry.MessageType:
        return registry.MessageType(
            name=name,
            version=1,
            schema=schema,
            categories=frozenset(categories),
            handler=None,
            exceptions=exceptions,
            carried=carried,
            sop=sop,
            description=description,
        )

    return [
        schema_only(
            "travel.document.request",
            TravelDocumentRequestV1,
            {"identity", "documents", "photo"},
            (4,),
            "Travel document request (M8)",
            exceptions=frozenset({exchange.LEGAL_OBLIGATION}),
            carried=travel_document_request_carried,
        ),
        schema_only(
            "travel.document.issued",
            TravelDocumentIssuedV1,
            {"documents"},
            (4,),
            "Travel document issued (M8)",
            exceptions=frozenset({exchange.LEGAL_OBLIGATION}),
            carried=travel_document_issued_carried,
        ),
        schema_only(
            "return.arrival",
            ReturnArrivalV1,
            {"case_summary", "risk"},
            (4,),
            "Arrival confirmation (M9)",
            carried=return_arrival_carried,
        ),
    ]


def register_all() -> None:
    """Register the schema-only types (``AssistanceConfig.ready``)."""
    for message_type in _types():
        registry.register(message_type)
