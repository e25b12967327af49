"""Pages for cases and persons: list, search, open, the case page and its actions.

Views read only through :mod:`trm.cases.selectors` (access-checked, audited)
and write only through :mod:`trm.cases.services`. A case the user may not see
answers 404 everywhere (the selectors raise ``CaseNotFound``). No personal data
goes into a URL or a page title: search is a POST form, case ids are UUIDs,
and titles carry the case number only. Pages with personal data are never
cached by the browser.
"""

from __future__ import annotations

import gettext as gettext_module
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

import pycountry
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_countries import countries
from django_stubs_ext import StrOrPromise
from pydantic import ValidationError

from trm.accounts.models import Role, User
from trm.accounts.node_users import actor_label
from trm.cases import selectors, services
from trm.cases.access import OPENING_ROLES, CaseAccess
from trm.cases.errors import CaseRoleRequired, PersonErased
from trm.cases.forms import (
    CaseOpenForm,
    CloseForm,
    DocumentKind,
    IdentityForm,
    MoveForm,
    NoteForm,
    PhotoForm,
    SearchForm,
    TeamAddForm,
    document_formset,
    with_extra_document_row,
)
from trm.cases.identity import PersonIdentity
from trm.cases.labels import event_kind_label, move_code_label
from trm.cases.models import Case, CaseEvent, Visibility
from trm.cases.photo import photo_response
from trm.common.errors import DomainError, NotFound
from trm.common.forms import add_domain_error
from trm.common.pagination import CappedPaginator
from trm.consent import selectors as consent_selectors
from trm.consent.models import DataCategory
from trm.identification.views import case_page_context

PAGE_SIZE = 25
SEARCH_LIMIT = 50
TIMELINE_LIMIT = 50
#: The most events the whole timeline (``?timeline=all``) shows at once.
TIMELINE_ALL_LIMIT = 2000
STATUS_TABS: list[tuple[str, Promise]] = [
    ("open", gettext_lazy("Open")),
    ("closed", gettext_lazy("Closed")),
    ("all", gettext_lazy("All")),
]


# --- helpers -------------------------------------------------------------------------


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - login_required guarantees it
    return user


def _case(request: HttpRequest, case_id: UUID) -> tuple[User, Case, CaseAccess]:
    user = _user(request)
    case, access = selectors.case_get_for_user(user=user, case_id=case_id)
    return user, case, access


def _to_case(case: Case, anchor: str = "") -> HttpResponseRedirect:
    url = reverse("cases:detail", args=[case.pk])
    return HttpResponseRedirect(f"{url}#{anchor}" if anchor else url)


def _still_visible(user: User, case: Case) -> bool:
    try:
        selectors.case_get_for_user(user=user, case_id=case.pk)
    except NotFound:
        return False
    return True


def _refuse(request: HttpRequest, error: DomainError) -> None:
    """Show a refusal as a message; "not found" stays a 404."""
    if isinstance(error, NotFound):
        raise error
    messages.error(request, error.message)


def _name(user: User | None) -> str:
    if user is None:
        # The account was deleted since (TRM itself deletes none).
        return _("someone no longer on this node")
    return actor_label(user)


@lru_cache(maxsize=8)
def _language_catalogue(language: str) -> gettext_module.NullTranslations:
    return gettext_module.translation(
        "iso639-3", pycountry.LOCALES_DIR, languages=[language], fallback=True
    )


def language_name(code: str) -> str:
    """Return the name of an ISO 639 language in the active language."""
    found = pycountry.languages.get(alpha_2=code) or pycountry.languages.get(
        alpha_3=code
    )
    if found is None:
        return code
    catalogue = _language_catalogue((get_language() or "en").split("-")[0])
    return f"{catalogue.gettext(found.name)} ({code})"


def country_name(code: str) -> str:
    return str(countries.name(code)) or code


@dataclass(frozen=True)
class TrackState:
    key: str
    label: str | Promise
    state: str
    state_label: str


def tracks_summary(case: Case) -> list[TrackState]:
    """Return identification, assistance, and every other track that has moved."""
    rows = []
    for key, track in Case.TRACKS.items():
        state = case.state_of(key)
        if key in {"identification", "assistance"} or state != track.initial:
            rows.append(
                TrackState(key, track.label, state, str(track.states(state).label))
            )
    return rows


