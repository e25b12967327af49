"""How a decrypted photo of a person leaves the server (pages and API alike)."""

from __future__ import annotations

from django.http import HttpResponse

from trm.cases.services import PHOTO_TYPES


def photo_response(content: bytes, content_type: str) -> HttpResponse:
    """Return a decrypted photo as an inline image that is safe to serve.

    Only JPEG and PNG (checked by content when stored) are ever served; the
    sandboxing CSP and ``nosniff`` keep a browser from treating it as a page.
    """
    if content_type not in PHOTO_TYPES:
        content_type = "application/octet-stream"
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = "inline"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store, private"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Content-Length"] = str(len(content))
    return response
