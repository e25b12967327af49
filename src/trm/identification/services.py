"""SOP 1 Identification: presumed trafficked person, the formal decision, rights.

The only writers of the identification track (SOPS §6.2 region A). Every
function is keyword-only, takes the acting user, locks the case, checks the
actor's role on it and the rules of the node's SOP variant
(:func:`trm.sop.loader.get_definition`), then writes the track move, the
timeline event (:data:`trm.sop.vocabulary.EVENTS`) and an audit entry in one
transaction. On refusal it raises a :class:`~trm.common.errors.DomainError`
subclass and nothing is written. Reasons are sealed under the person's data
key (they may hold personal data); audit data never does.

Rule 10 of SOPS §6.5 lives here: screening never identifies; only the
competent authority of the body the variant names decides, with reasons and a
rights-information checklist. The reflection period, children and contacts
are in :mod:`~trm.identification.reflection`, :mod:`~trm.identification.children`
and :mod:`~trm.identification.contacts`.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import Role, TrmFunction, User
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
from trm.common.languages import is_language_code
from trm.identification.common import (
    audit_case,
    clean_reason,
    node_definition,
    optional_text,
    require_open,
    require_roles,
    start_child_protection,
)
from trm.identification.errors import (
    NotCompetentAuthority,
)
from trm.identification.models import (
    REQUIRED_ITEMS,
    RightsContext,
    RightsInformation,
    RightsItem,
)
from trm.screening.scoring import Action
from trm.screening.selectors import latest_screening, suggests_referral
from trm.sop.types import Definition
from trm.sop.vocabulary import (
    REFLECTION_STARTS,
)

#: Roles that record a person as presumed trafficked (SOPS §6.3: FCP records,
#: CA confirms).
PRESUMING_ROLES = frozenset(
    {
        Role.FIRST_CONTACT_POINT,
        Role.CASE_MANAGER,
        Role.COMPETENT_AUTHORITY,
        Role.SERVICE_PROVIDER,
    }
)


def _clean_rights(
    context: str, items: Iterable[str], language: str
) -> tuple[list[str], str]:
    chosen = sorted({str(i) for i in items})
    unknown = [i for i in chosen if i not in RightsItem.values]
    if unknown:
        raise CaseInvalidInput(
            _("Unknown checklist items: %(items)s.") % {"items": ", ".join(unknown)},
            details={"field": "informed", "unknown": unknown},
        )
    missing = sorted(REQUIRED_ITEMS[context] - set(chosen))
    if missing:
        raise CaseInvalidInput(
            _("The person must be told: %(items)s.")
            % {"items": "; ".join(str(RightsItem(m).label) for m in missing)},
            details={"field": "informed", "missing": missing},
        )
    if not chosen:
        raise CaseInvalidInput(
            _("Tick what the person was told."), details={"field": "informed"}
        )
    language = (language or "").strip().lower()
    if not is_language_code(language):
        raise CaseInvalidInput(
            _("Give the language the person was informed in (an ISO 639 code)."),
            details={"field": "language"},
        )
    return chosen, language


def _record_rights(
    case: Case,
    *,
    actor: User,
    context: str,
    items: list[str],
    language: str,
    interpreter: bool,
) -> RightsInformation:
    info = RightsInformation.objects.create(
        case=case,
        at=timezone.now(),
        informed_by=actor,
        context=context,
        items=items,
        language=language,
        interpreter=interpreter,
    )
    record_case_event(case=case, actor=actor, kind="sop1.person_informed", code=context)
    return info


def _start_reflection_if_due(
    case: Case, *, actor: User, trigger: str, definition: Definition
) -> bool:
    """Start the reflection period if ``trigger`` is the variant's start event.

    ``trigger`` is the event reference just written (``track:identification->…``).
    The period starts once per case (CETS 197 Art. 13), whatever the person's
    residence state: the ``sop1.reflection_started`` event starts it (and with
    it the removal block); the reflection track moves into the period only
    from "not applicable", so a residence permit or a protection procedure
    already recorded stays shown. Returns True if it started.
    """
    start = REFLECTION_STARTS[str(definition.setting("reflection_period.starts_at"))]
    if trigger != start:
        return False
    if CaseEvent.objects.filter(case=case, kind="sop1.reflection_started").exists():
        return False
    if case.reflection == Reflection.NOT_APPLICABLE:
        move_track(
            actor=actor,
            case=case,
            access=CaseAccess(roles=frozenset({Role.CASE_MANAGER})),
            track="reflection",
            target=Reflection.REFLECTION_PERIOD,
            reason="",
        )
    record_case_event(
        case=case,
        actor=actor,
        kind="sop1.reflection_started",
        code=str(definition.setting("reflection_period.starts_at")),
    )
    return True


@transaction.atomic(durable=True)
def presume(*, actor: User, case_id: UUID, reason: str = "") -> Case:
    """Record the person as a presumed trafficked person (SOPS §6.2 region A).

    Guard: the latest screening of the case suggests referral, or the actor
    gives the reasons of their professional judgement. On entry: the
    reflection period starts if the variant starts it at reasonable grounds,
    the removal block applies (:func:`removal_block`), and a person who is or
    may be a child gets the child-protection track (guardian requested).

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed (closed case, or
        not from signal received / screening), CaseInvalidInput (no positive
        screening and no reasons), PersonErased.
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    require_open(case)
    require_roles(access, PRESUMING_ROLES)
    if case.identification not in {
        Identification.SIGNAL_RECEIVED,
        Identification.SCREENING,
    }:
        raise TransitionNotAllowed(
            _("Only a case at signal or screening can be recorded as presumed."),
            details={"from": case.identification},
        )
    latest = latest_screening(case)
    positive = latest is not None and latest.result == Action.REFER
    reason = clean_reason(
        reason,
        field="reason",
        required=not positive,
        message=_(
            "No screening suggests referral: give the reasons for your "
            "professional judgement."
        ),
    )
    if reason:
        require_live_person(case)
    definition = node_definition()
    move_track(
        actor=actor,
        case=case,
        access=access,
        track="identification",
        target=Identification.PRESUMED,
        reason=reason,
    )
    record_case_event(
        case=case,
        actor=actor,
        kind="sop1.presumed",
        code="screening" if positive else "professional_judgement",
    )
    _start_reflection_if_due(
        case,
        actor=actor,
        trigger="track:identification->presumed",
        definition=definition,
    )
    if case.person.presumed_child:
        start_child_protection(case, actor=actor)
    audit_case(
        actor,
        "identification.presumed",
        case,
        basis="screening" if positive else "professional_judgement",
        screening=str(latest.pk) if positive and latest else "",
    )
    return case


