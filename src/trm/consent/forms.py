"""The form that records an informed consent.

The form checks the shape of the input; the rules (a recipient is named, a
child's guardian takes part, the evidence really is a PDF or an image, the
expiry follows the giving) are :func:`trm.consent.services.consent_record`'s.
"""

from __future__ import annotations

from typing import Any

import pycountry
from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from trm.accounts.models import Organisation
from trm.cases.forms import country_choices
from trm.consent.models import DataCategory, GivenBy, Purpose
from trm.consent.services import EVIDENCE_TYPES, MAX_EVIDENCE_BYTES

DATETIME_FORMAT = "%Y-%m-%dT%H:%M"


def _datetime_widget() -> forms.DateTimeInput:
    return forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_FORMAT)


class ConsentForm(forms.Form):
    purpose = forms.ChoiceField(
        label=_("What is the consent for?"),
        choices=[("", "—"), *Purpose.choices],
    )
    recipient_organisation = forms.ModelChoiceField(
        label=_("Shared with: organisation"),
        queryset=Organisation.objects.none(),
        required=False,
        empty_label="—",
        help_text=_("Choose the organisation that will receive the data."),
    )
    recipient_country = forms.ChoiceField(
        label=_("Or: every organisation in a country"),
        choices=[],
        required=False,
        help_text=_(
            "Only when the person agreed to share with any organisation there. "
            "Leave empty when you chose an organisation above."
        ),
    )
    categories = forms.MultipleChoiceField(
        label=_("Which data may be shared"),
        choices=DataCategory.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    given_by = forms.ChoiceField(
        label=_("Who gave the consent"),
        choices=GivenBy.choices,
        initial=GivenBy.PERSON,
        widget=forms.RadioSelect,
        help_text=_("For a child, the guardian must take part."),
    )
    language = forms.CharField(
        label=_("Language the information was given in"),
        max_length=3,
        help_text=_("ISO 639 code, e.g. ro, bg, en or rom."),
    )
    interpreter_used = forms.BooleanField(
        label=_("An interpreter was used"), required=False
    )
    declaration = forms.CharField(
        label=_("The person's declaration"),
        required=False,
        max_length=5000,
        help_text=_(
            "Type what the person agreed to, in their words, or attach the signed "
            "form below. One of the two is needed."
        ),
        widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off"}),
    )
    evidence = forms.FileField(
        label=_("Signed form (PDF, PNG or JPEG)"),
        required=False,
        help_text=_(
            "At most 10 MiB. If the page shows an error, choose the file again."
        ),
        widget=forms.ClearableFileInput(
            attrs={"accept": ",".join(sorted(EVIDENCE_TYPES))}
        ),
    )
    given_at = forms.DateTimeField(
        label=_("Given on"),
        widget=_datetime_widget(),
        input_formats=[DATETIME_FORMAT, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
    )
    expires_at = forms.DateTimeField(
        label=_("Valid until (optional)"),
        required=False,
        widget=_datetime_widget(),
        input_formats=[DATETIME_FORMAT, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        help_text=_("Leave empty if the consent has no end date."),
    )

    def __init__(
        self,
        *args: Any,
        organisations: QuerySet[Organisation],
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault(
            "given_at", timezone.localtime().replace(second=0, microsecond=0)
        )
        super().__init__(*args, **kwargs)
        organisation = self.fields["recipient_organisation"]
        assert isinstance(organisation, forms.ModelChoiceField)  # noqa: S101
        organisation.queryset = organisations
        country = self.fields["recipient_country"]
        assert isinstance(country, forms.ChoiceField)  # noqa: S101
        country.choices = country_choices()

    def clean_language(self) -> str:
        code: str = self.cleaned_data["language"].strip().lower()
        if (
            pycountry.languages.get(alpha_2=code) is None
            and pycountry.languages.get(alpha_3=code) is None
        ):
            raise forms.ValidationError(
                _("Unknown language code; use ISO 639, e.g. ro or rom.")
            )
        return code

    def clean_evidence(self) -> UploadedFile | None:
        upload: UploadedFile | None = self.cleaned_data.get("evidence")
        if upload is not None and (upload.size or 0) > MAX_EVIDENCE_BYTES:
            raise forms.ValidationError(_("The file is larger than 10 MiB."))
        return upload


def read_evidence(upload: UploadedFile | None) -> tuple[bytes | None, str]:
    """Return the uploaded file's bytes and its type, recognised by content.

    Browsers report types inconsistently (``image/jpg``, or none on some
    phones), so a file that starts like a PDF, PNG or JPEG is declared as that;
    anything else keeps the browser's word and the service refuses it.
    """
    if upload is None:
        return None, ""
    content = b"".join(upload.chunks())
    for content_type, magic in EVIDENCE_TYPES.items():
        if content.startswith(magic):
            return content, content_type
    return content, upload.content_type or "application/octet-stream"