@dataclass(frozen=True)
class TrackRow:
    """A track on the case page with the moves this user may make."""

    key: str
    label: str | Promise
    state_label: str
    form: MoveForm | None
    others: list[tuple[str, str]]


def track_rows(case: Case, access: CaseAccess) -> list[TrackRow]:
    rows = []
    for key, track in Case.TRACKS.items():
        current = case.state_of(key)
        mine: list[tuple[str, StrOrPromise]] = []
        others: list[tuple[str, str]] = []
        for target in track.states.values:
            # Guarded moves have their own forms (SOP 1 identification box).
            if not case.can_move(key, target) or target in track.guarded:
                continue
            roles = track.roles_for(target)
            label = str(track.states(target).label)
            if access.roles & roles:
                mine.append((target, label))
            else:
                names = ", ".join(str(Role(r).label) for r in sorted(roles))
                others.append((label, names))
        form = (
            MoveForm(targets=mine, initial={"track": key}, auto_id=f"id_{key}_%s")
            if mine
            else None
        )
        rows.append(
            TrackRow(
                key=key,
                label=track.label,
                state_label=str(track.states(current).label),
                form=form,
                others=others,
            )
        )
    return rows


@dataclass(frozen=True)
class EventRow:
    at: datetime
    actor: str
    text: str
    detail: str | None
    restricted: bool
    #: An urgent safety alert (SOPS §6.4 M14): flagged on the timeline.
    urgent: bool = False


#: Timeline events flagged urgent.
URGENT_EVENTS = frozenset({"case.safety_alert_received", "case.safety_alert_sent"})


def _event_text(event: CaseEvent) -> str:
    if event.kind == "case.track_moved" and event.track in Case.TRACKS:
        track = Case.TRACKS[event.track]
        states = dict(track.states.choices)
        text = _("%(track)s: “%(from)s” → “%(to)s”") % {
            "track": track.label,
            "from": states.get(event.from_state, event.from_state),
            "to": states.get(event.to_state, event.to_state),
        }
        why = move_code_label(event.track, event.code)
        return f"{text} · {why}" if why else text
    if event.kind.startswith("exchange.") and event.code:
        # The message type (never its payload): e.g. "case.alert".
        return f"{event_kind_label(event.kind)} · {event.code}"
    return event_kind_label(event.kind)


def _event_actor(event: CaseEvent) -> str:
    if event.actor is None and event.automatic:
        if event.kind.startswith(("exchange.", "consent.")):
            return _("the transnational channel")
        return _("TRM (automatic)")
    return _name(event.actor)


def _attributes(case: Case) -> dict[str, Any]:
    return {
        "gender": case.person.get_gender_display(),
        "age_band": case.person.get_age_band_display(),
        "citizenships": [country_name(c) for c in case.person.citizenships],
        "languages": [language_name(c) for c in case.person.languages],
    }


