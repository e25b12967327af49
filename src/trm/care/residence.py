"""Residence status records: documents, permits and statuses, renewed in time.

SOPS §6.1 ResidenceStatus; SOP 2 step 4 (a document covering the reflection and
recovery period, CETS Art. 13(2)); SOP 3 step 2 (a renewable residence permit
for the person's situation or cooperation, CETS Art. 14; Directive 2004/81/EC:
at least 6 months); §6.2 region C.

Recording a status writes ``sop3.residence_permit_recorded`` (code: the type),
which completes the SOP steps ``sop2.residence_document`` and
``sop3.residence_permit``. Where the new status is one the reflection and
residence track knows (a permit for cooperation or personal situation, the
international protection procedure) and the track may move there now for the
actor's role, the track moves in the same transaction; otherwise the status is
just recorded (the reflection-period states are never entered from here: they
have their own rules in :mod:`trm.identification.reflection`). A status that
shows the person applied for international protection also marks them an
asylum applicant, which closes the origin country's identity check for good
(SOPS §6.5 rule 6). Same conventions as :mod:`trm.care.services`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import User
from trm.care.common import RESIDENCE_ROLES, Sealer, check_date
from trm.care.models import DOCUMENT_TYPES, ResidenceStatus, ResidenceType
from trm.cases.access import CaseAccess
from trm.cases.errors import CaseInvalidInput
from trm.cases.models import Case, Person, Visibility
from trm.cases.services import (
    lock_case,
    move_track,
    record_case_event,
    require_live_person,
)
from trm.cases.tracks import TRACKS, Reflection
from trm.common.text import clean_text
from trm.identification.common import audit_case, require_open, require_roles

#: The reflection and residence track state each residence type corresponds to.
TRACK_STATES: dict[str, str] = {
    ResidenceType.TEMP_PERMIT_COOPERATION: Reflection.PERMIT_COOPERATION,
    ResidenceType.TEMP_PERMIT_PERSONAL_SITUATION: Reflection.PERMIT_PERSONAL,
    ResidenceType.INTL_PROTECTION_APPLICANT: Reflection.INTERNATIONAL_PROTECTION,
}
#: Types that show the person applied for international protection.
PROTECTION_TYPES = frozenset(
    {
        ResidenceType.INTL_PROTECTION_APPLICANT,
        ResidenceType.REFUGEE_OR_SUBSIDIARY_PROTECTION,
    }
)
#: Temporary permits of Directive 2004/81/EC last at least this many months (Art. 8(3)).
MIN_PERMIT_MONTHS = 6
PERMIT_TYPES = frozenset(
    {
        ResidenceType.TEMP_PERMIT_COOPERATION,
        ResidenceType.TEMP_PERMIT_PERSONAL_SITUATION,
    }
)
MAX_AUTHORITY_CHARS = 200
MAX_DOCUMENT_NUMBER_CHARS = 60
MAX_NOTICE_DAYS = 365


def _add_months(start: date, months: int) -> date:
    month = start.month - 1 + months
    year, month = start.year + month // 12, month % 12 + 1
    for day in (start.day, 30, 29, 28):
        try:
            return start.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def residence_warnings(
    residence_type: str, valid_from: date, valid_until: date | None
) -> list[str]:
    """Return warnings (not refusals) about a residence record.

    A temporary permit valid for less than 6 months is shorter than Directive
    2004/81/EC Art. 8(3) allows: check the document.
    """
    warnings = []
    if (
        residence_type in PERMIT_TYPES
        and valid_until is not None
        # The last valid day counts: 1 January to 30 June is six months.
        and valid_until + timedelta(days=1) < _add_months(valid_from, MIN_PERMIT_MONTHS)
    ):
        warnings.append(
            _(
                "This permit is valid for less than %(n)d months; Directive "
                "2004/81/EC grants at least %(n)d. Check the dates on the document."
            )
            % {"n": MIN_PERMIT_MONTHS}
        )
    return warnings


@dataclass
class Recorded:
    """What :func:`residence_status_record` did.

    Attributes:
        record: the new record.
        superseded: the record it replaced (same type, older), if any.
        track_moved_to: the reflection and residence state the case moved to
            (``""``: not moved).
        warnings: see :func:`residence_warnings`.
    """

    record: ResidenceStatus
    superseded: ResidenceStatus | None = None
    track_moved_to: str = ""
    warnings: list[str] = field(default_factory=list)


def current_of_type(case: Case, residence_type: str) -> ResidenceStatus | None:
    """Return the record of ``residence_type`` no newer record replaced, if any."""
    return (
        ResidenceStatus.objects.filter(
            case=case, residence_type=residence_type, superseded_by__isnull=True
        )
        .order_by("-valid_from", "-recorded_at")
        .first()
    )


def _track_target(case: Case, access: CaseAccess, residence_type: str) -> str:
    target = TRACK_STATES.get(residence_type, "")
    track = TRACKS["reflection"]
    if (
        not target
        or target in track.guarded
        or case.reflection == target
        or not case.can_move("reflection", target)
        or not (access.roles & track.roles_for(target))
    ):
        return ""
    return target


@transaction.atomic(durable=True)
def residence_status_record(
    *,
    actor: User,
    case_id: UUID,
    residence_type: str,
    valid_from: date | None,
    valid_until: date | None = None,
    issuing_authority: str = "",
    document_number: str = "",
    renewal_notice_days: int | None = None,
) -> Recorded:
    """Record the person's residence status (SOPS §6.1 ResidenceStatus).

    ``valid_until`` is required for a document or a permit
    (:data:`~trm.care.models.DOCUMENT_TYPES`) and may not be before
    ``valid_from``. ``document_number`` is sealed. The renewal reminder falls
    due ``renewal_notice_days`` (default ``TRM_RESIDENCE_RENEWAL_NOTICE_DAYS``)
    before ``valid_until``. A record of the same type that starts earlier is
    superseded by this one (kept as history); one that starts later supersedes
    this one instead (an old document entered afterwards). Moves the reflection
    and residence track where it matches (see the module docstring).

    Raises:
        CaseNotFound, CaseRoleRequired, PersonErased,
        TransitionNotAllowed (closed case),
        CaseInvalidInput / InvalidText (unknown type, dates, notice days,
        authority or number too long or with control characters).
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    require_open(case)
    require_roles(access, RESIDENCE_ROLES)
    require_live_person(case)
    if residence_type not in ResidenceType.values:
        raise CaseInvalidInput(
            _("Choose the residence status."), details={"field": "residence_type"}
        )
    valid_from = check_date(
        valid_from,
        field="valid_from",
        message=_("Give the date from which it is valid."),
    )
    assert valid_from is not None  # noqa: S101 - required above
    valid_until = check_date(
        valid_until,
        field="valid_until",
        required=residence_type in DOCUMENT_TYPES,
        not_before=valid_from,
        message=_(
            "Give the date until which the document is valid (not before it starts)."
        ),
    )
    if renewal_notice_days is None:
        renewal_notice_days = int(settings.TRM_RESIDENCE_RENEWAL_NOTICE_DAYS)
    if not 0 <= renewal_notice_days <= MAX_NOTICE_DAYS:
        raise CaseInvalidInput(
            _("The reminder comes 0 to %(n)d days before the end.")
            % {"n": MAX_NOTICE_DAYS},
            details={"field": "renewal_notice_days"},
        )
    issuing_authority = clean_text(
        issuing_authority, field="issuing_authority", max_length=MAX_AUTHORITY_CHARS
    )
    document_number = clean_text(
        document_number,
        field="document_number",
        max_length=MAX_DOCUMENT_NUMBER_CHARS,
    )
    record = ResidenceStatus(
        case=case,
        residence_type=residence_type,
        valid_from=valid_from,
        valid_until=valid_until,
        issuing_authority=issuing_authority,
        renewal_notice_days=renewal_notice_days,
        renewal_due_on=ResidenceStatus.renewal_due_for(
            valid_until, renewal_notice_days
        ),
        recorded_by=actor,
    )
    record.sealed_document_number = Sealer(case).seal(
        document_number, context=record.document_number_context()
    )
    previous = current_of_type(case, residence_type)
    now = timezone.now()
    if previous is not None and previous.valid_from > valid_from:
        # An older document entered late: history from the start.
        record.superseded_by = previous
        record.superseded_at = now
    record.save(force_insert=True)
    outcome = Recorded(
        record=record,
        warnings=residence_warnings(residence_type, valid_from, valid_until),
    )
    if previous is not None and record.is_current:
        previous.superseded_by = record
        previous.superseded_at = now
        previous.save(update_fields=["superseded_by", "superseded_at"])
        outcome.superseded = previous
    record_case_event(
        case=case,
        actor=actor,
        kind="sop3.residence_permit_recorded",
        code=residence_type,
        visibility=Visibility.ASSISTANCE_ONLY,
    )
    target = _track_target(case, access, residence_type) if record.is_current else ""
    if target:
        move_track(
            actor=actor,
            case=case,
            access=access,
            track="reflection",
            target=target,
            reason="",
            code=residence_type,
        )
        outcome.track_moved_to = target
    if residence_type in PROTECTION_TYPES and not case.person.asylum_applicant:
        # Moving to the protection procedure did this already (move_track).
        Person.objects.filter(pk=case.person_id).update(asylum_applicant=True)
        case.person.asylum_applicant = True
        record_case_event(
            case=case, actor=actor, kind="sop1.asylum_application_recorded"
        )
        audit_case(actor, "identification.asylum_application_recorded", case)
    audit_case(
        actor,
        "care.residence_recorded",
        case,
        record=str(record.pk),
        type=residence_type,
        superseded=str(outcome.superseded.pk) if outcome.superseded else "",
        history=not record.is_current,
        track_moved_to=target,
    )
    return outcome
