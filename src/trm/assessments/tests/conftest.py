"""Fixtures of the assessments tests: an adult's case and a child's case."""

from __future__ import annotations

import pytest
from django.utils import timezone

from trm.accounts.models import Role
from trm.cases.models import Case, Person
from trm.cases.tests.factories import adult_birth_date, open_case, team_member
from trm.dataprotection import crypto
from trm.sop import loader

FAMILY_NAME = "Qorvanel-Fictiv"


@pytest.fixture(autouse=True)
def _fresh_definitions():
    loader.clear_cache()
    yield
    loader.clear_cache()


@pytest.fixture
def case(caseworker_a) -> Case:
    return open_case(
        caseworker_a, birth_date=adult_birth_date(), family_names=FAMILY_NAME
    )


@pytest.fixture
def child_case(caseworker_a) -> Case:
    return open_case(caseworker_a, birth_date=None, may_be_child=True)


@pytest.fixture
def prosecutor(case):
    return team_member(case, Role.PROSECUTOR)


def erase(case: Case) -> None:
    """Erase the case's person as the data-protection service does (key destroyed)."""
    crypto.destroy_data_key(case.person.data_key_id)
    Person.objects.filter(pk=case.person_id).update(erased_at=timezone.now())
    case.person.refresh_from_db()
