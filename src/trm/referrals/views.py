"""Pages of referrals: the case team's forms and detail, the receiver's inbox.

The case team's pages read through :func:`trm.cases.selectors.case_get_for_user`
and :func:`trm.referrals.selectors.referral_for_team` (no access: 404; a
legal-track-only role sees no referral); the inbox through
:func:`trm.referrals.selectors.inbox_referral_for_user` (only the receiving
organisation's service providers and case managers). Writes go only through
:mod:`trm.referrals.services`. A refusal re-displays the form with the message
next to the field it names and keeps what was typed; a missing consent links to
the consent form.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from trm.accounts.models import User
from trm.accounts.node_users import actor_label
from trm.cases import selectors as case_selectors
from trm.cases.access import CaseAccess
from trm.cases.errors import CaseNotFound, PersonErased
from trm.cases.models import Case
from trm.common.errors import DomainError, NotFound, PermissionDenied
from trm.common.forms import add_domain_error
from trm.common.pagination import CappedPaginator
from trm.consent.errors import ConsentMissing
from trm.consent.models import DataCategory
from trm.directory import selectors as directory_selectors
from trm.directory.models import ServiceProfile
from trm.identification.common import require_open, require_roles
from trm.referrals import selectors, services
from trm.referrals.errors import GuardianConsentRequired
from trm.referrals.forms import (
    FeedbackForm,
    NotPossibleForm,
    OrganisationFilterForm,
    OutcomeForm,
    ReferralForm,
)
from trm.referrals.machine import require_move
from trm.referrals.models import (
    MOVES,
    RISK_MARK,
    Referral,
    Status,
)
from trm.referrals.notifications import receiver_users
from trm.referrals.receiving import FEEDBACK_STATES

PER_PAGE = 25
#: The most receivers listed on the form (filters narrow the list).
MAX_CHOICES = 100
CATEGORY_LABELS = dict(DataCategory.choices)


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - login_required guarantees it
    return user


def _team_case(user: User, case_id: UUID) -> tuple[Case, CaseAccess]:
    """Return a case whose referrals the user may make (404 / 403 otherwise)."""
    case, access = case_selectors.case_get_for_user(user=user, case_id=case_id)
    if access.legal_only:
        raise CaseNotFound(_("No such case."))
    require_roles(access, selectors.REFERRER_ROLES)
    return case, access


def may_refer(access: CaseAccess | None) -> bool:
    """Return True if ``access`` lets the user make referrals on the case."""
    return (
        access is not None
        and not access.via_policy
        and not access.legal_only
        and bool(access.roles & selectors.REFERRER_ROLES)
    )


def _receivers(
    filters: dict[str, Any], *, include: UUID | None = None
) -> list[ServiceProfile]:
    profiles = list(directory_selectors.directory_search(**filters)[:MAX_CHOICES])
    if include is not None and all(p.organisation_id != include for p in profiles):
        extra = (
            ServiceProfile.objects.select_related("organisation")
            .filter(organisation_id=include)
            .first()
        )
        if extra is not None:
            profiles.insert(0, extra)
    return profiles


def _error_context(exc: DomainError | None, case: Case) -> dict[str, Any]:
    """Say on the form when the fix is to record a consent (with its link)."""
    if isinstance(exc, ConsentMissing | GuardianConsentRequired):
        return {"consent_url": reverse("consent:record", args=[case.pk])}
    return {}


def _form_page(
    request: HttpRequest,
    *,
    case: Case,
    referral: Referral | None,
) -> HttpResponse:
    """The new-referral and edit-draft page: save a draft, or save and send."""
    user = _user(request)
    filter_form = OrganisationFilterForm(request.GET or None)
    include = referral.to_organisation_id if referral else None
    posted = request.method == "POST"
    if posted and request.POST.get("to_organisation"):
        try:
            include = UUID(request.POST["to_organisation"])
        except ValueError:
            include = None
    profiles = _receivers(filter_form.filters(), include=include)
    initial: dict[str, Any] = {}
    if referral is not None and not posted:
        detail = selectors.referral_detail(user=user, referral=referral)
        meeting = detail.meeting
        initial = {
            "to_organisation": str(referral.to_organisation_id or ""),
            "services": referral.services,
            "reason": referral.reason,
            "urgency": referral.urgency,
            "categories": referral.categories,
            **(detail.texts or {}),
            "meeting_who": meeting.who if meeting else "",
            "meeting_where": meeting.where if meeting else "",
            "meeting_at": meeting.at if meeting else None,
        }
    form = ReferralForm(
        request.POST if posted else None, initial=initial, profiles=profiles
    )
    error: DomainError | None = None
    if posted and form.is_valid():
        data = form.cleaned_data
        values = {
            "to_organisation_id": UUID(data["to_organisation"]),
            "services": data["services"],
            "reason": data["reason"],
            "urgency": data["urgency"],
            "categories": data["categories"],
            "texts": form.texts(),
            "meeting_who": data["meeting_who"],
            "meeting_where": data["meeting_where"],
            "meeting_at": data["meeting_at"],
        }
        send = request.POST.get("action") == "send"
        saved = False
        try:
            if referral is None:
                referral = services.referral_create(
                    actor=user, case_id=case.pk, **values
                )
            else:
                referral = services.referral_update(
                    actor=user, referral_id=referral.pk, **values
                )
            saved = True
            if send:
                services.referral_send(
                    actor=user,
                    referral_id=referral.pk,
                    capacity_warning_accepted=data["capacity_warning_accepted"],
                )
        except DomainError as exc:
            if isinstance(exc, NotFound) or (
                isinstance(exc, PermissionDenied)
                and not isinstance(exc, ConsentMissing | GuardianConsentRequired)
            ):
                raise
            error = exc
            add_domain_error(form, exc)
            if saved:
                messages.info(
                    request,
                    _("The draft is saved; it was not sent."),
                )
        else:
            if send:
                messages.success(
                    request,
                    _("The referral is sent. The receiver is asked to reply."),
                )
            else:
                messages.success(request, _("The draft referral is saved."))
            return HttpResponseRedirect(reverse("referrals:detail", args=[referral.pk]))
    action = (
        reverse("referrals:edit", args=[referral.pk])
        if referral is not None
        else reverse("referrals:new", args=[case.pk])
    )
    query = request.GET.urlencode()
    return render(
        request,
        "referrals/form.html",
        {
            "case": case,
            "referral": referral,
            "form": form,
            "filter_form": filter_form,
            "action": f"{action}?{query}" if query else action,
            "too_many": len(profiles) >= MAX_CHOICES,
            **_error_context(error, case),
        },
        status=400 if posted else 200,
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def referral_new_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Draft a referral of the case's person, and send it."""
    case, _access = _team_case(_user(request), case_id)
    require_open(case)
    if case.person.is_erased:
        raise PersonErased(_("The person's data was erased."))
    return _form_page(request, case=case, referral=None)


