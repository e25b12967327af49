"""Screening errors with stable codes. Messages never contain personal data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trm.common.errors import Conflict, DomainError, NotFound, PermissionDenied


class ScreeningInvalidInput(DomainError):
    """Answers that cannot be recorded; ``details`` names the field and the ids.

    The message names indicators by their titles; ``reasons`` maps an id to
    what is wrong with that one answer, for a form to show beside it.
    """

    code = "screening.invalid_input"

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        reasons: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.reasons = dict(reasons or {})


class ScreeningRoleRequired(PermissionDenied):
    code = "screening.role_required"


class ScreeningCaseClosed(Conflict):
    code = "screening.case_closed"


class ScreeningNotFound(NotFound):
    """No such screening, or the actor may not see its case (same answer: 404)."""

    code = "screening.not_found"
