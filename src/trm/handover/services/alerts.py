"""Both sides: the missed confirmation raises a ``safety.alert`` once
(SOPS §6.3 "confirm within 24 h" [INF]; M14)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from trm.accounts.models import Role
from trm.audit import services as audit
from trm.cases.messages import (
    SAFETY_ALERT,
    safety_alert_payload,
)
from trm.cases.models import Case, Visibility
from trm.cases.services import (
    record_case_event,
)
from trm.common.errors import DomainError
from trm.exchange import services as exchange
from trm.exchange.models import OutboxMessage
from trm.handover.models import HandoverStatus, ReturnHandover
from trm.handover.services.common import (
    ALERT_ACTIONS,
)

logger = logging.getLogger(__name__)


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
