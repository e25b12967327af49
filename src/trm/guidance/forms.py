"""Forms of the guidance library: search and filters, and a resource.

The forms check the shape of the input; the rules (known codes, a safe link,
a file that is what it claims) are :mod:`trm.guidance.services`' and
:mod:`trm.guidance.files`', and come back as domain errors naming a field.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

from trm.guidance.files import (
    KINDS,
    CheckedFile,
    check_upload,
    max_upload_bytes,
    too_large_error,
)
from trm.guidance.models import Category, Region, Resource
from trm.guidance.selectors import Filters
from trm.guidance.services import ResourceInput

ANY = ("", _("Any"))


class SearchForm(forms.Form):
    """The list's search box and filters (a GET form: every field optional)."""

    q = forms.CharField(
        label=_("Words"),
        required=False,
        max_length=200,
        help_text=_("Searches titles, summaries and the text of uploaded PDFs."),
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    category = forms.ChoiceField(
        label=_("Category"), required=False, choices=[ANY, *Category.choices]
    )
    region = forms.ChoiceField(
        label=_("Region"), required=False, choices=[ANY, *Region.choices]
    )
    topic = forms.ChoiceField(label=_("Topic"), required=False, choices=[ANY])
    language = forms.CharField(
        label=_("Language"),
        required=False,
        max_length=3,
        help_text=_("ISO 639 code, e.g. en, bg or ro."),
    )
    year = forms.IntegerField(
        label=_("Year"), required=False, min_value=1900, max_value=2999
    )

    def __init__(self, *args: Any, topics: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["topic"]
        assert isinstance(field, forms.ChoiceField)  # noqa: S101
        field.choices = [ANY, *((tag, tag) for tag in topics)]

    def filters(self) -> Filters:
        """Return the valid filters (an invalid one is left out, and shown)."""
        data = getattr(self, "cleaned_data", {})
        return Filters(
            q=str(data.get("q") or "").strip(),
            category=str(data.get("category") or ""),
            region=str(data.get("region") or ""),
            topic=str(data.get("topic") or ""),
            language=str(data.get("language") or "").strip().lower(),
            year=data.get("year"),
        )


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]


class ResourceForm(forms.Form):
    """What an editor records about a resource, and its file."""

    title = forms.CharField(label=_("Title"), max_length=Resource.TITLE_MAX)
    category = forms.ChoiceField(
        label=_("Category"), choices=[("", "—"), *Category.choices]
    )
    publisher = forms.CharField(label=_("Publisher"), required=False, max_length=200)
    year = forms.IntegerField(
        label=_("Year"), required=False, min_value=1900, max_value=2999
    )
    regions = forms.MultipleChoiceField(
        label=_("Regions"),
        choices=Region.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    topics = forms.CharField(
        label=_("Topics"),
        required=False,
        max_length=800,
        help_text=_("Separated by commas, e.g. indicators, children, return."),
    )
    languages = forms.CharField(
        label=_("Languages available"),
        required=False,
        max_length=200,
        help_text=_("ISO 639 codes separated by commas, e.g. en, bg, ro."),
    )
    summary = forms.CharField(
        label=_("Summary"),
        required=False,
        max_length=Resource.SUMMARY_MAX,
        help_text=_("In your own words: what it is and when it helps."),
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    link = forms.CharField(
        label=_("Public link"),
        required=False,
        max_length=500,
        help_text=_("The publisher's page, starting with https://."),
    )
    file = forms.FileField(
        label=_("File"),
        required=False,
        help_text=_("PDF, Word, Excel, PowerPoint or OpenDocument."),
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(sorted(KINDS))}),
    )
    remove_file = forms.BooleanField(label=_("Remove the file"), required=False)
    sop_steps = forms.MultipleChoiceField(
        label=_("SOP steps it supports"),
        required=False,
        choices=[],
        widget=forms.CheckboxSelectMultiple,
    )
    slug = forms.SlugField(
        label=_("Short name"),
        required=False,
        max_length=80,
        help_text=_(
            "Used in addresses and in the SOP definitions' guidance lists. "
            "Left empty, it is made from the title."
        ),
    )

    def __init__(
        self,
        *args: Any,
        steps: list[tuple[str, str]],
        has_file: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["sop_steps"]
        assert isinstance(field, forms.MultipleChoiceField)  # noqa: S101
        field.choices = steps
        if not has_file:
            del self.fields["remove_file"]
        self.checked_file: CheckedFile | None = None
        self.fields["file"].help_text = _(
            "PDF, Word, Excel, PowerPoint or OpenDocument, at most %(mb)d MB."
        ) % {"mb": max_upload_bytes() // (1024 * 1024)}

    def clean_file(self) -> UploadedFile | None:
        upload: UploadedFile | None = self.cleaned_data.get("file")
        if upload is None:
            return None
        if (upload.size or 0) > max_upload_bytes():
            raise forms.ValidationError(too_large_error().message)
        from trm.guidance.errors import GuidanceInvalidInput

        try:
            self.checked_file = check_upload(
                upload.name or "", b"".join(upload.chunks())
            )
        except GuidanceInvalidInput as exc:
            raise forms.ValidationError(exc.message) from None
        return upload

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("file") is not None and data.get("remove_file"):
            self.add_error(
                "remove_file", _("Choose a new file or remove the file, not both.")
            )
        return data

    def values(self) -> ResourceInput:
        """Return the cleaned values as the services take them."""
        data = self.cleaned_data
        return ResourceInput(
            title=data["title"],
            category=data["category"],
            publisher=data["publisher"],
            year=data["year"],
            regions=list(data["regions"]),
            topics=_list(data["topics"]),
            languages=[code.lower() for code in _list(data["languages"])],
            summary=data["summary"],
            link=data["link"],
            sop_steps=list(data["sop_steps"]),
            slug=data["slug"],
        )

    @staticmethod
    def initial_from(resource: Resource) -> dict[str, Any]:
        """Return the form's initial values from a saved resource."""
        return {
            "title": resource.title,
            "category": resource.category,
            "publisher": resource.publisher,
            "year": resource.year,
            "regions": list(resource.regions),
            "topics": ", ".join(resource.topics),
            "languages": ", ".join(resource.languages),
            "summary": resource.summary,
            "link": resource.link,
            "sop_steps": list(resource.sop_steps),
            "slug": resource.slug,
        }
