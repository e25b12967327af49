"""``{% transnational_section case %}``: the link abroad on the case page."""

from __future__ import annotations

from typing import Any

from django import template

from trm.accounts.models import Role, User
from trm.cases.access import case_access
from trm.cases.messages import alert_peers, alerted, conversation_peers
from trm.cases.models import Case, CaseEvent, ClosureReason
from trm.cases.services import SAFETY_ALERT_ROLES
from trm.cases.tracks import TransnationalLink

register = template.Library()


@register.inclusion_tag("cases/_transnational.html", takes_context=True)
def transnational_section(context: template.Context, case: Case) -> dict[str, Any]:
    """Render the case's link abroad and the alerts this user may send.

    Nothing personal: the track's state, the shared reference, peer nodes,
    dates and codes. The national contact point is offered to alert a
    counterpart node when the person claims the nationality of a country with
    an active peer not yet alerted.
    """
    user = context["request"].user
    if not isinstance(user, User):
        return {"visible": False}
    access = case_access(user, case)
    if access is None:
        return {"visible": False}
    peers = alert_peers(case) if not case.is_closed else []
    citizenships = set(case.person.citizenships)
    suggested = [
        peer
        for peer, _label in peers
        if peer.country in citizenships and not alerted(case, peer.node_id)
    ]
    closure = (
        CaseEvent.objects.filter(case=case, kind="case.closure_received")
        .order_by("-at")
        .first()
    )
    acknowledged = (
        CaseEvent.objects.filter(case=case, kind="case.alert_acknowledged")
        .order_by("-at")
        .first()
    )
    may_alert = Role.NATIONAL_CONTACT_POINT in access.roles and bool(peers)
    may_safety_alert = (
        bool(access.roles & SAFETY_ALERT_ROLES)
        and not (access.via_policy and Role.NATIONAL_CONTACT_POINT not in access.roles)
        and bool(peers)
    )
    return {
        "visible": True,
        "case": case,
        "state_label": TransnationalLink(case.transnational).label,
        "linked": case.transnational == TransnationalLink.LINKED,
        "peers": conversation_peers(case.trm_case_ref),
        "suggested": suggested if may_alert else [],
        "may_alert": may_alert,
        "may_safety_alert": may_safety_alert,
        "closure": closure,
        "closure_reason": (
            ClosureReason(closure.code).label
            if closure is not None and closure.code in ClosureReason.values
            else ""
        ),
        "acknowledged": acknowledged,
    }
