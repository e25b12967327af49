"""API endpoints of trm.care."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["care"])
