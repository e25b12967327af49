"""The keystore cannot silently go missing, and destroyed keys leave no remnants."""

from __future__ import annotations

import pytest
from django.db import connections, transaction

from trm.accounts.models import Role
from trm.accounts.tests.factories import UserFactory
from trm.cases.tests.factories import open_case
from trm.dataprotection import checks, crypto
from trm.dataprotection.models import DataKey, NodeKey
from trm.dataprotection.router import KEYSTORE


@pytest.mark.django_db
def test_node_refuses_to_start_when_the_keystore_lost_its_keys(org_a):
    manager = UserFactory(organisation=org_a, roles=[Role.CASE_MANAGER])
    open_case(manager)
    assert checks.check_keystore_present() == []

    # The keystore is replaced by an empty one (lost file, wrong database).
    DataKey.objects.using(KEYSTORE).all().delete()
    NodeKey.objects.using(KEYSTORE).all().delete()

    errors = checks.check_keystore_present()
    assert [e.id for e in errors] == ["trm.E003"]
    assert "Restore the keystore" in errors[0].msg


@pytest.mark.django_db
def test_an_empty_new_node_starts():
    assert checks.check_keystore_present() == []


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_destroying_a_key_purges_its_old_copies_outside_a_transaction():
    key_id = crypto.create_data_key()
    assert crypto.destroy_data_key(key_id)
    row = DataKey.objects.using(KEYSTORE).get(pk=key_id)
    assert row.wrapped is None
    assert crypto.purge_destroyed_key_remnants() is True
    if connections[KEYSTORE].vendor == "sqlite":
        with connections[KEYSTORE].cursor() as cursor:
            cursor.execute("PRAGMA secure_delete")
            assert cursor.fetchone()[0] == 1


@pytest.mark.django_db(databases="__all__")
def test_purge_waits_when_called_inside_a_keystore_transaction():
    with transaction.atomic(using=KEYSTORE):
        assert crypto.purge_destroyed_key_remnants() is False
