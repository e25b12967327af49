"""The node's JSON API (django-ninja) at ``/api/v1/``.

OpenAPI description: ``/api/v1/openapi.json``; browsable docs: ``/api/v1/docs``.

Each domain app contributes a router from its ``api.py``; they call the same
services and selectors as the web pages.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI

from trm.accounts.api import router as accounts_router
from trm.assessments.api import router as assessments_router
from trm.assistance.api import router as assistance_router
from trm.audit.api import router as audit_router
from trm.care.api import router as care_router
from trm.cases.api import router as cases_router
from trm.common.api import (
    BearerTokenAuth,
    VerifiedSessionAuth,
    error_body,
    install_error_handlers,
)
from trm.consent.api import router as consent_router
from trm.dataprotection.api import router as dataprotection_router
from trm.directory.api import router as directory_router
from trm.exchange.api import router as exchange_router
from trm.guidance.api import router as guidance_router
from trm.handover.api import router as handover_router
from trm.identification.api import router as identification_router
from trm.proceedings.api import router as proceedings_router
from trm.referrals.api import router as referrals_router
from trm.reintegration.api import router as reintegration_router
from trm.returns.api import router as returns_router
from trm.screening.api import router as screening_router
from trm.sop.api import router as sop_router
from trm.statistics.api import router as statistics_router

api = NinjaAPI(
    title="TRM node API",
    version="1",
    description=(
        "JSON API of a Transnational Referral Mechanism node. Authenticate with "
        "the browser session (CSRF token required for writes) or with "
        "`Authorization: Bearer <token>`. Errors have the shape "
        '`{"error": {"code", "message", "details"}}` with stable codes.'
    ),
    auth=[BearerTokenAuth(), VerifiedSessionAuth()],
    urls_namespace="api",
)
install_error_handlers(api)
api.add_router("/", accounts_router)
api.add_router("/audit", audit_router)
api.add_router("/cases", cases_router)
api.add_router("/cases", identification_router)
# GET /cases/{case_id}/sop and GET /tasks.
api.add_router("/", sop_router)
api.add_router("/consent", consent_router)
api.add_router("/data-protection", dataprotection_router)
api.add_router("/directory", directory_router)
api.add_router("/exchange", exchange_router)
api.add_router("/guidance", guidance_router)
api.add_router("/cases/{case_id}/screening", screening_router)
api.add_router("/cases/{case_id}/assistance", assistance_router)
api.add_router("/cases/{case_id}/assessments", assessments_router)
api.add_router("/cases/{case_id}/care", care_router)
api.add_router("/cases/{case_id}/return", returns_router)
api.add_router("/cases/{case_id}/handover", handover_router)
api.add_router("/cases/{case_id}/reintegration", reintegration_router)
api.add_router("/cases/{case_id}/proceedings", proceedings_router)
api.add_router("/referrals", referrals_router)
api.add_router("/statistics", statistics_router)


@csrf_exempt  # changes nothing; a POST to a wrong URL gets the 404, not a CSRF page
def not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Answer an unknown ``/api/`` route with the structured 404, not an HTML page."""
    return JsonResponse(error_body("not_found", "Not found."), status=404)
