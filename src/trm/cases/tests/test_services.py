"""The writers of cases: refusals, numbering, child presumption, tracks, team, notes."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from trm.accounts.models import Role
from trm.accounts.node_users import node_user
from trm.accounts.tests.factories import OrganisationFactory, UserFactory
from trm.audit.models import AuditEntry
from trm.cases import selectors, services
from trm.cases.models import (
    AgeBand,
    Case,
    CaseEvent,
    CaseNote,
    CaseNumberCounter,
    CaseTeamMember,
    ClosureReason,
    Person,
    PersonIndex,
    Visibility,
)
from trm.cases.tests.factories import (
    adult_birth_date,
    fictional_identity,
    open_case,
    set_states,
    team_member,
)
from trm.cases.tracks import (
    TRACKS,
    Assistance,
    ChildProtection,
    Identification,
    Legal,
)
from trm.common.errors import DomainError
from trm.common.htcds import CaseStatus
from trm.dataprotection import crypto
from trm.dataprotection.models import DataKey
from trm.dataprotection.router import KEYSTORE

pytestmark = pytest.mark.django_db

#: Roles that can be on a case team (auditors and administrators never are).
TEAM_ROLES = sorted(set(Role.values) - {Role.AUDITOR, Role.NODE_ADMINISTRATOR})


def _snapshot() -> dict[str, Any]:
    """Everything a refused service could have written."""
    counts: dict[str, Any] = {
        model.__name__: model.objects.count()
        for model in (
            Person,
            PersonIndex,
            Case,
            CaseTeamMember,
            CaseEvent,
            CaseNote,
            CaseNumberCounter,
            AuditEntry,
        )
    }
    counts["DataKey"] = DataKey.objects.using(KEYSTORE).count()
    counts["cases"] = sorted(
        sorted(((k, str(v)) for k, v in row.items()), key=str)
        for row in Case.objects.values()
    )
    counts["persons"] = sorted(
        str(p) for p in Person.objects.values_list("pk", "sealed_identity", "erased_at")
    )
    return counts


def _raw(value: bytes | memoryview | None) -> bytes:
    assert value is not None
    return bytes(value)


def _refused(code: str, action: Callable[[], object]) -> DomainError:
    before = _snapshot()
    with pytest.raises(DomainError) as excinfo:
        action()
    assert excinfo.value.code == code, excinfo.value
    assert _snapshot() == before
    return excinfo.value


def _erase(case: Case) -> None:
    """Crypto-shred the case's person (test set-up; erasure has its own service)."""
    crypto.destroy_data_key(case.person.data_key_id)
    Person.objects.filter(pk=case.person_id).update(
        erased_at=timezone.now(), sealed_identity=None
    )
    case.refresh_from_db()
    case.person.refresh_from_db()


@dataclass
class World:
    cm: Any
    case: Case
    sp: Any
    prosecutor: Any
    outsider: Any
    auditor: Any


@pytest.fixture
def world(caseworker_a, caseworker_b, auditor) -> World:
    case = open_case(caseworker_a)
    return World(
        cm=caseworker_a,
        case=case,
        sp=team_member(case, Role.SERVICE_PROVIDER),
        prosecutor=team_member(case, Role.PROSECUTOR),
        outsider=caseworker_b,
        auditor=auditor,
    )


# --- every refusal has its code and writes nothing ------------------------------------


def _open(actor: Any, **kw: Any) -> Callable[[], object]:
    return lambda: services.case_open(
        actor=actor, identity=kw.pop("identity", fictional_identity()), **kw
    )


def _inactive_cm(w: World) -> Any:
    return UserFactory(
        organisation=w.cm.organisation, roles=[Role.CASE_MANAGER], is_active=False
    )


def _peer_org() -> Any:
    return OrganisationFactory(
        name="Demo National Coordination Office Serbia (fictional)",
        home_node="demo-rs",
        remote_id=uuid.uuid4(),
    )


def _peer_ncp_node_user() -> Any:
    return node_user(organisation=_peer_org(), role=Role.NATIONAL_CONTACT_POINT)


def _peer_org_cm() -> Any:
    return UserFactory(organisation=_peer_org(), roles=[Role.CASE_MANAGER])


def _closed(w: World) -> None:
    services.case_close(actor=w.cm, case_id=w.case.pk, reason=ClosureReason.GOALS_MET)


@dataclass(frozen=True)
class Refusal:
    code: str
    act: Callable[[World], Callable[[], object]]
    setup: Callable[[World], object] | None = None


