"""HTCDS v2.0 export of this node's cases and import of HTCDS files.

Issue 8, item 1. Field names and code lists follow :mod:`trm.common.htcds`
(IOM Human Trafficking Case Data Standard); our own fields carry a ``trm_``
prefix. The mapping of every column, and what is left out, is in
docs/htcds.md.

**Export** (:func:`export_htcds`): one row per case, as CSV or JSON, made by
a national contact point who states a purpose, over the cases that user may
see (:func:`trm.cases.selectors.case_list_for_user`), or by the node's
operator on the command line. By default only statistical columns
(:data:`STATISTICAL_COLUMNS`: no name, date or document, but still one row
per person, so never for a role without case access). Personal columns
(:data:`PERSONAL_COLUMNS`: names, birth date, documents, contact, case number
and shared reference) are added only when ``include_personal=True``, every
identity read through :func:`trm.cases.selectors.person_identity_for_user`
(access-checked and audited per case). Every export, and every refused one, is
audited with counts, format, purpose and whether personal — never data.

**Import** (:func:`import_htcds`): a CSV or JSON file in the same layout is
loaded as de-identified :class:`~trm.statistics.models.HistoricalRecord` rows
(source ``"htcds"``, a release named by the user) — never as live cases or
persons. Every HTCDS code is checked against its list; an unknown code is
reported with its row and column, and nothing is imported unless
``skip_invalid``. A file holding personal columns is refused as a whole.
Idempotent like the CTDC import: the row key hashes source, release, row
number and the row's cells.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from django.db import transaction
from django.utils.translation import gettext as _
from django_countries.data import COUNTRIES

from trm.accounts.models import Role, User
from trm.audit import services as audit
from trm.cases.models import AgeBand, Case
from trm.cases.selectors import case_list_for_user, person_identity_for_user
from trm.common import htcds
from trm.common.errors import DomainError, PermissionDenied
from trm.referrals.models import Referral
from trm.statistics import releases
from trm.statistics.models import HistoricalRecord

SOURCE = "htcds"
VERSION = "2.0"
FORMATS = ("csv", "json")
Format = Literal["csv", "json"]
#: Separator of multi-select values in a CSV cell (Salesforce multi-select
#: picklists, which HTCDS was designed on, store values separated by ";").
MULTI_SEPARATOR = ";"
MAX_REPORTED = 50
MAX_PURPOSE = 500

#: Roles that may export rows: the national contact point (national
#: coordinator, SOPS §2 "NCP"), and only the cases they may see. Rows are one
#: per case and not disclosure controlled (on a small node "the only Moldovan
#: boy opened in 2025" is one person), so a role without case access — the
#: node administrator, the auditor — never exports them; they have the
#: dashboard's protected tables.
EXPORT_ROLES = frozenset({Role.NATIONAL_CONTACT_POINT})
#: The one role that may export personal fields: the national contact point
#: (national coordinator / TRM contact point), who coordinates the national
#: mechanism and its transnational cases. A node administrator grants roles but
#: has no access to case data, so never exports it.
PERSONAL_ROLE = Role.NATIONAL_CONTACT_POINT

#: HTCDS multi-select fields (values are lists; ";"-separated in CSV).
MULTI_FIELDS = frozenset(
    {
        "vic_TypeOfExploitation",
        "vic_MethodsOfControl",
        "vic_MethodOfRecruitment",
        "vic_Vulnerabilities",
    }
)

#: Columns of every export, in order (docs/htcds.md gives each one's source).
STATISTICAL_COLUMNS: tuple[str, ...] = (
    "cas_Status",
    "cas_ReasonForOutgoingReferral",
    "prs_Gender",
    "prs_Nationality",
    "trm_citizenships",
    "trm_age_band",
    "trm_presumed_child",
    "trm_age_uncertain",
    "trm_year_opened",
    "trm_year_closed",
    "trm_closure_reason",
    "trm_identification",
    "trm_assistance",
    "trm_reflection",
    "trm_legal",
    "trm_child_protection",
    "trm_transnational",
)
#: Columns added by a personal export (they identify a person or a case).
PERSONAL_COLUMNS: tuple[str, ...] = (
    "trm_case_number",
    "trm_case_ref",
    "trm_subject_ref",
    "prs_FirstName",
    "prs_SecondName",
    "trm_aliases",
    "prs_Birthdate",
    "trm_birth_date_is_estimate",
    "trm_place_of_birth",
    "trm_documents",
    "trm_phones",
    "trm_addresses",
    "trm_date_opened",
    "trm_date_closed",
    "cas_OutgoingReferralDate",
)
#: Personal columns an import refuses (ours, and HTCDS ``prs_`` contact fields).
_REFUSED_ON_IMPORT = frozenset(PERSONAL_COLUMNS) | {
    "prs_MiddleName",
    "prs_Salutation",
    "prs_Email",
    "prs_HomePhone",
    "prs_MobilePhone",
    "prs_MailingStreet",
    "prs_MailingCity",
    "prs_MailingPostalCode",
    "prs_MailingState",
    "prs_MailingCountry",
    "prs_MailingLatitude",
    "prs_MailingLongitude",
}
_LIST_COLUMNS = MULTI_FIELDS | {
    "trm_citizenships",
    "trm_aliases",
    "trm_documents",
    "trm_phones",
    "trm_addresses",
}
_BOOL_COLUMNS = frozenset(
    {"trm_presumed_child", "trm_age_uncertain", "trm_birth_date_is_estimate"}
)
#: Columns the import reads into a :class:`HistoricalRecord`.
IMPORTED_COLUMNS = frozenset(
    {
        "prs_Gender",
        "prs_Nationality",
        "trm_age_band",
        "trm_presumed_child",
        "trm_year_opened",
        "vic_TypeOfExploitation",
        "vic_MethodsOfControl",
    }
)
_RELEASE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
_YEAR = re.compile(r"^\d{4}$")


class HtcdsExportRefused(PermissionDenied):
    """The user may not make this export (role, or no purpose); audited.

    ``details["reason"]``: ``"role"`` or ``"purpose"``.
    """

    code = "statistics.htcds_export_refused"


class HtcdsInvalidInput(DomainError):
    """A bad export argument (format) or import release name."""

    code = "statistics.htcds_invalid"


class HtcdsFormatError(DomainError):
    """The file cannot be read as an HTCDS file at all; nothing was imported.

    ``details`` may hold ``line`` and ``column``.
    """

    code = "statistics.htcds_format"


# --- export ---------------------------------------------------------------------


@dataclass(frozen=True)
class HtcdsExport:
    """One export: the serialised file and what it holds."""

    content: str
    format: str
    count: int
    personal: bool

    @property
    def content_type(self) -> str:
        if self.format == "csv":
            return "text/csv; charset=utf-8"
        return "application/json"

    @property
    def filename(self) -> str:
        kind = "personal" if self.personal else "statistical"
        return f"htcds-{kind}.{self.format}"


def _refuse(actor: Any, *, reason: str, fmt: str, personal: bool) -> None:
    with transaction.atomic():
        audit.record(
            actor=actor,
            action="statistics.htcds_export_refused",
            target_type="statistics.htcds",
            data={"reason": reason, "format": fmt, "personal": personal},
        )
    message = (
        _("Only the national contact point may export personal fields.")
        if personal and reason == "role"
        else _("Only the national contact point may export case rows.")
        if reason == "role"
        else _("State the purpose of the export.")
    )
    details = {"reason": reason}
    if reason == "purpose":
        details["field"] = "purpose"
    raise HtcdsExportRefused(message, details=details)


def check_export_allowed(
    *, actor: User | None, fmt: str, include_personal: bool, purpose: str
) -> str:
    """Check who may export what; return the cleaned purpose.

    ``actor=None`` is the command line without ``--as`` (the node's operator,
    who holds the database anyway): it may export the statistical columns
    only. A user needs one of :data:`EXPORT_ROLES` and a non-empty purpose for
    any export, and :data:`PERSONAL_ROLE` for personal fields.

    Raises:
        HtcdsInvalidInput: unknown format or a purpose over 500 characters.
        HtcdsExportRefused: (audited) role or purpose missing.
    """
    if fmt not in FORMATS:
        raise HtcdsInvalidInput(_("Unknown format."), details={"field": "format"})
    purpose = " ".join(purpose.split())
    if len(purpose) > MAX_PURPOSE:
        raise HtcdsInvalidInput(
            _("The purpose is too long (at most 500 characters)."),
            details={"field": "purpose"},
        )
    if actor is not None and not (
        actor.is_active and actor.has_role(*sorted(EXPORT_ROLES))
    ):
        _refuse(actor, reason="role", fmt=fmt, personal=include_personal)
    if actor is not None and not purpose:
        _refuse(actor, reason="purpose", fmt=fmt, personal=include_personal)
    if include_personal:
        if actor is None or not actor.has_role(PERSONAL_ROLE):
            _refuse(actor, reason="role", fmt=fmt, personal=True)
        if not purpose:
            _refuse(actor, reason="purpose", fmt=fmt, personal=True)
    return purpose


def export_htcds(
    *,
    actor: User | None,
    fmt: str,
    include_personal: bool = False,
    purpose: str = "",
) -> HtcdsExport:
    """Export the node's cases with HTCDS field names and codes.

    Args:
        actor: the exporting user (then only the cases they may see,
            :func:`case_list_for_user`), or ``None`` for the command line
            (every case; statistical columns only).
        fmt: ``"csv"`` or ``"json"``.
        include_personal: add :data:`PERSONAL_COLUMNS`; then only the cases the
            actor may see are exported, each identity read through
            :func:`person_identity_for_user` (audited ``cases.person_read``).
        purpose: why the export is made; required for every user's export.

    Returns:
        The file (CSV: header of the columns, multi-values ";"-separated,
        booleans ``true``/``false``, empty = unknown; JSON: ``{"standard":
        "HTCDS", "version": "2.0", "personal": bool, "records": [...]}`` with
        lists, booleans and ``null``).

    Raises:
        HtcdsInvalidInput, HtcdsExportRefused: see :func:`check_export_allowed`.
    """
    purpose = check_export_allowed(
        actor=actor, fmt=fmt, include_personal=include_personal, purpose=purpose
    )
    columns = STATISTICAL_COLUMNS + (PERSONAL_COLUMNS if include_personal else ())
    reader = actor if include_personal else None  # checked above: not None
    if actor is not None:
        # A user exports only the cases they may see (need to know).
        cases = list(
            case_list_for_user(user=actor, status="all").order_by("opened_at", "number")
        )
    else:
        cases = list(
            Case.objects.select_related("person").order_by("opened_at", "number")
        )
    referrals = _first_referrals(cases)
    records = []
    for case in cases:
        record = _statistical(case, referrals.get(case.pk))
        if reader is not None:
            record.update(_personal(reader, case, referrals.get(case.pk)))
        records.append(record)
    content = (
        _to_csv(records, columns)
        if fmt == "csv"
        else _to_json(records, columns, include_personal)
    )
    with transaction.atomic():
        audit.record(
            actor=actor,
            action="statistics.htcds_exported",
            target_type="statistics.htcds",
            data={
                "format": fmt,
                "personal": include_personal,
                "count": len(records),
                "purpose": purpose,
            },
        )
    return HtcdsExport(
        content=content, format=fmt, count=len(records), personal=include_personal
    )


def _first_referrals(cases: list[Case]) -> dict[Any, Referral]:
    """The first referral sent for each case (HTCDS has one outgoing referral)."""
    first: dict[Any, Referral] = {}
    sent = Referral.objects.filter(
        case__in=[c.pk for c in cases], sent_at__isnull=False
    ).order_by("sent_at")
    for referral in sent.only("case_id", "reason", "sent_at"):
        first.setdefault(referral.case_id, referral)
    return first


def _statistical(case: Case, referral: Referral | None) -> dict[str, Any]:
    person = case.person
    citizenships = [c for c in person.citizenships if isinstance(c, str)]
    return {
        "cas_Status": str(case.htcds_status()),
        "cas_ReasonForOutgoingReferral": referral.reason if referral else None,
        "prs_Gender": person.gender,
        "prs_Nationality": citizenships[0] if citizenships else None,
        "trm_citizenships": citizenships,
        "trm_age_band": person.age_band,
        "trm_presumed_child": person.presumed_child,
        "trm_age_uncertain": person.age_uncertain,
        "trm_year_opened": case.opened_at.year,
        "trm_year_closed": case.closed_at.year if case.closed_at else None,
        "trm_closure_reason": case.closure_reason or None,
        "trm_identification": case.identification,
        "trm_assistance": case.assistance,
        "trm_reflection": case.reflection,
        "trm_legal": case.legal,
        "trm_child_protection": case.child_protection,
        "trm_transnational": case.transnational,
    }


def _personal(actor: User, case: Case, referral: Referral | None) -> dict[str, Any]:
    identity = person_identity_for_user(user=actor, case=case)
    row: dict[str, Any] = {
        "trm_case_number": case.number,
        "trm_case_ref": case.trm_case_ref or None,
        "trm_subject_ref": str(case.person.subject_ref),
        "trm_date_opened": case.opened_at.date().isoformat(),
        "trm_date_closed": (
            case.closed_at.date().isoformat() if case.closed_at else None
        ),
        "cas_OutgoingReferralDate": (
            referral.sent_at.date().isoformat()
            if referral and referral.sent_at
            else None
        ),
    }
    if identity is None:  # erased: the statistical attributes remain
        row.update(dict.fromkeys(PERSONAL_COLUMNS[3:12]))
        row.update({c: [] for c in PERSONAL_COLUMNS[3:12] if c in _LIST_COLUMNS})
        return row
    row.update(
        {
            "prs_FirstName": identity.given_names or None,
            "prs_SecondName": identity.family_names or None,
            "trm_aliases": list(identity.aliases),
            "prs_Birthdate": (
                identity.birth_date.isoformat() if identity.birth_date else None
            ),
            "trm_birth_date_is_estimate": identity.birth_date_is_estimate,
            "trm_place_of_birth": identity.place_of_birth or None,
            "trm_documents": [
                f"{d.kind}:{d.number}:{d.issuing_country}" for d in identity.documents
            ],
            "trm_phones": list(identity.phones),
            "trm_addresses": list(identity.addresses),
        }
    )
    return row


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column in _LIST_COLUMNS:
        return MULTI_SEPARATOR.join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


#: A cell a spreadsheet would read as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _inert(value: Any) -> Any:
    """Return ``value`` as a spreadsheet shows it as text: a string that
    starts like a formula gets a leading apostrophe (names and addresses are
    written as typed; a typed ``=HYPERLINK(…)`` must not run when the file is
    opened)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _to_csv(records: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow([_inert(_cell(c, record.get(c))) for c in columns])
    return buffer.getvalue()


def _to_json(
    records: list[dict[str, Any]], columns: tuple[str, ...], personal: bool
) -> str:
    document = {
        "standard": "HTCDS",
        "version": VERSION,
        "personal": personal,
        "records": [{c: r.get(c) for c in columns} for r in records],
    }
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


# --- import ---------------------------------------------------------------------


@dataclass(frozen=True)
class Rejection:
    """A record that could not be read: its data-row number and column."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.message}"


@dataclass
class ImportResult:
    """Counts of one import, the rejections (file order) and ignored columns.

    ``imported`` is 0 when rows were rejected without ``skip_invalid``.
    """

    imported: int = 0
    already_present: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.rejections)

    def summary(self) -> str:
        return (
            f"imported {self.imported}, already present {self.already_present}, "
            f"rejected {self.rejected}"
        )


class _RowError(Exception):
    def __init__(self, column: str, message: str):
        super().__init__(message)
        self.column = column
        self.message = message


def _values(raw: Any, column: str) -> list[str]:
    """The values of a cell: a JSON list, or a ";"-separated CSV text."""
    if raw is None:
        return []
    if isinstance(raw, list):
        if not all(isinstance(v, str) for v in raw):
            raise _RowError(column, "expected a list of codes")
        return [v.strip() for v in raw if v.strip()]
    if not isinstance(raw, str):
        raise _RowError(column, "expected codes")
    return [v.strip() for v in raw.split(MULTI_SEPARATOR) if v.strip()]


def _scalar(raw: Any, column: str) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise _RowError(column, "expected a single value")
    return str(raw).strip()


def _code(raw: Any, column: str) -> str:
    value = _scalar(raw, column)
    if value and value not in htcds.FIELDS[column].values:
        raise _RowError(column, f"unknown {column} code {value!r}")
    return value


def _codes(raw: Any, column: str) -> list[str]:
    values = _values(raw, column)
    for value in values:
        if value not in htcds.FIELDS[column].values:
            raise _RowError(column, f"unknown {column} code {value!r}")
    return values


def _country(raw: Any, column: str) -> str:
    value = _scalar(raw, column).upper()
    if value and value not in COUNTRIES:
        raise _RowError(column, f"bad country code {value!r} (expected ISO alpha-2)")
    return value


def _bool(raw: Any, column: str) -> bool | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    raise _RowError(column, f"bad flag {raw!r} (expected true, false or empty)")


def _year(raw: Any, column: str) -> int | None:
    value = _scalar(raw, column)
    if not value:
        return None
    if not _YEAR.match(value) or not 1990 <= int(value) <= 2100:
        raise _RowError(column, f"bad year {value!r}")
    return int(value)


def _age_band(raw: Any, column: str) -> str:
    value = _scalar(raw, column)
    if value in ("", AgeBand.UNKNOWN):
        return ""
    if value not in AgeBand.values:
        raise _RowError(column, f"unknown age band {value!r}")
    return value


def row_key(*, release: str, row: int, cells: str) -> str:
    """The idempotency key of a record (see :class:`HistoricalRecord`)."""
    text = "\x1f".join([SOURCE, release, str(row), cells])
    return hashlib.sha256(text.encode()).hexdigest()


def record_from_row(
    values: dict[str, Any], *, release: str, row: int
) -> HistoricalRecord:
    """Map one HTCDS record to an unsaved :class:`HistoricalRecord`.

    Every column named in :data:`trm.common.htcds.FIELDS` is checked against its
    code list (also those not stored, such as ``cas_Status``).

    Raises:
        _RowError: the first bad cell (column and message).
    """
    for column in values:
        if column in htcds.FIELDS:
            if column in MULTI_FIELDS:
                _codes(values[column], column)
            else:
                _code(values[column], column)
    for column in ("trm_citizenships",):
        for value in _values(values.get(column), column):
            _country(value, column)
    is_child = _bool(values.get("trm_presumed_child"), "trm_presumed_child")
    age_group = _age_band(values.get("trm_age_band"), "trm_age_band")
    if age_group:
        # Like live cases (trm.statistics.tables): presumed a child OR in a
        # child age band; a known adult band without the flag is an adult.
        band_is_child = AgeBand(age_group).is_child
        is_child = True if is_child or band_is_child else is_child
        if is_child is None:
            is_child = False
    cells = json.dumps(values, sort_keys=True, ensure_ascii=False)
    return HistoricalRecord(
        source=SOURCE,
        release=release,
        row_key=row_key(release=release, row=row, cells=cells),
        year_of_registration=_year(values.get("trm_year_opened"), "trm_year_opened"),
        gender=_code(values.get("prs_Gender"), "prs_Gender")
        or htcds.Gender.NOT_SPECIFIED_UNKNOWN,
        age_group=age_group,
        is_child=is_child,
        citizenship=_country(values.get("prs_Nationality"), "prs_Nationality"),
        exploitation_types=_codes(
            values.get("vic_TypeOfExploitation"), "vic_TypeOfExploitation"
        ),
        means_of_control=_codes(
            values.get("vic_MethodsOfControl"), "vic_MethodsOfControl"
        ),
    )


def _check_columns(columns: Iterable[str], result: ImportResult) -> None:
    columns = list(columns)
    personal = sorted(set(columns) & _REFUSED_ON_IMPORT)
    if personal:
        raise HtcdsFormatError(
            f"column {personal[0]} is personal: HTCDS files are imported as "
            "de-identified records only (export without personal fields)",
            details={"column": personal[0]},
        )
    known = set(htcds.FIELDS) | set(STATISTICAL_COLUMNS)
    if not set(columns) & IMPORTED_COLUMNS:
        raise HtcdsFormatError(
            "no HTCDS column this import reads (e.g. prs_Gender)", details={}
        )
    result.ignored_columns = [
        c for c in columns if c not in IMPORTED_COLUMNS and c not in known
    ]


def _csv_records(
    text: str, result: ImportResult
) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, [])
        header = [h.strip() for h in header]
        if len(set(header)) != len(header):
            raise HtcdsFormatError(
                "a column appears twice in the header", details={"line": 1}
            )
        _check_columns(header, result)
        row = 0
        for cells in reader:
            if not cells:
                continue
            row += 1
            if len(cells) != len(header):
                raise HtcdsFormatError(
                    f"line {reader.line_num}: {len(cells)} cells, "
                    f"expected {len(header)}",
                    details={"line": reader.line_num},
                )
            yield row, dict(zip(header, cells, strict=True))
    except csv.Error as exc:
        raise HtcdsFormatError(
            f"line {reader.line_num}: {exc}", details={"line": reader.line_num}
        ) from None


def _json_records(text: str, result: ImportResult) -> list[tuple[int, dict[str, Any]]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HtcdsFormatError(
            f"not JSON (line {exc.lineno}: {exc.msg})", details={"line": exc.lineno}
        ) from None
    except (ValueError, RecursionError):
        # A number beyond Python's digit limit, or nesting too deep to read.
        raise HtcdsFormatError(
            "not a readable HTCDS JSON file (a number too long or nesting too deep)",
            details={},
        ) from None
    if isinstance(document, dict):
        document = document.get("records")
    if not isinstance(document, list) or not all(isinstance(r, dict) for r in document):
        raise HtcdsFormatError(
            'expected a list of records or {"records": [...]}', details={}
        )
    if not document:  # an export of a node without cases
        return []
    columns: dict[str, None] = {}
    for record in document:
        columns.update(dict.fromkeys(record))
    _check_columns(columns, result)
    return list(enumerate(document, start=1))


def detect_format(path: Path, text: str) -> Format:
    """``json`` for a ``.json`` file or text starting with ``[``/``{``; else ``csv``."""
    if path.suffix.lower() == ".json" or text.lstrip()[:1] in ("[", "{"):
        return "json"
    return "csv"


def validate_release(release: str) -> str:
    """Return ``release`` if it is a usable release name.

    Raises:
        HtcdsInvalidInput: empty, over 32 characters, or characters other than
            letters, digits, ``.``, ``_`` and ``-``.
    """
    release = release.strip()
    if not _RELEASE.match(release):
        raise HtcdsInvalidInput(
            _(
                "A release name is 1 to 32 letters, digits, dots, dashes or "
                "underscores."
            ),
            details={"field": "release"},
        )
    return release


def import_htcds(
    *,
    actor: Any,
    path: Path | str,
    release: str,
    skip_invalid: bool = False,
    fmt: Format | None = None,
) -> ImportResult:
    """Import an HTCDS file (CSV or JSON) as de-identified historical records.

    Args:
        actor: who runs the import (``None`` for the command line); audited as
            ``statistics.htcds_imported`` (counts and release only).
        path: the file, UTF-8 (a BOM is ignored).
        release: the name of this release of the data (:func:`validate_release`).
        skip_invalid: keep the readable records when some are rejected; by
            default nothing is imported if any record is rejected.
        fmt: ``"csv"`` or ``"json"``; ``None`` detects it (:func:`detect_format`).

    Returns:
        The counts, the rejections (row, column, message) and the ignored
        columns (neither HTCDS fields we know nor ours).

    Raises:
        HtcdsInvalidInput: bad release name.
        HtcdsFormatError: unreadable file (encoding, quoting, not JSON, a
            personal column, no readable column); nothing imported.
        FileNotFoundError: no such file.
    """
    release = validate_release(release)
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HtcdsFormatError(
            f"the file is not UTF-8 ({exc.reason})", details={}
        ) from None
    fmt = fmt or detect_format(path, text)
    result = ImportResult()
    records: Iterable[tuple[int, dict[str, Any]]] = (
        _json_records(text, result) if fmt == "json" else _csv_records(text, result)
    )
    batch: list[HistoricalRecord] = []
    for row, values in records:
        try:
            batch.append(record_from_row(values, release=release, row=row))
        except _RowError as exc:
            result.rejections.append(Rejection(row, exc.column, exc.message))
    with transaction.atomic(durable=True):
        if result.rejections and not skip_invalid:
            return result
        keys = [r.row_key for r in batch]
        present = set(
            HistoricalRecord.objects.filter(row_key__in=keys).values_list(
                "row_key", flat=True
            )
        )
        new = [r for r in batch if r.row_key not in present]
        HistoricalRecord.objects.bulk_create(new, batch_size=1000)
        result.imported = len(new)
        result.already_present = len(present)
        if result.imported or result.already_present:
            releases.register(SOURCE, release)
        audit.record(
            actor=actor,
            action="statistics.htcds_imported",
            target_type="statistics.historicalrecord",
            data={
                "release": release,
                "format": fmt,
                "imported": result.imported,
                "already_present": result.already_present,
                "rejected": result.rejected,
            },
        )
    return result
