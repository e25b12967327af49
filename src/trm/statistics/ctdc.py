"""Import of the CTDC Global Dataset as historical, de-identified records.

Issue 8, item 2: ``trm import ctdc PATH`` loads the Counter Trafficking Data
Collaborative's published records (release "The Global Dataset 14 Apr 2020")
into :class:`~trm.statistics.models.HistoricalRecord`. Two layouts are read:

* the **subset** in ``../shared/data/ctdc-global-2020-subset/dados_app.csv``:
  comma-separated, 15 columns, empty cell = missing, flags ``0.0``/``1.0``;
* the **full** 63-column CTDC file: semicolon-separated, first header cell
  holding the terms-of-use sentence, ``-99`` = missing.

Both: ``ZZ`` (codebook) and ``0`` (2020 data, undocumented) as a country code
mean "unknown" (stored empty); ``NA`` is Namibia (never "missing"). The
full-layout columns follow the CTDC Data Codebook v6 (Nov 2017), section 2;
the mapping is in docs/ctdc-import.md and in :data:`FULL_FLAG_LISTS` below.

The file is read row by row (``csv``); each distinct set of mapped cells is
mapped once; records are written in batches (:mod:`trm.statistics.bulk`) inside
one transaction. By default nothing is kept if any row is rejected
(``skip_invalid=True`` keeps the good rows). Each rejection names the data row,
the file line and the column.
"""

from __future__ import annotations

import csv
import hashlib
import io
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction
from django_countries.data import COUNTRIES

from trm.audit import services as audit
from trm.common.errors import DomainError
from trm.common.htcds import Gender, MethodsOfControl, TypeOfExploitation
from trm.statistics import releases
from trm.statistics.bulk import RecordWriter
from trm.statistics.models import HistoricalRecord

SOURCE = "ctdc"
DEFAULT_RELEASE = "2020-04-14"
TERMS_PREFIX = "By using this data"
MISSING = frozenset({"", "-99", "-99.0"})
#: "Unknown" country codes: ``ZZ`` (codebook v6) and ``0`` (in the 2020 data).
UNKNOWN_COUNTRY = frozenset({"0", "ZZ"})
MAX_REPORTED = 50

#: CTDC ``ageBroad`` bands (codebook), kept as codes.
AGE_BANDS = frozenset(
    {"0--8", "9--17", "18--20", "21--23", "24--26", "27--29", "30--38", "39--47", "48+"}
)
CHILD_BANDS = frozenset({"0--8", "9--17"})

GENDERS = {
    "female": Gender.FEMININE,
    "male": Gender.MASCULINE,
    "transgender/nonconforming": Gender.NON_CONFORMING,
}
DATA_SOURCES = {"case management": "CaseManagement", "hotline": "Hotline"}
MAJORITY = {"adult": False, "minor": True}

