"""Forms for registering a person, opening and working a case.

Forms only check the shape of the input (lengths, dates, one value per line);
the rules (known codes, future birth dates, case numbers in use, who may do
what) are the services' and reach the form through ``add_domain_error``.
Fields that hold personal data switch browser autofill off, so that names do
not stay in a shared device's form history.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, cast

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _
from django_countries import countries
from django_stubs_ext import StrOrPromise

from trm.cases.identity import IdentityDocument, PersonIdentity
from trm.cases.models import AgeBand, ClosureReason, Visibility
from trm.cases.services import MAX_PHOTO_BYTES, PHOTO_TYPES, photo_type
from trm.common.htcds import Gender

NO_AUTOFILL = {"autocomplete": "off"}
MAX_DOCUMENTS = 10
MIN_DOCUMENT_ROWS = 2
MAX_REASON_CHARS = 2000
MAX_NOTE_CHARS = 20_000


class DocumentKind:
    """Plain-language kinds of identity document (stored as these codes)."""

    CHOICES: list[tuple[str, StrOrPromise]] = [
        ("", "—"),
        ("passport", _("Passport")),
        ("national_id", _("National identity card")),
        ("residence_permit", _("Residence permit")),
        ("travel_document", _("Other travel document")),
        ("birth_certificate", _("Birth certificate")),
        ("driving_licence", _("Driving licence")),
        ("other", _("Other document")),
    ]

    @classmethod
    def label(cls, code: str) -> StrOrPromise:
        """Return the label of ``code``, or ``code`` itself when unknown."""
        return dict(cls.CHOICES).get(code, code)


def country_choices(blank: bool = True) -> list[tuple[str, str]]:
    """Return ISO 3166-1 countries, named in the active language."""
    options = [(str(code), str(name)) for code, name in countries]
    return [("", "—"), *options] if blank else options


def _lines(value: str, *, limit: int, label: StrOrPromise) -> list[str]:
    lines = [line.strip() for line in value.splitlines() if line.strip()]
    if len(lines) > limit:
        raise forms.ValidationError(
            _("Give at most %(n)d %(what)s."), params={"n": limit, "what": label}
        )
    if any(len(line) > 300 for line in lines):
        raise forms.ValidationError(_("Each line may hold at most 300 characters."))
    return lines


def _text(label: StrOrPromise, **kwargs: Any) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        widget=forms.TextInput(attrs=NO_AUTOFILL),
        **kwargs,
    )


def _lines_field(label: StrOrPromise, help_text: StrOrPromise) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        help_text=help_text,
        widget=forms.Textarea(attrs={**NO_AUTOFILL, "rows": 2}),
    )


class IdentityForm(forms.Form):
    """The identifying data of a person (sealed; see :class:`PersonIdentity`)."""

    given_names = _text(_("Given names"), max_length=200)
    family_names = _text(_("Family names"), max_length=200)
    aliases = _lines_field(
        _("Other names or spellings"),
        _(
            "One per line: nicknames, earlier names, the name in another script "
            "(e.g. Cyrillic)."
        ),
    )
    birth_date = forms.DateField(
        label=_("Date of birth"),
        required=False,
        help_text=_("If you know only the year, choose 1 January and tick below."),
        widget=forms.DateInput(
            attrs={**NO_AUTOFILL, "type": "date"}, format="%Y-%m-%d"
        ),
    )
    birth_date_is_estimate = forms.BooleanField(
        label=_("The date of birth is an estimate"), required=False
    )
    place_of_birth = _text(_("Place of birth"), max_length=200)
    phones = _lines_field(_("Phone numbers"), _("One per line."))
    addresses = _lines_field(_("Addresses"), _("One per line."))

    def clean_aliases(self) -> list[str]:
        return _lines(self.cleaned_data["aliases"], limit=20, label=_("names"))

    def clean_phones(self) -> list[str]:
        return _lines(self.cleaned_data["phones"], limit=10, label=_("phone numbers"))

    def clean_addresses(self) -> list[str]:
        return _lines(self.cleaned_data["addresses"], limit=10, label=_("addresses"))

    def identity(self, documents: Iterable[IdentityDocument]) -> PersonIdentity:
        """Return the identity the (valid) form and ``documents`` describe."""
        data = self.cleaned_data
        return PersonIdentity(
            given_names=data["given_names"],
            family_names=data["family_names"],
            aliases=data["aliases"],
            birth_date=data["birth_date"],
            birth_date_is_estimate=data["birth_date_is_estimate"],
            place_of_birth=data["place_of_birth"],
            documents=list(documents),
            phones=data["phones"],
            addresses=data["addresses"],
        )

    @staticmethod
    def initial_from(identity: PersonIdentity) -> dict[str, Any]:
        return {
            "given_names": identity.given_names,
            "family_names": identity.family_names,
            "aliases": "\n".join(identity.aliases),
            "birth_date": identity.birth_date,
            "birth_date_is_estimate": identity.birth_date_is_estimate,
            "place_of_birth": identity.place_of_birth,
            "phones": "\n".join(identity.phones),
            "addresses": "\n".join(identity.addresses),
        }


class PhotoForm(forms.Form):
    """The person's photo on the identity page: a new file, or remove the current one.

    The form checks size and type early so that nothing is saved when the file
    is wrong; the service checks both again.
    """

    photo = forms.FileField(
        label=_("Photo (JPEG or PNG)"),
        required=False,
        help_text=_(
            "At most 5 MiB. Replaces the current photo. If the page shows an "
            "error, choose the file again."
        ),
        widget=forms.FileInput(attrs={"accept": ",".join(sorted(PHOTO_TYPES))}),
    )
    remove_photo = forms.BooleanField(label=_("Remove the photo"), required=False)

    def clean_photo(self) -> UploadedFile | None:
        upload: UploadedFile | None = self.cleaned_data.get("photo")
        if upload is None:
            return None
        if (upload.size or 0) > MAX_PHOTO_BYTES:
            raise forms.ValidationError(_("The file is larger than 5 MiB."))
        upload.seek(0)
        head = upload.read(16)
        upload.seek(0)
        if photo_type(head) is None:
            raise forms.ValidationError(_("The photo must be a JPEG or PNG image."))
        return upload

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("photo") is not None and data.get("remove_photo"):
            self.add_error(
                "remove_photo",
                _("Choose a new photo or remove the photo, not both."),
            )
        return data

    def content(self) -> tuple[bytes, str] | None:
        """Return the chosen file's bytes and their type (by content), if any."""
        upload: UploadedFile | None = self.cleaned_data.get("photo")
        if upload is None:
            return None
        content = b"".join(upload.chunks())
        return content, photo_type(content) or upload.content_type or ""


