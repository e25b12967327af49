"""Pages of SOP 3 long-term assistance: the care plan, residence, services given.

Every page reads the case through :func:`trm.cases.selectors.case_get_for_user`
(no access answers 404) and the care records through :mod:`trm.care.selectors`
(a legal-track-only role answers 403: assistance content); it writes only
through the services. A form the user's roles on the case do not allow answers
403; one the case's state does not allow now answers 409 with the reason. A
refusal of the service re-displays the form with the message next to the field
it names and keeps what was typed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from trm.accounts.models import Role, User
from trm.care import episodes, residence, selectors, services
from trm.care import forms as care_forms
from trm.care.common import CARE_ROLES, RESIDENCE_ROLES, may_write
from trm.care.errors import CareRecordNotFound
from trm.care.models import PlanStatus, ResidenceType
from trm.cases import selectors as case_selectors
from trm.cases.access import CaseAccess
from trm.cases.errors import CaseRoleRequired, PersonErased, TransitionNotAllowed
from trm.cases.models import Case
from trm.cases.tracks import Reflection
from trm.common.errors import DomainError, NotFound, PermissionDenied
from trm.common.forms import add_domain_error
from trm.common.pagination import CappedPaginator
from trm.consent.errors import ConsentMissing

SERVICES_PER_PAGE = 25


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - login_required guarantees it
    return user


def _roles_text(roles: frozenset[str]) -> str:
    return ", ".join(str(Role(r).label) for r in sorted(roles))


def _case(request: HttpRequest, case_id: UUID) -> tuple[User, Case, CaseAccess]:
    """The user, the case and their access; 404 / 403 as the selectors say."""
    user = _user(request)
    case, _access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    access = selectors.care_access_for_user(user=user, case=case)
    return user, case, access


def _check_write(case: Case, access: CaseAccess, roles: frozenset[str]) -> None:
    """Refuse a form the user's roles may not use (403) or the case does not allow
    now (409): closed, or the person erased."""
    if not may_write(access, roles):
        if access.via_policy:
            raise CaseRoleRequired(_("Join the case team to do this."))
        raise CaseRoleRequired(
            _("Only these roles on the case may do this: %(roles)s.")
            % {"roles": _roles_text(roles)}
        )
    if case.is_closed:
        raise TransitionNotAllowed(_("The case is closed."))
    if case.person.is_erased:
        raise PersonErased(
            _("The person's data was erased; this case keeps only its statistics.")
        )


def _back(case: Case, name: str = "") -> str:
    if name:
        return reverse(f"care:{name}", args=[case.pk])
    return reverse("cases:detail", args=[case.pk]) + "#care"


@dataclass
class Page:
    """What a form page shows besides its form."""

    title: str
    submit: str
    back: str
    intro: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: HTML-safe links shown under the errors (e.g. "record the consent").
    links: list[tuple[str, str]] = field(default_factory=list)
    danger: bool = False


def _render_form(
    request: HttpRequest,
    case: Case,
    page: Page,
    form: forms.Form,
    *,
    formset: forms.BaseFormSet | None = None,  # type: ignore[type-arg]
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    return render(
        request,
        "care/form.html",
        {"case": case, "page": page, "form": form, "formset": formset, **(extra or {})},
        status=400 if request.method == "POST" else 200,
    )


def _refused(form: forms.Form, exc: DomainError) -> None:
    """Show a service's refusal on the form; 404 and 403 are raised as pages."""
    if isinstance(exc, NotFound | PermissionDenied) and not isinstance(
        exc, ConsentMissing
    ):
        raise exc
    add_domain_error(form, exc)


# --- the care plan ----------------------------------------------------------------


