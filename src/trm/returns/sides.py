"""Which side of a return this node plays on a linked case (EXCHANGE.md §3).

The catalogue gives every SOP 4 message a direction: ``return.plan``,
``return.handover``, ``risk.assessment.joint`` (the destination's ratings) and
the family requests go from the country of destination — where the person
was identified and is assisted — to the country of origin. A node receiving
one must therefore be the origin for that case. It is not when

* it sent the ``case.alert`` about the case to the sender (the identifying
  national contact point alerts the counterpart: SOPS §6.4 M1), or
* it prepares or carries out the return itself: the case is in a return
  state of the assistance track, or holds a return plan of its own.

Without this rule a party to the case could push origin-side records into
the destination's own case (a second joint assessment the guard would read,
a handover whose "arrival" moves the case to reintegration without any
return guard).
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from trm.cases.messages import alerted
from trm.cases.models import Case
from trm.cases.tracks import Assistance
from trm.returns.errors import WrongSide
from trm.returns.models import ReturnPlan

#: Assistance states of the node that returns the person (SOPS §6.2 region B).
DESTINATION_STATES = frozenset(
    {
        Assistance.RETURN_PREPARATION,
        Assistance.RETURN_ON_HOLD,
        Assistance.IN_TRANSIT,
        Assistance.TRANSIT_INCIDENT,
        Assistance.HANDED_OVER,
    }
)


def is_destination_for(case: Case, peer_node: str) -> bool:
    """True if this node is the country of destination of ``case`` towards
    ``peer_node``: it alerted that peer about the case, or it prepares (or
    made) the return itself."""
    return (
        case.assistance in DESTINATION_STATES
        or ReturnPlan.objects.filter(case=case).exists()
        or alerted(case, peer_node)
    )


def is_destination(case: Case) -> bool:
    """True if this node is the country of destination of ``case`` towards
    any peer (:func:`is_destination_for` without naming the peer): it alerted
    a counterpart about the case, or it prepares (or made) the return
    itself (a return plan, or a journey it announced). On a case this node
    holds as the country of origin, False."""
    from trm.cases.messages import CASE_ALERT
    from trm.exchange.models import OutboxMessage, OutboxStatus
    from trm.handover.models import ReturnHandover, Side

    return (
        case.assistance in DESTINATION_STATES
        or ReturnPlan.objects.filter(case=case).exists()
        or ReturnHandover.objects.filter(case=case, side=Side.DESTINATION).exists()
        or OutboxMessage.objects.filter(type=CASE_ALERT, case_id=case.pk)
        .exclude(status__in=[OutboxStatus.REJECTED, OutboxStatus.CANCELLED])
        .exists()
    )


def require_origin_side(case: Case, sender: str, message_type: str) -> None:
    """Refuse a destination → origin message about a case this node is the
    destination of.

    Raises:
        WrongSide: ``returns.wrong_side`` with ``details["type"]``.
    """
    if is_destination_for(case, sender):
        raise WrongSide(
            _(
                "This node is the country of destination of this case: only the "
                "country of origin receives this message."
            ),
            details={"type": message_type},
        )
