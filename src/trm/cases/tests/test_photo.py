"""The person's photo: stored sealed, served safely, refused when not an image.

All images are generated here (a tiny PNG built byte by byte); all names are
fictional.
"""

from __future__ import annotations

import base64
import struct
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from trm.accounts.models import Role
from trm.audit import services as audit
from trm.audit.models import AuditEntry
from trm.cases import selectors, services
from trm.cases.errors import (
    CaseInvalidInput,
    CaseNotFound,
    CaseRoleRequired,
    PersonErased,
)
from trm.cases.models import CaseEvent, Person
from trm.cases.tests.factories import open_case, team_member
from trm.dataprotection import services as dataprotection
from trm.dataprotection.models import ErasureReason

pytestmark = pytest.mark.django_db

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
HTML = b"<!doctype html><script>alert('fictional')</script>"


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def make_png(width: int = 2, height: int = 2, rgb: tuple[int, int, int] = (200, 0, 0)):
    """Return a valid RGB PNG of one colour (no imaging library needed)."""
    row = b"\x00" + bytes(rgb) * width
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + _chunk(b"IDAT", zlib.compress(row * height))
        + _chunk(b"IEND", b"")
    )


PNG = make_png()


@pytest.fixture
def case(caseworker_a):
    return open_case(caseworker_a)


def _set(actor, case, content, content_type="image/png"):
    return services.person_set_photo(
        actor=actor, case_id=case.pk, content=content, content_type=content_type
    )


def _upload(client, case, content, name="photo.png", content_type="image/png", **kw):
    identity_page = client.get(reverse("cases:edit_identity", args=[case.pk]))
    data = {
        key: value
        for key, value in identity_page.context["form"].initial.items()
        if value not in (None, "")
    }
    documents = identity_page.context["documents"]
    for index, row in enumerate(documents.forms):
        for name, value in row.initial.items():
            data[f"documents-{index}-{name}"] = value
    data.update(
        {
            "documents-TOTAL_FORMS": str(len(documents.forms)),
            "documents-INITIAL_FORMS": str(documents.initial_form_count()),
            "documents-MIN_NUM_FORMS": "0",
            "documents-MAX_NUM_FORMS": "10",
        }
    )
    if content is not None:
        data["photo"] = SimpleUploadedFile(name, content, content_type=content_type)
    data.update(kw)
    return client.post(reverse("cases:edit_identity", args=[case.pk]), data)


# --- the service -------------------------------------------------------------


def test_upload_replace_and_remove_through_the_service(case, caseworker_a):
    _set(caseworker_a, case, PNG)
    case.refresh_from_db()
    assert selectors.person_photo_for_user(user=caseworker_a, case=case) == (
        PNG,
        "image/png",
    )

    _set(caseworker_a, case, JPEG, "image/jpeg")
    case.refresh_from_db()
    assert selectors.person_photo_for_user(user=caseworker_a, case=case) == (
        JPEG,
        "image/jpeg",
    )

    _set(caseworker_a, case, None, "")
    case.refresh_from_db()
    assert case.person.sealed_photo is None
    assert case.person.photo_content_type == ""
    assert selectors.person_photo_for_user(user=caseworker_a, case=case) is None
    events = CaseEvent.objects.filter(case=case, kind="person.photo_updated")
    assert events.count() == 3


def test_the_audit_and_timeline_carry_no_image(case, caseworker_a):
    _set(caseworker_a, case, PNG)
    entry = AuditEntry.objects.filter(action="cases.person_photo_updated").get()
    # Only a keyed digest of the details is stored; they name no image bytes.
    assert entry.data_digest == audit.keyed_digest(
        {"case": str(case.pk), "removed": False, "content_type": "image/png"}
    )
    event = CaseEvent.objects.get(case=case, kind="person.photo_updated")
    assert not event.sealed_detail


