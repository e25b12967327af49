"""``{% assessments_section case %}``: the assessments block of the case page."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from trm.accounts.models import User
from trm.assessments import selectors
from trm.assessments.actions import section_actions
from trm.assessments.common import may_read
from trm.assessments.models import DOMAIN_LABELS, NeedStatus
from trm.cases.access import case_access
from trm.cases.models import Case

register = template.Library()


@register.inclusion_tag("assessments/_case_section.html", takes_context=True)
def assessments_section(context: template.Context, case: Case) -> dict[str, Any]:
    """Render needs, risks and the plan of ``case`` for the requesting user.

    Nothing for a user whose roles on the case are legal-track only (a
    prosecutor): it is assistance material. Reads through
    :func:`trm.assessments.selectors.summary_for_user` (audited; nothing is
    decrypted).
    """
    user = context["request"].user
    if not isinstance(user, User):
        return {"case": case, "visible": False}
    access = case_access(user, case)
    if not may_read(access) or access is None:
        return {"case": case, "visible": False}
    summary = selectors.summary_for_user(user=user, case=case)
    needs = summary.needs
    attention = []
    if needs is not None:
        attention = [
            (str(DOMAIN_LABELS.get(domain, domain)), status)
            for domain, status in needs.statuses.items()
            if status in {NeedStatus.URGENT, NeedStatus.ACTION}
        ]
        attention.sort(key=lambda pair: pair[1] != NeedStatus.URGENT)
    return {
        "case": case,
        "visible": True,
        "summary": summary,
        "needs": needs,
        "attention": attention,
        "risk": summary.risk,
        "plan": summary.plan,
        "signed": summary.signed,
        "today": timezone.localdate(),
        "actions": section_actions(access, case, summary.plan),
    }
