"""Bulgarian and Romanian catalogues and the language switcher.

The catalogues live in ``src/trm/locale/<lang>/LC_MESSAGES/django.po`` and are
compiled to ``django.mo`` beside them (both are committed). After adding or
changing a translatable string, run ``make messages`` (GNU gettext), translate
every new entry in both ``.po`` files, and compile again.
"""

from __future__ import annotations

import ast
import gettext
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import translation

LOCALE_DIR = Path(settings.LOCALE_PATHS[0])
LANGS = ["bg", "ro"]
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w+\}")
SIGN_IN = {"en": "Sign in", "bg": "Вход", "ro": "Autentificare"}


@dataclass
class Entry:
    msgid: str = ""
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)

    @property
    def key(self) -> str:
        """The key the entry has in a compiled catalogue (``.mo``)."""
        return f"{self.msgctxt}\x04{self.msgid}" if self.msgctxt else self.msgid


def parse_po(path: Path) -> list[Entry]:
    """A small ``.po`` reader: enough for what ``makemessages`` writes.

    Obsolete entries (``#~``) are skipped; the header (empty msgid) is kept.
    """
    entries: list[Entry] = []
    entry: Entry | None = None
    target: tuple[str, int] | None = None

    def start() -> Entry:
        nonlocal entry
        if entry is None:
            entry = Entry()
            entries.append(entry)
        return entry

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            entry, target = None, None
        elif line.startswith("#~"):
            continue
        elif line.startswith("#,"):
            start().flags.update(f.strip() for f in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            assert entry is not None and target is not None, f"stray line in {path}"
            _append(entry, target, ast.literal_eval(line))
        else:
            keyword, _, value = line.partition(" ")
            current = start()
            if keyword.startswith("msgstr["):
                target = ("msgstr", int(keyword[7:-1]))
            else:
                target = (keyword, 0)
                if keyword == "msgid" and (current.msgid or current.msgstr):
                    raise AssertionError(f"two msgids in one entry of {path}")
            _append(current, target, ast.literal_eval(value))
    return entries


def _append(entry: Entry, target: tuple[str, int], text: str) -> None:
    keyword, index = target
    if keyword == "msgid":
        entry.msgid += text
    elif keyword == "msgid_plural":
        entry.msgid_plural = (entry.msgid_plural or "") + text
    elif keyword == "msgctxt":
        entry.msgctxt = (entry.msgctxt or "") + text
    elif keyword == "msgstr":
        entry.msgstr[index] = entry.msgstr.get(index, "") + text
    else:
        raise AssertionError(f"unknown keyword {keyword!r}")


def django_provided(lang: str) -> set[str]:
    """The language names of ``settings.LANGUAGES``, left to Django's catalogue.

    Their entries stay empty in our ``.po`` files on purpose; this checks that
    Django really translates them, so the page never shows the English name.
    """
    names = set()
    for _code, name in settings.LANGUAGES:
        with translation.override("en"):
            english = str(name)
        with translation.override(lang):
            assert str(name) != english, f"Django does not translate {english!r}"
        names.add(english)
    return names


@pytest.mark.parametrize("lang", LANGS)
def test_every_message_is_translated_and_compiled(lang: str) -> None:
    """Every msgid in the .po has a non-empty msgstr, no "fuzzy" flag, the same
    placeholders, and the compiled .mo says the same.

    A new untranslated string (after ``make messages``) therefore fails this
    test until it is translated and compiled; a stale .mo fails it too.
    """
    po_path = LOCALE_DIR / lang / "LC_MESSAGES" / "django.po"
    mo_path = po_path.with_suffix(".mo")
    entries = parse_po(po_path)
    header = [e for e in entries if e.msgid == "" and e.msgctxt is None]
    assert len(header) == 1
    assert f"Language: {lang}\n" in header[0].msgstr[0]
    with mo_path.open("rb") as fp:
        catalogue = gettext.GNUTranslations(fp)._catalog  # type: ignore[attr-defined]
    exempt = django_provided(lang)
    problems = []
    checked = 0
    for entry in entries:
        if "fuzzy" in entry.flags:
            problems.append(f"fuzzy: {entry.msgid!r}")
        if entry.msgid == "" or entry.msgid in exempt:
            continue
        checked += 1
        forms = sorted(entry.msgstr)
        if not forms or not all(entry.msgstr[i].strip() for i in forms):
            problems.append(f"untranslated: {entry.msgid!r}")
            continue
        wanted = sorted(PLACEHOLDER.findall(entry.msgid))
        for i in forms:
            if sorted(PLACEHOLDER.findall(entry.msgstr[i])) != wanted:
                problems.append(f"placeholders differ: {entry.msgid!r}")
            compiled = catalogue.get(
                (entry.key, i) if entry.msgid_plural else entry.key
            )
            if compiled != entry.msgstr[i]:
                problems.append(f"not compiled (run compilemessages): {entry.msgid!r}")
    for key in catalogue:
        msgid = key[0] if isinstance(key, tuple) else key
        if msgid and msgid.split("\x04")[-1] not in {e.msgid for e in entries}:
            problems.append(f"in .mo but not in .po (stale .mo): {msgid!r}")
    assert not problems, "\n".join(problems)
    assert checked > 200


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="needs GNU gettext")
def test_catalogues_list_every_string_in_the_source(tmp_path, settings, monkeypatch):
    """Extract the messages again into a scratch copy and compare msgid sets.

    This fails when a translatable string was added to the code or templates
    without running ``make messages``; the test above then demands a translation.
    """
    source = LOCALE_DIR.parent
    copy = tmp_path / "trm"
    shutil.copytree(
        source,
        copy,
        ignore=shutil.ignore_patterns("tests", "__pycache__", "*.mo", "static"),
    )
    settings.LOCALE_PATHS = [copy / "locale"]
    monkeypatch.chdir(copy)
    call_command(
        "makemessages",
        locale=LANGS,
        no_obsolete=True,
        ignore_patterns=["*/tests/*"],
        verbosity=0,
    )
    for lang in LANGS:
        relative = Path(lang) / "LC_MESSAGES" / "django.po"
        committed = {e.key for e in parse_po(LOCALE_DIR / relative)}
        extracted = {e.key for e in parse_po(copy / "locale" / relative)}
        assert len(extracted) > 200
        assert extracted - committed == set(), f"{lang}: not in the catalogue yet"
        assert committed - extracted == set(), f"{lang}: no longer in the source"


