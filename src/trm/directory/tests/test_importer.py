"""Importing and exporting the directory: CSV and GeoJSON (synthetic data)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from trm.accounts.models import Organisation
from trm.audit.models import AuditEntry
from trm.directory.importer import CSV_COLUMNS, export_csv, import_directory
from trm.directory.models import ServiceProfile

pytestmark = pytest.mark.django_db

HEADER = ",".join(CSV_COLUMNS)
GOOD_1 = (
    "Fictional Haven,BG,NGO,Shelter;legal_aid,women;children,bg;en,Sofia City,"
    '"1 Fictional St.\nSofia",Mon-Fri 9-17,+359000000001,haven@example.org,'
    "+359000000002,haven.example.org,true,10,4,42.69,23.32,h-1"
)
GOOD_2 = "Fictional Clinic,RO,HealthServiceOrganisation,Health,,,Iasi,,,,,,,no,,,,,c-2"


def _csv(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "directory.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _geojson(tmp_path: Path, features: list[dict[str, Any]]) -> Path:
    path = tmp_path / "directory.geojson"
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}),
        encoding="utf-8",
    )
    return path


def _feature(pid: int, name: str, services: list[str], geometry: object = "point"):
    if geometry == "point":
        geometry = {"type": "Point", "coordinates": [6.5, 3.4]}
    return {
        "type": "Feature",
        "properties": {
            "PROVIDER_ID": pid,
            "NAME": name,
            "STATE": "Lagos State.",
            "EMAIL": f"provider{pid}@example.org",
            "SERVICE": services,
        },
        "geometry": geometry,
    }


def _state() -> tuple[int, int, int]:
    return (
        Organisation.objects.count(),
        ServiceProfile.objects.count(),
        AuditEntry.objects.count(),
    )


def test_csv_rows_are_imported(tmp_path, admin_user):
    report = import_directory(_csv(tmp_path, GOOD_1, GOOD_2), actor=admin_user)
    assert report.errors == []
    assert (report.created, report.updated, report.skipped) == (2, 0, 0)
    haven = ServiceProfile.objects.get(organisation__name="Fictional Haven")
    assert haven.service_types == ["shelter", "legal_aid"]
    assert haven.target_groups == ["women", "children"]
    assert haven.address == "1 Fictional St.\nSofia"
    assert (haven.places_total, haven.places_free) == (10, 4)
    assert haven.capacity_updated_by == admin_user
    assert (haven.latitude, haven.longitude) == (42.69, 23.32)
    assert haven.organisation.functions == ["SP"]
    clinic = ServiceProfile.objects.get(external_id="c-2")
    assert clinic.service_types == ["medical"]
    assert clinic.accepts_referrals is False
    assert clinic.organisation.country.code == "RO"
    assert clinic.organisation.org_type == "HealthServiceOrganisation"
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {
        "directory.organisation_imported",
        "directory.profile_imported",
        "directory.imported",
    } <= actions


def _with(row: str, column: str, value: str) -> str:
    cells = next(csv.reader(io.StringIO(row, newline="")))
    cells[CSV_COLUMNS.index(column)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue().removesuffix("\n")


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("country", "XX", "unknown country"),
        ("places_total", "-3", "below zero"),
        ("places_free", "11", "more free places"),
        ("email", "not-an-address", "valid e-mail"),
        ("latitude", "123.0", "between -90 and 90"),
        ("longitude", "east", "not a number"),
        ("name", "", "name is required"),
        ("target_groups", "pets", "Unknown code"),
        ("accepts_referrals", "maybe", "not true or false"),
    ],
)
def test_bad_csv_row_reports_row_and_column_and_imports_nothing(
    tmp_path, column, value, message
):
    bad = _with(GOOD_1, column, value)
    before = _state()
    report = import_directory(_csv(tmp_path, GOOD_2, bad))
    assert len(report.errors) == 1, report.errors
    problem = report.errors[0]
    assert (problem.row, problem.column) == (3, column)
    assert message in problem.message
    assert str(problem).startswith(f"row 3, column {column}: ")
    assert not report.written
    assert (report.created, report.updated, report.skipped) == (0, 0, 2)
    assert _state() == before


def test_every_error_is_listed(tmp_path):
    report = import_directory(
        _csv(
            tmp_path,
            _with(GOOD_2, "email", "bad"),
            GOOD_1.replace("\n", " "),
            _with(_with(GOOD_2, "name", "Other"), "country", ""),
        )
    )
    assert [(p.row, p.column) for p in report.errors] == [(2, "email"), (4, "country")]
    assert ServiceProfile.objects.count() == 0


def test_partial_imports_the_good_rows(tmp_path):
    bad = _with(GOOD_2, "places_free", "-1")
    report = import_directory(
        _csv(tmp_path, GOOD_1, bad, _with(GOOD_2, "name", "Fictional Two")),
        partial=True,
    )
    assert [(p.row, p.column) for p in report.errors] == [(3, "places_free")]
    assert (report.created, report.skipped) == (2, 1)
    assert report.written
    assert set(Organisation.objects.values_list("name", flat=True)) == {
        "Fictional Haven",
        "Fictional Two",
    }


def test_dry_run_counts_and_writes_nothing(tmp_path):
    before = _state()
    report = import_directory(_csv(tmp_path, GOOD_1, GOOD_2), dry_run=True)
    assert (report.created, report.errors, report.written) == (2, [], False)
    assert _state() == before


def test_country_argument_fills_blank_country(tmp_path):
    report = import_directory(
        _csv(tmp_path, _with(GOOD_2, "country", "")), country="md"
    )
    assert report.errors == []
    assert Organisation.objects.get(name="Fictional Clinic").country.code == "MD"


def test_unknown_service_label_becomes_other_with_warning(tmp_path):
    report = import_directory(
        _csv(tmp_path, _with(GOOD_2, "service_types", "Health;Aromatherapy"))
    )
    assert report.errors == []
    assert ServiceProfile.objects.get().service_types == ["medical", "other"]
    assert report.warnings == [
        "row 2, column service_types: unknown service 'Aromatherapy' imported as other"
    ]


def test_duplicate_rows_are_errors(tmp_path):
    report = import_directory(_csv(tmp_path, GOOD_2, _with(GOOD_2, "external_id", "")))
    assert [(p.row, p.column) for p in report.errors] == [(3, "name")]
    report = import_directory(
        _csv(tmp_path, GOOD_2, _with(GOOD_2, "name", "Other Clinic"))
    )
    assert [(p.row, p.column) for p in report.errors] == [(3, "external_id")]


def test_unknown_header_is_a_file_error(tmp_path):
    report = import_directory(_csv(tmp_path, "x,y", header="name,colour"))
    assert [str(p) for p in report.errors] == [
        "file: unknown column(s): colour; known: " + HEADER
    ]


def test_reimport_leaves_unchanged_rows_and_existing_organisations(tmp_path, org_b):
    path = _csv(tmp_path, GOOD_1, _with(GOOD_2, "name", org_b.name))
    first = import_directory(path)
    assert (first.created, first.errors) == (2, [])
    org_b.refresh_from_db()
    assert org_b.country.code == "BG"  # an existing organisation keeps its details
    second = import_directory(path)
    assert (second.created, second.updated, second.skipped, second.unchanged) == (
        0,
        0,
        2,
        2,
    )
    third = import_directory(_csv(tmp_path, _with(GOOD_1, "places_free", "5")))
    assert (third.created, third.updated, third.errors) == (0, 1, [])


def test_export_then_import_round_trips(tmp_path, org_b):
    zeta = _with(_with(GOOD_2, "name", "Zeta"), "external_id", "z-3")
    assert import_directory(_csv(tmp_path, GOOD_1, GOOD_2, zeta)).errors == []
    _ = org_b  # an organisation without a profile is not exported
    first = io.StringIO(newline="")
    assert export_csv(first) == 3
    exported = tmp_path / "export.csv"
    exported.write_text(first.getvalue(), encoding="utf-8")

    again = import_directory(exported)
    assert (again.created, again.updated, again.unchanged, again.errors) == (
        0,
        0,
        3,
        [],
    )
    ServiceProfile.objects.all().delete()
    Organisation.objects.exclude(pk=org_b.pk).delete()
    fresh = import_directory(exported)
    assert (fresh.created, fresh.errors) == (3, [])
    second = io.StringIO(newline="")
    export_csv(second)
    assert second.getvalue() == first.getvalue()


def test_geojson_properties_are_mapped(tmp_path):
    feature = _feature(7, "Fictional Lagos Haven", ["Shelter", "Psycho-social support"])
    feature["properties"]["SERVICE_LIST"] = "ignored, when SERVICE is given"
    report = import_directory(
        _geojson(tmp_path, [feature]), source="test-src", country="NG"
    )
    assert report.errors == []
    profile = ServiceProfile.objects.get()
    assert profile.service_types == ["shelter", "psychological"]
    assert (profile.source, profile.external_id) == ("test-src", "7")
    assert profile.region == "Lagos State."
    assert (profile.latitude, profile.longitude) == (3.4, 6.5)


def test_geojson_lat_lon_order_and_service_list(tmp_path):
    feature = _feature(8, "Fictional Ogun Home", [])
    del feature["properties"]["SERVICE"]
    feature["properties"]["service_list"] = "Legal, Family tracing ,Empowerment"
    report = import_directory(
        _geojson(tmp_path, [feature]), coordinate_order="lat-lon", country="NG"
    )
    assert report.errors == []
    profile = ServiceProfile.objects.get()
    assert (profile.latitude, profile.longitude) == (6.5, 3.4)
    assert profile.service_types == ["legal_aid", "family_tracing", "empowerment"]


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        (None, "no geometry"),
        ({"type": "LineString", "coordinates": [[1, 2], [3, 4]]}, "not a Point"),
    ],
)
def test_geojson_feature_without_point_is_an_error(tmp_path, geometry, message):
    features = [
        _feature(1, "Fictional One", ["Health"]),
        _feature(2, "Fictional Two", ["Health"], geometry=geometry),
    ]
    report = import_directory(_geojson(tmp_path, features), country="NG")
    assert [(p.row, p.column, p.unit) for p in report.errors] == [
        (2, "geometry", "feature")
    ]
    assert message in str(report.errors[0])
    assert ServiceProfile.objects.count() == 0

    partial = import_directory(_geojson(tmp_path, features), country="NG", partial=True)
    assert partial.errors == []
    assert (partial.created, partial.skipped) == (1, 1)
    assert any(w.startswith("feature 2 skipped: ") for w in partial.warnings)


def test_geojson_coordinates_out_of_range_are_errors(tmp_path):
    feature = _feature(1, "Fictional One", ["Health"])
    feature["geometry"]["coordinates"] = [200.0, 3.4]
    report = import_directory(_geojson(tmp_path, [feature]), country="NG")
    assert [(p.row, p.column) for p in report.errors] == [(1, "geometry")]
    assert "between -180 and 180" in report.errors[0].message


def test_not_a_feature_collection_is_a_file_error(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"type": "Feature"}', encoding="utf-8")
    assert [p.column for p in import_directory(path).errors] == ["type"]


def test_command_prints_counts_and_fails_on_errors(tmp_path):
    out = io.StringIO()
    call_command("directory", "import", str(_csv(tmp_path, GOOD_1)), stdout=out)
    assert out.getvalue().startswith("created 1, updated 0, skipped 0")

    bad = _csv(tmp_path, _with(GOOD_2, "email", "nope"))
    out = io.StringIO()
    with pytest.raises(CommandError, match="nothing was written"):
        call_command("directory", "import", str(bad), stdout=out)
    assert "error: row 2, column email: Enter a valid e-mail address." in (
        out.getvalue()
    )
    out = io.StringIO()
    call_command("directory", "import", str(bad), "--partial", stdout=out)
    assert "skipped 1" in out.getvalue()

    target = tmp_path / "out.csv"
    out = io.StringIO()
    call_command("directory", "export", str(target), stdout=out)
    assert "1 profile(s) written" in out.getvalue()
    assert target.read_text(encoding="utf-8").startswith(HEADER)


def test_export_quotes_cells_a_spreadsheet_would_run_and_import_restores_them(
    tmp_path,
):
    formula = _with(_with(GOOD_1, "name", "=HYPERLINK(Fictiv)"), "external_id", "f-1")
    assert import_directory(_csv(tmp_path, formula)).errors == []
    out = io.StringIO(newline="")
    export_csv(out)
    assert "'=HYPERLINK(Fictiv)" in out.getvalue()
    exported = tmp_path / "export.csv"
    exported.write_text(out.getvalue(), encoding="utf-8")
    again = import_directory(exported)
    assert (again.unchanged, again.errors) == (1, [])
    assert Organisation.objects.filter(name="=HYPERLINK(Fictiv)").exists()


def test_a_huge_capacity_or_cell_is_reported_not_crashed(tmp_path):
    huge = _with(GOOD_1, "places_total", "99999999999999999999")
    report = import_directory(_csv(tmp_path, huge))
    assert [p.column for p in report.errors] == ["places_total"]
    giant = _with(GOOD_1, "address", "x" * 200_000)
    report = import_directory(_csv(tmp_path, giant))
    assert report.errors and report.created == 0
    assert "cannot be read as CSV" in str(report.errors[0])


def test_phone_numbers_and_negative_coordinates_are_exported_as_they_are(tmp_path):
    south = _with(_with(GOOD_1, "latitude", "-3.5"), "external_id", "s-1")
    assert import_directory(_csv(tmp_path, south)).errors == []
    out = io.StringIO(newline="")
    export_csv(out)
    text = out.getvalue()
    assert ",-3.5," in text and "'-3.5" not in text
    assert "'+359" not in text
