"""``{% proceedings_section case %}``: the proceedings block of the case page."""

from __future__ import annotations

from typing import Any

from django import template

from trm.accounts.models import User
from trm.cases.access import case_access
from trm.cases.models import Case
from trm.cases.tracks import Legal
from trm.proceedings import selectors
from trm.proceedings.common import NOTICE_READERS, RIGHTS_ROLES, may_read, may_write

register = template.Library()


@register.inclusion_tag("proceedings/_case_section.html", takes_context=True)
def proceedings_section(context: template.Context, case: Case) -> dict[str, Any]:
    """Render the legal track and a summary of the proceedings records for the
    requesting user: nothing for a role that reads neither the records nor the
    notices. Reads through :mod:`trm.proceedings.selectors` (audited)."""
    user = context["request"].user
    if not isinstance(user, User):
        return {"case": case, "visible": False}
    access = case_access(user, case)
    if access is None:
        return {"case": case, "visible": False}
    reads, reads_notices = may_read(access), may_read(access, NOTICE_READERS)
    if not (reads or reads_notices):
        return {"case": case, "visible": False}
    return {
        "case": case,
        "visible": True,
        "view": selectors.proceedings_for_user(user=user, case=case) if reads else None,
        "notices": selectors.notices_for_user(user=user, case=case)
        if reads_notices
        else None,
        "may_inform": not case.is_closed
        and case.legal == Legal.NOT_INFORMED
        and may_write(access, RIGHTS_ROLES),
    }