def _render_detail(
    request: HttpRequest,
    user: User,
    case: Case,
    access: CaseAccess,
    *,
    note_form: NoteForm | None = None,
    status: int = 200,
) -> HttpResponse:
    identity = selectors.person_identity_for_user(user=user, case=case)
    # ``?timeline=all`` (a link under the timeline) shows every event, not
    # only the latest TIMELINE_LIMIT; the URL carries nothing but the case id.
    whole_timeline = request.GET.get("timeline") == "all"
    limit = TIMELINE_ALL_LIMIT if whole_timeline else TIMELINE_LIMIT
    events = selectors.case_timeline_for_user(user=user, case=case, limit=limit)
    timeline_total = selectors.case_timeline_count_for_user(user=user, case=case)
    candidates = selectors.case_team_candidates_for_user(user=user, case=case)
    team_choices = [
        (
            f"{c.user.pk}:{c.role}",
            f"{_name(c.user)} ({c.user.organisation or '—'}) — {Role(c.role).label}",
        )
        for c in candidates
    ]
    levels = access.visible_levels()
    categories = dict(DataCategory.choices)
    context = {
        "case": case,
        "access": access,
        "identity": identity,
        "documents": [
            (DocumentKind.label(d.kind) if d.kind else "", d)
            for d in (identity.documents if identity else [])
        ],
        "my_roles": [Role(r).label for r in sorted(access.roles)],
        "attributes": _attributes(case),
        "tracks": track_rows(case, access),
        "timeline": [
            EventRow(
                at=view.event.at,
                actor=_event_actor(view.event),
                text=_event_text(view.event),
                detail=view.detail,
                restricted=view.event.visibility != Visibility.TEAM,
                urgent=view.event.kind in URGENT_EVENTS,
            )
            for view in events
        ],
        "timeline_limit": limit,
        "timeline_total": timeline_total,
        "timeline_all": whole_timeline,
        "notes": selectors.case_notes_for_user(user=user, case=case),
        "note_form": note_form or NoteForm(levels=levels),
        "team": selectors.case_team_for_user(user=user, case=case),
        "team_form": TeamAddForm(choices=team_choices) if team_choices else None,
        "consents": [
            (row, [categories.get(c, c) for c in row.consent.categories])
            for row in consent_selectors.consent_list_for_case(user=user, case=case)
        ],
        "can_edit_identity": identity is not None and not access.legal_only,
        "has_photo": identity is not None and case.person.sealed_photo is not None,
    }
    # The SOP panel, the removal block and SOP 1's actions (trm.identification).
    context.update(case_page_context(user=user, case=case, access=access))
    return render(request, "cases/detail.html", context, status=status)


# --- list, search, open --------------------------------------------------------------


