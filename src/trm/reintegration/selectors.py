"""The only readers of the reintegration record. Access follows the case; a
read that opens sealed text is audited (``reintegration.read``, ids only).

A user reads a case's reintegration record when they may see the case (no
access answers 404, as "no such case") and their roles on it are not
legal-track only (a prosecutor gets
:class:`~trm.reintegration.errors.ReintegrationNotForLegalTrack`, 403: it is
assistance content, SOPS §3). Sealed text is ``None`` once the person's data
was erased ("can no longer be read").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import User
from trm.audit import services as audit
from trm.care.common import Opener
from trm.cases.access import CaseAccess, case_access
from trm.cases.errors import CaseNotFound
from trm.cases.models import Case
from trm.consent.models import Consent, Purpose
from trm.exchange.models import Peer
from trm.reintegration.errors import ReintegrationNotForLegalTrack
from trm.reintegration.models import FollowUp, FollowUpReport, ReintegrationPlan
from trm.reintegration.services import (
    PLAN_ROLES,
    REINTEGRATION_STATES,
    current_plan,
    destination_node,
)
from trm.returns.sides import is_destination


def may_read(access: CaseAccess | None) -> bool:
    """Return True if ``access`` may read the reintegration record."""
    return access is not None and not access.legal_only


def may_act(case: Case, access: CaseAccess) -> bool:
    """Return True if ``access`` may record the plan or a report now (team
    role among :data:`PLAN_ROLES`, open case, live person, reintegration)."""
    return (
        not access.via_policy
        and bool(access.roles & PLAN_ROLES)
        and not case.is_closed
        and not case.person.is_erased
        and case.assistance in REINTEGRATION_STATES
    )


def reintegration_access_for_user(*, user: User, case: Case) -> CaseAccess:
    """Return the user's access to ``case`` if they may read its record.

    Raises:
        CaseNotFound: the user may not see the case.
        ReintegrationNotForLegalTrack: their roles on it are legal-track only.
    """
    access = case_access(user, case)
    if access is None:
        raise CaseNotFound(_("No such case."))
    if not may_read(access):
        # The attempt is audited: it reached for assistance data about a
        # person (issue "SOP 4 and SOP 5": refusals touching personal data).
        audit.record(
            actor=user,
            action="reintegration.read_refused",
            target=case,
            data={"reason": "legal_track"},
        )
        raise ReintegrationNotForLegalTrack(
            _(
                "Reintegration is part of assistance, which the legal track "
                "does not see."
            )
        )
    return access


@dataclass(frozen=True)
class FollowUpView:
    follow_up: FollowUp
    risk_note: str | None

    @property
    def overdue(self) -> bool:
        return not self.follow_up.is_reported and (
            self.follow_up.due_on < timezone.localdate()
        )


@dataclass(frozen=True)
class ReportView:
    report: FollowUpReport
    risk_note: str | None


@dataclass(frozen=True)
class ReintegrationRecord:
    """The case's reintegration record with its sealed text opened."""

    plan: ReintegrationPlan | None
    goals: str | None
    follow_ups: list[FollowUpView]
    received: list[ReportView]
    destination: str
    #: True on the node of the country of origin (it makes the follow-up
    #: reports and sends them); False on the destination, which receives them
    #: (:func:`trm.returns.sides.is_destination`).
    origin: bool = True


def reintegration_status(case: Case) -> tuple[ReintegrationPlan | None, int, int, int]:
    """Return ``(plan, follow-ups, overdue, reports received)`` without
    opening sealed text (for the case page; no audit)."""
    today = timezone.localdate()
    follow_ups = FollowUp.objects.filter(case=case)
    return (
        current_plan(case),
        follow_ups.count(),
        follow_ups.filter(reported_on__isnull=True, due_on__lt=today).count(),
        FollowUpReport.objects.filter(case=case).count(),
    )


def reintegration_record_for_user(*, user: User, case: Case) -> ReintegrationRecord:
    """Return the reintegration record of ``case`` for ``user``; audit
    ``reintegration.read`` when a record was opened.

    Raises:
        CaseNotFound, ReintegrationNotForLegalTrack.
    """
    reintegration_access_for_user(user=user, case=case)
    opener = Opener(case.person)
    plan = current_plan(case)
    follow_ups = list(FollowUp.objects.filter(case=case).order_by("sequence"))
    received = list(FollowUpReport.objects.filter(case=case))
    record = ReintegrationRecord(
        plan=plan,
        goals=opener.open(plan.sealed_goals, context=plan.goals_context())
        if plan
        else "",
        follow_ups=[
            FollowUpView(f, opener.open(f.sealed_risk_note, context=f.note_context()))
            for f in follow_ups
        ],
        received=[
            ReportView(r, opener.open(r.sealed_risk_note, context=r.note_context()))
            for r in received
        ],
        destination=destination_node(case, plan),
        origin=not is_destination(case),
    )
    opened = ([str(plan.pk)] if plan else []) + [str(r.pk) for r in received]
    opened += [str(f.pk) for f in follow_ups if f.is_reported]
    if opened:
        with transaction.atomic():
            audit.record(
                actor=user,
                action="reintegration.read",
                target=case,
                data={"records": opened},
            )
    return record


def follow_up_for_user(
    *, user: User, case: Case, follow_up_id: UUID
) -> FollowUp | None:
    """Return the case's follow-up ``follow_up_id`` (None: no such one)."""
    reintegration_access_for_user(user=user, case=case)
    return FollowUp.objects.filter(case=case, pk=follow_up_id).first()


def consents_for_report(
    case: Case, node_id: str, *, at: date | None = None
) -> list[Consent]:
    """Return the person's consents that may carry a follow-up report to
    ``node_id``: to a transfer abroad, naming the node's country (not an
    organisation), valid now. The consent gate checks the categories."""
    peer = Peer.objects.filter(node_id=node_id).first() if node_id else None
    if peer is None or not peer.country:
        return []
    found = Consent.objects.filter(
        person_id=case.person_id,
        purpose=Purpose.CROSS_BORDER_TRANSFER,
        recipient_organisation__isnull=True,
        recipient_country=peer.country.upper(),
        withdrawn_at__isnull=True,
    ).order_by("-given_at")
    return [c for c in found if c.is_valid_at()]
