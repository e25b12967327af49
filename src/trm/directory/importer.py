"""Import and export the service directory: CSV and GeoJSON.

:func:`import_directory` reads a file by its extension:

``.csv``
    UTF-8 (a byte-order mark is allowed), a header row, then one organisation a
    row. Columns (any order; only ``name`` is required, and a column left out of
    the file is left unchanged on an existing profile):

    ============== =====================================================
    name           organisation name (matched ignoring case)
    country        ISO 3166-1 alpha-2; blank: the ``country`` argument
    org_type       HTCDS org_Type code; blank: ``NGO`` (new organisations)
    service_types  ``;``-separated codes or labels (see SERVICE_SYNONYMS)
    target_groups  ``;``-separated codes: women, men, children, families
    languages      ``;``-separated ISO 639 codes
    region         state or province
    address        may hold line breaks (quoted)
    opening_hours, contact_24_7, email, phone, website
    accepts_referrals  true/false, yes/no, 1/0; blank: true
    places_total, places_free  whole numbers ≥ 0; blank: not reported
    latitude, longitude        decimal degrees
    external_id    the organisation's id in ``source``
    ============== =====================================================

    Rows are numbered as in a spreadsheet: the header is row 1.

``.json`` / ``.geojson``
    A GeoJSON FeatureCollection, one organisation a feature, features numbered
    from 1. Properties are read ignoring case: ``NAME``, ``EMAIL``, ``PHONE``,
    ``ADDRESS``, ``STATE`` (region), ``WEBSITE``, ``SERVICE`` (a list) or
    ``SERVICE_LIST`` (a comma-separated string), ``PROVIDER_ID`` or ``id``
    (external id), and any CSV column name. The geometry must be a Point;
    ``coordinate_order="lat-lon"`` reads files that store ``[lat, lon]``
    instead of GeoJSON's ``[lon, lat]`` (the IOM Nigeria directory does).

Organisations are matched by (``source``, external id) first, then by folded
name. A name match whose profile carries another external id of the same
source is a different organisation of the same name (the IOM Nigeria file has
"Child to Child Network" in Ogun and in Lagos State): it is created as
"NAME (REGION)", with a warning. Existing organisations keep their name,
country and type (``organisation_update`` changes those); only their profile is
written. New organisations get the function "SP" (service provider).

Without ``partial``, any error rolls the whole import back and the report lists
every error; with it, good rows are written and bad ones skipped. ``dry_run``
checks and counts everything inside a transaction that is rolled back.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_countries.data import COUNTRIES

from trm.accounts.models import Organisation, TrmFunction, User
from trm.audit import services as audit
from trm.common.errors import DomainError
from trm.common.htcds import OrgType
from trm.common.text import fold_key
from trm.directory.models import ServiceProfile, ServiceType
from trm.directory.services import (
    PROFILE_DEFAULTS,
    apply_profile,
    clean_capacity,
    clean_line,
    clean_profile_values,
)

CSV_COLUMNS: tuple[str, ...] = (
    "name",
    "country",
    "org_type",
    "service_types",
    "target_groups",
    "languages",
    "region",
    "address",
    "opening_hours",
    "contact_24_7",
    "email",
    "phone",
    "website",
    "accepts_referrals",
    "places_total",
    "places_free",
    "latitude",
    "longitude",
    "external_id",
)
LIST_FIELDS = frozenset({"service_types", "target_groups", "languages"})
COORDINATE_ORDERS = ("lon-lat", "lat-lon")

#: Service labels found in source files, folded (see :func:`_label_key`), and
#: the code each means. Every code and its English label are added below.
SERVICE_SYNONYMS: dict[str, str] = {
    "shelter": ServiceType.SHELTER,
    "shelters": ServiceType.SHELTER,
    "safe house": ServiceType.SHELTER,
    "emergency accommodation": ServiceType.CRISIS_ACCOMMODATION,
    "crisis accommodation": ServiceType.CRISIS_ACCOMMODATION,
    "health": ServiceType.MEDICAL,
    "health care": ServiceType.MEDICAL,
    "healthcare": ServiceType.MEDICAL,
    "medical": ServiceType.MEDICAL,
    "medical assistance": ServiceType.MEDICAL,
    "psychosocial support": ServiceType.PSYCHOLOGICAL,
    "psycho social support": ServiceType.PSYCHOLOGICAL,
    "psychosocial": ServiceType.PSYCHOLOGICAL,
    "psychological support": ServiceType.PSYCHOLOGICAL,
    "counselling": ServiceType.PSYCHOLOGICAL,
    "counseling": ServiceType.PSYCHOLOGICAL,
    "legal": ServiceType.LEGAL_AID,
    "legal assistance": ServiceType.LEGAL_AID,
    "legal support": ServiceType.LEGAL_AID,
    "legal services": ServiceType.LEGAL_AID,
    "interpreting": ServiceType.INTERPRETATION,
    "translation": ServiceType.INTERPRETATION,
    "schooling": ServiceType.EDUCATION,
    "skills training": ServiceType.VOCATIONAL_TRAINING,
    "skills acquisition": ServiceType.VOCATIONAL_TRAINING,
    "job placement": ServiceType.EMPLOYMENT,
    "empowerment": ServiceType.EMPOWERMENT,
    "economic support": ServiceType.EMPOWERMENT,
    "identity documents": ServiceType.DOCUMENTS,
    "travel documents": ServiceType.DOCUMENTS,
    "family reunification": ServiceType.FAMILY_TRACING,
}

_GEOJSON_ALIASES: dict[str, str] = {
    "state": "region",
    "service": "service_types",
    "service_list": "service_types",
    "provider_id": "external_id",
    "id": "external_id",
}
_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0"})


def _label_key(label: str) -> str:
    folded = fold_key(label).replace("-", " ").replace("_", " ").strip(" .;,")
    return re.sub(r"\s+", " ", folded)


def _synonyms() -> dict[str, str]:
    table = {_label_key(label): code for label, code in SERVICE_SYNONYMS.items()}
    for code, label in ServiceType.choices:
        table.setdefault(_label_key(code), code)
        table.setdefault(_label_key(str(label)), code)
    return table


@dataclass(frozen=True)
class ImportProblem:
    """A problem at one row (CSV) or feature (GeoJSON), or the file (row 0).

    Attributes:
        row: the row (header is row 1) or feature (from 1); 0 for the file.
        column: the column or property as named in the file.
        message: what is wrong.
        unit: ``"row"`` or ``"feature"``.
    """

    row: int
    column: str
    message: str
    unit: str = "row"

    def __str__(self) -> str:
        if self.row == 0:
            where = f"file ({self.column})" if self.column else "file"
            return f"{where}: {self.message}"
        if not self.column:
            return f"{self.unit} {self.row}: {self.message}"
        place = "column" if self.unit == "row" else "property"
        return f"{self.unit} {self.row}, {place} {self.column}: {self.message}"


@dataclass
class ImportReport:
    """What an import did (or, for a dry run or a failed import, would do).

    ``skipped`` counts rows not written: unchanged ones (also in ``unchanged``)
    and, with ``partial``, bad ones. After a failed import (errors, not
    partial) nothing is written: every row counts as skipped.
    """

    created: int = 0
    updated: int = 0
    skipped: int = 0
    unchanged: int = 0
    warnings: list[str] = field(default_factory=list)
    errors: list[ImportProblem] = field(default_factory=list)
    dry_run: bool = False
    written: bool = False

    def summary(self) -> str:
        """Return ``"created N, updated N, skipped N (N unchanged)"``."""
        return (
            f"created {self.created}, updated {self.updated}, "
            f"skipped {self.skipped} ({self.unchanged} unchanged)"
        )


@dataclass
class _Record:
    """One row or feature as read, before checking."""

    number: int
    unit: str
    raw: dict[str, Any]
    #: canonical field → the column or property name in the file
    columns: dict[str, str]
    #: a geometry problem (GeoJSON): an error, or a skip with ``partial``
    geometry_problem: str = ""

    def problem(self, field_name: str, message: str) -> ImportProblem:
        return ImportProblem(
            self.number, self.columns.get(field_name, field_name), message, self.unit
        )

    def where(self, field_name: str) -> str:
        place = "column" if self.unit == "row" else "property"
        column = self.columns.get(field_name, field_name)
        return f"{self.unit} {self.number}, {place} {column}"


class _FileError(Exception):
    def __init__(self, message: str, column: str = ""):
        super().__init__(message)
        self.message, self.column = message, column


class _RowError(Exception):
    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field_name, self.message = field_name, message


# --- Reading -------------------------------------------------------------------


def _read_csv(path: Path) -> list[_Record]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _FileError(f"not UTF-8 (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise _FileError("empty file: expected a header row") from None
    names = [name.strip().lower() for name in header]
    if "name" not in names:
        raise _FileError("the header has no name column", "name")
    unknown = [name for name in names if name not in CSV_COLUMNS]
    if unknown:
        raise _FileError(
            "unknown column(s): "
            + ", ".join(unknown)
            + "; known: "
            + ",".join(CSV_COLUMNS)
        )
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise _FileError("column(s) given twice: " + ", ".join(duplicates))
    records: list[_Record] = []
    rows = enumerate(reader, start=2)
    while True:
        try:
            number, cells = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:
            # E.g. a cell over the csv module's field size limit (128 KiB).
            raise _FileError(
                f"row {reader.line_num}: cannot be read as CSV ({exc})"
            ) from None
        if not any(cell.strip() for cell in cells):
            continue
        record = _Record(number, "row", {}, {name: name for name in names})
        if len(cells) != len(names):
            record.raw["__shape__"] = (
                f"{len(cells)} cells where the header has {len(names)}"
            )
        for name, cell in zip(names, cells, strict=False):
            cell = _unquote(cell)
            record.raw[name] = cell.split(";") if name in LIST_FIELDS else cell
        records.append(record)
    return records


def _read_geojson(path: Path, coordinate_order: str) -> list[_Record]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise _FileError(f"not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise _FileError(f"not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise _FileError("not a GeoJSON FeatureCollection", "type")
    features = data.get("features")
    if not isinstance(features, list):
        raise _FileError("the FeatureCollection has no features list", "features")
    return [
        _feature_record(number, feature, coordinate_order)
        for number, feature in enumerate(features, start=1)
    ]


def _feature_record(number: int, feature: Any, coordinate_order: str) -> _Record:
    record = _Record(number, "feature", {}, {})
    if not isinstance(feature, dict):
        record.raw["__shape__"] = "not a GeoJSON Feature object"
        return record
    properties = feature.get("properties")
    if not isinstance(properties, dict):
        record.raw["__shape__"] = "the feature has no properties object"
        return record
    if feature.get("id") not in (None, ""):
        record.raw["external_id"] = feature["id"]
        record.columns["external_id"] = "id"
    # SERVICE (a list) wins over SERVICE_LIST (a string) when both are given.
    ordered = sorted(properties.items(), key=lambda item: item[0].lower() == "service")
    for key, value in ordered:
        name = _GEOJSON_ALIASES.get(key.lower(), key.lower())
        if name not in CSV_COLUMNS or name in ("latitude", "longitude"):
            continue
        if (
            name == "external_id"
            and "external_id" in record.raw
            and key.lower() == "id"
        ):
            continue
        if name in LIST_FIELDS and isinstance(value, str):
            separator = "," if key.lower() == "service_list" else ";"
            value = value.split(separator)
        record.raw[name] = value
        record.columns[name] = key
    geometry = feature.get("geometry")
    record.columns.update(latitude="geometry", longitude="geometry")
    if not isinstance(geometry, dict):
        record.geometry_problem = "the feature has no geometry"
    elif geometry.get("type") != "Point":
        record.geometry_problem = (
            f"the geometry is a {geometry.get('type')!s}, not a Point"
        )
    else:
        coords = geometry.get("coordinates")
        if (
            not isinstance(coords, list)
            or len(coords) < 2
            or not all(
                isinstance(c, int | float) and not isinstance(c, bool)
                for c in coords[:2]
            )
        ):
            record.geometry_problem = "the Point has no [x, y] number coordinates"
        else:
            first, second = coords[0], coords[1]
            lat, lon = (
                (first, second) if coordinate_order == "lat-lon" else (second, first)
            )
            record.raw["latitude"], record.raw["longitude"] = lat, lon
    return record


# --- Checking ------------------------------------------------------------------


@dataclass
class _Row:
    """A checked row: cleaned values ready to write."""

    record: _Record
    name: str
    country: str
    org_type: str
    external_id: str
    profile: dict[str, Any]
    capacity: tuple[int | None, int | None] | None


def _text_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _list_value(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ValueError("expected a list")
    return [_text_value(item).strip() for item in value if _text_value(item).strip()]


def _int_value(value: Any, field_name: str) -> int | None:
    text = _text_value(value).strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise _RowError(field_name, f"not a whole number: {text!r}") from None


def _float_value(value: Any, field_name: str) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = _text_value(value).strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise _RowError(field_name, f"not a number: {text!r}") from None


def _bool_value(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _text_value(value).strip().lower()
    if not text:
        return True
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _RowError("accepts_referrals", f"not true or false: {text!r}")


def _service_types(
    record: _Record, labels: list[str], warnings: list[str]
) -> list[str]:
    table = _synonyms()
    codes: list[str] = []
    for label in labels:
        code = table.get(_label_key(label))
        if code is None:
            code = ServiceType.OTHER
            warnings.append(
                f"{record.where('service_types')}: unknown service {label!r} "
                "imported as other"
            )
        if code not in codes:
            codes.append(code)
    return codes


def _check(
    record: _Record,
    *,
    country: str | None,
    partial: bool,
    problems: list[ImportProblem],
    warnings: list[str],
) -> _Row | None:
    """Return the checked row, or None after adding its problems."""
    found: list[ImportProblem] = []
    if "__shape__" in record.raw:
        problems.append(
            ImportProblem(record.number, "", record.raw["__shape__"], record.unit)
        )
        return None
    if record.geometry_problem:
        if partial:
            warnings.append(
                f"{record.unit} {record.number} skipped: {record.geometry_problem}"
            )
            return None
        found.append(record.problem("latitude", record.geometry_problem))

    raw = record.raw

    def attempt(field_name: str, check: Any) -> Any:
        try:
            return check()
        except _RowError as exc:
            found.append(record.problem(exc.field_name, exc.message))
        except DomainError as exc:
            found.append(
                record.problem(str(exc.details.get("field", field_name)), exc.message)
            )
        except ValueError as exc:
            found.append(record.problem(field_name, str(exc)))
        return None

    name = attempt(
        "name",
        lambda: clean_line(_text_value(raw.get("name")), field="name", max_length=200),
    )
    if name == "":
        found.append(record.problem("name", "a name is required"))

    def check_country() -> str:
        code = (
            _text_value(raw.get("country")).strip().upper() or (country or "").upper()
        )
        if not code:
            raise _RowError("country", "no country: fill the column or give --country")
        if code not in COUNTRIES:
            raise _RowError(
                "country", f"unknown country {code!r}: use ISO 3166-1 alpha-2"
            )
        return code

    country_code = attempt("country", check_country)

    def check_org_type() -> str:
        code = _text_value(raw.get("org_type")).strip() or OrgType.NGO
        if code not in OrgType.values:
            raise _RowError(
                "org_type", f"unknown type {code!r}; known: {', '.join(OrgType.values)}"
            )
        return str(code)

    org_type = attempt("org_type", check_org_type)
    external_id = attempt(
        "external_id",
        lambda: clean_line(
            _text_value(raw.get("external_id")), field="external_id", max_length=60
        ),
    )

    values: dict[str, Any] = {}
    for name_ in PROFILE_DEFAULTS:
        if name_ not in raw:
            continue
        if name_ == "service_types":
            labels = attempt(name_, lambda: _list_value(raw["service_types"]))
            if labels is not None:
                values[name_] = _service_types(record, labels, warnings)
        elif name_ in LIST_FIELDS:
            items = attempt(name_, lambda n=name_: _list_value(raw[n]))
            if items is not None:
                values[name_] = [item.lower() for item in items]
        elif name_ == "accepts_referrals":
            value = attempt(name_, lambda: _bool_value(raw["accepts_referrals"]))
            if value is not None:
                values[name_] = value
        elif name_ in ("latitude", "longitude"):
            before = len(found)
            number = attempt(name_, lambda n=name_: _float_value(raw[n], n))
            if len(found) == before:
                values[name_] = number
        else:
            values[name_] = _text_value(raw[name_])
    cleaned, invalid = clean_profile_values(values)
    for exc in invalid:
        field_name = str(exc.details.get("field", ""))
        if field_name in values:
            found.append(record.problem(field_name, exc.message))
    profile = {name_: cleaned[name_] for name_ in values if name_ in cleaned}

    capacity: tuple[int | None, int | None] | None = None
    if "places_total" in raw or "places_free" in raw:
        before = len(found)
        total = attempt(
            "places_total", lambda: _int_value(raw.get("places_total"), "places_total")
        )
        free = attempt(
            "places_free", lambda: _int_value(raw.get("places_free"), "places_free")
        )
        if len(found) == before:
            capacity = attempt("places_total", lambda: clean_capacity(total, free))

    if found:
        problems.extend(found)
        return None
    return _Row(
        record=record,
        name=str(name),
        country=str(country_code),
        org_type=str(org_type),
        external_id=str(external_id or ""),
        profile=profile,
        capacity=capacity,
    )


# --- Writing -------------------------------------------------------------------


@dataclass
class _State:
    actor: User | None
    source: str | None
    #: organisation pk → the row that wrote it
    touched: dict[Any, int] = field(default_factory=dict)
    #: external id → the row that gave it
    external_ids: dict[str, int] = field(default_factory=dict)


def _name_match(name: str) -> Organisation | None:
    return (
        Organisation.objects.select_for_update()
        .filter(Q(name_key=fold_key(name)) | Q(name__iexact=name))
        .first()
    )


def _distinct_name(row: _Row) -> str:
    region = str(row.profile.get("region", "")).strip(" .")
    if not region:
        raise _RowError(
            "name",
            "another organisation of the source has this name; give a region "
            "to tell them apart",
        )
    return f"{row.name} ({region})"[:200]


def _find_or_create(
    row: _Row, state: _State, warnings: list[str]
) -> tuple[Organisation, bool]:
    source = state.source or ""
    if row.external_id:
        profile = (
            ServiceProfile.objects.select_related("organisation")
            .filter(source=source, external_id=row.external_id)
            .first()
        )
        if profile is not None:
            return profile.organisation, False
    name = row.name
    org = _name_match(name)
    if org is not None and row.external_id:
        other = ServiceProfile.objects.filter(organisation=org).first()
        if (
            other is not None
            and other.source == source
            and other.external_id
            not in (
                "",
                row.external_id,
            )
        ):
            name = _distinct_name(row)
            warnings.append(
                f"{row.record.where('name')}: {org.name!r} already has id "
                f"{other.external_id} in this source; imported as {name!r}"
            )
            org = _name_match(name)
    if org is not None:
        return org, False
    try:
        with transaction.atomic():
            org = Organisation.objects.create(
                name=name,
                name_key=fold_key(name),
                country=row.country,
                org_type=row.org_type,
                functions=[TrmFunction.SERVICE_PROVIDER],
            )
    except IntegrityError:
        raise _RowError(
            "name", "an organisation with this name already exists"
        ) from None
    audit.record(
        actor=state.actor,
        action="directory.organisation_imported",
        target=org,
        data={"name": name, "country": row.country, "source": source},
    )
    return org, True


def _write(row: _Row, state: _State, warnings: list[str]) -> str:
    """Write one checked row; return ``"created"``, ``"updated"`` or ``"unchanged"``."""
    if row.external_id:
        first = state.external_ids.get(row.external_id)
        if first is not None:
            raise _RowError("external_id", f"the same id as {row.record.unit} {first}")
        state.external_ids[row.external_id] = row.record.number
    org, _new_org = _find_or_create(row, state, warnings)
    first = state.touched.get(org.pk)
    if first is not None:
        raise _RowError("name", f"the same organisation as {row.record.unit} {first}")
    state.touched[org.pk] = row.record.number
    current = ServiceProfile.objects.filter(organisation=org).first()
    values = dict(row.profile)
    if current is None or (state.source is not None and row.external_id):
        values["source"] = state.source or ""
        values["external_id"] = row.external_id
    if row.capacity is not None:
        total, free = row.capacity
        if current is None or (current.places_total, current.places_free) != (
            total,
            free,
        ):
            values.update(
                places_total=total,
                places_free=free,
                capacity_updated_at=timezone.now(),
                capacity_updated_by=state.actor,
            )
    profile, created, changed = apply_profile(organisation=org, values=values)
    if not created and not changed:
        return "unchanged"
    audit.record(
        actor=state.actor,
        action="directory.profile_imported",
        target=profile,
        data={"created": created, "changed": sorted(changed), "source": profile.source},
    )
    return "created" if created else "updated"


def import_directory(
    path: str | Path,
    *,
    actor: User | None = None,
    partial: bool = False,
    dry_run: bool = False,
    coordinate_order: str = "lon-lat",
    country: str | None = None,
    source: str | None = None,
) -> ImportReport:
    """Import service providers from a CSV or GeoJSON file (see the module doc).

    ``actor`` None is the system (``trm directory import``). ``country`` is
    used for rows without one; ``source`` names where the file comes from, and
    pairs with each row's external id.
    """
    path = Path(path)
    report = ImportReport(dry_run=dry_run)
    if coordinate_order not in COORDINATE_ORDERS:
        report.errors.append(
            ImportProblem(
                0, "coordinate_order", f"use one of {', '.join(COORDINATE_ORDERS)}"
            )
        )
    if country and country.upper() not in COUNTRIES:
        report.errors.append(
            ImportProblem(
                0, "country", f"unknown country {country!r}: use ISO 3166-1 alpha-2"
            )
        )
    if source is not None and len(source) > 60:
        report.errors.append(ImportProblem(0, "source", "use at most 60 characters"))
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json", ".geojson"):
        report.errors.append(
            ImportProblem(0, "", "give a .csv, .json or .geojson file")
        )
    if report.errors:
        return report
    try:
        records = (
            _read_csv(path)
            if suffix == ".csv"
            else _read_geojson(path, coordinate_order)
        )
    except OSError as exc:
        report.errors.append(ImportProblem(0, "", f"cannot read: {exc.strerror}"))
        return report
    except _FileError as exc:
        report.errors.append(ImportProblem(0, exc.column, exc.message))
        return report

    state = _State(actor=actor, source=source)
    with transaction.atomic(durable=True):
        for record in records:
            row = _check(
                record,
                country=country,
                partial=partial,
                problems=report.errors,
                warnings=report.warnings,
            )
            if row is None:
                report.skipped += 1
                continue
            try:
                with transaction.atomic():
                    outcome = _write(row, state, report.warnings)
            except _RowError as exc:
                report.errors.append(record.problem(exc.field_name, exc.message))
                report.skipped += 1
                continue
            if outcome == "created":
                report.created += 1
            elif outcome == "updated":
                report.updated += 1
            else:
                report.unchanged += 1
                report.skipped += 1
        failed = bool(report.errors) and not partial
        if failed or dry_run:
            transaction.set_rollback(True)
        else:
            audit.record(
                actor=actor,
                action="directory.imported",
                target_type="directory.import",
                target_id=path.name[:100],
                data={
                    "source": source or "",
                    "created": report.created,
                    "updated": report.updated,
                    "skipped": report.skipped,
                },
            )
            report.written = True
    if failed:
        report.created = report.updated = report.unchanged = 0
        report.skipped = len(records)
    return report


# --- Export --------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(str(item) for item in value)
    return str(value)


def export_rows(profiles: Iterable[ServiceProfile]) -> Iterable[list[str]]:
    """Yield the CSV header and one row per profile (columns of :data:`CSV_COLUMNS`)."""
    yield list(CSV_COLUMNS)
    for profile in profiles:
        org = profile.organisation
        yield [
            _cell(value)
            for value in (
                org.name,
                org.country.code,
                org.org_type,
                profile.service_types,
                profile.target_groups,
                profile.languages,
                profile.region,
                profile.address,
                profile.opening_hours,
                profile.contact_24_7,
                profile.email,
                profile.phone,
                profile.website,
                profile.accepts_referrals,
                profile.places_total,
                profile.places_free,
                profile.latitude,
                profile.longitude,
                profile.external_id,
            )
        ]


class TextSink(Protocol):
    """Anything with ``write(str)``: a text file, an ``HttpResponse``."""

    def write(self, content: str, /) -> Any: ...


def export_csv(file_obj: TextSink) -> int:
    """Write every profile as CSV that :func:`import_directory` reads back.

    ``file_obj`` is a text file opened with ``newline=""`` or an
    ``HttpResponse``. Returns the number
    of profiles written.
    """
    writer = csv.writer(file_obj)
    profiles = ServiceProfile.objects.select_related("organisation").order_by(
        "organisation__name"
    )
    count = -1
    for count, row in enumerate(export_rows(profiles)):  # noqa: B007
        writer.writerow([_spreadsheet_safe(cell) for cell in row])
    return count


#: A phone number or a signed decimal: a spreadsheet shows it, runs nothing.
NUMBER_LIKE = re.compile(r"[+-]?[0-9][0-9 ().-]*")
#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _spreadsheet_safe(cell: object) -> object:
    """Quote a text cell a spreadsheet would run as a formula (OWASP CSV
    injection): a leading apostrophe, which the importer removes again."""
    if (
        isinstance(cell, str)
        and cell.startswith(FORMULA_STARTS)
        and not NUMBER_LIKE.fullmatch(cell)
    ):
        return "'" + cell
    return cell


def _unquote(cell: str) -> str:
    """Undo :func:`_spreadsheet_safe` on a cell read back."""
    if (
        cell.startswith("'")
        and cell[1:].startswith(FORMULA_STARTS)
        and not NUMBER_LIKE.fullmatch(cell[1:])
    ):
        return cell[1:]
    return cell
