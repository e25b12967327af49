"""What the services of trm.returns share: who acts, cleaning, sealing, locking."""

from __future__ import annotations

import json
from uuid import UUID

from django.utils.translation import gettext as _

from trm.accounts.models import Role, User
from trm.care.common import Sealer
from trm.cases.errors import CaseInvalidInput, TransitionNotAllowed
from trm.cases.models import Case, Visibility
from trm.cases.services import (
    lock_case,
    record_case_event,
    require_live_person,
)
from trm.cases.tracks import TRACKS, Assistance
from trm.common.text import clean_text, has_visible_text
from trm.identification.common import (
    require_open,
    require_roles,
)

BID_ROLES = frozenset({Role.CASE_MANAGER, Role.GUARDIAN})
PLANNING_ROLES = TRACKS["assistance"].roles
TRANSIT_ROLES = TRACKS["assistance"].roles_for(Assistance.IN_TRANSIT)
#: Assistance states in which the return is planned (logistics, joint matrix).
PLANNING_STATES = frozenset({Assistance.RETURN_PREPARATION, Assistance.RETURN_ON_HOLD})
#: The longest a joint risk assessment stays valid (SOPS §6.3: a risk
#: assessment must be "fresh" to allow return [INF]).
MAX_VALIDITY_DAYS = 90
#: Longest one-line text (an organisation, a function).
MAX_LINE_CHARS = 200


def invalid(message: str, field: str, **details: object) -> CaseInvalidInput:
    return CaseInvalidInput(message, details={"field": field, **details})


def clean_line(
    value: str, *, field: str, required: bool = False, message: str = ""
) -> str:
    text = clean_text(value or "", field=field, max_length=MAX_LINE_CHARS)
    text = text if has_visible_text(text) else ""
    if required and not text:
        raise invalid(message or _("This field is required."), field)
    return text


def seal_json(case: Case, payload: dict[str, str], context: bytes) -> bytes | None:
    if not any(payload.values()):
        return None
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return Sealer(case).seal(text, context=context)


def lock_for(actor: User, case_id: UUID, roles: frozenset[str]) -> Case:
    case, access = lock_case(actor=actor, case_id=case_id)
    require_open(case)
    require_roles(access, roles)
    require_live_person(case)
    return case


def require_planning(case: Case) -> None:
    if case.assistance not in PLANNING_STATES:
        raise TransitionNotAllowed(
            _("A return is planned once its preparation has started (SOP 4)."),
            details={"reason": "not_in_return_preparation", "from": case.assistance},
        )


def record_event(case: Case, actor: User | None, kind: str, code: str = "") -> None:
    record_case_event(
        case=case,
        actor=actor,
        kind=kind,
        code=code,
        visibility=Visibility.ASSISTANCE_ONLY,
    )