def may_decide(user: User, access: CaseAccess, definition: Definition) -> bool:
    """Return True if ``user`` may take the formal identification decision.

    They need the competent-authority role — held now, and on the case team —
    and an active organisation of this node's country performing one of the
    variant's ``formal_identification.authority_functions`` (e.g. ``PROS`` in
    Bulgaria: the prosecution service). SOPS §6.5 rule 10.
    """
    if Role.COMPETENT_AUTHORITY not in access.roles or access.via_policy:
        return False
    if not user.is_active or not user.has_role(Role.COMPETENT_AUTHORITY):
        return False
    functions = set(_authority_functions(definition))
    organisation = user.organisation
    return (
        organisation is not None
        and organisation.is_active
        and str(organisation.country).upper() == str(settings.TRM_COUNTRY).upper()
        and bool(functions & set(organisation.functions))
    )


def _not_competent(definition: Definition) -> NotCompetentAuthority:
    labels = dict(TrmFunction.choices)
    bodies = ", ".join(str(labels.get(f, f)) for f in _authority_functions(definition))
    return NotCompetentAuthority(
        _(
            "Only a competent-authority user of an organisation of this country "
            "acting as %(bodies)s, on the case team, decides formal identification "
            "here."
        )
        % {"bodies": bodies},
        details={"authority_functions": _authority_functions(definition)},
    )


def _authority_functions(definition: Definition) -> list[str]:
    value = definition.setting("formal_identification.authority_functions")
    return [str(v) for v in value] if isinstance(value, list) else []