def _team_referral(
    request: HttpRequest, referral_id: UUID, *, act: bool = True
) -> tuple[Referral, CaseAccess]:
    referral, access = selectors.referral_for_team(
        user=_user(request), referral_id=referral_id
    )
    if act:
        require_roles(access, selectors.REFERRER_ROLES)
    return referral, access


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def referral_edit_view(request: HttpRequest, referral_id: UUID) -> HttpResponse:
    """Change a draft referral, and send it."""
    referral, _access = _team_referral(request, referral_id)
    if referral.status != Status.DRAFT:
        return HttpResponseRedirect(reverse("referrals:detail", args=[referral.pk]))
    require_open(referral.case)
    return _form_page(request, case=referral.case, referral=referral)


def _shared_rows(shared: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """Return the shared content in category order, with each category's label."""
    if not shared:
        return []
    order = [c for c in DataCategory.values if c in shared]
    rows = []
    for code in order:
        value = shared[code]
        if code == DataCategory.IDENTITY and value.get("birth_date"):
            value = {**value, "birth_date": date.fromisoformat(value["birth_date"])}
        rows.append((str(CATEGORY_LABELS[code]), (code, value)))
    return rows


def _actions(referral: Referral, access: CaseAccess) -> list[tuple[str, str, str]]:
    """Return the referrer's actions now: (name, label, url)."""
    if not may_refer(access):
        return []
    actions = []
    pk = referral.pk
    if referral.status == Status.DRAFT and not referral.case.is_closed:
        actions.append(
            (
                "edit",
                _("Change or send the draft"),
                reverse("referrals:edit", args=[pk]),
            )
        )
    if referral.status in FEEDBACK_STATES["referrer"]:
        actions.append(
            (
                "feedback",
                _("Record feedback from the receiver"),
                reverse("referrals:feedback", args=[pk]),
            )
        )
    if referral.can("not_possible") and not referral.case.is_closed:
        actions.append(
            (
                "not_possible",
                str(MOVES["not_possible"].label),
                reverse("referrals:not_possible", args=[pk]),
            )
        )
    if referral.can("cancel"):
        actions.append(
            (
                "cancel",
                _("Cancel the referral…"),
                reverse("referrals:cancel", args=[pk]),
            )
        )
    return actions


@login_required
@never_cache
@require_GET
def referral_detail_view(request: HttpRequest, referral_id: UUID) -> HttpResponse:
    """Show a referral to the case team: what was shared, status, feedback."""
    referral, access = _team_referral(request, referral_id, act=False)
    detail = selectors.referral_detail(user=_user(request), referral=referral)
    receivers = 0
    if referral.to_organisation_id and not referral.is_remote:
        receivers = receiver_users(referral).count()
    return render(
        request,
        "referrals/detail.html",
        {
            "case": referral.case,
            "referral": referral,
            "detail": detail,
            "shared_rows": _shared_rows(detail.shared),
            "categories": [str(CATEGORY_LABELS.get(c, c)) for c in referral.categories],
            "risk_mark": RISK_MARK,
            "actions": _actions(referral, access),
            "services": referral.service_labels(),
            "outcome_label": referral.outcome_label(),
            "draft_texts": [
                (name, CATEGORY_LABELS.get(name, name), text)
                for name, text in (detail.texts or {}).items()
            ],
            "no_inbox_users": bool(referral.to_organisation_id)
            and not referral.is_remote
            and receivers == 0,
            "deliveries": (
                selectors.exchange_deliveries(referral=referral)
                if referral.is_remote or referral.is_from_peer
                else []
            ),
        },
    )


def _outcome_page(
    request: HttpRequest,
    *,
    referral: Referral,
    form: OutcomeForm | FeedbackForm,
    perform: Any,
    title: str,
    intro: str,
    submit: str,
    success: str,
    back: str,
    template: str = "referrals/action.html",
    danger: bool = False,
) -> HttpResponse:
    posted = request.method == "POST"
    if posted and form.is_valid():
        try:
            perform(form.cleaned_data)
        except DomainError as exc:
            if isinstance(exc, NotFound | PermissionDenied):
                raise
            add_domain_error(form, exc)
        else:
            messages.success(request, success)
            return HttpResponseRedirect(back)
    return render(
        request,
        template,
        {
            "referral": referral,
            "form": form,
            "title": title,
            "intro": intro,
            "submit": submit,
            "back": back,
            "danger": danger,
        },
        status=400 if posted else 200,
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def referral_cancel_view(request: HttpRequest, referral_id: UUID) -> HttpResponse:
    """Cancel a referral, with a reason (a confirmation page)."""
    referral, _access = _team_referral(request, referral_id)
    require_move(referral, "cancel")
    user = _user(request)
    back = reverse("referrals:detail", args=[referral.pk])
    form = OutcomeForm(request.POST or None, verb="cancel")
    posted = request.method == "POST"
    if posted and form.is_valid():
        try:
            services.referral_cancel(
                actor=user,
                referral_id=referral.pk,
                reason=form.cleaned_data["reason"],
                text=form.cleaned_data["text"],
            )
        except DomainError as exc:
            if isinstance(exc, NotFound | PermissionDenied):
                raise
            add_domain_error(form, exc)
        else:
            messages.success(request, _("The referral is cancelled."))
            return HttpResponseRedirect(back)
    org = referral.to_organisation.name if referral.to_organisation else ""
    return render(
        request,
        "confirm.html",
        {
            "title": _("Cancel the referral to %(org)s?") % {"org": org},
            "body": _(
                "The receiver will no longer see what was shared and is told "
                "that the referral is cancelled. This cannot be undone: make a "
                "new referral if needed."
            ),
            "form": form,
            "confirm_label": _("Cancel the referral"),
            "cancel_href": back,
        },
        status=400 if posted else 200,
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def referral_not_possible_view(request: HttpRequest, referral_id: UUID) -> HttpResponse:
    """Record that this referral is not possible (a draft, or after a decline)."""
    referral, _access = _team_referral(request, referral_id)
    require_open(referral.case)
    require_move(referral, "not_possible")
    user = _user(request)
    return _outcome_page(
        request,
        referral=referral,
        form=OutcomeForm(request.POST or None, verb="not_possible"),
        perform=lambda data: services.referral_not_possible(
            actor=user,
            referral_id=referral.pk,
            reason=data["reason"],
            text=data["text"],
        ),
        title=str(MOVES["not_possible"].label),
        intro=_(
            "When no referral can be made, say why, and find another way to help "
            "the person (BG 1.4 step 5)."
        ),
        submit=_("Record"),
        success=_("Recorded: the referral is not possible."),
        back=reverse("referrals:detail", args=[referral.pk]),
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def case_not_possible_view(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Record that no referral is possible for the case's person."""
    user = _user(request)
    case, _access = _team_case(user, case_id)
    require_open(case)
    profiles = list(directory_selectors.directory_search()[: MAX_CHOICES * 5])
    form = NotPossibleForm(request.POST or None, profiles=profiles)
    back = reverse("cases:detail", args=[case.pk]) + "#referrals"
    posted = request.method == "POST"
    if posted and form.is_valid():
        data = form.cleaned_data
        try:
            services.referral_not_possible_for_case(
                actor=user,
                case_id=case.pk,
                reason=data["reason"],
                text=data["text"],
                to_organisation_id=(
                    UUID(data["to_organisation"]) if data["to_organisation"] else None
                ),
            )
        except DomainError as exc:
            if isinstance(exc, NotFound | PermissionDenied):
                raise
            add_domain_error(form, exc)
        else:
            messages.success(request, _("Recorded: a referral is not possible."))
            return HttpResponseRedirect(back)
    return render(
        request,
        "referrals/action.html",
        {
            "case": case,
            "form": form,
            "title": _("Record that a referral is not possible"),
            "intro": _(
                "When the person cannot be referred — they refuse, no "
                "organisation can take them, or those asked declined — say why, "
                "and find another way to help (BG 1.4 step 5)."
            ),
            "submit": _("Record"),
            "back": back,
        },
        status=400 if posted else 200,
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def referral_feedback_view(request: HttpRequest, referral_id: UUID) -> HttpResponse:
    """Record what the receiver said (by phone, in person) about the referral."""
    referral, _access = _team_referral(request, referral_id)
    user = _user(request)
    return _outcome_page(
        request,
        referral=referral,
        form=FeedbackForm(request.POST or None),
        perform=lambda data: services.referral_feedback(
            actor=user,
            referral_id=referral.pk,
            outcome=data["outcome"],
            text=data["text"],
        ),
        title=_("Record feedback from the receiver"),
        intro=_(
            "Ask the receiving organisation whether the person arrived and the "
            "services started (BG 1.4 step 4)."
        ),
        submit=_("Record the feedback"),
        success=_("The feedback is recorded."),
        back=reverse("referrals:detail", args=[referral.pk]),
    )


# --- the receiver's inbox -------------------------------------------------------------


@login_required
@never_cache
@require_GET
def inbox_view(request: HttpRequest) -> HttpResponse:
    """List the referrals sent to the user's organisation, newest first."""
    user = _user(request)
    status = request.GET.get("status", "")
    if status not in Status.values:
        status = ""
    referrals = selectors.inbox_for_user(user=user, status=status)
    page = CappedPaginator(referrals, PER_PAGE).get_page(request.GET.get("page"))
    statuses = [(s, label) for s, label in Status.choices if s != Status.DRAFT]
    return render(
        request,
        "referrals/inbox.html",
        {
            "page": page,
            "status": status,
            "statuses": statuses,
            "organisation": user.organisation,
        },
    )


def _inbox_actions(referral: Referral) -> list[tuple[str, str, str, bool]]:
    """Return the receiver's actions now: (name, label, url, is_form_page)."""
    pk = referral.pk
    actions = []
    for verb, url_name, page in (
        ("accept", "referrals:accept", False),
        ("decline", "referrals:decline", True),
        ("start", "referrals:start", False),
        ("complete", "referrals:complete", False),
    ):
        if referral.can(verb):
            actions.append(
                (verb, str(MOVES[verb].label), reverse(url_name, args=[pk]), page)
            )
    if referral.status in FEEDBACK_STATES["receiver"]:
        actions.append(
            (
                "feedback",
                _("Give feedback to the referring organisation"),
                reverse("referrals:inbox_feedback", args=[pk]),
                True,
            )
        )
    return actions


@login_required
@never_cache
@require_GET
def inbox_detail_view(request: HttpRequest, referral_id: UUID) -> HttpResponse:
    """Show the receiver exactly what the referral shared, and the actions."""
    user = _user(request)
    referral = selectors.inbox_referral_for_user(user=user, referral_id=referral_id)
    view = selectors.shared_for_receiver(user=user, referral=referral)
    return render(
        request,
        "referrals/inbox_detail.html",
        {
            "referral": referral,
            "view": view,
            "shared_rows": _shared_rows(view.shared),
            "categories": [str(CATEGORY_LABELS.get(c, c)) for c in referral.categories],
            "risk_mark": RISK_MARK,
            "actions": _inbox_actions(referral),
            "referred_by": (
                actor_label(referral.referred_by) if referral.referred_by else ""
            ),
        },
    )


def _inbox_move(request: HttpRequest, referral_id: UUID, verb: str) -> HttpResponse:
    user = _user(request)
    referral = selectors.inbox_referral_for_user(user=user, referral_id=referral_id)
    perform = {
        "accept": services.referral_accept,
        "start": services.referral_start,
        "complete": services.referral_complete,
    }[verb]
    back = reverse("referrals:inbox_detail", args=[referral.pk])
    try:
        perform(actor=user, referral_id=referral.pk)
    except DomainError as exc:
        if isinstance(exc, NotFound | PermissionDenied):
            raise
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            {
                "accept": _("The referral is accepted. The referrer is told."),
                "start": _("Recorded: the services started."),
                "complete": _("Recorded: the referral is completed."),
            }[verb],
        )
    return HttpResponseRedirect(back)


@login_required
@require_POST
def inbox_accept_view(request: HttpRequest, referral_id: UUID) -> HttpResponse:
    """Accept a referral for the user's organisation."""
    return _inbox_move(request, referral_id, "accept")


@login_required
@require_POST
def inbox_start_view(request: HttpRequest, referral_id: UUID) -> HttpResponse:
    """Record that the referred services started."""
    return _inbox_move(request, referral_id, "start")


@login_required
@require_POST
def inbox_complete_view(request: HttpRequest, referral_id: UUID) -> HttpResponse:
    """Record that the referral is completed."""
    return _inbox_move(request, referral_id, "complete")


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def inbox_decline_view(request: HttpRequest, referral_id: UUID) -> HttpResponse:
    """Decline a referral for the user's organisation, with a reason."""
    user = _user(request)
    referral = selectors.inbox_referral_for_user(user=user, referral_id=referral_id)
    require_move(referral, "decline")
    return _outcome_page(
        request,
        referral=referral,
        form=OutcomeForm(request.POST or None, verb="decline"),
        perform=lambda data: services.referral_decline(
            actor=user,
            referral_id=referral.pk,
            reason=data["reason"],
            text=data["text"],
        ),
        title=_("Decline the referral"),
        intro=_(
            "Say why, so that the referring organisation can find another place "
            "for the person quickly."
        ),
        submit=_("Decline the referral"),
        success=_("The referral is declined. The referrer is told."),
        back=reverse("referrals:inbox_detail", args=[referral.pk]),
        danger=True,
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def inbox_feedback_view(request: HttpRequest, referral_id: UUID) -> HttpResponse:
    """Give the referring organisation feedback (BG 1.4 step 4)."""
    user = _user(request)
    referral = selectors.inbox_referral_for_user(user=user, referral_id=referral_id)
    return _outcome_page(
        request,
        referral=referral,
        form=FeedbackForm(request.POST or None),
        perform=lambda data: services.referral_feedback(
            actor=user,
            referral_id=referral.pk,
            outcome=data["outcome"],
            text=data["text"],
        ),
        title=_("Give feedback to the referring organisation"),
        intro=_("Tell them whether the person arrived and the services started."),
        submit=_("Send the feedback"),
        success=_("The feedback is sent to the referring organisation."),
        back=reverse("referrals:inbox_detail", args=[referral.pk]),
    )
