"""Reading the handovers of a case (the only reader of their sealed texts).

The handover is assistance content: legal-track-only roles (a prosecutor) see
none of it. Opening the sealed texts is audited (``handover.read``, counts
only). Sealed text is ``None`` once the person was erased.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.db import transaction
from django.utils.translation import gettext as _

from trm.accounts.models import Role, User
from trm.audit import services as audit
from trm.care.common import Opener
from trm.cases.access import CaseAccess, case_access
from trm.cases.models import Case
from trm.handover.models import HandoverStatus, ReturnHandover, Side
from trm.handover.services import CONFIRM_ROLES, alert_hours
from trm.returns.errors import ReturnNotForLegalTrack


@dataclass(frozen=True)
class HandoverView:
    """One handover as the case page and the API show it."""

    id: UUID
    handover_ref: UUID
    side: str
    peer_node: str
    departure_at: datetime
    expected_arrival_at: datetime
    alert_due_at: datetime
    escort_function: str
    meeting_person_function: str
    arrival_point: str | None
    itinerary: str | None
    sending_organisation: str
    status: str
    arrival_at: datetime | None
    arrival_confirmed_at: datetime | None
    note: str | None
    alert_raised_at: datetime | None
    lead_side: str
    lead_moved_at: datetime | None

    @property
    def status_label(self) -> str:
        return str(HandoverStatus(self.status).label)


def may_read(access: CaseAccess | None) -> bool:
    """Whoever sees the case, except legal-track-only roles."""
    return access is not None and not access.legal_only


def may_confirm(access: CaseAccess | None) -> bool:
    """Who may confirm an arrival (origin side): :data:`CONFIRM_ROLES` on the
    team; the national contact point also through node policy."""
    if access is None or not (access.roles & CONFIRM_ROLES):
        return False
    return not access.via_policy or Role.NATIONAL_CONTACT_POINT in access.roles


def handovers_for_user(*, user: User, case: Case) -> list[HandoverView]:
    """Return the case's handovers, newest first, with their texts opened.

    Raises:
        ReturnNotForLegalTrack: a legal-track-only user.
    """
    access = case_access(user, case)
    if not may_read(access):
        # The attempt is audited: it reached for assistance data about a
        # person (issue "SOP 4 and SOP 5": refusals touching personal data).
        audit.record(
            actor=user,
            action="handover.read_refused",
            target=case,
            data={"reason": "legal_track"},
        )
        raise ReturnNotForLegalTrack(
            _("The handover is part of assistance, which the legal track does not see.")
        )
    rows = list(ReturnHandover.objects.filter(case=case).order_by("-created_at"))
    if not rows:
        return []
    opener = Opener(case.person)
    views = []
    hours = alert_hours()
    for row in rows:
        text = opener.open(row.sealed_text, context=row.text_context())
        texts = json.loads(text) if text else {}
        views.append(
            HandoverView(
                id=row.pk,
                handover_ref=row.handover_ref,
                side=row.side,
                peer_node=row.peer_node,
                departure_at=row.departure_at,
                expected_arrival_at=row.expected_arrival_at,
                alert_due_at=row.expected_arrival_at + timedelta(hours=hours),
                escort_function=row.escort_function,
                meeting_person_function=row.meeting_person_function,
                arrival_point=None if text is None else texts.get("arrival_point", ""),
                itinerary=None if text is None else texts.get("itinerary", ""),
                sending_organisation=row.sending_organisation,
                status=row.status,
                arrival_at=row.arrival_at,
                arrival_confirmed_at=row.arrival_confirmed_at,
                note=opener.open(row.sealed_note, context=row.note_context()),
                alert_raised_at=row.alert_raised_at,
                lead_side=row.lead_side,
                lead_moved_at=row.lead_moved_at,
            )
        )
    with transaction.atomic():
        audit.record(
            actor=user, action="handover.read", target=case, data={"rows": len(views)}
        )
    return views


def pending_confirmation(case: Case) -> ReturnHandover | None:
    """The origin handover of ``case`` still waiting for its confirmation."""
    return (
        ReturnHandover.objects.filter(
            case=case, side=Side.ORIGIN, status=HandoverStatus.ANNOUNCED
        )
        .order_by("-created_at")
        .first()
    )
