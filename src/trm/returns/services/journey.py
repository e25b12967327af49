"""The journey: the only move to "in transit" (SOPS §6.5 rules 4 and 5)."""

from __future__ import annotations

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
def return_in_transit(*, actor: User, case_id: UUID, reason: str = "") -> Case:
    """Start the journey: assistance ``return_preparation`` → ``in_transit``
    (SOPS §6.2 region B; §6.3; §6.5 rules 4 and 5).

    The only way to this state. Every condition of
    :func:`trm.returns.guards.return_blockers` must hold; otherwise the refusal
    lists every unmet one. No condition reads the legal track (rule 1). The
    move is a ``case.track_moved`` event (code ``guards_met``) with its audit
    entry; the SOP step ``sop4.handover`` starts from it.

    Raises:
        CaseNotFound, CaseRoleRequired (national contact point only),
        TransitionNotAllowed (closed case), PersonErased, ReturnBlocked
        (``details["blockers"]``), CaseInvalidInput (the note).
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    require_open(case)
    require_roles(access, TRANSIT_ROLES)
    require_live_person(case)
    blockers = return_blockers(case, gather(case), today=timezone.localdate())
    if blockers:
        raise blocked_error(blockers)
    reason = clean_reason(reason, field="reason", required=False)
    return move_track(
        actor=actor,
        case=case,
        access=access,
        track="assistance",
        target=Assistance.IN_TRANSIT,
        reason=reason,
        code="guards_met",
    )