# CTDC flag columns (full layout) -> the codes they add to a list field.
_EXPLOITATION: dict[str, tuple[str, ...]] = {
    "isForcedLabour": (TypeOfExploitation.FORCED_LABOUR,),
    "isSexualExploit": (TypeOfExploitation.SEXUAL_EXPLOITATION,),
    "isOtherExploit": (TypeOfExploitation.OTHER,),
    "isSexAndLabour": (
        TypeOfExploitation.FORCED_LABOUR,
        TypeOfExploitation.SEXUAL_EXPLOITATION,
    ),
    "isForcedMarriage": (TypeOfExploitation.FORCED_MARRIAGE,),
    "isForcedMilitary": (TypeOfExploitation.FORCED_MILITARY_BY_NON_STATE_ACTORS,),
    "isOrganRemoval": (TypeOfExploitation.ORGAN_REMOVAL,),
    "isSlaveryAndPractices": (TypeOfExploitation.SERVITUDE,),
}
_CONTROL: dict[str, tuple[str, ...]] = {
    f"meansOfControl{name}": (str(code),)
    for name, code in [
        ("DebtBondage", MethodsOfControl.DEBT_BONDAGE),
        ("TakesEarnings", MethodsOfControl.TAKES_EARNINGS),
        ("RestrictsFinancialAccess", MethodsOfControl.RESTRICTS_FINANCIAL_ACCESS),
        ("Threats", MethodsOfControl.THREATS),
        ("PsychologicalAbuse", MethodsOfControl.PSYCHOLOGICAL_ABUSE),
        ("PhysicalAbuse", MethodsOfControl.PHYSICAL_ABUSE),
        ("SexualAbuse", MethodsOfControl.SEXUAL_ABUSE),
        ("FalsePromises", MethodsOfControl.FALSE_PROMISES),
        ("PsychoactiveSubstances", MethodsOfControl.PSYCHOACTIVE_SUBSTANCES),
        ("RestrictsMovement", MethodsOfControl.RESTRICTS_MOVEMENT),
        ("RestrictsMedicalCare", MethodsOfControl.RESTRICTS_MEDICAL_CARE),
        ("ExcessiveWorkingHours", MethodsOfControl.EXCESSIVE_WORKING_HOURS),
        ("UsesChildren", MethodsOfControl.USES_CHILDREN),
        ("ThreatOfLawEnforcement", MethodsOfControl.THREAT_OF_LAW_ENFORCEMENT),
        ("WithholdsNecessities", MethodsOfControl.WITHHOLDS_NECESSITIES),
        ("WithholdsDocuments", MethodsOfControl.WITHHOLDS_DOCUMENTS),
        ("Other", MethodsOfControl.OTHER),
    ]
}
_LABOUR: dict[str, tuple[str, ...]] = {
    f"typeOfLabour{name}": (name,)
    for name in [
        "Agriculture",
        "Aquafarming",
        "Begging",
        "Construction",
        "DomesticWork",
        "Hospitality",
        "IllicitActivities",
        "Manufacturing",
        "MiningOrDrilling",
        "Peddling",
        "Transportation",
        "Other",
    ]
}
_SEX: dict[str, tuple[str, ...]] = {
    f"typeOfSex{name}": (name,)
    for name in (
        "Prostitution",
        "Pornography",
        "RemoteInteractiveServices",
        "PrivateSexualServices",
    )
}
_RECRUITER: dict[str, tuple[str, ...]] = {
    f"recruiterRelation{name}": (name,)
    for name in ("IntimatePartner", "Friend", "Family", "Other")
}

#: model list field -> {CTDC flag column: codes added when the flag is 1}.
FULL_FLAG_LISTS: dict[str, dict[str, tuple[str, ...]]] = {
    "exploitation_types": _EXPLOITATION,
    "means_of_control": _CONTROL,
    "types_of_labour": _LABOUR,
    "types_of_sexual_exploitation": _SEX,
    "recruiter_relations": _RECRUITER,
}
#: Flags read only so that a bad value is reported; they add no code
#: ("not specified" / "unknown" say the same as an empty list).
FULL_IGNORED_FLAGS = (
    "meansOfControlNotSpecified",
    "typeOfLabourNotSpecified",
    "recruiterRelationUnknown",
)
SUBSET_FLAG_LISTS: dict[str, dict[str, tuple[str, ...]]] = {
    "exploitation_types": {
        k: _EXPLOITATION[k] for k in ("isForcedLabour", "isSexualExploit")
    },
}
_COMMON = (
    "yearOfRegistration",
    "gender",
    "ageBroad",
    "citizenship",
    "CountryOfExploitation",
)


@dataclass(frozen=True)
class Layout:
    """One CTDC file layout: its separator and the columns it must have."""

    name: str
    separator: str
    flag_lists: dict[str, dict[str, tuple[str, ...]]]
    extra: tuple[str, ...] = ()
    ignored_flags: tuple[str, ...] = ()
    #: columns read when present, not required (not in codebook v6).
    optional: frozenset[str] = frozenset()
    #: column -> other names it may have in a release.
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def columns(self) -> tuple[str, ...]:
        flags = [c for cols in self.flag_lists.values() for c in cols]
        return (*_COMMON, *self.extra, *flags, *self.ignored_flags)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c not in self.optional)

    def find(self, column: str, names: dict[str, int]) -> int | None:
        """The index of ``column`` (or an alias) in the header, names lowercased."""
        for name in (column, *self.aliases.get(column, ())):
            if name.lower() in names:
                return names[name.lower()]
        return None


SUBSET = Layout("CTDC subset (15 columns)", ",", SUBSET_FLAG_LISTS)
FULL = Layout(
    "full CTDC layout (63 columns)",
    ";",
    FULL_FLAG_LISTS,
    extra=("Datasource", "majorityStatus", "majorityStatusAtExploit", "isAbduction"),
    ignored_flags=FULL_IGNORED_FLAGS,
    optional=frozenset({"isSlaveryAndPractices"}),
    aliases={
        "meansOfControlThreatOfLawEnforcement": ("meansOfControlThreatOfLawAction",)
    },
)


