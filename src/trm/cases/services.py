"""The only writers of persons, cases, team, timeline and notes.

Every function is keyword-only, takes the acting user, checks the actor's role
on the case, writes the change, a timeline event and an audit entry in one
transaction, and raises a :class:`~trm.common.errors.DomainError` subclass
(nothing written) on refusal. Personal data is sealed under the person's data
key before it reaches the database and never appears in audit data or errors.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import date, datetime
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_countries.data import COUNTRIES

from trm.accounts.models import Organisation, Role, User
from trm.audit import services as audit
from trm.cases.access import (
    CASE_ROLES,
    OPENING_ROLES,
    CaseAccess,
    case_access,
    may_hand_over,
)
from trm.cases.errors import (
    CaseInvalidInput,
    CaseNotFound,
    CaseNumberTaken,
    CaseRoleRequired,
    PersonErased,
    TransitionNotAllowed,
)
from trm.cases.identity import PersonIdentity
from trm.cases.models import (
    AgeBand,
    Case,
    CaseEvent,
    CaseNote,
    CaseNumberCounter,
    CaseTeamMember,
    ClosureReason,
    Person,
    PersonIndex,
    Visibility,
)
from trm.cases.tracks import TRACKS, Assistance, ChildProtection, Reflection
from trm.common.htcds import Gender
from trm.common.languages import is_language_code
from trm.dataprotection import crypto
from trm.dataprotection.normalise import birth_year_key, document_key, name_key

MAX_NOTE_CHARS = 20_000
#: The largest photo of a person accepted (a passport-style photo is far smaller).
MAX_PHOTO_BYTES = 5 * 1024 * 1024
#: Photo types accepted, recognised by their first bytes (never by the name or
#: the type the client declares): only these are ever served back inline.
PHOTO_TYPES: dict[str, bytes] = {
    "image/jpeg": b"\xff\xd8\xff",
    "image/png": b"\x89PNG\r\n\x1a\n",
}
#: Names some clients give these types.
PHOTO_TYPE_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg"}
#: Who reads a track's timeline events (moves and their reasons). Assistance
#: stays away from the prosecutor (issue "SOP 5"); the legal track is for the
#: roles that read legal notes.
TRACK_VISIBILITY: dict[str, str] = {
    "assistance": Visibility.ASSISTANCE_ONLY,
    "legal": Visibility.LEGAL,
}


# --- helpers -------------------------------------------------------------------------


def _seal_identity(person: Person, identity: PersonIdentity) -> bytes:
    return crypto.seal_for(
        person.data_key_id,
        identity.model_dump_json().encode(),
        context=person.identity_context(),
    )


def _index_entries(identity: PersonIdentity) -> set[tuple[str, str]]:
    entries: set[tuple[str, str]] = set()
    year = birth_year_key(identity.birth_date)
    for name in identity.names():
        key = name_key(name)
        if not key:
            continue
        entries.add((PersonIndex.Kind.NAME, crypto.blind_index("name", key)))
        if year:
            entries.add(
                (
                    PersonIndex.Kind.NAME_BIRTH_YEAR,
                    crypto.blind_index("name_year", f"{key}|{year}"),
                )
            )
    for document in identity.documents:
        key = document_key(document.number)
        if key:
            entries.add(
                (PersonIndex.Kind.DOCUMENT, crypto.blind_index("document", key))
            )
    return entries


def _reindex(person: Person, identity: PersonIdentity) -> None:
    PersonIndex.objects.filter(person=person).delete()
    PersonIndex.objects.bulk_create(
        PersonIndex(person=person, kind=kind, digest=digest)
        for kind, digest in sorted(_index_entries(identity))
    )


def _age_in_years(birth: date, today: date) -> int:
    return (
        today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
    )


#: The earliest plausible birth year (search starts there too).
MIN_BIRTH_YEAR = 1900


def _check_birth_date(birth: date | None, today: date) -> None:
    if birth is None:
        return
    if birth > today:
        raise CaseInvalidInput(
            _("The birth date is in the future."), details={"field": "birth_date"}
        )
    if birth.year < MIN_BIRTH_YEAR:
        raise CaseInvalidInput(
            _("The birth date is not plausible (before %(year)d).")
            % {"year": MIN_BIRTH_YEAR},
            details={"field": "birth_date"},
        )


#: A case number: letters, digits and - / . _, starting with a letter or digit.
CASE_NUMBER = re.compile(r"[^\W_][\w\-/.]{0,31}")


def _clean_case_number(number: str) -> str:
    """Return ``number`` stripped (may be empty: generated), or refuse it."""
    number = unicodedata.normalize("NFC", number.strip())
    if number and not CASE_NUMBER.fullmatch(number):
        raise CaseInvalidInput(
            _(
                "A case number holds 1 to 32 letters, digits and the characters "
                "- / . _ and starts with a letter or digit."
            ),
            details={"field": "number"},
        )
    return number


def _clean_attributes(
    *,
    gender: str,
    age_band: str,
    citizenships: Iterable[str],
    languages: Iterable[str],
) -> tuple[list[str], list[str]]:
    if gender not in Gender.values:
        raise CaseInvalidInput(_("Unknown gender code."), details={"field": "gender"})
    if age_band not in AgeBand.values:
        raise CaseInvalidInput(_("Unknown age band."), details={"field": "age_band"})
    countries = [c.strip().upper() for c in citizenships if c and c.strip()]
    unknown = [c for c in countries if c not in COUNTRIES]
    if unknown:
        raise CaseInvalidInput(
            _("Unknown citizenship code(s): %(codes)s.")
            % {"codes": ", ".join(unknown)},
            details={"field": "citizenships"},
        )
    langs = [code.strip().lower() for code in languages if code and code.strip()]
    bad = [code for code in langs if not is_language_code(code)]
    if bad:
        raise CaseInvalidInput(
            _("Unknown language code(s): %(codes)s (use ISO 639).")
            % {"codes": ", ".join(bad)},
            details={"field": "languages"},
        )
    return list(dict.fromkeys(countries)), list(dict.fromkeys(langs))


def _next_case_number(now: datetime) -> str:
    counter, _created = CaseNumberCounter.objects.select_for_update().get_or_create(
        year=now.year
    )
    # Skip numbers already given explicitly (a paper file's number can have this
    # pattern): otherwise the insert fails, the counter rolls back with it, and
    # every later opening would fail on the same number.
    while True:
        counter.last += 1
        number = f"{settings.TRM_COUNTRY}-{now.year}-{counter.last:05d}"
        if not Case.objects.filter(number=number).exists():
            break
    counter.save(update_fields=["last"])
    return number


def _event(
    case: Case,
    *,
    actor: User | None,
    kind: str,
    track: str = "",
    from_state: str = "",
    to_state: str = "",
    visibility: str = Visibility.TEAM,
    detail: str = "",
    code: str = "",
) -> CaseEvent:
    event = CaseEvent(
        case=case,
        at=timezone.now(),
        actor=actor,
        kind=kind,
        track=track,
        from_state=from_state,
        to_state=to_state,
        code=code,
        visibility=visibility,
    )
    if detail:
        event.sealed_detail = crypto.seal_for(
            case.person.data_key_id, detail.encode(), context=event.detail_context()
        )
    event.save(force_insert=True)
    return event


def _record_child_protection_started(case: Case, *, actor: User) -> None:
    """Timeline the start of child protection (guardian requested): SOPS §6.5 rule 3."""
    _event(
        case,
        actor=actor,
        kind="case.track_moved",
        track="child_protection",
        from_state=ChildProtection.NOT_APPLICABLE,
        to_state=ChildProtection.GUARDIAN_REQUESTED,
    )


def _locked_case(case_id: UUID) -> Case:
    case = (
        Case.objects.select_for_update(no_key=True)
        .select_related("person")
        .filter(pk=case_id)
        .first()
    )
    if case is None:
        raise CaseNotFound(_("No such case."))
    return case


def _access_or_404(actor: User, case: Case) -> CaseAccess:
    access = case_access(actor, case)
    if access is None:
        raise CaseNotFound(_("No such case."))
    return access


def lock_case(*, actor: User, case_id: UUID) -> tuple[Case, CaseAccess]:
    """Lock a case row for update and return it with the actor's access.

    For other apps' services (inside their ``transaction.atomic``), so every
    SOP service refuses the same way.

    Raises:
        CaseNotFound: no such case, or the actor may not see it.
    """
    case = _locked_case(case_id)
    return case, _access_or_404(actor, case)


def require_live_person(case: Case) -> None:
    """Raise :class:`PersonErased` if the case's person has been erased."""
    _require_live_person(case)


