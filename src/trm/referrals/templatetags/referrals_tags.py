"""``{% referrals_section case %}``: the referrals block of the case page."""

from __future__ import annotations

from typing import Any

from django import template

from trm.accounts.models import User
from trm.cases.models import Case
from trm.referrals import selectors
from trm.referrals.views import may_refer

register = template.Library()


@register.inclusion_tag("referrals/_case_section.html", takes_context=True)
def referrals_section(context: template.Context, case: Case) -> dict[str, Any]:
    """Render the case's referrals and the links to refer the person.

    Reads through :func:`trm.referrals.selectors.referrals_for_case` (no
    personal data: organisations, states, dates). Legal-track-only roles see
    nothing of it.
    """
    user = context["request"].user
    if not isinstance(user, User):
        return {"case": case, "visible": False}
    access = selectors.team_access(user, case)
    if access is None:
        return {"case": case, "visible": False}
    return {
        "case": case,
        "visible": True,
        "referrals": selectors.referrals_for_case(user=user, case=case),
        "may_refer": (
            may_refer(access) and not case.is_closed and not case.person.is_erased
        ),
    }
