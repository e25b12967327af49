"""Forms of trm.care, in plain words for a case worker.

Forms check only the shape of the input (known choices, dates, lengths); the
rules (goals required, consent to agree, end dates, who may do what) are the
services', and reach the form through
:func:`trm.common.forms.add_domain_error`. Field names are the
``details["field"]`` names the services use, so a refusal lands next to the
right field.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from trm.accounts.models import Organisation, User
from trm.care import episodes, residence, services
from trm.care.models import (
    EpisodeOutcome,
    PlanDuration,
    ResidenceType,
    ReviewOutcome,
)
from trm.directory.models import ServiceType
from trm.identification.common import MAX_REASON_CHARS

NO_AUTOFILL = {"autocomplete": "off"}
DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _blank(choices: Iterable[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    return [("", "—"), *choices]


def _text(label: Any, *, help_text: Any = "", rows: int = 3) -> forms.CharField:
    # Required-ness is the service's rule: its message lands on the field.
    return forms.CharField(
        label=label,
        required=False,
        max_length=MAX_REASON_CHARS,
        help_text=help_text,
        widget=forms.Textarea(attrs={**NO_AUTOFILL, "rows": rows}),
    )


def _date(label: Any, *, help_text: Any = "") -> forms.DateField:
    return forms.DateField(
        label=label, required=False, widget=DATE_WIDGET, help_text=help_text
    )


class ProviderField(forms.ModelChoiceField):  # type: ignore[type-arg]
    """An active organisation of the node, by name (optional)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            queryset=Organisation.objects.filter(is_active=True).order_by("name"),
            required=False,
            empty_label="—",
            **kwargs,
        )


class PlanForm(forms.Form):
    """The care plan's goals, duration and responsible case worker."""

    goals = _text(
        _("Long-term goals"),
        help_text=_(
            "What the person wants to reach, in their words: recovery, housing, "
            "work, education, independence."
        ),
        rows=6,
    )
    duration = forms.ChoiceField(
        label=_("How long the services last"),
        choices=PlanDuration.choices,
        widget=forms.RadioSelect,
        help_text=_("For trafficked persons normally no longer than 1 year (BG 3.1)."),
    )
    responsible = forms.TypedChoiceField(
        label=_("Responsible case worker"),
        coerce=int,
        empty_value=None,
        required=False,
    )

    def __init__(self, *args: Any, team: Iterable[User] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["responsible"]
        assert isinstance(field, forms.TypedChoiceField)  # noqa: S101
        field.choices = _blank((u.pk, u.get_full_name() or u.username) for u in team)


class PlannedServiceForm(forms.Form):
    """One row of the plan's services; a row left empty is ignored."""

    service_type = forms.ChoiceField(
        label=_("Service"), choices=_blank(ServiceType.choices), required=False
    )
    provider = ProviderField(label=_("Provider (optional)"))
    frequency = forms.CharField(
        label=_("How often"),
        required=False,
        max_length=services.MAX_FREQUENCY_CHARS,
        widget=forms.TextInput(attrs=NO_AUTOFILL),
        help_text=_("For example: twice a week; once a month."),
    )
    notes = forms.CharField(
        label=_("Notes"),
        required=False,
        max_length=MAX_REASON_CHARS,
        widget=forms.Textarea(attrs={**NO_AUTOFILL, "rows": 2}),
    )

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {}) or {}
        return not any(
            data.get(k) for k in ("service_type", "provider", "frequency", "notes")
        )


