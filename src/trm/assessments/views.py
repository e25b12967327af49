"""Pages of needs assessments, risk assessments and the support and safety plan.

Every page reads the case through :func:`trm.cases.selectors.case_get_for_user`
(no access answers 404), reads content through :mod:`trm.assessments.selectors`
(audited; 403 for legal-track-only roles) and writes only through
:mod:`trm.assessments.services` and :mod:`trm.assessments.plans`. A form page
the user's roles may not use answers 403; a closed case or an erased person
409 with the reason. A refusal of a service re-displays the form with the
message next to the field it names and keeps what was typed.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pycountry
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from trm.accounts.models import User
from trm.cases import selectors as case_selectors
from trm.cases.access import CaseAccess
from trm.cases.errors import PersonErased, TransitionNotAllowed
from trm.cases.models import Case
from trm.common.errors import DomainError, NotFound, PermissionDenied

from . import plans, selectors, services
from .actions import plan_actions
from .common import ASSESSMENT_ROLES, PLAN_ROLES, require_actor
from .errors import AssessmentInvalidInput, NoDraftToSign, PlanIncomplete
from .forms import NeedsForm, PlanForm, RiskForm, apply_error
from .models import (
    DOMAIN_LABELS,
    NeedsKind,
    NeedStatus,
    RiskType,
    SupportPlanVersion,
)

SECTION = "#assessments"


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - login_required guarantees it
    return user


def _case(request: HttpRequest, case_id: UUID) -> tuple[User, Case, CaseAccess]:
    user = _user(request)
    case, access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    return user, case, access


def check_may_act(access: CaseAccess, case: Case, allowed: frozenset[str]) -> None:
    """Refuse a form the user may not use (403) or the case no longer allows (409)."""
    require_actor(access, case, allowed)
    if case.is_closed:
        raise TransitionNotAllowed(_("The case is closed."))
    if case.person.is_erased:
        raise PersonErased(
            _("The person's data was erased; nothing more can be recorded.")
        )


def _back(case: Case) -> str:
    return reverse("cases:detail", args=[case.pk]) + SECTION


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, min(int(request.GET.get("page", "1")), 100_000))
    except ValueError:
        return 1


def _refused(exc: DomainError) -> bool:
    """True for refusals that are not about the input: re-raise them."""
    return isinstance(exc, NotFound | PermissionDenied)


# --- needs ---------------------------------------------------------------------------


@login_required
@never_cache
@require_GET
def needs_list_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """List the case's needs assessments, newest first."""
    user, case, _access = _case(request, case_id)
    page = selectors.needs_assessments_for_user(
        user=user, case=case, page=_page_number(request)
    )
    statuses = dict(NeedStatus.choices)
    entries = [
        (
            view,
            [
                (
                    DOMAIN_LABELS.get(domain, domain),
                    statuses.get(status, status),
                    status,
                    note,
                )
                for domain, status, note in view.rows
            ],
        )
        for view in page.items
    ]
    return render(
        request,
        "assessments/needs_list.html",
        {"case": case, "page": page, "entries": entries},
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def needs_new_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Record an immediate or long-term needs assessment."""
    user, case, access = _case(request, case_id)
    check_may_act(access, case, ASSESSMENT_ROLES)
    source = request.POST if request.method == "POST" else request.GET
    kind = source.get("kind", NeedsKind.IMMEDIATE)
    if kind not in NeedsKind.values:
        kind = NeedsKind.IMMEDIATE
    posted = request.method == "POST"
    form = NeedsForm(
        request.POST if posted else None,
        kind=kind,
        languages=case.person.languages,
        initial={"language": plans.default_language(case)},
    )
    if posted and form.is_valid():
        try:
            services.needs_assessment_record(
                actor=user,
                case_id=case.pk,
                kind=kind,
                willing_participation=form.cleaned_data["willing_participation"]
                == "yes",
                in_private=form.cleaned_data["in_private"] == "yes",
                language=form.cleaned_data["language"],
                interpreter=form.cleaned_data["interpreter"],
                statuses=form.statuses(),
                notes=form.notes(),
            )
        except DomainError as exc:
            if _refused(exc):
                raise
            apply_error(form, exc)
        else:
            messages.success(request, _("The needs assessment is recorded."))
            return HttpResponseRedirect(_back(case))
    return render(
        request,
        "assessments/needs_form.html",
        {
            "case": case,
            "form": form,
            "kind": kind,
            "kind_label": NeedsKind(kind).label,
            "other_kind": (
                NeedsKind.LONG_TERM
                if kind == NeedsKind.IMMEDIATE
                else NeedsKind.IMMEDIATE
            ),
        },
        status=400 if posted else 200,
    )


# --- risk ----------------------------------------------------------------------------


@login_required
@never_cache
@require_GET
def risk_list_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """List the case's risk assessments, newest first, with the rule 8 status."""
    user, case, _access = _case(request, case_id)
    page = selectors.risk_assessments_for_user(
        user=user, case=case, page=_page_number(request)
    )
    return render(
        request,
        "assessments/risk_list.html",
        {"case": case, "page": page, "status": selectors.risk_status(case)},
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def risk_new_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Record a risk assessment or review."""
    user, case, access = _case(request, case_id)
    check_may_act(access, case, ASSESSMENT_ROLES)
    posted = request.method == "POST"
    first = not selectors.risk_status(case).assessed_at
    form = RiskForm(
        request.POST if posted else None,
        child=case.person.presumed_child,
        initial={
            "risk_type": RiskType.INITIAL if first else RiskType.ONGOING,
            "next_review_due": services.default_next_review(),
        },
    )
    if posted and form.is_valid():
        data = form.cleaned_data
        try:
            services.risk_assessment_record(
                actor=user,
                case_id=case.pk,
                risk_type=data["risk_type"],
                level=data["level"],
                factors=data["factors"],
                no_risk_factor=data["no_risk_factor"],
                involvement=data["involvement"],
                person_concerns=data["person_concerns"],
                judgement=data["judgement"],
                safety_measures=data["safety_measures"],
                next_review_due=data["next_review_due"],
            )
        except DomainError as exc:
            if _refused(exc):
                raise
            apply_error(form, exc)
        else:
            messages.success(request, _("The risk assessment is recorded."))
            return HttpResponseRedirect(_back(case))
    return render(
        request,
        "assessments/risk_form.html",
        {"case": case, "form": form, "status": selectors.risk_status(case)},
        status=400 if posted else 200,
    )


# --- the support and safety plan ------------------------------------------------------


@login_required
@never_cache
@require_GET
def plan_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Show the case's plan (its newest version) and the list of versions."""
    user, case, access = _case(request, case_id)
    overview = selectors.plan_for_user(user=user, case=case)
    return render(
        request,
        "assessments/plan.html",
        {
            "case": case,
            "view": overview.current,
            "versions": overview.versions,
            "actions": plan_actions(
                access, case, overview.versions[0] if overview.versions else None
            ),
            "missing_labels": (
                [plans.field_label(c) for c in overview.current.missing]
                if overview.current
                else []
            ),
        },
    )


@login_required
@never_cache
@require_GET
def plan_version_view(request: HttpRequest, case_id: UUID, number: int) -> HttpResponse:
    """Show one version of the plan as it was saved or signed."""
    user, case, _access = _case(request, case_id)
    view = selectors.plan_version_for_user(user=user, case=case, number=number)
    return render(
        request,
        "assessments/plan_version.html",
        {
            "case": case,
            "view": view,
            "versions": selectors.plan_versions(case),
            "missing_labels": [plans.field_label(c) for c in view.missing],
        },
    )


def _plan_form(
    request: HttpRequest, case: Case, user: User, data: Any = None
) -> tuple[PlanForm, Any]:
    """Return the plan form (bound to ``data`` if given) and the latest version."""
    latest = selectors.latest_plan_version(case)
    content = None
    if latest is not None:
        view = selectors.plan_version_for_user(
            user=user, case=case, number=latest.number
        )
        content = view.content
    rows = max(3, (len(content.steps) if content else 0) + 2)
    initial = PlanForm.initial_from(
        content,
        language=latest.language if latest else plans.default_language(case),
        interviewer_name=user.get_full_name() or user.get_username(),
        interviewer_organisation=str(user.organisation_id or ""),
        today=timezone.localdate(),
        keep_acknowledgements=latest is None or latest.is_draft,
    )
    form = PlanForm(
        data,
        initial=initial,
        rows=rows,
        child=case.person.presumed_child,
        languages=case.person.languages,
        interviewer_organisations=plans.interviewer_organisation_ids(case, user),
    )
    return form, latest


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def plan_edit_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Edit the draft of the plan; after signing, start a new version."""
    user, case, access = _case(request, case_id)
    check_may_act(access, case, PLAN_ROLES)
    posted = request.method == "POST"
    form, latest = _plan_form(request, case, user, request.POST if posted else None)
    if posted and form.is_valid():
        try:
            version, created = plans.plan_save(
                actor=user,
                case_id=case.pk,
                content=form.plan_input(),
                language=form.cleaned_data["language"],
            )
        except DomainError as exc:
            if _refused(exc):
                raise
            apply_error(form, exc)
        else:
            messages.success(
                request,
                _("Version %(n)d of the plan is saved as a draft.")
                % {"n": version.number}
                if created
                else _("The draft is saved."),
            )
            return HttpResponseRedirect(reverse("assessments:plan", args=[case.pk]))
    return _render_edit(request, case, form, latest, status=400 if posted else 200)


def _render_edit(
    request: HttpRequest,
    case: Case,
    form: PlanForm,
    latest: SupportPlanVersion | None,
    *,
    status: int,
    refusal: str = "",
) -> HttpResponse:
    new_version = latest is None or not latest.is_draft
    if latest is None:
        number = 1
    else:
        number = latest.number + 1 if new_version else latest.number
    return render(
        request,
        "assessments/plan_edit.html",
        {
            "case": case,
            "form": form,
            "latest": latest,
            "number": number,
            "new_version": new_version,
            "refusal": refusal,
        },
        status=status,
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def plan_sign_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Confirm and sign the draft of the plan (refused while fields are missing)."""
    user, case, access = _case(request, case_id)
    check_may_act(access, case, PLAN_ROLES)
    latest = selectors.latest_plan_version(case)
    if latest is None or not latest.is_draft:
        raise NoDraftToSign(_("There is no draft of the plan to sign."))
    if request.method == "POST":
        try:
            number = int(request.POST.get("number", ""))
        except ValueError:
            number = latest.number
        try:
            plans.plan_sign(actor=user, case_id=case.pk, number=number)
        except (PlanIncomplete, AssessmentInvalidInput) as exc:
            # Missing fields, or a date or organisation no longer plausible:
            # the draft as an edit form, the message next to each field.
            form, latest = _plan_form(request, case, user)
            bound = PlanForm(
                PlanForm.as_data(form.initial, form.rows),
                initial=form.initial,
                rows=form.rows,
                child=case.person.presumed_child,
                languages=case.person.languages,
                interviewer_organisations=form.interviewer_organisations,
            )
            bound.is_valid()
            apply_error(bound, exc)
            return _render_edit(
                request, case, bound, latest, status=409, refusal=exc.message
            )
        messages.success(request, _("The plan is signed."))
        return HttpResponseRedirect(reverse("assessments:plan", args=[case.pk]))
    view = selectors.plan_version_for_user(user=user, case=case, number=latest.number)
    return render(
        request,
        "assessments/plan_sign.html",
        {
            "case": case,
            "view": view,
            "missing_labels": [plans.field_label(c) for c in view.missing],
        },
    )


# --- the printable plan ---------------------------------------------------------------


def label_language(code: str) -> str | None:
    """Return the interface language to print labels in for ISO 639 ``code``.

    A two- or three-letter code of a language the node's interface has
    (``settings.LANGUAGES``); None when it has none (labels in English).
    """
    code = (code or "").strip().lower()
    available = {c for c, _name in settings.LANGUAGES}
    if code in available:
        return code
    found = pycountry.languages.get(alpha_3=code) if len(code) == 3 else None
    alpha_2 = getattr(found, "alpha_2", None) if found is not None else None
    return str(alpha_2) if alpha_2 in available else None


@login_required
@never_cache
@require_GET
def plan_print_view(request: HttpRequest, case_id: UUID, number: int) -> HttpResponse:
    """Print one version of the plan, its labels in the plan's language.

    The labels are in the language the plan is printed in when the node's
    interface has it; otherwise in English, with a line saying so. What was
    typed is printed as typed.
    """
    user, case, _access = _case(request, case_id)
    view = selectors.plan_version_for_user(user=user, case=case, number=number)
    language = label_language(view.version.language)
    context = {
        "case": case,
        "view": view,
        "content": view.content,
        "english_fallback": language is None,
        "plan_language": view.version.language,
    }
    with translation.override(language or "en"):
        context["label_language"] = translation.get_language()
        body = render_to_string("assessments/plan_print.html", context, request=request)
    return HttpResponse(body)
