"""``{% assistance_section case %}``: the assistance pathway on the case page."""

from __future__ import annotations

from typing import Any

from django import template

from trm.accounts.models import User
from trm.assistance import selectors
from trm.cases.access import case_access
from trm.cases.models import Case

register = template.Library()


@register.inclusion_tag("assistance/_case_section.html", takes_context=True)
def assistance_section(context: template.Context, case: Case) -> dict[str, Any]:
    """Render the assistance state and the moves this user may make now.

    Hidden from legal-track-only roles (the assistance record is not theirs).
    """
    user = context["request"].user
    access = case_access(user, case) if isinstance(user, User) else None
    if access is None or access.legal_only:
        return {"case": case, "visible": False}
    return {
        "case": case,
        "visible": True,
        "state_label": selectors.state_label(case),
        "moves": selectors.moves_for(case, access),
        "may_move": selectors.may_move(access),
    }