@transaction.atomic(durable=True)
def decide(
    *,
    actor: User,
    case_id: UUID,
    outcome: str,
    reasons: str,
    informed: Iterable[str],
    language: str,
    interpreter: bool = False,
) -> Case:
    """Record the formal identification decision (SOPS §2 SOP 1 step 8).

    Only a competent authority of the body the variant names decides
    (rule 10); reasons are required; the person must have been told the
    decision and their rights (the checklist :data:`REQUIRED_ITEMS` for the
    outcome) in a language recorded here. "Identified" starts the reflection
    period when the variant starts it at formal identification.

    Args:
        outcome: ``identified`` or ``not_identified``.
        informed: :class:`RightsItem` codes the person was told.
        language: ISO 639 code of the language used.

    Raises:
        CaseNotFound, NotCompetentAuthority, TransitionNotAllowed (not
        presumed, or closed), CaseInvalidInput (unknown outcome, no reasons,
        missing checklist items, no language), PersonErased.
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    require_open(case)
    definition = node_definition()
    if not may_decide(actor, access, definition):
        raise _not_competent(definition)
    if outcome not in {Identification.IDENTIFIED, Identification.NOT_IDENTIFIED}:
        raise CaseInvalidInput(
            _("Choose identified or not identified."), details={"field": "outcome"}
        )
    if case.identification != Identification.PRESUMED:
        raise TransitionNotAllowed(
            _("Only a presumed trafficked person's case can be decided."),
            details={"from": case.identification},
        )
    reasons = clean_reason(
        reasons,
        field="reasons",
        required=True,
        message=_("Give the reasons for the decision."),
    )
    items, language = _clean_rights(outcome, informed, language)
    require_live_person(case)
    move_track(
        actor=actor,
        case=case,
        access=access,
        track="identification",
        target=outcome,
        reason=reasons,
    )
    if outcome == Identification.IDENTIFIED:
        # The period starts first, so that telling the person about it (the
        # rights information just below) counts for the step it starts.
        _start_reflection_if_due(
            case,
            actor=actor,
            trigger="track:identification->identified",
            definition=definition,
        )
    _record_rights(
        case,
        actor=actor,
        context=outcome,
        items=items,
        language=language,
        interpreter=interpreter,
    )
    audit_case(
        actor, "identification.decided", case, outcome=outcome, language=language
    )
    return case


@transaction.atomic(durable=True)
def reopen(*, actor: User, case_id: UUID, reason: str) -> Case:
    """Re-open a "not identified" case on new evidence (back to presumed).

    Only the competent authority (or review body) on the case; the new
    evidence must be described. The removal block applies again.

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed, CaseInvalidInput,
        PersonErased.
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    require_open(case)
    if not may_decide(actor, access, node_definition()):
        raise _not_competent(node_definition())
    if case.identification != Identification.NOT_IDENTIFIED:
        raise TransitionNotAllowed(
            _("Only a case decided as not identified can be re-opened."),
            details={"from": case.identification},
        )
    reason = clean_reason(
        reason,
        field="reason",
        required=True,
        message=_("Describe the new evidence."),
    )
    require_live_person(case)
    move_track(
        actor=actor,
        case=case,
        access=access,
        track="identification",
        target=Identification.PRESUMED,
        reason=reason,
    )
    record_case_event(case=case, actor=actor, kind="sop1.identification_reopened")
    audit_case(actor, "identification.reopened", case)
    return case


@transaction.atomic(durable=True)
def close_no_indication(
    *, actor: User, case_id: UUID, information_given: bool, note: str = ""
) -> Case:
    """Record that screening found no indication (SOPS §6.2: SCREENING → NO_INDICATION).

    The first contact point must have offered information and other services
    (``information_given``). The case itself stays open until the case
    manager closes it; a new screening re-opens identification.

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed (not at
        screening, or the latest screening suggests referral: rule 10),
        CaseInvalidInput (information not confirmed), PersonErased.
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    require_open(case)
    require_roles(access, PRESUMING_ROLES)
    if case.identification != Identification.SCREENING:
        raise TransitionNotAllowed(
            _("Only a case at screening can be closed as no indication."),
            details={"from": case.identification},
        )
    if suggests_referral(case):
        # Only the competent authority may decide against what the indicators
        # suggest (rule 10): record the person as presumed, or screen again.
        raise TransitionNotAllowed(
            _(
                "The latest screening suggests referral to the competent "
                "authority: record the person as presumed, or record a new "
                "screening if answers were wrong."
            ),
            details={"reason": "screening_suggests_referral"},
        )
    if not information_given:
        raise CaseInvalidInput(
            _("Confirm that the person was offered information and other services."),
            details={"field": "information_given"},
        )
    note = optional_text(case, note, field="note")
    move_track(
        actor=actor,
        case=case,
        access=access,
        track="identification",
        target=Identification.NO_INDICATION,
        reason=note,
    )
    record_case_event(case=case, actor=actor, kind="sop1.no_indication_closed")
    audit_case(actor, "identification.no_indication", case)
    return case


@transaction.atomic(durable=True)
def rights_inform(
    *,
    actor: User,
    case_id: UUID,
    context: str,
    informed: Iterable[str],
    language: str,
    interpreter: bool = False,
) -> RightsInformation:
    """Record that the person was told their rights (e.g. the reflection period).

    Raises:
        CaseNotFound, CaseRoleRequired (legal-track-only roles), CaseInvalidInput
        (unknown context or items, required items missing, no language).
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    require_open(case)
    if access.legal_only or access.via_policy:
        raise CaseRoleRequired(_("Your role on this case does not allow this."))
    if context not in {RightsContext.REFLECTION_PERIOD, RightsContext.OTHER}:
        raise CaseInvalidInput(
            _("Choose what the person was informed about."),
            details={"field": "context"},
        )
    items, language = _clean_rights(context, informed, language)
    info = _record_rights(
        case,
        actor=actor,
        context=context,
        items=items,
        language=language,
        interpreter=interpreter,
    )
    audit_case(actor, "identification.person_informed", case, context=context)
    return info
