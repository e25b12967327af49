"""The library's writers: rules, files, the full-text index, the seed."""

from __future__ import annotations

import pytest
from django.test import override_settings

from trm.accounts.models import Role
from trm.audit.models import AuditEntry
from trm.guidance import search, selectors, services
from trm.guidance.errors import GuidanceInvalidInput, NotGuidanceEditor
from trm.guidance.files import check_upload
from trm.guidance.models import Resource
from trm.guidance.selectors import Filters
from trm.guidance.services import ResourceInput

from .helpers import editor, make_docx, make_pdf, reader

pytestmark = pytest.mark.django_db


def values(**changes: object) -> ResourceInput:
    base = ResourceInput(
        title="Fictional national SOP on identification",
        category="guidance",
        publisher="Fictional Ministry",
        year=2020,
        regions=["europe"],
        topics=["Identification", "indicators"],
        languages=["en", "BG"],
        summary="Our own summary.\n\nSecond paragraph.",
        link="https://example.org/sop",
    )
    for name, value in changes.items():
        setattr(base, name, value)
    return base


def test_create_cleans_values_makes_a_slug_and_audits():
    resource = services.resource_create(actor=editor(), values=values())
    assert resource.slug == "fictional-national-sop-on-identification"
    assert resource.topics == ["identification", "indicators"]
    assert resource.languages == ["en", "bg"]
    assert AuditEntry.objects.filter(action="guidance.resource_created").count() == 1


def test_a_second_resource_with_the_same_title_gets_another_slug():
    services.resource_create(actor=editor(), values=values())
    again = services.resource_create(actor=editor(), values=values())
    assert again.slug == "fictional-national-sop-on-identification-2"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"category": ""}, "category"),
        ({"category": "novels"}, "category"),
        ({"year": 1200}, "year"),
        ({"regions": ["atlantis"]}, "regions"),
        ({"languages": ["xx1"]}, "languages"),
        ({"link": "javascript:alert(1)"}, "link"),
        ({"sop_steps": ["sop9.nothing"]}, "sop_steps"),
        ({"link": ""}, "file"),
        ({"slug": "Not A Slug"}, "slug"),
    ],
)
def test_create_refuses_bad_values_naming_the_field(change, field):
    with pytest.raises(GuidanceInvalidInput) as caught:
        services.resource_create(actor=editor(), values=values(**change))
    assert caught.value.details["field"] == field
    assert not Resource.objects.exists()


@pytest.mark.parametrize(
    "role",
    [Role.FIRST_CONTACT_POINT, Role.CASE_MANAGER, Role.AUDITOR, Role.SERVICE_PROVIDER],
)
def test_only_editors_write(role):
    with pytest.raises(NotGuidanceEditor):
        services.resource_create(actor=reader(role), values=values())


def test_node_administrator_is_an_editor():
    services.resource_create(actor=editor(Role.NODE_ADMINISTRATOR), values=values())
    assert Resource.objects.count() == 1


def test_search_finds_a_resource_by_a_word_inside_its_pdf(settings, tmp_path):
    settings.TRM_GUIDANCE_DIR = tmp_path
    pdf = make_pdf("Annex: the quokkanomics checklist for labour inspectors.")
    services.resource_create(
        actor=editor(), values=values(link=""), upload=check_upload("a.pdf", pdf)
    )
    services.resource_create(actor=editor(), values=values(title="Another one"))
    found = list(selectors.search_resources(Filters(q="Quokkanomics")))
    assert [r.title for r in found] == ["Fictional national SOP on identification"]
    # A word prefix, any case, with diacritics ignored.
    assert len(selectors.search_resources(Filters(q="QUÖKKANOM"))) == 1
    assert len(selectors.search_resources(Filters(q="quokkanomics absentword"))) == 0


def test_search_ranks_title_matches_first_and_filters():
    services.resource_create(
        actor=editor(), values=values(title="Return handbook", summary="Nothing")
    )
    services.resource_create(
        actor=editor(),
        values=values(title="Other", summary="About return.", category="tools"),
    )
    found = list(selectors.search_resources(Filters(q="return")))
    assert [r.title for r in found] == ["Return handbook", "Other"]
    assert [
        r.title
        for r in selectors.search_resources(Filters(q="return", category="tools"))
    ] == ["Other"]
    assert len(selectors.search_resources(Filters(language="bg"))) == 2
    assert len(selectors.search_resources(Filters(region="eu"))) == 0
    assert len(selectors.search_resources(Filters(q="'\"*()"))) == 0


def test_update_reindexes_and_delete_unindexes(settings, tmp_path):
    settings.TRM_GUIDANCE_DIR = tmp_path
    actor = editor()
    resource = services.resource_create(actor=actor, values=values())
    services.resource_update(
        actor=actor,
        resource_id=resource.pk,
        values=values(title="Renamed"),
        upload=check_upload("x.pdf", make_pdf("zebrafinch")),
    )
    assert [r.title for r in selectors.search_resources(Filters(q="zebrafinch"))] == [
        "Renamed"
    ]
    services.resource_delete(actor=actor, resource_id=resource.pk)
    assert search.matching_ids("zebrafinch") == []
    assert not Resource.objects.exists()


def test_upload_checks(settings):
    assert check_upload("Guide (final).PDF", make_pdf("x")).name == "Guide_final.pdf"
    assert (
        check_upload("t.docx", make_docx()).content_type == "application/octet-stream"
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("fake.pdf", b"<html><script>alert(1)</script></html>", "is not a PDF"),
        ("tool.pdf", b"MZ\x90\x00\x03" + b"\x00" * 60, "is a program"),
        ("tool.exe", b"MZ\x90\x00", "is a program"),
        ("run.docx", b"\x7fELF\x02\x01", "is a program"),
        ("page.html", b"<html></html>", "Upload a PDF"),
        ("broken.pdf", b"%PDF-1.4\n garbage", "cannot be read"),
        ("fake.docx", b"PK\x03\x04not a zip", "is called .docx"),
        ("empty.pdf", b"", "empty"),
    ],
)
def test_upload_refused_with_a_clear_message(name, content, message):
    with pytest.raises(GuidanceInvalidInput, match=message) as caught:
        check_upload(name, content)
    assert caught.value.details["field"] == "file"


@override_settings(TRM_GUIDANCE_MAX_UPLOAD_MB=1)
def test_oversized_upload_refused():
    with pytest.raises(GuidanceInvalidInput, match="larger than 1 MB"):
        check_upload("big.pdf", b"%PDF-1.4\n" + b"0" * (1024 * 1024))


def test_seed_is_idempotent_and_names_no_file():
    added, present = services.seed_catalogue()
    assert added >= 8 and present == 0
    assert services.seed_catalogue() == (0, added)
    assert Resource.objects.count() == added
    assert not Resource.objects.exclude(file="").exists()
    assert all(r.link.startswith("https://") for r in Resource.objects.all())


def test_a_failed_change_leaves_no_stored_file(settings, tmp_path, monkeypatch):
    settings.TRM_GUIDANCE_DIR = tmp_path
    upload = check_upload("a.pdf", make_pdf("x"))

    def broken_index(resource: Resource) -> None:
        raise RuntimeError("index unavailable")

    # The failure comes after the file was stored.
    monkeypatch.setattr(search, "index_resource", broken_index)
    with pytest.raises(RuntimeError):
        services.resource_create(actor=editor(), values=values(), upload=upload)
    assert not Resource.objects.exists()
    assert list(tmp_path.iterdir()) == []
