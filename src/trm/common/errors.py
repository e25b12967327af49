"""Domain errors with stable codes.

Every refusal of a service is a :class:`DomainError` subclass whose ``code`` is
stable (API clients and tests match on it) and whose message is safe to show: it
never contains personal data.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """A rule of the domain refused the operation; nothing was changed.

    Attributes:
        code: stable machine-readable code, e.g. ``"accounts.role_not_allowed"``.
        status: the HTTP status the API answers with (400, 403, 404 or 409).
        details: optional structured details (field names, allowed values).
    """

    code: ClassVar[str] = "domain_error"
    status: ClassVar[int] = 400

    def __init__(self, message: str, *, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


class NotFound(DomainError):
    """The object does not exist or the actor may not know that it exists."""

    code = "not_found"
    status = 404


class PermissionDenied(DomainError):
    """The actor's roles do not allow this operation."""

    code = "permission_denied"
    status = 403


class Conflict(DomainError):
    """The operation conflicts with the current state (duplicate, wrong state)."""

    code = "conflict"
    status = 409
