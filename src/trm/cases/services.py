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
from trm.accounts.node_users import is_local_user
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
    NotALocalUser,
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
from trm.cases.tracks import (
    TRACKS,
    Assistance,
    ChildProtection,
    Reflection,
    TransnationalLink,
)
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
        automatic=actor is None,
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
        CaseInvalidInput (unknown or missing reason), TransitionNotAllowed
        (already closed, or the person is in transit: SOP 4).
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
    if case.assistance != Assistance.CLOSED and not TRACKS["assistance"].allowed(
        case.assistance, Assistance.CLOSED
    ):
        # The person is on the journey home (SOP 4): the arrival, or a
        # transit incident, is recorded first — a closed case could not
        # receive the arrival, and its missed-handover alert would still fire.
        raise TransitionNotAllowed(
            _(
                "The case cannot be closed now (assistance: %(state)s): record "
                "the arrival or a transit incident first."
            )
            % {"state": Assistance(case.assistance).label},
            details={"from": case.assistance},
        )
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
    # A case linked abroad: tell every peer of its conversation (SOPS §6.4 M11).
    from trm.cases.messages import announce_closure

    announce_closure(case=case, actor=actor)
    return case


# --- team ---------------------------------------------------------------------


def require_local_user(user: User) -> None:
    """Refuse ``user`` as a case-team member unless they work on this node.

    A node user stands for a peer node's organisation in the audit log and
    cannot sign in; a peer organisation's user works the linked case on its
    own node. Neither is ever on this node's case teams (docs/exchange.md).

    Raises:
        NotALocalUser
    """
    if not is_local_user(user):
        raise NotALocalUser(
            _(
                "Only people working on this node can join a case team; a peer "
                "node's organisation works on its own linked case."
            ),
            details={"field": "user"},
        )


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
        that does not work on cases), NotALocalUser (a node user or a user of
        a peer node's organisation: peers work their own linked case).
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
    member = (
        User.objects.filter(pk=user_id, is_active=True)
        .select_related("organisation")
        .first()
    )
    if member is None or role not in member.role_codes():
        raise CaseInvalidInput(
            _("That user does not hold this role."), details={"field": "user"}
        )
    require_local_user(member)
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


# --- cases linked across a border (the exchange) ----------------------------------

#: A shared case reference (SOPS §6.4 ``trm_case_ref``): 1–64 letters, digits
#: and ``. _ -``. This node makes ``<node id>-<12 random hex>``.
TRM_CASE_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,63}")


def new_trm_case_ref() -> str:
    """Return a fresh shared case reference ``<TRM_NODE_ID>-<random 12 hex>``."""
    import secrets

    return f"{settings.TRM_NODE_ID[:51]}-{secrets.token_hex(6)}"


def _clean_trm_case_ref(reference: str) -> str:
    reference = reference.strip()
    if not reference or len(reference) > 64 or not TRM_CASE_REF.fullmatch(reference):
        raise CaseInvalidInput(
            _("Not a shared case reference."), details={"field": "trm_case_ref"}
        )
    return reference


def ensure_trm_case_ref(*, actor: User | None, case: Case) -> str:
    """Give a locked ``case`` a shared case reference if it has none (inside the
    caller's transaction) and return it."""
    if not case.trm_case_ref:
        case.trm_case_ref = new_trm_case_ref()
        case.save(update_fields=["trm_case_ref", "updated_at"])
        audit.record(
            actor=actor,
            action="cases.trm_case_ref_assigned",
            target=case,
            data={"trm_case_ref": case.trm_case_ref},
        )
    return case.trm_case_ref


def set_transnational(
    *, actor: User | None, case: Case, target: str, code: str = ""
) -> Case:
    """Move the transnational track of a locked ``case`` on behalf of the
    exchange (a message applied, an acknowledgement received): no role check,
    the message's own checks stand for it. Records the move like
    :func:`move_track` (timeline event, audit); a no-op when already there.

    Raises:
        TransitionNotAllowed: the track cannot reach ``target`` from its state.
    """
    current = case.transnational
    if current == target:
        return case
    definition = TRACKS["transnational"]
    direct: dict[str, set[str]] = {
        # A peer's alert or acknowledgement links a case directly.
        TransnationalLink.LINKED: {
            TransnationalLink.NO_LINK,
            TransnationalLink.NCP_NOTIFIED,
            TransnationalLink.UNLINKED,
        },
        # A peer's closure unlinks it.
        TransnationalLink.UNLINKED: {TransnationalLink.NCP_NOTIFIED},
    }
    if case.is_closed and target != TransnationalLink.UNLINKED:
        raise TransitionNotAllowed(
            _("The case is closed."), details={"track": "transnational", "to": target}
        )
    if not (
        definition.allowed(current, target) or current in direct.get(target, set())
    ):
        raise TransitionNotAllowed(
            _("%(track)s cannot move from “%(a)s” to “%(b)s”.")
            % {
                "track": definition.label,
                "a": definition.states(current).label,
                "b": definition.states(target).label,
            },
            details={"track": "transnational", "from": current, "to": target},
        )
    case.transnational = target
    case.save(update_fields=["transnational", "updated_at"])
    _event(
        case,
        actor=actor,
        kind="case.track_moved",
        track="transnational",
        from_state=current,
        to_state=target,
        code=code,
    )
    audit.record(
        actor=actor,
        action="cases.track_moved",
        target=case,
        data={"track": "transnational", "from": current, "to": target},
    )
    return case


