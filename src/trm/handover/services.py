"""Handover on arrival (SOPS §2 SOP 4 step 8; §6.3; §6.4 M9, M14).

Destination node (the person leaves):

* :func:`clean_handover` / :func:`announce_handover` — called by
  :func:`trm.returns.services.journey.return_in_transit` in its transaction:
  records the ``destination`` :class:`~trm.handover.models.ReturnHandover` and
  enqueues ``return.handover`` to the origin node.
* :func:`arrival_receive` — the handler of ``return.handover.arrival``:
  arrived → assistance ``in_transit`` → ``handed_over`` → ``follow_up`` (the
  origin now leads); not arrived → ``transit_incident`` and a safety alert.

Origin node (the person arrives):

* :func:`handover_receive` — the handler of ``return.handover``: records the
  ``origin`` row on the linked case.
* :func:`return_arrival_confirm` — a person confirms the arrival (or that the
  person did not arrive): assistance → ``reintegration`` (the origin now
  leads) and ``return.handover.arrival`` back.

Both nodes: :func:`raise_missed_handover_alerts` (``trm worker``): a handover
still ``announced`` ``TRM_RETURN_ARRIVAL_ALERT_HOURS`` after its expected
arrival raises one ``safety.alert`` (nature ``missed_handover``, basis
``vital_interest``) to the other node.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import Role, User
from trm.audit import services as audit
from trm.care.common import Opener, Sealer
from trm.cases.access import CaseAccess
from trm.cases.errors import CaseInvalidInput, CaseRoleRequired
from trm.cases.messages import (
    SAFETY_ALERT,
    conversation_peers,
    organisation_ref,
    safety_alert_payload,
)
from trm.cases.models import Case, Visibility
from trm.cases.services import (
    lock_case,
    move_track,
    record_case_event,
    require_live_person,
)
from trm.cases.tracks import Assistance
from trm.common.errors import DomainError
from trm.common.text import clean_text, has_visible_text
from trm.exchange import services as exchange
from trm.exchange.models import InboxMessage, OutboxMessage
from trm.handover.errors import (
    HandoverAlreadyConfirmed,
    HandoverDuplicate,
    HandoverNotFound,
    HandoverNotLinked,
    NoOriginNode,
)
from trm.handover.models import HandoverStatus, ReturnHandover, Side
from trm.handover.schemas import (
    MAX_ARRIVAL_POINT_CHARS,
    MAX_FUNCTION_CHARS,
    MAX_ITINERARY_CHARS,
    RETURN_HANDOVER,
    RETURN_HANDOVER_ARRIVAL,
    ReturnHandoverArrivalV1,
    ReturnHandoverV1,
)
from trm.identification.common import clean_reason, require_open

logger = logging.getLogger(__name__)

#: Who confirms an arrival on the origin node (on the case team; the national
#: contact point also through node policy, as it leads a linked case).
CONFIRM_ROLES = frozenset(
    {Role.NATIONAL_CONTACT_POINT, Role.CASE_MANAGER, Role.SERVICE_PROVIDER}
)
#: The data category of the arrival point and the itinerary on the wire.
TEXT_CATEGORY = "case_summary"
#: How far ahead of this node's clock an arrival time may be (clock skew).
FUTURE_SKEW = timedelta(minutes=5)
#: How far from now a journey's times may be: a journey is announced as it
#: starts, so its departure and expected arrival are within this of now (and
#: the alert time computed from them always exists).
PLAUSIBLE_SPAN = timedelta(days=366)
#: The node user's access when a message moves a track (the message's own
#: checks — reference, party, handover — stand for the role check).
NODE_ACCESS = CaseAccess(roles=frozenset({Role.NATIONAL_CONTACT_POINT}))
ALERT_ACTIONS = ["locate_person", "contact_us"]


def _invalid(message: str, field: str, **details: object) -> CaseInvalidInput:
    return CaseInvalidInput(message, details={"field": field, **details})


def _aware(value: object, field: str) -> datetime:
    if not isinstance(value, datetime) or timezone.is_naive(value):
        raise _invalid(
            _("Give a date and time with its time zone."), field, reason="naive"
        )
    return value


def _line(value: str, field: str, max_length: int) -> str:
    text = clean_text(value or "", field=field, max_length=max_length)
    return text if has_visible_text(text) else ""


def _seal_texts(case: Case, row: ReturnHandover, texts: dict[str, str]) -> None:
    if case.person.is_erased or not any(texts.values()):
        row.sealed_text = None
        return
    row.sealed_text = Sealer(case).seal(
        json.dumps(texts, sort_keys=True, ensure_ascii=False),
        context=row.text_context(),
    )


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


# --- origin: the announcement arrives ------------------------------------------------


def handover_receive(
    *,
    actor: User,
    case: Case,
    peer_node: str,
    msg_id: UUID,
    payload: ReturnHandoverV1,
) -> ReturnHandover:
    """Record the announced journey on the locked linked ``case`` (inner
    service for the handler, in the inbox's transaction; ``actor`` is the node
    user standing for the sender). Texts are sealed under the person's key.
    Writes ``handover.received`` (team) and an audit entry.

    Raises:
        HandoverDuplicate: this handover reference is already recorded here.
        CaseInvalidInput: implausible times (:func:`check_journey_times`).
    """
    check_journey_times(
        payload.departure_at, payload.expected_arrival_at, timezone.now()
    )
    if ReturnHandover.objects.filter(
        handover_ref=payload.handover_ref, side=Side.ORIGIN
    ).exists():
        raise HandoverDuplicate(
            _("This handover is already recorded."),
            details={"field": "handover_ref"},
        )
    row = ReturnHandover(
        handover_ref=payload.handover_ref,
        case=case,
        side=Side.ORIGIN,
        peer_node=peer_node,
        departure_at=payload.departure_at,
        expected_arrival_at=payload.expected_arrival_at,
        escort_function=payload.escort_function,
        meeting_person_function=payload.meeting_person_function,
        sending_organisation=payload.sending_organisation.name,
        msg_id=msg_id,
        created_at=timezone.now(),
        created_by=actor,
    )
    _seal_texts(
        case,
        row,
        {"arrival_point": payload.arrival_point, "itinerary": payload.itinerary},
    )
    row.save(force_insert=True)
    record_case_event(
        case=case,
        actor=actor,
        kind="handover.received",
        code="with_texts" if handover_carried(payload) else "codes_only",
        visibility=Visibility.ASSISTANCE_ONLY,
    )
    audit.record(
        actor=actor,
        action="handover.received",
        target=case,
        data={"handover": str(row.handover_ref), "from": peer_node},
    )
    return row


def restrict_received(
    *,
    case: Case,
    peer_node: str,
    consent_ref: UUID,
    categories: Iterable[str],
    actor: User | None = None,
) -> str | None:
    """Restriction hook of ``consent.withdrawn`` (registered in ``ready()``):
    erase the arrival point and itinerary of the origin handovers of ``case``
    that ``peer_node`` announced under ``consent:<consent_ref>`` when the
    withdrawn categories include theirs (``case_summary``). Times, functions
    and the status stay (they are not the consented data). Returns
    ``"erased"`` or None (nothing held)."""
    if TEXT_CATEGORY not in set(categories):
        return None
    received = InboxMessage.objects.filter(
        peer__node_id=peer_node,
        type=RETURN_HANDOVER,
        legal_basis=f"consent:{consent_ref}",
    ).values_list("msg_id", flat=True)
    erased = (
        ReturnHandover.objects.filter(
            case=case,
            side=Side.ORIGIN,
            peer_node=peer_node,
            msg_id__in=list(received),
        )
        .exclude(sealed_text=None)
        .update(sealed_text=None)
    )
    if not erased:
        return None
    audit.record(
        actor=actor,
        action="handover.received_restricted",
        target=case,
        data={"rows": erased, "from": peer_node},
    )
    return "erased"


# --- origin: confirming the arrival -----------------------------------------------


def _require_confirmer(access: CaseAccess) -> None:
    if not (access.roles & CONFIRM_ROLES) or (
        access.via_policy and Role.NATIONAL_CONTACT_POINT not in access.roles
    ):
        raise CaseRoleRequired(
            _("Only these roles on the case may do this: %(roles)s.")
            % {"roles": ", ".join(str(Role(r).label) for r in sorted(CONFIRM_ROLES))},
            details={"allowed_roles": sorted(CONFIRM_ROLES)},
        )


@transaction.atomic(durable=True)
def return_arrival_confirm(
    *,
    actor: User,
    case_id: UUID,
    handover_id: UUID,
    arrived: bool,
    at: datetime,
    note: str = "",
) -> ReturnHandover:
    """Confirm on the origin node that the returned person arrived and was
    handed over — or did not arrive (SOP 4 step 8; M9).

    ``handover_id``: the origin :class:`ReturnHandover` of ``case_id``.
    ``at``: aware; when the person arrived (or was due), not in the future.
    ``note``: optional, sealed under the person's key, never sent.

    Arrived: assistance → ``reintegration`` (code ``arrival_confirmed``; the
    only way there), the origin case now leads (``lead_side`` and the event
    ``handover.lead_moved``). Either way ``handover.arrival_recorded`` (code
    ``arrived`` / ``not_arrived``), an audit entry and
    ``return.handover.arrival`` v1 to the destination node.

    Raises:
        CaseNotFound, CaseRoleRequired (:data:`CONFIRM_ROLES`),
        TransitionNotAllowed (closed case; assistance cannot reach
        reintegration from its state), PersonErased, HandoverNotFound,
        HandoverAlreadyConfirmed, CaseInvalidInput (``at``), InvalidText,
        HandoverNotLinked (the case has no shared reference), PeerUnavailable.
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    _require_confirmer(access)
    require_open(case)
    require_live_person(case)
    row = (
        ReturnHandover.objects.select_for_update()
        .filter(pk=handover_id, case=case, side=Side.ORIGIN)
        .first()
    )
    if row is None:
        raise HandoverNotFound(
            _("No such handover on this case."), details={"field": "handover_id"}
        )
    if row.status != HandoverStatus.ANNOUNCED:
        raise HandoverAlreadyConfirmed(
            _("The arrival of this journey is already recorded."),
            details={"status": row.status},
        )
    when = _aware(at, "at")
    now = timezone.now()
    check_arrival_time(row, when, now)
    text = clean_reason(note, field="note", required=False)
    if not case.trm_case_ref:
        raise HandoverNotLinked(
            _("This case is not linked with the sending node."),
            details={"field": "handover_id", "reason": "not_linked"},
        )
    exchange.active_peer(row.peer_node)
    if arrived:
        move_track(
            actor=actor,
            case=case,
            access=access,
            track="assistance",
            target=Assistance.REINTEGRATION,
            reason="",
            code="arrival_confirmed",
        )
        row.lead_side = Side.ORIGIN
        row.lead_moved_at = now
    row.status = HandoverStatus.ARRIVED if arrived else HandoverStatus.NOT_ARRIVED
    row.arrival_at = when
    row.arrival_confirmed_at = now
    row.sealed_note = Sealer(case).seal(text, context=row.note_context())
    row.save()
    message = exchange.enqueue(
        to_node=row.peer_node,
        type=RETURN_HANDOVER_ARRIVAL,
        payload=ReturnHandoverArrivalV1(
            trm_case_ref=case.trm_case_ref,
            handover_ref=row.handover_ref,
            arrived=arrived,
            at=when,
            sending_organisation=organisation_ref(
                actor.organisation or case.lead_organisation
            ),
        ),
        legal_basis=exchange.PSEUDONYMOUS,
        conversation=case.trm_case_ref,
        case_id=case.pk,
        actor=actor,
    )
    code = "arrived" if arrived else "not_arrived"
    record_case_event(
        case=case,
        actor=actor,
        kind="handover.arrival_recorded",
        code=code,
        visibility=Visibility.ASSISTANCE_ONLY,
    )
    if arrived:
        record_case_event(
            case=case,
            actor=actor,
            kind="handover.lead_moved",
            code="lead_moved_to_origin",
            visibility=Visibility.ASSISTANCE_ONLY,
        )
    audit.record(
        actor=actor,
        action="handover.arrival_recorded",
        target=case,
        data={
            "handover": str(row.handover_ref),
            "arrived": arrived,
            "to": row.peer_node,
            "message": str(message.msg_id),
        },
    )
    return row


