"""Guidance library errors with stable codes."""

from __future__ import annotations

from trm.common.errors import DomainError, NotFound, PermissionDenied


class GuidanceInvalidInput(DomainError):
    """A value of a resource or its file is not acceptable; ``details["field"]``."""

    code = "guidance.invalid_input"


class ResourceNotFound(NotFound):
    code = "guidance.resource_not_found"


class NotGuidanceEditor(PermissionDenied):
    """Only a national contact point or a node administrator edits the library."""

    code = "guidance.not_editor"