def test_reading_the_photo_is_audited(case, caseworker_a):
    _set(caseworker_a, case, PNG)
    case.refresh_from_db()
    selectors.person_photo_for_user(user=caseworker_a, case=case)
    assert AuditEntry.objects.filter(
        action="cases.photo_read", actor_id=caseworker_a.pk
    ).exists()


def test_a_file_that_is_not_an_image_is_refused(case, caseworker_a):
    with pytest.raises(CaseInvalidInput) as refused:
        _set(caseworker_a, case, HTML, "image/png")
    assert refused.value.details == {"field": "photo"}
    case.person.refresh_from_db()
    assert case.person.sealed_photo is None


def test_a_declared_type_that_does_not_match_the_content_is_refused(case, caseworker_a):
    with pytest.raises(CaseInvalidInput):
        _set(caseworker_a, case, PNG, "image/jpeg")
    with pytest.raises(CaseInvalidInput):
        _set(caseworker_a, case, PNG, "image/svg+xml")


def test_an_oversize_photo_is_refused(case, caseworker_a):
    big = PNG + b"\x00" * (services.MAX_PHOTO_BYTES - len(PNG) + 1)
    with pytest.raises(CaseInvalidInput) as refused:
        _set(caseworker_a, case, big)
    assert refused.value.details == {"field": "photo"}
    # Exactly the limit is accepted.
    _set(caseworker_a, case, big[:-1])


def test_the_sealed_column_holds_no_plaintext_image(case, caseworker_a):
    _set(caseworker_a, case, PNG)
    raw = Person.objects.values_list("sealed_photo", flat=True).get(pk=case.person_id)
    assert raw is not None
    stored = bytes(raw)
    assert PNG_SIGNATURE not in stored
    assert b"IHDR" not in stored
    assert PNG not in stored


def test_the_prosecutor_cannot_upload_or_remove(case, caseworker_a):
    prosecutor = team_member(case, Role.PROSECUTOR)
    with pytest.raises(CaseRoleRequired):
        _set(prosecutor, case, PNG)
    _set(caseworker_a, case, PNG)
    with pytest.raises(CaseRoleRequired):
        _set(prosecutor, case, None, "")
    # They see the identity on the team, so they see the photo too.
    case.refresh_from_db()
    assert selectors.person_photo_for_user(user=prosecutor, case=case) is not None


def test_another_user_gets_no_such_case(case, caseworker_a, caseworker_b):
    _set(caseworker_a, case, PNG)
    with pytest.raises(CaseNotFound):
        _set(caseworker_b, case, PNG)
    case.refresh_from_db()
    with pytest.raises(CaseNotFound):
        selectors.person_photo_for_user(user=caseworker_b, case=case)


def test_erasure_makes_the_photo_unreadable(case, caseworker_a, auditor):
    _set(caseworker_a, case, PNG)
    request = dataprotection.erasure_request(
        actor=caseworker_a, case_id=case.pk, reason=ErasureReason.PERSON_REQUEST
    )
    dataprotection.erasure_confirm(actor=auditor, request_id=request.pk)

    case.refresh_from_db()
    assert case.person.sealed_photo is None
    assert selectors.person_photo_for_user(user=caseworker_a, case=case) is None
    with pytest.raises(PersonErased):
        _set(caseworker_a, case, PNG)


# --- the pages ----------------------------------------------------------------


def test_upload_replace_and_remove_through_the_page(case, caseworker_a, signed_in):
    client = signed_in(caseworker_a)

    response = _upload(client, case, PNG)
    assert response.status_code == 302
    case.refresh_from_db()
    assert selectors.person_photo_for_user(user=caseworker_a, case=case) == (
        PNG,
        "image/png",
    )
    # A photo-only change does not record an identity change.
    assert not CaseEvent.objects.filter(
        case=case, kind="person.identity_updated"
    ).exists()

    detail = client.get(reverse("cases:detail", args=[case.pk])).content.decode()
    photo_url = reverse("cases:photo", args=[case.pk])
    assert f'src="{photo_url}"' in detail
    assert 'alt="Photo of the person"' in detail

    # A JPEG whose browser gives no type is recognised by its content.
    response = _upload(client, case, JPEG, name="photo.jpg", content_type="")
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.person.photo_content_type == "image/jpeg"

    response = _upload(client, case, None, remove_photo="on")
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.person.sealed_photo is None
    detail = client.get(reverse("cases:detail", args=[case.pk])).content.decode()
    assert photo_url not in detail


