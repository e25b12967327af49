"""Session idle expiry and the account gate (second factor, password change)."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

SESSION_LAST_SEEN = "trm_last_seen"

# Paths a signed-in user may reach before finishing the second factor or the
# forced password change. Everything else redirects to the step still owed.
_ALWAYS_OPEN = ("/static/", "/i18n/", "/favicon.ico", "/healthz")


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)


class IdleSessionTimeoutMiddleware:
    """Sign a user out after ``TRM_SESSION_IDLE_MINUTES`` without a request.

    The user is told why on the sign-in page, and returns to the page they were
    on after signing in again.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = time.time()
            last_seen = request.session.get(SESSION_LAST_SEEN)
            idle_limit = settings.TRM_SESSION_IDLE_MINUTES * 60
            if last_seen is not None and now - float(last_seen) > idle_limit:
                logout(request)
                if request.path.startswith("/api/"):
                    return self.get_response(request)
                messages.info(
                    request,
                    _(
                        "You were signed out after %(minutes)d minutes without "
                        "activity. Please sign in again."
                    )
                    % {"minutes": settings.TRM_SESSION_IDLE_MINUTES},
                )
                login_url = reverse("accounts:login")
                query = urlencode({"next": request.get_full_path()})
                return _redirect(request, f"{login_url}?{query}")
            request.session[SESSION_LAST_SEEN] = now
        return self.get_response(request)


class AccountGateMiddleware:
    """Send a signed-in user to the step they still owe before anything else.

    0. A user whose organisation was deactivated is signed out (the user's own
       deactivation already ends the session: Django no longer loads the user).
    1. Second factor: a user whose roles can see personal data must verify a
       TOTP code (or enrol an authenticator first).
    2. A one-time password must be changed.

    The JSON API is not gated here: its authentication checks the same rules
    and answers with structured errors instead of redirects.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        path = request.path
        if not user.is_authenticated or path.startswith(
            (*_ALWAYS_OPEN, "/api/", "/exchange/")
        ):
            return self.get_response(request)
        if not user.organisation_is_active():
            logout(request)
            messages.error(
                request,
                _(
                    "Your organisation is deactivated on this node, so you were "
                    "signed out. Ask your node administrator."
                ),
            )
            return _redirect(request, reverse("accounts:login"))
        allowed = {
            reverse("accounts:logout"),
            reverse("accounts:verify"),
            reverse("accounts:enrol"),
        }
        if path in allowed:
            return self.get_response(request)
        if user.requires_two_factor() and not user.is_verified():
            from trm.accounts.models import TOTPDevice

            has_device = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
            target = reverse("accounts:verify" if has_device else "accounts:enrol")
            query = urlencode({"next": request.get_full_path()})
            return _redirect(request, f"{target}?{query}")
        if user.must_change_password and path != reverse("accounts:password_change"):
            return _redirect(request, reverse("accounts:password_change"))
        return self.get_response(request)
