"""Sign-in, second factor, own account, and node administration pages."""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import segno
from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout as auth_logout
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from trm.accounts import selectors, services
from trm.accounts.errors import WrongPassword
from trm.accounts.forms import (
    APITokenForm,
    OrganisationForm,
    OTPTokenForm,
    PasswordChangeForm,
    PasswordConfirmForm,
    RolesForm,
    SignInForm,
    UserCreateForm,
    UserDetailsForm,
)
from trm.accounts.models import APIToken, Organisation, Role, TOTPDevice, User
from trm.common.errors import DomainError, NotFound, PermissionDenied
from trm.common.forms import add_domain_error
from trm.common.middleware import no_store

PAGE_SIZE = 25
SESSION_PENDING_DEVICE = "trm_pending_totp"
#: When the user last confirmed their password (re-authentication), epoch seconds.
SESSION_REAUTH_AT = "trm_reauth_at"
REAUTH_SECONDS = 10 * 60
#: Wrong current passwords in this session (password change, re-authentication).
SESSION_PASSWORD_FAILURES = "trm_password_failures"  # noqa: S105 - a key name
MAX_PASSWORD_FAILURES = 5


def _safe_next(request: HttpRequest, default: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or default
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - login_required guarantees it
    return user


def lockout_response(
    request: HttpRequest, credentials: Any, *args: Any
) -> HttpResponse:
    """Tell a locked-out person what happened and for how long (django-axes)."""
    cool_off = get_cool_off(request)
    minutes = int(cool_off.total_seconds() // 60) if cool_off else 0
    return render(
        request,
        "accounts/locked_out.html",
        {"minutes": minutes, "failures": settings.AXES_FAILURE_LIMIT},
        status=429,
    )


class SignInView(LoginView):
    template_name = "accounts/login.html"
    authentication_form = SignInForm
    redirect_authenticated_user = True

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        services.record_sign_in(user=form.get_user(), step="password")
        return response


@require_http_methods(["GET", "POST"])
def logout_view(request: HttpRequest) -> HttpResponse:
    """Sign out on POST; on GET (a typed or bookmarked address) ask to confirm."""
    if request.method == "GET":
        if not request.user.is_authenticated:
            return redirect("accounts:login")
        return render(request, "accounts/logout.html")
    auth_logout(request)
    messages.info(request, _("You are signed out."))
    return redirect("accounts:login")


def _wrong_password(
    request: HttpRequest, form: Any, error: WrongPassword
) -> HttpResponse | None:
    """Count a wrong current password; sign out after the last allowed one.

    Returns the redirect to the sign-in page once the limit is reached, else None
    after putting the error on ``form``. Guessing the password of a session left
    open must cost a fresh sign-in, which django-axes throttles.
    """
    failures = int(request.session.get(SESSION_PASSWORD_FAILURES, 0)) + 1
    if failures >= MAX_PASSWORD_FAILURES:
        auth_logout(request)
        messages.error(
            request,
            _(
                "You entered a wrong current password %(n)d times, so you were "
                "signed out. Sign in again."
            )
            % {"n": MAX_PASSWORD_FAILURES},
        )
        return redirect("accounts:login")
    request.session[SESSION_PASSWORD_FAILURES] = failures
    add_domain_error(form, error)
    left = MAX_PASSWORD_FAILURES - failures
    field = error.details.get("field")
    form.add_error(
        field if field in form.fields else None,
        ngettext(
            "After %(n)d more wrong attempt you will be signed out.",
            "After %(n)d more wrong attempts you will be signed out.",
            left,
        )
        % {"n": left},
    )
    return None


def _recently_reauthenticated(request: HttpRequest) -> bool:
    confirmed_at = float(request.session.get(SESSION_REAUTH_AT, 0))
    return time.time() - confirmed_at <= REAUTH_SECONDS


def _reauthenticate(request: HttpRequest, user: User, next_url: str) -> HttpResponse:
    """Ask for the current password before replacing the authenticator."""
    bound = request.method == "POST" and "password" in request.POST
    form = PasswordConfirmForm(request.POST if bound else None)
    if bound and form.is_valid():
        try:
            services.password_confirm(user=user, password=form.cleaned_data["password"])
        except WrongPassword as exc:
            signed_out = _wrong_password(request, form, exc)
            if signed_out is not None:
                return signed_out
        else:
            request.session.pop(SESSION_PASSWORD_FAILURES, None)
            request.session[SESSION_REAUTH_AT] = time.time()
            query = urlencode({"next": next_url})
            return redirect(f"{reverse('accounts:enrol')}?{query}")
    return render(
        request,
        "accounts/reauthenticate.html",
        {"form": form, "next": next_url},
        status=400 if bound else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def verify_view(request: HttpRequest) -> HttpResponse:
    """Second step of sign-in: the TOTP code."""
    user = _user(request)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        return redirect("accounts:enrol")
    next_url = _safe_next(request)
    form = OTPTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        allowed, _detail = device.verify_is_allowed()
        if not allowed:
            form.add_error(
                "otp_token",
                _(
                    "Too many wrong codes. Wait a little (the wait grows with each "
                    "wrong code), then enter the current code."
                ),
            )
        elif device.verify_token(form.cleaned_data["otp_token"]):
            request.session.cycle_key()
            otp_login(request, device)
            services.record_sign_in(user=user, step="second_factor")
            return redirect(next_url)
        else:
            form.add_error(
                "otp_token",
                _("That code is not correct. Enter the code your app shows now."),
            )
    return render(request, "accounts/verify.html", {"form": form, "next": next_url})


@login_required
@require_http_methods(["GET", "POST"])
def enrol_view(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app: show the secret as a QR code, confirm a code."""
    user = _user(request)
    replacing = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    if replacing and not user.is_verified():
        return redirect("accounts:verify")
    next_url = _safe_next(request)
    # Whoever finds a verified session left open must not be able to move the
    # second factor to their own phone without knowing the password.
    if replacing and not _recently_reauthenticated(request):
        return _reauthenticate(request, user, next_url)
    pending_id = request.session.get(SESSION_PENDING_DEVICE)
    device = (
        TOTPDevice.objects.filter(pk=pending_id, user=user, confirmed=False).first()
        if pending_id
        else None
    )
    if device is None:
        device = services.totp_enrol_start(user=user).device
        request.session[SESSION_PENDING_DEVICE] = device.pk
    form = OTPTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            confirmed = services.totp_enrol_confirm(
                user=user, device_id=device.pk, token=form.cleaned_data["otp_token"]
            )
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            request.session.pop(SESSION_PENDING_DEVICE, None)
            request.session.pop(SESSION_REAUTH_AT, None)
            request.session.cycle_key()
            otp_login(request, confirmed)
            messages.success(request, _("Your authenticator app is set up."))
            return redirect(next_url)
    url = device.config_url(issuer=settings.OTP_TOTP_ISSUER)
    qr_svg = segno.make(url, error="m").svg_inline(scale=4, title=_("QR code"))
    secret_b32 = base64.b32encode(device.bin_key).decode()
    spaced = " ".join(secret_b32[i : i + 4] for i in range(0, len(secret_b32), 4))
    response = render(
        request,
        "accounts/enrol.html",
        {"form": form, "qr_svg": qr_svg, "secret": spaced, "next": next_url},
    )
    no_store(response)
    return response


@login_required
@require_http_methods(["GET", "POST"])
def password_change_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = PasswordChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.password_change(
                user=user,
                old_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["new_password"],
            )
        except WrongPassword as exc:
            signed_out = _wrong_password(request, form, exc)
            if signed_out is not None:
                return signed_out
        except DomainError as exc:
            for message in exc.details.get("messages", []):
                form.add_error("new_password", message)
            if not exc.details.get("messages"):
                add_domain_error(form, exc)
        else:
            request.session.pop(SESSION_PASSWORD_FAILURES, None)
            user.refresh_from_db()
            update_session_auth_hash(request, user)
            messages.success(request, _("Your password is changed."))
            return redirect("home")
    return render(
        request,
        "accounts/password_change.html",
        {"form": form, "forced": user.must_change_password},
    )


@login_required
@never_cache
@require_POST
def keep_alive_view(request: HttpRequest) -> HttpResponse:
    """Answer 204: the request itself counts as activity for the idle limit.

    :class:`~trm.accounts.middleware.IdleSessionTimeoutMiddleware` records the
    time of every signed-in request. Pages with long forms call this
    (``data-keep-alive`` in ``trm.js``) only while the person is typing or
    choosing answers, so time spent filling in a form is not idle time, and a
    session left alone still ends after ``TRM_SESSION_IDLE_MINUTES``. POST with
    the CSRF token, so that another site cannot keep a session open.
    """
    return HttpResponse(status=204)


@login_required
def account_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    return render(
        request,
        "accounts/account.html",
        {
            "roles": [Role(code).label for code in sorted(user.role_codes())],
            "tokens": APIToken.objects.filter(user=user).order_by("-created_at")[:50],
            "token_form": APITokenForm(),
        },
    )


@login_required
@require_POST
def api_token_create_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = APITokenForm(request.POST)
    new_raw = None
    if form.is_valid():
        try:
            new = services.api_token_create(
                actor=user,
                name=form.cleaned_data["name"],
                days=form.cleaned_data["days"],
                second_factor=user.is_verified(),
            )
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            new_raw = new.raw
            form = APITokenForm()
    response = render(
        request,
        "accounts/account.html",
        {
            "roles": [Role(code).label for code in sorted(user.role_codes())],
            "tokens": APIToken.objects.filter(user=user).order_by("-created_at")[:50],
            "token_form": form,
            "new_token": new_raw,
        },
        status=200 if new_raw or form.is_valid() else 400,
    )
    no_store(response)
    return response


@login_required
@require_http_methods(["GET", "POST"])
def api_token_revoke_view(request: HttpRequest, token_id: UUID) -> HttpResponse:
    user = _user(request)
    token = APIToken.objects.filter(pk=token_id, user=user).first()
    if token is None:
        raise Http404
    if request.method == "POST":
        services.api_token_revoke(actor=user, token_id=token_id)
        messages.success(request, _("The token is revoked."))
        return redirect("accounts:account")
    return render(
        request,
        "confirm.html",
        {
            "title": _("Revoke API token?"),
            "body": _("Scripts using the token '%(name)s' will stop working at once.")
            % {"name": token.name},
            "confirm_label": _("Revoke token"),
            "cancel_url": "accounts:account",
        },
    )


# --- Administration --------------------------------------------------------------


def _admin(request: HttpRequest) -> User:
    user = _user(request)
    if not user.has_role(Role.NODE_ADMINISTRATOR):
        raise PermissionDenied(_("Only a node administrator may open this page."))
    return user


@login_required
def organisation_list_view(request: HttpRequest) -> HttpResponse:
    actor = _admin(request)
    query = request.GET.get("q", "")
    page = Paginator(selectors.organisation_list(actor=actor, query=query), PAGE_SIZE)
    return render(
        request,
        "accounts/organisation_list.html",
        {"page": page.get_page(request.GET.get("page")), "q": query},
    )


@login_required
@require_http_methods(["GET", "POST"])
def organisation_form_view(
    request: HttpRequest, organisation_id: UUID | None = None
) -> HttpResponse:
    actor = _admin(request)
    org = None
    if organisation_id is not None:
        org = Organisation.objects.filter(pk=organisation_id).first()
        if org is None:
            raise Http404
    if request.method == "POST":
        form = OrganisationForm(request.POST, organisation=org)
    else:
        form = OrganisationForm(
            initial=OrganisationForm.initial_from(org) if org else None,
            organisation=org,
        )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if org is None:
                services.organisation_create(
                    actor=actor,
                    name=data["name"],
                    country=data["country"],
                    org_type=data["org_type"],
                    functions=data["functions"],
                )
            else:
                services.organisation_update(
                    actor=actor,
                    organisation_id=org.pk,
                    name=data["name"],
                    country=data["country"],
                    org_type=data["org_type"],
                    functions=data["functions"],
                    is_active=data["is_active"],
                )
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, _("Organisation saved."))
            return redirect("accounts:organisation_list")
    active_users = (
        org.users.filter(is_active=True).count() if org and org.is_active else 0
    )
    return render(
        request,
        "accounts/organisation_form.html",
        {
            "form": form,
            "organisation": org,
            "active_users": active_users,
            "confirming": "confirm_deactivation" in form.fields,
        },
        status=400 if request.method == "POST" else 200,
    )


@login_required
def user_list_view(request: HttpRequest) -> HttpResponse:
    actor = _admin(request)
    query = request.GET.get("q", "")
    page = Paginator(selectors.user_list_for_admin(actor=actor, query=query), PAGE_SIZE)
    return render(
        request,
        "accounts/user_list.html",
        {"page": page.get_page(request.GET.get("page")), "q": query},
    )


@login_required
@require_http_methods(["GET", "POST"])
def user_create_view(request: HttpRequest) -> HttpResponse:
    actor = _admin(request)
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            new = services.user_create(
                actor=actor,
                username=data["username"],
                email=data["email"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                organisation_id=data["organisation"].pk,
                roles=data["roles"],
            )
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            return _one_time_password_page(request, new)
    return render(
        request,
        "accounts/user_form.html",
        {"form": form},
        status=400 if request.method == "POST" else 200,
    )


def _one_time_password_page(
    request: HttpRequest, new: services.NewUser
) -> HttpResponse:
    response = render(
        request,
        "accounts/one_time_password.html",
        {"subject": new.user, "password": new.one_time_password},
    )
    no_store(response)
    return response


def _saved_roles_form(subject: User) -> RolesForm:
    """Return the roles form showing the roles as saved (bound, so it can carry
    an error)."""
    form = RolesForm({"roles": sorted(m.role for m in subject.memberships.all())})
    form.is_valid()
    return form


@login_required
@require_http_methods(["GET", "POST"])
def user_detail_view(request: HttpRequest, user_id: int) -> HttpResponse:
    """Show a user; change their roles, or their names, e-mail and organisation.

    The page holds two forms; a hidden ``form`` field says which one was sent.
    """
    actor = _admin(request)
    try:
        subject = selectors.user_get_for_admin(actor=actor, user_id=user_id)
    except NotFound:
        raise Http404 from None
    roles_form = RolesForm(
        initial={"roles": [m.role for m in subject.memberships.all()]}
    )
    details_form = UserDetailsForm(
        initial=UserDetailsForm.initial_from(subject), subject=subject
    )
    if request.method == "POST" and request.POST.get("form") == "details":
        details_form = UserDetailsForm(request.POST, subject=subject)
        if details_form.is_valid():
            data = details_form.cleaned_data
            try:
                services.user_update(
                    actor=actor,
                    user_id=subject.pk,
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                    email=data["email"],
                    organisation_id=data["organisation"].pk,
                )
            except DomainError as exc:
                add_domain_error(details_form, exc)
            else:
                messages.success(request, _("Details saved."))
                return redirect("accounts:user_detail", user_id=subject.pk)
    elif request.method == "POST":
        roles_form = RolesForm(request.POST)
        if roles_form.is_valid():
            try:
                services.user_set_roles(
                    actor=actor,
                    user_id=subject.pk,
                    roles=roles_form.cleaned_data["roles"],
                )
            except DomainError as exc:
                # Show the roles as they still are, not the refused choice.
                roles_form = _saved_roles_form(subject)
                add_domain_error(roles_form, exc)
            else:
                messages.success(request, _("Roles saved."))
                return redirect("accounts:user_detail", user_id=subject.pk)
    return render(
        request,
        "accounts/user_detail.html",
        {
            "subject": subject,
            "form": roles_form,
            "details_form": details_form,
            "has_device": TOTPDevice.objects.filter(
                user=subject, confirmed=True
            ).exists(),
            "live_tokens": selectors.live_api_token_count(actor=actor, user=subject),
        },
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def user_action_view(request: HttpRequest, user_id: int, action: str) -> HttpResponse:
    """Confirm, then deactivate / reactivate / reset credentials / revoke tokens."""
    actor = _admin(request)
    try:
        subject = selectors.user_get_for_admin(actor=actor, user_id=user_id)
    except NotFound:
        raise Http404 from None
    name = {"username": subject.username}
    texts = {
        "deactivate": (
            _("Deactivate the user %(username)s?") % name,
            _("They cannot sign in until reactivated. Their records stay."),
            _("Deactivate"),
        ),
        "reactivate": (
            _("Reactivate the user %(username)s?") % name,
            _("They can sign in again with their current credentials."),
            _("Reactivate"),
        ),
        "reset": (
            _("Reset the credentials of %(username)s?") % name,
            _(
                "A new one-time password is issued, their authenticator is removed, "
                "their API tokens are revoked and any lockout is lifted. Hand the "
                "password over in person."
            ),
            _("Reset credentials"),
        ),
        "revoke-tokens": (
            _("Revoke all API tokens of %(username)s?") % name,
            _(
                "Scripts and systems using any of their tokens stop working at once. "
                "They can make new tokens on their My account page."
            ),
            _("Revoke all tokens"),
        ),
    }
    if action not in texts:
        raise Http404
    title, body, label = texts[action]
    if request.method == "POST":
        try:
            if action == "reset":
                new = services.user_reset_credentials(actor=actor, user_id=subject.pk)
                return _one_time_password_page(request, new)
            if action == "revoke-tokens":
                count = services.api_tokens_revoke_all(actor=actor, user_id=subject.pk)
                messages.success(
                    request,
                    ngettext("%(n)d token revoked.", "%(n)d tokens revoked.", count)
                    % {"n": count},
                )
            else:
                services.user_set_active(
                    actor=actor, user_id=subject.pk, active=action == "reactivate"
                )
                messages.success(request, _("Done."))
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("accounts:user_detail", user_id=subject.pk)
    return render(
        request,
        "confirm.html",
        {
            "title": title,
            "body": body,
            "confirm_label": label,
            "cancel_href": reverse("accounts:user_detail", args=[subject.pk]),
        },
    )
