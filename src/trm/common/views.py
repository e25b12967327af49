"""The home page and the health check."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from trm.accounts.models import Role


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Show the signed-in user's roles and where to start."""
    user = request.user
    roles = sorted(user.role_codes())  # type: ignore[union-attr]
    return render(
        request,
        "home.html",
        {"roles": [Role(code).label for code in roles], "role_codes": roles},
    )


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Answer 200 when the database answers; used by proxies and the demo."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