def check_arrival_time(row: ReturnHandover, when: datetime, now: datetime) -> None:
    """Refuse an arrival time in the future (beyond :data:`FUTURE_SKEW`) or
    before the journey's departure (both nodes: the origin's form and API, and
    the destination receiving ``return.handover.arrival``).

    Raises:
        CaseInvalidInput: ``field`` ``at``, ``reason`` ``future`` or
            ``before_departure``.
    """
    if when > now + FUTURE_SKEW:
        raise _invalid(_("The time cannot be in the future."), "at", reason="future")
    if when < row.departure_at - FUTURE_SKEW:
        raise _invalid(
            _("The time cannot be before the journey's departure."),
            "at",
            reason="before_departure",
        )


# --- destination: the confirmation arrives ------------------------------------------


def sent_handover(
    *, handover_ref: UUID, peer_node: str, trm_case_ref: str
) -> ReturnHandover | None:
    """Return the destination handover ``handover_ref`` this node sent to
    ``peer_node`` about the case of ``trm_case_ref``, locked with its case;
    None if there is none."""
    # The case first, then the handover: the order every writer of a handover
    # takes (the confirmation, the alert job), so two never wait on each other.
    found = ReturnHandover.objects.filter(
        handover_ref=handover_ref, side=Side.DESTINATION, peer_node=peer_node
    ).values_list("pk", "case_id")
    first = found.first()
    if first is None:
        return None
    pk, case_id = first
    case = (
        Case.objects.select_for_update(no_key=True)
        .select_related("person")
        .filter(pk=case_id)
        .first()
    )
    if case is None or case.trm_case_ref != trm_case_ref:
        return None
    row = ReturnHandover.objects.select_for_update().filter(pk=pk).first()
    if row is None:
        return None
    row.case = case
    return row


