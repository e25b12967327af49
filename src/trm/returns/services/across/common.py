"""What the services across nodes share: who acts, the peer of the case,
the sending organisation, consent references (SOP 4 across nodes)."""

from __future__ import annotations

import json
from uuid import UUID

from django.utils.translation import gettext as _

from trm.accounts.models import Role, User
from trm.care.common import Opener
from trm.cases.access import CaseAccess
from trm.cases.errors import CaseRoleRequired
from trm.cases.messages import OrganisationRefV1, conversation_peers, organisation_ref
from trm.cases.models import Case
from trm.cases.services import lock_case, require_live_person
from trm.exchange import services as exchange
from trm.identification.common import require_open
from trm.returns import wire
from trm.returns.errors import (
    ReturnNotLinked,
)
from trm.returns.models import (
    FamilyKind,
)
from trm.returns.services.common import (
    PLANNING_ROLES,
)

#: Who sends a family request (the guardian asks for tracing through the NCP).
FAMILY_ROLES = PLANNING_ROLES | frozenset({Role.GUARDIAN})
REQUEST_TYPES = {
    FamilyKind.ASSESSMENT: wire.FAMILY_ASSESSMENT_REQUEST,
    FamilyKind.TRACING: wire.FAMILY_TRACING_REQUEST,
}
REPORT_TYPES = {
    FamilyKind.ASSESSMENT: wire.FAMILY_ASSESSMENT_REPORT,
    FamilyKind.TRACING: wire.FAMILY_TRACING_RESULT,
}


# --- shared --------------------------------------------------------------------------


def peer_for(case: Case, to_node: str | None) -> str:
    """Return the node a message about ``case`` goes to: ``to_node`` if it
    shares the case's conversation, else the only such peer (or the only one
    of a country of the person's claimed nationality).

    Raises:
        ReturnNotLinked: no shared reference, no active peer in its
            conversation, ``to_node`` not among them, or several and none
            chosen (``details["reason"]``).
    """
    peers = conversation_peers(case.trm_case_ref)
    if not peers:
        raise ReturnNotLinked(
            _(
                "This case is not linked with a case in another country: send the "
                "case alert first."
            ),
            details={"reason": "not_linked"},
        )
    if to_node:
        if to_node not in {p.node_id for p in peers}:
            raise ReturnNotLinked(
                _("This case is not linked with a case on that node."),
                details={"reason": "not_linked", "field": "to_node"},
            )
        return to_node
    if len(peers) == 1:
        return peers[0].node_id
    nationals = [p for p in peers if p.country in set(case.person.citizenships)]
    if len(nationals) == 1:
        return nationals[0].node_id
    raise ReturnNotLinked(
        _("The case is linked with several nodes: choose one."),
        details={"reason": "several_peers", "field": "to_node"},
    )


def lock_origin(actor: User, case_id: UUID) -> tuple[Case, CaseAccess]:
    """Lock the origin node's linked case for a team member with a planning
    role, or the national contact point (also through node policy)."""
    case, access = lock_case(actor=actor, case_id=case_id)
    allowed = (
        Role.NATIONAL_CONTACT_POINT in access.roles
        if access.via_policy
        else bool(access.roles & PLANNING_ROLES)
    )
    if not allowed:
        raise CaseRoleRequired(
            _("Only these roles on the case may do this: %(roles)s.")
            % {"roles": ", ".join(str(Role(r).label) for r in sorted(PLANNING_ROLES))},
            details={"allowed_roles": sorted(PLANNING_ROLES)},
        )
    require_open(case)
    require_live_person(case)
    return case, access


def sender_organisation(actor: User | None, case: Case) -> OrganisationRefV1:
    own = actor.organisation if actor is not None else None
    if own is None or own.home_node:
        own = case.lead_organisation
    return organisation_ref(own)


def open_text(
    case: Case, blob: bytes | memoryview | None, context: bytes
) -> dict[str, str]:
    text = Opener(case.person).open(blob, context=context)
    return json.loads(text) if text else {}


def consent_of(legal_basis: str) -> UUID | None:
    """Return the consent id of a ``consent:<id>`` basis (None otherwise)."""
    if not legal_basis.startswith("consent:"):
        return None
    try:
        return UUID(legal_basis.split(":", 1)[1].strip())
    except ValueError:
        return None


def consent_basis(consent_id: UUID | None) -> str:
    return f"consent:{consent_id}" if consent_id else exchange.PSEUDONYMOUS
