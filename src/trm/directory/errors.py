"""Service directory errors with stable codes."""

from __future__ import annotations

from trm.common.errors import DomainError, NotFound, PermissionDenied


class DirectoryInvalidInput(DomainError):
    """A value of a profile or capacity is not acceptable; ``details["field"]``."""

    code = "directory.invalid_input"


class ProfileNotFound(NotFound):
    code = "directory.profile_not_found"


class CapacityNotAllowed(PermissionDenied):
    """The actor may not report capacity for this organisation."""

    code = "directory.capacity_not_allowed"
