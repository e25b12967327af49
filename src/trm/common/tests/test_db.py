"""update_rows: the same rows as bulk_update would write, and clear refusals."""

import uuid
from datetime import UTC, datetime

import pytest
from django.db.models import F

from trm.accounts.models import Organisation
from trm.accounts.tests.factories import OrganisationFactory
from trm.common.db import update_rows

pytestmark = pytest.mark.django_db


def test_each_row_gets_its_own_values_of_every_type() -> None:
    first, second, untouched = OrganisationFactory.create_batch(3)
    remote = uuid.uuid4()
    first.functions, first.remote_id, first.is_active = ["SP", "FCP"], remote, False
    second.functions, second.remote_id = {"nested": [1, "ü"]}, None
    moment = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    first.created_at = second.created_at = moment
    first.name = "Changed in memory only"

    updated = update_rows(
        Organisation,
        [first, second],
        ["functions", "remote_id", "is_active", "created_at"],
    )

    assert updated == 2

    a, b, c = (Organisation.objects.get(pk=o.pk) for o in (first, second, untouched))
    assert (a.functions, a.remote_id, a.is_active, a.created_at) == (
        ["SP", "FCP"],
        remote,
        False,
        moment,
    )
    assert a.name != "Changed in memory only"  # not among the fields
    assert (b.functions, b.remote_id, b.is_active) == ({"nested": [1, "ü"]}, None, True)
    assert c.functions == untouched.functions and c.created_at == untouched.created_at


def test_no_rows_is_nothing_to_do() -> None:
    assert update_rows(Organisation, [], ["functions"]) == 0


def test_a_row_deleted_meanwhile_is_not_counted() -> None:
    kept, gone = OrganisationFactory.create_batch(2)
    Organisation.objects.filter(pk=gone.pk).delete()
    kept.is_active = gone.is_active = False

    assert update_rows(Organisation, [kept, gone], ["is_active"]) == 1
    assert Organisation.objects.get(pk=kept.pk).is_active is False


def test_an_expression_is_refused_not_written_as_text() -> None:
    row = OrganisationFactory()
    row.name = F("name")
    with pytest.raises(ValueError, match="an expression, not a value"):
        update_rows(Organisation, [row], ["name"])
    assert Organisation.objects.get(pk=row.pk).name != "F(name)"


def test_the_primary_key_and_unsaved_rows_are_refused() -> None:
    saved = OrganisationFactory()
    with pytest.raises(ValueError, match="cannot be updated"):
        update_rows(Organisation, [saved], ["id"])
    unsaved = Organisation(name="Fictional unsaved")
    unsaved.pk = None
    with pytest.raises(ValueError, match="without a primary key"):
        update_rows(Organisation, [unsaved], ["name"])
