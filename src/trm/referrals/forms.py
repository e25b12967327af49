"""Forms of referrals, in plain words for a social worker under pressure.

Forms check only the shape of the input; the rules (consent, capacity, the
receiver accepting referrals, a meeting in the future, what must be written)
are the services' and reach the form through ``add_domain_error``. Field names
are the ``details["field"]`` names the services use, so a refusal lands next to
the right field.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from trm.common.htcds import ReasonForOutgoingReferral
from trm.consent.models import DataCategory
from trm.directory.models import ServiceProfile, ServiceType
from trm.identification.common import MAX_REASON_CHARS
from trm.referrals.checks import MAX_MEETING_CHARS
from trm.referrals.models import (
    SYSTEM_REASONS,
    CancelReason,
    DeclineReason,
    FeedbackOutcome,
    NotPossibleReason,
    Urgency,
)
from trm.referrals.services import SHAREABLE_CATEGORIES

NO_AUTOFILL = {"autocomplete": "off"}
DATETIME_FORMAT = "%Y-%m-%dT%H:%M"
ANY = ("", gettext_lazy("Any"))


def _text(
    label: Any, *, help_text: Any = "", rows: int = 4, required: bool = False
) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        max_length=MAX_REASON_CHARS,
        help_text=help_text,
        widget=forms.Textarea(attrs={**NO_AUTOFILL, "rows": rows}),
    )


def capacity_text(profile: ServiceProfile) -> str:
    """Return what the directory says about free places, in a short phrase."""
    if profile.places_total is None or profile.places_free is None:
        return _("capacity not reported")
    values = {"free": profile.places_free, "total": profile.places_total}
    text = _("%(free)s of %(total)s places free") % values
    if profile.capacity_updated_at:
        text += " " + _("(updated %(date)s)") % {
            "date": date_format(
                localtime(profile.capacity_updated_at), "SHORT_DATETIME_FORMAT"
            )
        }
    return text


def organisation_label(profile: ServiceProfile) -> str:
    """Return one receiver as the form lists it: name, region, services, places."""
    parts = [profile.organisation.name]
    if profile.region:
        parts.append(profile.region)
    services = ", ".join(profile.service_type_labels())
    if services:
        parts.append(services)
    parts.append(capacity_text(profile))
    if not profile.accepts_referrals:
        parts.append(_("not accepting referrals now"))
    if profile.organisation.home_node:
        parts.append(_("on node %(node)s") % {"node": profile.organisation.home_node})
    return " · ".join(parts)


class OrganisationFilterForm(forms.Form):
    """Narrow the list of receivers (a GET form; every field optional)."""

    service_type = forms.ChoiceField(
        label=gettext_lazy("Service"),
        required=False,
        choices=[ANY, *ServiceType.choices],
    )
    region = forms.CharField(
        label=gettext_lazy("Region"), required=False, max_length=120
    )
    accepting = forms.ChoiceField(
        label=gettext_lazy("Show"),
        required=False,
        choices=[
            ("yes", gettext_lazy("Only organisations accepting referrals now")),
            ("all", gettext_lazy("All organisations in the directory")),
        ],
    )

    def filters(self) -> dict[str, Any]:
        """Return the keyword arguments of ``directory_search``."""
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "service_type": data.get("service_type", ""),
            "region": (data.get("region") or "").strip(),
            "accepts_referrals": None if data.get("accepting") == "all" else True,
        }


class ReferralForm(forms.Form):
    """Draft (and send) a referral."""

    to_organisation = forms.ChoiceField(
        label=gettext_lazy("Refer the person to"),
        choices=[],
        widget=forms.RadioSelect,
        help_text=gettext_lazy(
            "From the service directory, with the places each reports free."
        ),
    )
    services = forms.MultipleChoiceField(
        label=gettext_lazy("Services the person needs"),
        choices=ServiceType.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    reason = forms.ChoiceField(
        label=gettext_lazy("Why is the person referred?"),
        choices=ReasonForOutgoingReferral.choices,
        initial=ReasonForOutgoingReferral.ADDITIONAL_SERVICES_REQUIRED,
    )
    urgency = forms.ChoiceField(
        label=gettext_lazy("How urgent?"),
        choices=Urgency.choices,
        initial=Urgency.NORMAL,
        widget=forms.RadioSelect,
    )
    categories = forms.MultipleChoiceField(
        label=gettext_lazy("What the receiver may see"),
        choices=[(c, DataCategory(c).label) for c in SHAREABLE_CATEGORIES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy(
            "Share only what the services need, and only what the person agreed "
            "to: a consent to referral must name this organisation and cover "
            "every category you tick."
        ),
    )
    case_summary = _text(
        gettext_lazy("Case summary and needs"),
        help_text=gettext_lazy("Shared only if you tick “Case summary and needs”."),
    )
    health = _text(
        gettext_lazy("Health"),
        help_text=gettext_lazy("Shared only if you tick “Health”."),
    )
    family = _text(
        gettext_lazy("Family"),
        help_text=gettext_lazy("Shared only if you tick “Family”."),
    )
    legal = _text(
        gettext_lazy("Legal proceedings"),
        help_text=gettext_lazy("Shared only if you tick “Legal proceedings”."),
    )
    risk = _text(
        gettext_lazy("Risk to life or safety"),
        help_text=gettext_lazy(
            "Always shared, with or without consent: risks to the life or safety "
            "of the person, their family, staff or others must be shared (BG "
            "1.4). The receiver sees it marked so."
        ),
    )
    meeting_who = forms.CharField(
        label=gettext_lazy("Who will meet the person"),
        required=False,
        max_length=MAX_MEETING_CHARS,
        widget=forms.TextInput(attrs=NO_AUTOFILL),
        help_text=gettext_lazy("Agree it with the receiver before you send."),
    )
    meeting_where = forms.CharField(
        label=gettext_lazy("Where"),
        required=False,
        max_length=MAX_MEETING_CHARS,
        widget=forms.TextInput(attrs=NO_AUTOFILL),
    )
    meeting_at = forms.DateTimeField(
        label=gettext_lazy("When"),
        required=False,
        widget=forms.DateTimeInput(
            attrs={"type": "datetime-local"}, format=DATETIME_FORMAT
        ),
        input_formats=[DATETIME_FORMAT, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
    )
    capacity_warning_accepted = forms.BooleanField(
        label=gettext_lazy(
            "The organisation reports no free place; I checked with them that "
            "they can take the person"
        ),
        required=False,
        help_text=gettext_lazy("Needed only to send to an organisation that is full."),
    )

    def __init__(
        self, *args: Any, profiles: Iterable[ServiceProfile], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["to_organisation"]
        assert isinstance(field, forms.ChoiceField)  # noqa: S101
        field.choices = [
            (str(p.organisation_id), organisation_label(p)) for p in profiles
        ]

    def texts(self) -> dict[str, str]:
        """Return the texts by category, as the services take them."""
        data = self.cleaned_data
        return {
            name: data.get(name, "")
            for name in ("case_summary", "health", "family", "legal", "risk")
        }


class OutcomeForm(forms.Form):
    """A reason code and an explanation (decline, cancel, not possible)."""

    reason = forms.ChoiceField(label=gettext_lazy("Reason"), choices=[])
    text = _text(
        gettext_lazy("Explain (required for “Other”)"),
        help_text=gettext_lazy("The referring case team reads this."),
    )

    def __init__(self, *args: Any, verb: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = {
            "decline": DeclineReason.choices,
            "cancel": CancelReason.choices,
            "not_possible": NotPossibleReason.choices,
        }[verb]
        system = SYSTEM_REASONS.get(verb, frozenset())
        field = self.fields["reason"]
        assert isinstance(field, forms.ChoiceField)  # noqa: S101
        field.choices = [("", "—"), *(c for c in choices if c[0] not in system)]


class NotPossibleForm(OutcomeForm):
    """Record that no referral is possible; optionally, whom you asked."""

    to_organisation = forms.ChoiceField(
        label=gettext_lazy("Organisation asked (optional)"),
        required=False,
        choices=[],
    )

    def __init__(
        self, *args: Any, profiles: Iterable[ServiceProfile], **kwargs: Any
    ) -> None:
        super().__init__(*args, verb="not_possible", **kwargs)
        field = self.fields["to_organisation"]
        assert isinstance(field, forms.ChoiceField)  # noqa: S101
        field.choices = [
            ("", "—"),
            *((str(p.organisation_id), p.organisation.name) for p in profiles),
        ]


class FeedbackForm(forms.Form):
    outcome = forms.ChoiceField(
        label=gettext_lazy("What happened?"),
        choices=FeedbackOutcome.choices,
        widget=forms.RadioSelect,
    )
    text = _text(gettext_lazy("Details (required for “Other”)"))
