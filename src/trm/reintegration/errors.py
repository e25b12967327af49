"""Refusals of trm.reintegration with stable codes (no personal data in messages)."""

from __future__ import annotations

from trm.common.errors import NotFound, PermissionDenied


class ReintegrationNotForLegalTrack(PermissionDenied):
    """Reintegration is assistance content: legal-track-only roles (a
    prosecutor) see none of it (SOPS §3 unconditional assistance)."""

    code = "reintegration.not_for_legal_track"


class FollowUpNotFound(NotFound):
    """No such follow-up on this case."""

    code = "reintegration.follow_up_not_found"