def arrival_receive(
    *, actor: User, row: ReturnHandover, payload: ReturnHandoverArrivalV1
) -> ReturnHandover:
    """Apply the origin's confirmation to the locked destination ``row``
    (inner service for the handler, in the inbox's transaction).

    Arrived: assistance ``in_transit`` → ``handed_over`` (code
    ``arrival_confirmed``) → ``follow_up`` (code ``lead_moved_to_origin``):
    the origin case leads from now on. Not arrived: → ``transit_incident``
    (code ``arrival_not_confirmed``) and the missed-handover safety alert to
    the origin (:func:`raise_alert`). Writes ``handover.arrival_received``.

    Raises:
        HandoverAlreadyConfirmed, TransitionNotAllowed (the case is no longer
        in transit), CaseInvalidInput (``at`` in the future or before the
        departure).
    """
    case = row.case
    if row.status != HandoverStatus.ANNOUNCED:
        raise HandoverAlreadyConfirmed(
            _("The arrival of this journey is already recorded."),
            details={"status": row.status},
        )
    now = timezone.now()
    check_arrival_time(row, payload.at, now)
    if payload.arrived:
        move_track(
            actor=actor,
            case=case,
            access=NODE_ACCESS,
            track="assistance",
            target=Assistance.HANDED_OVER,
            reason="",
            code="arrival_confirmed",
        )
        move_track(
            actor=actor,
            case=case,
            access=NODE_ACCESS,
            track="assistance",
            target=Assistance.FOLLOW_UP,
            reason="",
            code="lead_moved_to_origin",
        )
        row.status = HandoverStatus.ARRIVED
        row.lead_side = Side.ORIGIN
        row.lead_moved_at = now
    else:
        move_track(
            actor=actor,
            case=case,
            access=NODE_ACCESS,
            track="assistance",
            target=Assistance.TRANSIT_INCIDENT,
            reason="",
            code="arrival_not_confirmed",
        )
        row.status = HandoverStatus.NOT_ARRIVED
    row.arrival_at = payload.at
    row.arrival_confirmed_at = now
    row.save()
    record_case_event(
        case=case,
        actor=actor,
        kind="handover.arrival_received",
        code="arrived" if payload.arrived else "not_arrived",
        visibility=Visibility.ASSISTANCE_ONLY,
    )
    if payload.arrived:
        record_case_event(
            case=case,
            actor=actor,
            kind="handover.lead_moved",
            code="lead_moved_to_origin",
            visibility=Visibility.ASSISTANCE_ONLY,
        )
    audit.record(
        actor=actor,
        action="handover.arrival_received",
        target=case,
        data={
            "handover": str(row.handover_ref),
            "arrived": payload.arrived,
            "from": row.peer_node,
        },
    )
    if not payload.arrived and row.alert_raised_at is None:
        raise_alert(row, reason="not_arrived")
    return row


