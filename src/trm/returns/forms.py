"""Forms of trm.returns: shapes only; the rules are the services'.

Field names are the ``details["field"]`` names the services use (a rating is
``destination_<item>`` or ``origin_<item>``), so a refusal lands next to the
right field (:func:`trm.common.forms.add_domain_error`).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from trm.assessments.models import DOMAIN_LABELS, RiskLevel
from trm.care.forms import NO_AUTOFILL
from trm.care.forms import _blank as blank
from trm.care.forms import _date as date_field
from trm.care.forms import _text as text_field
from trm.returns.models import (
    ITEM_LEVELS,
    MATRIX_ITEMS,
    BidOutcome,
    CarerKind,
    DeclineReason,
    FamilyKind,
    FamilyRecommendation,
    GuardianOpinion,
    MedicalFitness,
    PanelFunction,
    ReceiverDecision,
)
from trm.returns.services.common import MAX_LINE_CHARS

_ITEM_CHOICES = blank((level, RiskLevel(level).label) for level in ITEM_LEVELS)


def _line(label: Any, *, help_text: Any = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        help_text=help_text,
        required=False,
        max_length=MAX_LINE_CHARS,
        widget=forms.TextInput(attrs=NO_AUTOFILL),
    )


def _ratings(form: forms.Form, side: str, label: Any) -> None:
    for item, item_label in MATRIX_ITEMS.items():
        form.fields[f"{side}_{item}"] = forms.ChoiceField(
            label=_("%(item)s — %(side)s") % {"item": item_label, "side": label},
            choices=_ITEM_CHOICES,
            required=False,
        )


def ratings_of(data: dict[str, Any], side: str) -> dict[str, str]:
    """Return ``{item: level}`` from a cleaned form, without the empty ones."""
    return {
        item: data[f"{side}_{item}"]
        for item in MATRIX_ITEMS
        if data.get(f"{side}_{item}")
    }


class BidForm(forms.Form):
    determined_on = date_field(_("Date of the determination"))
    panel = forms.MultipleChoiceField(
        label=_("Who was on the panel (functions, not names)"),
        choices=PanelFunction.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        choices=BidOutcome.choices,
        widget=forms.RadioSelect,
        required=False,
    )
    child_views = text_field(
        _("The child's views"),
        help_text=_(
            "In the child's words where possible. If the child could not give "
            "views, say why. Kept sealed."
        ),
        rows=4,
    )
    guardian_opinion = forms.ChoiceField(
        label=_("The guardian's opinion"),
        choices=GuardianOpinion.choices,
        widget=forms.RadioSelect,
        required=False,
    )
    guardian_note = text_field(_("The guardian's written opinion (optional)"))


class JointRiskForm(forms.Form):
    assessed_on = date_field(_("Date of the assessment"))
    valid_until = date_field(
        _("Valid until"), help_text=_("At most 90 days after the assessment.")
    )
    overall_level = forms.ChoiceField(
        label=_("Overall level"),
        choices=blank(RiskLevel.choices),
        required=False,
    )
    mitigations = text_field(
        _("Mitigations"),
        help_text=_("Required for a return when any risk is high. Kept sealed."),
    )
    first_needs = forms.MultipleChoiceField(
        label=_("First needs on arrival"),
        choices=list(DOMAIN_LABELS.items()),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    needs_note = text_field(_("About these needs (optional)"))
    origin_organisation = _line(
        _("Organisation in the country of origin"),
        help_text=_("Only if the origin side rated the items together with you."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _ratings(self, "destination", _("our rating"))
        _ratings(self, "origin", _("country of origin (optional)"))


class OriginRatingsForm(forms.Form):
    origin_organisation = _line(_("Organisation in the country of origin"))
    origin_rated_on = date_field(_("Date the origin side rated"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _ratings(self, "origin", _("country of origin"))


class LogisticsForm(forms.Form):
    travel_document_requested_on = date_field(_("Travel document requested on"))
    travel_document_issued_on = date_field(_("Travel document issued on"))
    travel_document_valid_until = date_field(_("Travel document valid until"))
    departure_on = date_field(_("Planned departure"))
    itinerary = text_field(_("Itinerary"), help_text=_("Route, carrier, times."))
    escort_function = _line(
        _("Escort (function)"),
        help_text=_("A function, not a name. A child always travels with an escort."),
    )
    medical_fitness = forms.ChoiceField(
        label=_("Medical fitness to travel"),
        choices=MedicalFitness.choices,
        widget=forms.RadioSelect,
        initial=MedicalFitness.NOT_ASSESSED,
    )
    medical_fitness_on = date_field(_("Date of the medical assessment"))
    meeting_person_function = _line(_("Who meets the person on arrival (function)"))
    meeting_point = text_field(_("Meeting point on arrival"), rows=2)
    legal_contact_needs = text_field(
        _("Contact needs for legal proceedings"),
        help_text=_("How the person stays reachable, e.g. for a remote hearing."),
    )


class ReceiverForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("The receiving organisation's answer"),
        choices=[
            (ReceiverDecision.ACCEPTED, ReceiverDecision.ACCEPTED.label),
            (ReceiverDecision.DECLINED, ReceiverDecision.DECLINED.label),
        ],
        widget=forms.RadioSelect,
        required=False,
    )
    organisation = _line(_("Receiving organisation"))
    decided_on = date_field(_("Date of the answer"))
    carer_kind = forms.ChoiceField(
        label=_("For a child: the carer who confirmed"),
        choices=blank(CarerKind.choices),
        required=False,
    )
    carer_confirmed_on = date_field(_("Date the carer confirmed"))


DATETIME = forms.DateTimeInput(
    attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
)
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]


class TransitForm(forms.Form):
    """The journey and its handover (SOP 4 step 8; trm.handover)."""

    expected_arrival_at = forms.DateTimeField(
        label=_("Expected arrival (date and time)"),
        required=False,
        widget=DATETIME,
        input_formats=DATETIME_FORMATS,
        help_text=_(
            "If the country of origin has not confirmed the arrival some hours "
            "after this, both nodes raise an urgent safety alert."
        ),
    )
    departure_at = forms.DateTimeField(
        label=_("Departure (date and time)"),
        required=False,
        widget=DATETIME,
        input_formats=DATETIME_FORMATS,
        help_text=_("Optional: now if empty."),
    )
    escort_function = _line(
        _("Escort (function, not a name)"),
        help_text=_("Empty: the one in the return plan."),
    )
    meeting_person_function = _line(
        _("Who meets the person on arrival (function, not a name)"),
        help_text=_("Empty: the one in the return plan."),
    )
    arrival_point = _line(
        _("Arrival point"), help_text=_("Empty: the meeting point of the return plan.")
    )
    itinerary = text_field(
        _("Itinerary"), help_text=_("Empty: the itinerary of the return plan.")
    )
    legal_basis = forms.ChoiceField(
        label=_("Send the arrival point and itinerary to the country of origin?"),
        required=False,
        help_text=_(
            "Only with the person's consent to a transfer to that country. "
            "Without it, only the times and functions are sent."
        ),
    )
    reason = text_field(_("Note"), help_text=_("Optional."))

    def __init__(
        self, *args: Any, consents: list[tuple[str, str]] | None = None, **kw: Any
    ) -> None:
        super().__init__(*args, **kw)
        self.fields["legal_basis"].choices = [  # type: ignore[attr-defined]
            ("", _("No: times and functions only")),
            *(consents or []),
        ]


# --- across nodes (trm.returns.services.across) -----------------------------------


def _peer(label: Any = None) -> forms.CharField:
    return forms.CharField(
        label=label or _("Node (only if the case is linked with several)"),
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs=NO_AUTOFILL),
    )


def _consent(label: Any, help_text: Any = "") -> forms.UUIDField:
    return forms.UUIDField(
        label=label,
        help_text=help_text,
        required=False,
        widget=forms.TextInput(attrs=NO_AUTOFILL),
    )


class ShareForm(forms.Form):
    """Send the newest joint assessment to the country of origin."""

    to_node = _peer()


class OriginRateForm(forms.Form):
    """On the origin node: our ratings of the assessment that arrived."""

    rated_on = date_field(_("Date we rated"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _ratings(self, "origin", _("our rating"))


class PlanSendForm(forms.Form):
    consent_id = _consent(
        _("Consent to the transfer (reference)"),
        _(
            "Without it only codes and dates are sent: no itinerary, medical "
            "needs or contact needs for proceedings."
        ),
    )
    medical_needs = text_field(
        _("Medical needs on the journey and on arrival"),
        help_text=_("Sent only with the consent."),
    )
    to_node = _peer()


class PlanAnswerForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Our answer"),
        choices=[
            (ReceiverDecision.ACCEPTED, ReceiverDecision.ACCEPTED.label),
            (ReceiverDecision.DECLINED, ReceiverDecision.DECLINED.label),
        ],
        widget=forms.RadioSelect,
        required=False,
    )
    decline_reason = forms.ChoiceField(
        label=_("Reason for declining"),
        choices=blank(DeclineReason.choices),
        required=False,
    )
    receiving_organisation = _line(_("Receiving organisation"))
    decided_on = date_field(_("Date of the answer"))
    case_manager_function = _line(_("Case manager (function)"))
    services = forms.MultipleChoiceField(
        label=_("Services offered"),
        choices=list(DOMAIN_LABELS.items()),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    carer_kind = forms.ChoiceField(
        label=_("For a child: the carer who confirmed"),
        choices=blank(CarerKind.choices),
        required=False,
    )
    carer_confirmed_on = date_field(_("Date the carer confirmed"))


class FamilyRequestForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("What to ask"),
        choices=FamilyKind.choices,
        widget=forms.RadioSelect,
        required=False,
    )
    questions = text_field(_("Questions, or the known relatives (for tracing)"), rows=5)
    consent_id = _consent(_("Consent to the transfer (reference)"))
    to_node = _peer()


class FamilyReportForm(forms.Form):
    """The report or result: sent back (origin) or recorded (destination)."""

    reported_on = date_field(_("Date of the report"))
    assessor_function = _line(_("Assessor (function)"))
    recommendation = forms.ChoiceField(
        label=_("Recommendation or placement opinion"),
        choices=blank(FamilyRecommendation.choices),
        required=False,
    )
    findings = text_field(_("Findings"), rows=5)


class FamilySendReportForm(FamilyReportForm):
    legal_basis = forms.CharField(
        label=_("Legal basis"),
        help_text=_(
            "consent:<reference> of the person's consent, or "
            "legal_obligation:<the law you act under>."
        ),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs=NO_AUTOFILL),
    )


class FamilyRecordForm(FamilyReportForm):
    kind = forms.ChoiceField(
        label=_("Report of"),
        choices=FamilyKind.choices,
        widget=forms.RadioSelect,
        required=False,
    )
