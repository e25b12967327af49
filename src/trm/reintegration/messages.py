"""trm.reintegration on the transnational channel: ``followup.report`` (M10).

The origin node's service provider reports back to the destination node's
national contact point how the person's reintegration goes (SOPS §2 SOP 4
step 10; §6.4 M10; EXCHANGE.md §3): the date, the services given, the status
of housing, health, income and education, a risk update (level and an
optional note), whether contact is kept, and which follow-up of the schedule
it is. It describes the person's life, so it is personal: it travels only
under ``consent:<id>`` — the person's consent to a transfer abroad naming the
destination's country and covering what it carries (:func:`followup_report_carried`),
checked by the consent gate at enqueue time (SOPS §6.3 "the person can
refuse"). Sending: :func:`trm.reintegration.services.followup_report_record`;
receiving: :func:`apply_followup_report`.
"""

from __future__ import annotations

from datetime import date
from typing import Literal
from uuid import UUID

from django.utils.translation import gettext as _
from pydantic import BaseModel, Field, field_validator

from trm.cases.messages import (
    NotLinked,
    OrganisationRefV1,
    WireModel,
    actor_for,
    check_reference,
    linked_case,
    require_party,
)
from trm.directory.models import ServiceType
from trm.exchange import registry
from trm.handover.models import HandoverStatus, ReturnHandover, Side
from trm.reintegration.errors import NotReturned

FOLLOWUP_REPORT = "followup.report"
_REF = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$"

Status = Literal["stable", "at_risk", "critical", "not_applicable", "unknown"]
Level = Literal["low", "medium", "high", "critical"]
#: Health codes that say something about the person's health (``health``).
_NO_HEALTH_DATA = frozenset({"unknown", "not_applicable"})


class FollowupReportV1(WireModel):
    """``followup.report`` v1 (M10): only with the person's consent.

    ``sequence``/``due_on``: which follow-up of the origin's schedule.
    ``services``: :class:`trm.directory.models.ServiceType` codes given.
    ``housing``/``health``/``income``/``education``: ``stable``, ``at_risk``,
    ``critical``, ``not_applicable`` or ``unknown``. ``risk_level``: ``low`` …
    ``critical``; ``risk_update``: an optional note.
    """

    trm_case_ref: str = Field(pattern=_REF)
    sequence: int = Field(ge=1, le=60)
    due_on: date | None = None
    reported_on: date
    services: list[str] = Field(default_factory=list, max_length=20)
    housing: Status = "unknown"
    health: Status = "unknown"
    income: Status = "unknown"
    education: Status = "unknown"
    risk_level: Level
    risk_update: str = Field(default="", max_length=2000)
    contact_kept: bool = True
    sending_organisation: OrganisationRefV1

    @field_validator("services")
    @classmethod
    def _services(cls, values: list[str]) -> list[str]:
        if any(v not in ServiceType.values for v in values):
            raise ValueError("service codes of the service directory")
        return values


def followup_report_carried(payload: BaseModel) -> set[str]:
    """Services and situation (``case_summary``, always), the risk level and
    note (``risk``, always: free), a health status (``health``) unless
    ``unknown`` or ``not_applicable``."""
    assert isinstance(payload, FollowupReportV1)  # noqa: S101 - the schema
    carried = {"case_summary", "risk"}
    if payload.health not in _NO_HEALTH_DATA:
        carried.add("health")
    return carried


def _consent_ref(legal_basis: str) -> UUID | None:
    kind, _sep, ref = legal_basis.partition(":")
    if kind != "consent":
        return None
    try:
        return UUID(ref.strip())
    except ValueError:
        return None


def apply_followup_report(message: registry.Inbound) -> UUID | None:
    """Record a follow-up report from the origin node on the case linked under
    its shared reference (the sender must be party to it); writes
    ``sop4.follow_up_reported``, which completes the SOP step
    ``sop4.follow_up`` here.

    Raises:
        NotLinked: no case here is linked under the reference, or the
            conversation is not the reference.
        NotParty: the sender is not party to the case.
        NotReturned: no journey of this case to the sender arrived (the
            person was never handed over to it).
    """
    from trm.reintegration.services import followup_report_receive

    payload = message.payload
    assert isinstance(payload, FollowupReportV1)  # noqa: S101 - the schema
    check_reference(message, payload.trm_case_ref)
    case = linked_case(payload.trm_case_ref)
    if case is None:
        raise NotLinked(
            _("No case on this node is linked under that reference."),
            details={"field": "trm_case_ref"},
        )
    require_party(message, case)
    if not ReturnHandover.objects.filter(
        case=case,
        side=Side.DESTINATION,
        peer_node=message.sender,
        status=HandoverStatus.ARRIVED,
    ).exists():
        raise NotReturned(
            _("This node handed no one over to the sending node on this case."),
            details={"field": "trm_case_ref", "reason": "not_returned"},
        )
    actor = actor_for(message.sender, payload.sending_organisation, "service_provider")
    followup_report_receive(
        actor=actor,
        case=case,
        peer_node=message.sender,
        msg_id=message.msg_id,
        payload=payload,
        remote_consent_ref=_consent_ref(message.legal_basis),
    )
    return case.pk


def register_all() -> None:
    """Register ``followup.report`` with its handler (``ready()``)."""
    registry.register(
        registry.MessageType(
            name=FOLLOWUP_REPORT,
            version=1,
            schema=FollowupReportV1,
            categories=frozenset({"case_summary", "health", "risk"}),
            handler=apply_followup_report,
            carried=followup_report_carried,
            sop=(4,),
            description="Reintegration follow-up report (M10)",
        )
    )
