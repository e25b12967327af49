"""``{% referrals_section case %}``: the referrals block of the case page."""

from __future__ import annotations

from typing import Any

from django import template

from trm.cases.models import Case

register = template.Library()


@register.inclusion_tag("referrals/_case_section.html", takes_context=True)
def referrals_section(context: template.Context, case: Case) -> dict[str, Any]:
    """Render the referrals block of the case page for the requesting user."""
    return {"case": case, "visible": False}
