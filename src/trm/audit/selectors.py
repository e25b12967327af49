"""Readers of the audit log (auditor / data-protection officer, node administrator)."""

from __future__ import annotations

from django.db.models import QuerySet

from trm.accounts.models import Role, User
from trm.audit.models import AuditEntry
from trm.common.errors import PermissionDenied

AUDIT_READERS = frozenset({Role.AUDITOR, Role.NODE_ADMINISTRATOR})


def require_audit_reader(actor: User) -> None:
    """Raise PermissionDenied unless the actor may read the audit log."""
    if not actor.has_role(*AUDIT_READERS):
        raise PermissionDenied("Only an auditor or a node administrator may do this.")


def entry_list(
    *, actor: User, action: str = "", target_type: str = "", target_id: str = ""
) -> QuerySet[AuditEntry]:
    """Return audit entries, newest first, filtered by exact action/target.

    Raises:
        PermissionDenied: the actor is neither auditor nor node administrator.
    """
    require_audit_reader(actor)
    qs = AuditEntry.objects.all()
    if action:
        qs = qs.filter(action=action)
    if target_type:
        qs = qs.filter(target_type=target_type)
    if target_id:
        qs = qs.filter(target_id=target_id)
    return qs.order_by("-seq")
