"""Rules that read only the model's own fields: no database."""

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import models

from trm.accounts.models import Role
from trm.cases.models import AgeBand, Case, CaseEvent, CaseNote, ClosureReason, Person
from trm.cases.tracks import TRACKS, Assistance, Identification
from trm.common.htcds import CaseStatus

ALL_MOVES = [
    pytest.param(track, current, target, id=f"{track}:{current}->{target}")
    for track, definition in TRACKS.items()
    for current in definition.states.values
    for target in definition.states.values
]


def _case(**fields: Any) -> Case:
    return Case(**fields)


# --- tracks as data ---------------------------------------------------------------


@pytest.mark.parametrize("track", TRACKS)
def test_track_data_names_only_its_own_states_and_real_roles(track):
    definition = TRACKS[track]
    states = set(definition.states.values)

    assert definition.initial in states
    assert set(definition.transitions) <= states
    for targets in definition.transitions.values():
        assert targets <= states
    assert set(definition.by_target) <= states
    for roles in [definition.roles, *definition.by_target.values()]:
        assert roles
        assert roles <= set(Role.values)


@pytest.mark.parametrize("track", TRACKS)
def test_track_field_default_is_the_tracks_initial_state(track):
    definition = TRACKS[track]

    field = Case._meta.get_field(definition.field)
    assert isinstance(field, models.Field)
    assert field.default == definition.initial


@pytest.mark.parametrize("track", TRACKS)
def test_every_state_of_a_track_is_reachable_from_its_initial_state(track):
    definition = TRACKS[track]
    seen, todo = {definition.initial}, [definition.initial]
    while todo:
        for target in definition.transitions.get(todo.pop(), frozenset()):
            if target not in seen:
                seen.add(target)
                todo.append(target)

    assert seen == set(definition.states.values)


@pytest.mark.parametrize(("track", "current", "target"), ALL_MOVES)
def test_can_move_follows_the_track_data(track, current, target):
    definition = TRACKS[track]
    case = _case(**{definition.field: current})

    expected = target in definition.transitions.get(current, frozenset())
    assert case.can_move(track, target) is expected


def test_a_closed_case_moves_no_track():
    case = _case(
        assistance=Assistance.FIRST_ASSISTANCE,
        closed_at=datetime(2025, 1, 1, tzinfo=UTC),
    )

    assert not case.can_move("assistance", Assistance.LONG_TERM)


def test_an_unknown_track_never_moves():
    assert not _case().can_move("no-such-track", "anything")


def test_roles_for_a_restricted_target_are_narrowed():
    identification = TRACKS["identification"]

    # SOPS §6.5 rule 10: only the competent authority identifies.
    assert identification.roles_for(Identification.IDENTIFIED) == {
        Role.COMPETENT_AUTHORITY
    }
    assert identification.roles_for(Identification.SCREENING) == identification.roles


def test_state_of_reads_the_tracks_field():
    case = _case(legal="deciding")

    assert case.state_of("legal") == "deciding"


# --- HTCDS status ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({}, CaseStatus.ACTIVE),
        ({"assistance": Assistance.FOLLOW_UP}, CaseStatus.FOLLOW_UP),
        ({"closure_reason": ClosureReason.GOALS_MET}, CaseStatus.CLOSED),
        ({"closure_reason": ClosureReason.REFERRED}, CaseStatus.CLOSED_REFERRED),
        ({"closure_reason": ClosureReason.TRANSFERRED}, CaseStatus.CLOSED_REFERRED),
        ({"closure_reason": ClosureReason.OTHER}, CaseStatus.CLOSED),
    ],
)
def test_htcds_status(fields, status):
    case = _case(**fields)
    if "closure_reason" in fields:
        case.closed_at = datetime(2025, 1, 1, tzinfo=UTC)

    assert case.htcds_status() == status


# --- age bands ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("years", "band"),
    [
        (None, AgeBand.UNKNOWN),
        (-1, AgeBand.UNKNOWN),
        (0, AgeBand.AGE_0_8),
        (8, AgeBand.AGE_0_8),
        (9, AgeBand.AGE_9_17),
        (17, AgeBand.AGE_9_17),
        (18, AgeBand.AGE_18_20),
        (29, AgeBand.AGE_27_29),
        (47, AgeBand.AGE_39_47),
        (48, AgeBand.AGE_48_PLUS),
        (95, AgeBand.AGE_48_PLUS),
    ],
)
def test_age_band_for_age(years, band):
    assert AgeBand.for_age(years) == band


def test_only_the_two_youngest_bands_are_children():
    assert {b for b in AgeBand if b.is_child} == {AgeBand.AGE_0_8, AgeBand.AGE_9_17}


# --- sealing contexts ----------------------------------------------------------------


def test_sealing_contexts_differ_per_row_and_per_kind():
    row_id = uuid.uuid4()
    person = Person(id=row_id)
    contexts = {
        person.identity_context(),
        person.photo_context(),
        CaseNote(id=row_id).text_context(),
        CaseEvent(id=row_id).detail_context(),
        Person(id=uuid.uuid4()).identity_context(),
    }

    assert len(contexts) == 5
