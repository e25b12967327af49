"""``{% returns_section case %}``: what still blocks a return, on the case page."""

from __future__ import annotations

from typing import Any

from django import template

from trm.accounts.models import User
from trm.cases.access import case_access
from trm.cases.models import Case
from trm.cases.tracks import Assistance
from trm.handover.models import HandoverStatus, ReturnHandover, Side
from trm.returns import selectors

register = template.Library()

#: Assistance states in which the case page lists what a return still needs.
ACTIVE_STATES = frozenset({Assistance.RETURN_PREPARATION, Assistance.RETURN_ON_HOLD})


@register.inclusion_tag("returns/_case_section.html", takes_context=True)
def returns_section(context: template.Context, case: Case) -> dict[str, Any]:
    """Render the return block: while a return is prepared, every condition of
    the journey still missing (:func:`trm.returns.guards.return_blockers`);
    once this node returned the person and the origin confirmed the arrival,
    the completed return (``returned``: the handover row, ``arrival_at``);
    otherwise an empty state. Hidden from legal-track-only roles. No sealed text
    is opened here."""
    user = context["request"].user
    access = case_access(user, case) if isinstance(user, User) else None
    if not selectors.may_read(access):
        return {"case": case, "visible": False}
    active = case.assistance in ACTIVE_STATES
    returned = (
        None
        if active
        else ReturnHandover.objects.filter(
            case=case, side=Side.DESTINATION, status=HandoverStatus.ARRIVED
        )
        .order_by("-created_at")
        .first()
    )
    return {
        "case": case,
        "visible": True,
        "active": active,
        "returned": returned,
        "child": case.person.presumed_child,
        "has_record": not active and selectors.has_return_record(case),
        "blockers": selectors.return_status(case).blockers if active else [],
    }
