"""Forms of trm.reintegration: shapes only; the rules are the services'.

Field names are the ``details["field"]`` names the services use, so a refusal
lands next to the right field (:func:`trm.common.forms.add_domain_error`).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from trm.assessments.models import RiskLevel
from trm.care.forms import NO_AUTOFILL
from trm.care.forms import _blank as blank
from trm.care.forms import _date as date_field
from trm.care.forms import _text as text_field
from trm.consent.models import Consent
from trm.directory.models import ServiceType
from trm.reintegration.models import DOMAINS, DomainStatus
from trm.reintegration.services import MAX_LINE_CHARS


class PlanForm(forms.Form):
    starts_on = date_field(_("The plan starts on"))
    services = forms.MultipleChoiceField(
        label=_("Services"),
        choices=ServiceType.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Shelter if needed, medical and psychological care, legal help, "
            "documents, education or job training, small business support."
        ),
    )
    goals = text_field(_("Goals of the plan"), rows=5)
    case_manager_function = forms.CharField(
        label=_("Case manager (function, not a name)"),
        required=False,
        max_length=MAX_LINE_CHARS,
        widget=forms.TextInput(attrs=NO_AUTOFILL),
    )
    report_to_node = forms.ChoiceField(
        label=_("Follow-up reports go to"),
        required=False,
        help_text=_("The node of the country the person returned from."),
    )

    def __init__(self, *args: Any, nodes: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        node_field = self.fields["report_to_node"]
        assert isinstance(node_field, forms.ChoiceField)  # noqa: S101
        node_field.choices = blank((n, n) for n in nodes)


class ConsentChoice(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Consent) -> str:
        return str(
            _("Consent of %(date)s to a transfer to %(country)s (%(categories)s)")
            % {
                "date": obj.given_at.date().isoformat(),
                "country": obj.recipient_country.code,
                "categories": ", ".join(obj.categories),
            }
        )


class ReportForm(forms.Form):
    reported_on = date_field(_("Date of the report"))
    services_given = forms.MultipleChoiceField(
        label=_("Services given"),
        choices=ServiceType.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    risk_level = forms.ChoiceField(
        label=_("Risk level now"), choices=blank(RiskLevel.choices), required=False
    )
    risk_note = text_field(_("Risk update (optional)"))
    contact_kept = forms.BooleanField(
        label=_("We are still in contact with the person"), required=False, initial=True
    )
    send = forms.BooleanField(
        label=_("Send this report to the country the person returned from"),
        required=False,
        initial=True,
    )
    consent_id = ConsentChoice(
        label=_("The person's consent to this"),
        queryset=Consent.objects.none(),
        required=False,
        empty_label="—",
    )
    confirm = forms.BooleanField(
        label=_(
            "I confirm the person knows this report goes back and has not "
            "withdrawn their consent"
        ),
        required=False,
    )

    def __init__(self, *args: Any, consents: list[Consent], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for domain, label in DOMAINS.items():
            self.fields[f"status_{domain}"] = forms.ChoiceField(
                label=label, choices=DomainStatus.choices, initial=DomainStatus.UNKNOWN
            )
        field = self.fields["consent_id"]
        assert isinstance(field, forms.ModelChoiceField)  # noqa: S101
        field.queryset = Consent.objects.filter(pk__in=[c.pk for c in consents])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("send") and not data.get("confirm"):
            self.add_error(
                "confirm", _("Confirm the person agrees before the report is sent.")
            )
        return data

    def status(self) -> dict[str, str]:
        return {d: self.cleaned_data[f"status_{d}"] for d in DOMAINS}
