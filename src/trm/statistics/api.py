"""API endpoint of the HTCDS export (issue 8, item 1; docs/htcds.md).

The same service as the page and the command: the national contact point
exports the cases they may see, with a purpose; personal fields on request.
Every export and refusal is audited.
"""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest, HttpResponse
from django.utils.http import content_disposition_header
from ninja import Router, Schema
from pydantic import ConfigDict, Field

from trm.common.api import request_actor
from trm.statistics import htcds_io

router = Router(tags=["statistics"])


class HtcdsExportIn(Schema):
    model_config = ConfigDict(extra="forbid")

    format: Literal["csv", "json"] = "json"
    personal: bool = Field(
        False, description="Add personal fields (national contact point only)."
    )
    purpose: str = Field(
        "",
        max_length=htcds_io.MAX_PURPOSE,
        description="Why the export is made; required with personal fields.",
    )


@router.post(
    "/htcds/export",
    summary="Export the node's cases in HTCDS v2.0 (CSV or JSON file)",
    response={200: None},
)
def htcds_export(request: HttpRequest, payload: HtcdsExportIn) -> HttpResponse:
    """Return the file as a download (see docs/htcds.md for the columns).

    Errors: 403 ``statistics.htcds_export_refused`` (role or purpose; audited).
    """
    export = htcds_io.export_htcds(
        actor=request_actor(request),
        fmt=payload.format,
        include_personal=payload.personal,
        purpose=payload.purpose,
    )
    response = HttpResponse(export.content, content_type=export.content_type)
    response["Content-Disposition"] = (
        content_disposition_header(as_attachment=True, filename=export.filename)
        or "attachment"
    )
    return response