@login_required
@never_cache
@require_GET
def plan_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Show the care plan (goals, services, reviews), its deadline and history."""
    user, case, access = _case(request, case_id)
    plans = selectors.plans_for_user(user=user, case=case)
    current = plans[0] if plans and plans[0].plan.is_open else None
    previous = [p for p in plans if p is not current]
    writer = may_write(access, CARE_ROLES) and not case.is_closed
    return render(
        request,
        "care/plan.html",
        {
            "case": case,
            "current": current,
            "previous": previous,
            "deadline": selectors.care_plan_deadline(case=case, access=access),
            "may_edit": writer
            and (current is None or current.plan.status == PlanStatus.DRAFT),
            "may_agree": writer
            and current is not None
            and current.plan.status == PlanStatus.DRAFT,
            "may_review": writer
            and current is not None
            and current.plan.status == PlanStatus.AGREED,
            "duration_warning": (
                services.duration_warning(current.plan.duration) if current else ""
            ),
        },
    )


def _team_for_plan(user: User, case: Case) -> list[User]:
    """The case workers who may be responsible for the plan (CM, SP on the team)."""
    seen: dict[int, User] = {}
    for member in case_selectors.case_team_for_user(user=user, case=case):
        person = member.user
        if (
            member.role in CARE_ROLES
            and person.is_active
            and member.role in person.role_codes()
        ):
            seen.setdefault(person.pk, person)
    return list(seen.values())


def _formset(
    data: Any, *, initial: list[dict[str, Any]] | None = None
) -> care_forms.BasePlannedServiceFormSet:
    formset = care_forms.PlannedServiceFormSet(data, initial=initial, prefix="services")
    assert isinstance(formset, care_forms.BasePlannedServiceFormSet)  # noqa: S101
    return formset


def _apply_row_error(
    formset: care_forms.BasePlannedServiceFormSet,
    form: forms.Form,
    exc: DomainError,
) -> None:
    row = exc.details.get("row")
    rows = formset.row_forms()
    if isinstance(row, int) and 0 <= row < len(rows):
        target = rows[row]
        name = exc.details.get("row_field")
        target.add_error(name if name in target.fields else None, exc.message)
        form.add_error(None, _("Check the planned services marked below."))
    else:
        add_domain_error(form, exc)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def plan_edit_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Write the care plan (a draft): goals, duration, responsible, services."""
    user, case, access = _case(request, case_id)
    _check_write(case, access, CARE_ROLES)
    current = selectors.current_plan_for_user(user=user, case=case)
    if current is not None and current.plan.status != PlanStatus.DRAFT:
        raise TransitionNotAllowed(
            _(
                "The plan is agreed with the person. Record a review that changes "
                "the plan before editing it."
            )
        )
    team = _team_for_plan(user, case)
    posted = request.method == "POST"
    if posted:
        form = care_forms.PlanForm(request.POST, team=team)
        formset = _formset(request.POST)
    else:
        initial: dict[str, Any] = {"responsible": user.pk}
        rows: list[dict[str, Any]] = []
        if current is not None:
            initial = {
                "goals": current.goals or "",
                "duration": current.plan.duration,
                "responsible": current.plan.responsible_id,
            }
            rows = [
                {
                    "service_type": s.service.service_type,
                    "provider": s.service.provider,
                    "frequency": s.frequency or "",
                    "notes": s.notes or "",
                }
                for s in current.services
            ]
        form = care_forms.PlanForm(initial=initial, team=team)
        formset = _formset(None, initial=rows)
    if posted and form.is_valid() and formset.is_valid():
        data = form.cleaned_data
        try:
            plan = services.care_plan_save(
                actor=user,
                case_id=case.pk,
                goals=data["goals"],
                duration=data["duration"],
                responsible_id=data["responsible"],
                services=formset.rows(),
            )
        except DomainError as exc:
            if isinstance(exc, NotFound | PermissionDenied):
                raise
            if exc.details.get("field") == "services":
                _apply_row_error(formset, form, exc)
            else:
                add_domain_error(form, exc)
        else:
            messages.success(request, _("The care plan is saved as a draft."))
            warning = services.duration_warning(plan.duration)
            if warning:
                messages.warning(request, warning)
            return HttpResponseRedirect(_back(case, "plan"))
    page = Page(
        title=_("Write the care plan") if current is None else _("Edit the care plan"),
        submit=_("Save the draft"),
        back=_back(case, "plan"),
        intro=[
            _(
                "Write the plan with the person: their long-term goals and the "
                "services that will help them reach them. Leave a service row "
                "empty to skip it; tick “Delete” to remove one."
            ),
            _(
                "The plan is agreed afterwards, with the person's consent to "
                "assistance (the service agreement)."
            ),
        ],
    )
    return _render_form(request, case, page, form, formset=formset)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def plan_agree_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Agree the draft plan with the person (needs their consent to assistance)."""
    user, case, access = _case(request, case_id)
    _check_write(case, access, CARE_ROLES)
    current = selectors.current_plan_for_user(user=user, case=case)
    if current is None or current.plan.status != PlanStatus.DRAFT:
        raise TransitionNotAllowed(
            _("There is no draft care plan to agree: write the plan first.")
        )
    form = care_forms.AgreeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.care_plan_agree(
                actor=user, case_id=case.pk, note=form.cleaned_data["note"]
            )
        except DomainError as exc:
            _refused(form, exc)
        else:
            messages.success(request, _("The care plan is agreed with the person."))
            return HttpResponseRedirect(_back(case, "plan"))
    page = Page(
        title=_("Agree the care plan"),
        submit=_("Agree the plan"),
        back=_back(case, "plan"),
        intro=[
            _(
                "Agree the plan only once the person has understood it and "
                "accepts it freely. This is the service agreement: it rests on "
                "their consent to assistance."
            )
        ],
    )
    try:
        consent = services.assistance_consent(case)
    except ConsentMissing as exc:
        page.warnings.append(exc.message)
        page.links.append(
            (reverse("consent:record", args=[case.pk]), _("Record the consent"))
        )
    else:
        page.intro.append(
            _("Consent to assistance given on %(date)s.")
            % {"date": date_format(timezone.localtime(consent.given_at).date())}
        )
    warning = services.duration_warning(current.plan.duration)
    if warning:
        page.warnings.append(warning)
    return _render_form(request, case, page, form, extra={"plan": current})


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def plan_review_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Record a review of the agreed plan and the risks."""
    user, case, access = _case(request, case_id)
    _check_write(case, access, CARE_ROLES)
    current = selectors.plan_summary_for_user(user=user, case=case)
    if current is None:
        raise TransitionNotAllowed(
            _("There is no care plan to review: draft and agree a plan first.")
        )
    if current.status == PlanStatus.CLOSED:
        raise TransitionNotAllowed(_("This care plan is closed: start a new plan."))
    if current.status != PlanStatus.AGREED:
        raise TransitionNotAllowed(
            _("Only an agreed care plan is reviewed: agree the plan first.")
        )
    if request.method == "POST":
        form = care_forms.ReviewForm(request.POST)
    else:
        form = care_forms.ReviewForm(initial={"reviewed_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.care_plan_review(
                actor=user,
                case_id=case.pk,
                reviewed_on=data["reviewed_on"],
                outcome=data["outcome"],
                note=data["note"],
            )
        except DomainError as exc:
            _refused(form, exc)
        else:
            messages.success(request, _("The review is recorded."))
            return HttpResponseRedirect(_back(case, "plan"))
    page = Page(
        title=_("Review the care plan"),
        submit=_("Record the review"),
        back=_back(case, "plan"),
        intro=[
            _(
                "Review the plan and the risks with the person. To change the "
                "plan, choose “Change the plan”: it goes back to draft, and is "
                "agreed again with the person after editing."
            )
        ],
    )
    return _render_form(request, case, page, form)


# --- residence ------------------------------------------------------------------


@login_required
@never_cache
@require_GET
def residence_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """List the person's residence records: current ones, then the history."""
    user, case, access = _case(request, case_id)
    records = selectors.residence_for_user(user=user, case=case)
    return render(
        request,
        "care/residence.html",
        {
            "case": case,
            "current": [r for r in records if r.current],
            "history": [r for r in records if not r.current],
            "may_record": may_write(access, RESIDENCE_ROLES) and not case.is_closed,
            "today": timezone.localdate(),
        },
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def residence_add_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Record a residence document, permit or status (confirm if it replaces one)."""
    user, case, access = _case(request, case_id)
    _check_write(case, access, RESIDENCE_ROLES)
    form = care_forms.ResidenceForm(request.POST if request.method == "POST" else None)
    page = Page(
        title=_("Record residence status"),
        submit=_("Record"),
        back=_back(case, "residence"),
        intro=[
            _(
                "Record the document or permit the person holds, with its dates, "
                "so that it is renewed in time. The case managers are reminded "
                "before it ends."
            )
        ],
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        previous = residence.current_of_type(case, data["residence_type"])
        # Ask only when the record will replace the current one (a missing
        # start date is the service's to refuse first).
        replaces = (
            previous is not None
            and data["valid_from"] is not None
            and previous.valid_from <= data["valid_from"]
        )
        if replaces and not data["confirm_replace"]:
            assert previous is not None  # noqa: S101
            page.warnings.append(
                _(
                    "This replaces the current record “%(type)s” valid from "
                    "%(from)s. The old record stays in the history. Record it "
                    "and replace the old one?"
                )
                % {
                    "type": ResidenceType(previous.residence_type).label,
                    "from": date_format(previous.valid_from),
                }
            )
            page.submit = _("Record and replace")
            page.danger = True
            confirmed = care_forms.ResidenceForm(
                {**request.POST.dict(), "confirm_replace": "on"}
            )
            confirmed.is_valid()
            return render(
                request,
                "care/form.html",
                {"case": case, "page": page, "form": confirmed},
                status=200,
            )
        try:
            outcome = residence.residence_status_record(
                actor=user,
                case_id=case.pk,
                residence_type=data["residence_type"],
                valid_from=data["valid_from"],
                valid_until=data["valid_until"],
                issuing_authority=data["issuing_authority"],
                document_number=data["document_number"],
                renewal_notice_days=data["renewal_notice_days"],
            )
        except DomainError as exc:
            _refused(form, exc)
        else:
            messages.success(request, _("The residence status is recorded."))
            if outcome.track_moved_to:
                messages.info(
                    request,
                    _("Reflection and residence now: %(state)s.")
                    % {"state": Reflection(outcome.track_moved_to).label},
                )
            for warning in outcome.warnings:
                messages.warning(request, warning)
            return HttpResponseRedirect(_back(case, "residence"))
    return _render_form(request, case, page, form)


# --- services given ---------------------------------------------------------------


@login_required
@never_cache
@require_GET
def services_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """List the services given to the person, newest first, a page at a time."""
    user, case, access = _case(request, case_id)
    rows = selectors.episodes_for_user(user=user, case=case)
    page = CappedPaginator(rows, SERVICES_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "care/services.html",
        {
            "case": case,
            "page": page,
            "episodes": selectors.episode_views_for_user(
                user=user, case=case, episodes=page.object_list
            ),
            "may_record": may_write(access, CARE_ROLES) and not case.is_closed,
        },
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def service_add_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Record a service given to the person."""
    user, case, access = _case(request, case_id)
    _check_write(case, access, CARE_ROLES)
    form = care_forms.EpisodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        provider = data["provider"]
        try:
            episodes.service_episode_record(
                actor=user,
                case_id=case.pk,
                service_type=data["service_type"],
                provider_id=provider.pk if provider else None,
                provider_name=data["provider_name"],
                started_on=data["started_on"],
                ended_on=data["ended_on"],
                outcome=data["outcome"],
                note=data["note"],
            )
        except DomainError as exc:
            _refused(form, exc)
        else:
            messages.success(request, _("The service is recorded."))
            return HttpResponseRedirect(_back(case, "services"))
    page = Page(
        title=_("Record a service given"),
        submit=_("Record"),
        back=_back(case, "services"),
        intro=[
            _(
                "Record each service the person receives — shelter, counselling, "
                "medical care, legal aid, training — when it starts; end it when "
                "it ends."
            )
        ],
    )
    return _render_form(request, case, page, form)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def service_end_view(
    request: HttpRequest, case_id: UUID, episode_id: UUID
) -> HttpResponse:
    """End an ongoing service (a confirmation with how and when it ended)."""
    user, case, access = _case(request, case_id)
    _check_write(case, access, CARE_ROLES)
    # Only the kind and the start date are shown: nothing sealed is opened.
    episode = (
        selectors.episodes_for_user(user=user, case=case).filter(pk=episode_id).first()
    )
    if episode is None:
        raise CareRecordNotFound(_("No such service on this case."))
    if not episode.is_ongoing:
        raise TransitionNotAllowed(_("This service has ended already."))
    if request.method == "POST":
        form = care_forms.EpisodeEndForm(request.POST)
    else:
        form = care_forms.EpisodeEndForm(initial={"ended_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            episodes.service_episode_end(
                actor=user,
                case_id=case.pk,
                episode_id=episode.pk,
                ended_on=data["ended_on"],
                outcome=data["outcome"],
                note=data["note"],
            )
        except DomainError as exc:
            _refused(form, exc)
        else:
            messages.success(request, _("The service is ended."))
            return HttpResponseRedirect(_back(case, "services"))
    page = Page(
        title=_("End this service?"),
        submit=_("End the service"),
        back=_back(case, "services"),
        intro=[
            _(
                "“%(service)s”, started on %(date)s. An ended service cannot "
                "be re-opened; record a new one if it starts again."
            )
            % {
                "service": episode.get_service_type_display(),
                "date": date_format(episode.started_on),
            }
        ],
        danger=True,
    )
    return _render_form(request, case, page, form)