class CtdcFormatError(DomainError):
    """The file cannot be read as a CTDC file at all; nothing was imported.

    ``details`` holds ``line`` and, when one is to blame, ``column``.
    """

    code = "statistics.ctdc_format"


@dataclass(frozen=True)
class Rejection:
    """A data row that could not be read: its number, file line and column."""

    row: int
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return (
            f"row {self.row} (line {self.line}), column {self.column}: {self.message}"
        )


@dataclass
class ImportResult:
    """Counts of one import and the rejections (all of them, in file order).

    ``imported`` is 0 when rows were rejected without ``skip_invalid``.
    """

    imported: int = 0
    already_present: int = 0
    #: Readable rows left out by the ``keep`` predicate (e.g. another country's).
    left_out: int = 0
    rejections: list[Rejection] = field(default_factory=list)

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


def _flag(value: str, column: str) -> bool | None:
    value = value.strip()
    if value in MISSING:
        return None
    if value in ("0", "0.0"):
        return False
    if value in ("1", "1.0"):
        return True
    raise _RowError(column, f"bad flag {value!r} (expected 0, 1 or empty)")


def _country(value: str, column: str) -> str:
    value = value.strip()
    if value in MISSING or value in UNKNOWN_COUNTRY:
        return ""
    if value in COUNTRIES:  # "NA" is Namibia, read as text, never as missing
        return value
    raise _RowError(column, f"bad country code {value!r} (expected ISO alpha-2)")


_YEAR = re.compile(r"^(\d{4})(\.0)?$")


def _year(value: str, column: str) -> int | None:
    value = value.strip()
    if value in MISSING:
        return None
    match = _YEAR.match(value)
    if not match or not 1990 <= int(match.group(1)) <= 2100:
        raise _RowError(column, f"bad year {value!r}")
    return int(match.group(1))


def _coded(value: str, column: str, codes: dict[str, Any], what: str) -> Any:
    value = value.strip()
    if value in MISSING:
        return None
    try:
        return codes[value.lower()]
    except KeyError:
        raise _RowError(column, f"unknown {what} {value!r}") from None


def _age_band(value: str, column: str) -> str:
    value = value.strip()
    if value in MISSING:
        return ""
    if value not in AGE_BANDS:
        raise _RowError(column, f"unknown age band {value!r}")
    return value


def of_countries(codes: Iterable[str]) -> Callable[[HistoricalRecord], bool]:
    """A ``keep`` predicate for :func:`import_ctdc`: the rows of these countries.

    A row is kept when its citizenship or its country of exploitation is one of
    ``codes`` (ISO 3166-1 alpha-2, any case), e.g. ``{"MD"}`` for the records a
    Moldovan node holds.
    """
    wanted = frozenset(code.strip().upper() for code in codes)

    def keep(record: HistoricalRecord) -> bool:
        return record.citizenship in wanted or record.country_of_exploitation in wanted

    return keep


def row_key(*, release: str, row: int, cells: list[str]) -> str:
    """The idempotency key of a data row (see
    :class:`~trm.statistics.models.HistoricalRecord`)."""
    text = "\x1f".join([SOURCE, release, str(row), *cells])
    return hashlib.sha256(text.encode()).hexdigest()


def _row_keys(release: str) -> Callable[[int, list[str]], str]:
    """:func:`row_key` of ``release`` for rows of one cell or more, faster."""
    prefix = "\x1f".join([SOURCE, release, ""])
    sha256 = hashlib.sha256

    def key(row: int, cells: list[str]) -> str:
        text = f"{prefix}{row}\x1f" + "\x1f".join(cells)
        return sha256(text.encode()).hexdigest()

    return key


