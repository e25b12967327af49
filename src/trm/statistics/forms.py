"""The dashboard's filter form (GET): period and source."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from trm.statistics.tables import Period

#: Source choice → the sources passed to ``count_table``.
SOURCE_CHOICES = {
    "all": ("historical", "live"),
    "historical": ("historical",),
    "live": ("live",),
}


class StatisticsFilterForm(forms.Form):
    """Years of registration (both ends included) and where records come from."""

    first_year = forms.IntegerField(
        label=_("From year"), required=False, min_value=1900, max_value=2100
    )
    last_year = forms.IntegerField(
        label=_("To year"), required=False, min_value=1900, max_value=2100
    )
    source = forms.ChoiceField(
        label=_("Source"),
        required=False,
        choices=[
            ("all", _("All records")),
            ("historical", _("Imported historical records (e.g. CTDC)")),
            ("live", _("This node's cases")),
        ],
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, last = data.get("first_year"), data.get("last_year")
        if first is not None and last is not None and first > last:
            self.add_error(
                "last_year", _("The last year must not be before the first year.")
            )
        if not data.get("source"):
            data["source"] = "all"
        return data

    def period(self) -> Period:
        """Return the chosen period (call after ``is_valid()``)."""
        return Period(
            first_year=self.cleaned_data.get("first_year"),
            last_year=self.cleaned_data.get("last_year"),
        )

    def sources(self) -> tuple[str, ...]:
        """Return the chosen sources (call after ``is_valid()``)."""
        return SOURCE_CHOICES[self.cleaned_data.get("source") or "all"]