@transaction.atomic
def case_open_linked(
    *,
    actor: User,
    organisation_id: UUID,
    trm_case_ref: str,
    identity: PersonIdentity | None = None,
    gender: str = Gender.NOT_SPECIFIED_UNKNOWN,
    age_band: str = AgeBand.UNKNOWN,
    may_be_child: bool = False,
    citizenships: Iterable[str] = (),
    languages: Iterable[str] = (),
) -> Case:
    """Open this node's case linked to a case on a peer node (SOPS §6.4 M1).

    Called by message handlers inside the inbox's transaction (so it is not
    ``durable``): ``actor`` is a node user standing for the peer's
    organisation (:mod:`trm.accounts.node_users`), so it is
    neither required to belong to the lead organisation nor put on the team.
    The case is led by this node's organisation ``organisation_id``, carries
    the shared reference ``trm_case_ref`` and starts with the transnational
    track "linked" (the national contact point sees it through node policy and
    builds the team). Without ``identity`` the person has no identifying data
    at all (nothing is invented); a child, or a person who ``may_be_child``,
    is presumed a child and the child-protection track starts (rule 3).

    Raises:
        CaseInvalidInput: unknown or inactive lead organisation, a reference
            that is not one, an unknown code, or a case already linked under
            that reference on this node (``details["reason"]`` "already_linked").
    """
    reference = _clean_trm_case_ref(trm_case_ref)
    lead = Organisation.objects.filter(
        pk=organisation_id, is_active=True, home_node=""
    ).first()
    if lead is None:
        raise CaseInvalidInput(
            _("Choose the lead organisation."), details={"field": "lead_organisation"}
        )
    age_band = age_band or AgeBand.UNKNOWN
    countries, langs = _clean_attributes(
        gender=gender, age_band=age_band, citizenships=citizenships, languages=languages
    )
    if Case.objects.filter(trm_case_ref=reference).exists():
        raise CaseInvalidInput(
            _("A case is already linked under this shared reference."),
            details={"field": "trm_case_ref", "reason": "already_linked"},
        )
    now = timezone.now()
    identity = (identity or PersonIdentity()).checked()
    _check_birth_date(identity.birth_date, now.date())
    if identity.birth_date is not None and age_band == AgeBand.UNKNOWN:
        age_band = AgeBand.for_age(_age_in_years(identity.birth_date, now.date()))
    presumed_child = AgeBand(age_band).is_child or may_be_child
    person = Person(
        data_key_id=crypto.create_data_key(),
        gender=gender,
        age_band=age_band,
        age_uncertain=identity.birth_date_is_estimate,
        presumed_child=presumed_child,
        citizenships=countries,
        languages=langs,
    )
    person.sealed_identity = _seal_identity(person, identity)
    person.save(force_insert=True)
    _reindex(person, identity)
    case = Case(
        number=_next_case_number(now),
        person=person,
        lead_organisation=lead,
        opened_at=now,
        opened_by=actor,
        trm_case_ref=reference,
        transnational=TransnationalLink.LINKED,
        child_protection=(
            ChildProtection.GUARDIAN_REQUESTED
            if presumed_child
            else ChildProtection.NOT_APPLICABLE
        ),
    )
    case.save(force_insert=True)
    _event(case, actor=actor, kind="case.opened")
    _event(
        case,
        actor=actor,
        kind="case.linked",
        track="transnational",
        from_state=TransnationalLink.NO_LINK,
        to_state=TransnationalLink.LINKED,
    )
    if presumed_child:
        _record_child_protection_started(case, actor=actor)
    audit.record(
        actor=actor,
        action="cases.case_opened_linked",
        target=case,
        data={
            "number": case.number,
            "lead": str(lead.pk),
            "trm_case_ref": reference,
            "identity": identity != PersonIdentity(),
        },
    )
    return case


# --- alerts to a counterpart node (SOPS §6.4 M1, M14) -------------------------------

