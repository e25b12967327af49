"""The node administrator's exact figures: role check, audit, content."""

from __future__ import annotations

import uuid

import pytest

from trm.audit.models import AuditEntry
from trm.statistics.models import HistoricalRecord

pytestmark = pytest.mark.django_db
URL = "/statistics/qc/unrounded/"


def records(n: int, **fields: object) -> None:
    HistoricalRecord.objects.bulk_create(
        HistoricalRecord(source="ctdc", release="t", row_key=uuid.uuid4().hex, **fields)
        for i in range(n)
    )


def test_an_administrator_sees_exact_figures_and_the_view_is_audited(
    admin_user, signed_in
):
    records(3, year_of_registration=2019, exploitation_types=["ForcedLabour"])
    records(12, year_of_registration=2020, exploitation_types=["ForcedLabour"])
    client = signed_in(admin_user)
    before = AuditEntry.objects.filter(action="statistics.unrounded_viewed").count()

    response = client.get(
        URL,
        {"rows": "year", "columns": "exploitation_type", "sources": ["historical"]},
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "ForcedLabour" in html
    assert ">3 <span" in html  # exact, with its suppression mark
    entries = AuditEntry.objects.filter(action="statistics.unrounded_viewed")
    assert entries.count() == before + 1
    entry = entries.latest("seq")
    assert entry.actor_id == admin_user.pk
    assert entry.target_type == "statistics.table"


def test_the_form_alone_is_not_audited(admin_user, signed_in):
    response = signed_in(admin_user).get(URL)

    assert response.status_code == 200
    assert not AuditEntry.objects.filter(action="statistics.unrounded_viewed").exists()


def test_other_roles_are_refused(caseworker_a, auditor, signed_in):
    for user in (caseworker_a, auditor):
        response = signed_in(user).get(URL, {"rows": "year", "sources": ["live"]})
        assert response.status_code == 403
    assert not AuditEntry.objects.filter(action="statistics.unrounded_viewed").exists()
