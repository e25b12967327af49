"""Erasure by crypto-shredding (with four eyes) and retention enforcement.

The only writers of :class:`~trm.dataprotection.models.ErasureRequest` and the
only code that erases a person. Erasing destroys the person's data key in the
keystore database, so every field sealed under it (identity, photo, notes,
timeline details, consent declarations and evidence) can never be decrypted
again, in the live database and in every backup of it (ARCHITECTURE §4). The
case shells, their tracks and the person's statistical attributes (gender, age
band, citizenships …) remain. Audit entries and timeline events hold no
personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import User
from trm.audit import services as audit
from trm.cases.errors import CaseNotFound, PersonErased
from trm.cases.models import Case, CaseEvent, CaseNote, Person, PersonIndex
from trm.cases.services import record_case_event
from trm.dataprotection import crypto
from trm.dataprotection.access import knows_case, may_decide, may_request_erasure
from trm.dataprotection.errors import (
    DataProtectionInvalidInput,
    DataProtectionRoleRequired,
    ErasureAlreadyRequested,
    ErasureRequestClosed,
    ErasureRequestNotFound,
    FourEyesRequired,
)
from trm.dataprotection.models import ErasureReason, ErasureRequest
from trm.exchange import services as exchange

Status = ErasureRequest.Status


# --- erasure ----------------------------------------------------------------------


@transaction.atomic(durable=True)
def erasure_request(
    *, actor: User, case_id: UUID, reason: str, note: str = ""
) -> ErasureRequest:
    """Ask for the erasure of the case's person; a second person must confirm.

    ``note`` is a short justification kept after the erasure: it must hold no
    personal data (the form says so). It is required when the reason is
    "other".

    Raises:
        CaseNotFound: the actor may not know the case.
        DataProtectionRoleRequired: neither the case manager on the team nor
            the data-protection officer.
        DataProtectionInvalidInput: no or unknown reason, note too long or
            missing for "other".
        PersonErased: the person was already erased.
        ErasureAlreadyRequested: a request for this person awaits confirmation.
    """
    case = Case.objects.select_related("person").filter(pk=case_id).first()
    if case is None or not knows_case(actor, case):
        raise CaseNotFound(_("No such case."))
    if not may_request_erasure(actor, case):
        raise DataProtectionRoleRequired(
            _(
                "Only the case manager on the case team or the data-protection "
                "officer may request an erasure."
            )
        )
    if reason not in ErasureReason.values:
        raise DataProtectionInvalidInput(
            _("Choose the reason for the erasure."), details={"field": "reason"}
        )
    note = " ".join(note.split())
    if len(note) > ErasureRequest.NOTE_MAX_LENGTH:
        raise DataProtectionInvalidInput(
            _("The note may hold at most %(n)d characters.")
            % {"n": ErasureRequest.NOTE_MAX_LENGTH},
            details={"field": "note"},
        )
    if reason == ErasureReason.OTHER and not note:
        raise DataProtectionInvalidInput(
            _("Say briefly why (without personal data) when the reason is “other”."),
            details={"field": "note"},
        )
    person = Person.objects.select_for_update().get(pk=case.person_id)
    if person.is_erased:
        raise PersonErased(_("The person's data was already erased."))
    if ErasureRequest.objects.filter(person=person, status=Status.PENDING).exists():
        raise ErasureAlreadyRequested(
            _("An erasure of this person is already waiting for confirmation.")
        )
    request = ErasureRequest(
        person=person,
        case=case,
        reason=reason,
        note=note,
        requested_by=actor,
        requested_at=timezone.now(),
    )
    try:
        with transaction.atomic():
            request.save(force_insert=True)
    except IntegrityError:
        # Two requests at the same moment: the partial unique index decides.
        raise ErasureAlreadyRequested(
            _("An erasure of this person is already waiting for confirmation.")
        ) from None
    record_case_event(case=case, actor=actor, kind="dataprotection.erasure_requested")
    audit.record(
        actor=actor,
        action="dataprotection.erasure_requested",
        target=request,
        data={
            "case": str(case.pk),
            "person": str(person.pk),
            "reason": reason,
            "note": note,
        },
    )
    return request


def _decidable(actor: User, request_id: UUID) -> ErasureRequest:
    if not may_decide(actor):
        raise DataProtectionRoleRequired(
            _(
                "Only the data-protection officer or the node administrator decides "
                "on erasure requests."
            )
        )
    request = (
        ErasureRequest.objects.select_for_update()
        .select_related("case")
        .filter(pk=request_id)
        .first()
    )
    if request is None:
        raise ErasureRequestNotFound(_("No such erasure request."))
    return request


@transaction.atomic(durable=True)
def erasure_confirm(*, actor: User, request_id: UUID) -> ErasureRequest:
    """Confirm a pending erasure request and erase the person (irreversible).

    Raises:
        DataProtectionRoleRequired: the actor is neither data-protection officer
            nor node administrator.
        ErasureRequestNotFound: no such request.
        ErasureRequestClosed: the request was already confirmed or cancelled.
        FourEyesRequired: the actor made the request.
        PersonErased: the person was erased in the meantime (e.g. retention).
    """
    request = _decidable(actor, request_id)
    if not request.can_transition_to(Status.CONFIRMED):
        raise ErasureRequestClosed(_("This request was already decided."))
    if not request.is_second_pair_of_eyes(actor.pk):
        raise FourEyesRequired(
            _(
                "You made this request: a second person (data-protection officer "
                "or node administrator) must confirm it."
            )
        )
    request.status = Status.CONFIRMED
    request.confirmed_by = actor
    request.confirmed_at = timezone.now()
    request.save(update_fields=["status", "confirmed_by", "confirmed_at"])
    audit.record(
        actor=actor,
        action="dataprotection.erasure_confirmed",
        target=request,
        data={"case": str(request.case_id), "person": str(request.person_id)},
    )
    erase_person(
        actor=actor,
        person_id=request.person_id,
        reason=request.reason,
        request=request,
    )
    return request


@transaction.atomic(durable=True)
def erasure_cancel(*, actor: User, request_id: UUID) -> ErasureRequest:
    """Cancel a pending erasure request; nothing is erased.

    The data-protection officer, the node administrator, or the requester
    (withdrawing their own request) may cancel.

    Raises:
        DataProtectionRoleRequired, ErasureRequestNotFound, ErasureRequestClosed.
    """
    request = (
        ErasureRequest.objects.select_for_update()
        .select_related("case")
        .filter(pk=request_id)
        .first()
    )
    own = request is not None and request.requested_by_id == actor.pk
    if not own:
        request = _decidable(actor, request_id)
    if request is None:
        raise ErasureRequestNotFound(_("No such erasure request."))
    if not request.can_transition_to(Status.CANCELLED):
        raise ErasureRequestClosed(_("This request was already decided."))
    request.status = Status.CANCELLED
    request.cancelled_by = actor
    request.cancelled_at = timezone.now()
    request.save(update_fields=["status", "cancelled_by", "cancelled_at"])
    record_case_event(
        case=request.case, actor=actor, kind="dataprotection.erasure_cancelled"
    )
    audit.record(
        actor=actor,
        action="dataprotection.erasure_cancelled",
        target=request,
        data={"case": str(request.case_id), "person": str(request.person_id)},
    )
    return request


@dataclass(frozen=True)
class ErasureOutcome:
    """What an erasure removed (counts only)."""

    person_id: UUID
    cases: int
    indexes_deleted: int
    photo_deleted: bool
    key_destroyed: bool


def erase_person(
    *,
    actor: User | None,
    person_id: UUID,
    reason: str,
    request: ErasureRequest | None = None,
) -> ErasureOutcome:
    """Erase a person by crypto-shredding (inner helper; caller holds the transaction).

    Deletes the blind indexes, the sealed identity and photo, marks the person
    erased, cancels other pending requests for them, adds a timeline event to
    each of their cases and one audit entry, forgets the exchange's stored
    payloads about their cases (cancelling those not sent yet), then destroys
    the data key.

    The key is destroyed last: the keystore is another database and commits at
    once. If anything before it fails, the main transaction rolls back and the
    key is intact; if the main commit failed after it, the person's data is
    unreadable already and confirming again completes the record
    (:func:`crypto.destroy_data_key` is idempotent).

    Raises:
        PersonErased: the person was already erased.
    """
    person = Person.objects.select_for_update().get(pk=person_id)
    if person.is_erased:
        raise PersonErased(_("The person's data was already erased."))
    now = timezone.now()
    indexes_deleted, _per_model = PersonIndex.objects.filter(person=person).delete()
    had_photo = person.sealed_photo is not None
    person.sealed_identity = None
    person.sealed_photo = None
    person.photo_content_type = ""
    person.erased_at = now
    person.save(
        update_fields=[
            "sealed_identity",
            "sealed_photo",
            "photo_content_type",
            "erased_at",
            "updated_at",
        ]
    )
    others = ErasureRequest.objects.filter(person=person, status=Status.PENDING)
    if request is not None:
        others = others.exclude(pk=request.pk)
    for other in others:
        other.status = Status.CANCELLED
        other.cancelled_at = now
        other.save(update_fields=["status", "cancelled_at"])
        audit.record(
            actor=actor,
            action="dataprotection.erasure_cancelled",
            target=other,
            data={"superseded_by_erasure": True},
        )
    cases = list(Case.objects.filter(person=person).order_by("opened_at"))
    for case in cases:
        record_case_event(case=case, actor=actor, kind="dataprotection.person_erased")
    # The exchange's stored copies of messages about the person's cases go too
    # (those sealed under the data key become unreadable below anyway).
    exchange.forget_payloads_for_cases(case_ids=[c.pk for c in cases], actor=actor)
    audit.record(
        actor=actor,
        action="dataprotection.person_erased",
        target=person,
        data={
            "reason": reason,
            "request": str(request.pk) if request else "",
            "cases": [str(c.pk) for c in cases],
            "indexes_deleted": indexes_deleted,
            "photo_deleted": had_photo,
        },
    )
    destroyed = crypto.destroy_data_key(person.data_key_id)
    return ErasureOutcome(
        person_id=person.pk,
        cases=len(cases),
        indexes_deleted=indexes_deleted,
        photo_deleted=had_photo,
        key_destroyed=destroyed,
    )


# --- retention ----------------------------------------------------------------------


def years_before(moment: datetime, years: int) -> datetime:
    """Return ``moment`` moved back by whole calendar years (29 Feb → 28 Feb)."""
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:
        return moment.replace(year=moment.year - years, day=28)


@dataclass(frozen=True)
class RetentionReport:
    """What :func:`enforce_retention` did (or would do, in a dry run): counts only."""

    dry_run: bool
    now: datetime
    identity_years: int
    identity_cutoff: datetime
    notes_years: int
    notes_cutoff: datetime
    audit_years: int
    persons_erased: int
    cases_with_expired_notes: int
    notes_deleted: int
    event_details_cleared: int


def _persons_past_retention(cutoff: datetime) -> list[UUID]:
    """Persons not yet erased, with cases, all closed on or before ``cutoff``."""
    return list(
        Person.objects.filter(erased_at__isnull=True)
        .annotate(
            n_cases=Count("cases"),
            n_open=Count("cases", filter=Q(cases__closed_at__isnull=True)),
            last_closed=Max("cases__closed_at"),
        )
        .filter(n_cases__gt=0, n_open=0, last_closed__lte=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)
    )


def _cases_past_notes_retention(cutoff: datetime) -> list[UUID]:
    expired = Q(closed_at__isnull=False, closed_at__lte=cutoff)
    with_notes = Case.objects.filter(expired, notes__isnull=False)
    with_details = Case.objects.filter(expired, events__sealed_detail__isnull=False)
    ids = set(with_notes.values_list("pk", flat=True))
    ids |= set(with_details.values_list("pk", flat=True))
    return sorted(ids)


@transaction.atomic(durable=True)
def _retention_erase(*, person_id: UUID, identity_years: int) -> bool:
    person = Person.objects.select_for_update().get(pk=person_id)
    if person.is_erased:
        return False
    last_case = (
        Case.objects.filter(person=person).order_by("-closed_at", "-opened_at").first()
    )
    if last_case is None:
        return False
    now = timezone.now()
    # A register entry, so every erasure is listed in one place; decided by the
    # node's retention policy (settings), hence no requester or confirmer.
    request = ErasureRequest.objects.create(
        person=person,
        case=last_case,
        reason=ErasureReason.RETENTION_EXPIRED,
        note=f"TRM_RETENTION_IDENTITY_YEARS={identity_years}",
        status=Status.CONFIRMED,
        requested_at=now,
        confirmed_at=now,
    )
    erase_person(
        actor=None,
        person_id=person.pk,
        reason=ErasureReason.RETENTION_EXPIRED,
        request=request,
    )
    return True


@transaction.atomic(durable=True)
def _expire_case_notes(*, case_id: UUID, notes_years: int) -> tuple[int, int]:
    case = Case.objects.select_for_update(no_key=True).get(pk=case_id)
    notes, _per_model = CaseNote.objects.filter(case=case).delete()
    details = CaseEvent.objects.filter(case=case, sealed_detail__isnull=False).update(
        sealed_detail=None
    )
    if notes or details:
        audit.record(
            actor=None,
            action="dataprotection.notes_expired",
            target=case,
            data={
                "notes_deleted": notes,
                "event_details_cleared": details,
                "retention_years": notes_years,
            },
        )
    return notes, details


def enforce_retention(*, dry_run: bool = False) -> RetentionReport:
    """Erase identities and delete notes whose retention period has passed.

    Case closure starts the clock (ARCHITECTURE §4):

    * identity: a person all of whose cases were closed at least
      ``TRM_RETENTION_IDENTITY_YEARS`` ago is erased by crypto-shredding;
    * notes and timeline details: the notes of a case closed at least
      ``TRM_RETENTION_NOTES_YEARS`` ago are deleted and the details (free
      text) of its timeline events cleared; the events themselves (kind,
      track, states, time) remain;
    * audit entries are never deleted: they hold no personal data
      (``TRM_RETENTION_AUDIT_YEARS`` is informational).

    Each person and each case is handled in its own transaction, with audit
    entries whose actor is "system". A dry run counts and changes nothing, the
    audit log included.
    """
    now = timezone.now()
    identity_years = settings.TRM_RETENTION_IDENTITY_YEARS
    notes_years = settings.TRM_RETENTION_NOTES_YEARS
    identity_cutoff = years_before(now, identity_years)
    notes_cutoff = years_before(now, notes_years)
    persons = _persons_past_retention(identity_cutoff)
    cases = _cases_past_notes_retention(notes_cutoff)
    erased = notes_deleted = details_cleared = 0
    if dry_run:
        erased = len(persons)
        notes_deleted = CaseNote.objects.filter(case_id__in=cases).count()
        details_cleared = CaseEvent.objects.filter(
            case_id__in=cases, sealed_detail__isnull=False
        ).count()
    else:
        for person_id in persons:
            erased += _retention_erase(
                person_id=person_id, identity_years=identity_years
            )
        for case_id in cases:
            n, d = _expire_case_notes(case_id=case_id, notes_years=notes_years)
            notes_deleted += n
            details_cleared += d
    report = RetentionReport(
        dry_run=dry_run,
        now=now,
        identity_years=identity_years,
        identity_cutoff=identity_cutoff,
        notes_years=notes_years,
        notes_cutoff=notes_cutoff,
        audit_years=settings.TRM_RETENTION_AUDIT_YEARS,
        persons_erased=erased,
        cases_with_expired_notes=len(cases),
        notes_deleted=notes_deleted,
        event_details_cleared=details_cleared,
    )
    if not dry_run:
        with transaction.atomic(durable=True):
            audit.record(
                actor=None,
                action="dataprotection.retention_enforced",
                data={
                    "identity_years": identity_years,
                    "notes_years": notes_years,
                    "persons_erased": erased,
                    "cases_with_expired_notes": len(cases),
                    "notes_deleted": notes_deleted,
                    "event_details_cleared": details_cleared,
                },
            )
    return report
