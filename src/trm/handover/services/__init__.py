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

from trm.handover.services.alerts import (
    alert_hours,
    overdue_handovers,
    raise_alert,
    raise_missed_handover_alerts,
)
from trm.handover.services.announce import (
    HandoverDraft,
    announce_handover,
    check_journey_times,
    clean_handover,
    handover_carried,
    origin_node_of,
)
from trm.handover.services.arrival import (
    arrival_receive,
    check_arrival_time,
    return_arrival_confirm,
    sent_handover,
)
from trm.handover.services.common import (
    CONFIRM_ROLES,
    TEXT_CATEGORY,
)
from trm.handover.services.receive import (
    handover_receive,
    restrict_received,
)

__all__ = [
    "CONFIRM_ROLES",
    "TEXT_CATEGORY",
    "HandoverDraft",
    "alert_hours",
    "announce_handover",
    "arrival_receive",
    "check_arrival_time",
    "check_journey_times",
    "clean_handover",
    "handover_carried",
    "handover_receive",
    "origin_node_of",
    "overdue_handovers",
    "raise_alert",
    "raise_missed_handover_alerts",
    "restrict_received",
    "return_arrival_confirm",
    "sent_handover",
]