def test_the_edit_page_is_multipart(case, caseworker_a, signed_in):
    page = signed_in(caseworker_a).get(reverse("cases:edit_identity", args=[case.pk]))
    body = page.content.decode()
    assert 'enctype="multipart/form-data"' in body
    assert 'name="photo"' in body


def test_the_page_refuses_html_renamed_png(case, caseworker_a, signed_in):
    response = _upload(signed_in(caseworker_a), case, HTML, name="photo.png")
    assert response.status_code == 400
    assert "The photo must be a JPEG or PNG image." in response.content.decode()
    case.person.refresh_from_db()
    assert case.person.sealed_photo is None


def test_the_page_refuses_an_oversize_photo(case, caseworker_a, signed_in):
    big = PNG + b"\x00" * services.MAX_PHOTO_BYTES
    response = _upload(signed_in(caseworker_a), case, big)
    assert response.status_code == 400
    case.person.refresh_from_db()
    assert case.person.sealed_photo is None


def test_the_prosecutor_cannot_open_the_upload_page(case, signed_in):
    prosecutor = team_member(case, Role.PROSECUTOR)
    client = signed_in(prosecutor)
    assert client.get(reverse("cases:edit_identity", args=[case.pk])).status_code == 403


def test_the_served_image_has_safe_headers(case, caseworker_a, signed_in):
    _set(caseworker_a, case, PNG)
    response = signed_in(caseworker_a).get(reverse("cases:photo", args=[case.pk]))
    assert response.status_code == 200
    assert response.content == PNG
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == "inline"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "no-store, private"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_the_photo_page_hides_from_others_and_when_there_is_none(
    case, caseworker_a, caseworker_b, signed_in
):
    url = reverse("cases:photo", args=[case.pk])
    assert signed_in(caseworker_a).get(url).status_code == 404
    _set(caseworker_a, case, PNG)
    assert signed_in(caseworker_b).get(url).status_code == 404


# --- the API ------------------------------------------------------------------


def test_the_api_stores_serves_and_removes_the_photo(case, caseworker_a, signed_in):
    client = signed_in(caseworker_a)
    url = f"/api/v1/cases/{case.pk}/photo"
    body = {"content_type": "image/png", "data": base64.b64encode(PNG).decode()}

    assert client.put(url, body, content_type="application/json").status_code == 204
    response = client.get(url)
    assert response.status_code == 200
    assert response.content == PNG
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == "inline"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "no-store, private"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"

    assert client.delete(url).status_code == 204
    missing = client.get(url)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "cases.not_found"


def test_the_api_refuses_what_is_not_an_image(case, caseworker_a, signed_in):
    client = signed_in(caseworker_a)
    url = f"/api/v1/cases/{case.pk}/photo"
    html = {"content_type": "image/png", "data": base64.b64encode(HTML).decode()}
    response = client.put(url, html, content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "cases.invalid_input"
    assert error["details"] == {"field": "photo"}
    garbled = {"content_type": "image/png", "data": "not base64!"}
    response = client.put(url, garbled, content_type="application/json")
    assert response.status_code == 400


def test_the_api_refuses_the_prosecutor(case, caseworker_a, signed_in):
    prosecutor = team_member(case, Role.PROSECUTOR)
    client = signed_in(prosecutor)
    url = f"/api/v1/cases/{case.pk}/photo"
    body = {"content_type": "image/png", "data": base64.b64encode(PNG).decode()}
    assert client.put(url, body, content_type="application/json").status_code == 403
    _set(caseworker_a, case, PNG)
    assert client.delete(url).status_code == 403
    assert client.get(url).status_code == 200
