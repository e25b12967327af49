"""Cross-cutting response handling: domain errors, caching, API 405 bodies."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from whitenoise.middleware import WhiteNoiseMiddleware  # type: ignore[import-untyped]

from trm.common.errors import DomainError


def no_store(response: HttpResponseBase) -> HttpResponseBase:
    """Forbid browsers and proxies to keep a copy of ``response``.

    For pages that show a secret once (one-time password, API token, TOTP key)
    or personal data: neither the back button nor a shared proxy may show them.
    """
    patch_cache_control(response, no_store=True, private=True)
    return response


class StaticFilesMiddleware(WhiteNoiseMiddleware):  # type: ignore[misc]
    """WhiteNoise: the static files come from the finders (the package's
    ``static/``, ``WHITENOISE_USE_FINDERS``); ``STATIC_ROOT`` is served too
    once ``collectstatic`` filled it. A node never needs to collect, so a
    ``STATIC_ROOT`` that does not exist is left out instead of warned about
    ("No directory at: …/static/") at every start of every node."""

    def add_files(self, root: Any, prefix: str | None = None) -> None:
        where = Path(root).resolve()
        static_root = Path(settings.STATIC_ROOT).resolve()
        if not self.autorefresh and where == static_root and not where.is_dir():
            return
        super().add_files(root, prefix=prefix)


class DomainErrorMiddleware:
    """Render ``errors/domain.html`` with the error's status and safe message."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(
        self, request: HttpRequest, exception: Exception
    ) -> HttpResponse | None:
        if not isinstance(exception, DomainError):
            return None
        return render(
            request,
            "errors/domain.html",
            {"message": exception.message, "code": exception.code},
            status=exception.status,
        )


class NoStoreForSignedInMiddleware:
    """Mark every response to a signed-in user ``Cache-Control: no-store, private``.

    What a signed-in user sees (cases, persons, tokens) must not stay in a shared
    computer's browser cache or in a proxy. API requests with a bearer token count
    too: the token's user is put on ``request.user`` during authentication.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        signed_in_before = bool(user is not None and user.is_authenticated)
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if signed_in_before or (user is not None and user.is_authenticated):
            no_store(response)
        return response


class APIMethodNotAllowedMiddleware:
    """Give the API's 405 answers the structured error body.

    django-ninja answers a method a route does not offer with the plain text
    "Method not allowed" before any of the API's exception handlers run.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code == 405
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            from trm.common.api import error_body

            allowed = sorted(
                m.strip() for m in response.get("Allow", "").split(",") if m.strip()
            )
            structured = HttpResponse(
                json.dumps(
                    error_body(
                        "method_not_allowed",
                        _("This method is not allowed here."),
                        {"allowed": allowed},
                    )
                ),
                status=405,
                content_type="application/json; charset=utf-8",
            )
            for header in ("Allow", "Cache-Control", "Vary"):
                if header in response:
                    structured[header] = response[header]
            return structured
        return response