REFUSALS: dict[str, Refusal] = {
    # opening
    "open by auditor": Refusal("cases.role_required", lambda w: _open(w.auditor)),
    "open by inactive": Refusal(
        "cases.role_required", lambda w: _open(_inactive_cm(w))
    ),
    "open with future birth date": Refusal(
        "cases.invalid_input",
        lambda w: _open(w.cm, identity=fictional_identity(birth_date=date(2999, 1, 1))),
    ),
    "open with unknown gender": Refusal(
        "cases.invalid_input", lambda w: _open(w.cm, gender="Martian")
    ),
    "open with unknown age band": Refusal(
        "cases.invalid_input", lambda w: _open(w.cm, age_band="0--99")
    ),
    "open with unknown country": Refusal(
        "cases.invalid_input", lambda w: _open(w.cm, citizenships=["RO", "XX"])
    ),
    "open with unknown language": Refusal(
        "cases.invalid_input", lambda w: _open(w.cm, languages=["xx"])
    ),
    "open with inactive lead organisation": Refusal(
        "cases.invalid_input",
        lambda w: _open(
            w.cm,
            lead_organisation_id=OrganisationFactory(
                name="Fictional Closed Org", is_active=False
            ).pk,
        ),
    ),
    "open with a taken number": Refusal(
        "cases.number_taken", lambda w: _open(w.cm, number=w.case.number)
    ),
    "open with a taken number padded": Refusal(
        "cases.number_taken", lambda w: _open(w.cm, number=f"  {w.case.number} ")
    ),
    # identity
    "identity of unseen case": Refusal(
        "cases.not_found",
        lambda w: (
            lambda: services.person_update_identity(
                actor=w.outsider, case_id=w.case.pk, identity=fictional_identity()
            )
        ),
    ),
    "identity by prosecutor": Refusal(
        "cases.role_required",
        lambda w: (
            lambda: services.person_update_identity(
                actor=w.prosecutor, case_id=w.case.pk, identity=fictional_identity()
            )
        ),
    ),
    "identity of erased person": Refusal(
        "cases.person_erased",
        lambda w: (
            lambda: services.person_update_identity(
                actor=w.cm, case_id=w.case.pk, identity=fictional_identity()
            )
        ),
        setup=lambda w: _erase(w.case),
    ),
    # moves
    "move on unseen case": Refusal(
        "cases.not_found",
        lambda w: (
            lambda: services.case_move(
                actor=w.outsider,
                case_id=w.case.pk,
                track="transnational",
                target="ncp_notified",
            )
        ),
    ),
    "move unknown track": Refusal(
        "cases.invalid_input",
        lambda w: (
            lambda: services.case_move(
                actor=w.cm, case_id=w.case.pk, track="weather", target="sunny"
            )
        ),
    ),
    "move to unknown state": Refusal(
        "cases.invalid_input",
        lambda w: (
            lambda: services.case_move(
                actor=w.cm, case_id=w.case.pk, track="assistance", target="sunny"
            )
        ),
    ),
    "move not allowed": Refusal(
        "cases.transition_not_allowed",
        lambda w: (
            lambda: services.case_move(
                actor=w.cm,
                case_id=w.case.pk,
                track="assistance",
                target=Assistance.FOLLOW_UP,
            )
        ),
    ),
    "move by wrong role": Refusal(
        "cases.role_required",
        lambda w: (
            lambda: services.case_move(
                actor=w.cm,
                case_id=w.case.pk,
                track="identification",
                target=Identification.IDENTIFIED,
            )
        ),
        setup=lambda w: set_states(w.case, identification=Identification.PRESUMED),
    ),
    "move on closed case": Refusal(
        "cases.transition_not_allowed",
        lambda w: (
            lambda: services.case_move(
                actor=w.cm,
                case_id=w.case.pk,
                track="legal",
                target=Legal.INFORMED_OF_RIGHTS,
            )
        ),
        setup=_closed,
    ),
    # closing
    "close unseen case": Refusal(
        "cases.not_found",
        lambda w: (
            lambda: services.case_close(
                actor=w.outsider, case_id=w.case.pk, reason=ClosureReason.GOALS_MET
            )
        ),
    ),
    "close by service provider": Refusal(
        "cases.role_required",
        lambda w: (
            lambda: services.case_close(
                actor=w.sp, case_id=w.case.pk, reason=ClosureReason.GOALS_MET
            )
        ),
    ),
    "close with unknown reason": Refusal(
        "cases.invalid_input",
        lambda w: (
            lambda: services.case_close(actor=w.cm, case_id=w.case.pk, reason="bored")
        ),
    ),
    "close twice": Refusal(
        "cases.transition_not_allowed",
        lambda w: (
            lambda: services.case_close(
                actor=w.cm, case_id=w.case.pk, reason=ClosureReason.OTHER
            )
        ),
        setup=_closed,
    ),
    # team
    "team add on unseen case": Refusal(
        "cases.not_found",
        lambda w: (
            lambda: services.case_team_add(
                actor=w.outsider,
                case_id=w.case.pk,
                user_id=w.auditor.pk,
                role="auditor",
            )
        ),
    ),
    "team add by service provider": Refusal(
        "cases.role_required",
        lambda w: (
            lambda: services.case_team_add(
                actor=w.sp,
                case_id=w.case.pk,
                user_id=w.outsider.pk,
                role=Role.CASE_MANAGER,
            )
        ),
    ),
    "team add in a role not held": Refusal(
        "cases.invalid_input",
        lambda w: (
            lambda: services.case_team_add(
                actor=w.cm, case_id=w.case.pk, user_id=w.outsider.pk, role=Role.GUARDIAN
            )
        ),
    ),
    "team add an auditor": Refusal(
        "cases.invalid_input",
        lambda w: (
            lambda: services.case_team_add(
                actor=w.cm, case_id=w.case.pk, user_id=w.auditor.pk, role=Role.AUDITOR
            )
        ),
    ),
    "team add a node administrator": Refusal(
        "cases.invalid_input",
        lambda w: (
            lambda: services.case_team_add(
                actor=w.cm,
                case_id=w.case.pk,
                user_id=UserFactory(roles=[Role.NODE_ADMINISTRATOR]).pk,
                role=Role.NODE_ADMINISTRATOR,
            )
        ),
    ),
    "team add by service provider while a case manager is on the team": Refusal(
        "cases.role_required",
        lambda w: (
            lambda: services.case_team_add(
                actor=w.sp,
                case_id=w.case.pk,
                user_id=UserFactory(roles=[Role.CASE_MANAGER]).pk,
                role=Role.CASE_MANAGER,
            )
        ),
    ),
    "team add inactive user": Refusal(
        "cases.invalid_input",
        lambda w: (
            lambda: services.case_team_add(
                actor=w.cm,
                case_id=w.case.pk,
                user_id=_inactive_cm(w).pk,
                role=Role.CASE_MANAGER,
            )
        ),
    ),
    "team add twice": Refusal(
        "cases.invalid_input",
        lambda w: (
            lambda: services.case_team_add(
                actor=w.cm,
                case_id=w.case.pk,
                user_id=w.sp.pk,
                role=Role.SERVICE_PROVIDER,
            )
        ),
    ),
    "team add a node user": Refusal(
        "cases.not_a_local_user",
        lambda w: (
            lambda: services.case_team_add(
                actor=w.cm,
                case_id=w.case.pk,
                user_id=_peer_ncp_node_user().pk,
                role=Role.NATIONAL_CONTACT_POINT,
            )
        ),
    ),
    "team add a peer organisation's user": Refusal(
        "cases.not_a_local_user",
        lambda w: (
            lambda: services.case_team_add(
                actor=w.cm,
                case_id=w.case.pk,
                user_id=_peer_org_cm().pk,
                role=Role.CASE_MANAGER,
            )
        ),
    ),
    "team remove the last case manager": Refusal(
        "cases.invalid_input",
        lambda w: (
            lambda: services.case_team_remove(
                actor=w.cm, case_id=w.case.pk, user_id=w.cm.pk
            )
        ),
    ),
    "team remove a non-member": Refusal(
        "cases.invalid_input",
        lambda w: (
            lambda: services.case_team_remove(
                actor=w.cm, case_id=w.case.pk, user_id=w.outsider.pk
            )
        ),
    ),
    "team remove by service provider": Refusal(
        "cases.role_required",
        lambda w: (
            lambda: services.case_team_remove(
                actor=w.sp, case_id=w.case.pk, user_id=w.prosecutor.pk
            )
        ),
    ),
    # notes
    "note on unseen case": Refusal(
        "cases.not_found",
        lambda w: (
            lambda: services.case_note_add(
                actor=w.outsider, case_id=w.case.pk, text="Fictional"
            )
        ),
    ),
    "note on no case": Refusal(
        "cases.not_found",
        lambda w: (
            lambda: services.case_note_add(
                actor=w.cm, case_id=uuid.uuid4(), text="Fictional"
            )
        ),
    ),
    "empty note": Refusal(
        "cases.invalid_input",
        lambda w: (
            lambda: services.case_note_add(actor=w.cm, case_id=w.case.pk, text="  \n ")
        ),
    ),
    "too long note": Refusal(
        "cases.invalid_input",
        lambda w: (
            lambda: services.case_note_add(
                actor=w.cm, case_id=w.case.pk, text="x" * (services.MAX_NOTE_CHARS + 1)
            )
        ),
    ),
    "note with unknown visibility": Refusal(
        "cases.invalid_input",
        lambda w: (
            lambda: services.case_note_add(
                actor=w.cm, case_id=w.case.pk, text="Fictional", visibility="public"
            )
        ),
    ),
    "assistance-only note by prosecutor": Refusal(
        "cases.invalid_input",
        lambda w: (
            lambda: services.case_note_add(
                actor=w.prosecutor,
                case_id=w.case.pk,
                text="Fictional",
                visibility=Visibility.ASSISTANCE_ONLY,
            )
        ),
    ),
    "legal note by service provider": Refusal(
        "cases.invalid_input",
        lambda w: (
            lambda: services.case_note_add(
                actor=w.sp,
                case_id=w.case.pk,
                text="Fictional",
                visibility=Visibility.LEGAL,
            )
        ),
    ),
    "note on erased person": Refusal(
        "cases.person_erased",
        lambda w: (
            lambda: services.case_note_add(
                actor=w.cm, case_id=w.case.pk, text="Fictional"
            )
        ),
        setup=lambda w: _erase(w.case),
    ),
}


