"""The screening form: one row per indicator (present / absent / not assessed, and
how it was learned), built from the indicator lists the case uses.

The form checks the shape of the input only; the rules (evidence for a present
indicator, known ids, the lists a child gets) are
:func:`trm.screening.services.screening_record`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from trm.screening.instrument import (
    EXPLOITATION,
    EXPLOITATION_LABELS,
    Fact,
    IndicatorList,
)
from trm.screening.scoring import (
    EVIDENCE,
    EVIDENCE_LABELS,
    NOT_ASSESSED,
    VALUE_LABELS,
    VALUES,
)
from trm.screening.services import MAX_NOTE_CHARS

EXPLOITATION_CHOICES = [(k, EXPLOITATION_LABELS[k]) for k in EXPLOITATION]


def value_name(indicator_id: str) -> str:
    """Return the form field name of an indicator's answer."""
    return f"i-{indicator_id}"


def evidence_name(indicator_id: str) -> str:
    """Return the form field name of how an indicator was learned."""
    return f"e-{indicator_id}"


def fact_name(fact_id: str) -> str:
    """Return the form field name of a fact's answer."""
    return f"f-{fact_id}"


class ExploitationForm(forms.Form):
    """Which lists to show (a GET form: no personal data in it)."""

    exploitation = forms.MultipleChoiceField(
        label=_("Type of exploitation suspected"),
        choices=EXPLOITATION_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("A case can be screened against both lists."),
    )


class ScreeningForm(forms.Form):
    """Answers to every indicator of ``lists`` and to the ``facts`` that apply."""

    exploitation = forms.MultipleChoiceField(
        choices=EXPLOITATION_CHOICES, widget=forms.MultipleHiddenInput
    )
    note = forms.CharField(
        label=_("Note (optional)"),
        required=False,
        max_length=MAX_NOTE_CHARS,
        help_text=_(
            "Anything that explains the answers. It is encrypted and seen only by "
            "the case team."
        ),
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
    )

    def __init__(
        self,
        *args: Any,
        lists: Sequence[IndicatorList],
        facts: Sequence[Fact],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lists = list(lists)
        self.facts = list(facts)
        value_choices = [(v, VALUE_LABELS[v]) for v in VALUES]
        evidence_choices = [("", "—"), *((e, EVIDENCE_LABELS[e]) for e in EVIDENCE)]
        for fact in self.facts:
            self.fields[fact_name(fact.id)] = forms.ChoiceField(
                label=fact.title,
                choices=value_choices,
                initial=NOT_ASSESSED,
                required=False,
                widget=forms.RadioSelect,
            )
        for indicator_list in self.lists:
            for indicator in indicator_list.indicators:
                self.fields[value_name(indicator.id)] = forms.ChoiceField(
                    label=indicator.title,
                    choices=value_choices,
                    initial=NOT_ASSESSED,
                    # Not answered means not assessed (as in the service).
                    required=False,
                    widget=forms.RadioSelect,
                )
                self.fields[evidence_name(indicator.id)] = forms.ChoiceField(
                    label=_("How it was learned"),
                    choices=evidence_choices,
                    required=False,
                )

        if self.is_bound:
            # An answer left out is "not assessed": show it so on re-display.
            data = (
                self.data.copy()
                if isinstance(self.data, QueryDict)
                else dict(self.data)
            )
            for name, field in self.fields.items():
                if isinstance(field.widget, forms.RadioSelect) and not data.get(name):
                    data[name] = NOT_ASSESSED
            self.data = data

    def responses(self) -> dict[str, dict[str, str]]:
        """Return ``{indicator id: {"value", "evidence"}}`` from valid data."""
        data = self.cleaned_data
        return {
            indicator.id: {
                "value": data.get(value_name(indicator.id)) or NOT_ASSESSED,
                "evidence": data.get(evidence_name(indicator.id)) or "",
            }
            for indicator_list in self.lists
            for indicator in indicator_list.indicators
        }

    def fact_values(self) -> dict[str, str]:
        """Return ``{fact id: value}`` from valid data."""
        return {
            f.id: self.cleaned_data.get(fact_name(f.id)) or NOT_ASSESSED
            for f in self.facts
        }
