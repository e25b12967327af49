"""Forms of the exchange's pages: adding and refreshing a peer, message filters.

The forms only shape the input; :mod:`trm.exchange.peers` checks it (so the
command line and the pages refuse the same things with the same messages).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from trm.exchange.models import InboxStatus, OutboxStatus


class PeerAddForm(forms.Form):
    url = forms.CharField(
        label=_("Address of the peer node"),
        max_length=300,
        help_text=_("For example https://trm.example.org (without a path at the end)."),
        widget=forms.URLInput(attrs={"autocomplete": "url", "inputmode": "url"}),
    )
    fingerprint = forms.CharField(
        label=_("Fingerprint of its signing key"),
        max_length=80,
        help_text=_(
            "43 characters that the peer's administrator reads out to you (from "
            "“trm keys show” or their exchange page) by telephone or another "
            "channel you trust. Never copy it from the peer's own web site: "
            "that is what it proves."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class PeerRefreshForm(forms.Form):
    fingerprint = forms.CharField(
        label=_("New fingerprint (only if asked)"),
        max_length=80,
        required=False,
        help_text=_(
            "Leave empty: keys the peer rotated are accepted when its old key "
            "signed them. Give the new fingerprint, checked with its "
            "administrator, only when the refresh said the keys cannot be "
            "trusted otherwise."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    country = forms.CharField(
        label=_("New country (only if asked)"),
        max_length=2,
        required=False,
        help_text=_(
            "Leave empty: a refresh never changes the peer's country by itself. "
            "Give the two-letter code of its new country only when the refresh "
            "said the country changed and its administrator confirmed it to you "
            "by a channel you trust."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class ConfirmForm(forms.Form):
    """No fields: carries the refusal of a confirmed action."""


DIRECTION_CHOICES = [("out", _("Sent by this node")), ("in", _("Received"))]


def _status_choices() -> list[tuple[str, Any]]:
    seen: dict[str, Any] = {"": _("All")}
    for value, label in [*OutboxStatus.choices, *InboxStatus.choices]:
        seen.setdefault(value, label)
    return list(seen.items())


class MessageFilterForm(forms.Form):
    direction = forms.ChoiceField(
        label=_("Direction"), choices=DIRECTION_CHOICES, required=False
    )
    status = forms.ChoiceField(label=_("Status"), choices=(), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        status = self.fields["status"]
        assert isinstance(status, forms.ChoiceField)  # noqa: S101 - declared above
        status.choices = _status_choices()

    def filters(self) -> tuple[str, str]:
        """Return (direction, status); defaults for what is missing or invalid."""
        if not self.is_bound:
            return "out", ""
        self.is_valid()  # keeps the valid fields in cleaned_data
        data = self.cleaned_data
        return data.get("direction") or "out", data.get("status") or ""
