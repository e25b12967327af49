"""The instrument's labels reach gettext through the generated strings.py."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from trm.screening import strings
from trm.screening.instrument import (
    load_instrument,
    render_strings_module,
    translatable_texts,
)
from trm.screening.management.commands.screening import STRINGS_PATH


def test_strings_module_is_up_to_date():
    expected = render_strings_module(load_instrument())
    assert STRINGS_PATH.read_text(encoding="utf-8") == expected, (
        "src/trm/screening/strings.py is out of date: run `trm screening strings`."
    )


def test_strings_module_holds_every_label_once():
    texts = translatable_texts(load_instrument())
    assert list(strings.STRINGS) == texts
    assert "Debt bondage" in strings.STRINGS
    assert "Children — labour exploitation" in strings.STRINGS


def test_check_command_passes_when_up_to_date(capsys):
    call_command("screening", "strings", "--check")
    assert "up to date" in capsys.readouterr().out


def test_check_command_fails_when_out_of_date(monkeypatch, tmp_path):
    stale = tmp_path / "strings.py"
    stale.write_text("STRINGS = ()\n", encoding="utf-8")
    monkeypatch.setattr(
        "trm.screening.management.commands.screening.STRINGS_PATH", stale
    )
    with pytest.raises(CommandError, match="out of date"):
        call_command("screening", "strings", "--check")
    call_command("screening", "strings")
    assert stale.read_text(encoding="utf-8") == render_strings_module(load_instrument())
