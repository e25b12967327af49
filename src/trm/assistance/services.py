"""The assistance pathway (SOPS §6.2 region B): the one write path for its moves.

::

    none ──► first assistance ──► long-term assistance ──► return preparation
      │            │     ▲                 │                      (SOP 4)
      ▼            ▼     │ re-entry        ▼
    declined ◄─────┴─────┴──────────── declined
    any open state ──► closed (with a reason) ──► first assistance (re-entry)

Guards, each from its source:

- **First assistance** needs the person's consent to assistance (a valid
  consent of purpose ``assistance``) or, without it, emergency life-saving care
  with a written reason (SOPS §6.2 region B; CETS Art. 12(7); Directive
  2011/36/EU Art. 11(2)). For a person who is or may be a child the consent
  must have been given by the guardian or by both (SOPS §6.2 region E).
- **Declining** records that the person was told what help exists and how to
  come back (SOPS §6.2 "info given + contact details recorded"); the person
  may re-enter at any time.
- **Long-term assistance** (SOP 3) needs a needs assessment on record and a
  valid service agreement (consent of purpose ``assistance``) [BG 3.1].
- **Return preparation** (SOP 4) needs a valid consent to return for an adult;
  for a child, an appointed guardian and the guardian's consent (the
  best-interests determination is SOP 4's and guards the journey itself).
- **Closing** needs a reason (SOPS §6.2 "closure reason required").

Declining or closing assistance cancels the case's open referrals (the
receivers stop seeing what was shared), except when assistance closes because
the person was referred on or the case was transferred.

**No guard reads the legal track** (SOPS §3 unconditional assistance; §6.5
rule 1: CETS Art. 12(6), Directive 2011/36/EU Art. 11(3)): whether the person
cooperates with the authorities never opens or closes help.

Who: the case manager, a service provider or the national contact point on
the case team (:data:`trm.cases.tracks.TRACKS` ``assistance``). Every move is
a ``case.track_moved`` event with a clear ``code`` (the basis, or the closing
reason) and an audit entry, written by :func:`trm.cases.services.move_track`.
"""

from __future__ import annotations

from uuid import UUID

from django.db import models, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from trm.accounts.models import User
from trm.cases.access import CaseAccess
from trm.cases.errors import CaseInvalidInput, TransitionNotAllowed
from trm.cases.models import Case
from trm.cases.services import lock_case, move_track, require_live_person
from trm.cases.tracks import TRACKS, Assistance, ChildProtection
from trm.consent.errors import ConsentMissing
from trm.consent.models import Consent, Purpose
from trm.consent.services import valid_consent
from trm.identification.common import clean_reason, require_open, require_roles

#: Roles on the case team that move the assistance pathway.
PATHWAY_ROLES = TRACKS["assistance"].roles
TRACK = "assistance"


class StartBasis(models.TextChoices):
    """On what the person receives first assistance."""

    CONSENT = "consent", gettext_lazy("The person accepted assistance (consent)")
    EMERGENCY = (
        "emergency",
        gettext_lazy("Emergency life-saving care, before consent can be asked"),
    )


class Closure(models.TextChoices):
    """Why assistance ends (SOPS §6.2 region B "any -> CLOSED")."""

    GOALS_MET = "goals_met", gettext_lazy("The goals of the support plan were met")
    PERSON_DISENGAGED = (
        "person_disengaged",
        gettext_lazy("The person ended contact or no longer wants assistance"),
    )
    REFERRED = "referred", gettext_lazy("The person moved and was referred elsewhere")
    TRANSFERRED = "transferred", gettext_lazy("The case was transferred")
    DECEASED = "deceased", gettext_lazy("The person died")
    OTHER = "other", gettext_lazy("Other (say why)")


#: Closing reasons after which the case's open referrals stay open: the person
#: moved on through a referral, or the case went to another organisation.
KEEPS_REFERRALS = frozenset({Closure.REFERRED, Closure.TRANSFERRED})


def _end_referrals(actor: User, case: Case) -> None:
    """Cancel the case's open referrals once the assistance they serve ended, so
    no receiver keeps reading what was shared (SOPS §3 data minimisation)."""
    from trm.referrals.services import cancel_open_for_case

    cancel_open_for_case(actor=actor, case=case)


