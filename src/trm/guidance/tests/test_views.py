"""The library's pages, its files as downloads, and guidance beside the work."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from trm.accounts.models import Role
from trm.accounts.tests.factories import UserFactory
from trm.cases.tests.factories import open_case
from trm.guidance import services
from trm.guidance.files import check_upload
from trm.guidance.models import Resource
from trm.guidance.services import ResourceInput
from trm.returns.tests.helpers import preparing_case

from .helpers import editor, make_pdf, reader

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _files_in_tmp(settings, tmp_path):
    settings.TRM_GUIDANCE_DIR = tmp_path


def resource(**changes: object) -> Resource:
    values = ResourceInput(
        title="Fictional indicator guide",
        category="tools",
        publisher="Fictional Institute",
        year=2021,
        summary="Our own words.",
        link="https://example.org/guide",
    )
    upload: Any = changes.pop("upload", None)
    for name, value in changes.items():
        setattr(values, name, value)
    return services.resource_create(actor=editor(), values=values, upload=upload)


def form_data(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "title": "Fictional handbook",
        "category": "guidance",
        "publisher": "Fictional Agency",
        "year": "2022",
        "topics": "return, children",
        "languages": "en, ro",
        "summary": "Our summary.",
        "link": "https://example.org/handbook",
        "regions": ["europe"],
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    "role", [Role.FIRST_CONTACT_POINT, Role.AUDITOR, Role.PROSECUTOR]
)
def test_everyone_signed_in_reads_the_list_and_detail(signed_in, role):
    item = resource()
    client = signed_in(reader(role))
    page = client.get(reverse("guidance:list")).content.decode()
    assert "Fictional indicator guide" in page
    assert "Add a resource" not in page
    detail = client.get(reverse("guidance:detail", args=[item.slug]))
    assert detail.status_code == 200
    assert "Our own words." in detail.content.decode()
    assert client.get(reverse("guidance:create")).status_code == 403
    assert client.get(reverse("guidance:edit", args=[item.slug])).status_code == 403
    assert client.post(reverse("guidance:delete", args=[item.slug])).status_code == 403
    assert Resource.objects.filter(pk=item.pk).exists()


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get(reverse("guidance:list"))
    assert response.status_code == 302


def test_navigation_shows_guidance_to_everyone(signed_in):
    page = signed_in(reader(Role.AUDITOR)).get("/").content.decode()
    assert 'href="/guidance/"' in page


def test_list_searches_inside_pdfs_and_filters(signed_in):
    resource(upload=check_upload("g.pdf", make_pdf("The marmalade protocol.")))
    resource(title="Other", category="legislation")
    client = signed_in(reader())
    page = client.get(reverse("guidance:list"), {"q": "marmalade"}).content.decode()
    assert "Fictional indicator guide" in page and ">Other<" not in page
    page = client.get(
        reverse("guidance:list"), {"category": "legislation"}
    ).content.decode()
    assert ">Other<" in page and "Fictional indicator guide" not in page
    page = client.get(
        reverse("guidance:list"), {"q": "nothingmatches"}
    ).content.decode()
    assert "No resource matches" in page


def test_empty_library_says_so(signed_in):
    page = signed_in(reader()).get(reverse("guidance:list")).content.decode()
    assert "The library is empty" in page


def test_editor_creates_with_a_pdf_and_it_downloads_safely(signed_in):
    client = signed_in(editor())
    pdf = make_pdf("Fictional text")
    response = client.post(
        reverse("guidance:create"),
        form_data(file=SimpleUploadedFile("Hand book.pdf", pdf, "text/html")),
    )
    assert response.status_code == 302
    item = Resource.objects.get()
    assert item.file_name == "Hand_book.pdf"
    download = client.get(reverse("guidance:download", args=[item.slug]))
    assert download.status_code == 200
    assert download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"].startswith("attachment;")
    assert 'filename="Hand_book.pdf"' in download["Content-Disposition"]
    assert download["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in download["Content-Security-Policy"]
    assert b"".join(download.streaming_content) == pdf


def test_office_files_download_as_octet_stream(signed_in):
    from .helpers import make_docx

    item = resource(upload=check_upload("form.docx", make_docx()))
    download = signed_in(reader()).get(reverse("guidance:download", args=[item.slug]))
    assert download["Content-Type"] == "application/octet-stream"
    assert download["Content-Disposition"].startswith("attachment;")


def test_no_file_is_404(signed_in):
    item = resource()
    client = signed_in(reader())
    assert client.get(reverse("guidance:download", args=[item.slug])).status_code == 404


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (
            SimpleUploadedFile("x.pdf", b"<html>hi</html>", "application/pdf"),
            "is not a PDF",
        ),
        (SimpleUploadedFile("setup.pdf", b"MZ\x90\x00" + b"\x00" * 64), "is a program"),
        (SimpleUploadedFile("setup.exe", b"MZ\x90\x00"), "is a program"),
    ],
)
def test_bad_uploads_redisplay_the_form_with_the_reason(signed_in, upload, message):
    response = signed_in(editor()).post(
        reverse("guidance:create"), form_data(file=upload)
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert message in page
    assert 'value="Fictional handbook"' in page
    assert not Resource.objects.exists()


def test_oversized_upload_is_refused(signed_in, settings):
    settings.TRM_GUIDANCE_MAX_UPLOAD_MB = 1
    big = SimpleUploadedFile("big.pdf", b"%PDF-1.4\n" + b"0" * (1024 * 1024 + 1))
    response = signed_in(editor()).post(reverse("guidance:create"), form_data(file=big))
    assert response.status_code == 400
    assert "larger than 1 MB" in response.content.decode()


def test_missing_title_and_category_are_refused(signed_in):
    response = signed_in(editor()).post(
        reverse("guidance:create"), form_data(title="", category="")
    )
    assert response.status_code == 400
    assert response.content.decode().count("This field is required.") == 2
    assert not Resource.objects.exists()


def test_service_refusal_is_shown_on_its_field(signed_in):
    response = signed_in(editor()).post(
        reverse("guidance:create"), form_data(link="javascript:alert(1)")
    )
    assert response.status_code == 400
    assert "https://" in response.content.decode()


def test_editor_edits_and_deletes_after_confirming(
    signed_in, django_capture_on_commit_callbacks
):
    item = resource(upload=check_upload("g.pdf", make_pdf("x")))
    stored = item.file.name
    client = signed_in(editor(Role.NODE_ADMINISTRATOR))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("guidance:edit", args=[item.slug]),
            form_data(title="Renamed guide", slug=item.slug, remove_file="on"),
        )
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.title == "Renamed guide" and not item.file
    assert not item.file.storage.exists(stored)
    confirm = client.get(reverse("guidance:delete", args=[item.slug]))
    assert "Delete the resource" in confirm.content.decode()
    assert Resource.objects.exists()
    client.post(reverse("guidance:delete", args=[item.slug]))
    assert not Resource.objects.exists()


# --- guidance beside the work ---------------------------------------------------


def test_screening_form_shows_the_linked_indicator_guidance(signed_in, org_a):
    services.seed_catalogue()
    fcp = UserFactory(organisation=org_a, roles=[Role.FIRST_CONTACT_POINT])
    case = open_case(fcp)
    page = signed_in(fcp).get(reverse("screening:new", args=[case.pk])).content.decode()
    assert "Guidance for this step" in page
    assert "Operational Indicators of Trafficking in Human Beings" in page
    assert (
        reverse("guidance:detail", args=["ilo-ec-operational-indicators-2009"]) in page
    )


def test_a_resource_naming_a_step_shows_there_too(signed_in, org_a):
    resource(title="Fictional national screening SOP", sop_steps=["sop1.screening"])
    fcp = UserFactory(organisation=org_a, roles=[Role.FIRST_CONTACT_POINT])
    case = open_case(fcp)
    page = signed_in(fcp).get(reverse("screening:new", args=[case.pk])).content.decode()
    assert "Fictional national screening SOP" in page


def test_unknown_slugs_in_the_sop_show_nothing(signed_in, org_a):
    fcp = UserFactory(organisation=org_a, roles=[Role.FIRST_CONTACT_POINT])
    case = open_case(fcp)
    page = signed_in(fcp).get(reverse("screening:new", args=[case.pk])).content.decode()
    assert "Guidance for this step" not in page


def test_return_pages_show_the_return_guidance(signed_in, caseworker_a):
    services.seed_catalogue()
    case, _ = preparing_case(caseworker_a, child=True)
    client = signed_in(caseworker_a)
    page = client.get(reverse("returns:detail", args=[case.pk])).content.decode()
    assert "Guidance for the return" in page
    assert "Transnational Referral Mechanism for Trafficked Persons between" in page
    form = client.get(reverse("returns:bid", args=[case.pk])).content.decode()
    assert "Guidelines on the Protection of Child Victims of Trafficking" in form


def test_sop_panel_links_each_steps_guidance(signed_in, caseworker_a):
    services.seed_catalogue()
    case = open_case(caseworker_a)
    page = signed_in(caseworker_a).get(f"/cases/{case.pk}/sop/").content.decode()
    assert "Guidance for this step:" in page
    assert reverse("guidance:detail", args=["cets-197"]) in page


def test_pages_are_accessible(signed_in):
    from tests.test_accessibility import (
        assert_invalid_fields_described,
        assert_page_basics,
    )

    item = resource(topics=["indicators"], languages=["en"], regions=["global"])
    client = signed_in(editor())
    for url in (
        reverse("guidance:list"),
        reverse("guidance:list") + "?q=indicator&category=tools",
        reverse("guidance:detail", args=[item.slug]),
        reverse("guidance:create"),
        reverse("guidance:edit", args=[item.slug]),
        reverse("guidance:delete", args=[item.slug]),
    ):
        assert_page_basics(client.get(url).content.decode())
    response = client.post(reverse("guidance:create"), form_data(title=""))
    tree = assert_page_basics(response.content.decode())
    assert assert_invalid_fields_described(tree)