@pytest.mark.django_db
@pytest.mark.parametrize("lang", LANGS)
def test_language_switcher_changes_the_sign_in_page(client: Client, lang: str):
    login = reverse("accounts:login")
    response = client.post(reverse("set_language"), {"language": lang, "next": login})
    assert response.status_code == 302
    assert response["Location"] == login
    page = client.get(login).content.decode()
    assert f'<html lang="{lang}">' in page
    assert f"<h1>{SIGN_IN[lang]}</h1>" in page
    assert f'<option value="{lang}" selected lang="{lang}">' in page

    client.post(reverse("set_language"), {"language": "en", "next": login})
    page = client.get(login).content.decode()
    assert '<html lang="en">' in page
    assert f"<h1>{SIGN_IN['en']}</h1>" in page


@pytest.mark.django_db
@pytest.mark.parametrize("lang", LANGS)
def test_form_errors_and_roles_are_translated(client: Client, lang: str):
    client.post(reverse("set_language"), {"language": lang, "next": "/"})
    page = client.post(
        reverse("accounts:login"), {"username": "nobody", "password": "wrong-pw"}
    ).content.decode()
    with translation.override(lang):
        from trm.accounts.forms import SignInForm
        from trm.accounts.models import Role

        message = str(SignInForm.error_messages["invalid_login"])
        role = str(Role.CASE_MANAGER.label)
    assert message in page
    assert "not correct" not in message
    assert role == {"bg": "Водещ случая", "ro": "Manager de caz"}[lang]
