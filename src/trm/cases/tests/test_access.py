"""The access funnel: who sees a case and which parts of it."""

import pytest

from trm.accounts.models import Role
from trm.accounts.tests.factories import UserFactory
from trm.cases.access import CaseAccess, case_access, visible_cases_filter
from trm.cases.models import Case, Visibility
from trm.cases.tests.factories import open_case, set_states, team_member
from trm.cases.tracks import TransnationalLink

# --- what a role on the case sees (no database) ---------------------------------------


@pytest.mark.parametrize(
    ("roles", "team", "assistance_only", "legal"),
    [
        ({Role.CASE_MANAGER}, True, True, True),
        ({Role.PROSECUTOR}, True, False, True),
        ({Role.SERVICE_PROVIDER}, True, True, False),
        ({Role.GUARDIAN}, True, True, False),
        ({Role.NATIONAL_CONTACT_POINT}, True, True, False),
        ({Role.COMPETENT_AUTHORITY}, True, True, True),
        ({Role.PROSECUTOR, Role.CASE_MANAGER}, True, True, True),
        ({Role.PROSECUTOR, Role.SERVICE_PROVIDER}, True, True, True),
    ],
)
def test_visibility_of_notes_by_role(roles, team, assistance_only, legal):
    access = CaseAccess(roles=frozenset(roles))

    assert access.sees(Visibility.TEAM) is team
    assert access.sees(Visibility.ASSISTANCE_ONLY) is assistance_only
    assert access.sees(Visibility.LEGAL) is legal


def test_prosecutor_alone_is_legal_track_only():
    assert CaseAccess(roles=frozenset({Role.PROSECUTOR})).legal_only
    assert not CaseAccess(roles=frozenset({Role.PROSECUTOR, Role.GUARDIAN})).legal_only
    assert not CaseAccess(roles=frozenset()).legal_only


def test_visible_levels_never_include_assistance_only_for_the_prosecutor():
    levels = CaseAccess(roles=frozenset({Role.PROSECUTOR})).visible_levels()

    assert Visibility.ASSISTANCE_ONLY not in levels
    assert set(levels) == {Visibility.TEAM, Visibility.LEGAL}


@pytest.mark.parametrize(
    ("role", "manages"),
    [(r, r in {Role.CASE_MANAGER, Role.NATIONAL_CONTACT_POINT}) for r in Role.values],
)
def test_only_case_manager_and_ncp_manage(role, manages):
    assert CaseAccess(roles=frozenset({role})).manages is manages


# --- the access matrix (database) --------------------------------------------------


@pytest.fixture
def cases(caseworker_a):
    """A case without and one with a link abroad, both opened at org A."""
    local = open_case(caseworker_a)
    linked = set_states(
        open_case(caseworker_a), transnational=TransnationalLink.NCP_NOTIFIED
    )
    return {"local": local, "linked": linked}


@pytest.fixture
def users(org_a, org_b, caseworker_a, caseworker_b, auditor, admin_user, cases):
    prosecutor = team_member(cases["local"], Role.PROSECUTOR)
    return {
        "caseworker_a": caseworker_a,
        "caseworker_b": caseworker_b,
        "auditor": auditor,
        "admin": admin_user,
        "prosecutor_on_local": prosecutor,
        "ncp_off_team": UserFactory(
            organisation=org_b, roles=[Role.NATIONAL_CONTACT_POINT]
        ),
        "ca_off_team": UserFactory(
            organisation=org_a, roles=[Role.COMPETENT_AUTHORITY]
        ),
    }


#: user → (sees local case, sees linked case)
MATRIX = {
    "caseworker_a": (True, True),
    "caseworker_b": (False, False),
    "auditor": (False, False),
    "admin": (False, False),
    "prosecutor_on_local": (True, False),
    "ncp_off_team": (False, True),
    "ca_off_team": (False, False),
}


@pytest.mark.django_db
@pytest.mark.parametrize("who", MATRIX)
def test_access_matrix(who, users, cases):
    user = users[who]
    expected = dict(zip(("local", "linked"), MATRIX[who], strict=True))

    seen = {name: case_access(user, case) is not None for name, case in cases.items()}

    assert seen == expected


@pytest.mark.django_db
@pytest.mark.parametrize("who", MATRIX)
def test_visible_cases_filter_agrees_with_case_access(who, users, cases):
    user = users[who]

    listed = set(
        Case.objects.filter(visible_cases_filter(user)).values_list("pk", flat=True)
    )

    assert listed == {c.pk for c in cases.values() if case_access(user, c)}


@pytest.mark.django_db
def test_ncp_sees_a_linked_case_through_policy(users, cases):
    access = case_access(users["ncp_off_team"], cases["linked"])

    assert access is not None
    assert access.via_policy
    assert access.roles == {Role.NATIONAL_CONTACT_POINT}


@pytest.mark.django_db
@pytest.mark.parametrize("link", TransnationalLink.values)
def test_ncp_sees_every_case_with_a_link_abroad_in_any_state(link, users, cases):
    case = set_states(cases["local"], transnational=link)

    visible = case_access(users["ncp_off_team"], case) is not None

    assert visible is (link != TransnationalLink.NO_LINK)


@pytest.mark.django_db
def test_team_member_sees_through_the_team_not_policy(users, cases):
    access = case_access(users["prosecutor_on_local"], cases["local"])

    assert access == CaseAccess(roles=frozenset({Role.PROSECUTOR}))


@pytest.mark.django_db
def test_deactivated_team_member_sees_nothing(caseworker_a, cases):
    caseworker_a.is_active = False
    caseworker_a.save(update_fields=["is_active"])

    assert case_access(caseworker_a, cases["local"]) is None
    assert not Case.objects.filter(visible_cases_filter(caseworker_a)).exists()
