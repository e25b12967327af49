"""Pages of the service directory: search, one profile, capacity, editing, CSV.

The directory lists organisations and their contact details, never anything
about a trafficked person, so anyone who works on cases may search it. Reads go
through :mod:`trm.directory.selectors`, writes through
:mod:`trm.directory.services`, which check who may change what.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from trm.accounts.errors import OrganisationNotFound
from trm.accounts.models import Organisation, Role, User
from trm.accounts.permissions import require_node_administrator
from trm.common.errors import DomainError, NotFound, PermissionDenied
from trm.common.forms import add_domain_error
from trm.directory import importer, selectors, services
from trm.directory.forms import CapacityForm, DirectorySearchForm, ProfileForm
from trm.directory.models import ServiceProfile

PER_PAGE = 25

#: Who may search the directory: anyone who works on cases, and the node's
#: administrators who keep it.
READER_ROLES = frozenset(Role.values) - {Role.AUDITOR}


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - login_required guarantees it
    return user


def require_reader(user: User) -> User:
    """Refuse users who neither work on cases nor administer the node."""
    if not user.role_codes() & READER_ROLES:
        raise PermissionDenied(
            _("Only people who work on cases may use the service directory.")
        )
    return user


def may_report_capacity(user: User, organisation_id: UUID) -> bool:
    """Return whether to offer ``user`` the capacity form (the service decides)."""
    if user.has_role(Role.NODE_ADMINISTRATOR):
        return True
    return user.organisation_id == organisation_id and user.has_role(
        *services.CAPACITY_ROLES
    )


@dataclass(frozen=True)
class Row:
    """One profile as the pages show it, with what to say about its capacity."""

    profile: ServiceProfile
    capacity_reported: bool
    updated_by_provider: bool


def row(profile: ServiceProfile) -> Row:
    """Return ``profile`` with whether, and by whom, its capacity was reported."""
    updated_by = profile.capacity_updated_by
    return Row(
        profile=profile,
        capacity_reported=(
            profile.capacity_updated_at is not None and profile.places_total is not None
        ),
        updated_by_provider=(
            updated_by is not None
            and updated_by.organisation_id == profile.organisation_id
        ),
    )


@login_required
@never_cache
@require_GET
def directory_list_view(request: HttpRequest) -> HttpResponse:
    """Search the services by name or place, with filters."""
    user = require_reader(_user(request))
    form = DirectorySearchForm(request.GET, regions=selectors.regions())
    form.is_valid()  # invalid filters are left out; the form shows why
    filters = form.filters()
    profiles = selectors.directory_search(**filters).select_related(
        "organisation", "capacity_updated_by"
    )
    page = Paginator(profiles, PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "directory/list.html",
        {
            "form": form,
            "page": page,
            "rows": [row(p) for p in page.object_list],
            "filtered": any(v not in ("", None) for v in filters.values()),
            "is_admin": user.has_role(Role.NODE_ADMINISTRATOR),
        },
    )


@login_required
@never_cache
@require_GET
def directory_detail_view(request: HttpRequest, organisation_id: UUID) -> HttpResponse:
    """Show everything the directory knows about one service organisation."""
    user = require_reader(_user(request))
    profile = selectors.profile_get(organisation_id=organisation_id)
    return render(
        request,
        "directory/detail.html",
        {
            "row": row(profile),
            "profile": profile,
            "may_report_capacity": may_report_capacity(user, organisation_id),
            "is_admin": user.has_role(Role.NODE_ADMINISTRATOR),
        },
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def capacity_view(request: HttpRequest, organisation_id: UUID) -> HttpResponse:
    """Report the places a provider has free now."""
    user = _user(request)
    profile = selectors.profile_get(organisation_id=organisation_id)
    if not may_report_capacity(user, organisation_id):
        raise PermissionDenied(
            _("Only the organisation's own staff may report its capacity.")
        )
    detail_url = reverse("directory:detail", args=[organisation_id])
    if request.method == "POST":
        form = CapacityForm(request.POST)
    else:
        form = CapacityForm(
            initial={
                "places_total": profile.places_total,
                "places_free": profile.places_free,
                "accepts_referrals": profile.accepts_referrals,
            }
        )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.capacity_update(
                actor=user,
                organisation_id=organisation_id,
                places_total=data["places_total"],
                places_free=data["places_free"],
                accepts_referrals=data["accepts_referrals"],
            )
        except DomainError as exc:
            if isinstance(exc, NotFound | PermissionDenied):
                raise
            add_domain_error(form, exc)
        else:
            messages.success(request, _("The capacity is updated."))
            return HttpResponseRedirect(detail_url)
    return render(
        request,
        "directory/capacity.html",
        {"profile": profile, "form": form, "detail_url": detail_url},
        status=400 if request.method == "POST" else 200,
    )


def _organisation(organisation_id: UUID) -> Organisation:
    organisation = Organisation.objects.filter(pk=organisation_id).first()
    if organisation is None:
        raise OrganisationNotFound(_("No such organisation."))
    return organisation


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def profile_edit_view(request: HttpRequest, organisation_id: UUID) -> HttpResponse:
    """Record or change an organisation's entry in the directory."""
    user = _user(request)
    require_node_administrator(user)
    organisation = _organisation(organisation_id)
    try:
        profile: ServiceProfile | None = selectors.profile_get(
            organisation_id=organisation_id, include_inactive=True
        )
    except NotFound:
        profile = None
    if request.method == "POST":
        form = ProfileForm(request.POST)
    elif profile is not None:
        form = ProfileForm(initial=ProfileForm.initial_from(profile))
    else:
        form = ProfileForm(initial={"accepts_referrals": True})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.profile_save(
                actor=user,
                organisation_id=organisation_id,
                service_types=data["service_types"],
                target_groups=data["target_groups"],
                languages=data["languages"],
                region=data["region"],
                address=data["address"],
                opening_hours=data["opening_hours"],
                contact_24_7=data["contact_24_7"],
                email=data["email"],
                phone=data["phone"],
                website=data["website"],
                accepts_referrals=data["accepts_referrals"],
                latitude=data["latitude"],
                longitude=data["longitude"],
            )
        except DomainError as exc:
            if isinstance(exc, NotFound | PermissionDenied):
                raise
            add_domain_error(form, exc)
        else:
            messages.success(request, _("The directory entry is saved."))
            return HttpResponseRedirect(
                reverse("directory:detail", args=[organisation_id])
            )
    return render(
        request,
        "directory/edit.html",
        {"organisation": organisation, "profile": profile, "form": form},
        status=400 if request.method == "POST" else 200,
    )


@login_required
@never_cache
@require_GET
def export_view(request: HttpRequest) -> HttpResponse:
    """Download the whole directory as CSV (node administrators)."""
    require_node_administrator(_user(request))
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    filename = f"service-directory-{timezone.localdate():%Y-%m-%d}.csv"
    response["Content-Disposition"] = (
        content_disposition_header(as_attachment=True, filename=filename)
        or "attachment"
    )
    buffer = io.StringIO(newline="")
    importer.export_csv(buffer)
    response.write(buffer.getvalue())
    return response
