"""SOP 1 Identification: the only writers of the identification, reflection and
child-protection steps.

Every function is keyword-only, takes the acting user, locks the case, checks
the actor's role on it and the rules of the node's SOP variant
(:func:`trm.sop.loader.get_definition`), then writes the track move, the
timeline event (:data:`trm.sop.vocabulary.EVENTS`) and an audit entry in one
transaction. On refusal it raises a :class:`~trm.common.errors.DomainError`
subclass and nothing is written. Reasons and notes are sealed under the
person's data key (they may hold personal data); audit data never does.

Rules enforced here (SOPS §6.5): 2 (no enforced removal while identification
is pending or the reflection period runs), 3 (presumption of minority until an
age assessment), 6 (no consular check for asylum applicants), 8 (contacts
recorded so the risk review falls due), 10 (only the competent authority of
the configured body decides identification).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from trm.accounts.models import Role, TrmFunction, User
from trm.audit import services as audit
from trm.cases.access import CaseAccess
from trm.cases.errors import CaseInvalidInput, CaseRoleRequired, TransitionNotAllowed
from trm.cases.models import Case, CaseTeamMember, Person, Visibility
from trm.cases.services import (
    lock_case,
    move_track,
    record_case_event,
    require_live_person,
)
from trm.cases.tracks import ChildProtection, Identification, Reflection
from trm.common.languages import is_language_code
from trm.identification.errors import (
    ConsularCheckBlocked,
    NotCompetentAuthority,
    RemovalBlocked,
)
from trm.identification.models import (
    REQUIRED_ITEMS,
    RightsContext,
    RightsInformation,
    RightsItem,
)
from trm.sop import engine
from trm.sop.types import Definition
from trm.sop.vocabulary import (
    REFLECTION_EARLY_END_REASONS,
    REFLECTION_END_REASONS,
    REFLECTION_STARTS,
)

MAX_REASON_CHARS = 5000

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
#: Roles that end the reflection period early (the migration authority's
#: decision, recorded by the competent authority or the national contact point).
EARLY_END_ROLES = frozenset({Role.COMPETENT_AUTHORITY, Role.NATIONAL_CONTACT_POINT})
#: Roles that record the person's decision at the end of the period.
DECISION_RECORDING_ROLES = frozenset(
    {Role.CASE_MANAGER, Role.PROSECUTOR, Role.COMPETENT_AUTHORITY}
)
#: Roles that act for a child: age assessment, guardian, child-protection notice.
CHILD_ROLES = frozenset(
    {
        Role.CASE_MANAGER,
        Role.GUARDIAN,
        Role.COMPETENT_AUTHORITY,
        Role.SERVICE_PROVIDER,
        Role.FIRST_CONTACT_POINT,
    }
)
#: Roles that ask for an identity and nationality verification (SOPS §6.3).
VERIFICATION_ROLES = frozenset(
    {Role.NATIONAL_CONTACT_POINT, Role.CASE_MANAGER, Role.COMPETENT_AUTHORITY}
)
#: Roles that record an enforced removal (outside the TRM workflow; logged).
REMOVAL_ROLES = frozenset(
    {Role.NATIONAL_CONTACT_POINT, Role.COMPETENT_AUTHORITY, Role.CASE_MANAGER}
)
#: Roles that record contacts and risk reviews (everyone who meets the person
#: except the legal track, which has its own protection assessment).
CONTACT_ROLES = frozenset(
    {
        Role.FIRST_CONTACT_POINT,
        Role.CASE_MANAGER,
        Role.SERVICE_PROVIDER,
        Role.GUARDIAN,
        Role.COMPETENT_AUTHORITY,
        Role.NATIONAL_CONTACT_POINT,
    }
)


class AgeOutcome:
    """Outcomes of an age assessment (SOPS §6.2 region E)."""

    CHILD = "child"
    ADULT = "adult"
    INCONCLUSIVE = "inconclusive"
    ALL = (CHILD, ADULT, INCONCLUSIVE)


class VerificationChannel:
    """How identity and nationality are verified (SOPS §2 SOP 1 step 2)."""

    #: The diplomatic mission or consulate of the country of origin.
    CONSULATE = "consulate"
    #: Police cooperation with the country of origin.
    POLICE = "police"
    #: The counterpart national contact point (exchange message M2).
    NATIONAL_CONTACT_POINT = "ncp"
    #: Domestic registers only (the origin country is not contacted).
    DOMESTIC = "domestic"
    ALL = (CONSULATE, POLICE, NATIONAL_CONTACT_POINT, DOMESTIC)
    #: Channels that contact the country of origin: closed to asylum applicants.
    ORIGIN_COUNTRY = frozenset({CONSULATE, POLICE, NATIONAL_CONTACT_POINT})


RISK_LEVELS = ("low", "medium", "high", "critical")
CONTACT_KINDS = ("in_person", "phone", "video", "message", "accompanied")


# --- helpers -----------------------------------------------------------------------


def _definition() -> Definition:
    from trm.sop.loader import get_definition

    return get_definition()


def _require_roles(access: CaseAccess, allowed: frozenset[str]) -> None:
    if not (access.roles & allowed):
        raise CaseRoleRequired(
            _("Only these roles on the case may do this: %(roles)s.")
            % {"roles": ", ".join(str(Role(r).label) for r in sorted(allowed))},
            details={"allowed_roles": sorted(allowed)},
        )


def _require_open(case: Case) -> None:
    if case.is_closed:
        raise TransitionNotAllowed(_("The case is closed."))


def _clean_reason(reason: str, *, field: str, required: bool, message: str = "") -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise CaseInvalidInput(
            message or _("Give the reasons."), details={"field": field}
        )
    if len(reason) > MAX_REASON_CHARS:
        raise CaseInvalidInput(
            _("At most %(n)d characters.") % {"n": MAX_REASON_CHARS},
            details={"field": field},
        )
    return reason


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
    The period starts once per case (CETS 197 Art. 13); returns True if it did.
    """
    start = REFLECTION_STARTS[str(definition.setting("reflection_period.starts_at"))]
    if trigger != start or case.reflection != Reflection.NOT_APPLICABLE:
        return False
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