#: What a case alert may ask the counterpart for (SOPS §6.4 M1).
ALERT_REQUESTS = (
    "identity_check",
    "family_risk_information",
    "return_planning",
    "services",
)
ALERT_URGENCIES = ("normal", "urgent")
#: Who sends an urgent safety alert (M14: any NCP or service provider; the
#: case manager, guardian and first contact point meet the person too).
SAFETY_ALERT_ROLES = frozenset(
    {
        Role.NATIONAL_CONTACT_POINT,
        Role.CASE_MANAGER,
        Role.SERVICE_PROVIDER,
        Role.GUARDIAN,
        Role.FIRST_CONTACT_POINT,
    }
)
MAX_ALERT_REASON_CHARS = 2000


def _clean_choices(
    values: Iterable[str], allowed: Iterable[str], field: str
) -> list[str]:
    chosen = list(dict.fromkeys(v for v in values if v))
    allowed_set = set(allowed)
    if not chosen or any(v not in allowed_set for v in chosen):
        raise CaseInvalidInput(_("Choose from the list."), details={"field": field})
    return chosen


@transaction.atomic(durable=True)
def case_alert_send(
    *,
    actor: User,
    case_id: UUID,
    peer_node: str,
    urgency: str,
    requests: Iterable[str],
) -> Case:
    """Alert the counterpart node of a case with a link abroad (SOPS §6.4 M1).

    Only a national contact point sends it (on the team, or seeing the case
    because it has a link abroad). The alert is pseudonymous: the shared
    reference (given now if the case has none), sex, age band, presumed child,
    claimed nationality, exploitation type, urgency, what is asked, and the
    sending organisation with the contact's role — never a name. The
    transnational track moves to "counterpart alerted" (through "national
    contact point notified" when it had no link); a case already linked keeps
    its state. The counterpart's ``case.alert.ack`` links it.

    Raises:
        CaseNotFound, CaseRoleRequired (not a national contact point),
        CaseInvalidInput (unknown urgency or request; that node already
        alerted for this case), TransitionNotAllowed (closed case),
        PeerUnavailable (no such active peer).
    """
    from trm.cases import messages
    from trm.exchange import services as exchange

    case = _locked_case(case_id)
    access = _access_or_404(actor, case)
    if Role.NATIONAL_CONTACT_POINT not in access.roles:
        raise CaseRoleRequired(
            _("Only the national contact point alerts a counterpart node."),
            details={"allowed_roles": [Role.NATIONAL_CONTACT_POINT]},
        )
    if case.is_closed:
        raise TransitionNotAllowed(_("The case is closed."))
    if urgency not in ALERT_URGENCIES:
        raise CaseInvalidInput(_("Choose the urgency."), details={"field": "urgency"})
    asked = _clean_choices(requests, ALERT_REQUESTS, "requests")
    peer = exchange.active_peer(peer_node)
    if case.trm_case_ref and messages.alerted(case, peer.node_id):
        raise CaseInvalidInput(
            _("That node was already alerted about this case."),
            details={"field": "peer_node", "reason": "already_alerted"},
        )
    current = case.transnational
    if current == TransnationalLink.NO_LINK:
        move_track(
            actor=actor,
            case=case,
            access=access,
            track="transnational",
            target=TransnationalLink.NCP_NOTIFIED,
            reason="",
        )
    if case.transnational in {
        TransnationalLink.NCP_NOTIFIED,
        TransnationalLink.UNLINKED,
    }:
        move_track(
            actor=actor,
            case=case,
            access=access,
            track="transnational",
            target=TransnationalLink.COUNTERPART_ALERTED,
            reason="",
        )
    reference = ensure_trm_case_ref(actor=actor, case=case)
    message = exchange.enqueue(
        to_node=peer.node_id,
        type=messages.CASE_ALERT,
        payload=messages.case_alert_payload(
            case, urgency=urgency, requests=asked, organisation=actor.organisation
        ),
        legal_basis=exchange.PSEUDONYMOUS,
        conversation=reference,
        reply_by=timezone.now() + messages.answer_time(urgency),
        case_id=case.pk,
        actor=actor,
    )
    _event(case, actor=actor, kind="case.alert_sent", code=urgency)
    audit.record(
        actor=actor,
        action="cases.alert_sent",
        target=case,
        data={
            "to": peer.node_id,
            "urgency": urgency,
            "requests": asked,
            "message": str(message.msg_id),
        },
    )
    return case


