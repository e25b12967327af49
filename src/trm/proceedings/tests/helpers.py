"""Set-up shared by the trm.proceedings tests. All data is synthetic and fictional."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from trm.audit.models import AuditEntry
from trm.cases.models import Case, CaseEvent
from trm.proceedings import services
from trm.proceedings.models import (
    CompensationClaim,
    Hearing,
    NonPunishment,
    ProceedingsNotice,
    ProtectionMeasure,
    RightsInformation,
)

LAWYER = "Fictional Legal Aid Bureau"


def days_ago(n: int) -> Any:
    return timezone.localdate() - timedelta(days=n)


def snapshot(case: Case) -> tuple[object, ...]:
    """Everything a refused service must leave unchanged."""
    case.refresh_from_db()
    return (
        case.legal,
        case.assistance,
        CaseEvent.objects.filter(case=case).count(),
        AuditEntry.objects.exclude(action__endswith="_read").count(),
        RightsInformation.objects.filter(case=case).count(),
        list(
            ProtectionMeasure.objects.filter(case=case).values_list("status", flat=True)
        ),
        list(
            CompensationClaim.objects.filter(case=case).values_list(
                "status", "claimed_amount", "awarded_amount", "paid_amount"
            )
        ),
        list(NonPunishment.objects.filter(case=case).values_list("status", flat=True)),
        Hearing.objects.filter(case=case).count(),
        ProceedingsNotice.objects.filter(case=case).count(),
    )


def inform(case: Case, actor: Any, **overrides: Any) -> RightsInformation:
    values: dict[str, Any] = {
        "informed_on": days_ago(1),
        "language": "ro",
        "interpreter": True,
        "has_lawyer": True,
        "lawyer": LAWYER,
    }
    values.update(overrides)
    return services.rights_inform(actor=actor, case_id=case.pk, **values)


def claim(case: Case, actor: Any, **overrides: Any) -> CompensationClaim:
    values: dict[str, Any] = {
        "route": "criminal",
        "filed_on": days_ago(30),
        "amount": Decimal("15000.00"),
        "currency": "EUR",
    }
    values.update(overrides)
    return services.compensation_file(actor=actor, case_id=case.pk, **values)


def charge(case: Case, actor: Any, **overrides: Any) -> NonPunishment:
    values: dict[str, Any] = {
        "offence": "false_documents",
        "flagged_on": days_ago(20),
        "charge": "Fictional charge: use of a forged passport",
    }
    values.update(overrides)
    return services.charge_flag(actor=actor, case_id=case.pk, **values)


def close(case: Case) -> None:
    Case.objects.filter(pk=case.pk).update(closed_at=timezone.now())
    case.refresh_from_db()
