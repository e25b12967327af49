"""The actions the case page and the plan page offer, or why they are not possible.

An action the user may not take now is shown disabled with the reason (the
role it needs, a closed case, an erased person, no draft to sign), so people
know what to ask for instead of wondering where a button went.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse
from django.utils.translation import gettext as _

from trm.cases.access import CaseAccess
from trm.cases.models import Case

from .common import ASSESSMENT_ROLES, PLAN_ROLES, acting_roles, roles_text
from .models import NeedsKind, SupportPlanVersion


@dataclass(frozen=True)
class Action:
    """A link to a form, or why it cannot be used now."""

    label: str
    url: str
    enabled: bool = True
    reason: str = ""


def _why_not(access: CaseAccess, case: Case, allowed: frozenset[str]) -> str:
    """Return why ``access`` may not act with ``allowed`` on ``case`` ("" if it may)."""
    roles = acting_roles(case, allowed)
    if access.via_policy:
        return _("Join the case team to do this.")
    if not access.roles & roles:
        return _("Only these roles on the case may do this: %(roles)s.") % {
            "roles": roles_text(roles)
        }
    if case.is_closed:
        return _("The case is closed.")
    if case.person.is_erased:
        return _("The person's data was erased.")
    return ""


def _action(
    label: str, url: str, access: CaseAccess, case: Case, allowed: frozenset[str]
) -> Action:
    reason = _why_not(access, case, allowed)
    return Action(label, url, not reason, reason)


def section_actions(
    access: CaseAccess, case: Case, plan: SupportPlanVersion | None
) -> list[Action]:
    """Return the actions of the case page's assessments section, in order."""
    needs_url = reverse("assessments:needs_new", args=[case.pk])
    return [
        _action(
            _("Assess immediate needs"),
            f"{needs_url}?kind={NeedsKind.IMMEDIATE}",
            access,
            case,
            ASSESSMENT_ROLES,
        ),
        _action(
            _("Assess long-term needs"),
            f"{needs_url}?kind={NeedsKind.LONG_TERM}",
            access,
            case,
            ASSESSMENT_ROLES,
        ),
        _action(
            _("Record a risk assessment"),
            reverse("assessments:risk_new", args=[case.pk]),
            access,
            case,
            ASSESSMENT_ROLES,
        ),
        *plan_actions(access, case, plan),
    ]


def plan_actions(
    access: CaseAccess, case: Case, plan: SupportPlanVersion | None
) -> list[Action]:
    """Return "write / edit the plan" and "sign the plan", each maybe disabled."""
    if plan is None:
        edit_label = _("Write the support and safety plan")
    elif plan.is_draft:
        edit_label = _("Edit the draft plan")
    else:
        edit_label = _("Update the plan (starts a new version)")
    edit = _action(
        edit_label,
        reverse("assessments:plan_edit", args=[case.pk]),
        access,
        case,
        PLAN_ROLES,
    )
    sign = _action(
        _("Sign the plan"),
        reverse("assessments:plan_sign", args=[case.pk]),
        access,
        case,
        PLAN_ROLES,
    )
    if sign.enabled and (plan is None or not plan.is_draft):
        sign = Action(sign.label, sign.url, False, _("There is no draft to sign."))
    return [edit, sign]
