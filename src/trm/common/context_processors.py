"""Template context shared by every page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def node(request: HttpRequest) -> dict[str, Any]:
    """Add the node's identity and the signed-in user's navigation."""
    from trm.accounts.navigation import navigation_for

    return {
        "trm_node": {
            "id": settings.TRM_NODE_ID,
            "name": settings.TRM_NODE_NAME,
            "country": settings.TRM_COUNTRY,
            "development": settings.DEVELOPMENT,
        },
        "trm_navigation": navigation_for(request),
    }
