"""Forms of SOP 1 Identification, in plain words for a first contact point.

Forms only check the shape of the input (lengths, known choices); the rules
(reasons required, the checklist for a decision, who may do what, the removal
block, the consular channel for asylum applicants) are
:mod:`trm.identification.services`' and reach the form through
``add_domain_error``. Field names are the ``details["field"]`` names the
services use, so a refusal lands next to the right field.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pycountry
from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from trm.accounts.models import Role, User
from trm.accounts.node_users import local_users_q
from trm.cases.tracks import Identification
from trm.identification.children import AgeOutcome
from trm.identification.common import MAX_REASON_CHARS
from trm.identification.contacts import CONTACT_KINDS, VerificationChannel
from trm.identification.models import REQUIRED_ITEMS, RightsContext, RightsItem
from trm.sop.vocabulary import REFLECTION_END_REASONS

NO_AUTOFILL = {"autocomplete": "off"}

OUTCOME_LABELS: dict[str, StrOrPromise] = {
    Identification.IDENTIFIED: _("Identified: the person is a trafficked person"),
    Identification.NOT_IDENTIFIED: _("Not identified"),
}
AGE_OUTCOME_LABELS: dict[str, StrOrPromise] = {
    AgeOutcome.CHILD: _("Under 18: a child"),
    AgeOutcome.ADULT: _("18 or over: an adult"),
    AgeOutcome.INCONCLUSIVE: _("Not clear: keep treating the person as a child"),
}
CHANNEL_LABELS: dict[str, StrOrPromise] = {
    VerificationChannel.DOMESTIC: _(
        "Domestic registers only (the country of origin is not contacted)"
    ),
    VerificationChannel.NATIONAL_CONTACT_POINT: _(
        "The national contact point of the country of origin"
    ),
    VerificationChannel.POLICE: _("Police cooperation with the country of origin"),
    VerificationChannel.CONSULATE: _(
        "The embassy or consulate of the country of origin"
    ),
}
CONTACT_KIND_LABELS: dict[str, StrOrPromise] = {
    "in_person": _("Met in person"),
    "phone": _("Phone call"),
    "video": _("Video call"),
    "message": _("Message (text, e-mail)"),
    "accompanied": _("Accompanied the person (e.g. to a service)"),
}
RIGHTS_CONTEXT_CHOICES: list[tuple[str, StrOrPromise]] = [
    (RightsContext.REFLECTION_PERIOD, RightsContext.REFLECTION_PERIOD.label),
    (RightsContext.OTHER, RightsContext.OTHER.label),
]


def _reason_field(
    label: StrOrPromise, *, help_text: StrOrPromise = "", rows: int = 4
) -> forms.CharField:
    # Required-ness is the service's rule (it may depend on the case), so the
    # form accepts an empty value and the service's message lands on the field.
    return forms.CharField(
        label=label,
        required=False,
        max_length=MAX_REASON_CHARS,
        help_text=help_text,
        widget=forms.Textarea(attrs={**NO_AUTOFILL, "rows": rows}),
    )


def _note_field() -> forms.CharField:
    return _reason_field(
        _("Note (optional)"),
        help_text=_("Shown on the case timeline to the people who may read it."),
        rows=3,
    )


def language_choices(preferred: Iterable[str] = ()) -> list[tuple[str, str]]:
    """Return ISO 639 languages for a select, the person's languages first.

    The person's languages (which may be three-letter codes such as ``rom``)
    and the node's interface languages lead; then every language with a
    two-letter code, by name in the active language.
    """
    from trm.cases.views import language_name

    first: list[str] = []
    for code in [*preferred, *(c for c, _name in settings.LANGUAGES)]:
        code = str(code).strip().lower()
        if code and code not in first:
            first.append(code)
    rest = sorted(
        (
            (str(lang.alpha_2), language_name(str(lang.alpha_2)))
            for lang in pycountry.languages
            if getattr(lang, "alpha_2", None) and lang.alpha_2 not in first
        ),
        key=lambda pair: pair[1].casefold(),
    )
    return [("", "—"), *((c, language_name(c)) for c in first), *rest]


def _required_note(item: str) -> StrOrPromise:
    """Say for which decision a checklist item is required."""
    identified = item in REQUIRED_ITEMS[RightsContext.IDENTIFIED]
    not_identified = item in REQUIRED_ITEMS[RightsContext.NOT_IDENTIFIED]
    if identified and not_identified:
        return _("required for both decisions")
    if identified:
        return _("required if identified")
    if not_identified:
        return _("required if not identified")
    return ""


def rights_choices(context: str | None = None) -> list[tuple[str, str]]:
    """Return the checklist items, each marked where a decision requires it.

    With ``context`` (a :class:`RightsContext`), mark the items that context
    requires; without, mark those either decision requires.
    """
    choices = []
    for value, label in RightsItem.choices:
        if context is None:
            note = _required_note(value)
        else:
            note = _("required") if value in REQUIRED_ITEMS[context] else ""
        text = f"{label} ({note})" if note else str(label)
        choices.append((str(value), text))
    return choices


class _LanguageMixin(forms.Form):
    informed = forms.MultipleChoiceField(
        label=_("What the person was told"),
        choices=[],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    language = forms.ChoiceField(
        label=_("Language the person was told in"),
        choices=[],
        required=False,
        help_text=_("The person's own languages are listed first."),
    )
    interpreter = forms.BooleanField(
        label=_("An interpreter or cultural mediator helped"), required=False
    )

    def _set_languages(self, languages: Iterable[str]) -> None:
        field = self.fields["language"]
        assert isinstance(field, forms.ChoiceField)  # noqa: S101
        field.choices = language_choices(languages)


class PresumeForm(forms.Form):
    reason = _reason_field(
        _("Why do you think the person may have been trafficked?"),
        help_text=_(
            "What you saw or heard: signs of exploitation, what the person or "
            "others said. Not needed when the latest screening suggests referral."
        ),
    )


class DecisionForm(_LanguageMixin):
    outcome = forms.ChoiceField(
        label=_("Decision"),
        choices=list(OUTCOME_LABELS.items()),
        widget=forms.RadioSelect,
    )
    reasons = _reason_field(
        _("Reasons for the decision"),
        help_text=_("The person is told these reasons."),
        rows=5,
    )
    field_order = ["outcome", "reasons", "informed", "language", "interpreter"]

    def __init__(
        self, *args: Any, languages: Iterable[str] = (), **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._set_languages(languages)
        informed = self.fields["informed"]
        assert isinstance(informed, forms.MultipleChoiceField)  # noqa: S101
        informed.choices = rights_choices()
        informed.label = _("What the person was told about the decision")
        informed.help_text = _(
            "Tick what you explained. The items marked “required” must have "
            "been explained for the decision you chose."
        )


class ReopenForm(forms.Form):
    reason = _reason_field(
        _("What is the new evidence?"),
        help_text=_("Describe what is new since the decision “not identified”."),
    )


class NoIndicationForm(forms.Form):
    information_given = forms.BooleanField(
        label=_(
            "I told the person about other services they can turn to and gave "
            "them contact details"
        ),
        required=False,
    )
    note = _note_field()


class RightsForm(_LanguageMixin):
    context = forms.ChoiceField(
        label=_("What was the person told about?"),
        choices=RIGHTS_CONTEXT_CHOICES,
        initial=RightsContext.REFLECTION_PERIOD,
        widget=forms.RadioSelect,
    )
    field_order = ["context", "informed", "language", "interpreter"]

    def __init__(
        self, *args: Any, languages: Iterable[str] = (), **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._set_languages(languages)
        informed = self.fields["informed"]
        assert isinstance(informed, forms.MultipleChoiceField)  # noqa: S101
        informed.choices = rights_choices(RightsContext.REFLECTION_PERIOD)
        informed.help_text = _(
            "For the reflection period, the items marked “required” must have "
            "been explained."
        )


class ReflectionEndForm(forms.Form):
    reason = forms.ChoiceField(label=_("Why does the period end?"), choices=[])
    detail = _reason_field(
        _("Written reasons"),
        help_text=_(
            "Required when the period ends early (public order, improper claim)."
        ),
    )

    def __init__(self, *args: Any, reasons: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        allowed = set(reasons)
        field = self.fields["reason"]
        assert isinstance(field, forms.ChoiceField)  # noqa: S101
        field.choices = [
            ("", "—"),
            *(
                (code, str(label))
                for code, label in REFLECTION_END_REASONS.items()
                if code in allowed
            ),
        ]


class PossibleChildForm(forms.Form):
    reason = _reason_field(
        _("What makes you think the person may be under 18? (optional)"),
        help_text=_(
            "If in doubt, treat the person as a child: a guardian is requested "
            "and child-protection rules apply until an age assessment."
        ),
        rows=3,
    )


class AsylumForm(forms.Form):
    note = _reason_field(
        _("Where and when did the person apply? (optional)"),
        help_text=_("For example the reception centre and the date."),
        rows=3,
    )


class AgeAssessmentForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Result of the age assessment"),
        choices=list(AGE_OUTCOME_LABELS.items()),
        widget=forms.RadioSelect,
    )
    method = forms.CharField(
        label=_("How was age assessed?"),
        required=False,
        max_length=MAX_REASON_CHARS,
        help_text=_("E.g. documents, a multidisciplinary interview."),
        widget=forms.TextInput(attrs=NO_AUTOFILL),
    )
    note = _note_field()


class GuardianForm(forms.Form):
    guardian = forms.ChoiceField(
        label=_("Guardian (optional)"),
        choices=[],
        required=False,
        help_text=_(
            "If the guardian uses this system, choose them: they join the case "
            "team. Otherwise leave empty and name them in the note."
        ),
    )
    note = _note_field()

    def __init__(
        self, *args: Any, guardians: Iterable[User] = (), **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["guardian"]
        assert isinstance(field, forms.ChoiceField)  # noqa: S101
        field.choices = [
            ("", "—"),
            *(
                (
                    str(g.pk),
                    f"{g.get_full_name() or g.get_username()}"
                    f" ({g.organisation.name if g.organisation else '—'})",
                )
                for g in guardians
            ),
        ]

    def clean_guardian(self) -> int | None:
        value: str = self.cleaned_data["guardian"]
        return int(value) if value else None


def guardian_candidates() -> list[User]:
    """Return the active users of this node holding the guardian role, by name
    (never a node user nor a peer organisation's user: they join no team here).
    """
    return list(
        User.objects.filter(is_active=True, memberships__role=Role.GUARDIAN)
        .filter(local_users_q())
        .select_related("organisation")
        .distinct()
        .order_by("last_name", "first_name", "username")[:500]
    )


class ChildProtectionNoticeForm(forms.Form):
    authority = forms.CharField(
        label=_("Which child-protection authority was notified?"),
        required=False,
        max_length=MAX_REASON_CHARS,
        help_text=_("The name of the authority or office, not of a person."),
        widget=forms.TextInput(attrs=NO_AUTOFILL),
    )
    note = _note_field()


class _ChannelSelect(forms.RadioSelect):
    """Radio buttons some of which are disabled (with the reason shown nearby)."""

    def __init__(self, *args: Any, disabled: Iterable[str] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.disabled = set(disabled)

    def create_option(
        self,
        name: str,
        value: Any,
        label: Any,
        selected: bool,
        index: int,
        subindex: int | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        option: dict[str, Any] = super().create_option(
            name, value, label, selected, index, subindex, attrs
        )
        if str(value) in self.disabled:
            option["attrs"]["disabled"] = True
        return option


#: A channel choice "through the exchange to <node>" is this prefix + the node id.
EXCHANGE_CHANNEL = "exchange:"
#: The legal-basis choice "a legal obligation" (its reference is typed apart).
LEGAL_OBLIGATION = "legal_obligation"
#: The fields of a check through the exchange (shown only when one may go).
EXCHANGE_FIELDS = ("purpose", "legal_basis", "legal_obligation", "include_documents")
PURPOSE_LABELS: dict[str, StrOrPromise] = {
    "identity_and_nationality": _("Identity and nationality"),
    "travel_documents": _("Identity, for travel documents"),
}
VERIFY_OUTCOME_LABELS: dict[str, StrOrPromise] = {
    "confirmed": _("Confirmed: the person is who they say, a national"),
    "not_confirmed": _("Not confirmed"),
}
DOCUMENT_OPTION_LABELS: dict[str, StrOrPromise] = {
    "passport": _("A passport can be issued"),
    "identity_card": _("An identity card can be issued"),
    "emergency_travel_document": _("An emergency travel document can be issued"),
    "none": _("No document can be issued"),
}


class VerificationForm(forms.Form):
    """How identity is verified; through the exchange, also the legal basis.

    The fields after the channel matter only for a check through the exchange
    (:func:`trm.identification.messages.identity_verification_send`); their
    help says so, and they are left out when no peer node is offered.
    """

    channel = forms.ChoiceField(
        label=_("How should identity and nationality be verified?"),
        choices=list(CHANNEL_LABELS.items()),
        widget=forms.RadioSelect,
    )
    purpose = forms.ChoiceField(
        label=_("What is the check for?"),
        choices=list(PURPOSE_LABELS.items()),
        initial="identity_and_nationality",
        required=False,
        widget=forms.RadioSelect,
        help_text=_("Only for a check through the exchange."),
    )
    legal_basis = forms.ChoiceField(
        label=_("On what basis does the person's identity go abroad?"),
        choices=[],
        required=False,
        widget=forms.RadioSelect,
    )
    legal_obligation = forms.CharField(
        label=_("The legal obligation"),
        required=False,
        max_length=150,
        help_text=_("The law and article that oblige this node to ask."),
        widget=forms.TextInput(attrs=NO_AUTOFILL),
    )
    include_documents = forms.BooleanField(
        label=_("Send the person's identity documents too"),
        required=False,
        help_text=_(
            "Document numbers help the check; the consent must cover identity "
            "documents."
        ),
    )
    note = _note_field()

    def __init__(
        self,
        *args: Any,
        asylum_applicant: bool = False,
        peers: Iterable[tuple[str, str]] = (),
        not_offered: str = "",
        bases: Iterable[tuple[str, str]] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["channel"]
        assert isinstance(field, forms.ChoiceField)  # noqa: S101
        exchange: list[tuple[str, StrOrPromise]] = [
            (
                EXCHANGE_CHANNEL + node_id,
                _("Through the exchange to %(peer)s") % {"peer": label},
            )
            for node_id, label in peers
        ]
        field.choices = [*CHANNEL_LABELS.items(), *exchange]
        help_texts: list[StrOrPromise] = []
        if asylum_applicant:
            field.widget = _ChannelSelect(
                choices=field.choices, disabled=VerificationChannel.ORIGIN_COUNTRY
            )
            field.initial = VerificationChannel.DOMESTIC
            help_texts.append(
                _(
                    "The person has applied for international protection: the "
                    "authorities of their country of origin must not be contacted, "
                    "so only domestic registers can be used."
                )
            )
        if not_offered and not asylum_applicant:
            help_texts.append(not_offered)
        field.help_text = " ".join(str(t) for t in help_texts)
        if not exchange:
            # Nowhere to send a check: the exchange's fields would only confuse.
            for name in EXCHANGE_FIELDS:
                del self.fields[name]
            return
        basis = self.fields["legal_basis"]
        assert isinstance(basis, forms.ChoiceField)  # noqa: S101
        listed = list(bases)
        basis.choices = [
            *listed,
            (LEGAL_OBLIGATION, _("A legal obligation (name it below)")),
        ]
        basis.help_text = (
            _("Only for a check through the exchange.")
            if listed
            else _(
                "Only for a check through the exchange. No valid consent to a "
                "transfer abroad is recorded for this person: record one on the "
                "case's consent page, or name a legal obligation."
            )
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        channel = str(data.get("channel") or "")
        data["peer_node"] = ""
        data["basis"] = ""
        if not channel.startswith(EXCHANGE_CHANNEL):
            return data
        data["peer_node"] = channel.removeprefix(EXCHANGE_CHANNEL)
        basis = data.get("legal_basis") or ""
        if not basis:
            self.add_error(
                "legal_basis",
                _("Choose the basis on which the person's identity goes abroad."),
            )
        elif basis == LEGAL_OBLIGATION:
            reference = (data.get("legal_obligation") or "").strip()
            if not reference:
                self.add_error(
                    "legal_obligation",
                    _("Name the legal obligation (the law and article)."),
                )
            else:
                data["basis"] = f"{LEGAL_OBLIGATION}:{reference}"
        else:
            data["basis"] = basis
        if not data.get("purpose"):
            data["purpose"] = "identity_and_nationality"
        return data


class VerificationAnswerForm(forms.Form):
    """The answer to a counterpart's identity check."""

    outcome = forms.ChoiceField(
        label=_("What did the check find?"),
        choices=list(VERIFY_OUTCOME_LABELS.items()),
        widget=forms.RadioSelect,
    )
    document_options = forms.MultipleChoiceField(
        label=_("Which documents can be issued to the person?"),
        choices=list(DOCUMENT_OPTION_LABELS.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Leave empty if you do not know yet."),
    )


class ContactForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("What kind of contact?"),
        choices=[(k, CONTACT_KIND_LABELS[k]) for k in CONTACT_KINDS],
        widget=forms.RadioSelect,
    )
    note = _note_field()


class EnforcedRemovalForm(forms.Form):
    legal_basis = _reason_field(
        _("Legal basis of the removal"),
        help_text=_("The decision or order the authorities enforced, and its date."),
    )