def _require_live_person(case: Case) -> None:
    if case.person.is_erased:
        raise PersonErased(
            _("The person's data was erased; this case keeps only its statistics.")
        )


# --- opening a case ---------------------------------------------------------------


@transaction.atomic(durable=True)
def case_open(
    *,
    actor: User,
    identity: PersonIdentity,
    gender: str = Gender.NOT_SPECIFIED_UNKNOWN,
    age_band: str = "",
    age_uncertain: bool = False,
    citizenships: Iterable[str] = (),
    languages: Iterable[str] = (),
    asylum_applicant: bool = False,
    may_be_child: bool = False,
    lead_organisation_id: UUID | None = None,
    number: str = "",
) -> Case:
    """Register a person and open their case; the actor joins the case team.

    The age band is derived from the birth date when known; an estimated birth
    date marks the age as uncertain. A person whose band is a child's, or who
    ``may_be_child`` (age uncertain with signs of minority), is flagged
    ``presumed_child`` and the child-protection track starts with a guardian
    requested: the presumption of minority, SOPS §6.5 rule 3, CETS 10(3).

    Args:
        number: an explicit case number (e.g. from a paper file); generated as
            ``<country>-<year>-<nnnnn>`` when empty.

    Raises:
        CaseRoleRequired: the actor has no role that may open cases.
        CaseInvalidInput: an unknown code (gender, age band, country, language).
        CaseNumberTaken: ``number`` is already used on this node.
    """
    roles = actor.role_codes() & OPENING_ROLES
    if not roles or not actor.is_active:
        raise CaseRoleRequired(_("Your roles do not allow opening a case."))
    now = timezone.now()
    identity = identity.checked()
    number = _clean_case_number(number)
    _check_birth_date(identity.birth_date, now.date())
    derived: AgeBand | None = None
    if identity.birth_date is not None:
        derived = AgeBand.for_age(_age_in_years(identity.birth_date, now.date()))
        if (
            age_band
            and age_band != derived
            and not identity.birth_date_is_estimate
            and age_band in AgeBand.values
        ):
            raise CaseInvalidInput(
                _(
                    "The age band does not match the birth date. Leave the band "
                    "empty, or mark the birth date as an estimate."
                ),
                details={"field": "age_band"},
            )
        age_band = age_band or derived
        age_uncertain = age_uncertain or identity.birth_date_is_estimate
    age_band = age_band or AgeBand.UNKNOWN
    countries, langs = _clean_attributes(
        gender=gender, age_band=age_band, citizenships=citizenships, languages=languages
    )
    if lead_organisation_id is None:
        lead = actor.organisation
    else:
        lead = Organisation.objects.filter(
            pk=lead_organisation_id, is_active=True
        ).first()
    if lead is None:
        raise CaseInvalidInput(
            _("Choose the lead organisation."), details={"field": "lead_organisation"}
        )
    if number and Case.objects.filter(number=number).exists():
        raise CaseNumberTaken(
            _("Case number %(n)s is already used on this node.") % {"n": number},
            details={"field": "number"},
        )
    band = AgeBand(age_band)
    # Any sign of minority presumes a child (SOPS §6.5 rule 3): the band, an
    # estimated birth date that makes a child, or the first contact's view.
    presumed_child = (
        band.is_child or may_be_child or (derived is not None and derived.is_child)
    )
    person = Person(
        data_key_id=crypto.create_data_key(),
        gender=gender,
        age_band=age_band,
        age_uncertain=age_uncertain,
        presumed_child=presumed_child,
        citizenships=countries,
        languages=langs,
        asylum_applicant=asylum_applicant,
    )
    person.sealed_identity = _seal_identity(person, identity)
    person.save(force_insert=True)
    _reindex(person, identity)
    case = Case(
        number=number or _next_case_number(now),
        person=person,
        lead_organisation=lead,
        opened_at=now,
        opened_by=actor,
        child_protection=(
            ChildProtection.GUARDIAN_REQUESTED
            if presumed_child
            else ChildProtection.NOT_APPLICABLE
        ),
    )
    try:
        with transaction.atomic():
            case.save(force_insert=True)
    except IntegrityError:
        raise CaseNumberTaken(
            _("Case number %(n)s is already used on this node.") % {"n": case.number},
            details={"field": "number"},
        ) from None
    primary = sorted(roles)[0]
    CaseTeamMember.objects.create(case=case, user=actor, role=primary, added_by=actor)
    _event(case, actor=actor, kind="case.opened")
    if presumed_child:
        _record_child_protection_started(case, actor=actor)
    audit.record(
        actor=actor,
        action="cases.case_opened",
        target=case,
        data={"number": case.number, "lead": str(lead.pk)},
    )
    return case


