"""Forms of the data-protection pages."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from trm.dataprotection.models import ErasureReason, ErasureRequest


class ErasureRequestForm(forms.Form):
    """Reason and a short note; the service re-checks both (one write path)."""

    reason = forms.ChoiceField(
        label=_("Reason"),
        choices=[("", _("Choose a reason…")), *ErasureReason.choices],
        error_messages={"required": _("Choose the reason for the erasure.")},
    )
    note = forms.CharField(
        label=_("Note (no personal data)"),
        required=False,
        max_length=ErasureRequest.NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_(
            "Kept after the erasure. Do not write names, dates of birth, "
            "addresses or any other personal data here: refer to a file or "
            "letter number instead. At most 200 characters; required for “Other”."
        ),
    )


class CaseLookupForm(forms.Form):
    """Find a case by its number (the data-protection officer's entry point)."""

    number = forms.CharField(label=_("Case number"), max_length=32)
