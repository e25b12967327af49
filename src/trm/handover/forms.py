"""Forms of trm.handover: shapes only; the rules are the services'."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from trm.identification.common import MAX_REASON_CHARS

DATETIME = forms.DateTimeInput(
    attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
)


class ArrivalForm(forms.Form):
    """Confirm the arrival (origin node), with a confirmation before submit."""

    arrived = forms.TypedChoiceField(
        label=_("Did the person arrive and was handed over?"),
        choices=[
            ("yes", _("Yes: the person arrived and was met")),
            ("no", _("No: the person did not arrive")),
        ],
        coerce=lambda v: v == "yes",
        widget=forms.RadioSelect,
    )
    at = forms.DateTimeField(
        label=_("When (date and time)"),
        widget=DATETIME,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        help_text=_("When the person arrived, or was due and did not come."),
    )
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=MAX_REASON_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Optional; stays on this node."),
    )
    confirm = forms.BooleanField(
        label=_(
            "I confirm this. The sending country is told at once and this "
            "cannot be undone."
        ),
        required=True,
    )
