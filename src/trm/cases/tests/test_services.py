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
                track="assistance",
                target=Assistance.FIRST_ASSISTANCE,
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
                target=Assistance.REINTEGRATION,
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

    moved = services.case_move(
        actor=actor, case_id=case.pk, track=track, target=target, reason="Fictional"
    )

    assert moved.state_of(track) == target
    case.refresh_from_db()
    assert case.state_of(track) == target
    event = case.events.get(kind="case.track_moved", track=track)
    assert (event.from_state, event.to_state, event.actor) == (current, target, actor)
    legal = Visibility.LEGAL if track == "legal" else Visibility.TEAM
    assert event.visibility == legal
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
    services.case_move(actor=permitted, case_id=case.pk, track=track, target=target)


def test_only_the_competent_authority_identifies(caseworker_a):
    case = set_states(open_case(caseworker_a), identification=Identification.PRESUMED)
    authority = team_member(case, Role.COMPETENT_AUTHORITY)

    # SOPS §6.5 rule 10.
    _refused(
        "cases.role_required",
        lambda: services.case_move(
            actor=caseworker_a,
            case_id=case.pk,
            track="identification",
            target=Identification.IDENTIFIED,
        ),
    )
    services.case_move(
        actor=authority,
        case_id=case.pk,
        track="identification",
        target=Identification.IDENTIFIED,
    )

    case.refresh_from_db()
    assert case.identification == Identification.IDENTIFIED


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


ASSISTANCE_MOVES = [
    (current, target)
    for current, targets in TRACKS["assistance"].transitions.items()
    for target in sorted(targets)
]


@pytest.mark.parametrize("legal_state", Legal.values)
def test_assistance_never_waits_on_the_legal_track(legal_state, caseworker_a):
    """SOPS §6.5 rule 1: every assistance move works whatever the legal state."""
    case = open_case(caseworker_a)
    ncp = team_member(case, Role.NATIONAL_CONTACT_POINT)
    for step in _path_to("legal", legal_state):
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
    timeline = selectors.case_timeline_for_user(user=world.cm, case=case)
    assert timeline[0].detail == "Fictional closing note"
    assert list(
        AuditEntry.objects.filter(seq__gt=audit_before).values_list("action", flat=True)
    ) == ["cases.case_closed"]


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
