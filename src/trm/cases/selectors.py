"""The only readers of cases and persons. Every read of personal data is audited.

Each selector takes the acting user, applies :mod:`trm.cases.access`, and
answers "no such case" (404) both when the case does not exist and when the
user may not see it, so that existence does not leak.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from trm.accounts.models import Membership, Role, User
from trm.accounts.node_users import local_users_q
from trm.audit import services as audit
from trm.cases.access import (
    CASE_ROLES,
    CaseAccess,
    case_access,
    may_hand_over,
    visible_cases_filter,
)
from trm.cases.errors import CaseInvalidInput, CaseNotFound
from trm.cases.identity import PersonIdentity
from trm.cases.models import (
    Case,
    CaseEvent,
    CaseNote,
    CaseTeamMember,
    Person,
    PersonIndex,
)
from trm.common import keys
from trm.dataprotection import crypto
from trm.dataprotection.normalise import birth_year_key, document_key, name_key


def case_list_for_user(*, user: User, status: str = "open") -> QuerySet[Case]:
    """Return the cases the user may see, newest first.

    Args:
        status: ``"open"``, ``"closed"`` or ``"all"``.
    """
    qs = Case.objects.filter(visible_cases_filter(user)).select_related(
        "person", "lead_organisation"
    )
    if status == "open":
        qs = qs.filter(closed_at__isnull=True)
    elif status == "closed":
        qs = qs.filter(closed_at__isnull=False)
    return qs.order_by("-opened_at", "-pk")


def case_get_for_user(*, user: User, case_id: UUID) -> tuple[Case, CaseAccess]:
    """Return a case and the user's access to it.

    Raises:
        CaseNotFound: no such case, or the user may not see it.
    """
    case = (
        Case.objects.select_related("person", "lead_organisation")
        .filter(pk=case_id)
        .first()
    )
    access = case_access(user, case) if case is not None else None
    if case is None or access is None:
        raise CaseNotFound(_("No such case."))
    return case, access


def _open_identity(
    person: Person, *, key: bytes | Literal["fetch"] | None = "fetch"
) -> PersonIdentity | None:
    """Decrypt the person's identity; ``key`` when already fetched (None: gone)."""
    if person.is_erased or person.sealed_identity is None:
        return None
    try:
        if key == "fetch":
            raw = crypto.unseal_for(
                person.data_key_id,
                person.sealed_identity,
                context=person.identity_context(),
            )
        elif key is None:
            return None
        else:
            raw = keys.aead_open(
                key, person.sealed_identity, context=person.identity_context()
            )
    except crypto.KeyDestroyed:
        return None
    return PersonIdentity.model_validate_json(raw)


def person_identity_for_user(*, user: User, case: Case) -> PersonIdentity | None:
    """Return the decrypted identity of the case's person (None once erased).

    Audited as ``cases.person_read``. The caller must have obtained ``case``
    from :func:`case_get_for_user` or :func:`case_list_for_user`.

    Raises:
        CaseNotFound: the user may not see the case.
    """
    if case_access(user, case) is None:
        raise CaseNotFound(_("No such case."))
    with transaction.atomic():
        audit.record(actor=user, action="cases.person_read", target=case.person)
    return _open_identity(case.person)


def person_photo_for_user(*, user: User, case: Case) -> tuple[bytes, str] | None:
    """Return the decrypted photo of the case's person and its content type.

    None when there is no photo or the person was erased. Audited as
    ``cases.photo_read`` (only when there is a photo to read).

    Raises:
        CaseNotFound: the user may not see the case.
    """
    if case_access(user, case) is None:
        raise CaseNotFound(_("No such case."))
    person = case.person
    if person.is_erased or person.sealed_photo is None:
        return None
    with transaction.atomic():
        audit.record(actor=user, action="cases.photo_read", target=person)
    try:
        raw = crypto.unseal_for(
            person.data_key_id,
            person.sealed_photo,
            context=person.photo_context(),
        )
    except crypto.KeyDestroyed:
        return None
    return raw, person.photo_content_type


