"""Forms of the assistance pathway: shapes only; the guards are the services'."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from trm.assistance.services import Closure, StartBasis
from trm.identification.common import MAX_REASON_CHARS

NO_AUTOFILL = {"autocomplete": "off"}


def _reason(
    label: StrOrPromise, help_text: StrOrPromise = "", required: bool = False
) -> forms.CharField:
    return forms.CharField(
        label=label,
        help_text=help_text,
        required=required,
        max_length=MAX_REASON_CHARS,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3, **NO_AUTOFILL}),
    )


class StartForm(forms.Form):
    basis = forms.ChoiceField(
        label=_("Basis"),
        choices=StartBasis.choices,
        widget=forms.RadioSelect,
        initial=StartBasis.CONSENT,
    )
    reason = _reason(
        _("Note"),
        _(
            "Required for emergency care: what care is given and why consent "
            "could not be asked first. Stays with the assistance record."
        ),
    )


class DeclineForm(forms.Form):
    information_given = forms.BooleanField(
        label=_(
            "The person was told what help exists and how to come back at any time"
        ),
        required=False,
    )
    contact_details_given = forms.BooleanField(
        label=_("The person was given contact details to come back"),
        required=False,
    )
    reason = _reason(_("Note"), _("Optional: what the person said, in their words."))


class ReasonForm(forms.Form):
    reason = _reason(_("Note"), _("Optional."))


class CloseForm(forms.Form):
    closure = forms.ChoiceField(
        label=_("Why assistance ends"),
        choices=[("", "—"), *Closure.choices],
    )
    reason = _reason(_("Note"), _("Required when the reason is “Other”."))
