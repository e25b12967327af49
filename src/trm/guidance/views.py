"""Pages of the guidance library: search and browse, "read more", the file,
and editing.

Everyone signed in reads the library (it holds no personal data); national
contact points and node administrators edit it (:mod:`trm.guidance.services`
decides). An uploaded file is only ever sent as a download: ``attachment``,
``nosniff``, a PDF or ``application/octet-stream`` type, and a sandboxing
Content-Security-Policy, so a browser never runs or renders it as a page.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from trm.accounts.models import User
from trm.common.errors import DomainError, NotFound, PermissionDenied
from trm.common.forms import add_domain_error
from trm.guidance import selectors, services
from trm.guidance.files import OCTET_STREAM, PDF
from trm.guidance.forms import ResourceForm, SearchForm
from trm.guidance.models import Resource

PER_PAGE = 20


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - login_required guarantees it
    return user


def step_choices() -> list[tuple[str, str]]:
    """Return ``(step id, "SOP n: title")`` for every step of the node's SOPs."""
    from trm.sop.loader import get_definition

    return [
        (step.id, f"{step.id} · {_(step.title)}") for step in get_definition().steps()
    ]


def step_titles(resource: Resource) -> list[tuple[str, str]]:
    """Return ``(step id, title)`` of the steps the resource supports, in
    the YAML's order: its own ``sop_steps`` and the steps naming it."""
    from trm.sop.loader import get_definition

    return [
        (step.id, _(step.title))
        for step in get_definition().steps()
        if step.id in resource.sop_steps or resource.slug in step.guidance
    ]


@login_required
@never_cache
@require_GET
def list_view(request: HttpRequest) -> HttpResponse:
    """Search and browse the library."""
    user = _user(request)
    form = SearchForm(request.GET, topics=selectors.topics())
    form.is_valid()  # an invalid filter is left out; the form shows why
    filters = form.filters()
    resources = selectors.search_resources(filters)
    page = Paginator(resources, PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "guidance/list.html",
        {
            "form": form,
            "page": page,
            "resources": page.object_list,
            "filtered": filters.given() or bool(form.errors),
            "is_editor": services.is_editor(user),
        },
    )


@login_required
@never_cache
@require_GET
def detail_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Show one resource ("read more")."""
    user = _user(request)
    resource = selectors.resource_get(slug=slug)
    return render(
        request,
        "guidance/detail.html",
        {
            "resource": resource,
            "steps": step_titles(resource),
            "is_editor": services.is_editor(user),
        },
    )


@login_required
@never_cache
@require_GET
def download_view(request: HttpRequest, slug: str) -> FileResponse:
    """Send the resource's file as a download, never as a page."""
    resource = selectors.resource_get(slug=slug)
    if not resource.file:
        raise Http404
    try:
        handle = resource.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=resource.file_name or f"{resource.slug}.bin",
        content_type=PDF if resource.is_pdf() else OCTET_STREAM,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


def _save(
    request: HttpRequest, form: ResourceForm, resource: Resource | None
) -> Resource | None:
    """Call the service; on a refusal, put its message on the form."""
    user = _user(request)
    try:
        if resource is None:
            return services.resource_create(
                actor=user, values=form.values(), upload=form.checked_file
            )
        return services.resource_update(
            actor=user,
            resource_id=resource.pk,
            values=form.values(),
            upload=form.checked_file,
            remove_file=bool(form.cleaned_data.get("remove_file")),
        )
    except DomainError as exc:
        if isinstance(exc, NotFound | PermissionDenied):
            raise
        add_domain_error(form, exc)
        return None


def _edit(request: HttpRequest, resource: Resource | None) -> HttpResponse:
    services.require_editor(_user(request))
    has_file = resource is not None and resource.has_file()
    if request.method == "POST":
        form = ResourceForm(
            request.POST, request.FILES, steps=step_choices(), has_file=has_file
        )
        if form.is_valid():
            saved = _save(request, form, resource)
            if saved is not None:
                messages.success(request, _("The resource is saved."))
                return HttpResponseRedirect(
                    reverse("guidance:detail", args=[saved.slug])
                )
    else:
        initial = ResourceForm.initial_from(resource) if resource else {}
        form = ResourceForm(initial=initial, steps=step_choices(), has_file=has_file)
    return render(
        request,
        "guidance/form.html",
        {"form": form, "resource": resource},
        status=400 if request.method == "POST" else 200,
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def create_view(request: HttpRequest) -> HttpResponse:
    """Add a resource to the library (editors)."""
    return _edit(request, None)


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def edit_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Change a resource (editors)."""
    services.require_editor(_user(request))
    return _edit(request, selectors.resource_get(slug=slug))


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def delete_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Ask, then remove a resource and its file (editors)."""
    user = _user(request)
    services.require_editor(user)
    resource = selectors.resource_get(slug=slug)
    if request.method == "POST":
        services.resource_delete(actor=user, resource_id=resource.pk)
        messages.success(request, _("The resource is deleted."))
        return HttpResponseRedirect(reverse("guidance:list"))
    return render(
        request,
        "guidance/delete.html",
        {"resource": resource, "steps": step_titles(resource)},
    )
