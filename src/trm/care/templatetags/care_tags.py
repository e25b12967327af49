"""``{% care_section case %}``: the long-term care block of the case page."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from trm.accounts.models import User
from trm.care import selectors
from trm.care.common import CARE_ROLES, RESIDENCE_ROLES, may_read, may_write
from trm.care.services import duration_warning
from trm.cases.access import case_access
from trm.cases.models import Case

register = template.Library()

#: How many of the latest services given the case page shows.
LATEST_SERVICES = 3


@register.inclusion_tag("care/_case_section.html", takes_context=True)
def care_section(context: template.Context, case: Case) -> dict[str, Any]:
    """Render the care plan's state and deadline, the current residence status
    and the latest services given, for the requesting user.

    Nothing for a user who may not see the case or whose roles on it are
    legal-track only (assistance content). Reads through
    :mod:`trm.care.selectors`; no document number is opened here.
    """
    user = context["request"].user
    if not isinstance(user, User):
        return {"case": case, "visible": False}
    access = case_access(user, case)
    if access is None or not may_read(access):
        return {"case": case, "visible": False}
    today = timezone.localdate()
    plan = selectors.plan_summary_for_user(user=user, case=case)
    records = selectors.residence_for_user(
        user=user, case=case, with_numbers=False, today=today
    )
    latest = list(selectors.episodes_for_user(user=user, case=case)[:LATEST_SERVICES])
    writable = not case.is_closed and not case.person.is_erased
    return {
        "case": case,
        "visible": True,
        "plan": plan,
        "plan_warning": duration_warning(plan.duration)
        if plan and plan.is_open
        else "",
        "deadline": selectors.care_plan_deadline(case=case, access=access, today=today),
        "residence": [r for r in records if r.current],
        "episodes": selectors.episode_views_for_user(
            user=user, case=case, episodes=latest
        ),
        "may_care": writable and may_write(access, CARE_ROLES),
        "may_residence": writable and may_write(access, RESIDENCE_ROLES),
    }
