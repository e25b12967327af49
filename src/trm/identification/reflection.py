"""SOP 1: the reflection and recovery period and the removal block (region C).

No enforced removal while identification is pending or the reflection period
runs (CETS 197 Art. 10(2), 13(1); SOPS §6.5 rule 2). The period's start is
recorded by the identification services (:mod:`trm.identification.services`)
at the event the variant names; here it ends, expires, and blocks removal.
Same conventions as the other services: keyword-only, the acting user, one
transaction, a DomainError and nothing written on refusal.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from uuid import UUID

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from trm.accounts.models import Role, User
from trm.cases.access import CaseAccess
from trm.cases.errors import CaseInvalidInput, CaseRoleRequired, TransitionNotAllowed
from trm.cases.models import Case, CaseEvent
from trm.cases.services import (
    lock_case,
    move_track,
    record_case_event,
    require_live_person,
)
from trm.cases.tracks import Identification, Reflection
from trm.common.errors import DomainError
from trm.identification.common import (
    audit_case,
    clean_reason,
    node_definition,
    require_open,
    require_roles,
)
from trm.identification.errors import (
    RemovalBlocked,
)
from trm.sop import engine
from trm.sop.types import Definition
from trm.sop.vocabulary import (
    REFLECTION_EARLY_END_REASONS,
    REFLECTION_END_REASONS,
)

logger = logging.getLogger(__name__)

#: Roles that end the reflection period early (the migration authority's
#: decision, recorded by the competent authority or the national contact point).
EARLY_END_ROLES = frozenset({Role.COMPETENT_AUTHORITY, Role.NATIONAL_CONTACT_POINT})


#: Roles that record that the period expired (the worker does it too).
EXPIRY_RECORDING_ROLES = frozenset(
    {Role.CASE_MANAGER, Role.COMPETENT_AUTHORITY, Role.NATIONAL_CONTACT_POINT}
)
#: Roles that record the person's decision at the end of the period.
DECISION_RECORDING_ROLES = frozenset(
    {Role.CASE_MANAGER, Role.PROSECUTOR, Role.COMPETENT_AUTHORITY}
)


#: Roles that record an enforced removal (outside the TRM workflow; logged).
REMOVAL_ROLES = frozenset(
    {Role.NATIONAL_CONTACT_POINT, Role.COMPETENT_AUTHORITY, Role.CASE_MANAGER}
)


@transaction.atomic(durable=True)
def reflection_end(
    *, actor: User | None, case_id: UUID, reason: str, detail: str = ""
) -> Case:
    """End the reflection and recovery period (CETS 197 Art. 13; BG 2.2).

    Reasons: ``expired`` (only once the period's last day has passed; the
    worker records it), ``decided_to_cooperate`` / ``decided_not_to_cooperate``
    (the person's decision, recorded by the case manager, prosecutor or
    competent authority; it changes the legal track only, never assistance),
    ``public_order`` / ``improper_claim`` (early end, CETS 13(3): competent
    authority or national contact point, written reasons required).

    Only an early end lifts the protection from removal before the period's
    last day: after the person's decision the removal block holds until then
    (CETS 13(1): at least 30 days; :func:`removal_block`).

    Args:
        actor: ``None`` for the system (expiry).

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed (no running
        period; expiry before the end), CaseInvalidInput (unknown reason,
        missing written reasons).
    """
    if actor is None:
        from trm.cases.models import Case as CaseModel

        case = (
            CaseModel.objects.select_for_update(no_key=True)
            .select_related("person")
            .get(pk=case_id)
        )
        access = CaseAccess(roles=frozenset({Role.CASE_MANAGER}))
        if reason != "expired":
            raise CaseRoleRequired(_("Only a person may record this end."))
    else:
        case, access = lock_case(actor=actor, case_id=case_id)
        if reason in REFLECTION_EARLY_END_REASONS:
            require_roles(access, EARLY_END_ROLES)
        elif reason == "expired":
            require_roles(access, EXPIRY_RECORDING_ROLES)
        else:
            require_roles(access, DECISION_RECORDING_ROLES)
    definition = node_definition()
    window = engine.reflection_window(
        case, engine.events_for_cases([case.pk]).get(case.pk, []), definition
    )
    # The period is its events (started, not yet ended), whatever the residence
    # track shows meanwhile (a permit may be granted while it runs).
    if window is None or window.ended_at is not None:
        raise TransitionNotAllowed(_("No reflection and recovery period is running."))
    if reason not in REFLECTION_END_REASONS:
        raise CaseInvalidInput(
            _("Choose why the period ends."), details={"field": "reason"}
        )
    today = timezone.localdate()
    if reason == "expired" and (window is None or today <= window.ends_on):
        raise TransitionNotAllowed(
            _("The period runs until %(date)s.")
            % {"date": date_format(window.ends_on) if window else "—"},
            details={"field": "reason"},
        )
    detail = clean_reason(
        detail,
        field="detail",
        required=reason in REFLECTION_EARLY_END_REASONS,
        message=_("An early end needs written reasons."),
    )
    if detail:
        require_live_person(case)
    target = (
        Reflection.ENDED_EARLY
        if reason in REFLECTION_EARLY_END_REASONS
        else Reflection.REFLECTION_ENDED
    )
    # The roles were checked above for this reason (a prosecutor records the
    # person's decision though the track's own roles do not name them). The
    # track leaves the period only if it still shows it.
    if case.reflection == Reflection.REFLECTION_PERIOD:
        move_track(
            actor=actor,  # type: ignore[arg-type]
            case=case,
            access=CaseAccess(roles=frozenset({Role.CASE_MANAGER})),
            track="reflection",
            target=target,
            reason="",
        )
    record_case_event(
        case=case,
        actor=actor,
        kind="sop1.reflection_ended",
        code=reason,
        detail=detail,
    )
    audit_case(actor, "identification.reflection_ended", case, reason=reason)
    return case


@dataclass(frozen=True)
class RemovalBlock:
    """Why the person must not be removed from the country now.

    Attributes:
        reasons: translated sentences, each with its legal source.
        until: the last day of the reflection period, if that is a reason.
    """

    reasons: tuple[str, ...]
    until: date | None = None


def removal_block(
    case: Case,
    *,
    definition: Definition | None = None,
    events: list[engine.EventFact] | None = None,
    today: date | None = None,
) -> RemovalBlock | None:
    """Return the removal block of ``case``, or ``None`` if there is none.

    No enforced removal while identification is pending (presumed; CETS 197
    Art. 10(2)) or while the reflection and recovery period runs (Art. 13(1)).
    SOPS §6.5 rule 2. Computed from the case and its events; nothing stored.
    """
    definition = definition or node_definition()
    if events is None:
        events = engine.events_for_cases([case.pk]).get(case.pk, [])
    today = today or timezone.localdate()
    reasons: list[str] = []
    until = None
    if case.identification == Identification.PRESUMED:
        reasons.append(
            _(
                "The formal identification decision is pending: the person may not "
                "be removed until it is taken (CETS Art. 10(2))."
            )
        )
    window = engine.reflection_window(case, events, definition)
    protected = (
        window is not None
        and today <= window.ends_on
        and window.end_reason not in REFLECTION_EARLY_END_REASONS
    )
    if window is not None and protected:
        until = window.ends_on
        if window.ended_at is None:
            reasons.append(
                _(
                    "The reflection and recovery period runs until %(date)s: no "
                    "expulsion order may be enforced (CETS Art. 13(1))."
                )
                % {"date": date_format(window.ends_on)}
            )
        else:
            reasons.append(
                _(
                    "The person's decision ended the reflection and recovery period, "
                    "but its protection from removal lasts until %(date)s (CETS "
                    "Art. 13(1))."
                )
                % {"date": date_format(window.ends_on)}
            )
    if not reasons:
        return None
    return RemovalBlock(reasons=tuple(reasons), until=until)


@transaction.atomic(durable=True)
def enforced_removal_record(*, actor: User, case_id: UUID, legal_basis: str) -> Case:
    """Record that the authorities enforced the person's removal.

    Forced removal is outside the TRM workflow; it is only logged, with its
    legal basis, and refused while :func:`removal_block` applies (rule 2).

    Raises:
        CaseNotFound, CaseRoleRequired, RemovalBlocked, CaseInvalidInput (no
        legal basis), PersonErased.
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    require_open(case)
    require_roles(access, REMOVAL_ROLES)
    block = removal_block(case)
    if block is not None:
        raise RemovalBlocked(
            " ".join(block.reasons),
            details={"until": block.until.isoformat() if block.until else None},
        )
    legal_basis = clean_reason(
        legal_basis,
        field="legal_basis",
        required=True,
        message=_("Give the legal basis of the removal."),
    )
    require_live_person(case)
    record_case_event(
        case=case,
        actor=actor,
        kind="sop1.enforced_removal_recorded",
        detail=legal_basis,
    )
    audit_case(actor, "identification.enforced_removal", case)
    return case


