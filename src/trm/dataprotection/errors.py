"""Data-protection errors with stable codes. Messages never contain personal data."""

from __future__ import annotations

from trm.common.errors import Conflict, DomainError, NotFound, PermissionDenied


class DataProtectionInvalidInput(DomainError):
    code = "dataprotection.invalid_input"


class DataProtectionRoleRequired(PermissionDenied):
    code = "dataprotection.role_required"


class FourEyesRequired(PermissionDenied):
    """The requester of an erasure tried to confirm it themselves."""

    code = "dataprotection.four_eyes_required"


class ErasureRequestNotFound(NotFound):
    code = "dataprotection.request_not_found"


class ErasureAlreadyRequested(Conflict):
    code = "dataprotection.erasure_already_requested"


class ErasureRequestClosed(Conflict):
    """The request was already confirmed or cancelled."""

    code = "dataprotection.request_closed"
