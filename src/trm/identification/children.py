"""SOP 1 for a person who is or may be a child (SOPS §6.2 region E).

Presumption of minority until an age assessment says otherwise (CETS 197
Art. 10(3); Directive 2011/36 Art. 13(2); SOPS §6.5 rule 3), guardian
appointment and notice to the child-protection authority, with the deadlines
the variant sets. Same conventions as :mod:`trm.identification.services`.
"""

from __future__ import annotations

from uuid import UUID

from django.db import transaction
from django.utils.translation import gettext as _

from trm.accounts.models import Role, User
from trm.cases.access import CaseAccess
from trm.cases.errors import CaseInvalidInput, TransitionNotAllowed
from trm.cases.models import Case, CaseTeamMember, Person, Visibility
from trm.cases.services import (
    lock_case,
    move_track,
    record_case_event,
    require_live_person,
    require_local_user,
)
from trm.cases.tracks import ChildProtection
from trm.identification.common import (
    audit_case,
    clean_reason,
    optional_text,
    require_open,
    require_roles,
    start_child_protection,
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


class AgeOutcome:
    """Outcomes of an age assessment (SOPS §6.2 region E)."""

    CHILD = "child"
    ADULT = "adult"
    INCONCLUSIVE = "inconclusive"
    ALL = (CHILD, ADULT, INCONCLUSIVE)


@transaction.atomic(durable=True)
def mark_possible_child(*, actor: User, case_id: UUID, reason: str = "") -> Person:
    """Presume the person a child: age uncertain with signs of minority (rule 3).

    Sets ``age_uncertain`` and ``presumed_child`` and requests a guardian.
    Only an age assessment (:func:`age_assessment_record`) lifts it.

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed (already presumed).
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    require_open(case)
    require_roles(access, CHILD_ROLES)
    person = Person.objects.select_for_update().get(pk=case.person_id)
    if person.presumed_child:
        raise TransitionNotAllowed(_("The person is already presumed a child."))
    reason = optional_text(case, reason, field="reason")
    person.presumed_child = True
    person.age_uncertain = True
    person.save(update_fields=["presumed_child", "age_uncertain", "updated_at"])
    case.person = person
    start_child_protection(case, actor=actor)
    record_case_event(
        case=case, actor=actor, kind="sop1.possible_child_recorded", detail=reason
    )
    audit_case(actor, "identification.presumed_child", case)
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
    require_open(case)
    require_roles(access, CHILD_ROLES)
    if outcome not in AgeOutcome.ALL:
        raise CaseInvalidInput(
            _("Choose the outcome of the age assessment."),
            details={"field": "outcome"},
        )
    method = clean_reason(
        method,
        field="method",
        required=True,
        message=_("Say how age was assessed."),
    )
    note = clean_reason(note, field="note", required=False)
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
        start_child_protection(case, actor=actor)
    detail = method if not note else f"{method}\n\n{note}"
    record_case_event(
        case=case,
        actor=actor,
        kind="sop1.age_assessed",
        code=outcome,
        detail=detail,
        visibility=Visibility.ASSISTANCE_ONLY,
    )
    audit_case(actor, "identification.age_assessed", case, outcome=outcome)
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
        requested), CaseInvalidInput (the user does not hold the guardian role),
        NotALocalUser (the user is a node user or a peer organisation's user).
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    require_open(case)
    require_roles(access, CHILD_ROLES)
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
        # They join the team: only people working on this node do.
        require_local_user(guardian)
    note = optional_text(case, note, field="note")
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
    audit_case(
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
    require_open(case)
    require_roles(access, CHILD_ROLES)
    if not case.person.presumed_child:
        raise TransitionNotAllowed(_("The person is not presumed a child."))
    authority = clean_reason(
        authority,
        field="authority",
        required=True,
        message=_("Name the child-protection authority notified."),
    )
    note = clean_reason(note, field="note", required=False)
    require_live_person(case)
    detail = authority if not note else f"{authority}\n\n{note}"
    record_case_event(
        case=case,
        actor=actor,
        kind="sop1.child_protection_notified",
        detail=detail,
    )
    audit_case(actor, "identification.child_protection_notified", case)
    return case