@pytest.mark.parametrize("name", REFUSALS)
def test_refusal_has_a_stable_code_and_writes_nothing(name, world):
    refusal = REFUSALS[name]
    if refusal.setup is not None:
        refusal.setup(world)
    action = refusal.act(world)

    error = _refused(refusal.code, action)

    assert error.message


def test_refusal_messages_hold_no_personal_data(world):
    identity = fictional_identity(given_names="Zorvina", family_names="Quellmar")
    error = _refused(
        "cases.invalid_input",
        lambda: services.case_open(actor=world.cm, identity=identity, gender="X"),
    )

    assert "Zorvina" not in f"{error.message} {error.details}"
    assert "Quellmar" not in f"{error.message} {error.details}"


# --- opening: numbers ----------------------------------------------------------------


def test_generated_case_numbers_are_country_year_and_sequence(caseworker_a):
    year = timezone.now().year

    numbers = [open_case(caseworker_a).number for _ in range(3)]

    assert numbers == [f"BG-{year}-{n:05d}" for n in (1, 2, 3)]
    assert all(re.fullmatch(r"[A-Z]{2}-\d{4}-\d{5}", n) for n in numbers)


def test_case_numbers_restart_each_year(caseworker_a):
    open_case(caseworker_a)

    with time_machine.travel(datetime(2031, 1, 1, 9, tzinfo=UTC)):
        case = open_case(caseworker_a)

    assert case.number == "BG-2031-00001"


def test_explicit_case_number_is_kept(caseworker_a):
    case = open_case(caseworker_a, number="  PAPER-FILE-7 ")

    assert case.number == "PAPER-FILE-7"
    assert not CaseNumberCounter.objects.exists()


def test_explicit_number_in_the_generated_pattern_is_skipped_not_reused(
    caseworker_a,
):
    year = timezone.now().year
    open_case(caseworker_a, number=f"BG-{year}-00001")

    generated = [open_case(caseworker_a).number for _ in range(2)]

    assert generated == [f"BG-{year}-00002", f"BG-{year}-00003"]


# --- opening: the person --------------------------------------------------------------


