"""``{% handover_section case %}``: the journey's handover on the case page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import template

from trm.accounts.models import User
from trm.cases.access import case_access
from trm.cases.models import Case
from trm.handover import selectors
from trm.handover.models import HandoverStatus, ReturnHandover, Side
from trm.handover.services import alert_hours

register = template.Library()


@register.inclusion_tag("handover/_case_section.html", takes_context=True)
def handover_section(context: template.Context, case: Case) -> dict[str, Any]:
    """Render the handover panel (either node): expected arrival, when the
    alert is due, status and who leads; at the origin, the link to confirm
    the arrival. Codes and times only: no sealed text is opened here. Hidden
    from legal-track-only roles and when the case has no handover."""
    user = context["request"].user
    access = case_access(user, case) if isinstance(user, User) else None
    if not selectors.may_read(access):
        return {"case": case, "visible": False}
    row = ReturnHandover.objects.filter(case=case).order_by("-created_at").first()
    if row is None:
        return {"case": case, "visible": False}
    pending = row.status == HandoverStatus.ANNOUNCED
    return {
        "case": case,
        "visible": True,
        "handover": row,
        "alert_due_at": row.expected_arrival_at + timedelta(hours=alert_hours()),
        "pending": pending,
        "origin": row.side == Side.ORIGIN,
        "may_confirm": pending
        and row.side == Side.ORIGIN
        and selectors.may_confirm(access)
        and not case.is_closed,
    }


@register.inclusion_tag("handover/_lead_note.html", takes_context=True)
def handover_lead_note(context: template.Context, case: Case) -> dict[str, Any]:
    """Render, after the case header's "Led by …", that the lead moved to the
    country of origin when this node returned the person and the origin
    confirmed the arrival (``lead_side = origin`` on this node's
    destination-side handover: SOP 4, docs/handover.md "Ownership moves").
    The lead organisation stays this node's own; the origin's case leads
    from the handover on. Empty otherwise, and for legal-track-only roles."""
    user = context["request"].user
    access = case_access(user, case) if isinstance(user, User) else None
    if not selectors.may_read(access):
        return {"moved": None}
    moved = (
        ReturnHandover.objects.filter(
            case=case, side=Side.DESTINATION, lead_side=Side.ORIGIN
        )
        .order_by("-created_at")
        .first()
    )
    return {"moved": moved}
