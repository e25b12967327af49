"""``{% reintegration_section case %}``: the plan, follow-ups and reports
received, on the case page."""

from __future__ import annotations

from typing import Any

from django import template

from trm.accounts.models import User
from trm.cases.access import case_access
from trm.cases.models import Case
from trm.reintegration import selectors
from trm.reintegration.services import REINTEGRATION_STATES

register = template.Library()


@register.inclusion_tag("reintegration/_case_section.html", takes_context=True)
def reintegration_section(context: template.Context, case: Case) -> dict[str, Any]:
    """Render the reintegration block (counts and dates only; no sealed text
    is opened). Hidden from legal-track-only roles."""
    user = context["request"].user
    access = case_access(user, case) if isinstance(user, User) else None
    if not selectors.may_read(access):
        return {"case": case, "visible": False}
    plan, follow_ups, overdue, received = selectors.reintegration_status(case)
    return {
        "case": case,
        "visible": True,
        "active": case.assistance in REINTEGRATION_STATES,
        "plan": plan,
        "follow_ups": follow_ups,
        "overdue": overdue,
        "received": received,
    }