class _Reader:
    """Maps the data rows of a layout to value combinations of a
    :class:`~trm.statistics.bulk.RecordWriter` (one writer per reader).

    A row's values depend only on its cells in the mapped columns, and the
    files repeat few of those (936 distinct in the 48,773-row subset), so each
    distinct set of mapped cells is mapped once and remembered (a rejected row
    is read again each time: rejections are few).
    """

    def __init__(self, layout: Layout, header: list[str], release: str):
        self.layout = layout
        self.release = release
        self.width = len(header)
        self.header = header
        by_name = {name.strip().lower(): i for i, name in enumerate(header)}
        found = {c: layout.find(c, by_name) for c in layout.columns}
        self.index = {c: i for c, i in found.items() if i is not None}
        #: the mapped cells of a row (a row's values depend on nothing else).
        self.pick = operator.itemgetter(*sorted(set(self.index.values())))
        #: picked cells -> the writer's number for their values.
        self.cache: dict[Any, int] = {}
        #: Which rows to import (``import_ctdc(keep=...)``), decided once per
        #: combination of values: combination number -> kept.
        self.keep: Callable[[HistoricalRecord], bool] | None = None
        self.kept: dict[int, bool] = {}

    def combination(self, cells: list[str], writer: RecordWriter) -> int:
        """The ``writer``'s combination number of a row's values.

        Raises:
            _RowError: the row has the wrong number of cells, or a mapped cell
                cannot be read.
        """
        if len(cells) != self.width:
            column = self.header[min(len(cells), self.width - 1)].strip()
            hint = " (truncated line?)" if len(cells) < self.width else ""
            raise _RowError(
                column[:60],
                f"{len(cells)} cells where the header has {self.width}{hint}",
            )
        key = self.pick(cells)
        number = self.cache.get(key)
        if number is None:
            values = self.values(cells)
            number = self.cache[key] = writer.combination(values)
            if self.keep is not None:
                self.kept[number] = self.keep(HistoricalRecord(**values))
        return number

    def values(self, cells: list[str]) -> dict[str, Any]:
        """The record field values of a row of the header's width."""

        def cell(name: str) -> str:
            return cells[self.index[name]]

        def flag(name: str) -> bool | None:
            return _flag(cell(name), name)

        age = _age_band(cell("ageBroad"), "ageBroad")
        values: dict[str, Any] = {
            "year_of_registration": _year(
                cell("yearOfRegistration"), "yearOfRegistration"
            ),
            "gender": _coded(cell("gender"), "gender", GENDERS, "gender")
            or Gender.NOT_SPECIFIED_UNKNOWN,
            "age_group": age,
            "is_child": (age in CHILD_BANDS) if age else None,
            "citizenship": _country(cell("citizenship"), "citizenship"),
            "country_of_exploitation": _country(
                cell("CountryOfExploitation"), "CountryOfExploitation"
            ),
        }
        for list_field, columns in self.layout.flag_lists.items():
            codes: list[str] = []
            for column, added in columns.items():
                if column in self.index and flag(column):
                    codes.extend(str(c) for c in added if str(c) not in codes)
            values[list_field] = codes
        for column in self.layout.ignored_flags:
            flag(column)
        if self.layout is FULL:
            values["data_source"] = (
                _coded(cell("Datasource"), "Datasource", DATA_SOURCES, "data source")
                or ""
            )
            majority = _coded(
                cell("majorityStatus"), "majorityStatus", MAJORITY, "majority status"
            )
            if majority is not None:
                values["is_child"] = majority
            values["is_child_at_exploitation"] = _coded(
                cell("majorityStatusAtExploit"),
                "majorityStatusAtExploit",
                MAJORITY,
                "majority status",
            )
            values["is_abduction"] = flag("isAbduction")
        return values


def _split(line: str, separator: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=separator), [])
    except csv.Error as exc:
        raise CtdcFormatError(f"line 1: {exc}", details={"line": 1}) from None


def _sniff(header_line: str) -> tuple[Layout, list[str]]:
    """The layout of a header line, or CtdcFormatError naming the separator."""
    splits = {sep: _split(header_line, sep) for sep in (",", ";", "\t", "|")}
    best = max(splits, key=lambda sep: len(splits[sep]))
    cells = splits[best]
    names = {c.strip().lower() for c in cells}
    full = bool(cells) and (
        cells[0].startswith(TERMS_PREFIX) or "datasource" in names or len(cells) > 30
    )
    layout = FULL if full else SUBSET
    if not cells:
        raise CtdcFormatError(
            "line 1: the file is empty (no header line)", details={"line": 1}
        )
    if len(cells) < 2:
        raise CtdcFormatError(
            f"line 1: the header does not split on {layout.separator!r} "
            f"(the {layout.name} is {layout.separator!r}-separated)",
            details={"line": 1},
        )
    if best != layout.separator:
        raise CtdcFormatError(
            f"line 1: the header is separated by {best!r}, but the {layout.name} "
            f"is separated by {layout.separator!r}",
            details={"line": 1, "separator": best},
        )
    by_name = {c.strip().lower(): i for i, c in enumerate(cells)}
    missing = [c for c in layout.required if layout.find(c, by_name) is None]
    if missing:
        raise CtdcFormatError(
            f"line 1, column {missing[0]}: missing column"
            + (f" (and {', '.join(missing[1:])})" if len(missing) > 1 else "")
            + f" for the {layout.name}",
            details={"line": 1, "column": missing[0], "missing": missing},
        )
    return layout, cells


