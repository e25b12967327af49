"""The data migration that fills the casefolded keys of existing rows."""

import importlib

import pytest
import time_machine
from django.apps import apps
from django.utils import timezone

from trm.accounts import selectors
from trm.accounts.models import Organisation, User

pytestmark = pytest.mark.django_db

fill_keys = importlib.import_module("trm.accounts.migrations.0003_fill_keys").fill_keys


def _org(name: str) -> Organisation:
    return Organisation.objects.create(
        name=name, country="BG", org_type="NGO", name_key=None
    )


def test_fill_keys_gives_the_oldest_of_case_variants_the_key(admin_user):
    start = timezone.now()
    with time_machine.travel(start):
        older = _org("Министерство на труда")
    with time_machine.travel(start.replace(year=start.year + 1)):
        newer = _org("МИНИСТЕРСТВО на труда")
    other = _org("Дирекция")
    legacy = User.objects.create(
        username="legacy", first_name="Иван", email="legacy@example.invalid"
    )

    fill_keys(apps, None)

    keys = dict(Organisation.objects.values_list("pk", "name_key"))
    assert keys[older.pk] == "министерство на труда"
    assert keys[newer.pk] is None
    assert keys[other.pk] == "дирекция"
    legacy.refresh_from_db()
    assert legacy.search_key == "legacy иван legacy@example.invalid"
    assert list(selectors.user_list_for_admin(actor=admin_user, query="ИВАН")) == [
        legacy
    ]
