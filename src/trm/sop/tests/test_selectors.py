"""The SOP selectors' own readers: the engine's view of a timeline, by visibility."""

from __future__ import annotations

import pytest

from trm.cases.models import Visibility
from trm.cases.tests.factories import adult_birth_date, open_case
from trm.identification import contacts
from trm.sop import engine

pytestmark = pytest.mark.django_db


def test_case_events_are_the_engines_view_filtered_by_visibility(caseworker_a):
    case = open_case(caseworker_a, birth_date=adult_birth_date())
    contacts.contact_record(actor=caseworker_a, case_id=case.pk, kind="in_person")

    everything = engine.events_for_cases([case.pk])[case.pk]
    team_only = engine.events_for_cases([case.pk], visibility=[Visibility.TEAM])

    assert everything == engine.events_for_cases([case.pk])[case.pk]
    assert "sop1.contact_recorded" in [e.kind for e in everything]
    assert [e for e in everything if e.kind != "sop1.contact_recorded"] == (
        team_only[case.pk]
    )
    assert [e.at for e in everything] == sorted(e.at for e in everything)
    assert engine.events_for_cases([]) == {}
