"""Consent errors with stable codes."""

from __future__ import annotations

from trm.common.errors import Conflict, DomainError, PermissionDenied


class ConsentInvalidInput(DomainError):
    code = "consent.invalid_input"


class ConsentMissing(PermissionDenied):
    """No valid consent covers the share; ``details`` says what is missing."""

    code = "consent.missing"


class ConsentAlreadyWithdrawn(Conflict):
    code = "consent.already_withdrawn"


class GuardianRequired(DomainError):
    code = "consent.guardian_required"
