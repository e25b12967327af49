"""Forms for sign-in, second factor, password change and administration."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from trm.accounts.models import Organisation, Role, TrmFunction, User
from trm.accounts.validators import username_problem
from trm.common.htcds import OrgType


class SignInForm(AuthenticationForm):
    """Username and password, with messages that do not reveal which was wrong."""

    error_messages = {
        "invalid_login": _(
            "The username or password is not correct. Both are case-sensitive."
        ),
        "inactive": _("This account is deactivated. Ask your node administrator."),
    }

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        # Refused exactly like a deactivated account, which the backend refuses
        # as a wrong password: same message, and the same failure signal, so it
        # is audited and counts towards the lockout. The page must not reveal
        # that the password was right.
        if not user.organisation_is_active():
            user_login_failed.send(
                sender=__name__,
                credentials={"username": self.cleaned_data.get("username", "")},
                request=self.request,
            )
            raise self.get_invalid_login_error()


class OTPTokenForm(forms.Form):
    otp_token = forms.CharField(
        label=_("6-digit code from your authenticator app"),
        min_length=6,
        max_length=8,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "pattern": "[0-9]*",
                "autofocus": True,
            }
        ),
    )

    def clean_otp_token(self) -> str:
        value: str = self.cleaned_data["otp_token"].replace(" ", "")
        if not value.isdigit():
            raise forms.ValidationError(_("Enter the digits shown in your app."))
        return value


class PasswordChangeForm(forms.Form):
    old_password = forms.CharField(
        label=_("Current password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    new_password = forms.CharField(
        label=_("New password"),
        help_text=_(
            "At least 12 characters, at least 6 of them different; not a common "
            "password, not only digits, not one word repeated, not like your name."
        ),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    new_password_again = forms.CharField(
        label=_("New password again"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (
            data.get("new_password")
            and data.get("new_password_again")
            and data["new_password"] != data["new_password_again"]
        ):
            self.add_error("new_password_again", _("The two new passwords differ."))
        return data


class PasswordConfirmForm(forms.Form):
    password = forms.CharField(
        label=_("Current password"),
        widget=forms.PasswordInput(
            attrs={"autocomplete": "current-password", "autofocus": True}
        ),
    )


class OrganisationForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    country = forms.ChoiceField(label=_("Country"), choices=[])
    org_type = forms.ChoiceField(
        label=_("Type (HTCDS org_Type)"), choices=OrgType.choices
    )
    functions = forms.MultipleChoiceField(
        label=_("Functions in the referral mechanism"),
        choices=TrmFunction.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    confirm_deactivation = forms.BooleanField(
        label=_(
            "Yes, deactivate it: its users are signed out at once and cannot sign "
            "in or use the API until it is reactivated."
        ),
        required=False,
    )

    def __init__(
        self, *args: Any, organisation: Organisation | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.organisation = organisation
        country = self.fields["country"]
        assert isinstance(country, forms.ChoiceField)  # noqa: S101
        country.choices = [("", "—"), *list(countries)]
        if not self.deactivates:
            # The confirmation step appears only once "Active" was unticked.
            del self.fields["confirm_deactivation"]

    @property
    def deactivates(self) -> bool:
        """Return True if the sent data would deactivate an active organisation."""
        if self.organisation is None or not self.organisation.is_active:
            return False
        if not self.is_bound:
            return False
        widget = self.fields["is_active"].widget
        active = widget.value_from_datadict(
            self.data, self.files, self.add_prefix("is_active")
        )
        return not active

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.deactivates and not data.get("confirm_deactivation"):
            self.add_error(
                "confirm_deactivation",
                _(
                    "Deactivating the organisation locks out all its users. Tick "
                    "this box to confirm, or tick Active again to keep it active."
                ),
            )
        return data

    @classmethod
    def initial_from(cls, org: Organisation) -> dict[str, Any]:
        return {
            "name": org.name,
            "country": org.country.code,
            "org_type": org.org_type,
            "functions": org.functions,
            "is_active": org.is_active,
        }


class UserCreateForm(forms.Form):
    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        help_text=_("Letters, digits and @/./+/-/_ only."),
    )
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    email = forms.EmailField(label=_("E-mail"))
    organisation = forms.ModelChoiceField(
        label=_("Organisation"),
        queryset=Organisation.objects.filter(is_active=True).order_by("name"),
    )
    roles = forms.MultipleChoiceField(
        label=_("Roles"),
        choices=Role.choices,
        widget=forms.CheckboxSelectMultiple,
    )

    def clean_username(self) -> str:
        value: str = self.cleaned_data["username"].strip()
        problem = username_problem(value)
        if problem:
            raise forms.ValidationError(problem, code="invalid")
        return value


class UserDetailsForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    email = forms.EmailField(label=_("E-mail"))
    organisation = forms.ModelChoiceField(
        label=_("Organisation"), queryset=Organisation.objects.none()
    )

    def __init__(self, *args: Any, subject: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        organisation = self.fields["organisation"]
        assert isinstance(organisation, forms.ModelChoiceField)  # noqa: S101
        # Active organisations, and the user's current one even if inactive.
        current = Q(pk=subject.organisation_id) if subject.organisation_id else Q()
        organisation.queryset = Organisation.objects.filter(
            Q(is_active=True) | current
        ).order_by("name")

    @classmethod
    def initial_from(cls, user: User) -> dict[str, Any]:
        return {
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": user.email,
            "organisation": user.organisation_id,
        }


class RolesForm(forms.Form):
    roles = forms.MultipleChoiceField(
        label=_("Roles"),
        choices=Role.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )


class APITokenForm(forms.Form):
    name = forms.CharField(
        label=_("What is this token for?"),
        max_length=100,
        help_text=_("e.g. 'statistics export script'"),
    )
    days = forms.IntegerField(
        label=_("Valid for (days)"), min_value=1, max_value=365, initial=90
    )