def expire_reflection_periods(*, today: date | None = None) -> int:
    """Record "expired" on every reflection period whose last day has passed.

    Run by the worker (``trm worker``); each case in its own transaction.
    Returns how many periods were ended.
    """
    today = today or timezone.localdate()
    definition = node_definition()
    ended = 0
    started = CaseEvent.objects.filter(
        case=OuterRef("pk"), kind="sop1.reflection_started"
    )
    finished = CaseEvent.objects.filter(
        case=OuterRef("pk"), kind="sop1.reflection_ended"
    )
    running = (
        Case.objects.filter(closed_at__isnull=True)
        .filter(Exists(started))
        .exclude(Exists(finished))
        .values_list("pk", flat=True)
    )
    ids = list(running)
    for start in range(0, len(ids), 500):
        # One query for the cases and one for their events per 500 cases.
        chunk = ids[start : start + 500]
        cases = Case.objects.select_related("person").in_bulk(chunk)
        events = engine.events_for_cases(chunk)
        for case_id in chunk:
            window = engine.reflection_window(
                cases[case_id], events.get(case_id, []), definition
            )
            if window is None or today <= window.ends_on:
                continue
            try:
                reflection_end(actor=None, case_id=case_id, reason="expired")
            except DomainError as exc:
                # Ended meanwhile by a person or another worker: nothing to do.
                logger.info("reflection expiry skipped for a case: %s", exc.code)
                continue
            ended += 1
    return ended