class DocumentForm(forms.Form):
    """One row of the documents table; a row left empty is ignored."""

    kind = forms.ChoiceField(
        label=_("Kind of document"), choices=DocumentKind.CHOICES, required=False
    )
    number = _text(_("Document number"), max_length=60)
    issuing_country = forms.ChoiceField(
        label=_("Issued by (country)"), choices=[], required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["issuing_country"]
        assert isinstance(field, forms.ChoiceField)  # noqa: S101
        field.choices = country_choices()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("kind") or data.get("issuing_country")) and not data.get("number"):
            self.add_error("number", _("Enter the document number, or clear this row."))
        return data

    def document(self) -> IdentityDocument | None:
        data = self.cleaned_data
        if not data.get("number"):
            return None
        return IdentityDocument(
            kind=data.get("kind") or "",
            number=data["number"],
            issuing_country=data.get("issuing_country") or "",
        )


class _BaseDocumentFormSet(forms.BaseFormSet[DocumentForm]):
    def documents(self) -> list[IdentityDocument]:
        found = (form.document() for form in self.forms if form.is_valid())
        return [d for d in found if d is not None]


DocumentFormSet = forms.formset_factory(
    DocumentForm,
    formset=_BaseDocumentFormSet,
    extra=0,
    max_num=MAX_DOCUMENTS,
    absolute_max=MAX_DOCUMENTS,
    validate_max=True,
)


def document_formset(
    data: Any = None, *, initial: list[IdentityDocument] | None = None
) -> _BaseDocumentFormSet:
    """Return the documents formset, with at least two rows and one spare row."""
    rows = [d.model_dump() for d in (initial or [])]
    formset = cast(
        "_BaseDocumentFormSet",
        DocumentFormSet(data, initial=rows or None, prefix="documents"),
    )
    formset.extra = max(MIN_DOCUMENT_ROWS - len(rows), 1 if rows else 0)
    if len(rows) >= MAX_DOCUMENTS:
        formset.extra = 0
    return formset


