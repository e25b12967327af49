"""Who may see a case and which parts of it (ARCHITECTURE §4 "need to know").

A user sees a case only

* as a member of its case team (their role on the team decides what they see), or
* through a role the node's policy grants: a national contact point sees every
  case with a transnational link.

Auditors and node administrators see no case content. A prosecutor on the team
sees the case, the person's identity and legal-track notes, never notes marked
"assistance only". Callers turn "no access" into the same 404 as "no such case".
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from trm.accounts.models import Role, User
from trm.cases.models import Case, CaseTeamMember, Visibility
from trm.cases.tracks import TransnationalLink

#: Roles whose work is the legal track only (SOPS §3: unconditional assistance;
#: issue "SOP 5": the prosecutor never sees assistance notes unless shared).
LEGAL_TRACK_ROLES = frozenset({Role.PROSECUTOR})
#: Case roles that see legal-track notes and events: the prosecutor, the case
#: manager, and the competent authority (often the police), which informs the
#: person of their rights and records protection measures, charges and
#: hearings (:mod:`trm.proceedings.common`) and must see what it recorded.
LEGAL_READERS = frozenset(
    {Role.PROSECUTOR, Role.CASE_MANAGER, Role.COMPETENT_AUTHORITY}
)
#: Transnational states in which the national contact point sees the case.
NCP_VISIBLE_LINKS = frozenset(
    s for s in TransnationalLink.values if s != TransnationalLink.NO_LINK
)
#: Roles that may open a case.
OPENING_ROLES = frozenset(
    {
        Role.FIRST_CONTACT_POINT,
        Role.CASE_MANAGER,
        Role.COMPETENT_AUTHORITY,
        Role.SERVICE_PROVIDER,
        Role.NATIONAL_CONTACT_POINT,
    }
)
#: Roles that work on cases (may be put on a case team). Auditors and node
#: administrators see no case content.
CASE_ROLES = frozenset(Role.values) - {Role.AUDITOR, Role.NODE_ADMINISTRATOR}
#: Case roles that may manage the team and close the case.
MANAGING_ROLES = frozenset({Role.CASE_MANAGER, Role.NATIONAL_CONTACT_POINT})


@dataclass(frozen=True)
class CaseAccess:
    """What one user may do on one case.

    Attributes:
        roles: the user's roles on this case (team role, or policy role).
        via_policy: True when access comes from node policy, not the team.
    """

    roles: frozenset[str]
    via_policy: bool = False

    @property
    def legal_only(self) -> bool:
        """True when every role of the user on this case is a legal-track role."""
        return bool(self.roles) and self.roles <= LEGAL_TRACK_ROLES

    def sees(self, visibility: str) -> bool:
        """Return True if a note or event with ``visibility`` is visible."""
        if visibility == Visibility.ASSISTANCE_ONLY:
            return not self.legal_only
        if visibility == Visibility.LEGAL:
            return bool(self.roles & LEGAL_READERS)
        return True

    def visible_levels(self) -> list[str]:
        return [v for v in Visibility.values if self.sees(v)]

    @property
    def manages(self) -> bool:
        return bool(self.roles & MANAGING_ROLES)


def may_hand_over(access: CaseAccess, case: Case) -> bool:
    """Return True if a team member may add the first case manager to ``case``.

    A case opened by a first contact point has no case manager; any member of
    its team (not access through policy) hands it over by adding one (SOP 1).
    """
    return (
        not access.via_policy
        and bool(access.roles & CASE_ROLES)
        and not CaseTeamMember.objects.filter(
            case=case, role=Role.CASE_MANAGER
        ).exists()
    )


def _team_roles(user: User, case: Case) -> frozenset[str]:
    """Return the roles ``user`` holds on ``case``'s team, read once per case
    object: a page asks for the same user's access in every section it renders.
    (A service that changes the team works on its own locked copy of the case.)
    """
    cached: dict[int, frozenset[str]] = case.__dict__.setdefault(
        "_team_roles_by_user", {}
    )
    if user.pk not in cached:
        cached[user.pk] = frozenset(
            CaseTeamMember.objects.filter(case=case, user=user).values_list(
                "role", flat=True
            )
        )
    return cached[user.pk]


def case_access(user: User, case: Case) -> CaseAccess | None:
    """Return the user's access to ``case``, or None when they may not see it."""
    if not user.is_active or not user.is_authenticated:
        return None
    # A team role counts only while the user still holds it: a user whose role
    # was withdrawn keeps no power on the cases they worked on in it.
    team_roles = _team_roles(user, case) & frozenset(user.role_codes())
    if team_roles:
        return CaseAccess(roles=team_roles)
    if (
        user.has_role(Role.NATIONAL_CONTACT_POINT)
        and case.transnational in NCP_VISIBLE_LINKS
    ):
        return CaseAccess(
            roles=frozenset({Role.NATIONAL_CONTACT_POINT}), via_policy=True
        )
    return None


def visible_cases_filter(user: User) -> Q:
    """Return a filter selecting exactly the cases :func:`case_access` allows."""
    if not user.is_active or not user.is_authenticated:
        return Q(pk__in=[])
    # An IN list of the user's cases (driven by the team index), not a correlated
    # EXISTS over every case: a case worker's list costs their cases, not the node's.
    condition = Q(
        pk__in=CaseTeamMember.objects.filter(
            user=user, role__in=sorted(user.role_codes())
        ).values("case_id")
    )
    if user.has_role(Role.NATIONAL_CONTACT_POINT):
        condition |= Q(transnational__in=NCP_VISIBLE_LINKS)
    return condition
