"""Forms of trm.proceedings, in plain words for a case worker or a prosecutor.

Forms check only the shape of the input (known choices, dates, numbers); the
rules (what is required, currencies, dates in order, who may do what) are the
services', and reach the form through
:func:`trm.common.forms.add_domain_error`. Field names are the
``details["field"]`` names the services use, so a refusal lands next to the
right field.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from trm.identification.common import MAX_REASON_CHARS
from trm.proceedings.common import MAX_NAME_CHARS
from trm.proceedings.models import (
    CompensationRoute,
    HearingKind,
    NonPunishmentStatus,
    NoticeKind,
    OffenceKind,
    ProtectionKind,
    SupportNeeded,
)
from trm.proceedings.notices import MAX_OUTCOME_CHARS, MAX_REFERENCE_CHARS

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
DATETIME = forms.DateTimeInput(
    attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
)
NO_AUTOFILL = {"autocomplete": "off"}


def _date(label: Any, help_text: Any = "") -> forms.DateField:
    return forms.DateField(
        label=label, required=False, widget=DATE, help_text=help_text
    )


def _name(label: Any, help_text: Any = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        max_length=MAX_NAME_CHARS,
        help_text=help_text,
        widget=forms.TextInput(attrs=NO_AUTOFILL),
    )


def _choice(label: Any, choices: Any) -> forms.ChoiceField:
    return forms.ChoiceField(label=label, choices=[("", "—"), *choices], required=False)


def _yes_no(label: Any) -> forms.TypedChoiceField:
    """A required-by-the-service yes/no question: ``True``, ``False`` or ``None``
    (not answered; the service refuses it with its reason)."""
    return forms.TypedChoiceField(
        label=label,
        choices=[("", "—"), ("yes", _("Yes")), ("no", _("No"))],
        required=False,
        coerce=lambda v: {"yes": True, "no": False}.get(v),
        empty_value=None,
    )


def _amount(label: Any) -> forms.DecimalField:
    return forms.DecimalField(
        label=label, required=False, max_digits=15, decimal_places=3, min_value=0
    )


def _currency() -> forms.CharField:
    return forms.CharField(
        label=_("Currency"),
        required=False,
        max_length=3,
        help_text=_("ISO 4217 code, e.g. EUR, RON, MDL."),
        widget=forms.TextInput(attrs={"size": 4, **NO_AUTOFILL}),
    )


class RightsForm(forms.Form):
    informed_on = _date(_("Date the person was informed"))
    language = forms.CharField(
        label=_("Language used"),
        required=False,
        max_length=8,
        help_text=_("ISO 639 code of the language the person understands (ro, bg…)."),
    )
    interpreter = _yes_no(_("Was an interpreter present?"))
    has_lawyer = _yes_no(_("Did the person have a lawyer?"))
    lawyer = _name(
        _("Lawyer's organisation"),
        _(
            "The lawyer's organisation (a bar, a legal aid service). Leave it "
            "empty when the person had no lawyer; one can be recorded later."
        ),
    )


class LawyerForm(forms.Form):
    lawyer = _name(_("Lawyer's organisation"))


class ProtectionAssessForm(forms.Form):
    kind = _choice(_("Measure considered"), ProtectionKind.choices)
    assessed_on = _date(_("Risk assessed on"))


class ProtectionOrderForm(forms.Form):
    ordering_authority = _name(_("Ordering authority"), _("E.g. the court."))
    ordered_on = _date(_("Ordered on"))


class ProtectionLiftForm(forms.Form):
    lifted_on = _date(_("Lifted on"))


class ClaimFileForm(forms.Form):
    route = _choice(_("Where is it claimed?"), CompensationRoute.choices)
    filed_on = _date(_("Filed on"))
    amount = _amount(_("Amount claimed (optional)"))
    currency = _currency()


class ClaimAwardForm(forms.Form):
    decided_on = _date(_("Decided on"))
    amount = _amount(_("Amount awarded"))
    currency = _currency()


class ClaimRejectForm(forms.Form):
    decided_on = _date(_("Decided on"))


class ClaimPaidForm(forms.Form):
    settled_on = _date(_("Paid on"))
    amount = _amount(_("Amount received"))
    currency = _currency()


class ClaimUnpaidForm(forms.Form):
    settled_on = _date(_("Recorded as unpaid on"))


class ChargeForm(forms.Form):
    offence = _choice(_("Offence"), OffenceKind.choices)
    flagged_on = _date(_("Date of the charge"))
    charge = forms.CharField(
        label=_("What the person is charged with (optional)"),
        required=False,
        max_length=MAX_REASON_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Kept encrypted; only the legal track reads it."),
    )


class AssessmentRequestForm(forms.Form):
    requested_on = _date(_("Assessment requested on"))


class NonPunishmentDecisionForm(forms.Form):
    outcome = _choice(
        _("Outcome"),
        [
            (s.value, s.label)
            for s in NonPunishmentStatus
            if s
            in {
                NonPunishmentStatus.NOT_PROSECUTED,
                NonPunishmentStatus.PENALTY_NOT_APPLIED,
                NonPunishmentStatus.PROSECUTED,
            }
        ],
    )
    decided_on = _date(_("Decided on"))
    legal_reference = forms.CharField(
        label=_("Legal reference of the decision"),
        required=False,
        max_length=MAX_REASON_CHARS,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class HearingForm(forms.Form):
    at = forms.DateTimeField(
        label=_("Date and time"),
        required=False,
        widget=DATETIME,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    court = _name(_("Court"))
    kind = _choice(_("Kind of hearing"), HearingKind.choices)
    remote_country = forms.ChoiceField(
        label=_("Remote testimony from another country"),
        choices=[("", _("No: in person")), *list(countries)],
        required=False,
    )
    interpreter_needed = forms.BooleanField(
        label=_("An interpreter is needed"), required=False
    )


LEGAL_OBLIGATION = "legal_obligation"


class NoticeForm(forms.Form):
    peer_node = forms.ChoiceField(label=_("Counterpart node"), required=False)
    kind = _choice(_("The notice is about"), NoticeKind.choices)
    hearing_at = forms.DateTimeField(
        label=_("Hearing date and time"),
        required=False,
        widget=DATETIME,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        help_text=_("For a hearing or a remote-testimony arrangement."),
    )
    support_needed = forms.MultipleChoiceField(
        label=_("Support the person needs to take part"),
        choices=SupportNeeded.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    outcome = forms.CharField(
        label=_("Outcome"),
        required=False,
        max_length=MAX_OUTCOME_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("For an outcome or a release of the offender."),
    )
    judicial_reference = forms.CharField(
        label=_("Number of the formal judicial request (if any)"),
        required=False,
        max_length=MAX_REFERENCE_CHARS,
        help_text=_(
            "Summonses and mutual legal assistance go through judicial channels; "
            "only their number is given here."
        ),
    )
    basis = forms.ChoiceField(label=_("On what basis is it shared?"), required=False)
    obligation = forms.CharField(
        label=_("The legal obligation"),
        required=False,
        max_length=150,
        help_text=_("When sharing under a legal obligation: the law and article."),
    )

    def __init__(
        self,
        *args: Any,
        peers: list[tuple[str, str]],
        consents: list[tuple[str, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["peer_node"].choices = [("", "—"), *peers]  # type: ignore[attr-defined]
        self.fields["basis"].choices = [  # type: ignore[attr-defined]
            ("", "—"),
            *consents,
            (LEGAL_OBLIGATION, _("A legal obligation (name it below)")),
        ]

    def legal_basis(self) -> str:
        basis = self.cleaned_data.get("basis") or ""
        if basis == LEGAL_OBLIGATION:
            obligation = (self.cleaned_data.get("obligation") or "").strip()
            return f"{LEGAL_OBLIGATION}:{obligation}" if obligation else ""
        return str(basis)
