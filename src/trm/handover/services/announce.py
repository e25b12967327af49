"""Destination: announcing the journey (``return.handover``, SOP 4 step 8)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import User
from trm.audit import services as audit
from trm.care.common import Opener
from trm.cases.messages import (
    conversation_peers,
    organisation_ref,
)
from trm.cases.models import Case, Visibility
from trm.cases.services import (
    record_case_event,
)
from trm.exchange import services as exchange
from trm.handover.errors import (
    NoOriginNode,
)
from trm.handover.models import ReturnHandover, Side
from trm.handover.schemas import (
    MAX_ARRIVAL_POINT_CHARS,
    MAX_FUNCTION_CHARS,
    MAX_ITINERARY_CHARS,
    RETURN_HANDOVER,
    ReturnHandoverV1,
)
from trm.handover.services.common import (
    PLAUSIBLE_SPAN,
    TEXT_CATEGORY,
    _aware,
    _invalid,
    _line,
    _seal_texts,
)
from trm.identification.common import clean_reason

# --- destination: announcing the journey -----------------------------------------


@dataclass(frozen=True)
class HandoverDraft:
    """What :func:`clean_handover` checked, for :func:`announce_handover`."""

    peer_node: str
    departure_at: datetime
    expected_arrival_at: datetime
    escort_function: str
    meeting_person_function: str
    arrival_point: str
    itinerary: str
    legal_basis: str


def origin_node_of(case: Case, origin_node: str = "") -> str:
    """Return the node of the country of origin for ``case``: ``origin_node``
    if it shares the case's conversation; else the only peer that does, or
    the only one of a country the person claims as nationality.

    Raises:
        NoOriginNode: none (the case was never linked), or several and none
            chosen.
    """
    peers = conversation_peers(case.trm_case_ref)
    if origin_node:
        if origin_node in {p.node_id for p in peers}:
            return origin_node
        raise NoOriginNode(
            _("This case is not linked with a case on that node."),
            details={"field": "origin_node", "reason": "not_linked"},
        )
    if len(peers) == 1:
        return peers[0].node_id
    citizens = [p for p in peers if p.country in set(case.person.citizenships)]
    if len(citizens) == 1:
        return citizens[0].node_id
    if not peers:
        raise NoOriginNode(
            _(
                "A return needs the node of the country of origin: alert it and "
                "link the case first (SOP 4)."
            ),
            details={"field": "origin_node", "reason": "no_linked_peer"},
        )
    raise NoOriginNode(
        _("The case is linked with several nodes: choose the country of origin."),
        details={"field": "origin_node", "reason": "several_peers"},
    )


def _plan_defaults(case: Case) -> dict[str, str]:
    """The escort, meeting person, meeting point and itinerary of the return
    plan (trm.returns), used when the journey form leaves them empty."""
    from trm.returns.models import ReturnPlan

    plan = ReturnPlan.objects.filter(case=case).first()
    if plan is None:
        return {}
    values = {
        "escort_function": plan.escort_function,
        "meeting_person_function": plan.meeting_person_function,
    }
    text = Opener(case.person).open(plan.sealed_text, context=plan.text_context())
    sealed = json.loads(text) if text else {}
    values["arrival_point"] = str(sealed.get("meeting_point") or "")
    values["itinerary"] = str(sealed.get("itinerary") or "")
    return values


def clean_handover(
    *,
    case: Case,
    expected_arrival_at: datetime | None,
    departure_at: datetime | None = None,
    escort_function: str = "",
    meeting_person_function: str = "",
    arrival_point: str = "",
    itinerary: str = "",
    legal_basis: str = "",
    origin_node: str = "",
) -> HandoverDraft:
    """Check the handover of a journey about to start (nothing written).

    ``expected_arrival_at``: required, aware, after now. ``departure_at``:
    aware, before the expected arrival (default now). Empty functions and
    texts are taken from the return plan. ``legal_basis``: empty (codes and
    times only travel) or ``consent:<id>`` (the arrival point and the
    itinerary travel too; checked at enqueue).

    Raises:
        CaseInvalidInput (``field``: expected_arrival_at, departure_at,
        legal_basis), InvalidText, NoOriginNode.
    """
    now = timezone.now()
    if expected_arrival_at is None:
        raise _invalid(
            _("Give the expected date and time of arrival."), "expected_arrival_at"
        )
    expected = _aware(expected_arrival_at, "expected_arrival_at")
    if expected <= now:
        raise _invalid(
            _("The expected arrival must be in the future."),
            "expected_arrival_at",
            reason="past",
        )
    departure = now if departure_at is None else _aware(departure_at, "departure_at")
    check_journey_times(departure, expected, now)
    if departure >= expected:
        raise _invalid(
            _("The departure must come before the expected arrival."),
            "departure_at",
        )
    basis = (legal_basis or "").strip()
    if basis and not basis.startswith("consent:"):
        raise _invalid(
            _(
                "The arrival point and itinerary travel only with the person's "
                "consent to a transfer to the country of origin."
            ),
            "legal_basis",
        )
    defaults = _plan_defaults(case)
    peer_node = origin_node_of(case, origin_node)
    return HandoverDraft(
        peer_node=peer_node,
        departure_at=departure,
        expected_arrival_at=expected,
        escort_function=_line(
            escort_function or defaults.get("escort_function", ""),
            "escort_function",
            MAX_FUNCTION_CHARS,
        ),
        meeting_person_function=_line(
            meeting_person_function or defaults.get("meeting_person_function", ""),
            "meeting_person_function",
            MAX_FUNCTION_CHARS,
        ),
        arrival_point=_line(
            arrival_point or defaults.get("arrival_point", ""),
            "arrival_point",
            MAX_ARRIVAL_POINT_CHARS,
        ),
        itinerary=_itinerary(itinerary or defaults.get("itinerary", "")),
        legal_basis=basis,
    )


def _itinerary(text: str) -> str:
    """The itinerary as sent (at most :data:`MAX_ITINERARY_CHARS`): a longer
    one — typed, or taken from the return plan — is refused, never cut."""
    cleaned = clean_reason(text, field="itinerary", required=False)
    if len(cleaned) > MAX_ITINERARY_CHARS:
        raise _invalid(
            _(
                "The itinerary is too long to send (at most %(max)d characters): "
                "shorten it here."
            )
            % {"max": MAX_ITINERARY_CHARS},
            "itinerary",
            reason="too_long",
        )
    return cleaned


def check_journey_times(departure: datetime, expected: datetime, now: datetime) -> None:
    """Refuse a departure or an expected arrival further than
    :data:`PLAUSIBLE_SPAN` from now (e.g. year 1 or 9999), or an arrival not
    after the departure.

    Raises:
        CaseInvalidInput: ``field`` ``departure_at`` or ``expected_arrival_at``,
            ``reason`` ``implausible``.
    """
    if abs(departure - now) > PLAUSIBLE_SPAN:
        raise _invalid(
            _("The departure is not plausible."), "departure_at", reason="implausible"
        )
    if abs(expected - now) > PLAUSIBLE_SPAN:
        raise _invalid(
            _("The expected arrival is not plausible."),
            "expected_arrival_at",
            reason="implausible",
        )
    if departure >= expected:
        raise _invalid(
            _("The departure must come before the expected arrival."),
            "departure_at",
        )


def announce_handover(
    *, actor: User, case: Case, draft: HandoverDraft
) -> ReturnHandover:
    """Record the destination handover of the locked ``case`` and enqueue
    ``return.handover`` v1 to the origin node (inner service: inside
    :func:`~trm.returns.services.journey.return_in_transit`'s transaction).

    The arrival point and itinerary are kept sealed here; they travel only
    under ``consent:<id>`` (category ``case_summary``), otherwise the message
    holds codes, functions and times only. Writes ``handover.announced``
    (team) and an audit entry.

    Raises:
        PeerUnavailable, LegalBasisMissing / ConsentMissing, MessageInvalid.
    """
    now = timezone.now()
    personal = draft.legal_basis.startswith("consent:")
    organisation = actor.organisation or case.lead_organisation
    row = ReturnHandover(
        handover_ref=uuid.uuid4(),
        case=case,
        side=Side.DESTINATION,
        peer_node=draft.peer_node,
        departure_at=draft.departure_at,
        expected_arrival_at=draft.expected_arrival_at,
        escort_function=draft.escort_function,
        meeting_person_function=draft.meeting_person_function,
        sending_organisation=organisation.name if organisation else "",
        created_at=now,
        created_by=actor,
    )
    _seal_texts(
        case, row, {"arrival_point": draft.arrival_point, "itinerary": draft.itinerary}
    )
    payload = ReturnHandoverV1(
        trm_case_ref=case.trm_case_ref,
        handover_ref=row.handover_ref,
        departure_at=draft.departure_at,
        expected_arrival_at=draft.expected_arrival_at,
        escort_function=draft.escort_function,
        meeting_person_function=draft.meeting_person_function,
        arrival_point=draft.arrival_point if personal else "",
        itinerary=draft.itinerary if personal else "",
        sending_organisation=organisation_ref(organisation),
    )
    carried = handover_carried(payload)
    message = exchange.enqueue(
        to_node=draft.peer_node,
        type=RETURN_HANDOVER,
        payload=payload,
        legal_basis=draft.legal_basis if carried else exchange.PSEUDONYMOUS,
        categories=sorted(carried),
        conversation=case.trm_case_ref,
        case_id=case.pk,
        actor=actor,
    )
    row.msg_id = message.msg_id
    row.save(force_insert=True)
    record_case_event(
        case=case,
        actor=actor,
        kind="handover.announced",
        code="with_texts" if carried else "codes_only",
        visibility=Visibility.ASSISTANCE_ONLY,
    )
    audit.record(
        actor=actor,
        action="handover.announced",
        target=case,
        data={
            "handover": str(row.handover_ref),
            "to": draft.peer_node,
            "legal_basis": (draft.legal_basis if carried else "pseudonymous").split(
                ":", 1
            )[0],
            "message": str(message.msg_id),
        },
    )
    return row


def handover_carried(payload: object) -> set[str]:
    """``return.handover`` carries ``case_summary`` when it holds the arrival
    point or the itinerary; otherwise nothing of the person."""
    if isinstance(payload, ReturnHandoverV1) and (
        payload.arrival_point or payload.itinerary
    ):
        return {TEXT_CATEGORY}
    return set()