@transaction.atomic(durable=True)
def person_update_identity(
    *, actor: User, case_id: UUID, identity: PersonIdentity
) -> Person:
    """Replace the person's identifying data (re-sealed, re-indexed).

    A birth date sets the age band again. A person who now is a child is
    presumed a child and, if the child-protection track had not started, it
    starts with a guardian requested (as on opening). The presumption is never
    lifted here: only an age assessment may (SOPS §6.5 rule 3).

    Raises:
        CaseNotFound, CaseRoleRequired (legal-track-only roles may not edit),
        CaseInvalidInput (a birth date in the future or before 1900),
        InvalidText, PersonErased.
    """
    case = _locked_case(case_id)
    access = _access_or_404(actor, case)
    if access.legal_only:
        raise CaseRoleRequired(_("Your role on this case does not allow editing."))
    _require_live_person(case)
    identity = identity.checked()
    today = timezone.now().date()
    _check_birth_date(identity.birth_date, today)
    person = Person.objects.select_for_update().get(pk=case.person_id)
    person.sealed_identity = _seal_identity(person, identity)
    fields = ["sealed_identity", "updated_at"]
    if identity.birth_date is not None:
        person.age_band = AgeBand.for_age(_age_in_years(identity.birth_date, today))
        fields.append("age_band")
        if identity.birth_date_is_estimate and not person.age_uncertain:
            person.age_uncertain = True
            fields.append("age_uncertain")
        if AgeBand(person.age_band).is_child and not person.presumed_child:
            person.presumed_child = True
            fields.append("presumed_child")
    person.save(update_fields=fields)
    _reindex(person, identity)
    _event(case, actor=actor, kind="person.identity_updated")
    if (
        person.presumed_child
        and case.child_protection == ChildProtection.NOT_APPLICABLE
    ):
        case.child_protection = ChildProtection.GUARDIAN_REQUESTED
        case.save(update_fields=["child_protection", "updated_at"])
        _record_child_protection_started(case, actor=actor)
    audit.record(
        actor=actor,
        action="cases.person_identity_updated",
        target=person,
        data={"age_band": person.age_band, "presumed_child": person.presumed_child},
    )
    return person


