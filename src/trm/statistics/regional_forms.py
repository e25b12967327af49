"""Forms of trm.statistics: the regional table request."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from trm.statistics.tables import DIMENSIONS, SOURCES

_SOURCE_LABELS = {
    "historical": _(
        "Published datasets (counted once, from this node's import: every node "
        "holds the same public records)"
    ),
    "live": _("Each node's own cases"),
}


class RegionalRequestForm(forms.Form):
    """The agreed table and the nodes to ask (``stats.aggregate.request``).

    ``confirmed`` is set by the confirmation step: the first valid POST shows
    what will be sent, the second (with ``confirmed``) sends it.
    """

    rows = forms.ChoiceField(label=_("Rows"), choices=list(DIMENSIONS.items()))
    columns = forms.ChoiceField(
        label=_("Columns"),
        required=False,
        choices=[("", _("None (one total column)")), *DIMENSIONS.items()],
    )
    first_year = forms.IntegerField(
        label=_("From year"), required=False, min_value=1900, max_value=2100
    )
    last_year = forms.IntegerField(
        label=_("To year"), required=False, min_value=1900, max_value=2100
    )
    sources = forms.MultipleChoiceField(
        label=_("Sources"),
        choices=[(s, _SOURCE_LABELS.get(s, s)) for s in sorted(SOURCES)],
        initial=["live"],
        widget=forms.CheckboxSelectMultiple,
    )
    peers = forms.MultipleChoiceField(
        label=_("Nodes to ask"),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Active peer nodes. Each answers with its own protected table."),
    )
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, peers: list[tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        field = self.fields["peers"]
        assert isinstance(field, forms.MultipleChoiceField)  # noqa: S101 - declared above
        field.choices = peers
