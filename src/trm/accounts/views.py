"""Sign-in, second factor, own account, and node administration pages."""

from __future__ import annotations

from typing import Any
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
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from trm.accounts import selectors, services
from trm.accounts.forms import (
    APITokenForm,
    OrganisationForm,
    OTPTokenForm,
    PasswordChangeForm,
    RolesForm,
    SignInForm,
    UserCreateForm,
)
from trm.accounts.models import APIToken, Organisation, Role, TOTPDevice, User
from trm.common.errors import DomainError, NotFound, PermissionDenied
from trm.common.forms import add_domain_error

PAGE_SIZE = 25
SESSION_PENDING_DEVICE = "trm_pending_totp"


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


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    auth_logout(request)
    messages.info(request, _("You are signed out."))
    return redirect("accounts:login")


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
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists() and not (
        user.is_verified()
    ):
        return redirect("accounts:verify")
    next_url = _safe_next(request)
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
            request.session.cycle_key()
            otp_login(request, confirmed)
            messages.success(request, _("Your authenticator app is set up."))
            return redirect(next_url)
    url = device.config_url(issuer=settings.OTP_TOTP_ISSUER)
    qr_svg = segno.make(url, error="m").svg_inline(scale=4, title=_("QR code"))
    import base64

    secret_b32 = base64.b32encode(device.bin_key).decode()
    spaced = " ".join(secret_b32[i : i + 4] for i in range(0, len(secret_b32), 4))
    return render(
        request,
        "accounts/enrol.html",
        {"form": form, "qr_svg": qr_svg, "secret": spaced, "next": next_url},
    )


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
        except DomainError as exc:
            for message in exc.details.get("messages", []):
                form.add_error("new_password", message)
            if not exc.details.get("messages"):
                add_domain_error(form, exc)
        else:
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
            )
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            new_raw = new.raw
            form = APITokenForm()
    return render(
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
        form = OrganisationForm(request.POST)
    else:
        form = OrganisationForm(
            initial=OrganisationForm.initial_from(org) if org else None
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
    return render(
        request,
        "accounts/organisation_form.html",
        {"form": form, "organisation": org},
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
            return render(
                request,
                "accounts/one_time_password.html",
                {"subject": new.user, "password": new.one_time_password},
            )
    return render(
        request,
        "accounts/user_form.html",
        {"form": form},
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def user_detail_view(request: HttpRequest, user_id: int) -> HttpResponse:
    actor = _admin(request)
    try:
        subject = selectors.user_get_for_admin(actor=actor, user_id=user_id)
    except NotFound:
        raise Http404 from None
    form = RolesForm(
        request.POST or None,
        initial={"roles": [m.role for m in subject.memberships.all()]},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.user_set_roles(
                actor=actor, user_id=subject.pk, roles=form.cleaned_data["roles"]
            )
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, _("Roles saved."))
            return redirect("accounts:user_detail", user_id=subject.pk)
    return render(
        request,
        "accounts/user_detail.html",
        {
            "subject": subject,
            "form": form,
            "has_device": TOTPDevice.objects.filter(
                user=subject, confirmed=True
            ).exists(),
        },
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def user_action_view(request: HttpRequest, user_id: int, action: str) -> HttpResponse:
    """Confirm, then deactivate / reactivate / reset credentials of a user."""
    actor = _admin(request)
    try:
        subject = selectors.user_get_for_admin(actor=actor, user_id=user_id)
    except NotFound:
        raise Http404 from None
    texts = {
        "deactivate": (
            _("Deactivate this user?"),
            _("They cannot sign in until reactivated. Their records stay."),
            _("Deactivate"),
        ),
        "reactivate": (
            _("Reactivate this user?"),
            _("They can sign in again with their current credentials."),
            _("Reactivate"),
        ),
        "reset": (
            _("Reset this user's credentials?"),
            _(
                "A new one-time password is issued, their authenticator is removed "
                "and any lockout is lifted. Hand the password over in person."
            ),
            _("Reset credentials"),
        ),
    }
    if action not in texts:
        raise Http404
    title, body, label = texts[action]
    if request.method == "POST":
        try:
            if action == "reset":
                new = services.user_reset_credentials(actor=actor, user_id=subject.pk)
                return render(
                    request,
                    "accounts/one_time_password.html",
                    {"subject": subject, "password": new.one_time_password},
                )
            services.user_set_active(
                actor=actor, user_id=subject.pk, active=action == "reactivate"
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Done."))
        return redirect("accounts:user_detail", user_id=subject.pk)
    return render(
        request,
        "confirm.html",
        {
            "title": title,
            "body": body,
            "confirm_label": label,
            "cancel_url": "accounts:user_list",
        },
    )
