"""Accessibility checks on the rendered UI shell (WCAG 2.2 AA basics).

The HTML is parsed with the standard library's ``html.parser`` into a small
element tree, so these tests need no browser and no extra dependency. They
check what can be checked statically: one ``<h1>``, the skip link to
``<main id="main">``, a ``<label for>`` for every form control, invalid fields
marked with ``aria-invalid`` and linked to their error message, checkbox groups
in a ``<fieldset>`` with a ``<legend>``, ``aria-current`` on the active menu item,
``scope`` on table headers, a keyboard-usable language switcher, and the colour
contrast of the text colours in ``trm.css``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse

from trm.accounts.forms import UserCreateForm

CSS = Path(__file__).resolve().parents[1] / "src/trm/static/trm/trm.css"
VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}
NOT_LABELLED = {"hidden", "submit", "button", "reset", "image"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    parent: Element | None = None
    children: list[Element] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def ancestors(self) -> list[Element]:
        node, found = self.parent, []
        while node is not None:
            found.append(node)
            node = node.parent
        return found

    def all_text(self) -> str:
        parts = list(self.text)
        for child in self.children:
            parts.append(child.all_text())
        return " ".join(p.strip() for p in parts if p.strip())


class Tree(HTMLParser):
    """A forgiving element tree: enough structure for the checks below."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.current = self.root
        self.elements: list[Element] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, parent=self.current)
        self.current.children.append(element)
        self.elements.append(element)
        if tag not in VOID:
            self.current = element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, parent=self.current)
        self.current.children.append(element)
        self.elements.append(element)

    def handle_endtag(self, tag: str) -> None:
        node: Element | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.text.append(data)

    def find_all(self, tag: str, **attrs: str) -> list[Element]:
        return [
            e
            for e in self.elements
            if e.tag == tag and all(e.attrs.get(k) == v for k, v in attrs.items())
        ]

    def by_id(self) -> dict[str, Element]:
        return {e.attrs["id"]: e for e in self.elements if "id" in e.attrs}


def labelled_controls(tree: Tree) -> list[Element]:
    return [
        e
        for e in tree.elements
        if e.tag in {"select", "textarea"}
        or (e.tag == "input" and e.attrs.get("type", "text") not in NOT_LABELLED)
    ]


def assert_page_basics(html: str) -> Tree:
    """One h1, a skip link to <main id="main">, unique ids, labelled controls."""
    tree = Tree(html)
    assert len(tree.find_all("h1")) == 1, "a page has exactly one <h1>"
    mains = tree.find_all("main")
    assert len(mains) == 1 and mains[0].attrs.get("id") == "main"
    skip = [a for a in tree.find_all("a") if "skip-link" in a.attrs.get("class", "")]
    assert skip and skip[0].attrs["href"] == "#main"
    assert tree.elements.index(skip[0]) < tree.elements.index(mains[0])
    ids = [e.attrs["id"] for e in tree.elements if "id" in e.attrs]
    assert len(ids) == len(set(ids)), f"duplicate ids: {ids}"
    label_for = {lab.attrs.get("for") for lab in tree.find_all("label")}
    for control in labelled_controls(tree):
        control_id = control.attrs.get("id")
        assert control_id, f"<{control.tag} name={control.attrs.get('name')}> has no id"
        assert control_id in label_for, f"no <label for={control_id!r}>"
    return tree


def assert_invalid_fields_described(tree: Tree) -> list[Element]:
    """Every aria-invalid control points to existing, non-empty error text."""
    ids = tree.by_id()
    invalid = [e for e in tree.elements if e.attrs.get("aria-invalid") == "true"]
    for control in invalid:
        described = control.attrs.get("aria-describedby", "").split()
        # A control inside a described fieldset is covered by the fieldset.
        fieldsets = [a for a in control.ancestors() if a.tag == "fieldset"]
        if not described and fieldsets:
            described = fieldsets[0].attrs.get("aria-describedby", "").split()
        assert described, f"{control.attrs.get('id')} is invalid but not described"
        errors = [ids[i] for i in described if i.endswith("_error")]
        assert errors, f"{control.attrs.get('id')}: no error id in {described}"
        for target in described:
            assert target in ids, f"aria-describedby points to missing id {target!r}"
        assert all(e.all_text() for e in errors)
    return invalid


@pytest.mark.django_db
def test_sign_in_page_is_accessible(client: Client) -> None:
    response = client.get(reverse("accounts:login"))
    assert response.status_code == 200
    tree = assert_page_basics(response.content.decode())
    assert tree.find_all("html")[0].attrs.get("lang") == "en"
    assert {c.attrs["name"] for c in labelled_controls(tree)} >= {
        "username",
        "password",
        "language",
    }
    assert not [e for e in tree.elements if e.attrs.get("aria-invalid")]


@pytest.mark.django_db
def test_invalid_sign_in_marks_and_describes_fields(client: Client) -> None:
    response = client.post(reverse("accounts:login"), {"username": "", "password": ""})
    assert response.status_code == 200
    tree = assert_page_basics(response.content.decode())
    invalid = assert_invalid_fields_described(tree)
    assert {e.attrs["name"] for e in invalid} == {"username", "password"}
    alerts = [e for e in tree.elements if e.attrs.get("role") == "alert"]
    assert alerts and alerts[0].all_text()


@pytest.mark.django_db
def test_wrong_password_is_announced(client: Client) -> None:
    response = client.post(
        reverse("accounts:login"), {"username": "nobody", "password": "wrong-pass"}
    )
    assert response.status_code == 200
    tree = assert_page_basics(response.content.decode())
    alerts = [e for e in tree.elements if e.attrs.get("role") == "alert"]
    assert len(alerts) == 1
    assert "not correct" in alerts[0].all_text()