def test_opening_puts_the_actor_on_the_team_and_records_it(caseworker_a):
    audit_before = AuditEntry.objects.count()

    case = open_case(caseworker_a)

    assert list(case.team.values_list("user_id", "role")) == [
        (caseworker_a.pk, Role.CASE_MANAGER)
    ]
    assert list(case.events.values_list("kind", flat=True)) == ["case.opened"]
    assert list(
        AuditEntry.objects.filter(seq__gt=audit_before).values_list("action", flat=True)
    ) == ["cases.case_opened"]
    assert case.lead_organisation == caseworker_a.organisation


def test_team_add_accepts_a_local_user_and_never_a_peer_nodes_user(world):
    node = _peer_ncp_node_user()
    peer_cm = _peer_org_cm()
    local = UserFactory(roles=[Role.CASE_MANAGER])

    for member, role in (
        (node, Role.NATIONAL_CONTACT_POINT),
        (peer_cm, Role.CASE_MANAGER),
    ):
        with pytest.raises(DomainError, match="Only people working on this node"):
            services.case_team_add(
                actor=world.cm, case_id=world.case.pk, user_id=member.pk, role=role
            )
    entry = services.case_team_add(
        actor=world.cm, case_id=world.case.pk, user_id=local.pk, role=Role.CASE_MANAGER
    )

    assert entry.user == local
    assert not world.case.team.filter(user__in=[node, peer_cm]).exists()


def test_team_candidates_leave_out_node_users_and_peer_organisations_users(world):
    node = _peer_ncp_node_user()
    peer_cm = _peer_org_cm()
    local = UserFactory(roles=[Role.NATIONAL_CONTACT_POINT])

    offered = {
        c.user
        for c in selectors.case_team_candidates_for_user(user=world.cm, case=world.case)
    }

    assert local in offered
    assert node not in offered
    assert peer_cm not in offered


def test_adult_birth_date_gives_an_adult_band_and_no_child_track(caseworker_a):
    case = open_case(caseworker_a, birth_date=adult_birth_date(30))

    assert case.person.age_band == AgeBand.AGE_30_38
    assert not case.person.presumed_child
    assert not case.person.age_uncertain
    assert case.child_protection == ChildProtection.NOT_APPLICABLE


def _child_track_event(case: Case) -> list[tuple[str, str, str]]:
    return list(
        case.events.filter(track="child_protection").values_list(
            "kind", "from_state", "to_state"
        )
    )


def test_child_birth_date_starts_with_a_guardian_requested(caseworker_a):
    case = open_case(caseworker_a, birth_date=adult_birth_date(15))

    assert case.person.age_band == AgeBand.AGE_9_17
    assert case.person.presumed_child
    # SOPS §6.5 rule 3: presumption of minority.
    assert case.child_protection == ChildProtection.GUARDIAN_REQUESTED
    assert _child_track_event(case) == [
        (
            "case.track_moved",
            ChildProtection.NOT_APPLICABLE,
            ChildProtection.GUARDIAN_REQUESTED,
        )
    ]


def test_possible_child_of_unknown_age_is_presumed_a_child(caseworker_a):
    case = open_case(caseworker_a, birth_date=None, may_be_child=True)

    assert case.person.age_band == AgeBand.UNKNOWN
    assert case.person.presumed_child
    assert case.child_protection == ChildProtection.GUARDIAN_REQUESTED


def test_possible_child_with_adult_papers_is_still_presumed_a_child(caseworker_a):
    case = open_case(caseworker_a, birth_date=adult_birth_date(19), may_be_child=True)

    assert case.person.presumed_child
    assert case.child_protection == ChildProtection.GUARDIAN_REQUESTED


def test_child_band_given_without_birth_date_is_presumed_a_child(caseworker_a):
    case = open_case(caseworker_a, birth_date=None, age_band=AgeBand.AGE_0_8)

    assert case.person.presumed_child
    assert case.child_protection == ChildProtection.GUARDIAN_REQUESTED


def test_estimated_birth_date_marks_the_age_uncertain(caseworker_a):
    case = open_case(
        caseworker_a, birth_date=adult_birth_date(25), birth_date_is_estimate=True
    )

    assert case.person.age_uncertain
    assert case.person.age_band == AgeBand.AGE_24_26


def test_codes_are_normalised_and_deduplicated(caseworker_a):
    case = open_case(
        caseworker_a, citizenships=["ro", " RO", "md"], languages=["RO", "ron", "bg"]
    )

    assert case.person.citizenships == ["RO", "MD"]
    assert case.person.languages == ["ro", "ron", "bg"]


def test_identity_is_sealed_and_indexed_without_plaintext(caseworker_a):
    case = open_case(caseworker_a, given_names="Zorvina", family_names="Quellmar")

    person = Person.objects.get(pk=case.person_id)
    assert b"Zorvina" not in _raw(person.sealed_identity)
    digests = PersonIndex.objects.filter(person=person).values_list("kind", flat=True)
    assert set(digests) == {
        PersonIndex.Kind.NAME,
        PersonIndex.Kind.NAME_BIRTH_YEAR,
        PersonIndex.Kind.DOCUMENT,
    }


def test_identity_update_reseals_and_reindexes(world):
    services.person_update_identity(
        actor=world.cm,
        case_id=world.case.pk,
        identity=fictional_identity(given_names="Velmira", family_names="Dostrav"),
    )

    assert list(selectors.case_search(user=world.cm, name="Dostrav Velmira")) == [
        world.case
    ]
    case, _access = selectors.case_get_for_user(user=world.cm, case_id=world.case.pk)
    identity = selectors.person_identity_for_user(user=world.cm, case=case)
    assert identity is not None
    assert identity.given_names == "Velmira"
    assert world.case.events.filter(kind="person.identity_updated").exists()


# --- tracks: generated from tracks.TRACKS ---------------------------------------------


def _mover(case: Case, roles: frozenset[str]) -> Any:
    return team_member(case, sorted(roles)[0])


ALLOWED = [
    pytest.param(track, current, target, id=f"{track}:{current}->{target}")
    for track, definition in TRACKS.items()
    for current, targets in definition.transitions.items()
    for target in sorted(targets)
]


