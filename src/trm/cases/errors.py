"""Case errors with stable codes. Messages never contain personal data."""

from __future__ import annotations

from trm.common.errors import Conflict, DomainError, NotFound, PermissionDenied


class CaseNotFound(NotFound):
    """No such case, or the actor may not know it exists (same answer: 404)."""

    code = "cases.not_found"


class CaseInvalidInput(DomainError):
    code = "cases.invalid_input"


class NotALocalUser(DomainError):
    """Only people working on this node join its case teams: never a node user
    (a peer node's organisation in a role) nor a user of a peer node's
    organisation."""

    code = "cases.not_a_local_user"


class CaseNumberTaken(Conflict):
    code = "cases.number_taken"


class TransitionNotAllowed(Conflict):
    code = "cases.transition_not_allowed"


class CaseRoleRequired(PermissionDenied):
    code = "cases.role_required"


class PersonErased(Conflict):
    code = "cases.person_erased"