@login_required
@never_cache
@require_GET
def case_list_view(request: HttpRequest) -> HttpResponse:
    """List the cases the user works on: open, closed or all."""
    user = _user(request)
    status = request.GET.get("status", "open")
    if status not in dict(STATUS_TABS):
        status = "open"
    cases = selectors.case_list_for_user(user=user, status=status)
    page = CappedPaginator(cases, PAGE_SIZE).get_page(request.GET.get("page"))
    shown = list(page.object_list)
    names = selectors.display_names_for_user(user=user, cases=shown)
    return render(
        request,
        "cases/list.html",
        {
            "page": page,
            "rows": [(c, names.get(c.pk, ""), tracks_summary(c)) for c in shown],
            "status": status,
            "tabs": STATUS_TABS,
            "can_open": bool(user.role_codes() & OPENING_ROLES),
        },
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def case_search_view(request: HttpRequest) -> HttpResponse:
    """Find a person's case by name or document (POST: the query stays out of URLs)."""
    user = _user(request)
    form = SearchForm(request.POST or None)
    rows = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            found = selectors.case_search(
                user=user,
                name=data["name"],
                birth_year=data["birth_year"],
                document_number=data["document_number"],
            )
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            cases = list(found[:SEARCH_LIMIT])
            names = selectors.display_names_for_user(user=user, cases=cases)
            rows = [(c, names.get(c.pk, ""), tracks_summary(c)) for c in cases]
    return render(
        request,
        "cases/search.html",
        {
            "form": form,
            "rows": rows,
            "limit": SEARCH_LIMIT,
            "can_open": bool(user.role_codes() & OPENING_ROLES),
        },
        status=400 if request.method == "POST" and form.errors else 200,
    )


def _identity_or_error(
    form: IdentityForm, documents: list[Any]
) -> PersonIdentity | None:
    try:
        return form.identity(documents)
    except ValidationError:
        form.add_error(None, _("Some identity details are too long or malformed."))
        return None


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def case_open_view(request: HttpRequest) -> HttpResponse:
    """Register a person and open their case."""
    user = _user(request)
    if not user.role_codes() & OPENING_ROLES:
        raise CaseRoleRequired(_("Your roles do not allow opening a case."))
    if request.method == "GET":
        form = CaseOpenForm()
        documents = document_formset()
    elif "add_document_row" in request.POST:
        form = CaseOpenForm(request.POST)
        documents = document_formset(with_extra_document_row(request.POST))
    else:
        form = CaseOpenForm(request.POST)
        documents = document_formset(request.POST)
        if form.is_valid() and documents.is_valid():
            identity = _identity_or_error(form, documents.documents())
            if identity is not None:
                data = form.cleaned_data
                try:
                    case = services.case_open(
                        actor=user,
                        identity=identity,
                        gender=data["gender"],
                        age_band=data["age_band"],
                        age_uncertain=data["age_uncertain"],
                        citizenships=data["citizenships"],
                        languages=data["languages"],
                        asylum_applicant=data["asylum_applicant"],
                        may_be_child=data["may_be_child"],
                        number=data["number"],
                    )
                except DomainError as exc:
                    add_domain_error(form, exc)
                else:
                    messages.success(
                        request, _("Case %(number)s is open.") % {"number": case.number}
                    )
                    return _to_case(case)
    invalid = request.method == "POST" and "add_document_row" not in request.POST
    return render(
        request,
        "cases/open.html",
        {"form": form, "documents": documents},
        status=400 if invalid else 200,
    )


# --- the case page -----------------------------------------------------------------


@login_required
@never_cache
@require_GET
def case_detail_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Show the case: tracks and moves, person, consents, notes, timeline, team."""
    user, case, access = _case(request, case_id)
    return _render_detail(request, user, case, access)


@login_required
@never_cache
@require_POST
def case_move_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    user, case, _access = _case(request, case_id)
    form = MoveForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose the new state."))
        return _to_case(case, "tracks")
    data = form.cleaned_data
    try:
        moved = services.case_move(
            actor=user,
            case_id=case.pk,
            track=data["track"],
            target=data["target"],
            reason=data["reason"],
        )
    except DomainError as exc:
        _refuse(request, exc)
    else:
        if not _still_visible(user, case):
            # E.g. an NCP who moves the transnational track to "no link".
            messages.success(request, _("Done; this case is no longer visible to you."))
            return HttpResponseRedirect(reverse("cases:list"))
        track = Case.TRACKS[data["track"]]
        messages.success(
            request,
            _("%(track)s is now “%(state)s”.")
            % {
                "track": track.label,
                "state": track.states(moved.state_of(data["track"])).label,
            },
        )
    anchor = f"track-{data['track']}" if data["track"] in Case.TRACKS else "tracks"
    return _to_case(case, anchor)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def case_close_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    user, case, access = _case(request, case_id)
    if not access.manages:
        raise CaseRoleRequired(
            _("Only the case manager or the national contact point closes a case.")
        )
    if case.is_closed:
        messages.info(request, _("The case is already closed."))
        return _to_case(case)
    form = CloseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.case_close(
                actor=user,
                case_id=case.pk,
                reason=form.cleaned_data["reason"],
                note=form.cleaned_data["note"],
            )
        except DomainError as exc:
            if isinstance(exc, NotFound):
                raise
            add_domain_error(form, exc)
        else:
            messages.success(request, _("The case is closed."))
            return _to_case(case)
    return render(
        request,
        "confirm.html",
        {
            "title": _("Close case %(number)s?") % {"number": case.number},
            "body": _(
                "The case moves to the closed list and its tracks stop. The retention "
                "period of its data starts now. A closed case can still be read."
            ),
            "form": form,
            "confirm_label": _("Close the case"),
            "cancel_href": reverse("cases:detail", args=[case.pk]),
        },
        status=400 if request.method == "POST" else 200,
    )


@login_required
@never_cache
@require_POST
def case_team_add_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    user, case, _access = _case(request, case_id)
    # The service decides who may join and says why not (TeamAddForm).
    form = TeamAddForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose who to add to the case team."))
        return _to_case(case, "team")
    user_id, role = form.user_and_role()
    try:
        services.case_team_add(actor=user, case_id=case.pk, user_id=user_id, role=role)
    except DomainError as exc:
        _refuse(request, exc)
    else:
        messages.success(request, _("Added to the case team."))
    return _to_case(case, "team")


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def case_team_remove_view(
    request: HttpRequest, case_id: UUID, user_id: int
) -> HttpResponse:
    user, case, access = _case(request, case_id)
    if not access.manages:
        raise CaseRoleRequired(
            _("Only the case manager or the national contact point changes the team.")
        )
    member = next(
        (
            m
            for m in selectors.case_team_for_user(user=user, case=case)
            if m.user_id == user_id
        ),
        None,
    )
    if member is None:
        raise Http404
    if request.method == "POST":
        try:
            services.case_team_remove(actor=user, case_id=case.pk, user_id=user_id)
        except DomainError as exc:
            _refuse(request, exc)
        else:
            messages.success(request, _("Removed from the case team."))
        return _to_case(case, "team")
    return render(
        request,
        "confirm.html",
        {
            "title": _("Remove from the case team?"),
            "body": _(
                "%(name)s (%(role)s) will no longer see this case unless their role "
                "gives them access another way."
            )
            % {"name": _name(member.user), "role": member.get_role_display()},
            "confirm_label": _("Remove"),
            "cancel_href": reverse("cases:detail", args=[case.pk]) + "#team",
        },
    )


@login_required
@never_cache
@require_POST
def case_note_add_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    user, case, access = _case(request, case_id)
    form = NoteForm(request.POST, levels=access.visible_levels())
    if form.is_valid():
        try:
            services.case_note_add(
                actor=user,
                case_id=case.pk,
                text=form.cleaned_data["text"],
                visibility=form.cleaned_data["visibility"],
            )
        except DomainError as exc:
            if isinstance(exc, NotFound):
                raise
            add_domain_error(form, exc)
        else:
            messages.success(request, _("Note added."))
            return _to_case(case, "notes")
    return _render_detail(request, user, case, access, note_form=form, status=400)


def _save_identity_and_photo(
    user: User,
    case: Case,
    form: IdentityForm,
    documents: Any,
    photo_form: PhotoForm,
) -> bool:
    """Save what changed on the identity page; False (errors on the forms) if not."""
    new = _identity_or_error(form, documents.documents())
    if new is None:
        return False
    current = selectors.person_identity_for_user(user=user, case=case)
    photo = photo_form.content()
    try:
        # A photo-only change leaves the identity (and its timeline) alone.
        if current is None or new != current:
            services.person_update_identity(actor=user, case_id=case.pk, identity=new)
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        add_domain_error(form, exc)
        return False
    try:
        if photo is not None:
            content, content_type = photo
            services.person_set_photo(
                actor=user, case_id=case.pk, content=content, content_type=content_type
            )
        elif photo_form.cleaned_data["remove_photo"]:
            services.person_set_photo(
                actor=user, case_id=case.pk, content=None, content_type=""
            )
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        add_domain_error(photo_form, exc)
        return False
    return True


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def case_edit_identity_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Correct or complete the person's identifying data and photo."""
    user, case, access = _case(request, case_id)
    if access.legal_only:
        raise CaseRoleRequired(_("Your role on this case does not allow editing."))
    if request.method == "GET":
        identity = selectors.person_identity_for_user(user=user, case=case)
        if identity is None:
            raise PersonErased(
                _("The person's data was erased; this case keeps only its statistics.")
            )
        form = IdentityForm(initial=IdentityForm.initial_from(identity))
        documents = document_formset(initial=identity.documents)
        photo_form = PhotoForm()
    elif "add_document_row" in request.POST:
        form = IdentityForm(request.POST)
        documents = document_formset(with_extra_document_row(request.POST))
        photo_form = PhotoForm(request.POST)
    else:
        form = IdentityForm(request.POST)
        documents = document_formset(request.POST)
        photo_form = PhotoForm(request.POST, request.FILES)
        valid = form.is_valid() and documents.is_valid()
        if (
            photo_form.is_valid()
            and valid
            and _save_identity_and_photo(user, case, form, documents, photo_form)
        ):
            messages.success(request, _("The identity details are saved."))
            return _to_case(case, "person")
    invalid = request.method == "POST" and "add_document_row" not in request.POST
    return render(
        request,
        "cases/edit_identity.html",
        {
            "case": case,
            "form": form,
            "documents": documents,
            "photo_form": photo_form,
            "has_photo": case.person.sealed_photo is not None,
        },
        status=400 if invalid else 200,
    )


@login_required
@require_GET
def case_photo_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Serve the person's photo: inline, but never sniffed, cached or scripted."""
    user, case, _access = _case(request, case_id)
    photo = selectors.person_photo_for_user(user=user, case=case)
    if photo is None:
        raise Http404
    return photo_response(*photo)
