"""Refusals of trm.care with stable codes. Messages never contain personal data."""

from __future__ import annotations

from trm.common.errors import NotFound, PermissionDenied


class CareNotForLegalTrack(PermissionDenied):
    """Long-term care is assistance content: legal-track-only roles (a
    prosecutor) see none of it (SOPS §3 unconditional assistance; issue "SOP 5")."""

    code = "care.not_for_legal_track"


class CareRecordNotFound(NotFound):
    """No such plan, residence record or service episode on this case."""

    code = "care.not_found"
