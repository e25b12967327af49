"""Account errors with stable codes."""

from __future__ import annotations

from trm.common.errors import Conflict, DomainError, NotFound, PermissionDenied


class NotNodeAdministrator(PermissionDenied):
    code = "accounts.not_node_administrator"


class UserNotFound(NotFound):
    code = "accounts.user_not_found"


class OrganisationNotFound(NotFound):
    code = "accounts.organisation_not_found"


class DuplicateName(Conflict):
    code = "accounts.duplicate"


class InvalidInput(DomainError):
    code = "accounts.invalid_input"


class InvalidTOTPCode(DomainError):
    code = "accounts.invalid_totp_code"


class LastAdministrator(Conflict):
    code = "accounts.last_administrator"


class OwnRolesLocked(PermissionDenied):
    """An administrator may not change their own roles (no self-granted access)."""

    code = "accounts.own_roles_locked"


class WrongPassword(InvalidInput):
    """The current password given to confirm an action is not the user's."""


class TOTPThrottled(InvalidTOTPCode):
    code = "accounts.totp_throttled"


class PeerOrganisationRefused(DomainError):
    """A peer node's organisation this node cannot record: a name, country or
    org type it refuses, or every name taken (``details["reason"]``;
    :mod:`trm.accounts.peer_organisations`)."""

    code = "accounts.peer_organisation_refused"


class NodeUserProtected(Conflict):
    """The user stands for a peer node's organisation (trm.accounts.node_users):
    nobody may sign in as it or change its roles."""

    code = "accounts.node_user"