@pytest.mark.parametrize(("track", "current", "target"), ALLOWED)
def test_every_allowed_move_succeeds_for_a_permitted_role(
    track, current, target, caseworker_a
):
    definition = TRACKS[track]
    case = set_states(open_case(caseworker_a), **{track: current})
    actor = _mover(case, definition.roles_for(target))
    if target in definition.guarded:
        # Its own service makes this move (identification, reflection, child
        # protection): the generic move refuses it and writes nothing.
        error = _refused(
            "cases.transition_not_allowed",
            partial(
                services.case_move,
                actor=actor,
                case_id=case.pk,
                track=track,
                target=target,
            ),
        )
        assert error.details["reason"] == "dedicated_service"
        return

    moved = services.case_move(
        actor=actor, case_id=case.pk, track=track, target=target, reason="Fictional"
    )

    assert moved.state_of(track) == target
    case.refresh_from_db()
    assert case.state_of(track) == target
    event = case.events.get(kind="case.track_moved", track=track)
    assert (event.from_state, event.to_state, event.actor) == (current, target, actor)
    expected = services.TRACK_VISIBILITY.get(track, Visibility.TEAM)
    assert event.visibility == expected
    assert AuditEntry.objects.filter(
        action="cases.track_moved", target_id=str(case.pk)
    ).exists()


REFUSED_FROM = [
    pytest.param(track, current, id=f"{track}:{current}")
    for track, definition in TRACKS.items()
    for current in definition.states.values
]


@pytest.mark.parametrize(("track", "current"), REFUSED_FROM)
def test_every_move_outside_the_track_data_is_refused(track, current, caseworker_a):
    definition = TRACKS[track]
    case = set_states(open_case(caseworker_a), **{track: current})
    for role in TEAM_ROLES:
        if role != Role.CASE_MANAGER:
            team_member(case, role)
    allowed = definition.transitions.get(current, frozenset())
    refused = [t for t in definition.states.values if t not in allowed]

    for target in refused:
        error = _refused(
            "cases.transition_not_allowed",
            partial(
                services.case_move,
                actor=caseworker_a,
                case_id=case.pk,
                track=track,
                target=target,
            ),
        )
        assert error.details == {"track": track, "from": current, "to": target}


ROLE_LIMITED = [
    pytest.param(track, target, id=f"{track}:->{target}")
    for track, definition in TRACKS.items()
    for target in definition.states.values
    if any(target in targets for targets in definition.transitions.values())
]


@pytest.mark.parametrize(("track", "target"), ROLE_LIMITED)
def test_only_the_roles_named_for_a_move_may_make_it(track, target, caseworker_a):
    definition = TRACKS[track]
    current = next(s for s, ts in definition.transitions.items() if target in ts)
    allowed_roles = definition.roles_for(target)
    case = set_states(open_case(caseworker_a), **{track: current})
    members = {role: team_member(case, role) for role in TEAM_ROLES}

    for role in sorted(set(TEAM_ROLES) - allowed_roles):
        error = _refused(
            "cases.role_required",
            partial(
                services.case_move,
                actor=members[role],
                case_id=case.pk,
                track=track,
                target=target,
            ),
        )
        assert error.details == {"allowed_roles": sorted(allowed_roles)}
    permitted = members[sorted(allowed_roles)[0]]
    if target in definition.guarded:
        _refused(
            "cases.transition_not_allowed",
            partial(
                services.case_move,
                actor=permitted,
                case_id=case.pk,
                track=track,
                target=target,
            ),
        )
        return
    services.case_move(actor=permitted, case_id=case.pk, track=track, target=target)


def test_only_the_competent_authority_identifies(caseworker_a):
    case = set_states(open_case(caseworker_a), identification=Identification.PRESUMED)
    authority = team_member(case, Role.COMPETENT_AUTHORITY)

    # SOPS §6.5 rule 10: a caseworker is refused for the role; even the
    # competent authority cannot use the generic move (the decision service
    # needs reasons and the rights information: trm.identification).
    _refused(
        "cases.role_required",
        lambda: services.case_move(
            actor=caseworker_a,
            case_id=case.pk,
            track="identification",
            target=Identification.IDENTIFIED,
        ),
    )
    _refused(
        "cases.transition_not_allowed",
        lambda: services.case_move(
            actor=authority,
            case_id=case.pk,
            track="identification",
            target=Identification.IDENTIFIED,
        ),
    )
    case.refresh_from_db()
    assert case.identification == Identification.PRESUMED


def _path_to(track: str, goal: str) -> list[str]:
    """Return the states after the initial one on a shortest path to ``goal``."""
    definition = TRACKS[track]
    paths = {definition.initial: [definition.initial]}
    todo = [definition.initial]
    while todo:
        state = todo.pop(0)
        for target in sorted(definition.transitions.get(state, frozenset())):
            if target not in paths:
                paths[target] = [*paths[state], target]
                todo.append(target)
    return paths[goal][1:]


# The generic moves of the assistance track; the guarded ones (first assistance,
# declining, long-term, return preparation, closing) go through trm.assistance,
# whose own rule 1 test walks them through every legal state.
ASSISTANCE_MOVES = [
    (current, target)
    for current, targets in TRACKS["assistance"].transitions.items()
    for target in sorted(targets)
    if target not in TRACKS["assistance"].guarded
]