@transaction.atomic(durable=True)
def safety_alert_send(
    *,
    actor: User,
    case_id: UUID,
    peer_node: str,
    nature: str,
    reason: str,
    actions_requested: Iterable[str],
    people_at_risk: Iterable[str] = (),
) -> Case:
    """Send an urgent safety alert to a counterpart node (SOPS §6.4 M14).

    Allowed without the person's consent when life or safety is at risk (legal
    basis ``vital_interest``, the one exception the message type declares):
    the reason is therefore required; it travels as the description of the
    risk (category ``risk`` only), is kept sealed on the timeline and its
    digest audited. The track does not move.

    Raises:
        CaseNotFound, CaseRoleRequired, CaseInvalidInput (no reason, unknown
        nature, action or person at risk), TransitionNotAllowed (closed case),
        PeerUnavailable, InvalidText.
    """
    import hashlib

    from trm.cases import messages
    from trm.common.text import clean_multiline_text, has_visible_text
    from trm.exchange import services as exchange

    case = _locked_case(case_id)
    access = _access_or_404(actor, case)
    if not (access.roles & SAFETY_ALERT_ROLES):
        raise CaseRoleRequired(
            _("Only these roles on the case may do this: %(roles)s.")
            % {
                "roles": ", ".join(
                    str(Role(r).label) for r in sorted(SAFETY_ALERT_ROLES)
                )
            },
            details={"allowed_roles": sorted(SAFETY_ALERT_ROLES)},
        )
    if access.via_policy and Role.NATIONAL_CONTACT_POINT not in access.roles:
        raise CaseRoleRequired(_("Join the case team to do this."))
    if case.is_closed:
        raise TransitionNotAllowed(_("The case is closed."))
    if nature not in messages.SAFETY_NATURES:
        raise CaseInvalidInput(
            _("Choose the nature of the risk."), details={"field": "nature"}
        )
    actions = _clean_choices(
        actions_requested, messages.SAFETY_ACTIONS, "actions_requested"
    )
    at_risk = list(dict.fromkeys(people_at_risk))
    if any(p not in messages.PEOPLE_AT_RISK for p in at_risk):
        raise CaseInvalidInput(
            _("Choose from the list."), details={"field": "people_at_risk"}
        )
    reason = (reason or "").strip()
    if not has_visible_text(reason):
        raise CaseInvalidInput(
            _(
                "Say why life or safety is at risk: an alert without consent needs "
                "its reason recorded."
            ),
            details={"field": "reason"},
        )
    reason = clean_multiline_text(
        reason, field="reason", max_length=MAX_ALERT_REASON_CHARS
    )
    peer = exchange.active_peer(peer_node)
    reference = ensure_trm_case_ref(actor=actor, case=case)
    message = exchange.enqueue(
        to_node=peer.node_id,
        type=messages.SAFETY_ALERT,
        payload=messages.safety_alert_payload(
            case,
            nature=nature,
            description=reason,
            actions=actions,
            people_at_risk=at_risk,
            organisation=actor.organisation,
            role=sorted(access.roles & SAFETY_ALERT_ROLES)[0],
        ),
        legal_basis=exchange.VITAL_INTEREST,
        categories=["risk"],
        conversation=reference,
        case_id=case.pk,
        actor=actor,
    )
    _event(
        case,
        actor=actor,
        kind="case.safety_alert_sent",
        code=nature,
        detail="" if case.person.is_erased else reason,
    )
    audit.record(
        actor=actor,
        action="cases.safety_alert_sent",
        target=case,
        data={
            "to": peer.node_id,
            "nature": nature,
            "actions": actions,
            "legal_basis": exchange.VITAL_INTEREST,
            "reason_digest": hashlib.sha256(reason.encode()).hexdigest(),
            "message": str(message.msg_id),
        },
    )
    return case


def person_set_received_identity(
    *, actor: User | None, case: Case, identity: PersonIdentity
) -> bool:
    """Give the person of a locked linked ``case`` the identity a peer sent,
    if they have none yet (inner helper for message handlers; no role check:
    the message's consent was checked by its sender and the categories by the
    exchange). Identity entered here is never overwritten. Returns True if it
    was set.

    Raises:
        CaseInvalidInput, InvalidText: the identity does not pass the checks
            every entered identity passes.
    """
    person = Person.objects.select_for_update().get(pk=case.person_id)
    if person.is_erased or person.sealed_identity is None:
        return False
    current = PersonIdentity.model_validate_json(
        crypto.unseal_for(
            person.data_key_id,
            person.sealed_identity,
            context=person.identity_context(),
        )
    )
    if current != PersonIdentity():
        return False
    identity = identity.checked()
    _check_birth_date(identity.birth_date, timezone.now().date())
    person.sealed_identity = _seal_identity(person, identity)
    person.save(update_fields=["sealed_identity", "updated_at"])
    _reindex(person, identity)
    case.person = person
    _event(case, actor=actor, kind="person.identity_received")
    audit.record(
        actor=actor,
        action="cases.person_identity_received",
        target=person,
        data={"case": str(case.pk)},
    )
    return True
