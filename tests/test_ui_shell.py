"""The UI shell's static assets: focus on form errors, long names wrapping."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse

STATIC = Path(__file__).resolve().parents[1] / "src/trm/static/trm"


def _css_rules() -> dict[str, str]:
    css = re.sub(r"/\*.*?\*/", "", (STATIC / "trm.css").read_text(), flags=re.S)
    rules: dict[str, str] = {}
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        for selector in selectors.split(","):
            rules[selector.strip()] = rules.get(selector.strip(), "") + body
    return rules


@pytest.mark.parametrize("selector", ["td", "th", "h1", "h2"])
def test_long_unbroken_names_wrap_in_tables_and_headings(selector):
    assert "overflow-wrap: anywhere" in _css_rules().get(selector, "")


@pytest.mark.django_db
def test_every_page_loads_the_script_from_this_node_without_inline_code(client):
    html = client.get(reverse("accounts:login")).content.decode()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S)
    sources = [re.search(r'src="([^"]+)"', attrs) for attrs, _body in scripts]
    assert any(s and s.group(1).endswith("trm/trm.js") for s in sources)
    assert all(s and s.group(1).startswith("/static/") for s in sources)
    assert all(not body.strip() for _attrs, body in scripts)


def test_script_moves_focus_to_the_error_summary():
    script = (STATIC / "trm.js").read_text()
    assert 'getElementById("form-errors")' in script
    assert ".focus()" in script
    assert "tabindex" in script


@pytest.mark.django_db
def test_error_summary_has_the_id_the_script_looks_for(client):
    response = client.post(reverse("accounts:login"), {"username": "", "password": ""})
    assert 'id="form-errors"' in response.content.decode()