@pytest.mark.parametrize("legal_state", Legal.values)
def test_assistance_never_waits_on_the_legal_track(legal_state, caseworker_a):
    """SOPS §6.5 rule 1: every generic assistance move works whatever the legal
    state (see trm.assistance.tests for the guarded ones)."""
    assert ASSISTANCE_MOVES  # the return journey's moves stay generic for now
    case = open_case(caseworker_a)
    ncp = team_member(case, Role.NATIONAL_CONTACT_POINT)
    for step in _path_to("legal", legal_state):
        if step == Legal.INFORMED_OF_RIGHTS:
            # Its own service records how the person was informed.
            from trm.proceedings.tests.helpers import inform

            inform(case, caseworker_a)
            continue
        services.case_move(
            actor=caseworker_a, case_id=case.pk, track="legal", target=step
        )
    case.refresh_from_db()
    assert case.legal == legal_state

    for current, target in ASSISTANCE_MOVES:
        set_states(case, assistance=current)
        roles = TRACKS["assistance"].roles_for(target)
        actor = caseworker_a if Role.CASE_MANAGER in roles else ncp
        services.case_move(
            actor=actor, case_id=case.pk, track="assistance", target=target
        )
        case.refresh_from_db()
        assert (case.assistance, case.legal) == (target, legal_state)


# --- closing -----------------------------------------------------------------------


def test_closing_records_reason_closes_assistance_and_seals_the_note(world):
    audit_before = AuditEntry.objects.count()

    case = services.case_close(
        actor=world.cm,
        case_id=world.case.pk,
        reason=ClosureReason.GOALS_MET,
        note="Fictional closing note",
    )

    assert case.is_closed
    assert case.closure_reason == ClosureReason.GOALS_MET
    assert case.assistance == Assistance.CLOSED
    assert case.htcds_status() == CaseStatus.CLOSED
    event = case.events.get(kind="case.closed")
    assert b"Fictional closing note" not in _raw(event.sealed_detail)
    assert list(
        AuditEntry.objects.filter(seq__gt=audit_before).values_list("action", flat=True)
    ) == ["cases.case_closed"]
    timeline = selectors.case_timeline_for_user(user=world.cm, case=case)
    assert timeline[0].detail == "Fictional closing note"


def test_closing_as_referred_gives_htcds_closed_referred(world):
    case = services.case_close(
        actor=world.cm, case_id=world.case.pk, reason=ClosureReason.REFERRED
    )

    assert case.htcds_status() == CaseStatus.CLOSED_REFERRED


def test_ncp_on_the_team_may_close(world):
    ncp = team_member(world.case, Role.NATIONAL_CONTACT_POINT)

    case = services.case_close(
        actor=ncp, case_id=world.case.pk, reason=ClosureReason.TRANSFERRED
    )

    assert case.is_closed


def test_closed_case_leaves_the_open_list(world):
    services.case_close(
        actor=world.cm, case_id=world.case.pk, reason=ClosureReason.OTHER
    )

    assert world.case not in selectors.case_list_for_user(user=world.cm)
    assert world.case in selectors.case_list_for_user(user=world.cm, status="closed")


# --- team --------------------------------------------------------------------------


def test_manager_adds_a_member_in_a_role_they_hold(world):
    guardian = UserFactory(organisation=world.cm.organisation, roles=[Role.GUARDIAN])

    entry = services.case_team_add(
        actor=world.cm, case_id=world.case.pk, user_id=guardian.pk, role=Role.GUARDIAN
    )

    assert (entry.user, entry.role, entry.added_by) == (
        guardian,
        Role.GUARDIAN,
        world.cm,
    )
    assert selectors.case_get_for_user(user=guardian, case_id=world.case.pk)
    assert AuditEntry.objects.filter(action="cases.team_added").exists()
    assert world.case.events.filter(kind="case.team_added").exists()


def _fcp_case() -> tuple[Any, Case]:
    fcp = UserFactory(roles=[Role.FIRST_CONTACT_POINT])
    return fcp, open_case(fcp)


def test_first_contact_point_hands_a_case_over_to_a_case_manager(caseworker_a):
    fcp, case = _fcp_case()
    offered = selectors.case_team_candidates_for_user(user=fcp, case=case)
    assert {c.role for c in offered} == {Role.CASE_MANAGER}

    services.case_team_add(
        actor=fcp, case_id=case.pk, user_id=caseworker_a.pk, role=Role.CASE_MANAGER
    )

    __, access = selectors.case_get_for_user(user=caseworker_a, case_id=case.pk)
    assert access.manages
    assert selectors.case_team_candidates_for_user(user=fcp, case=case) == []


@pytest.mark.parametrize("role", [Role.SERVICE_PROVIDER, Role.FIRST_CONTACT_POINT])
def test_hand_over_allows_only_a_case_manager(role):
    fcp, case = _fcp_case()
    other = UserFactory(roles=[role])
    _refused(
        "cases.role_required",
        lambda: services.case_team_add(
            actor=fcp, case_id=case.pk, user_id=other.pk, role=role
        ),
    )


def test_once_a_case_manager_is_on_the_team_only_managers_add(caseworker_a):
    fcp, case = _fcp_case()
    services.case_team_add(
        actor=fcp, case_id=case.pk, user_id=caseworker_a.pk, role=Role.CASE_MANAGER
    )
    second = UserFactory(roles=[Role.CASE_MANAGER])
    _refused(
        "cases.role_required",
        lambda: services.case_team_add(
            actor=fcp, case_id=case.pk, user_id=second.pk, role=Role.CASE_MANAGER
        ),
    )


def test_team_candidates_never_include_auditors_or_administrators(world):
    UserFactory(roles=[Role.NODE_ADMINISTRATOR, Role.CASE_MANAGER])
    offered = selectors.case_team_candidates_for_user(user=world.cm, case=world.case)
    assert offered
    assert not {c.role for c in offered} & {Role.AUDITOR, Role.NODE_ADMINISTRATOR}


def test_removed_member_no_longer_sees_the_case(world):
    services.case_team_remove(
        actor=world.cm, case_id=world.case.pk, user_id=world.sp.pk
    )

    with pytest.raises(DomainError, match="No such case"):
        selectors.case_get_for_user(user=world.sp, case_id=world.case.pk)
    assert AuditEntry.objects.filter(action="cases.team_removed").exists()


