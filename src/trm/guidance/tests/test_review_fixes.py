"""Fixes of the guidance library review: what the review's tests do not pin."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from conftest import sign_in_verified
from django.test import Client

from trm.guidance import search, services
from trm.guidance.errors import GuidanceInvalidInput
from trm.guidance.files import check_upload, safe_name
from trm.guidance.models import Resource, SeededEntry
from trm.guidance.services import ResourceInput

from .helpers import editor, reader
from .test_review_guidance import _squared_katakana_pdf

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _files_in_tmp(settings, tmp_path):
    settings.TRM_GUIDANCE_DIR = tmp_path


def _create(**changes: Any) -> Resource:
    values = ResourceInput(
        title="Fictional fixes guide", category="tools", link="https://example.org/g"
    )
    upload = changes.pop("upload", None)
    for name, value in changes.items():
        setattr(values, name, value)
    return services.resource_create(actor=editor(), values=values, upload=upload)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("a..b.pdf", "a.b.pdf"),
        ("../../etc/x.pdf", "x.pdf"),
        ("Report 2009.PDF", "Report_2009.pdf"),
        ("-._.pdf", "document.pdf"),
        ("", "document.pdf"),
    ],
)
def test_safe_name_is_total(given, expected):
    assert safe_name(given, ".pdf") == expected


def test_odt_with_a_large_declared_mimetype_is_refused_unread():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr(
            "mimetype", "application/vnd.oasis.opendocument.text" + " " * 200
        )
    with pytest.raises(GuidanceInvalidInput):
        check_upload("fictional.odt", buffer.getvalue())


def test_a_real_odt_mimetype_is_accepted():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        package.writestr("mimetype", "application/vnd.oasis.opendocument.text")
    assert check_upload("fictional.odt", buffer.getvalue()).extension == ".odt"


def test_languages_are_stored_as_iso_639_1_where_one_exists():
    item = _create(languages=["bul", "BG", "ron", "fil"])
    assert item.languages == ["bg", "ro", "fil"]


def test_language_filter_finds_an_older_alpha3_entry():
    from trm.guidance.selectors import Filters, search_resources

    item = _create(languages=["en"])
    Resource.objects.filter(pk=item.pk).update(languages=["bul"])
    assert list(search_resources(Filters(language="bg"))) == [item]
    assert list(search_resources(Filters(language="bul"))) == [item]


def test_api_unknown_language_filter_is_a_structured_error():
    client = Client()
    sign_in_verified(client, reader())
    response = client.get("/api/v1/guidance", {"language": "zzz"})
    assert response.status_code == 400
    assert response.json()["error"]["details"]["field"] == "language"


def test_an_older_short_name_with_an_underscore_is_kept_on_update():
    item = _create()
    Resource.objects.filter(pk=item.pk).update(slug="old_name")
    values = ResourceInput(
        title="Changed title",
        category="tools",
        link="https://example.org/g",
        slug="old_name",
    )
    saved = services.resource_update(actor=editor(), resource_id=item.pk, values=values)
    assert saved.slug == "old_name" and saved.title == "Changed title"


def test_a_new_stale_step_is_still_refused():
    item = _create(sop_steps=["sop1.screening"])
    values = ResourceInput(
        title="Fictional fixes guide",
        category="tools",
        link="https://example.org/g",
        sop_steps=["sop1.screening", "sop1.fictional_gone"],
    )
    with pytest.raises(GuidanceInvalidInput):
        services.resource_update(actor=editor(), resource_id=item.pk, values=values)


def test_seed_remembers_entries_renamed_by_editors():
    services.seed_catalogue()
    assert SeededEntry.objects.filter(slug="directive-2011-36-eu").exists()
    Resource.objects.filter(slug="directive-2011-36-eu").update(slug="eu-directive")
    added, _skipped = services.seed_catalogue()
    assert added == 0
    assert not Resource.objects.filter(slug="directive-2011-36-eu").exists()


def test_the_index_saves_less_text_rather_than_fail(monkeypatch):
    """With the byte cap lifted, PostgreSQL refuses the whole text; the index
    then keeps less of it and the save succeeds (SQLite: all of it)."""
    monkeypatch.setitem(search.MAX_PART_BYTES, "body", 10_000_000)
    checked = check_upload("fictional.pdf", _squared_katakana_pdf())
    item = _create(upload=checked)
    assert Resource.objects.filter(pk=item.pk).exists()


def test_pdf_text_extraction_stops_at_the_time_budget(monkeypatch):
    """Extraction stops inside a page when the budget is spent: the file is
    accepted, the text read by then (here none) is what is searchable."""
    import zlib

    from trm.guidance import files

    from .test_review_guidance import raw_pdf

    operators = b"BT /F1 12 Tf 10 10 Td " + b"(abcdefgh ) Tj\n" * 10_000 + b"ET"
    pdf = raw_pdf(b"/Filter /FlateDecode", zlib.compress(operators, 9))
    assert "abcdefgh" in check_upload("fictional.pdf", pdf).text
    monkeypatch.setattr(files, "TEXT_TIME_BUDGET", -1.0)
    assert check_upload("fictional.pdf", pdf).text == ""
    # A clock advancing one second per reading: the budget runs out while
    # pypdf works through the page's operators.
    import itertools
    import types

    ticks = itertools.count()
    monkeypatch.setattr(
        files, "time", types.SimpleNamespace(monotonic=lambda: next(ticks))
    )
    monkeypatch.setattr(files, "TEXT_TIME_BUDGET", 5.0)
    assert check_upload("fictional.pdf", pdf).text == ""
    assert next(ticks) < 20  # stopped early in the page, not after it


def test_a_page_over_the_content_cap_is_kept_without_its_text(monkeypatch):
    from trm.guidance import files

    from .helpers import make_pdf

    monkeypatch.setattr(files, "MAX_PAGE_CONTENT_BYTES", 10)
    checked = check_upload("fictional.pdf", make_pdf("Fictional words"))
    assert checked.text == ""
