"""Screening errors with stable codes. Messages never contain personal data."""

from __future__ import annotations

from trm.common.errors import Conflict, DomainError, NotFound, PermissionDenied


class ScreeningInvalidInput(DomainError):
    """Answers that cannot be recorded; ``details`` names the field and the ids."""

    code = "screening.invalid_input"


class ScreeningRoleRequired(PermissionDenied):
    code = "screening.role_required"


class ScreeningCaseClosed(Conflict):
    code = "screening.case_closed"


class ScreeningNotFound(NotFound):
    """No such screening, or the actor may not see its case (same answer: 404)."""

    code = "screening.not_found"
