"""Writes of the statistics app: the audit entry of a dashboard download."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from trm.accounts.models import Role, User
from trm.audit import services as audit
from trm.common.errors import PermissionDenied

#: Who may see the statistics dashboard and download its tables: the national
#: coordinator (national contact point, who reports to the national rapporteur
#: and the region), the auditor / data-protection officer and the node
#: administrator. Everything on the dashboard is disclosure controlled
#: (``trm.statistics.disclosure.protect``), so it shows nothing about anyone;
#: the other roles work on cases and use the case pages.
DASHBOARD_ROLES = frozenset(
    {Role.NATIONAL_CONTACT_POINT, Role.AUDITOR, Role.NODE_ADMINISTRATOR}
)


def require_dashboard_reader(user: User) -> User:
    """Return ``user`` if they may see the dashboard.

    Raises:
        PermissionDenied: (403) no role in :data:`DASHBOARD_ROLES`.
    """
    if not user.role_codes() & DASHBOARD_ROLES:
        raise PermissionDenied(
            _(
                "Only the national coordinator, the auditor and the node "
                "administrator may see the statistics dashboard."
            ),
            details={"roles": sorted(DASHBOARD_ROLES)},
        )
    return user


@transaction.atomic(durable=True)
def record_download(*, actor: User, spec: dict[str, object], file_format: str) -> None:
    """Audit one download of a published table (``statistics.downloaded``).

    Aggregates are not personal data; the entry records who downloaded which
    table (chart, period, sources) in which format, nothing of its figures.
    """
    require_dashboard_reader(actor)
    audit.record(
        actor=actor,
        action="statistics.downloaded",
        target_type="statistics.table",
        target_id=str(spec.get("chart", "")),
        data={**spec, "format": file_format},
    )
