"""The journey: the only move to "in transit" (SOPS §6.5 rules 4 and 5)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import User
from trm.cases.models import Case
from trm.cases.services import (
    lock_case,
    move_track,
    require_live_person,
)
from trm.cases.tracks import Assistance
from trm.handover.services import announce_handover, clean_handover
from trm.identification.common import (
    clean_reason,
    require_open,
    require_roles,
)
from trm.returns.errors import ReturnBlocked
from trm.returns.guards import Blocker, gather, return_blockers
from trm.returns.services.common import (
    TRANSIT_ROLES,
)


def blocked_error(blockers: list[Blocker]) -> ReturnBlocked:
    """Return the refusal naming every blocker (message and ``details``)."""
    return ReturnBlocked(
        _("The journey cannot start yet: %(list)s")
        % {"list": " ".join(b.message for b in blockers)},
        details={
            "blockers": [
                {"code": b.code, "message": b.message, "part": b.part} for b in blockers
            ]
        },
    )


@transaction.atomic(durable=True)
def return_in_transit(
    *,
    actor: User,
    case_id: UUID,
    expected_arrival_at: datetime | None = None,
    reason: str = "",
    departure_at: datetime | None = None,
    escort_function: str = "",
    meeting_person_function: str = "",
    arrival_point: str = "",
    itinerary: str = "",
    legal_basis: str = "",
    origin_node: str = "",
) -> Case:
    """Start the journey: assistance ``return_preparation`` → ``in_transit``
    (SOPS §6.2 region B; §6.3; §6.5 rules 4 and 5) and announce the handover
    to the origin node (SOP 4 step 8; ``return.handover``, M9).

    The only way to this state. Every condition of
    :func:`trm.returns.guards.return_blockers` must hold; otherwise the refusal
    lists every unmet one. No condition reads the legal track (rule 1). The
    move is a ``case.track_moved`` event (code ``guards_met``) with its audit
    entry; the SOP step ``sop4.handover`` starts from it.

    ``expected_arrival_at`` (required; aware, after now), ``departure_at``
    (default now), the escort and meeting person *functions*, the arrival
    point and itinerary (empty ones are taken from the return plan),
    ``legal_basis`` (empty: only codes and times travel; ``consent:<id>``:
    the texts too) and ``origin_node`` (default: the one peer the case is
    linked with) go to :func:`trm.handover.services.announce_handover`, in
    this transaction.

    Raises:
        CaseNotFound, CaseRoleRequired (national contact point only),
        TransitionNotAllowed (closed case), PersonErased, ReturnBlocked
        (``details["blockers"]``), CaseInvalidInput (the note, the expected
        arrival, the departure, the legal basis), NoOriginNode (the case is
        linked with no node of origin), PeerUnavailable, ConsentMissing.
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    require_open(case)
    require_roles(access, TRANSIT_ROLES)
    require_live_person(case)
    blockers = return_blockers(case, gather(case), today=timezone.localdate())
    if blockers:
        raise blocked_error(blockers)
    reason = clean_reason(reason, field="reason", required=False)
    draft = clean_handover(
        case=case,
        expected_arrival_at=expected_arrival_at,
        departure_at=departure_at,
        escort_function=escort_function,
        meeting_person_function=meeting_person_function,
        arrival_point=arrival_point,
        itinerary=itinerary,
        legal_basis=legal_basis,
        origin_node=origin_node,
    )
    case = move_track(
        actor=actor,
        case=case,
        access=access,
        track="assistance",
        target=Assistance.IN_TRANSIT,
        reason=reason,
        code="guards_met",
    )
    announce_handover(actor=actor, case=case, draft=draft)
    return case
