"""Who may do what in data protection (erasure, subject-access export).

* Request an erasure, export a person's data: the case manager on the case team
  (through the team, not through node policy), or the data-protection officer
  (:attr:`Role.AUDITOR`) for any case.
* Confirm or cancel an erasure: the data-protection officer or the node
  administrator, never the person who requested it (four eyes). The requester
  may withdraw (cancel) their own request.

The data-protection officer sees no case content in the case pages
(:mod:`trm.cases.access`); these functions grant them only the data-protection
operations, each of which is audited.
"""

from __future__ import annotations

from trm.accounts.models import Role, User
from trm.cases.access import case_access
from trm.cases.models import Case

DPO_ROLES = frozenset({Role.AUDITOR})
DECIDING_ROLES = frozenset({Role.AUDITOR, Role.NODE_ADMINISTRATOR})


def is_dpo(user: User) -> bool:
    """Return True if ``user`` is an active data-protection officer (auditor)."""
    return bool(user.is_active and user.is_authenticated and user.has_role(*DPO_ROLES))


def may_decide(user: User) -> bool:
    """Return True if ``user`` may confirm or cancel erasure requests."""
    return bool(
        user.is_active and user.is_authenticated and user.has_role(*DECIDING_ROLES)
    )


def is_case_manager_on_team(user: User, case: Case) -> bool:
    """Return True if ``user`` is a case manager on the case team of ``case``."""
    access = case_access(user, case)
    return (
        access is not None
        and not access.via_policy
        and Role.CASE_MANAGER in access.roles
    )


def knows_case(user: User, case: Case) -> bool:
    """Return True if ``user`` may know that ``case`` exists (else: 404)."""
    return is_dpo(user) or case_access(user, case) is not None


def may_request_erasure(user: User, case: Case) -> bool:
    """Return True if ``user`` may ask for the erasure of the case's person."""
    return is_dpo(user) or is_case_manager_on_team(user, case)


def may_export(user: User, case: Case) -> bool:
    """Return True if ``user`` may export everything held about the case's person."""
    return is_dpo(user) or is_case_manager_on_team(user, case)
