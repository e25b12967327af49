"""The only readers of the return record. Access follows the case; reads that
open sealed text are audited (``returns.read``, record ids only).

A user reads a case's return record when they may see the case (no access
answers 404, as "no such case") and their roles on it are not legal-track only
(a prosecutor gets :class:`~trm.returns.errors.ReturnNotForLegalTrack`, 403:
the return record is assistance content, SOPS §3). Sealed text is ``None``
once the person's data was erased ("can no longer be read").
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import Role, User
from trm.audit import services as audit
from trm.care.common import Opener
from trm.cases.access import CaseAccess, case_access
from trm.cases.errors import CaseNotFound
from trm.cases.models import Case
from trm.cases.tracks import Assistance
from trm.exchange.models import OutboxMessage
from trm.returns import wire
from trm.returns.errors import ReturnNotForLegalTrack
from trm.returns.guards import Blocker, ReturnFacts, gather, return_blockers
from trm.returns.models import (
    BestInterestsDetermination,
    FamilyExchange,
    IncomingReturn,
    JointRiskAssessment,
    ReturnPlan,
)
from trm.returns.services import BID_ROLES, PLANNING_ROLES, TRANSIT_ROLES
from trm.returns.services.across import FAMILY_ROLES
from trm.returns.services.common import PLANNING_STATES


def may_read(access: CaseAccess | None) -> bool:
    """Return True if ``access`` may read the return record."""
    return access is not None and not access.legal_only


def may_act(access: CaseAccess, roles: frozenset[str]) -> bool:
    """Return True if ``access`` is a team role among ``roles`` (not via policy)."""
    return not access.via_policy and bool(access.roles & roles)


def return_access_for_user(*, user: User, case: Case) -> CaseAccess:
    """Return the user's access to ``case`` if they may read its return record.

    Raises:
        CaseNotFound: the user may not see the case.
        ReturnNotForLegalTrack: the user's roles on it are legal-track only.
    """
    access = case_access(user, case)
    if access is None:
        raise CaseNotFound(_("No such case."))
    if not may_read(access):
        # The attempt is audited: it reached for assistance data about a
        # person (issue "SOP 4 and SOP 5": refusals touching personal data).
        audit.record(
            actor=user,
            action="returns.read_refused",
            target=case,
            data={"reason": "legal_track"},
        )
        raise ReturnNotForLegalTrack(
            _(
                "The return record is part of assistance, which the legal track "
                "does not see."
            )
        )
    return access


@dataclass(frozen=True)
class Permissions:
    """What the user may do on the return record now."""

    bid: bool
    planning: bool
    transit: bool
    #: Across nodes: send the return plan (the NCP on the team, planning);
    #: ask for or record a family report; act as the origin node (answer
    #: what arrived: a planning role, or the NCP also through node policy).
    plan_send: bool = False
    family: bool = False
    origin: bool = False


def permissions(case: Case, access: CaseAccess) -> Permissions:
    """Return what ``access`` may do on ``case`` now (open case, live person)."""
    live = not case.is_closed and not case.person.is_erased
    planning = case.assistance in PLANNING_STATES
    return Permissions(
        bid=live and case.person.presumed_child and may_act(access, BID_ROLES),
        planning=live and planning and may_act(access, PLANNING_ROLES),
        transit=live
        and case.assistance == Assistance.RETURN_PREPARATION
        and may_act(access, TRANSIT_ROLES),
        plan_send=live and planning and may_act(access, TRANSIT_ROLES),
        family=live and may_act(access, FAMILY_ROLES),
        origin=live
        and (
            Role.NATIONAL_CONTACT_POINT in access.roles
            if access.via_policy
            else bool(access.roles & PLANNING_ROLES)
        ),
    )


@dataclass(frozen=True)
class ReturnStatus:
    """What the case page shows without opening sealed text."""

    facts: ReturnFacts
    blockers: list[Blocker]


def return_status(case: Case) -> ReturnStatus:
    """Return the records' codes and what still blocks the journey (no audit:
    nothing sealed is opened)."""
    facts = gather(case)
    return ReturnStatus(facts, return_blockers(case, facts, today=timezone.localdate()))


def journey_started(case: Case) -> bool:
    """Whether the return journey of ``case`` started (a handover exists on
    this node, either side): from then on nothing is "still missing" before
    it (no audit: nothing sealed is opened)."""
    from trm.handover.models import ReturnHandover

    return ReturnHandover.objects.filter(case=case).exists()


def has_return_record(case: Case) -> bool:
    """Whether ``case`` has anything on its return record here (a return
    plan, a joint risk assessment, a best-interests determination or a
    plan received from the destination)."""
    return (
        ReturnPlan.objects.filter(case=case).exists()
        or JointRiskAssessment.objects.filter(case=case).exists()
        or BestInterestsDetermination.objects.filter(case=case).exists()
        or IncomingReturn.objects.filter(case=case).exists()
    )


@dataclass(frozen=True)
class ReturnRecord:
    """The whole return record with its sealed text opened (None: erased)."""

    status: ReturnStatus
    bid: BestInterestsDetermination | None
    bid_text: dict[str, str] | None
    joint: JointRiskAssessment | None
    joint_text: dict[str, str] | None
    plan: ReturnPlan | None
    plan_text: dict[str, str] | None


def _open(
    opener: Opener, blob: bytes | memoryview | None, context: bytes
) -> dict[str, str] | None:
    text = opener.open(blob, context=context)
    if text is None:
        return None
    return json.loads(text) if text else {}


def return_record_for_user(*, user: User, case: Case) -> ReturnRecord:
    """Return the case's return record for ``user``; audit ``returns.read``.

    Raises:
        CaseNotFound, ReturnNotForLegalTrack (see :func:`return_access_for_user`).
    """
    return_access_for_user(user=user, case=case)
    status = return_status(case)
    facts = status.facts
    opener = Opener(case.person)
    record = ReturnRecord(
        status=status,
        bid=facts.bid,
        bid_text=_open(opener, facts.bid.sealed_text, facts.bid.text_context())
        if facts.bid
        else {},
        joint=facts.joint,
        joint_text=_open(opener, facts.joint.sealed_text, facts.joint.text_context())
        if facts.joint
        else {},
        plan=facts.plan,
        plan_text=_open(opener, facts.plan.sealed_text, facts.plan.text_context())
        if facts.plan
        else {},
    )
    opened = [str(r.pk) for r in (facts.bid, facts.joint, facts.plan) if r]
    if opened:
        with transaction.atomic():
            audit.record(
                actor=user,
                action="returns.read",
                target=case,
                data={"records": opened},
            )
    return record


#: The message types of the SOP 4 preparation (what the across page lists).
ACROSS_TYPES = (
    wire.RISK_JOINT,
    wire.RETURN_PLAN,
    wire.RETURN_PLAN_RESPONSE,
    wire.FAMILY_ASSESSMENT_REQUEST,
    wire.FAMILY_ASSESSMENT_REPORT,
    wire.FAMILY_TRACING_REQUEST,
    wire.FAMILY_TRACING_RESULT,
)


@dataclass(frozen=True)
class AcrossRecord:
    """What crossed the border about the return, with sealed text opened
    (a text dict is None once the person's data was erased).

    Attributes:
        received_joint: assessments the destination sent (origin node).
        own_joint: assessments recorded here (destination node), with the
            origin's ratings once they came back (``origin_rated_on``).
        incoming: return plans that arrived (origin node), with their texts.
        family: family requests and reports, both directions, with texts.
        sent: this node's messages of :data:`ACROSS_TYPES` about the case.
    """

    received_joint: list[JointRiskAssessment]
    own_joint: list[JointRiskAssessment]
    incoming: list[tuple[IncomingReturn, dict[str, str] | None]]
    family: list[tuple[FamilyExchange, dict[str, str] | None]]
    sent: list[OutboxMessage]


def across_for_user(*, user: User, case: Case) -> AcrossRecord:
    """Return what crossed the border about ``case``'s return for ``user``;
    audit ``returns.read`` when sealed text was opened.

    Raises:
        CaseNotFound, ReturnNotForLegalTrack (see :func:`return_access_for_user`).
    """
    return_access_for_user(user=user, case=case)
    opener = Opener(case.person)
    incoming = [
        (row, _open(opener, row.sealed_text, row.text_context()))
        for row in IncomingReturn.objects.filter(case=case)
    ]
    family = [
        (row, _open(opener, row.sealed_text, row.text_context()))
        for row in FamilyExchange.objects.filter(case=case)
    ]
    opened = [str(row.pk) for row, _t in [*incoming, *family]]
    if opened:
        with transaction.atomic():
            audit.record(
                actor=user, action="returns.read", target=case, data={"records": opened}
            )
    return AcrossRecord(
        received_joint=list(
            JointRiskAssessment.objects.filter(case=case, remote_ref__isnull=False)
        ),
        own_joint=list(
            JointRiskAssessment.objects.filter(case=case, remote_ref__isnull=True)
        ),
        incoming=incoming,
        family=family,
        sent=list(
            OutboxMessage.objects.filter(
                case_id=case.pk, type__in=ACROSS_TYPES
            ).order_by("-created_at")
        ),
    )
