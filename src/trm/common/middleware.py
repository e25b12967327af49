"""Turn a domain refusal raised in a page view into a clear error page."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from trm.common.errors import DomainError


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