def display_names_for_user(*, user: User, cases: Iterable[Case]) -> dict[UUID, str]:
    """Return case id → the person's full name for cases the user may see.

    One audit entry (``cases.person_list_read``) records which cases were shown.
    Erased persons and unnamed persons get ``""``.
    """
    candidates = list(cases)
    # One query for access and one keystore query for keys, whatever the page size.
    allowed = set(
        Case.objects.filter(
            visible_cases_filter(user), pk__in=[c.pk for c in candidates]
        ).values_list("pk", flat=True)
    )
    visible = [c for c in candidates if c.pk in allowed]
    if not visible:
        return {}
    with transaction.atomic():
        audit.record(
            actor=user,
            action="cases.person_list_read",
            target_type="cases.case",
            target_id=f"{len(visible)} cases",
            data={"cases": sorted(str(c.pk) for c in visible)},
        )
    data_keys = crypto.data_keys(
        {c.person.data_key_id for c in visible if not c.person.is_erased}
    )
    names: dict[UUID, str] = {}
    for case in visible:
        identity = _open_identity(
            case.person, key=data_keys.get(case.person.data_key_id)
        )
        names[case.pk] = identity.full_name() if identity else ""
    return names


#: A blind-index key matching more persons than this is not a search any more.
MAX_SEARCH_PERSONS = 500


def case_search(
    *,
    user: User,
    name: str = "",
    birth_year: int | None = None,
    document_number: str = "",
) -> QuerySet[Case]:
    """Find visible cases by exact blind-index match.

    Give a name (with or without a birth year) or a document number. Matching
    ignores case, diacritics, script (Latin/Cyrillic) and word order
    (:mod:`trm.dataprotection.normalise`). Audited as ``cases.person_searched``
    with a digest of the query, never the query itself.

    Raises:
        CaseInvalidInput: neither a name nor a document number was given, or the
            birth year is out of range.
    """
    name_norm = name_key(name) if name else ""
    doc_norm = document_key(document_number) if document_number else ""
    if not name_norm and not doc_norm:
        raise CaseInvalidInput(
            _("Enter a name or a document number to search."),
            details={"field": "name"},
        )
    if birth_year is not None and not 1900 <= birth_year <= datetime.now().year:  # noqa: DTZ005
        raise CaseInvalidInput(
            _("The birth year is not plausible."), details={"field": "birth_year"}
        )
    if doc_norm:
        kind, value = (
            PersonIndex.Kind.DOCUMENT,
            crypto.blind_index("document", doc_norm),
        )
    elif birth_year is not None:
        kind = PersonIndex.Kind.NAME_BIRTH_YEAR
        value = crypto.blind_index(
            "name_year", f"{name_norm}|{birth_year_key(birth_year)}"
        )
    else:
        kind, value = PersonIndex.Kind.NAME, crypto.blind_index("name", name_norm)
    with transaction.atomic():
        audit.record(
            actor=user,
            action="cases.person_searched",
            data={"kind": kind, "query": value},
        )
    # The blind index is the selective part: resolve it first, so the planner
    # drives the case query from these few persons (a subquery here lets SQLite
    # scan every linked case for a national contact point instead).
    persons = list(
        PersonIndex.objects.filter(kind=kind, digest=value).values_list(
            "person_id", flat=True
        )[:MAX_SEARCH_PERSONS]
    )
    return case_list_for_user(user=user, status="all").filter(person_id__in=persons)


@dataclass(frozen=True)
class NoteView:
    """A note as shown to a user: decrypted text, or None once erased."""

    note: CaseNote
    text: str | None


def case_notes_for_user(*, user: User, case: Case) -> list[NoteView]:
    """Return the notes of ``case`` the user may read, decrypted, newest first.

    Notes marked "assistance only" never reach a legal-track-only role.
    Audited as ``cases.notes_read``.

    Raises:
        CaseNotFound: the user may not see the case.
    """
    access = case_access(user, case)
    if access is None:
        raise CaseNotFound(_("No such case."))
    notes = list(
        CaseNote.objects.filter(case=case, visibility__in=access.visible_levels())
        .select_related("author")
        .order_by("-created_at")
    )
    if notes:
        with transaction.atomic():
            audit.record(
                actor=user,
                action="cases.notes_read",
                target=case,
                data={"notes": [str(n.pk) for n in notes]},
            )
    views = []
    for note in notes:
        try:
            text = crypto.unseal_for(
                case.person.data_key_id, note.sealed_text, context=note.text_context()
            ).decode()
        except crypto.KeyDestroyed:
            text = None
        views.append(NoteView(note=note, text=text))
    return views


