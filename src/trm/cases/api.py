"""API endpoints for cases: list, search, open, detail, person, tracks, notes, team.

Every endpoint calls the same selectors and services as the web pages, so the
same access checks, audit entries and refusals (structured errors with stable
codes) apply. Personal data travels only in request and response bodies, never
in the URL: searching is a POST.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Literal
from uuid import UUID

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from trm.cases import selectors, services
from trm.cases.access import CaseAccess
from trm.cases.errors import CaseInvalidInput, CaseNotFound, PersonErased
from trm.cases.identity import PersonIdentity
from trm.cases.models import Case, CaseNote, CaseTeamMember, Visibility
from trm.cases.photo import photo_response
from trm.cases.tracks import TRACKS
from trm.common.api import request_actor
from trm.common.htcds import Gender
from trm.common.pagination import capped_count

router = Router(tags=["cases"])

MAX_PAGE_SIZE = 200
#: Beyond this the offset no longer fits the database's integer; no list is longer.
MAX_PAGE = 1_000_000


# --- schemas ------------------------------------------------------------------------


class CasesStrictIn(Schema):
    """Request bodies refuse unknown fields: a misspelt field is an error, not lost."""

    model_config = ConfigDict(extra="forbid")


class CaseListQuery(Schema):
    status: Literal["open", "closed", "all"] = "open"
    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)
    with_names: bool = Field(
        False, description="Include the person's name (an audited read)."
    )


class CaseSearchIn(CasesStrictIn):
    name: str = Field("", max_length=200)
    birth_year: int | None = None
    document_number: str = Field("", max_length=60)
    with_names: bool = False
    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class CaseSummaryOut(Schema):
    id: UUID
    number: str
    opened_at: datetime
    closed_at: datetime | None
    lead_organisation_id: UUID
    htcds_status: str
    tracks: dict[str, str]
    person_name: str | None = Field(
        None, description="Only with with_names; empty when unknown or erased."
    )


class CasePage(Schema):
    count: int = Field(description="Matching cases, counted up to 1,000")
    more: bool = Field(
        default=False, description="True when more than 1,000 cases match"
    )
    items: list[CaseSummaryOut]


class CaseOpenIn(CasesStrictIn):
    identity: PersonIdentity
    gender: str = Field(Gender.NOT_SPECIFIED_UNKNOWN, description="HTCDS prs_Gender")
    age_band: str = Field(
        "", description="Derived from the birth date when empty (AgeBand codes)."
    )
    age_uncertain: bool = False
    may_be_child: bool = Field(
        False, description="Signs of minority: the person is presumed a child."
    )
    citizenships: list[str] = Field(default_factory=list, max_length=10)
    languages: list[str] = Field(default_factory=list, max_length=20)
    asylum_applicant: bool = False
    lead_organisation_id: UUID | None = None
    number: str = Field("", max_length=32, description="Generated when empty.")


class OrganisationRef(Schema):
    id: UUID
    name: str


class PersonAttributesOut(Schema):
    """Non-identifying attributes of the person (kept in clear for statistics)."""

    subject_ref: UUID
    gender: str
    age_band: str
    age_uncertain: bool
    presumed_child: bool
    citizenships: list[str]
    languages: list[str]
    asylum_applicant: bool
    erased: bool


class TrackOut(Schema):
    track: str
    label: str
    state: str
    state_label: str
    moves: list[str] = Field(
        description="States this user may move the track to with the generic move "
        "(moves with their own endpoint, e.g. identification, are not listed)."
    )


class TeamMemberOut(Schema):
    user_id: int
    username: str
    organisation: str | None
    role: str
    added_at: datetime


class CaseDetailOut(Schema):
    id: UUID
    number: str
    opened_at: datetime
    closed_at: datetime | None
    closure_reason: str
    lead_organisation: OrganisationRef
    htcds_status: str
    person: PersonAttributesOut
    tracks: list[TrackOut]
    team: list[TeamMemberOut]
    my_roles: list[str]
    via_policy: bool
    manages: bool


class PhotoIn(CasesStrictIn):
    content_type: str = Field(
        max_length=40, description="image/jpeg or image/png (checked by content)."
    )
    data: str = Field(
        # base64 of MAX_PHOTO_BYTES, rounded up to whole 4-character groups.
        max_length=(services.MAX_PHOTO_BYTES + 2) // 3 * 4,
        description="The image, base64; at most 5 MiB decoded.",
    )


class MoveIn(CasesStrictIn):
    track: str
    target: str
    reason: str = Field("", max_length=2000)


class MoveRecordedOut(Schema):
    """The move was recorded, but the case left the caller's sight.

    E.g. a national contact point who moves the transnational track to "no
    link" no longer sees the case.
    """

    recorded: bool = True
    visible: bool = False
    message: str


class CaseCloseIn(CasesStrictIn):
    reason: str = Field(description="ClosureReason code")
    note: str = Field("", max_length=2000)


class NoteIn(CasesStrictIn):
    text: str = Field(max_length=services.MAX_NOTE_CHARS)
    visibility: str = Visibility.TEAM


class NoteOut(Schema):
    id: UUID
    author: str | None
    created_at: datetime
    visibility: str
    text: str | None = Field(description="None once the person was erased.")


class TeamAddIn(CasesStrictIn):
    user_id: int
    role: str


class EventOut(Schema):
    id: UUID
    at: datetime
    actor: str | None
    kind: str
    track: str
    from_state: str
    to_state: str
    visibility: str
    detail: str | None


# --- building answers -------------------------------------------------------------


def _track_states(case: Case) -> dict[str, str]:
    return {name: case.state_of(name) for name in TRACKS}


def _page(
    request: HttpRequest,
    qs: QuerySet[Case],
    *,
    page: int,
    page_size: int,
    with_names: bool,
) -> CasePage:
    count, more = capped_count(qs)
    start = (page - 1) * page_size
    cases = list(qs[start : start + page_size])
    names: dict[UUID, str] = {}
    if with_names and cases:
        names = selectors.display_names_for_user(
            user=request_actor(request), cases=cases
        )
    items = [
        CaseSummaryOut(
            id=case.pk,
            number=case.number,
            opened_at=case.opened_at,
            closed_at=case.closed_at,
            lead_organisation_id=case.lead_organisation_id,
            htcds_status=case.htcds_status(),
            tracks=_track_states(case),
            person_name=names.get(case.pk, "") if with_names else None,
        )
        for case in cases
    ]
    return CasePage(count=count, more=more, items=items)


def _tracks(case: Case, access: CaseAccess) -> list[TrackOut]:
    out = []
    for name, definition in TRACKS.items():
        state = case.state_of(name)
        moves = [
            target
            for target in definition.states.values
            if case.can_move(name, target)
            and target not in definition.guarded
            and access.roles & definition.roles_for(target)
        ]
        out.append(
            TrackOut(
                track=name,
                label=str(definition.label),
                state=state,
                state_label=str(definition.states(state).label),
                moves=moves,
            )
        )
    return out


def _member(entry: CaseTeamMember) -> TeamMemberOut:
    organisation = entry.user.organisation
    return TeamMemberOut(
        user_id=entry.user_id,
        username=entry.user.username,
        organisation=organisation.name if organisation else None,
        role=entry.role,
        added_at=entry.added_at,
    )


def _detail(request: HttpRequest, case_id: UUID) -> CaseDetailOut:
    user = request_actor(request)
    case, access = selectors.case_get_for_user(user=user, case_id=case_id)
    person = case.person
    return CaseDetailOut(
        id=case.pk,
        number=case.number,
        opened_at=case.opened_at,
        closed_at=case.closed_at,
        closure_reason=case.closure_reason,
        lead_organisation=OrganisationRef(
            id=case.lead_organisation.pk, name=case.lead_organisation.name
        ),
        htcds_status=case.htcds_status(),
        person=PersonAttributesOut(
            subject_ref=person.subject_ref,
            gender=person.gender,
            age_band=person.age_band,
            age_uncertain=person.age_uncertain,
            presumed_child=person.presumed_child,
            citizenships=list(person.citizenships),
            languages=list(person.languages),
            asylum_applicant=person.asylum_applicant,
            erased=person.is_erased,
        ),
        tracks=_tracks(case, access),
        team=[_member(m) for m in selectors.case_team_for_user(user=user, case=case)],
        my_roles=sorted(access.roles),
        via_policy=access.via_policy,
        manages=access.manages,
    )


def _note(note: CaseNote, text: str | None) -> NoteOut:
    return NoteOut(
        id=note.pk,
        author=note.author.username if note.author else None,
        created_at=note.created_at,
        visibility=note.visibility,
        text=text,
    )


# --- endpoints --------------------------------------------------------------------


@router.get("", response=CasePage, summary="List the cases I may see")
def case_list(request: HttpRequest, filters: Query[CaseListQuery]) -> CasePage:
    qs = selectors.case_list_for_user(
        user=request_actor(request), status=filters.status
    )
    return _page(
        request,
        qs,
        page=filters.page,
        page_size=filters.page_size,
        with_names=filters.with_names,
    )


@router.post("", response={201: CaseDetailOut}, summary="Open a case")
def case_open(request: HttpRequest, payload: CaseOpenIn) -> Status[CaseDetailOut]:
    case = services.case_open(
        actor=request_actor(request),
        identity=payload.identity,
        gender=payload.gender,
        age_band=payload.age_band,
        age_uncertain=payload.age_uncertain,
        citizenships=payload.citizenships,
        languages=payload.languages,
        asylum_applicant=payload.asylum_applicant,
        may_be_child=payload.may_be_child,
        lead_organisation_id=payload.lead_organisation_id,
        number=payload.number,
    )
    return Status(201, _detail(request, case.pk))


@router.post(
    "/search",
    response=CasePage,
    summary="Find cases by name (and birth year) or document number",
    description=(
        "Exact match on blind indexes, ignoring case, diacritics, script and word "
        "order. The query travels in the body, never in the URL."
    ),
)
def case_search(request: HttpRequest, payload: CaseSearchIn) -> CasePage:
    qs = selectors.case_search(
        user=request_actor(request),
        name=payload.name,
        birth_year=payload.birth_year,
        document_number=payload.document_number,
    )
    return _page(
        request,
        qs,
        page=payload.page,
        page_size=payload.page_size,
        with_names=payload.with_names,
    )


@router.get("/{case_id}", response=CaseDetailOut, summary="A case: tracks and team")
def case_detail(request: HttpRequest, case_id: UUID) -> CaseDetailOut:
    return _detail(request, case_id)


@router.get(
    "/{case_id}/person",
    response=PersonIdentity,
    summary="The person's identity (an audited read)",
)
def person_identity(request: HttpRequest, case_id: UUID) -> PersonIdentity:
    user = request_actor(request)
    case, _access = selectors.case_get_for_user(user=user, case_id=case_id)
    identity = selectors.person_identity_for_user(user=user, case=case)
    if identity is None:
        raise PersonErased(
            _("The person's data was erased; this case keeps only its statistics.")
        )
    return identity


@router.put(
    "/{case_id}/person",
    response={204: None},
    summary="Replace the person's identity",
)
def person_identity_update(
    request: HttpRequest, case_id: UUID, payload: PersonIdentity
) -> Status[None]:
    services.person_update_identity(
        actor=request_actor(request), case_id=case_id, identity=payload
    )
    return Status(204, None)


@router.get(
    "/{case_id}/photo",
    response={200: None},
    summary="The person's photo, as image bytes (an audited read)",
    description=(
        "Answers the image (image/jpeg or image/png), never cached; 404 when "
        "the person has no photo."
    ),
)
def person_photo(request: HttpRequest, case_id: UUID) -> HttpResponse:
    user = request_actor(request)
    case, _access = selectors.case_get_for_user(user=user, case_id=case_id)
    photo = selectors.person_photo_for_user(user=user, case=case)
    if photo is None:
        raise CaseNotFound(_("The person has no photo."))
    return photo_response(*photo)


@router.put(
    "/{case_id}/photo",
    response={204: None},
    summary="Store or replace the person's photo (JPEG or PNG, at most 5 MiB)",
)
def person_photo_set(
    request: HttpRequest, case_id: UUID, payload: PhotoIn
) -> Status[None]:
    try:
        content = base64.b64decode(payload.data, validate=True)
    except (binascii.Error, ValueError):
        raise CaseInvalidInput(
            _("The photo is not valid base64."), details={"field": "photo"}
        ) from None
    services.person_set_photo(
        actor=request_actor(request),
        case_id=case_id,
        content=content,
        content_type=payload.content_type,
    )
    return Status(204, None)


@router.delete(
    "/{case_id}/photo", response={204: None}, summary="Remove the person's photo"
)
def person_photo_remove(request: HttpRequest, case_id: UUID) -> Status[None]:
    services.person_set_photo(
        actor=request_actor(request), case_id=case_id, content=None, content_type=""
    )
    return Status(204, None)


@router.post(
    "/{case_id}/moves",
    response=CaseDetailOut | MoveRecordedOut,
    summary="Move one track",
    description=(
        "Answers the case; or, when the move takes the case out of the caller's "
        "sight, that the move was recorded and the case is no longer visible."
    ),
)
def case_move(
    request: HttpRequest, case_id: UUID, payload: MoveIn
) -> CaseDetailOut | MoveRecordedOut:
    services.case_move(
        actor=request_actor(request),
        case_id=case_id,
        track=payload.track,
        target=payload.target,
        reason=payload.reason,
    )
    try:
        return _detail(request, case_id)
    except CaseNotFound:
        return MoveRecordedOut(
            message=_("The move was recorded; this case is no longer visible to you.")
        )


@router.post("/{case_id}/close", response=CaseDetailOut, summary="Close the case")
def case_close(
    request: HttpRequest, case_id: UUID, payload: CaseCloseIn
) -> CaseDetailOut:
    services.case_close(
        actor=request_actor(request),
        case_id=case_id,
        reason=payload.reason,
        note=payload.note,
    )
    return _detail(request, case_id)


@router.get(
    "/{case_id}/timeline", response=list[EventOut], summary="The case's timeline"
)
def case_timeline(request: HttpRequest, case_id: UUID) -> list[EventOut]:
    user = request_actor(request)
    case, _access = selectors.case_get_for_user(user=user, case_id=case_id)
    return [
        EventOut(
            id=view.event.pk,
            at=view.event.at,
            actor=view.event.actor.username if view.event.actor else None,
            kind=view.event.kind,
            track=view.event.track,
            from_state=view.event.from_state,
            to_state=view.event.to_state,
            visibility=view.event.visibility,
            detail=view.detail,
        )
        for view in selectors.case_timeline_for_user(user=user, case=case)
    ]


@router.get(
    "/{case_id}/notes", response=list[NoteOut], summary="Notes I may read (audited)"
)
def note_list(request: HttpRequest, case_id: UUID) -> list[NoteOut]:
    user = request_actor(request)
    case, _access = selectors.case_get_for_user(user=user, case_id=case_id)
    return [
        _note(view.note, view.text)
        for view in selectors.case_notes_for_user(user=user, case=case)
    ]


@router.post("/{case_id}/notes", response={201: NoteOut}, summary="Add a note")
def note_add(request: HttpRequest, case_id: UUID, payload: NoteIn) -> Status[NoteOut]:
    note = services.case_note_add(
        actor=request_actor(request),
        case_id=case_id,
        text=payload.text,
        visibility=payload.visibility,
    )
    return Status(201, _note(note, payload.text.strip()))


@router.post(
    "/{case_id}/team", response={201: TeamMemberOut}, summary="Add a team member"
)
def team_add(
    request: HttpRequest, case_id: UUID, payload: TeamAddIn
) -> Status[TeamMemberOut]:
    entry = services.case_team_add(
        actor=request_actor(request),
        case_id=case_id,
        user_id=payload.user_id,
        role=payload.role,
    )
    return Status(201, _member(entry))


@router.delete(
    "/{case_id}/team/{user_id}",
    response={204: None},
    summary="Remove a team member",
)
def team_remove(request: HttpRequest, case_id: UUID, user_id: int) -> Status[None]:
    services.case_team_remove(
        actor=request_actor(request), case_id=case_id, user_id=user_id
    )
    return Status(204, None)
