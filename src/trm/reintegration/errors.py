"""Refusals of trm.reintegration with stable codes (no personal data in messages)."""

from __future__ import annotations

from trm.common.errors import Conflict, NotFound, PermissionDenied


class ReintegrationNotForLegalTrack(PermissionDenied):
    """Reintegration is assistance content: legal-track-only roles (a
    prosecutor) see none of it (SOPS §3 unconditional assistance)."""

    code = "reintegration.not_for_legal_track"


class FollowUpNotFound(NotFound):
    """No such follow-up on this case."""

    code = "reintegration.follow_up_not_found"


class NotReturned(Conflict):
    """A ``followup.report`` about a case whose person this node never handed
    over to the sender: no journey to that node whose arrival was confirmed
    (SOP 4 steps 8-10: follow-up is after the return)."""

    code = "reintegration.not_returned"