@dataclass
class _Progress:
    total: int
    done: Callable[[], int]


def import_ctdc(
    *,
    actor: Any,
    path: Path | str,
    release: str = DEFAULT_RELEASE,
    skip_invalid: bool = False,
    batch_size: int = 1000,
    progress: Callable[[int, int, int], None] | None = None,
    keep: Callable[[HistoricalRecord], bool] | None = None,
) -> ImportResult:
    """Import a CTDC file (subset or full layout) as historical records.

    Args:
        actor: who runs the import (``None`` for the command line); audited.
        path: the CSV file, UTF-8 (a BOM is ignored).
        release: the CTDC release the file comes from, ``YYYY-MM-DD``.
        skip_invalid: keep the readable rows when some are rejected; by
            default nothing is imported if any row is rejected.
        batch_size: records per insert statement.
        progress: called as ``progress(rows, bytes_read, bytes_total)`` after
            each batch.
        keep: when given, only the readable rows for which it returns True
            are imported (:func:`of_countries`); the others are counted in
            ``left_out``. Row keys stay those of the whole file.

    Returns:
        The counts and the rejections (row, line, column, message).

    Raises:
        CtdcFormatError: unreadable header (wrong separator, missing column),
            bad encoding or broken quoting; nothing imported.
    """
    path = Path(path)
    result = ImportResult()
    with (
        path.open("rb") as raw,
        io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as handle,
    ):
        # Bytes handed to the decoder so far (it reads ahead by 8 KiB).
        state = _Progress(total=path.stat().st_size, done=raw.tell)
        try:
            header_line = handle.readline()
            layout, header = _sniff(header_line.rstrip("\r\n"))
            reader = csv.reader(handle, delimiter=layout.separator, strict=True)
            mapper = _Reader(layout, header, release)
            with transaction.atomic(durable=True):
                _import_rows(
                    reader,
                    mapper,
                    result,
                    skip_invalid,
                    batch_size,
                    state,
                    progress,
                    keep,
                )
                if result.rejections and not skip_invalid:
                    result.imported = 0
                    transaction.set_rollback(True)
                else:
                    if result.imported or result.already_present:
                        releases.register(SOURCE, release)
                    audit.record(
                        actor=actor,
                        action="statistics.ctdc_imported",
                        target_type="statistics.historicalrecord",
                        data={
                            "release": release,
                            "imported": result.imported,
                            "already_present": result.already_present,
                            "left_out": result.left_out,
                            "rejected": result.rejected,
                        },
                    )
        except UnicodeDecodeError as exc:
            raise CtdcFormatError(
                f"the file is not UTF-8 ({exc.reason})", details={}
            ) from None
    return result


def _import_rows(
    reader: Any,
    mapper: _Reader,
    result: ImportResult,
    skip_invalid: bool,
    batch_size: int,
    state: _Progress,
    progress: Callable[[int, int, int], None] | None,
    keep: Callable[[HistoricalRecord], bool] | None = None,
) -> None:
    writer = RecordWriter(source=SOURCE, release=mapper.release)
    mapper.keep = keep
    with writer:
        batch: list[tuple[str, int]] = []
        row = 0
        key = _row_keys(mapper.release)
        # The common case inline: a row of the right width whose mapped cells
        # were seen before.
        width, pick, seen = mapper.width, mapper.pick, mapper.cache

        def flush() -> None:
            # Rows after a rejection are inserted too (so that "already present"
            # is counted); the caller rolls everything back unless skip_invalid.
            writer.insert(batch)
            batch.clear()
            if progress:
                progress(row, state.done(), state.total)

        try:
            for cells in reader:
                if not cells:  # a blank line
                    continue
                row += 1
                number = seen.get(pick(cells)) if len(cells) == width else None
                if number is None:
                    try:
                        number = mapper.combination(cells, writer)
                    except _RowError as exc:
                        result.rejections.append(
                            Rejection(row, reader.line_num + 1, exc.column, exc.message)
                        )
                        continue
                if keep is not None and not mapper.kept[number]:
                    result.left_out += 1
                    continue
                batch.append((key(row, cells), number))
                if len(batch) >= batch_size:
                    flush()
        except csv.Error as exc:
            raise CtdcFormatError(
                f"line {reader.line_num + 1}: {exc}",
                details={"line": reader.line_num + 1},
            ) from None
        flush()
    result.imported = writer.inserted
    result.already_present = writer.sent - writer.inserted