class BasePlannedServiceFormSet(forms.BaseFormSet):  # type: ignore[type-arg]
    def rows(self) -> list[services.PlannedServiceInput]:
        """Return the filled-in rows not marked for removal, in order."""
        found = []
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or form.cleaned_data.get("DELETE"):
                continue
            assert isinstance(form, PlannedServiceForm)  # noqa: S101
            if form.is_blank():
                continue
            data = form.cleaned_data
            provider = data.get("provider")
            found.append(
                services.PlannedServiceInput(
                    service_type=data.get("service_type") or "",
                    provider_id=provider.pk if provider else None,
                    frequency=data.get("frequency") or "",
                    notes=data.get("notes") or "",
                )
            )
        return found

    def row_forms(self) -> list[forms.Form]:
        """Return the forms of :meth:`rows`, in the same order (for errors)."""
        return [
            form
            for form in self.forms
            if hasattr(form, "cleaned_data")
            and not form.cleaned_data.get("DELETE")
            and isinstance(form, PlannedServiceForm)
            and not form.is_blank()
        ]


PlannedServiceFormSet = forms.formset_factory(
    PlannedServiceForm,
    formset=BasePlannedServiceFormSet,
    extra=2,
    can_delete=True,
    max_num=services.MAX_PLANNED_SERVICES,
    validate_max=True,
)


class AgreeForm(forms.Form):
    note = _text(
        _("Note (optional)"),
        help_text=_("Shown on the case timeline to the assistance team."),
    )


class ReviewForm(forms.Form):
    reviewed_on = _date(_("Date of the review"))
    outcome = forms.ChoiceField(
        label=_("What the review decided"),
        choices=ReviewOutcome.choices,
        widget=forms.RadioSelect,
    )
    note = _text(
        _("What was reviewed (optional)"),
        help_text=_(
            "The plan and the risks, reviewed with the person: progress, new "
            "needs, changes in the risk."
        ),
        rows=4,
    )


class ResidenceForm(forms.Form):
    residence_type = forms.ChoiceField(
        label=_("Residence status"), choices=_blank(ResidenceType.choices)
    )
    valid_from = _date(_("Valid from"))
    valid_until = _date(
        _("Valid until"),
        help_text=_("Required for a document or a permit."),
    )
    issuing_authority = forms.CharField(
        label=_("Issuing authority (optional)"),
        required=False,
        max_length=residence.MAX_AUTHORITY_CHARS,
        widget=forms.TextInput(attrs=NO_AUTOFILL),
    )
    document_number = forms.CharField(
        label=_("Document number (optional)"),
        required=False,
        max_length=residence.MAX_DOCUMENT_NUMBER_CHARS,
        widget=forms.TextInput(attrs=NO_AUTOFILL),
        help_text=_("Stored encrypted."),
    )
    renewal_notice_days = forms.IntegerField(
        label=_("Remind to renew, days before it ends"),
        min_value=0,
        max_value=residence.MAX_NOTICE_DAYS,
        required=False,
    )
    #: Set by the confirmation step when a record of the same type is replaced.
    confirm_replace = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["renewal_notice_days"].initial = int(
            settings.TRM_RESIDENCE_RENEWAL_NOTICE_DAYS
        )


class EpisodeForm(forms.Form):
    service_type = forms.ChoiceField(
        label=_("Service"), choices=_blank(ServiceType.choices), required=False
    )
    provider = ProviderField(
        label=_("Provider"),
        help_text=_("An organisation of this node; or type a name below."),
    )
    provider_name = forms.CharField(
        label=_("Provider not in the list (optional)"),
        required=False,
        max_length=episodes.MAX_PROVIDER_NAME_CHARS,
        widget=forms.TextInput(attrs=NO_AUTOFILL),
        help_text=_("Stored encrypted."),
    )
    started_on = _date(_("Started on"))
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        choices=EpisodeOutcome.choices,
        initial=EpisodeOutcome.ONGOING,
    )
    ended_on = _date(
        _("Ended on"),
        help_text=_("Leave empty while the service goes on."),
    )
    note = _text(_("Note (optional)"))


class EpisodeEndForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("How it ended"),
        choices=_blank(
            (v, label) for v, label in EpisodeOutcome.choices if v != "ongoing"
        ),
        required=False,
    )
    ended_on = _date(_("Ended on"))
    note = _text(_("Note (optional)"))
