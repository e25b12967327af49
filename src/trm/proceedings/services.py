"""SOP 5 proceedings: the one write path for rights information and the sub-tracks.

Every function is keyword-only, takes the acting user, locks the case
(:func:`trm.cases.services.lock_case`: no access is 404), checks the case is
open and the actor's role on the case team (:mod:`trm.proceedings.common` says
who and why), checks the input, then writes the record, a timeline event
(visibility "legal track") and an audit entry (codes and ids only) in one
transaction. A refusal raises a :class:`~trm.common.errors.DomainError`
subclass naming the field and writes nothing.

The state machines are data on the models (``TRANSITIONS``,
``can_transition_to``); a move the record's status does not allow is refused
with :class:`~trm.cases.errors.TransitionNotAllowed` (409).

No guard here reads the assistance track (SOPS §6.5 rule 1): proceedings and
help run side by side, neither waits on the other.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TypeVar
from uuid import UUID

from django.db import models, transaction
from django.utils.translation import gettext as _

from trm.accounts.models import User
from trm.care.common import Sealer, check_date
from trm.cases.access import CaseAccess
from trm.cases.errors import CaseInvalidInput, TransitionNotAllowed
from trm.cases.models import Case, Visibility
from trm.cases.services import (
    lock_case,
    move_track,
    record_case_event,
    require_live_person,
)
from trm.cases.tracks import Legal
from trm.common.languages import is_language_code
from trm.common.text import clean_text
from trm.identification.common import (
    audit_case,
    clean_reason,
    require_open,
    require_roles,
)
from trm.proceedings.common import (
    CHARGE_ROLES,
    COMPENSATION_ROLES,
    HEARING_ROLES,
    MAX_NAME_CHARS,
    NON_PUNISHMENT_DECIDERS,
    PROTECTION_ROLES,
    RIGHTS_ROLES,
    clean_money,
)
from trm.proceedings.errors import ProceedingsRecordNotFound
from trm.proceedings.models import (
    NON_PUNISHMENT_OUTCOMES,
    CompensationClaim,
    CompensationRoute,
    CompensationStatus,
    Hearing,
    HearingKind,
    NonPunishment,
    NonPunishmentStatus,
    OffenceKind,
    ProtectionKind,
    ProtectionMeasure,
    ProtectionStatus,
    RightsInformation,
)

_R = TypeVar("_R", ProtectionMeasure, CompensationClaim, NonPunishment)
_StateMachineRecord = ProtectionMeasure | CompensationClaim | NonPunishment


def _begin(
    actor: User, case_id: UUID, roles: frozenset[str]
) -> tuple[Case, CaseAccess]:
    case, access = lock_case(actor=actor, case_id=case_id)
    require_open(case)
    require_roles(access, roles)
    return case, access


def _legal_event(case: Case, actor: User, kind: str, code: str = "") -> None:
    record_case_event(
        case=case, actor=actor, kind=kind, code=code, visibility=Visibility.LEGAL
    )


def _locked(model: type[_R], case: Case, record_id: UUID) -> _R:
    record = model.objects.select_for_update().filter(pk=record_id, case=case).first()
    if record is None:
        raise ProceedingsRecordNotFound(_("No such record on this case."))
    return record


def _require_move(record: _StateMachineRecord, target: str) -> None:
    if not record.can_transition_to(target):
        field = type(record)._meta.get_field("status")
        labels = dict(field.choices or [])
        raise TransitionNotAllowed(
            _("This record cannot move from “%(a)s” to “%(b)s”.")
            % {
                "a": labels.get(record.status, record.status),
                "b": labels.get(target, target),
            },
            details={"from": record.status, "to": target},
        )


def _choice(value: str, choices: type[models.TextChoices], field: str) -> str:
    if value not in choices.values:
        raise CaseInvalidInput(_("Choose from the list."), details={"field": field})
    return value


def _name(value: str, *, field: str, message: str) -> str:
    text = clean_text(value or "", field=field, max_length=MAX_NAME_CHARS)
    if not text:
        raise CaseInvalidInput(message, details={"field": field})
    return text


def _past_date(
    value: date | None, *, field: str, message: str, not_before: date | None = None
) -> date:
    checked = check_date(
        value, field=field, not_future=True, not_before=not_before, message=message
    )
    assert checked is not None  # noqa: S101 - required
    return checked


# --- rights information (SOP 5 step 1) ----------------------------------------


@transaction.atomic(durable=True)
def rights_inform(
    *,
    actor: User,
    case_id: UUID,
    informed_on: date | None,
    language: str,
    interpreter: bool | None,
    has_lawyer: bool | None,
    lawyer: str,
) -> RightsInformation:
    """Record that the person was informed of their rights in proceedings and
    move the legal track to "informed of rights" (its only way there).

    Each field is required (SOPS §6.2 region D "language + interpreter
    recorded"; CETS Art. 15(1)-(2); Directive 2011/36/EU Art. 11(6), 12(2)):
    ``informed_on`` (not in the future), ``language`` (ISO 639, the language
    the person was informed in), ``interpreter`` (True / False, never
    unknown), ``has_lawyer`` (True / False, never unknown) and ``lawyer`` (the
    lawyer's organisation: required when ``has_lawyer`` is True, empty when it
    is False; stored as given, no word stands for "no lawyer" so that the
    answer does not depend on the language of the user). Writes
    ``sop5.rights_informed`` (code: the language) and, with a lawyer,
    ``sop5.legal_aid_appointed``.

    Raises:
        CaseNotFound, CaseRoleRequired (:data:`RIGHTS_ROLES` on the team),
        TransitionNotAllowed (closed case; the track is past "not informed"),
        CaseInvalidInput / InvalidText (a field missing or malformed).
    """
    case, access = _begin(actor, case_id, RIGHTS_ROLES)
    if not case.can_move("legal", Legal.INFORMED_OF_RIGHTS):
        raise TransitionNotAllowed(
            _("The person was already informed of their rights on this case."),
            details={"track": "legal", "from": case.legal},
        )
    informed_on = _past_date(
        informed_on,
        field="informed_on",
        message=_("Give the date the person was informed of their rights."),
    )
    language = (language or "").strip().lower()
    if not language:
        raise CaseInvalidInput(
            _("Give the language the person was informed in."),
            details={"field": "language"},
        )
    if not is_language_code(language):
        raise CaseInvalidInput(
            _("Give the language as an ISO 639 code (e.g. ro, bg, en)."),
            details={"field": "language"},
        )
    if interpreter is None:
        raise CaseInvalidInput(
            _("Say whether an interpreter was present."),
            details={"field": "interpreter"},
        )
    if has_lawyer is None:
        raise CaseInvalidInput(
            _("Say whether the person had a lawyer."),
            details={"field": "has_lawyer"},
        )
    organisation = clean_text(lawyer or "", field="lawyer", max_length=MAX_NAME_CHARS)
    if has_lawyer and not organisation:
        raise CaseInvalidInput(
            _("Name the lawyer's organisation."), details={"field": "lawyer"}
        )
    if not has_lawyer and organisation:
        raise CaseInvalidInput(
            _(
                "You answered that the person had no lawyer: leave the lawyer's "
                "organisation empty, or answer that they had one."
            ),
            details={"field": "lawyer"},
        )
    record = RightsInformation.objects.create(
        case=case,
        informed_on=informed_on,
        language=language,
        interpreter=interpreter,
        lawyer_organisation=organisation,
        recorded_by=actor,
    )
    move_track(
        actor=actor,
        case=case,
        access=access,
        track="legal",
        target=Legal.INFORMED_OF_RIGHTS,
        reason="",
        code="with_lawyer" if organisation else "no_lawyer",
    )
    _legal_event(case, actor, kind="sop5.rights_informed", code=language)
    if organisation:
        _legal_event(case, actor, kind="sop5.legal_aid_appointed")
    audit_case(
        actor,
        "proceedings.rights_informed",
        case,
        record=str(record.pk),
        language=language,
        interpreter=interpreter,
        lawyer=bool(organisation),
    )
    return record


@transaction.atomic(durable=True)
def legal_aid_appoint(*, actor: User, case_id: UUID, lawyer: str) -> RightsInformation:
    """Record the lawyer's organisation once one is appointed after the person
    was informed without one (CETS Art. 15(2); Directive 2011/36/EU Art. 12(2)).
    Writes ``sop5.legal_aid_appointed``.

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed (closed case; the
        person was not informed of their rights yet, or has a lawyer),
        CaseInvalidInput / InvalidText (no organisation named).
    """
    case, _access = _begin(actor, case_id, RIGHTS_ROLES)
    record = RightsInformation.objects.select_for_update().filter(case=case).first()
    if record is None:
        raise TransitionNotAllowed(
            _("Record first how the person was informed of their rights.")
        )
    if record.has_lawyer:
        raise TransitionNotAllowed(_("A lawyer is already recorded."))
    organisation = _name(
        lawyer, field="lawyer", message=_("Name the lawyer's organisation.")
    )
    record.lawyer_organisation = organisation
    record.save(update_fields=["lawyer_organisation"])
    _legal_event(case, actor, kind="sop5.legal_aid_appointed")
    audit_case(actor, "proceedings.legal_aid_appointed", case, record=str(record.pk))
    return record


# --- protection measures (D4) -------------------------------------------------------


@transaction.atomic(durable=True)
def protection_assess(
    *, actor: User, case_id: UUID, kind: str, assessed_on: date | None
) -> ProtectionMeasure:
    """Record the risk assessment for a protection measure ``kind`` (D4 "risk
    assessed"; SOP 5 step 3; CETS Art. 28). Writes ``sop5.protection_assessed``.

    Raises:
        CaseNotFound, CaseRoleRequired (:data:`PROTECTION_ROLES`),
        TransitionNotAllowed (closed case), CaseInvalidInput.
    """
    case, _access = _begin(actor, case_id, PROTECTION_ROLES)
    kind = _choice(kind, ProtectionKind, "kind")
    assessed_on = _past_date(
        assessed_on, field="assessed_on", message=_("Give the date of the assessment.")
    )
    measure = ProtectionMeasure.objects.create(
        case=case,
        status=ProtectionStatus.RISK_ASSESSED,
        kind=kind,
        assessed_on=assessed_on,
        recorded_by=actor,
    )
    _legal_event(case, actor, kind="sop5.protection_assessed", code=kind)
    audit_case(
        actor,
        "proceedings.protection_assessed",
        case,
        record=str(measure.pk),
        kind=kind,
    )
    return measure


@transaction.atomic(durable=True)
def protection_order(
    *,
    actor: User,
    case_id: UUID,
    measure_id: UUID,
    ordering_authority: str,
    ordered_on: date | None,
) -> ProtectionMeasure:
    """Record that the measure was ordered, by whom and when (D4 "ordered";
    not before the assessment). Writes ``sop5.protection_ordered``.

    Raises:
        CaseNotFound, CaseRoleRequired, ProceedingsRecordNotFound,
        TransitionNotAllowed (closed case; not "risk assessed"),
        CaseInvalidInput / InvalidText.
    """
    case, _access = _begin(actor, case_id, PROTECTION_ROLES)
    measure = _locked(ProtectionMeasure, case, measure_id)
    _require_move(measure, ProtectionStatus.ORDERED)
    authority = _name(
        ordering_authority,
        field="ordering_authority",
        message=_("Name the authority that ordered the measure."),
    )
    ordered_on = _past_date(
        ordered_on,
        field="ordered_on",
        not_before=measure.assessed_on,
        message=_("Give the date of the order (not before the risk assessment)."),
    )
    measure.status = ProtectionStatus.ORDERED
    measure.ordering_authority = authority
    measure.ordered_on = ordered_on
    measure.save(
        update_fields=["status", "ordering_authority", "ordered_on", "updated_at"]
    )
    _legal_event(case, actor, kind="sop5.protection_ordered", code=measure.kind)
    audit_case(actor, "proceedings.protection_ordered", case, record=str(measure.pk))
    return measure


@transaction.atomic(durable=True)
def protection_lift(
    *, actor: User, case_id: UUID, measure_id: UUID, lifted_on: date | None
) -> ProtectionMeasure:
    """Record that an ordered measure was lifted (D4 "lifted"; not before the
    order). Writes ``sop5.protection_lifted``.

    Raises:
        CaseNotFound, CaseRoleRequired, ProceedingsRecordNotFound,
        TransitionNotAllowed (closed case; not ordered), CaseInvalidInput.
    """
    case, _access = _begin(actor, case_id, PROTECTION_ROLES)
    measure = _locked(ProtectionMeasure, case, measure_id)
    _require_move(measure, ProtectionStatus.LIFTED)
    lifted_on = _past_date(
        lifted_on,
        field="lifted_on",
        not_before=measure.ordered_on,
        message=_("Give the date the measure was lifted (not before the order)."),
    )
    measure.status = ProtectionStatus.LIFTED
    measure.lifted_on = lifted_on
    measure.save(update_fields=["status", "lifted_on", "updated_at"])
    _legal_event(case, actor, kind="sop5.protection_lifted", code=measure.kind)
    audit_case(actor, "proceedings.protection_lifted", case, record=str(measure.pk))
    return measure


# --- compensation (D2) --------------------------------------------------------------


@transaction.atomic(durable=True)
def compensation_file(
    *,
    actor: User,
    case_id: UUID,
    route: str,
    filed_on: date | None,
    amount: Decimal | None = None,
    currency: str = "",
) -> CompensationClaim:
    """Record a compensation claim filed (D2 "claim filed"; SOP 5 step 6; CETS
    Art. 15(3)-(4); Directive 2011/36/EU Art. 17). The amount claimed is
    optional; given, it needs its ISO 4217 currency. Writes
    ``sop5.compensation_claimed`` (code: the route).

    Raises:
        CaseNotFound, CaseRoleRequired (:data:`COMPENSATION_ROLES`),
        TransitionNotAllowed (closed case), CaseInvalidInput (route, date, an
        amount without currency, an unknown currency).
    """
    case, _access = _begin(actor, case_id, COMPENSATION_ROLES)
    route = _choice(route, CompensationRoute, "route")
    filed_on = _past_date(
        filed_on, field="filed_on", message=_("Give the date the claim was filed.")
    )
    value, code = clean_money(amount, currency, required=False)
    claim = CompensationClaim.objects.create(
        case=case,
        status=CompensationStatus.FILED,
        route=route,
        filed_on=filed_on,
        claimed_amount=value,
        claimed_currency=code,
        recorded_by=actor,
    )
    _legal_event(case, actor, kind="sop5.compensation_claimed", code=route)
    audit_case(
        actor, "proceedings.compensation_filed", case, record=str(claim.pk), route=route
    )
    return claim


def _decide_claim(
    actor: User,
    case_id: UUID,
    claim_id: UUID,
    target: str,
    decided_on: date | None,
) -> tuple[Case, CompensationClaim, date]:
    case, _access = _begin(actor, case_id, COMPENSATION_ROLES)
    claim = _locked(CompensationClaim, case, claim_id)
    _require_move(claim, target)
    decided = _past_date(
        decided_on,
        field="decided_on",
        not_before=claim.filed_on,
        message=_("Give the date of the decision (not before the claim was filed)."),
    )
    return case, claim, decided


@transaction.atomic(durable=True)
def compensation_award(
    *,
    actor: User,
    case_id: UUID,
    claim_id: UUID,
    decided_on: date | None,
    amount: Decimal | None,
    currency: str,
) -> CompensationClaim:
    """Record that compensation was awarded: the amount and its ISO 4217
    currency are required. Writes ``sop5.compensation_decided`` (awarded).

    Raises:
        CaseNotFound, CaseRoleRequired, ProceedingsRecordNotFound,
        TransitionNotAllowed (closed case; the claim is not pending),
        CaseInvalidInput (date; no amount; no or an unknown currency).
    """
    case, claim, decided = _decide_claim(
        actor, case_id, claim_id, CompensationStatus.AWARDED, decided_on
    )
    value, code = clean_money(amount, currency, required=True)
    claim.status = CompensationStatus.AWARDED
    claim.decided_on = decided
    claim.awarded_amount = value
    claim.awarded_currency = code
    claim.save(
        update_fields=[
            "status",
            "decided_on",
            "awarded_amount",
            "awarded_currency",
            "updated_at",
        ]
    )
    _legal_event(case, actor, kind="sop5.compensation_decided", code="awarded")
    audit_case(actor, "proceedings.compensation_awarded", case, record=str(claim.pk))
    return claim


@transaction.atomic(durable=True)
def compensation_reject(
    *, actor: User, case_id: UUID, claim_id: UUID, decided_on: date | None
) -> CompensationClaim:
    """Record that the claim was rejected. Writes ``sop5.compensation_decided``
    (rejected).

    Raises:
        CaseNotFound, CaseRoleRequired, ProceedingsRecordNotFound,
        TransitionNotAllowed, CaseInvalidInput.
    """
    case, claim, decided = _decide_claim(
        actor, case_id, claim_id, CompensationStatus.REJECTED, decided_on
    )
    claim.status = CompensationStatus.REJECTED
    claim.decided_on = decided
    claim.save(update_fields=["status", "decided_on", "updated_at"])
    _legal_event(case, actor, kind="sop5.compensation_decided", code="rejected")
    audit_case(actor, "proceedings.compensation_rejected", case, record=str(claim.pk))
    return claim


def _settle_claim(
    actor: User, case_id: UUID, claim_id: UUID, target: str, settled_on: date | None
) -> tuple[Case, CompensationClaim, date]:
    case, _access = _begin(actor, case_id, COMPENSATION_ROLES)
    claim = _locked(CompensationClaim, case, claim_id)
    _require_move(claim, target)
    settled = _past_date(
        settled_on,
        field="settled_on",
        not_before=claim.decided_on,
        message=_("Give the date (not before the award)."),
    )
    return case, claim, settled


@transaction.atomic(durable=True)
def compensation_record_paid(
    *,
    actor: User,
    case_id: UUID,
    claim_id: UUID,
    settled_on: date | None,
    amount: Decimal | None,
    currency: str,
) -> CompensationClaim:
    """Record that awarded compensation was paid (also after it was recorded
    unpaid): the amount received and its currency are required. Writes
    ``sop5.compensation_settled`` (paid).

    Raises:
        CaseNotFound, CaseRoleRequired, ProceedingsRecordNotFound,
        TransitionNotAllowed (not awarded or unpaid), CaseInvalidInput.
    """
    case, claim, settled = _settle_claim(
        actor, case_id, claim_id, CompensationStatus.PAID, settled_on
    )
    value, code = clean_money(amount, currency, required=True)
    claim.status = CompensationStatus.PAID
    claim.settled_on = settled
    claim.paid_amount = value
    claim.paid_currency = code
    claim.save(
        update_fields=[
            "status",
            "settled_on",
            "paid_amount",
            "paid_currency",
            "updated_at",
        ]
    )
    _legal_event(case, actor, kind="sop5.compensation_settled", code="paid")
    audit_case(actor, "proceedings.compensation_paid", case, record=str(claim.pk))
    return claim


@transaction.atomic(durable=True)
def compensation_record_unpaid(
    *, actor: User, case_id: UUID, claim_id: UUID, settled_on: date | None
) -> CompensationClaim:
    """Record that awarded compensation was not paid (TRM-EU indicator
    "awarded and actually paid"). Writes ``sop5.compensation_settled`` (unpaid).

    Raises:
        CaseNotFound, CaseRoleRequired, ProceedingsRecordNotFound,
        TransitionNotAllowed (not awarded), CaseInvalidInput.
    """
    case, claim, settled = _settle_claim(
        actor, case_id, claim_id, CompensationStatus.UNPAID, settled_on
    )
    claim.status = CompensationStatus.UNPAID
    claim.settled_on = settled
    claim.save(update_fields=["status", "settled_on", "updated_at"])
    _legal_event(case, actor, kind="sop5.compensation_settled", code="unpaid")
    audit_case(actor, "proceedings.compensation_unpaid", case, record=str(claim.pk))
    return claim


# --- non-punishment (D3) ------------------------------------------------------------


@transaction.atomic(durable=True)
def charge_flag(
    *,
    actor: User,
    case_id: UUID,
    offence: str,
    flagged_on: date | None,
    charge: str = "",
) -> NonPunishment:
    """Flag a charge against the person as linked to the trafficking (D3; SOPS
    §3 non-punishment: CETS Art. 26; Directive 2011/36/EU Art. 8). ``charge``
    (what the person is charged with) is sealed. Writes ``sop5.charge_flagged``
    (code: the offence), which starts the SOP step ``sop5.non_punishment``.

    Raises:
        CaseNotFound, CaseRoleRequired (:data:`CHARGE_ROLES`),
        TransitionNotAllowed (closed case), PersonErased (a charge text after
        erasure), CaseInvalidInput / InvalidText.
    """
    case, _access = _begin(actor, case_id, CHARGE_ROLES)
    offence = _choice(offence, OffenceKind, "offence")
    flagged_on = _past_date(
        flagged_on, field="flagged_on", message=_("Give the date of the charge.")
    )
    charge = clean_reason(charge, field="charge", required=False)
    if charge:
        require_live_person(case)
    record = NonPunishment(
        case=case,
        status=NonPunishmentStatus.FLAGGED,
        offence=offence,
        flagged_on=flagged_on,
        recorded_by=actor,
    )
    if charge:
        record.sealed_charge = Sealer(case).seal(
            charge, context=record.charge_context()
        )
    record.save(force_insert=True)
    _legal_event(case, actor, kind="sop5.charge_flagged", code=offence)
    audit_case(
        actor,
        "proceedings.charge_flagged",
        case,
        record=str(record.pk),
        offence=offence,
    )
    return record


@transaction.atomic(durable=True)
def non_punishment_request(
    *, actor: User, case_id: UUID, record_id: UUID, requested_on: date | None
) -> NonPunishment:
    """Record that a non-punishment assessment was asked for (D3 "assessment
    requested"). Writes ``sop5.non_punishment_requested``.

    Raises:
        CaseNotFound, CaseRoleRequired (:data:`CHARGE_ROLES`),
        ProceedingsRecordNotFound, TransitionNotAllowed, CaseInvalidInput.
    """
    case, _access = _begin(actor, case_id, CHARGE_ROLES)
    record = _locked(NonPunishment, case, record_id)
    _require_move(record, NonPunishmentStatus.ASSESSMENT_REQUESTED)
    requested_on = _past_date(
        requested_on,
        field="requested_on",
        not_before=record.flagged_on,
        message=_("Give the date of the request (not before the charge)."),
    )
    record.status = NonPunishmentStatus.ASSESSMENT_REQUESTED
    record.requested_on = requested_on
    record.save(update_fields=["status", "requested_on", "updated_at"])
    _legal_event(case, actor, kind="sop5.non_punishment_requested", code=record.offence)
    audit_case(
        actor, "proceedings.non_punishment_requested", case, record=str(record.pk)
    )
    return record


@transaction.atomic(durable=True)
def non_punishment_decide(
    *,
    actor: User,
    case_id: UUID,
    record_id: UUID,
    outcome: str,
    decided_on: date | None,
    legal_reference: str,
) -> NonPunishment:
    """Record the outcome of the non-punishment assessment: not prosecuted,
    penalty not applied, or prosecuted, with the legal reference of the
    decision as free text (sealed). Writes ``sop5.non_punishment_assessed``
    (code: the outcome), which completes the SOP step ``sop5.non_punishment``.

    Raises:
        CaseNotFound, CaseRoleRequired (:data:`NON_PUNISHMENT_DECIDERS`),
        ProceedingsRecordNotFound, TransitionNotAllowed (no assessment asked
        for, or already decided), PersonErased, CaseInvalidInput / InvalidText
        (unknown outcome, date, no legal reference).
    """
    case, _access = _begin(actor, case_id, NON_PUNISHMENT_DECIDERS)
    record = _locked(NonPunishment, case, record_id)
    if outcome not in NON_PUNISHMENT_OUTCOMES:
        raise CaseInvalidInput(
            _("Choose the outcome of the assessment."), details={"field": "outcome"}
        )
    _require_move(record, outcome)
    decided_on = _past_date(
        decided_on,
        field="decided_on",
        not_before=record.requested_on,
        message=_("Give the date of the decision (not before the request)."),
    )
    reference = clean_reason(
        legal_reference,
        field="legal_reference",
        required=True,
        message=_("Give the legal reference of the decision."),
    )
    require_live_person(case)
    record.status = outcome
    record.decided_on = decided_on
    record.sealed_legal_reference = Sealer(case).seal(
        reference, context=record.legal_reference_context()
    )
    record.save(
        update_fields=["status", "decided_on", "sealed_legal_reference", "updated_at"]
    )
    _legal_event(case, actor, kind="sop5.non_punishment_assessed", code=outcome)
    audit_case(
        actor,
        "proceedings.non_punishment_decided",
        case,
        record=str(record.pk),
        outcome=outcome,
    )
    return record


# --- hearings ----------------------------------------------------------------------


def _remote_country(code: str) -> str:
    from django.conf import settings
    from django_countries.data import COUNTRIES

    code = (code or "").strip().upper()
    if not code:
        return ""
    if code not in COUNTRIES:
        raise CaseInvalidInput(
            _("Choose the country the person testifies from."),
            details={"field": "remote_country"},
        )
    if code == settings.TRM_COUNTRY:
        raise CaseInvalidInput(
            _("Remote testimony is from another country than this node's."),
            details={"field": "remote_country"},
        )
    return code


@transaction.atomic(durable=True)
def hearing_record(
    *,
    actor: User,
    case_id: UUID,
    at: object,
    court: str,
    kind: str,
    remote_country: str = "",
    interpreter_needed: bool = False,
) -> Hearing:
    """Record a hearing the person takes part in: date and time (aware),
    court, kind, remote testimony from another country (ISO 3166-1 alpha-2,
    never this node's; ``""``: in person) and whether an interpreter is needed
    (SOP 5 steps 4-5; Directive 2011/36/EU Art. 12(4)). Writes
    ``sop5.hearing_recorded`` (code: the kind).

    Raises:
        CaseNotFound, CaseRoleRequired (:data:`HEARING_ROLES`),
        TransitionNotAllowed (closed case), CaseInvalidInput / InvalidText.
    """
    from datetime import datetime

    from django.utils import timezone

    case, _access = _begin(actor, case_id, HEARING_ROLES)
    if not isinstance(at, datetime):
        raise CaseInvalidInput(
            _("Give the date and time of the hearing."), details={"field": "at"}
        )
    if timezone.is_naive(at):
        at = timezone.make_aware(at)
    if at.date() < date(1990, 1, 1):
        raise CaseInvalidInput(
            _("The date is not plausible (before %(year)d).") % {"year": 1990},
            details={"field": "at"},
        )
    court = _name(court, field="court", message=_("Name the court."))
    kind = _choice(kind, HearingKind, "kind")
    country = _remote_country(remote_country)
    hearing = Hearing.objects.create(
        case=case,
        at=at,
        court=court,
        kind=kind,
        remote_country=country,
        interpreter_needed=bool(interpreter_needed),
        recorded_by=actor,
    )
    _legal_event(case, actor, kind="sop5.hearing_recorded", code=kind)
    audit_case(
        actor,
        "proceedings.hearing_recorded",
        case,
        record=str(hearing.pk),
        kind=kind,
        remote=bool(country),
    )
    return hearing