def test_a_case_manager_may_leave_once_another_joined(world):
    second = UserFactory(organisation=world.cm.organisation, roles=[Role.CASE_MANAGER])
    services.case_team_add(
        actor=world.cm,
        case_id=world.case.pk,
        user_id=second.pk,
        role=Role.CASE_MANAGER,
    )

    services.case_team_remove(actor=second, case_id=world.case.pk, user_id=world.cm.pk)

    roles = dict(world.case.team.values_list("user_id", "role"))
    assert roles.get(second.pk) == Role.CASE_MANAGER
    assert world.cm.pk not in roles
    _refused(
        "cases.invalid_input",
        lambda: services.case_team_remove(
            actor=second, case_id=world.case.pk, user_id=second.pk
        ),
    )


# --- notes -------------------------------------------------------------------------


def _texts(user: Any, case: Case) -> set[str | None]:
    return {n.text for n in selectors.case_notes_for_user(user=user, case=case)}


def test_prosecutor_never_sees_assistance_only_notes(world):
    for visibility in Visibility.values:
        services.case_note_add(
            actor=world.cm,
            case_id=world.case.pk,
            text=f"Fictional {visibility} note",
            visibility=visibility,
        )

    assert _texts(world.prosecutor, world.case) == {
        "Fictional team note",
        "Fictional legal note",
    }
    assert _texts(world.sp, world.case) == {
        "Fictional team note",
        "Fictional assistance_only note",
    }
    assert _texts(world.cm, world.case) == {
        f"Fictional {v} note" for v in Visibility.values
    }
    events = selectors.case_timeline_for_user(user=world.prosecutor, case=world.case)
    assert Visibility.ASSISTANCE_ONLY not in {e.event.visibility for e in events}


def test_note_text_is_sealed_and_audited_without_it(world):
    note = services.case_note_add(
        actor=world.cm, case_id=world.case.pk, text="  Fictional sealed note \n"
    )

    stored = CaseNote.objects.get(pk=note.pk)
    assert b"Fictional sealed note" not in _raw(stored.sealed_text)
    assert _texts(world.cm, world.case) == {"Fictional sealed note"}
    entry = AuditEntry.objects.get(action="cases.note_added")
    assert "Fictional" not in str(entry.__dict__)


def test_notes_of_an_erased_person_read_as_none(world):
    services.case_note_add(actor=world.cm, case_id=world.case.pk, text="Fictional")
    _erase(world.case)

    assert _texts(world.cm, world.case) == {None}


def test_record_case_event_seals_its_detail(world):
    from django.db import transaction

    with transaction.atomic():
        event = services.record_case_event(
            case=world.case, actor=world.cm, kind="test.event", detail="Fictional"
        )

    assert b"Fictional" not in _raw(event.sealed_detail)
    shown = selectors.case_timeline_for_user(user=world.cm, case=world.case)
    assert [e.detail for e in shown if e.event.kind == "test.event"] == ["Fictional"]


# --- identity updates keep the child presumption ------------------------------------


def _update(world: World, **fields: Any) -> Person:
    return services.person_update_identity(
        actor=world.cm, case_id=world.case.pk, identity=fictional_identity(**fields)
    )


def test_identity_update_refuses_a_birth_date_in_the_future(world):
    future = timezone.now().date().replace(year=timezone.now().year + 1, day=1)
    error = _refused("cases.invalid_input", lambda: _update(world, birth_date=future))
    assert error.details["field"] == "birth_date"


@pytest.mark.parametrize("opening", [True, False])
def test_birth_year_before_1900_is_refused(opening, world):
    old = date(1899, 12, 31)
    act = _open(world.cm, identity=fictional_identity(birth_date=old))
    error = _refused(
        "cases.invalid_input",
        act if opening else (lambda: _update(world, birth_date=old)),
    )
    assert error.details["field"] == "birth_date"


def test_identity_update_recomputes_the_age_band(world):
    person = _update(world, birth_date=adult_birth_date(40))
    assert person.age_band == AgeBand.AGE_39_47
    assert not person.presumed_child


def test_identity_update_to_a_child_starts_child_protection(world):
    events_before = world.case.events.count()

    person = _update(world, birth_date=adult_birth_date(15))

    world.case.refresh_from_db()
    assert person.age_band == AgeBand.AGE_9_17
    assert person.presumed_child
    assert world.case.child_protection == ChildProtection.GUARDIAN_REQUESTED
    assert _child_track_event(world.case) == [
        (
            "case.track_moved",
            ChildProtection.NOT_APPLICABLE,
            ChildProtection.GUARDIAN_REQUESTED,
        )
    ]
    assert world.case.events.count() == events_before + 2


def test_identity_update_never_lifts_the_child_presumption(caseworker_a):
    case = open_case(caseworker_a, birth_date=adult_birth_date(15))

    person = services.person_update_identity(
        actor=caseworker_a,
        case_id=case.pk,
        identity=fictional_identity(birth_date=adult_birth_date(30)),
    )

    case.refresh_from_db()
    assert person.age_band == AgeBand.AGE_30_38
    assert person.presumed_child
    assert case.child_protection == ChildProtection.GUARDIAN_REQUESTED
    assert len(_child_track_event(case)) == 1


# --- who reads what on the timeline -------------------------------------------------


def _kinds(user: Any, case: Case) -> list[tuple[str, str]]:
    return [
        (v.event.kind, v.event.track)
        for v in selectors.case_timeline_for_user(user=user, case=case)
    ]