# --- both sides: the missed confirmation --------------------------------------------


def alert_hours() -> float:
    """``TRM_RETURN_ARRIVAL_ALERT_HOURS``: hours after the expected arrival
    without a confirmation before the safety alert (default 24)."""
    return float(getattr(settings, "TRM_RETURN_ARRIVAL_ALERT_HOURS", 24.0))


def _alert_description(row: ReturnHandover, reason: str) -> str:
    due = f"{row.expected_arrival_at:%Y-%m-%d %H:%M} UTC"
    if reason == "not_arrived":
        return (
            "The returned person did not arrive at the handover expected at "
            f"{due} (handover {row.handover_ref}). Help locate the person."
        )
    return (
        "No confirmation of the returned person's arrival: the handover was "
        f"expected at {due} (handover {row.handover_ref}). Check at once."
    )


def raise_alert(row: ReturnHandover, *, reason: str) -> OutboxMessage | None:
    """Raise the missed-handover safety alert of the locked ``row`` once (inner:
    inside the caller's transaction; the row's case is locked too).

    Records ``handover.arrival_overdue`` (code ``missed_handover``) and sets
    ``alert_raised_at``; enqueues ``safety.alert`` (nature
    ``missed_handover``, people at risk: the person; basis
    ``vital_interest``, category ``risk``) to the other node and records
    ``case.safety_alert_sent``. The description holds times and the handover
    reference only. If the peer cannot be reached the local alert stands and
    the audit says it was not sent.
    """
    case = row.case
    now = timezone.now()
    description = _alert_description(row, reason)
    message: OutboxMessage | None = None
    try:
        with transaction.atomic():
            message = exchange.enqueue(
                to_node=row.peer_node,
                type=SAFETY_ALERT,
                payload=safety_alert_payload(
                    case,
                    nature="missed_handover",
                    description=description,
                    actions=ALERT_ACTIONS,
                    people_at_risk=["person"],
                    organisation=case.lead_organisation,
                    role=Role.NATIONAL_CONTACT_POINT,
                ),
                legal_basis=exchange.VITAL_INTEREST,
                categories=["risk"],
                conversation=case.trm_case_ref,
                case_id=case.pk,
            )
    except DomainError as exc:
        logger.warning("missed handover alert not sent: %s", exc.code)
        message = None
    row.alert_raised_at = now
    row.save(update_fields=["alert_raised_at"])
    record_case_event(
        case=case,
        actor=None,
        kind="handover.arrival_overdue",
        code="missed_handover",
        visibility=Visibility.ASSISTANCE_ONLY,
    )
    if message is not None:
        record_case_event(
            case=case,
            actor=None,
            kind="case.safety_alert_sent",
            code="missed_handover",
            detail="" if case.person.is_erased else description,
        )
    audit.record(
        actor=None,
        action="handover.alert_raised",
        target=case,
        data={
            "handover": str(row.handover_ref),
            "side": row.side,
            "reason": reason,
            "to": row.peer_node,
            "sent": message is not None,
            "legal_basis": exchange.VITAL_INTEREST,
        },
    )
    return message


