"""The audit log page and chain verification."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from trm.accounts.models import User
from trm.audit import selectors, services


@login_required
def entry_list_view(request: HttpRequest) -> HttpResponse:
    actor = request.user
    assert isinstance(actor, User)  # noqa: S101
    action = request.GET.get("action", "").strip()
    entries = selectors.entry_list(actor=actor, action=action)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    actor_ids = {e.actor_id for e in page.object_list if e.actor_id is not None}
    usernames = dict(
        User.objects.filter(pk__in=actor_ids).values_list("pk", "username")
    )
    rows = [(entry, usernames.get(entry.actor_id or 0, "")) for entry in page]
    return render(
        request,
        "audit/entry_list.html",
        {"page": page, "rows": rows, "action": action},
    )


@login_required
@require_POST
def verify_view(request: HttpRequest) -> HttpResponse:
    actor = request.user
    assert isinstance(actor, User)  # noqa: S101
    selectors.require_audit_reader(actor)
    result = services.verify()
    return render(request, "audit/verify_result.html", {"result": result})
