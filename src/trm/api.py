"""The node's JSON API (django-ninja) at ``/api/v1/``.

OpenAPI description: ``/api/v1/openapi.json``; browsable docs: ``/api/v1/docs``.

Each domain app contributes a router from its ``api.py``; they call the same
services and selectors as the web pages.
"""

from __future__ import annotations

from ninja import NinjaAPI

from trm.accounts.api import router as accounts_router
from trm.audit.api import router as audit_router
from trm.common.api import BearerTokenAuth, VerifiedSessionAuth, install_error_handlers

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
