"""``{% screening_section case %}``: the screening block of the case page."""

from __future__ import annotations

from typing import Any

from django import template

from trm.accounts.models import User
from trm.cases.access import case_access
from trm.cases.models import Case
from trm.screening import selectors
from trm.screening.scoring import ACTION_LABELS
from trm.screening.views import may_screen, presume_url

register = template.Library()


@register.inclusion_tag("screening/_case_section.html", takes_context=True)
def screening_section(context: template.Context, case: Case) -> dict[str, Any]:
    """Render the latest screening result and the links to screen and to list.

    Reads through :func:`trm.screening.selectors.screenings_for_user` (access
    checked and audited), as the acting user of the page.
    """
    user = context["request"].user
    if not isinstance(user, User):
        return {"case": case, "visible": False}
    access = case_access(user, case)
    if access is None:
        return {"case": case, "visible": False}
    latest = selectors.screenings_for_user(user=user, case=case, limit=1)
    screening = latest[0] if latest else None
    return {
        "case": case,
        "visible": True,
        "latest": screening,
        "action_text": ACTION_LABELS.get(screening.result, "") if screening else "",
        "may_screen": may_screen(case, access),
        "presume_url": presume_url(case),
    }
