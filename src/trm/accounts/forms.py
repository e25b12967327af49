"""Forms for sign-in, second factor, password change and administration."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from trm.accounts.models import Organisation, Role, TrmFunction
from trm.common.htcds import OrgType


class SignInForm(AuthenticationForm):
    """Username and password, with messages that do not reveal which was wrong."""

    error_messages = {
        "invalid_login": _(
            "The username or password is not correct. Both are case-sensitive."
        ),
        "inactive": _("This account is deactivated. Ask your node administrator."),
    }


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
            "At least 12 characters; not a common password, not only digits, not "
            "like your name."
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        country = self.fields["country"]
        assert isinstance(country, forms.ChoiceField)  # noqa: S101
        country.choices = [("", "—"), *list(countries)]

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
        from django.contrib.auth.validators import UnicodeUsernameValidator

        value: str = self.cleaned_data["username"].strip()
        UnicodeUsernameValidator()(value)
        return value


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