def _move(
    actor: User,
    case: Case,
    access: CaseAccess,
    target: str,
    *,
    reason: str = "",
    code: str = "",
) -> Case:
    return move_track(
        actor=actor,
        case=case,
        access=access,
        track=TRACK,
        target=target,
        reason=reason,
        code=code,
    )


def _lock(actor: User, case_id: UUID) -> tuple[Case, CaseAccess]:
    case, access = lock_case(actor=actor, case_id=case_id)
    require_open(case)
    require_roles(access, PATHWAY_ROLES)
    require_live_person(case)
    return case, access


def _require_from(case: Case, target: str, message: str) -> None:
    if not TRACKS[TRACK].allowed(case.assistance, target):
        raise TransitionNotAllowed(
            message, details={"track": TRACK, "from": case.assistance, "to": target}
        )


def _consent_link_details(case: Case, purpose: str) -> dict[str, object]:
    return {"field": "basis", "purpose": purpose, "case_id": str(case.pk)}


def require_assistance_consent(case: Case) -> Consent:
    """Return the person's valid consent to assistance, or refuse
    (:func:`trm.consent.services.valid_consent`: for a child, given with the
    guardian). No personal data is read.

    Raises:
        ConsentMissing: ``details`` name the purpose, the state and the field.
    """
    try:
        return valid_consent(person=case.person, purpose=Purpose.ASSISTANCE)
    except ConsentMissing as exc:
        exc.details.update(_consent_link_details(case, Purpose.ASSISTANCE))
        raise


@transaction.atomic(durable=True)
def assistance_start(
    *, actor: User, case_id: UUID, basis: str, reason: str = ""
) -> Case:
    """Start (or resume) first assistance: ``none | declined | closed`` →
    ``first_assistance`` (SOP 2; SOPS §6.2 region B).

    Args:
        basis: a :class:`StartBasis` code. ``consent`` needs a valid consent of
            purpose ``assistance`` (given by the guardian, or both, for a child);
            ``emergency`` needs ``reason`` (what care, why consent could not be
            asked first).
        reason: free text, sealed on the timeline event.

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed (closed case, or
        assistance already running), CaseInvalidInput (unknown basis; emergency
        without reason), ConsentMissing (no valid consent to assistance),
        PersonErased.
    """
    case, access = _lock(actor, case_id)
    _require_from(
        case,
        Assistance.FIRST_ASSISTANCE,
        _("First assistance can start only when no assistance is running."),
    )
    if basis not in StartBasis.values:
        raise CaseInvalidInput(
            _("Choose on what basis assistance starts."), details={"field": "basis"}
        )
    if basis == StartBasis.EMERGENCY:
        reason = clean_reason(
            reason,
            field="reason",
            required=True,
            message=_(
                "Say what emergency care is given and why consent could not be "
                "asked first."
            ),
        )
    else:
        require_assistance_consent(case)
        reason = clean_reason(reason, field="reason", required=False)
    return _move(
        actor, case, access, Assistance.FIRST_ASSISTANCE, reason=reason, code=basis
    )


@transaction.atomic(durable=True)
def assistance_decline(
    *,
    actor: User,
    case_id: UUID,
    information_given: bool,
    contact_details_given: bool,
    reason: str = "",
) -> Case:
    """Record that the person declines assistance (SOPS §6.2 region B).

    The person must have been told what help exists and how to come back
    (``information_given``); whether they were given contact details to come
    back is recorded (code ``info_and_contact`` or ``info_only``). They may
    re-enter at any time through :func:`assistance_start`.

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed (already declined,
        closed, or in return preparation), CaseInvalidInput (information not
        given), PersonErased.
    """
    case, access = _lock(actor, case_id)
    _require_from(
        case,
        Assistance.DECLINED,
        _("Declining can be recorded before or during first or long-term assistance."),
    )
    if not information_given:
        raise CaseInvalidInput(
            _(
                "Before recording that the person declines, tell them what help "
                "exists and how to come back, and confirm it here."
            ),
            details={"field": "information_given"},
        )
    reason = clean_reason(reason, field="reason", required=False)
    code = "info_and_contact" if contact_details_given else "info_only"
    _move(actor, case, access, Assistance.DECLINED, reason=reason, code=code)
    _end_referrals(actor, case)
    return case