@pytest.mark.django_db
def test_checkbox_groups_are_fieldsets_with_legend(org_a) -> None:
    form = UserCreateForm(data={"username": "someone"})
    assert not form.is_valid()
    tree = Tree(render_to_string("includes/form.html", {"form": form}))
    checkboxes = tree.find_all("input", type="checkbox")
    assert checkboxes
    label_for = {lab.attrs.get("for") for lab in tree.find_all("label")}
    for box in checkboxes:
        assert box.attrs["id"] in label_for
        fieldset = next(a for a in box.ancestors() if a.tag == "fieldset")
        legend = fieldset.children[0]
        assert legend.tag == "legend" and legend.all_text().startswith("Roles")
    assert_invalid_fields_described(tree)
    # Help text is linked too (Django names it <id>_helptext).
    username = tree.by_id()["id_username"]
    assert username.attrs["aria-describedby"] == "id_username_helptext"
    assert "id_username_helptext" in tree.by_id()


@pytest.mark.django_db
def test_active_navigation_item_and_table_headers(signed_in, admin_user) -> None:
    client = signed_in(admin_user)
    response = client.get(reverse("accounts:user_list"))
    assert response.status_code == 200
    tree = assert_page_basics(response.content.decode())
    current = [a for a in tree.find_all("a") if a.attrs.get("aria-current") == "page"]
    assert [a.attrs["href"] for a in current] == [reverse("accounts:user_list")]
    headers = tree.find_all("th")
    assert headers and all(th.attrs.get("scope") in {"col", "row"} for th in headers)


@pytest.mark.django_db
def test_language_switcher_works_without_script(client: Client) -> None:
    tree = Tree(client.get(reverse("accounts:login")).content.decode())
    select = tree.by_id()["language-select"]
    form = next(a for a in select.ancestors() if a.tag == "form")
    assert form.attrs["method"] == "post"
    assert form.attrs["action"] == reverse("set_language")
    assert "onchange" not in select.attrs  # changing the choice alone does nothing
    buttons = [e for e in tree.elements if e.tag == "button" and form in e.ancestors()]
    assert buttons and buttons[0].attrs.get("type") == "submit"
    options = [
        o for o in tree.elements if o.tag == "option" and select in o.ancestors()
    ]
    assert {o.attrs["value"] for o in options} == {"en", "bg", "ro"}
    assert all(o.attrs.get("lang") == o.attrs["value"] for o in options)


def _luminance(colour: str) -> float:
    value = colour.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (
        c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels
    )
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_text_colours_meet_aa_contrast() -> None:
    css = CSS.read_text(encoding="utf-8")
    colours = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{3,6})", css))
    white = "#ffffff"
    pairs = {
        "body text": (colours["fg"], colours["bg"]),
        "help and footer text": (colours["muted"], colours["bg"]),
        "empty-state text": (colours["muted"], colours["panel"]),
        "links": (colours["accent"], colours["bg"]),
        "links on panels": (colours["accent"], colours["panel"]),
        "button text": (white, colours["accent"]),
        "header text": (white, colours["accent-dark"]),
        "error text": (colours["danger"], colours["bg"]),
        "danger button text": (white, colours["danger"]),
        "skip link": ("#000000", colours["focus"]),
    }
    for name, (fg, bg) in pairs.items():
        assert contrast(fg, bg) >= 4.5, f"{name}: {fg} on {bg}"
    # The header background really is the dark accent, with white text.
    assert re.search(r"\.site-header \{[^}]*background: var\(--accent-dark\)", css)
    # Focus indicator (non-text, WCAG 1.4.11: 3:1) on light and dark backgrounds.
    assert contrast(colours["fg"], colours["bg"]) >= 3
    assert contrast(colours["focus"], colours["accent-dark"]) >= 3
    assert ":focus-visible { outline: 3px solid var(--fg)" in css


@pytest.mark.django_db
def test_statistics_dashboard_is_accessible(signed_in, admin_user) -> None:
    from trm.statistics.models import HistoricalRecord

    for i in range(30):
        HistoricalRecord.objects.create(
            source="ctdc",
            release="a11y",
            row_key=f"a11y-{i}",
            year_of_registration=2018 + i % 2,
            gender="Feminine",
            is_child=i < 4,
            citizenship="MD",
            country_of_exploitation="RO",
            exploitation_types=["ForcedLabour"],
        )
    client = signed_in(admin_user)
    response = client.get(reverse("statistics:dashboard"))
    assert response.status_code == 200
    tree = assert_page_basics(response.content.decode())
    current = [a for a in tree.find_all("a") if a.attrs.get("aria-current") == "page"]
    assert [a.attrs["href"] for a in current] == [reverse("statistics:dashboard")]
    headers = tree.find_all("th")
    assert headers and all(th.attrs.get("scope") in {"col", "row"} for th in headers)
    charts = tree.find_all("svg")
    ids = tree.by_id()
    assert charts
    for svg in charts:
        assert svg.attrs["role"] == "img"
        for target in svg.attrs["aria-labelledby"].split():
            assert ids[target].all_text(), f"{target} is empty"
    # An invalid filter is announced and marked on its field.
    response = client.get(reverse("statistics:dashboard") + "?first_year=abc")
    tree = assert_page_basics(response.content.decode())
    assert tree.by_id()["form-errors"].attrs["role"] == "alert"
    assert assert_invalid_fields_described(tree)
