"""What a withdrawn consent does to what arrived under it (the restriction
hook of :mod:`trm.consent.messages`)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from trm.accounts.models import User
from trm.cases.models import Case
from trm.identification.common import audit_case
from trm.returns.models import (
    FamilyDirection,
    FamilyExchange,
    IncomingReturn,
)
from trm.returns.services.across.common import (
    open_text,
)
from trm.returns.services.across.family import (
    PLAN_TEXT_CATEGORIES,
)
from trm.returns.services.common import (
    seal_json,
)


def restrict_received(
    *,
    case: Case,
    peer_node: str,
    consent_ref: UUID,
    categories: Sequence[str],
    actor: User | None,
) -> str | None:
    """Restriction hook of ``consent.withdrawn`` (registered in ``ready()``):
    erase the free text of the return plans and family requests or reports
    that ``peer_node`` sent about ``case`` under ``consent_ref`` when the
    withdrawn categories reach it; codes and dates stay (they are not the
    consented data). Returns ``"erased"`` or None (nothing held)."""
    wanted = set(categories)
    erased = 0
    if wanted & PLAN_TEXT_CATEGORIES:
        erased += IncomingReturn.objects.filter(
            case=case, peer_node=peer_node, received_under=consent_ref
        ).update(sealed_text=None, legal_basis_kind="withdrawn")
    if "family" in wanted:
        for record in FamilyExchange.objects.select_for_update().filter(
            case=case, peer_node=peer_node, received_under=consent_ref
        ):
            # What this node wrote itself (its own questions) stays; what
            # arrived under the consent goes.
            opened = open_text(case, record.sealed_text, record.text_context())
            mine = (
                {"questions": opened.get("questions", "")}
                if record.direction == FamilyDirection.OUT
                else {"findings": opened.get("findings", "")}
            )
            record.sealed_text = (
                seal_json(case, mine, record.text_context())
                if not case.person.is_erased
                else None
            )
            record.received_under = None
            record.save(update_fields=["sealed_text", "received_under"])
            erased += 1
    if not erased:
        return None
    audit_case(actor, "returns.received_restricted", case, records=erased)
    return "erased"
