"""The data migration that marks the events TRM wrote itself as automatic."""

import importlib

import pytest
from django.apps import apps

from trm.cases.models import CaseEvent
from trm.cases.tests.factories import open_case

pytestmark = pytest.mark.django_db

mark_automatic = importlib.import_module(
    "trm.cases.migrations.0006_caseevent_automatic"
).mark_automatic


def test_events_without_an_actor_become_automatic(caseworker_a):
    case = open_case(caseworker_a)
    by_person = case.events.get()
    by_trm = CaseEvent.objects.create(
        case=case, at=by_person.at, actor=None, kind="sop1.reflection_ended"
    )
    assert not by_trm.automatic  # as rows written before the field

    mark_automatic(apps, None)

    by_person.refresh_from_db()
    by_trm.refresh_from_db()
    assert by_trm.automatic
    assert not by_person.automatic