@dataclass(frozen=True)
class EventView:
    """A timeline event as shown to a user."""

    event: CaseEvent
    detail: str | None


def case_timeline_count_for_user(*, user: User, case: Case) -> int:
    """Return how many timeline events the user may see (a count, not audited:
    it reads no event).

    Raises:
        CaseNotFound: the user may not see the case.
    """
    access = case_access(user, case)
    if access is None:
        raise CaseNotFound(_("No such case."))
    return CaseEvent.objects.filter(
        case=case, visibility__in=access.visible_levels()
    ).count()


def case_timeline_for_user(
    *, user: User, case: Case, limit: int = 200
) -> list[EventView]:
    """Return the newest ``limit`` timeline events the user may see.

    Events carry reasons and notes (personal data): audited as
    ``cases.timeline_read``.

    Raises:
        CaseNotFound: the user may not see the case.
    """
    access = case_access(user, case)
    if access is None:
        raise CaseNotFound(_("No such case."))
    events = list(
        CaseEvent.objects.filter(case=case, visibility__in=access.visible_levels())
        .select_related("actor", "actor__organisation")
        .order_by("-at")[:limit]
    )
    if events:
        with transaction.atomic():
            audit.record(
                actor=user,
                action="cases.timeline_read",
                target=case,
                data={"events": [str(e.pk) for e in events]},
            )
    views = []
    for event in events:
        detail = None
        if event.sealed_detail:
            try:
                detail = crypto.unseal_for(
                    case.person.data_key_id,
                    event.sealed_detail,
                    context=event.detail_context(),
                ).decode()
            except crypto.KeyDestroyed:
                detail = None
        views.append(EventView(event=event, detail=detail))
    return views


def case_team_for_user(*, user: User, case: Case) -> list[CaseTeamMember]:
    """Return the members of the case team, longest-standing first.

    Raises:
        CaseNotFound: the user may not see the case.
    """
    if case_access(user, case) is None:
        raise CaseNotFound(_("No such case."))
    return list(
        CaseTeamMember.objects.filter(case=case)
        .select_related("user", "user__organisation")
        .order_by("added_at", "pk")
    )


@dataclass(frozen=True)
class TeamCandidate:
    """A user who could join the case team, in one role they hold."""

    user: User
    role: str


def case_team_candidates_for_user(
    *, user: User, case: Case, limit: int = 500
) -> list[TeamCandidate]:
    """Return the users (with a role each) ``user`` may add to the team of ``case``.

    Only active users of this node in roles that work on cases, not yet on
    the team (never a node user nor a user of a peer node's organisation:
    :func:`trm.cases.services.require_local_user`). A
    member of a team without a case manager is offered case managers only
    (the hand-over); empty for any other user who does not manage the case.

    Raises:
        CaseNotFound: the user may not see the case.
    """
    access = case_access(user, case)
    if access is None:
        raise CaseNotFound(_("No such case."))
    if access.manages:
        roles: Iterable[str] = CASE_ROLES
    elif may_hand_over(access, case):
        roles = [Role.CASE_MANAGER]
    else:
        return []
    on_team = CaseTeamMember.objects.filter(case=case).values("user_id")
    memberships = (
        Membership.objects.filter(user__is_active=True, role__in=roles)
        .filter(local_users_q("user__"))
        .exclude(user_id__in=on_team)
        .select_related("user", "user__organisation")
        .order_by(
            "user__organisation__name",
            "user__last_name",
            "user__first_name",
            "user__username",
            "role",
        )[:limit]
    )
    return [TeamCandidate(user=m.user, role=m.role) for m in memberships]