def _start_child_protection(case: Case, *, actor: User | None) -> None:
    """Request a guardian (child-protection track) unless it already runs."""
    if case.child_protection in {
        ChildProtection.GUARDIAN_REQUESTED,
        ChildProtection.GUARDIAN_APPOINTED,
    }:
        return
    move_track(
        actor=actor,  # type: ignore[arg-type]
        case=case,
        access=CaseAccess(roles=frozenset({Role.CASE_MANAGER})),
        track="child_protection",
        target=ChildProtection.GUARDIAN_REQUESTED,
        reason="",
    )


def _audit(actor: User | None, action: str, case: Case, **data: object) -> None:
    audit.record(actor=actor, action=action, target=case, data=dict(data))


# --- identification (region A) -------------------------------------------------------


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
    from trm.screening.models import Screening

    case, access = lock_case(actor=actor, case_id=case_id)
    _require_open(case)
    _require_roles(access, PRESUMING_ROLES)
    if case.identification not in {
        Identification.SIGNAL_RECEIVED,
        Identification.SCREENING,
    }:
        raise TransitionNotAllowed(
            _("Only a case at signal or screening can be recorded as presumed."),
            details={"from": case.identification},
        )
    latest = Screening.objects.filter(case=case).order_by("-at").only("result").first()
    positive = latest is not None and latest.result == "refer"
    reason = _clean_reason(
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
    definition = _definition()
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
        _start_child_protection(case, actor=actor)
    _audit(
        actor,
        "identification.presumed",
        case,
        basis="screening" if positive else "professional_judgement",
        screening=str(latest.pk) if positive and latest else "",
    )
    return case


def may_decide(user: User, access: CaseAccess, definition: Definition) -> bool:
    """Return True if ``user`` may take the formal identification decision.

    They need the competent-authority role on the case and an organisation
    performing one of the variant's ``formal_identification.authority_functions``
    (e.g. ``PROS`` in Bulgaria: the prosecution service).
    """
    if Role.COMPETENT_AUTHORITY not in access.roles or access.via_policy:
        return False
    functions = set(_authority_functions(definition))
    organisation = user.organisation
    return organisation is not None and bool(functions & set(organisation.functions))


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
    _require_open(case)
    definition = _definition()
    if not may_decide(actor, access, definition):
        labels = dict(TrmFunction.choices)
        bodies = ", ".join(
            str(labels.get(f, f)) for f in _authority_functions(definition)
        )
        raise NotCompetentAuthority(
            _(
                "Only a competent authority of %(bodies)s on this case decides "
                "formal identification here."
            )
            % {"bodies": bodies},
            details={"authority_functions": _authority_functions(definition)},
        )
    if outcome not in {Identification.IDENTIFIED, Identification.NOT_IDENTIFIED}:
        raise CaseInvalidInput(
            _("Choose identified or not identified."), details={"field": "outcome"}
        )
    if case.identification != Identification.PRESUMED:
        raise TransitionNotAllowed(
            _("Only a presumed trafficked person's case can be decided."),
            details={"from": case.identification},
        )
    reasons = _clean_reason(
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
    _record_rights(
        case,
        actor=actor,
        context=outcome,
        items=items,
        language=language,
        interpreter=interpreter,
    )
    if outcome == Identification.IDENTIFIED:
        _start_reflection_if_due(
            case,
            actor=actor,
            trigger="track:identification->identified",
            definition=definition,
        )
    _audit(actor, "identification.decided", case, outcome=outcome, language=language)
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
    _require_open(case)
    _require_roles(access, frozenset({Role.COMPETENT_AUTHORITY}))
    if case.identification != Identification.NOT_IDENTIFIED:
        raise TransitionNotAllowed(
            _("Only a case decided as not identified can be re-opened."),
            details={"from": case.identification},
        )
    reason = _clean_reason(
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
    _audit(actor, "identification.reopened", case)
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
        screening), CaseInvalidInput (information not confirmed), PersonErased.
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    _require_open(case)
    _require_roles(access, PRESUMING_ROLES)
    if case.identification != Identification.SCREENING:
        raise TransitionNotAllowed(
            _("Only a case at screening can be closed as no indication."),
            details={"from": case.identification},
        )
    if not information_given:
        raise CaseInvalidInput(
            _("Confirm that the person was offered information and other services."),
            details={"field": "information_given"},
        )
    note = _clean_reason(note, field="note", required=False)
    if note:
        require_live_person(case)
    move_track(
        actor=actor,
        case=case,
        access=access,
        track="identification",
        target=Identification.NO_INDICATION,
        reason=note,
    )
    record_case_event(case=case, actor=actor, kind="sop1.no_indication_closed")
    _audit(actor, "identification.no_indication", case)
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
    _require_open(case)
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
    _audit(actor, "identification.person_informed", case, context=context)
    return info


# --- reflection and recovery period (region C) ---------------------------------------


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
            _require_roles(access, EARLY_END_ROLES)
        elif reason != "expired":
            _require_roles(access, DECISION_RECORDING_ROLES)
    if case.reflection != Reflection.REFLECTION_PERIOD:
        raise TransitionNotAllowed(_("No reflection and recovery period is running."))
    if reason not in REFLECTION_END_REASONS:
        raise CaseInvalidInput(
            _("Choose why the period ends."), details={"field": "reason"}
        )
    definition = _definition()
    window = engine.reflection_window(
        case, engine.events_for_cases([case.pk]).get(case.pk, []), definition
    )
    today = timezone.localdate()
    if reason == "expired" and (window is None or today <= window.ends_on):
        raise TransitionNotAllowed(
            _("The period runs until %(date)s.")
            % {"date": date_format(window.ends_on) if window else "—"},
            details={"field": "reason"},
        )
    detail = _clean_reason(
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
    move_track(
        actor=actor,  # type: ignore[arg-type]
        case=case,
        access=access,
        track="reflection",
        target=target,
        reason=detail,
    )
    record_case_event(case=case, actor=actor, kind="sop1.reflection_ended", code=reason)
    _audit(actor, "identification.reflection_ended", case, reason=reason)
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
    definition = definition or _definition()
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
    if window is not None and window.ended_at is None and today <= window.ends_on:
        until = window.ends_on
        reasons.append(
            _(
                "The reflection and recovery period runs until %(date)s: no "
                "expulsion order may be enforced (CETS Art. 13(1))."
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
    _require_open(case)
    _require_roles(access, REMOVAL_ROLES)
    block = removal_block(case)
    if block is not None:
        raise RemovalBlocked(
            " ".join(block.reasons),
            details={"until": block.until.isoformat() if block.until else None},
        )
    legal_basis = _clean_reason(
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
    _audit(actor, "identification.enforced_removal", case)
    return case


# --- children (region E) -----------------------------------------------------------


@transaction.atomic(durable=True)
def mark_possible_child(*, actor: User, case_id: UUID, reason: str = "") -> Person:
    """Presume the person a child: age uncertain with signs of minority (rule 3).

    Sets ``age_uncertain`` and ``presumed_child`` and requests a guardian.
    Only an age assessment (:func:`age_assessment_record`) lifts it.

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed (already presumed).
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    _require_open(case)
    _require_roles(access, CHILD_ROLES)
    person = Person.objects.select_for_update().get(pk=case.person_id)
    if person.presumed_child:
        raise TransitionNotAllowed(_("The person is already presumed a child."))
    reason = _clean_reason(reason, field="reason", required=False)
    if reason:
        require_live_person(case)
    person.presumed_child = True
    person.age_uncertain = True
    person.save(update_fields=["presumed_child", "age_uncertain", "updated_at"])
    case.person = person
    _start_child_protection(case, actor=actor)
    record_case_event(
        case=case, actor=actor, kind="sop1.age_assessed", code="presumed", detail=reason
    )
    _audit(actor, "identification.presumed_child", case)
    return person


@transaction.atomic(durable=True)
def age_assessment_record(
    *, actor: User, case_id: UUID, outcome: str, method: str, note: str = ""
) -> Person:
    """Record an age assessment; only this lifts the presumption of minority.

    ``adult`` ends the presumption and the child-protection track; ``child``
    confirms it (a guardian is requested if none is); ``inconclusive`` leaves
    the presumption in place (CETS 197 Art. 10(3); Directive 2011/36 Art. 13(2)).

    Args:
        method: how age was assessed (plain words, e.g. "documents",
            "multidisciplinary interview"); sealed with the note.

    Raises:
        CaseNotFound, CaseRoleRequired, CaseInvalidInput (unknown outcome, no
        method), PersonErased.
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    _require_open(case)
    _require_roles(access, CHILD_ROLES)
    if outcome not in AgeOutcome.ALL:
        raise CaseInvalidInput(
            _("Choose the outcome of the age assessment."),
            details={"field": "outcome"},
        )
    method = _clean_reason(
        method,
        field="method",
        required=True,
        message=_("Say how age was assessed."),
    )
    note = _clean_reason(note, field="note", required=False)
    require_live_person(case)
    person = Person.objects.select_for_update().get(pk=case.person_id)
    if outcome == AgeOutcome.ADULT:
        person.presumed_child = False
        person.age_uncertain = False
        person.save(update_fields=["presumed_child", "age_uncertain", "updated_at"])
        case.person = person
        if case.child_protection in {
            ChildProtection.GUARDIAN_REQUESTED,
            ChildProtection.GUARDIAN_APPOINTED,
        }:
            move_track(
                actor=actor,
                case=case,
                access=CaseAccess(roles=frozenset({Role.CASE_MANAGER})),
                track="child_protection",
                target=ChildProtection.ENDED,
                reason="",
            )
    elif outcome == AgeOutcome.CHILD:
        if not person.presumed_child:
            person.presumed_child = True
            person.save(update_fields=["presumed_child", "updated_at"])
        case.person = person
        _start_child_protection(case, actor=actor)
    detail = method if not note else f"{method}\n\n{note}"
    record_case_event(
        case=case,
        actor=actor,
        kind="sop1.age_assessed",
        code=outcome,
        detail=detail,
        visibility=Visibility.ASSISTANCE_ONLY,
    )
    _audit(actor, "identification.age_assessed", case, outcome=outcome)
    return person


@transaction.atomic(durable=True)
def guardian_appoint(
    *, actor: User, case_id: UUID, guardian_user_id: int | None = None, note: str = ""
) -> Case:
    """Record that a guardian was appointed (CETS 197 Art. 10(4); Dir. Art. 14(2)).

    If the guardian is a user of this node (role guardian), they join the case
    team as guardian.

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed (no guardian
        requested), CaseInvalidInput (the user does not hold the guardian role).
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    _require_open(case)
    _require_roles(access, CHILD_ROLES)
    if case.child_protection != ChildProtection.GUARDIAN_REQUESTED:
        raise TransitionNotAllowed(_("No guardian is requested for this case."))
    guardian = None
    if guardian_user_id is not None:
        guardian = User.objects.filter(pk=guardian_user_id, is_active=True).first()
        if guardian is None or not guardian.has_role(Role.GUARDIAN):
            raise CaseInvalidInput(
                _("That user does not hold the guardian role."),
                details={"field": "guardian"},
            )
    note = _clean_reason(note, field="note", required=False)
    if note:
        require_live_person(case)
    move_track(
        actor=actor,
        case=case,
        access=CaseAccess(roles=frozenset({Role.CASE_MANAGER})),
        track="child_protection",
        target=ChildProtection.GUARDIAN_APPOINTED,
        reason=note,
    )
    if guardian is not None:
        CaseTeamMember.objects.get_or_create(
            case=case,
            user=guardian,
            defaults={"role": Role.GUARDIAN, "added_by": actor},
        )
        record_case_event(case=case, actor=actor, kind="case.team_added")
    record_case_event(case=case, actor=actor, kind="sop1.guardian_appointed")
    _audit(
        actor,
        "identification.guardian_appointed",
        case,
        guardian=guardian.pk if guardian else None,
    )
    return case


@transaction.atomic(durable=True)
def child_protection_notify(
    *, actor: User, case_id: UUID, authority: str, note: str = ""
) -> Case:
    """Record that the child-protection authority was notified (SOPS §2 SOP 1).

    Args:
        authority: the authority's name (an organisation, not a person).

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed (not a child),
        CaseInvalidInput (no authority named).
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    _require_open(case)
    _require_roles(access, CHILD_ROLES)
    if not case.person.presumed_child:
        raise TransitionNotAllowed(_("The person is not presumed a child."))
    authority = _clean_reason(
        authority,
        field="authority",
        required=True,
        message=_("Name the child-protection authority notified."),
    )
    note = _clean_reason(note, field="note", required=False)
    require_live_person(case)
    detail = authority if not note else f"{authority}\n\n{note}"
    record_case_event(
        case=case,
        actor=actor,
        kind="sop1.child_protection_notified",
        detail=detail,
    )
    _audit(actor, "identification.child_protection_notified", case)
    return case


# --- identity verification, contacts, risk review ------------------------------------


@transaction.atomic(durable=True)
def identity_verification_request(
    *, actor: User, case_id: UUID, channel: str, note: str = ""
) -> Case:
    """Record a request to verify identity and nationality (SOPS §2 SOP 1 step 2).

    Any channel that contacts the country of origin is refused for a person
    who applied for international protection (SOPS §6.5 rule 6 [BG]); the
    message M2 itself goes through the exchange.

    Raises:
        CaseNotFound, CaseRoleRequired, ConsularCheckBlocked, CaseInvalidInput.
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    _require_open(case)
    _require_roles(access, VERIFICATION_ROLES)
    if channel not in VerificationChannel.ALL:
        raise CaseInvalidInput(
            _("Choose how identity is verified."), details={"field": "channel"}
        )
    if case.person.asylum_applicant and channel in VerificationChannel.ORIGIN_COUNTRY:
        raise ConsularCheckBlocked(
            _(
                "The person has applied for international protection: the "
                "authorities of their country of origin must not be contacted to "
                "verify their identity. Use domestic registers only."
            ),
            details={"field": "channel"},
        )
    note = _clean_reason(note, field="note", required=False)
    if note:
        require_live_person(case)
    record_case_event(
        case=case,
        actor=actor,
        kind="sop1.identity_verification_requested",
        code=channel,
        detail=note,
    )
    _audit(actor, "identification.verification_requested", case, channel=channel)
    return case


@transaction.atomic(durable=True)
def contact_record(*, actor: User, case_id: UUID, kind: str, note: str = "") -> Case:
    """Record a contact with the person; the risk review falls due (rule 8, [BG 1.2]).

    Raises:
        CaseNotFound, CaseRoleRequired, CaseInvalidInput (unknown kind).
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    _require_open(case)
    _require_roles(access, CONTACT_ROLES)
    if kind not in CONTACT_KINDS:
        raise CaseInvalidInput(
            _("Choose the kind of contact."), details={"field": "kind"}
        )
    note = _clean_reason(note, field="note", required=False)
    if note:
        require_live_person(case)
    record_case_event(
        case=case,
        actor=actor,
        kind="sop1.contact_recorded",
        code=kind,
        detail=note,
        visibility=Visibility.ASSISTANCE_ONLY,
    )
    _audit(actor, "identification.contact_recorded", case, kind=kind)
    return case


@transaction.atomic(durable=True)
def risk_review_record(
    *, actor: User, case_id: UUID, level: str, note: str = ""
) -> Case:
    """Record that the risk assessment and safety plan were reviewed ([BG 1.2] step 3).

    The full risk assessment record belongs to SOP 2; this records the review
    that every contact makes due (SOPS §6.5 rule 8).

    Raises:
        CaseNotFound, CaseRoleRequired, CaseInvalidInput (unknown level).
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    _require_open(case)
    _require_roles(access, CONTACT_ROLES)
    if level not in RISK_LEVELS:
        raise CaseInvalidInput(_("Choose the risk level."), details={"field": "level"})
    note = _clean_reason(note, field="note", required=False)
    if note:
        require_live_person(case)
    record_case_event(
        case=case,
        actor=actor,
        kind="sop1.risk_assessment_reviewed",
        code=level,
        detail=note,
        visibility=Visibility.ASSISTANCE_ONLY,
    )
    _audit(actor, "identification.risk_reviewed", case, level=level)
    return case


# --- system jobs --------------------------------------------------------------------


def expire_reflection_periods(*, today: date | None = None) -> int:
    """Record "expired" on every reflection period whose last day has passed.

    Run by the worker (``trm worker``); each case in its own transaction.
    Returns how many periods were ended.
    """
    today = today or timezone.localdate()
    definition = _definition()
    ended = 0
    running = Case.objects.filter(
        reflection=Reflection.REFLECTION_PERIOD, closed_at__isnull=True
    ).values_list("pk", flat=True)
    for case_id in running.iterator(chunk_size=500):
        case = Case.objects.select_related("person").get(pk=case_id)
        window = engine.reflection_window(
            case, engine.events_for_cases([case_id]).get(case_id, []), definition
        )
        if window is None or today <= window.ends_on:
            continue
        reflection_end(actor=None, case_id=case_id, reason="expired")
        ended += 1
    return ended
