"""The best-interests determination for a child (SOPS §6.2 region E; rule 4)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import User
from trm.care.common import check_date
from trm.cases.errors import TransitionNotAllowed
from trm.cases.tracks import ChildProtection
from trm.identification.common import (
    audit_case,
    clean_reason,
)
from trm.returns.models import (
    BestInterestsDetermination,
    BidOutcome,
    GuardianOpinion,
    PanelFunction,
)
from trm.returns.services.common import (
    BID_ROLES,
    invalid,
    lock_for,
    record_event,
    seal_json,
)


def _clean_panel(panel: Sequence[str]) -> list[str]:
    if isinstance(panel, str) or not all(isinstance(p, str) for p in panel):
        raise invalid(_("Give the panel's functions as a list."), "panel")
    chosen = set(panel)
    if chosen - set(PanelFunction.values):
        raise invalid(_("Unknown panel function."), "panel")
    if PanelFunction.GUARDIAN not in chosen:
        raise invalid(
            _("The guardian takes part in the determination (SOPS §6.2 region E)."),
            "panel",
        )
    if len(chosen) < 2:
        raise invalid(
            _("A determination is made by a panel: name at least two functions."),
            "panel",
        )
    return [p for p in PanelFunction.values if p in chosen]


@transaction.atomic(durable=True)
def bid_record(
    *,
    actor: User,
    case_id: UUID,
    determined_on: date | None,
    panel: Sequence[str],
    outcome: str,
    guardian_opinion: str,
    child_views: str,
    guardian_note: str = "",
) -> BestInterestsDetermination:
    """Record a best-interests determination for a child (SOPS §6.2 region E;
    §6.5 rule 4; UNICEF ch. 10; CETS Art. 16(7)). The newest one counts.

    Args:
        determined_on: the panel's date (not in the future).
        panel: :class:`~trm.returns.models.PanelFunction` codes; the guardian
            and at least one other function.
        outcome: ``local_integration``, ``return_to_family``,
            ``return_alternative_care`` or ``third_country``.
        guardian_opinion: ``agrees``, ``reservations`` or ``disagrees``.
        child_views: the child's views, in their words or as heard (required;
            if the child could not give views, say why). Sealed.
        guardian_note: the guardian's written opinion (optional). Sealed.

    Writes the event ``sop4.best_interests_determined`` (code = outcome) and
    the audit entry ``returns.bid_recorded``.

    Raises:
        CaseNotFound, CaseRoleRequired (case manager or guardian),
        TransitionNotAllowed (closed case; no guardian appointed, reason
        ``guardian_not_appointed``), PersonErased, CaseInvalidInput (not a
        child, panel, outcome, opinion, date, missing views), InvalidText.
    """
    case = lock_for(actor, case_id, BID_ROLES)
    if not case.person.presumed_child:
        raise invalid(
            _("A best-interests determination is made for a child."), "outcome"
        )
    if case.child_protection != ChildProtection.GUARDIAN_APPOINTED:
        raise TransitionNotAllowed(
            _(
                "Appoint a guardian first: no decision about a child's return "
                "without the guardian (SOPS §6.2 region E)."
            ),
            details={"reason": "guardian_not_appointed"},
        )
    day = check_date(
        determined_on,
        field="determined_on",
        not_future=True,
        message=_("Give the date of the determination."),
    )
    assert day is not None  # noqa: S101 - required above
    clean_panel = _clean_panel(panel)
    if outcome not in BidOutcome.values:
        raise invalid(_("Choose the outcome of the determination."), "outcome")
    if guardian_opinion not in GuardianOpinion.values:
        raise invalid(_("Give the guardian's opinion."), "guardian_opinion")
    views = clean_reason(
        child_views,
        field="child_views",
        required=True,
        message=_(
            "Write down the child's views (or why the child could not give them)."
        ),
    )
    note = clean_reason(guardian_note, field="guardian_note", required=False)
    bid = BestInterestsDetermination(
        case=case,
        determined_on=day,
        panel=clean_panel,
        outcome=outcome,
        guardian_opinion=guardian_opinion,
        recorded_at=timezone.now(),
        recorded_by=actor,
    )
    sealed = seal_json(
        case, {"child_views": views, "guardian_note": note}, bid.text_context()
    )
    assert sealed is not None  # noqa: S101 - the views are required
    bid.sealed_text = sealed
    bid.save(force_insert=True)
    record_event(case, actor, kind="sop4.best_interests_determined", code=outcome)
    audit_case(
        actor,
        "returns.bid_recorded",
        case,
        record=str(bid.pk),
        outcome=outcome,
        guardian_opinion=guardian_opinion,
    )
    return bid
