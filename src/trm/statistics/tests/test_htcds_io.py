"""HTCDS export and import (issue 8, item 1): mapping, permissions, bad input.

Synthetic cases only (the fictional identities of the cases factories).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from trm.accounts.models import Role
from trm.accounts.tests.factories import OrganisationFactory, UserFactory
from trm.audit.models import AuditEntry
from trm.cases import services as cases
from trm.cases.models import ClosureReason
from trm.cases.tests.factories import open_case
from trm.common.htcds import Gender, ReasonForOutgoingReferral
from trm.referrals.models import Referral
from trm.statistics import htcds_io
from trm.statistics.models import HistoricalRecord

pytestmark = pytest.mark.django_db

NCP = Role.NATIONAL_CONTACT_POINT


@pytest.fixture
def ncp():
    return UserFactory(roles=[NCP])


@pytest.fixture
def world(ncp):
    """Three cases opened by the NCP (so on their team): varied attributes."""
    one = open_case(
        ncp,
        gender=Gender.FEMININE,
        citizenships=["MD", "RO"],
        birth_date=date(2010, 5, 1),
        given_names="Testa",
        family_names="Fictiva",
    )
    two = open_case(
        ncp,
        gender=Gender.MASCULINE,
        citizenships=["NA"],
        age_band="30--38",
        birth_date=None,
    )
    three = open_case(ncp, citizenships=[], age_band="", birth_date=None)
    cases.case_close(actor=ncp, case_id=two.pk, reason=ClosureReason.REFERRED)
    Referral.objects.create(
        case=one,
        from_organisation=one.lead_organisation,
        to_organisation=OrganisationFactory(),
        reason=ReasonForOutgoingReferral.MIGRATION_OR_CHANGE_OF_LOCATION,
        status="sent",
        sent_at=timezone.now(),
    )
    return [one, two, three]


def _rows(export: htcds_io.HtcdsExport) -> list[dict[str, Any]]:
    if export.format == "json":
        records: list[dict[str, Any]] = json.loads(export.content)["records"]
        return records
    return list(csv.DictReader(io.StringIO(export.content)))


def _write(tmp_path: Path, text: str, name: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- export mapping ---------------------------------------------------------------


def test_export_maps_every_statistical_field(world):
    export = htcds_io.export_htcds(actor=None, fmt="json")
    assert export.count == 3 and not export.personal
    document = json.loads(export.content)
    assert document["standard"] == "HTCDS" and document["version"] == "2.0"
    by_nationality = {r["prs_Nationality"]: r for r in document["records"]}
    one, two, three = by_nationality["MD"], by_nationality["NA"], by_nationality[None]
    assert list(one) == list(htcds_io.STATISTICAL_COLUMNS)
    assert one["cas_Status"] == "Active"
    assert one["prs_Gender"] == "Feminine"
    assert one["trm_citizenships"] == ["MD", "RO"]
    assert one["trm_age_band"] == "9--17" and one["trm_presumed_child"] is True
    assert one["cas_ReasonForOutgoingReferral"] == "MigrationOrChangeOfLocation"
    assert one["trm_year_opened"] == world[0].opened_at.year
    assert one["trm_year_closed"] is None
    assert one["trm_identification"] == world[0].identification
    assert one["trm_assistance"] == world[0].assistance
    assert one["trm_child_protection"] == world[0].child_protection
    assert one["trm_transnational"] == world[0].transnational
    assert two["cas_Status"] == "ClosedReferred"
    assert two["trm_closure_reason"] == "referred"
    assert two["trm_year_closed"] == timezone.now().year
    assert two["prs_Gender"] == "Masculine" and two["trm_age_band"] == "30--38"
    assert two["cas_ReasonForOutgoingReferral"] is None
    assert three["prs_Gender"] == "NonSpecifiedUnknown"
    assert three["trm_citizenships"] == []
    # No identifying value anywhere in a statistical export.
    for forbidden in ("Testa", "Fictiva", world[0].number, "2010-05-01"):
        assert forbidden not in export.content


def test_csv_export_uses_semicolons_booleans_and_empty_cells(world):
    export = htcds_io.export_htcds(actor=None, fmt="csv")
    assert export.content_type.startswith("text/csv")
    rows = _rows(export)
    assert list(rows[0]) == list(htcds_io.STATISTICAL_COLUMNS)
    md = next(r for r in rows if r["prs_Nationality"] == "MD")
    assert md["trm_citizenships"] == "MD;RO"
    assert md["trm_presumed_child"] == "true"
    assert md["trm_closure_reason"] == ""


def test_every_export_is_audited_without_data(world, ncp):
    htcds_io.export_htcds(actor=ncp, fmt="csv", purpose="Annual report")
    entry = AuditEntry.objects.get(action="statistics.htcds_exported")
    assert "Testa" not in str(entry.__dict__)


# --- personal export --------------------------------------------------------------


def test_personal_export_reads_identities_through_the_audited_selector(world, ncp):
    export = htcds_io.export_htcds(
        actor=ncp, fmt="json", include_personal=True, purpose="Court order 12/2026"
    )
    rows = _rows(export)
    assert export.personal and export.count == 3
    assert list(rows[0]) == [*htcds_io.STATISTICAL_COLUMNS, *htcds_io.PERSONAL_COLUMNS]
    one = next(r for r in rows if r["trm_case_number"] == world[0].number)
    assert one["prs_FirstName"] == "Testa" and one["prs_SecondName"] == "Fictiva"
    assert one["prs_Birthdate"] == "2010-05-01"
    assert one["trm_subject_ref"] == str(world[0].person.subject_ref)
    assert one["cas_OutgoingReferralDate"] == timezone.localdate().isoformat()
    assert AuditEntry.objects.filter(action="cases.person_read").count() == 3
    assert AuditEntry.objects.filter(action="statistics.htcds_exported").count() == 1


def test_personal_export_covers_only_the_cases_the_user_may_see(world):
    other_ncp = UserFactory(roles=[NCP])  # on no team; the cases are domestic
    export = htcds_io.export_htcds(
        actor=other_ncp, fmt="csv", include_personal=True, purpose="Audit"
    )
    assert export.count == 0
    # The statistical rows too: one row per person is still about someone.
    assert htcds_io.export_htcds(actor=other_ncp, fmt="csv", purpose="Audit").count == 0


@pytest.mark.parametrize(
    ("roles", "personal", "purpose", "reason"),
    [
        ([Role.CASE_MANAGER], False, "", "role"),
        ([Role.AUDITOR], False, "", "role"),
        ([Role.NODE_ADMINISTRATOR], False, "Statistics", "role"),
        ([NCP], False, "", "purpose"),
        ([Role.NODE_ADMINISTRATOR], True, "Statistics", "role"),
        ([Role.CASE_MANAGER], True, "Statistics", "role"),
        ([NCP], True, "   ", "purpose"),
    ],
)
def test_refusals_are_audited(world, roles, personal, purpose, reason):
    user = UserFactory(roles=roles)
    with pytest.raises(htcds_io.HtcdsExportRefused) as caught:
        htcds_io.export_htcds(
            actor=user, fmt="csv", include_personal=personal, purpose=purpose
        )
    assert caught.value.details["reason"] == reason
    assert caught.value.code == "statistics.htcds_export_refused"
    assert (
        AuditEntry.objects.filter(action="statistics.htcds_export_refused").count() == 1
    )
    assert not AuditEntry.objects.filter(action="statistics.htcds_exported").exists()
    assert not AuditEntry.objects.filter(action="cases.person_read").exists()


def test_command_line_needs_a_user_for_personal_fields(world):
    with pytest.raises(htcds_io.HtcdsExportRefused):
        htcds_io.export_htcds(actor=None, fmt="csv", include_personal=True, purpose="x")
    assert AuditEntry.objects.filter(action="statistics.htcds_export_refused").exists()


def test_the_command_line_exports_every_case_without_personal_fields(world):
    # The node's operator (no --as): every case, statistical columns only.
    assert htcds_io.export_htcds(actor=None, fmt="json").count == 3
    with pytest.raises(htcds_io.HtcdsExportRefused):
        htcds_io.export_htcds(
            actor=None, fmt="json", include_personal=True, purpose="Audit"
        )


def test_unknown_format_is_refused():
    with pytest.raises(htcds_io.HtcdsInvalidInput):
        htcds_io.export_htcds(actor=None, fmt="xlsx")


# --- round trip and import --------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_round_trip_keeps_the_statistical_attributes(world, tmp_path, fmt):
    export = htcds_io.export_htcds(actor=None, fmt=fmt)
    path = _write(tmp_path, export.content, f"cases.{fmt}")
    result = htcds_io.import_htcds(actor=None, path=path, release="node-2026")
    assert result.summary() == "imported 3, already present 0, rejected 0"
    got = sorted(
        (
            r.gender,
            r.citizenship,
            r.age_group,
            r.is_child,
            r.year_of_registration,
            r.source,
            r.release,
        )
        for r in HistoricalRecord.objects.all()
    )
    expected = sorted(
        (
            c.person.gender,
            (c.person.citizenships or [""])[0],
            "" if c.person.age_band == "unknown" else c.person.age_band,
            c.person.presumed_child,
            c.opened_at.year,
            "htcds",
            "node-2026",
        )
        for c in world
    )
    assert got == expected
    # Idempotent: a second run adds nothing.
    again = htcds_io.import_htcds(actor=None, path=path, release="node-2026")
    assert again.summary() == "imported 0, already present 3, rejected 0"
    assert HistoricalRecord.objects.count() == 3
    assert AuditEntry.objects.filter(action="statistics.htcds_imported").count() == 2


CSV_HEADER = "prs_Gender,prs_Nationality,vic_TypeOfExploitation,vic_MethodsOfControl"


def test_import_reads_exploitation_and_control_codes(tmp_path):
    path = _write(
        tmp_path,
        f"{CSV_HEADER}\nFeminine,md,SexualExploitation;ForcedLabour,DebtBondage\n",
        "other.csv",
    )
    htcds_io.import_htcds(actor=None, path=path, release="r1")
    record = HistoricalRecord.objects.get()
    assert record.citizenship == "MD"
    assert record.exploitation_types == ["SexualExploitation", "ForcedLabour"]
    assert record.means_of_control == ["DebtBondage"]


def test_unknown_code_names_row_and_column_and_imports_nothing(tmp_path):
    path = _write(
        tmp_path,
        f"{CSV_HEADER},cas_Status\n"
        "Feminine,MD,ForcedLabour,Threats,Active\n"
        "Feminine,MD,ForcedLabour,Threats,Pending\n"
        "Female,MD,,,Active\n"
        "Masculine,RO,Fishing,,Closed\n",
        "bad.csv",
    )
    result = htcds_io.import_htcds(actor=None, path=path, release="r1")
    assert [str(r) for r in result.rejections] == [
        "row 2, column cas_Status: unknown cas_Status code 'Pending'",
        "row 3, column prs_Gender: unknown prs_Gender code 'Female'",
        "row 4, column vic_TypeOfExploitation: "
        "unknown vic_TypeOfExploitation code 'Fishing'",
    ]
    assert result.imported == 0
    assert not HistoricalRecord.objects.exists()
    assert not AuditEntry.objects.filter(action="statistics.htcds_imported").exists()
    kept = htcds_io.import_htcds(actor=None, path=path, release="r1", skip_invalid=True)
    assert kept.summary() == "imported 1, already present 0, rejected 3"


def test_json_unknown_code_names_the_record_and_field(tmp_path):
    records = [
        {"prs_Gender": "Feminine", "vic_MethodsOfControl": ["Threats"]},
        {"prs_Gender": "Feminine", "vic_MethodsOfControl": ["Magic"]},
    ]
    path = _write(tmp_path, json.dumps(records), "list.json")
    result = htcds_io.import_htcds(actor=None, path=path, release="r1")
    assert [str(r) for r in result.rejections] == [
        "row 2, column vic_MethodsOfControl: unknown vic_MethodsOfControl code 'Magic'"
    ]
    assert not HistoricalRecord.objects.exists()


@pytest.mark.parametrize(
    ("text", "name", "fragment"),
    [
        ("prs_Gender,prs_FirstName\nFeminine,Testa\n", "p.csv", "prs_FirstName"),
        ("foo,bar\n1,2\n", "x.csv", "no HTCDS column"),
        ('{"records": 3}', "x.json", "expected a list"),
        ("{not json", "x.json", "not JSON"),
        ('prs_Gender\n"Feminine\n', "q.csv", "line"),
        ("prs_Gender,prs_Gender\nFeminine,Feminine\n", "d.csv", "twice"),
        ("prs_Gender,trm_age_band\nFeminine\n", "s.csv", "1 cells, expected 2"),
    ],
)
def test_unreadable_files_import_nothing(tmp_path, text, name, fragment):
    path = _write(tmp_path, text, name)
    with pytest.raises(htcds_io.HtcdsFormatError) as caught:
        htcds_io.import_htcds(actor=None, path=path, release="r1")
    assert fragment in caught.value.message
    assert not HistoricalRecord.objects.exists()


def test_release_name_is_checked(tmp_path):
    path = _write(tmp_path, "prs_Gender\nFeminine\n", "a.csv")
    with pytest.raises(htcds_io.HtcdsInvalidInput):
        htcds_io.import_htcds(actor=None, path=path, release="bad release!")


def test_bad_cells_other_than_codes(tmp_path):
    path = _write(
        tmp_path,
        "prs_Gender,trm_year_opened,trm_age_band,trm_presumed_child,trm_citizenships\n"
        "Feminine,20x6,,,\n"
        "Feminine,2016,99+,,\n"
        "Feminine,2016,,maybe,\n"
        "Feminine,2016,,,MD;XX\n",
        "cells.csv",
    )
    result = htcds_io.import_htcds(actor=None, path=path, release="r1")
    assert [(r.row, r.column) for r in result.rejections] == [
        (1, "trm_year_opened"),
        (2, "trm_age_band"),
        (3, "trm_presumed_child"),
        (4, "trm_citizenships"),
    ]


# --- commands ---------------------------------------------------------------------


def test_commands_export_then_import(world, tmp_path):
    path = tmp_path / "out.json"
    out = StringIO()
    call_command("export", "htcds", "--format", "json", str(path), stdout=out)
    assert out.getvalue().strip() == f"exported 3 records (statistical) to {path}"
    out = StringIO()
    call_command("import", "htcds", str(path), "--release", "cli", stdout=out)
    assert out.getvalue().strip().endswith("imported 3, already present 0, rejected 0")
    assert set(HistoricalRecord.objects.values_list("release", flat=True)) == {"cli"}


def test_command_personal_export_as_user(world, ncp, tmp_path):
    path = tmp_path / "p.csv"
    call_command(
        "export",
        "htcds",
        "--personal",
        "--purpose",
        "Case review",
        "--as",
        ncp.username,
        str(path),
        stdout=StringIO(),
    )
    assert "Testa" in path.read_text(encoding="utf-8")


def test_command_personal_refusal_writes_nothing(world, tmp_path):
    user = UserFactory(roles=[Role.CASE_MANAGER])
    path = tmp_path / "p.csv"
    with pytest.raises(CommandError):
        call_command(
            "export",
            "htcds",
            "--personal",
            "--purpose",
            "x",
            "--as",
            user.username,
            str(path),
            stdout=StringIO(),
        )
    assert not path.exists()


def test_command_import_rejection_exits_with_error(tmp_path):
    path = _write(tmp_path, "prs_Gender\nFemale\n", "bad.csv")
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import", "htcds", str(path), stdout=StringIO(), stderr=err)
    assert "row 1, column prs_Gender" in err.getvalue()


# --- page -------------------------------------------------------------------------


def test_page_downloads_and_refuses(world, ncp, signed_in):
    client = signed_in(ncp)
    url = "/statistics/htcds/export/"
    assert client.get(url).status_code == 200
    # Every export states its purpose.
    assert client.post(url, {"format": "csv", "confirm": "on"}).status_code == 400
    response = client.post(
        url, {"format": "csv", "purpose": "Annual report", "confirm": "on"}
    )
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert b"prs_Gender" in response.content
    # Personal without a purpose: the form says why; nothing exported.
    response = client.post(url, {"format": "csv", "personal": "on", "confirm": "on"})
    assert response.status_code == 400
    assert b"This field is required" in response.content
    assert AuditEntry.objects.filter(action="statistics.htcds_exported").count() == 1
    # Without the confirmation nothing is exported.
    assert client.post(url, {"format": "csv"}).status_code == 400
    other = signed_in(UserFactory(roles=[Role.CASE_MANAGER]))
    assert other.get(url).status_code == 403


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_an_empty_export_imports_as_nothing(tmp_path, fmt):
    export = htcds_io.export_htcds(actor=None, fmt=fmt)
    path = _write(tmp_path, export.content, f"empty.{fmt}")
    result = htcds_io.import_htcds(actor=None, path=path, release="r1")
    assert result.summary() == "imported 0, already present 0, rejected 0"


def test_api_export(world, ncp, signed_in):
    client = signed_in(ncp)
    url = "/api/v1/statistics/htcds/export"
    response = client.post(
        url,
        {"format": "json", "purpose": "Annual report"},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert json.loads(response.content)["personal"] is False
    response = client.post(
        url,
        {"format": "csv", "personal": True, "purpose": ""},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "statistics.htcds_export_refused"
