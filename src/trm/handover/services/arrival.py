"""The arrival: confirmed at the origin (``return.handover.arrival``), applied
at the destination (ownership moves; SOP 4 step 8)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import Role, User
from trm.audit import services as audit
from trm.care.common import Sealer
from trm.cases.access import CaseAccess
from trm.cases.errors import CaseRoleRequired
from trm.cases.messages import (
    organisation_ref,
)
from trm.cases.models import Case, Visibility
from trm.cases.services import (
    lock_case,
    move_track,
    record_case_event,
    require_live_person,
)
from trm.cases.tracks import Assistance
from trm.exchange import services as exchange
from trm.handover.errors import (
    HandoverAlreadyConfirmed,
    HandoverNotFound,
    HandoverNotLinked,
)
from trm.handover.models import HandoverStatus, ReturnHandover, Side
from trm.handover.schemas import (
    RETURN_HANDOVER_ARRIVAL,
    ReturnHandoverArrivalV1,
)
from trm.handover.services.alerts import raise_alert
from trm.handover.services.common import (
    CONFIRM_ROLES,
    FUTURE_SKEW,
    NODE_ACCESS,
    _aware,
    _invalid,
)
from trm.identification.common import clean_reason, require_open

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
