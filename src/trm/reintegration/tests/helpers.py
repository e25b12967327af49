"""Test set-up of trm.reintegration: a case linked with a destination node."""

from __future__ import annotations

import uuid
from typing import Any

from trm.accounts.models import Role, User
from trm.audit.models import AuditEntry
from trm.cases import messages as case_messages
from trm.cases.models import Case, CaseEvent
from trm.cases.tests.exchange_fakes import apply, inbound, make_peer
from trm.cases.tests.factories import set_states, team_member
from trm.consent import services as consent
from trm.consent.models import Consent
from trm.exchange.models import OutboxMessage
from trm.reintegration.models import FollowUp, FollowUpReport, ReintegrationPlan

#: The shared reference the destination node (peer-bg) made for the case.
DESTINATION_REF = "peer-bg-0123456789ab"


def destination_org() -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "name": "Fictional NCP BG", "country": "BG"}


def origin_case(*, assistance: str = "reintegration") -> tuple[Case, User]:
    """Return a case opened here from the destination node's alert (as the
    origin node does) in ``assistance``, and a service provider on its team.
    Needs an organisation with the NCP function (``org_a``)."""
    make_peer("peer-bg", "BG")
    alert = {
        "trm_case_ref": DESTINATION_REF,
        "country_of_identification": "BG",
        "urgency": "normal",
        "requests": ["return_planning"],
        "sending_organisation": destination_org(),
    }
    apply(
        inbound(
            case_messages.CASE_ALERT,
            alert,
            sender="peer-bg",
            conversation=DESTINATION_REF,
        )
    )
    case = Case.objects.get(trm_case_ref=DESTINATION_REF)
    set_states(case, assistance=assistance)
    provider = team_member(case, Role.SERVICE_PROVIDER)
    return case, provider


def transfer_consent(
    case: Case,
    actor: User,
    *,
    country: str = "BG",
    categories: tuple[str, ...] = ("case_summary", "health"),
) -> Consent:
    """Record the person's consent to a transfer abroad naming ``country``."""
    return consent.consent_record(
        actor=actor,
        case_id=case.pk,
        purpose="cross_border_transfer",
        categories=list(categories),
        given_by="person",
        language="ro",
        recipient_country=country,
        declaration="Fictional declaration",
    )


def snapshot(case: Case) -> tuple[object, ...]:
    """Everything a refused service must leave unchanged."""
    case.refresh_from_db()
    return (
        case.assistance,
        CaseEvent.objects.filter(case=case).count(),
        AuditEntry.objects.exclude(action__endswith="read").count(),
        ReintegrationPlan.objects.filter(case=case).count(),
        list(
            FollowUp.objects.filter(case=case)
            .order_by("sequence")
            .values_list("sequence", "due_on", "reported_on", "msg_id")
        ),
        FollowUpReport.objects.filter(case=case).count(),
        OutboxMessage.objects.count(),
    )