def overdue_handovers(now: datetime | None = None) -> list[UUID]:
    """Return the ids of handovers (either side) still ``announced``, with no
    alert yet, whose expected arrival plus the alert hours has passed."""
    now = now or timezone.now()
    limit = now - timedelta(hours=alert_hours())
    return list(
        ReturnHandover.objects.filter(
            status=HandoverStatus.ANNOUNCED,
            alert_raised_at__isnull=True,
            expected_arrival_at__lte=limit,
        )
        .order_by("expected_arrival_at")
        .values_list("pk", flat=True)
    )


def raise_missed_handover_alerts(*, now: datetime | None = None) -> int:
    """Raise the safety alert of every overdue handover once (SOPS §6.3 "confirm
    within 24 h" [INF]; M14). Run by ``trm worker``
    (:func:`trm.sop.jobs.run_due_jobs`); idempotent (``alert_raised_at``).
    Each handover in its own transaction. Returns how many alerts were raised.
    """
    raised = 0
    for pk in overdue_handovers(now):
        case_id = (
            ReturnHandover.objects.filter(pk=pk)
            .values_list("case_id", flat=True)
            .first()
        )
        if case_id is None:
            continue
        with transaction.atomic():
            # The case first, then the handover (the confirmation's order).
            case = (
                Case.objects.select_for_update(no_key=True)
                .select_related("person", "lead_organisation")
                .get(pk=case_id)
            )
            row = (
                ReturnHandover.objects.select_for_update()
                .filter(
                    pk=pk,
                    status=HandoverStatus.ANNOUNCED,
                    alert_raised_at__isnull=True,
                )
                .first()
            )
            if row is None:
                continue
            row.case = case
            raise_alert(row, reason="missed_confirmation")
            raised += 1
    return raised
