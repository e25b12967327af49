"""Forms of the statistics pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from trm.statistics.htcds_io import MAX_PURPOSE


class HtcdsExportForm(forms.Form):
    """What to export in HTCDS (docs/htcds.md)."""

    format = forms.ChoiceField(
        label=_("Format"),
        choices=[("csv", _("CSV (spreadsheet)")), ("json", _("JSON"))],
        initial="csv",
    )
    personal = forms.BooleanField(
        label=_("Include personal fields (names, birth date, documents, contact)"),
        required=False,
    )
    purpose = forms.CharField(
        label=_("Purpose"),
        max_length=MAX_PURPOSE,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Why you need this file; recorded in the audit log."),
    )
    confirm = forms.BooleanField(
        label=_(
            "I confirm this export is needed for the stated purpose and that I "
            "will keep the file safe."
        ),
        required=True,
    )

    def __init__(self, *args: Any, may_export_personal: bool, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if not may_export_personal:
            del self.fields["personal"]
