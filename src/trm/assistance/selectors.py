"""What the assistance pathway shows: the state, and the moves a user may make now.

No personal data is read here: the state is a clear field of the case, the
guards look at consent rows (purpose, validity, who gave it) and at whether a
needs assessment exists. The page and the API show the same list.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_stubs_ext import StrOrPromise

from trm.accounts.models import Role
from trm.assistance import services
from trm.cases.access import CaseAccess
from trm.cases.models import Case
from trm.cases.tracks import TRACKS, Assistance
from trm.consent.errors import ConsentMissing


@dataclass(frozen=True)
class Move:
    """One move of the pathway as the case page offers it.

    Attributes:
        name: the URL name and API operation (``start``, ``decline``,
            ``long_term``, ``return_preparation``, ``close``).
        label: the action's words.
        target: the assistance state it leads to.
        enabled: False when a guard blocks it now; ``explanation`` says why.
    """

    name: str
    label: StrOrPromise
    target: str
    enabled: bool = True
    explanation: str = ""


MOVES: dict[str, tuple[StrOrPromise, str]] = {
    "start": (gettext_lazy("Start first assistance"), Assistance.FIRST_ASSISTANCE),
    "decline": (
        gettext_lazy("Record that the person declines assistance"),
        Assistance.DECLINED,
    ),
    "long_term": (gettext_lazy("Start long-term assistance"), Assistance.LONG_TERM),
    "return_preparation": (
        gettext_lazy("Start preparing a voluntary return"),
        Assistance.RETURN_PREPARATION,
    ),
    "close": (gettext_lazy("Close assistance"), Assistance.CLOSED),
}


def may_move(access: CaseAccess) -> bool:
    """Return True if the user's roles on the case team move the pathway."""
    return not access.via_policy and bool(access.roles & services.PATHWAY_ROLES)


def _blocked(name: str, case: Case) -> str:
    try:
        if name == "long_term":
            from trm.assessments.selectors import has_needs_assessment

            if not has_needs_assessment(case):
                return _("Record a needs assessment first.")
            services.require_assistance_consent(case)
        if name == "return_preparation":
            services.require_return_consent(case)
    except ConsentMissing as exc:
        return exc.message
    return ""


def moves_for(case: Case, access: CaseAccess) -> list[Move]:
    """Return the pathway moves possible from the case's state for this user,
    each enabled or with the reason a guard blocks it. Empty for a closed case,
    an erased person or a user who may not move the pathway."""
    if case.is_closed or case.person.is_erased or not may_move(access):
        return []
    track = TRACKS["assistance"]
    moves = []
    for name, (label, target) in MOVES.items():
        if not track.allowed(case.assistance, target):
            continue
        explanation = _blocked(name, case)
        moves.append(Move(name, label, target, not explanation, explanation))
    return moves


def state_label(case: Case) -> str:
    """Return the human label of the case's assistance state."""
    return str(Assistance(case.assistance).label)


def pathway_roles_text() -> str:
    """Return the roles that move the pathway, for messages."""
    return ", ".join(str(Role(r).label) for r in sorted(services.PATHWAY_ROLES))