def photo_type(content: bytes) -> str | None:
    """Return the photo's content type recognised by its first bytes, or None."""
    for content_type, magic in PHOTO_TYPES.items():
        if content.startswith(magic):
            return content_type
    return None


@transaction.atomic(durable=True)
def person_set_photo(
    *, actor: User, case_id: UUID, content: bytes | None, content_type: str
) -> Person:
    """Store (or replace) the person's photo, sealed; ``content=None`` removes it.

    The photo must be a JPEG or PNG by its content, and ``content_type`` (what
    the client declares; ignored on removal) must agree; at most
    :data:`MAX_PHOTO_BYTES`. The image never goes into the timeline or the
    audit entry.

    Raises:
        CaseNotFound, CaseRoleRequired (legal-track-only roles may not edit),
        CaseInvalidInput (not a JPEG or PNG, or too large), PersonErased.
    """
    case = _locked_case(case_id)
    access = _access_or_404(actor, case)
    if access.legal_only:
        raise CaseRoleRequired(_("Your role on this case does not allow editing."))
    _require_live_person(case)
    person = Person.objects.select_for_update().get(pk=case.person_id)
    if content is None:
        if person.sealed_photo is None:
            return person
        person.sealed_photo = None
        person.photo_content_type = ""
    else:
        if len(content) > MAX_PHOTO_BYTES:
            raise CaseInvalidInput(
                _("The photo is larger than %(n)d MiB.")
                % {"n": MAX_PHOTO_BYTES // (1024 * 1024)},
                details={"field": "photo"},
            )
        detected = photo_type(content)
        declared = content_type.split(";")[0].strip().lower()
        declared = PHOTO_TYPE_ALIASES.get(declared, declared)
        if detected is None or declared != detected:
            raise CaseInvalidInput(
                _("The photo must be a JPEG or PNG image."),
                details={"field": "photo"},
            )
        person.sealed_photo = crypto.seal_for(
            person.data_key_id, content, context=person.photo_context()
        )
        person.photo_content_type = detected
    person.save(update_fields=["sealed_photo", "photo_content_type", "updated_at"])
    _event(case, actor=actor, kind="person.photo_updated")
    audit.record(
        actor=actor,
        action="cases.person_photo_updated",
        target=person,
        data={
            "case": str(case.pk),
            "removed": content is None,
            "content_type": person.photo_content_type,
        },
    )
    return person


# --- tracks ---------------------------------------------------------------------------


def move_track(
    *,
    actor: User,
    case: Case,
    access: CaseAccess,
    track: str,
    target: str,
    reason: str,
    generic: bool = False,
    code: str = "",
) -> Case:
    """Move ``track`` of an already locked ``case`` (inner helper for services).

    Later services (screening, identification decision, return…) add their
    guards, then call this to record the move, the timeline event and the audit.
    With ``generic`` (the generic :func:`case_move`), a target the track marks
    ``guarded`` is refused: its dedicated service must make it. ``code`` is a
    short non-personal outcome code kept in clear on the event (e.g. why the
    assistance was closed), for statistics and the SOP engine.

    Raises:
        TransitionNotAllowed, CaseRoleRequired.
    """
    definition = TRACKS.get(track)
    if definition is None:
        raise CaseInvalidInput(_("Unknown track."), details={"field": "track"})
    if target not in definition.states.values:
        raise CaseInvalidInput(_("Unknown state."), details={"field": "target"})
    current = case.state_of(track)
    if not case.can_move(track, target):
        raise TransitionNotAllowed(
            _("%(track)s cannot move from “%(a)s” to “%(b)s”.")
            % {
                "track": definition.label,
                "a": definition.states(current).label,
                "b": definition.states(target).label,
            },
            details={"track": track, "from": current, "to": target},
        )
    allowed_roles = definition.roles_for(target)
    if not (access.roles & allowed_roles):
        raise CaseRoleRequired(
            _("Only these roles on the case may do this: %(roles)s.")
            % {"roles": ", ".join(str(Role(r).label) for r in sorted(allowed_roles))},
            details={"allowed_roles": sorted(allowed_roles)},
        )
    if generic and target in definition.guarded:
        raise TransitionNotAllowed(
            _(
                "This change has its own form, which checks what the procedure "
                "requires."
            ),
            details={"track": track, "to": target, "reason": "dedicated_service"},
        )
    reason = reason.strip()
    if reason and case.person.is_erased:
        raise PersonErased(
            _("The reason cannot be recorded after erasure; leave it empty."),
            details={"field": "reason"},
        )
    setattr(case, definition.field, target)
    case.save(update_fields=[definition.field, "updated_at"])
    if (
        track == "reflection"
        and target == Reflection.INTERNATIONAL_PROTECTION
        and not case.person.asylum_applicant
    ):
        # Entering the protection procedure is an asylum application: it closes
        # the origin country's identity check for good (SOPS §6.5 rule 6).
        Person.objects.filter(pk=case.person_id).update(asylum_applicant=True)
        case.person.asylum_applicant = True
        _event(case, actor=actor, kind="sop1.asylum_application_recorded")
    _event(
        case,
        actor=actor,
        kind="case.track_moved",
        track=track,
        from_state=current,
        to_state=target,
        visibility=TRACK_VISIBILITY.get(track, Visibility.TEAM),
        detail=reason,
        code=code,
    )
    audit.record(
        actor=actor,
        action="cases.track_moved",
        target=case,
        data={"track": track, "from": current, "to": target},
    )
    return case


@transaction.atomic(durable=True)
def case_move(
    *, actor: User, case_id: UUID, track: str, target: str, reason: str = ""
) -> Case:
    """Move one track of a case to ``target`` if the track's rules allow it.

    Allowed moves and the roles that may make them are data
    (:data:`trm.cases.tracks.TRACKS`). Moves that carry their own guards (an
    identification decision, a return) get dedicated services in later SOPs.

    Raises:
        CaseNotFound, TransitionNotAllowed, CaseRoleRequired, CaseInvalidInput.
    """
    case = _locked_case(case_id)
    access = _access_or_404(actor, case)
    return move_track(
        actor=actor,
        case=case,
        access=access,
        track=track,
        target=target,
        reason=reason,
        generic=True,
    )


@transaction.atomic(durable=True)
def case_close(*, actor: User, case_id: UUID, reason: str, note: str = "") -> Case:
    """Close a case with a reason (HTCDS cas_Status becomes Closed/ClosedReferred).

    Raises:
        CaseNotFound, CaseRoleRequired (case manager or NCP only),
        CaseInvalidInput (unknown or missing reason), TransitionNotAllowed.
    """
    case = _locked_case(case_id)
    access = _access_or_404(actor, case)
    if not access.manages:
        raise CaseRoleRequired(
            _("Only the case manager or the national contact point closes a case.")
        )
    if reason not in ClosureReason.values:
        raise CaseInvalidInput(
            _("Choose why the case is closed."), details={"field": "reason"}
        )
    if case.is_closed:
        raise TransitionNotAllowed(_("The case is already closed."))
    note = note.strip()
    if note and case.person.is_erased:
        raise PersonErased(
            _("The note cannot be recorded after erasure; leave it empty."),
            details={"field": "note"},
        )
    case.closed_at = timezone.now()
    case.closure_reason = reason
    fields = ["closed_at", "closure_reason", "updated_at"]
    if case.assistance != Assistance.CLOSED:
        case.assistance = Assistance.CLOSED
        fields.append("assistance")
    case.save(update_fields=fields)
    # The closing shows in the case header to the whole team; the note is part
    # of the assistance record and stays away from legal-track-only roles.
    _event(
        case,
        actor=actor,
        kind="case.closed",
        visibility=Visibility.ASSISTANCE_ONLY if note else Visibility.TEAM,
        detail=note,
    )
    audit.record(
        actor=actor, action="cases.case_closed", target=case, data={"reason": reason}
    )
    return case


# --- team ---------------------------------------------------------------------


@transaction.atomic(durable=True)
def case_team_add(
    *, actor: User, case_id: UUID, user_id: int, role: str
) -> CaseTeamMember:
    """Add a user to the case team in one of the roles they hold.

    Only roles that work on cases (:data:`~trm.cases.access.CASE_ROLES`) join a
    team: an auditor or a node administrator on a team would read its content.
    The case manager or NCP changes the team; while a case has no case manager,
    any team member may hand it over by adding one (SOP 1: a first contact
    point opens the case, a case manager takes it on).

    Raises:
        CaseNotFound, CaseRoleRequired (actor may not change the team),
        CaseInvalidInput (unknown user, a role they do not hold, or a role
        that does not work on cases).
    """
    case = _locked_case(case_id)
    access = _access_or_404(actor, case)
    if not access.manages and not (
        role == Role.CASE_MANAGER and may_hand_over(access, case)
    ):
        raise CaseRoleRequired(
            _("Only the case manager or the national contact point changes the team.")
        )
    if role not in CASE_ROLES:
        raise CaseInvalidInput(
            _("Only roles that work on cases may be on a case team."),
            details={"field": "role"},
        )
    member = User.objects.filter(pk=user_id, is_active=True).first()
    if member is None or role not in member.role_codes():
        raise CaseInvalidInput(
            _("That user does not hold this role."), details={"field": "user"}
        )
    entry, created = CaseTeamMember.objects.get_or_create(
        case=case, user=member, defaults={"role": role, "added_by": actor}
    )
    if not created:
        raise CaseInvalidInput(
            _("That user is already on the case team."), details={"field": "user"}
        )
    _event(case, actor=actor, kind="case.team_added")
    audit.record(
        actor=actor,
        action="cases.team_added",
        target=case,
        data={"user": member.pk, "role": role},
    )
    return entry


@transaction.atomic(durable=True)
def case_team_remove(*, actor: User, case_id: UUID, user_id: int) -> None:
    """Remove a user from the case team (the last case manager cannot be removed).

    Raises:
        CaseNotFound, CaseRoleRequired, CaseInvalidInput.
    """
    case = _locked_case(case_id)
    access = _access_or_404(actor, case)
    if not access.manages:
        raise CaseRoleRequired(
            _("Only the case manager or the national contact point changes the team.")
        )
    entry = CaseTeamMember.objects.filter(case=case, user_id=user_id).first()
    if entry is None:
        raise CaseInvalidInput(_("That user is not on the case team."))
    managers = CaseTeamMember.objects.filter(case=case, role=Role.CASE_MANAGER)
    if entry.role == Role.CASE_MANAGER and managers.count() == 1:
        raise CaseInvalidInput(
            _("Add another case manager before removing the last one.")
        )
    entry.delete()
    _event(case, actor=actor, kind="case.team_removed")
    audit.record(
        actor=actor, action="cases.team_removed", target=case, data={"user": user_id}
    )


# --- notes --------------------------------------------------------------------


@transaction.atomic(durable=True)
def case_note_add(
    *, actor: User, case_id: UUID, text: str, visibility: str = Visibility.TEAM
) -> CaseNote:
    """Add a note, sealed under the person's data key.

    Raises:
        CaseNotFound, CaseInvalidInput (empty, too long, unknown visibility, or a
        visibility the author may not read), PersonErased.
    """
    case = _locked_case(case_id)
    access = _access_or_404(actor, case)
    _require_live_person(case)
    text = text.strip()
    if not text:
        raise CaseInvalidInput(_("The note is empty."), details={"field": "text"})
    if len(text) > MAX_NOTE_CHARS:
        raise CaseInvalidInput(
            _("A note may hold at most %(n)d characters.") % {"n": MAX_NOTE_CHARS},
            details={"field": "text"},
        )
    if visibility not in Visibility.values or not access.sees(visibility):
        raise CaseInvalidInput(
            _("Choose a visibility you can read yourself."),
            details={"field": "visibility"},
        )
    note = CaseNote(case=case, author=actor, visibility=visibility)
    note.sealed_text = crypto.seal_for(
        case.person.data_key_id, text.encode(), context=note.text_context()
    )
    note.save(force_insert=True)
    _event(case, actor=actor, kind="case.note_added", visibility=visibility)
    audit.record(
        actor=actor,
        action="cases.note_added",
        target=note,
        data={"case": str(case.pk), "visibility": visibility},
    )
    return note


def record_case_event(
    *,
    case: Case,
    actor: User | None,
    kind: str,
    visibility: str = Visibility.TEAM,
    detail: str = "",
    code: str = "",
) -> CaseEvent:
    """Add a timeline event from another app's service (inside its transaction).

    ``kind`` should be one of :data:`trm.sop.vocabulary.EVENTS` so the SOP
    deadline engine can read it; ``code`` is a short non-personal outcome code
    (kept in clear), ``detail`` free text (sealed under the person's key).
    """
    return _event(
        case, actor=actor, kind=kind, visibility=visibility, detail=detail, code=code
    )