@transaction.atomic(durable=True)
def long_term_start(*, actor: User, case_id: UUID, reason: str = "") -> Case:
    """Move from first assistance to long-term assistance (SOP 3) [BG 3.1].

    Needs a needs assessment on record (:mod:`trm.assessments`) and a valid
    service agreement (consent of purpose ``assistance``). The individual care
    plan then falls due within the variant's days (``care_plan.within_days``;
    Bulgaria 20) — the SOP engine counts them from this move.

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed (not in first
        assistance, or no needs assessment), ConsentMissing, PersonErased.
    """
    from trm.assessments.selectors import has_needs_assessment

    case, access = _lock(actor, case_id)
    _require_from(
        case,
        Assistance.LONG_TERM,
        _("Long-term assistance follows first assistance or return preparation."),
    )
    if not has_needs_assessment(case):
        raise TransitionNotAllowed(
            _(
                "Record a needs assessment first: long-term assistance starts from "
                "the person's assessed needs."
            ),
            details={"reason": "needs_assessment_missing"},
        )
    require_assistance_consent(case)
    reason = clean_reason(reason, field="reason", required=False)
    return _move(actor, case, access, Assistance.LONG_TERM, reason=reason)


def require_return_consent(case: Case) -> Consent:
    """Return the consent to return a return is prepared on, or refuse: the
    adult's own voluntary decision; for a child, an appointed guardian and a
    consent given by the guardian (or with them).

    Raises:
        ConsentMissing: with the purpose, state and field in ``details``.
    """
    if (
        case.person.presumed_child
        and case.child_protection != ChildProtection.GUARDIAN_APPOINTED
    ):
        raise ConsentMissing(
            _(
                "The person is or may be a child: a guardian must be appointed "
                "before a return is prepared."
            ),
            details={
                **_consent_link_details(case, Purpose.RETURN),
                "state": "guardian_not_appointed",
            },
        )
    try:
        return valid_consent(person=case.person, purpose=Purpose.RETURN)
    except ConsentMissing as exc:
        exc.details.update(_consent_link_details(case, Purpose.RETURN))
        raise


@transaction.atomic(durable=True)
def return_preparation_start(*, actor: User, case_id: UUID, reason: str = "") -> Case:
    """Start preparing a return (SOP 4) from first or long-term assistance.

    An adult needs a valid consent to return (the voluntary decision, SOPS
    §6.3; §6.5 rule 5); a child needs an appointed guardian and the guardian's
    consent (rule 4; the best-interests determination guards the journey).

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed, ConsentMissing,
        PersonErased.
    """
    case, access = _lock(actor, case_id)
    _require_from(
        case,
        Assistance.RETURN_PREPARATION,
        _("A return is prepared from first or long-term assistance."),
    )
    require_return_consent(case)
    reason = clean_reason(reason, field="reason", required=False)
    return _move(actor, case, access, Assistance.RETURN_PREPARATION, reason=reason)


@transaction.atomic(durable=True)
def assistance_close(
    *, actor: User, case_id: UUID, closure: str, reason: str = ""
) -> Case:
    """Close the assistance pathway with a reason; the case itself stays open
    (proceedings may go on). ``closure`` is a :class:`Closure` code, kept in
    clear on the event; ``other`` needs ``reason``.

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed (already closed, or
        in a state of the return journey that closes through SOP 4),
        CaseInvalidInput, PersonErased.
    """
    case, access = _lock(actor, case_id)
    _require_from(
        case,
        Assistance.CLOSED,
        _("Assistance cannot be closed from its present state."),
    )
    if closure not in Closure.values:
        raise CaseInvalidInput(
            _("Choose why assistance ends."), details={"field": "closure"}
        )
    reason = clean_reason(
        reason,
        field="reason",
        required=closure == Closure.OTHER,
        message=_("Say why assistance ends."),
    )
    _move(actor, case, access, Assistance.CLOSED, reason=reason, code=closure)
    if closure not in KEEPS_REFERRALS:
        _end_referrals(actor, case)
    return case
