"""Forms of the service directory: search, capacity, and the profile.

The forms check the shape of the input; the rules (no negative places, no more
free places than places, known language codes, at least one service type) are
:mod:`trm.directory.services`' and come back as domain errors naming a field.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from trm.directory.models import ServiceType, TargetGroup

ANY = ("", _("Any"))


class DirectorySearchForm(forms.Form):
    """The list's search box and filters (a GET form: every field optional)."""

    q = forms.CharField(
        label=_("Name or place"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    service_type = forms.ChoiceField(
        label=_("Service"), required=False, choices=[ANY, *ServiceType.choices]
    )
    region = forms.ChoiceField(label=_("Region"), required=False, choices=[ANY])
    target_group = forms.ChoiceField(
        label=_("For whom"), required=False, choices=[ANY, *TargetGroup.choices]
    )
    language = forms.CharField(
        label=_("Language"),
        required=False,
        max_length=3,
        help_text=_("ISO 639 code, e.g. ro, bg or en."),
    )
    accepts_referrals = forms.BooleanField(
        label=_("Accepts referrals now"), required=False
    )

    def __init__(self, *args: Any, regions: Iterable[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        region = self.fields["region"]
        assert isinstance(region, forms.ChoiceField)  # noqa: S101
        region.choices = [ANY, *((name, name) for name in regions)]

    def filters(self) -> dict[str, Any]:
        """Return the keyword arguments of ``directory_search``.

        A region or service not in the lists (a link typed by hand, a region
        no longer listed) still filters, by what was given: it narrows the
        results (a region matches as part of the name, as the API does), it
        never widens them to everything.
        """
        data = self.cleaned_data

        def given(name: str) -> str:
            if name in self.errors:
                return str(self.data.get(name, "")).strip()[:120]
            return str(data.get(name, ""))

        return {
            "q": data.get("q", "").strip(),
            "service_type": given("service_type"),
            "region": given("region"),
            "target_group": data.get("target_group", ""),
            "language": data.get("language", "").strip().lower(),
            "accepts_referrals": True if data.get("accepts_referrals") else None,
        }


class CapacityForm(forms.Form):
    """The places a provider has now, and whether it takes referrals."""

    places_total = forms.IntegerField(
        label=_("Places in total"),
        required=False,
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    places_free = forms.IntegerField(
        label=_("Places free now"),
        required=False,
        help_text=_("Leave both empty if you do not want to report numbers."),
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    accepts_referrals = forms.BooleanField(
        label=_("We accept referrals now"), required=False
    )


def _codes(text: str) -> list[str]:
    return [part.strip().lower() for part in text.replace(";", ",").split(",") if part]


class ProfileForm(forms.Form):
    """What a node administrator records about a service organisation."""

    service_types = forms.MultipleChoiceField(
        label=_("Services"),
        choices=ServiceType.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    target_groups = forms.MultipleChoiceField(
        label=_("For whom"),
        choices=TargetGroup.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    languages = forms.CharField(
        label=_("Languages spoken"),
        required=False,
        max_length=200,
        help_text=_("ISO 639 codes separated by commas, e.g. bg, ro, en."),
    )
    region = forms.CharField(label=_("Region"), required=False, max_length=100)
    address = forms.CharField(
        label=_("Address"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    opening_hours = forms.CharField(
        label=_("Opening hours"), required=False, max_length=200
    )
    contact_24_7 = forms.CharField(
        label=_("24/7 contact"),
        required=False,
        max_length=200,
        help_text=_("A telephone number answered day and night, if there is one."),
    )
    email = forms.EmailField(label=_("E-mail"), required=False)
    phone = forms.CharField(label=_("Telephone"), required=False, max_length=50)
    website = forms.URLField(label=_("Website"), required=False, assume_scheme="https")
    accepts_referrals = forms.BooleanField(label=_("Accepts referrals"), required=False)
    latitude = forms.FloatField(
        label=_("Latitude"),
        required=False,
        help_text=_("Decimal degrees, e.g. 42.697708."),
    )
    longitude = forms.FloatField(
        label=_("Longitude"),
        required=False,
        help_text=_("Decimal degrees, e.g. 23.321868."),
    )

    def clean_languages(self) -> list[str]:
        return _codes(self.cleaned_data["languages"])

    @staticmethod
    def initial_from(profile: Any) -> dict[str, Any]:
        """Return the form's initial values from a saved profile."""
        return {
            "service_types": list(profile.service_types),
            "target_groups": list(profile.target_groups),
            "languages": ", ".join(profile.languages),
            "region": profile.region,
            "address": profile.address,
            "opening_hours": profile.opening_hours,
            "contact_24_7": profile.contact_24_7,
            "email": profile.email,
            "phone": profile.phone,
            "website": profile.website,
            "accepts_referrals": profile.accepts_referrals,
            "latitude": profile.latitude,
            "longitude": profile.longitude,
        }
