"""The library's API: search, read, write by editors, file upload; refusals."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import sign_in_verified
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from trm.accounts.models import Role
from trm.guidance.models import Resource

from .helpers import editor, make_pdf, reader

pytestmark = pytest.mark.django_db

BODY = {
    "title": "Fictional referral handbook",
    "category": "guidance",
    "publisher": "Fictional Office",
    "year": 2019,
    "regions": ["europe"],
    "topics": ["referral"],
    "languages": ["en"],
    "summary": "Our own words.",
    "link": "https://example.org/handbook",
    "sop_steps": ["sop1.referral"],
}


@pytest.fixture(autouse=True)
def _files_in_tmp(settings, tmp_path):
    settings.TRM_GUIDANCE_DIR = tmp_path


def client_for(user: Any) -> Client:
    client = Client()
    sign_in_verified(client, user)
    return client


def test_editor_creates_uploads_and_anyone_finds_it_by_a_pdf_word():
    api = client_for(editor())
    created = api.post("/api/v1/guidance", BODY, content_type="application/json")
    assert created.status_code == 201, created.content
    slug = created.json()["slug"]
    assert slug == "fictional-referral-handbook"
    upload = api.post(
        f"/api/v1/guidance/{slug}/file",
        {"file": SimpleUploadedFile("h.pdf", make_pdf("Appendix on pangolins"))},
    )
    assert upload.status_code == 200, upload.content
    assert upload.json()["file_url"] == f"/guidance/{slug}/file"
    found = client_for(reader(Role.AUDITOR)).get("/api/v1/guidance", {"q": "pangolin"})
    assert found.status_code == 200
    assert [item["slug"] for item in found.json()["items"]] == [slug]
    assert found.json()["count"] == 1


def test_readers_cannot_write():
    Resource.objects.all().delete()
    api = client_for(reader(Role.CASE_MANAGER))
    response = api.post("/api/v1/guidance", BODY, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "guidance.not_editor"


def test_bad_input_is_refused_naming_the_field():
    api = client_for(editor(Role.NODE_ADMINISTRATOR))
    response = api.post(
        "/api/v1/guidance",
        {**BODY, "category": "novel"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"]["field"] == "category"


def test_a_renamed_program_is_refused_on_upload():
    api = client_for(editor())
    slug = api.post("/api/v1/guidance", BODY, content_type="application/json").json()[
        "slug"
    ]
    response = api.post(
        f"/api/v1/guidance/{slug}/file",
        {"file": SimpleUploadedFile("guide.pdf", b"MZ\x90\x00" + b"\x00" * 60)},
    )
    assert response.status_code == 400
    assert "program" in response.json()["error"]["message"]


def test_update_detail_and_delete():
    api = client_for(editor())
    slug = api.post("/api/v1/guidance", BODY, content_type="application/json").json()[
        "slug"
    ]
    changed = api.put(
        f"/api/v1/guidance/{slug}",
        {**BODY, "title": "Renamed"},
        content_type="application/json",
    )
    assert changed.json()["title"] == "Renamed"
    assert api.get(f"/api/v1/guidance/{slug}").json()["title"] == "Renamed"
    assert api.delete(f"/api/v1/guidance/{slug}").status_code == 204
    assert api.get(f"/api/v1/guidance/{slug}").status_code == 404
