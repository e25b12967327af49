"""JSON API plumbing: authentication and structured error bodies.

Every error answer has the shape::

    {"error": {"code": "<stable code>", "message": "<safe sentence>",
               "details": {...}}}

Codes are stable; messages are for people and may change or be translated.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, NinjaAPI
from ninja import pagination as ninja_pagination
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer
from ninja.security.apikey import APIKeyCookie
from ninja.utils import check_csrf

from trm.common.errors import DomainError

if TYPE_CHECKING:
    from trm.accounts.models import User


class APIError(DomainError):
    """A refusal raised by API plumbing (authentication, CSRF, 2FA)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status_override = status
        self.code_override = code


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """Return the structured error body."""
    return {"error": {"code": code, "message": message, "details": details or {}}}


def request_actor(request: HttpRequest) -> User:
    """Return the user the API's authentication classes put on ``request.auth``."""
    from trm.accounts.models import User

    user = getattr(request, "auth", None)
    if not isinstance(user, User):  # pragma: no cover - every route authenticates
        raise APIError(401, "auth.required", "Authentication required.")
    return user


def _check_account_state(user: Any) -> Any:
    if not user.is_active:
        raise APIError(401, "auth.inactive", "This account is deactivated.")
    if not user.organisation_is_active():
        raise APIError(
            401,
            "auth.inactive",
            _("This account's organisation is deactivated on this node."),
        )
    if user.must_change_password:
        raise APIError(
            403,
            "auth.password_change_required",
            "Change your one-time password in the web interface first.",
        )
    return user


#: The highest page number a list endpoint accepts. Beyond it the offset no longer
#: fits the database's integer (a 500), and no list here is that long.
MAX_PAGE = 1_000_000


class PageNumberPagination(ninja_pagination.PageNumberPagination):
    """django-ninja's page-number pagination with the page number bounded."""

    class Input(ninja_pagination.PageNumberPagination.Input):
        page: int = Field(1, ge=1, le=MAX_PAGE)
        page_size: int | None = Field(None, ge=1, le=MAX_PAGE)


class BearerTokenAuth(HttpBearer):
    """``Authorization: Bearer trm_…`` with a token made on the "My account" page."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        from trm.accounts.models import APIToken, TOTPDevice, hash_token

        record = (
            APIToken.objects.select_related("user", "user__organisation")
            .filter(token_hash=hash_token(token))
            .first()
        )
        if record is None or not record.is_usable():
            raise APIError(
                401,
                "auth.invalid_token",
                "The API token is unknown, expired or revoked.",
            )
        user = _check_account_state(record.user)
        # The roles may have grown since the token was made: a token made from a
        # password-only session must not bypass the second factor they now need.
        if user.requires_two_factor() and not (
            record.issued_with_second_factor
            and TOTPDevice.objects.filter(user=user, confirmed=True).exists()
        ):
            raise APIError(
                401,
                "auth.second_factor_required",
                _(
                    "Your roles require two-factor sign-in, and this token was "
                    "made without it. Sign in with your authenticator code and "
                    "make a new token on the My account page."
                ),
            )
        now = timezone.now()
        if record.last_used_at is None or now - record.last_used_at > timedelta(
            minutes=5
        ):
            APIToken.objects.filter(pk=record.pk).update(last_used_at=now)
        request.user = user
        return user


class VerifiedSessionAuth(APIKeyCookie):
    """The browser session, with CSRF for unsafe methods and 2FA where required."""

    param_name = settings.SESSION_COOKIE_NAME

    def _get_key(self, request: HttpRequest) -> str | None:
        key = request.COOKIES.get(self.param_name)
        if key is None:
            return None
        if check_csrf(request):
            raise APIError(
                403,
                "auth.csrf_failed",
                "CSRF check failed: send the X-CSRFToken header with the value of "
                "the csrftoken cookie.",
            )
        return key

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = request.user
        if key is None or not user.is_authenticated:
            return None
        if user.requires_two_factor() and not user.is_verified():
            raise APIError(
                401,
                "auth.second_factor_required",
                "Finish signing in with your authenticator code first.",
            )
        return _check_account_state(user)


def install_error_handlers(api: NinjaAPI) -> None:
    """Map every failure to the structured error body."""

    def respond(
        request: HttpRequest, status: int, code: str, message: str, details: Any = None
    ) -> HttpResponse:
        return api.create_response(
            request, error_body(code, message, details), status=status
        )

    @api.exception_handler(APIError)
    def _api_error(request: HttpRequest, exc: APIError) -> HttpResponse:
        return respond(request, exc.status_override, exc.code_override, exc.message)

    @api.exception_handler(DomainError)
    def _domain(request: HttpRequest, exc: DomainError) -> HttpResponse:
        return respond(request, exc.status, exc.code, exc.message, exc.details)

    @api.exception_handler(ValidationError)
    def _validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        details = {
            "errors": [
                {
                    "location": [str(part) for part in error.get("loc", ())],
                    "message": error.get("msg", ""),
                    "type": error.get("type", ""),
                }
                for error in exc.errors
            ]
        }
        return respond(
            request, 422, "invalid_input", "The request is not valid.", details
        )

    @api.exception_handler(AuthenticationError)
    def _unauthenticated(
        request: HttpRequest, exc: AuthenticationError
    ) -> HttpResponse:
        return respond(
            request,
            401,
            "auth.required",
            "Authentication required: sign in, or send 'Authorization: Bearer "
            "<token>' with a token from the My account page.",
        )

    @api.exception_handler(HttpError)
    def _http(request: HttpRequest, exc: HttpError) -> HttpResponse:
        return respond(request, exc.status_code, f"http_{exc.status_code}", exc.message)

    @api.exception_handler(RequestDataTooBig)
    def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return respond(
            request,
            413,
            "request_too_large",
            "The request body is too large.",
            {"max_bytes": limit} if limit else None,
        )

    @api.exception_handler(Http404)
    def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return respond(request, 404, "not_found", "Not found.")