def with_extra_document_row(data: Any) -> Any:
    """Return a copy of posted ``data`` with one more (empty) document row."""
    copy = data.copy()
    key = "documents-TOTAL_FORMS"
    try:
        total = int(copy.get(key, MIN_DOCUMENT_ROWS))
    except ValueError:
        total = MIN_DOCUMENT_ROWS
    copy[key] = str(min(total + 1, MAX_DOCUMENTS))
    return copy


class CaseOpenForm(IdentityForm):
    """Register a person and open their case."""

    gender = forms.ChoiceField(
        label=_("Gender"),
        choices=Gender.choices,
        initial=Gender.NOT_SPECIFIED_UNKNOWN,
        help_text=_("As the person describes themself."),
    )
    age_band = forms.ChoiceField(
        label=_("Age group"),
        choices=[
            ("", _("Work it out from the date of birth")),
            *[(v, lbl) for v, lbl in AgeBand.choices if v != AgeBand.UNKNOWN],
            (AgeBand.UNKNOWN, AgeBand.UNKNOWN.label),
        ],
        required=False,
        help_text=_("Choose a group only when the date of birth is not known."),
    )
    age_uncertain = forms.BooleanField(label=_("The age is uncertain"), required=False)
    may_be_child = forms.BooleanField(
        label=_("The person is or may be a child"),
        required=False,
        help_text=_(
            "If in doubt, tick this: the person is then treated as a child and a "
            "guardian is requested."
        ),
    )
    citizenships = forms.MultipleChoiceField(
        label=_("Citizenship"),
        choices=[],
        required=False,
        help_text=_(
            "You may choose more than one. On a computer, hold Ctrl (⌘ on a Mac) "
            "while you click."
        ),
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    languages = forms.CharField(
        label=_("Languages the person speaks"),
        required=False,
        max_length=200,
        help_text=_(
            "Two- or three-letter codes (ISO 639), separated by commas, "
            "e.g. ro, en, rom."
        ),
    )
    asylum_applicant = forms.BooleanField(
        label=_("The person has applied for asylum"), required=False
    )
    number = forms.CharField(
        label=_("Case number"),
        required=False,
        max_length=32,
        help_text=_(
            "Leave empty to get the next number. Fill in only to keep the number "
            "of an existing paper file."
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["citizenships"]
        assert isinstance(field, forms.MultipleChoiceField)  # noqa: S101
        field.choices = country_choices(blank=False)

    def clean_languages(self) -> list[str]:
        value: str = self.cleaned_data["languages"]
        return [code for code in re.split(r"[\s,;]+", value) if code]


class SearchForm(forms.Form):
    """Find a person by name (optionally with birth year) or document number."""

    name = forms.CharField(
        label=_("Name"),
        required=False,
        max_length=200,
        help_text=_(
            "The full name, in any order and any script: “Ioana Popescu” also "
            "finds “Попеску Иоана”."
        ),
        widget=forms.TextInput(attrs=NO_AUTOFILL),
    )
    birth_year = forms.IntegerField(
        label=_("Year of birth (optional)"),
        required=False,
        min_value=1900,
        max_value=2100,
        widget=forms.NumberInput(attrs={**NO_AUTOFILL, "inputmode": "numeric"}),
    )
    document_number = forms.CharField(
        label=_("Or: document number"),
        required=False,
        max_length=60,
        help_text=_("Spaces and dashes do not matter."),
        widget=forms.TextInput(attrs=NO_AUTOFILL),
    )


class MoveForm(forms.Form):
    """Move one track of a case to a new state.

    Shown with ``targets`` (the moves the user may make) as radio buttons;
    posted without, so that the service, not the form, decides what is allowed.
    """

    track = forms.CharField(widget=forms.HiddenInput, max_length=30)
    target = forms.CharField(label=_("New state"), max_length=30)
    reason = forms.CharField(
        label=_("Why? (optional)"),
        required=False,
        max_length=MAX_REASON_CHARS,
        help_text=_("Shown on the timeline to the people who can see this track."),
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(
        self,
        *args: Any,
        targets: list[tuple[str, StrOrPromise]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if targets is not None:
            self.fields["target"] = forms.ChoiceField(
                label=_("New state"), choices=targets, widget=forms.RadioSelect
            )


class CloseForm(forms.Form):
    reason = forms.ChoiceField(
        label=_("Why is the case closed?"),
        choices=[("", "—"), *ClosureReason.choices],
    )
    note = forms.CharField(
        label=_("Note (optional)"),
        required=False,
        max_length=MAX_REASON_CHARS,
        help_text=_("Shown on the timeline to the case team."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class _MemberField(forms.ChoiceField):
    """Offer the candidates, accept any well-formed ``"<user id>:<role>"``.

    The service decides who may join (and says why not, e.g. a peer node's
    user); the choices only spare people from typing.
    """

    def valid_value(self, value: str) -> bool:
        return re.fullmatch(r"[1-9][0-9]{0,18}:[a-z_]{1,40}", value) is not None


class TeamAddForm(forms.Form):
    """Add a user to the team; the choice names the user and the role together."""

    member = _MemberField(label=_("Colleague to add, and their role"), choices=[])

    def __init__(
        self, *args: Any, choices: list[tuple[str, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["member"]
        assert isinstance(field, forms.ChoiceField)  # noqa: S101
        field.choices = [("", "—"), *(choices or [])]

    def user_and_role(self) -> tuple[int, str]:
        user_id, _sep, role = self.cleaned_data["member"].partition(":")
        return int(user_id), role


class NoteForm(forms.Form):
    text = forms.CharField(
        label=_("Note"),
        max_length=MAX_NOTE_CHARS,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    visibility = forms.ChoiceField(
        label=_("Who may read it"),
        choices=Visibility.choices,
        initial=Visibility.TEAM,
        widget=forms.RadioSelect,
    )

    def __init__(
        self, *args: Any, levels: Iterable[str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if levels is not None:
            allowed = set(levels)
            field = self.fields["visibility"]
            assert isinstance(field, forms.ChoiceField)  # noqa: S101
            field.choices = [(v, lbl) for v, lbl in Visibility.choices if v in allowed]
            if Visibility.TEAM not in allowed and field.choices:
                field.initial = field.choices[0][0]


# --- the transnational channel (trm.cases.messages) --------------------------------


class _PeerForm(forms.Form):
    peer_node = forms.ChoiceField(label=_("Counterpart node"), choices=[])

    def __init__(
        self, *args: Any, peers: list[tuple[str, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["peer_node"]
        assert isinstance(field, forms.ChoiceField)  # noqa: S101
        field.choices = [("", "—"), *(peers or [])]


class AlertForm(_PeerForm):
    """Alert a counterpart node (SOPS §6.4 M1): pseudonymous, no name travels."""

    urgency = forms.ChoiceField(
        label=_("Urgency"), choices=[], widget=forms.RadioSelect, initial="normal"
    )
    requests = forms.MultipleChoiceField(
        label=_("What do you ask the counterpart for?"),
        choices=[],
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from trm.cases.messages import REQUEST_LABELS, URGENCY_LABELS

        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["urgency"]).choices = list(
            URGENCY_LABELS.items()
        )
        cast(forms.ChoiceField, self.fields["requests"]).choices = list(
            REQUEST_LABELS.items()
        )


class SafetyAlertForm(_PeerForm):
    """An urgent safety alert (SOPS §6.4 M14), sent without consent."""

    nature = forms.ChoiceField(label=_("Nature of the risk"), choices=[])
    people_at_risk = forms.MultipleChoiceField(
        label=_("Who is at risk"),
        choices=[],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    actions_requested = forms.MultipleChoiceField(
        label=_("What do you ask the counterpart to do?"),
        choices=[],
        widget=forms.CheckboxSelectMultiple,
    )
    reason = forms.CharField(
        label=_("The risk, and why it cannot wait for consent"),
        max_length=MAX_REASON_CHARS,
        help_text=_(
            "Sent to the counterpart as risk information and kept on the timeline. "
            "Write only what protecting the person needs."
        ),
        widget=forms.Textarea(attrs={"rows": 4, **NO_AUTOFILL}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from trm.cases.messages import PEOPLE_AT_RISK, SAFETY_ACTIONS, SAFETY_NATURES

        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["nature"]).choices = [
            ("", "—"),
            *SAFETY_NATURES.items(),
        ]
        cast(forms.ChoiceField, self.fields["people_at_risk"]).choices = list(
            PEOPLE_AT_RISK.items()
        )
        cast(forms.ChoiceField, self.fields["actions_requested"]).choices = list(
            SAFETY_ACTIONS.items()
        )