def test_assistance_moves_and_reasons_never_reach_the_prosecutor(world):
    from trm.assistance.services import assistance_start

    assistance_start(
        actor=world.cm,
        case_id=world.case.pk,
        basis="emergency",
        reason="Fictional shelter reason",
    )
    event = world.case.events.get(track="assistance")
    assert event.visibility == Visibility.ASSISTANCE_ONLY
    assert ("case.track_moved", "assistance") not in _kinds(
        world.prosecutor, world.case
    )
    assert ("case.track_moved", "assistance") in _kinds(world.sp, world.case)


def test_legal_moves_stay_legal(world):
    # (Informing of rights is trm.proceedings' own move: start after it.)
    set_states(world.case, legal=Legal.INFORMED_OF_RIGHTS)
    target = sorted(TRACKS["legal"].transitions[Legal.INFORMED_OF_RIGHTS])[0]
    actor = _mover(world.case, TRACKS["legal"].roles_for(target))
    services.case_move(actor=actor, case_id=world.case.pk, track="legal", target=target)
    assert world.case.events.get(track="legal").visibility == Visibility.LEGAL


def test_close_note_is_assistance_only_and_bare_closing_is_team(world, caseworker_a):
    services.case_close(
        actor=world.cm, case_id=world.case.pk, reason=ClosureReason.GOALS_MET, note="N"
    )
    assert world.case.events.get(kind="case.closed").visibility == (
        Visibility.ASSISTANCE_ONLY
    )
    assert ("case.closed", "") not in _kinds(world.prosecutor, world.case)
    other = open_case(caseworker_a)
    services.case_close(actor=caseworker_a, case_id=other.pk, reason="goals_met")
    assert other.events.get(kind="case.closed").visibility == Visibility.TEAM


# --- after erasure --------------------------------------------------------------------


def test_move_with_a_reason_after_erasure_is_refused(world):
    _erase(world.case)
    error = _refused(
        "cases.person_erased",
        lambda: services.case_move(
            actor=world.cm,
            case_id=world.case.pk,
            track="transnational",
            target="ncp_notified",
            reason="Fictional",
        ),
    )
    assert "leave it empty" in error.message


def test_move_and_close_without_text_after_erasure_succeed(world):
    _erase(world.case)
    services.case_move(
        actor=world.cm,
        case_id=world.case.pk,
        track="transnational",
        target="ncp_notified",
    )
    case = services.case_close(
        actor=world.cm, case_id=world.case.pk, reason=ClosureReason.GOALS_MET
    )
    assert case.is_closed


def test_close_with_a_note_after_erasure_is_refused(world):
    _erase(world.case)
    _refused(
        "cases.person_erased",
        lambda: services.case_close(
            actor=world.cm,
            case_id=world.case.pk,
            reason=ClosureReason.GOALS_MET,
            note="Fictional",
        ),
    )


# --- reading the timeline is audited -------------------------------------------------


def test_timeline_read_is_audited(world):
    assert selectors.case_timeline_for_user(user=world.sp, case=world.case)
    entry = AuditEntry.objects.filter(action="cases.timeline_read").get()
    assert entry.actor_id == world.sp.pk
    assert entry.target_id == str(world.case.pk)


# --- identity text ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"given_names": "Ana\u202eavoN"}, "given_names"),
        ({"family_names": "Fictiv\x00"}, "family_names"),
        ({"aliases": ["Al\u200bias"]}, "aliases"),
        ({"place_of_birth": "Town\nFictiv"}, "place_of_birth"),
        ({"addresses": ["Street 1\u2066"]}, "addresses"),
        ({"phones": ["+44 7700 900\t123"]}, "phones"),
    ],
)
def test_identity_text_with_hidden_characters_is_refused(fields, field, world):
    identity = fictional_identity(**fields)
    error = _refused("invalid_text", _open(world.cm, identity=identity))
    assert error.details["field"] == field
    error = _refused(
        "invalid_text",
        lambda: services.person_update_identity(
            actor=world.cm, case_id=world.case.pk, identity=identity
        ),
    )
    assert error.details["field"] == field


def test_document_number_with_a_bidi_override_is_refused(world):
    from trm.cases.identity import IdentityDocument

    doc = IdentityDocument(kind="passport", number="ZZ\u202e123")
    error = _refused(
        "invalid_text", _open(world.cm, identity=fictional_identity(documents=[doc]))
    )
    assert error.details["field"] == "documents.0.number"


@pytest.mark.parametrize("country", ["ZZ", "XX", "R0"])
def test_issuing_country_must_be_iso_3166(country, world):
    from trm.cases.identity import IdentityDocument

    doc = IdentityDocument(kind="passport", number="ZZ1", issuing_country=country)
    _refused(
        "cases.invalid_input",
        _open(world.cm, identity=fictional_identity(documents=[doc])),
    )


def test_identity_text_is_kept_in_nfc_and_country_upper_case(world):
    from trm.cases.identity import IdentityDocument

    doc = IdentityDocument(kind="passport", number="ZZ1", issuing_country="md")
    identity = fictional_identity(given_names="Ane\u0301", documents=[doc])
    case = _open(world.cm, identity=identity)()
    assert isinstance(case, Case)
    stored = selectors.person_identity_for_user(user=world.cm, case=case)
    assert stored is not None
    assert stored.given_names == "An\u00e9"
    assert stored.documents[0].issuing_country == "MD"


# --- case numbers -----------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    ["Ana Fictiv", "<b>1</b>", "RO\x002024", "-1", "_x", "x" * 33, "a;b"],
)
def test_free_text_case_numbers_are_refused(number, caseworker_a):
    error = _refused("cases.invalid_input", _open(caseworker_a, number=number))
    assert error.details["field"] == "number"


@pytest.mark.parametrize("number", ["RO-2024/17.b_2", "7", "БГ-12"])
def test_case_numbers_of_letters_digits_and_separators_are_kept(number, caseworker_a):
    assert open_case(caseworker_a, number=number).number == number
