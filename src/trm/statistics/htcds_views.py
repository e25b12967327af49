"""Statistics pages: the HTCDS export (issue 8, item 1)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from trm.accounts.models import User
from trm.common.errors import DomainError, PermissionDenied
from trm.common.forms import add_domain_error
from trm.statistics import htcds_io
from trm.statistics.htcds_forms import HtcdsExportForm


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - login_required guarantees it
    return user


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def htcds_export_view(request: HttpRequest) -> HttpResponse:
    """Download the node's cases in HTCDS (national contact point, node admin).

    Personal fields are offered to the national contact point only, with a
    purpose; the service audits the export and any refusal.
    """
    user = _user(request)
    if not user.has_role(*sorted(htcds_io.EXPORT_ROLES)):
        raise PermissionDenied(
            _("Only the national contact point may export case rows.")
        )
    may_personal = user.has_role(htcds_io.PERSONAL_ROLE)
    form = HtcdsExportForm(
        request.POST if request.method == "POST" else None,
        may_export_personal=may_personal,
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            export = htcds_io.export_htcds(
                actor=user,
                fmt=data["format"],
                include_personal=bool(data.get("personal")),
                purpose=data["purpose"],
            )
        except DomainError as exc:
            if (
                isinstance(exc, PermissionDenied)
                and exc.details.get("reason") == "role"
            ):
                raise
            add_domain_error(form, exc)
        else:
            response = HttpResponse(export.content, content_type=export.content_type)
            response["Content-Disposition"] = (
                content_disposition_header(as_attachment=True, filename=export.filename)
                or "attachment"
            )
            return response
    return render(
        request,
        "statistics/htcds_export.html",
        {"form": form, "may_personal": may_personal},
        status=400 if request.method == "POST" else 200,
    )
