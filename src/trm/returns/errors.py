"""Refusals of trm.returns with stable codes. Messages never contain personal data."""

from __future__ import annotations

from trm.common.errors import Conflict, NotFound, PermissionDenied


class ReturnNotForLegalTrack(PermissionDenied):
    """The return record is assistance content: legal-track-only roles (a
    prosecutor) see none of it (SOPS §3 unconditional assistance)."""

    code = "returns.not_for_legal_track"


class ReturnRecordNotFound(NotFound):
    """No such joint risk assessment (or other return record) on this case."""

    code = "returns.not_found"


class ReturnBlocked(Conflict):
    """The journey may not start: ``details["blockers"]`` lists EVERY unmet
    condition as ``{"code", "message"}`` (SOPS §6.2 region B IN_TRANSIT; §6.5
    rules 4 and 5)."""

    code = "returns.blocked"
