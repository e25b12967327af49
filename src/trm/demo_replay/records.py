"""The CTDC records the demo replays: read, filtered, sampled (no Django).

The input is the CTDC Global Dataset subset ``dados_app.csv`` (one row per
identified victim; columns ``yearOfRegistration, gender, ageBroad,
citizenship, isForcedLabour, isSexualExploit, CountryOfExploitation`` and
others; see ``shared/data/ctdc-global-2020-subset/SOURCE.md``). A row is
*cross-border between the demo countries* when its citizenship and its country
of exploitation are two different countries among those replayed (e.g. MD→RS:
a Moldovan exploited in Serbia). The rows carry no identity; the replay
invents a clearly fictional one for each (:mod:`trm.demo_replay.steps`).

Which records return: every :data:`RETURN_EVERY`-th adult of the sample (in
sample order) goes through referral and return; children and the rest stay in
long-term assistance in the country of exploitation.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: Every n-th adult record of the sample returns home.
RETURN_EVERY = 3
#: CTDC ``ageBroad`` bands of children.
CHILD_BANDS = frozenset({"0--8", "9--17"})
#: CTDC gender → HTCDS ``prs_Gender`` (:class:`trm.common.htcds.Gender`).
GENDERS = {"Female": "Feminine", "Male": "Masculine"}


@dataclass(frozen=True)
class Record:
    """One CTDC row to replay.

    Attributes:
        key: ``r<nnn>``, unique in a replay (the row's place in the sample).
        row: the row's line number in the CSV (header = 1), for tracing.
        citizenship: ISO 3166-1 alpha-2, the country of origin.
        exploitation_country: ISO alpha-2, where the case opens.
        gender: HTCDS gender code.
        age_band: the CTDC ``ageBroad`` band (``18--20``…; empty if unknown).
        exploitation: ``labour`` and/or ``sexual`` (``labour`` if neither).
        year: ``yearOfRegistration``.
        returns: the record goes through referral and return.
    """

    key: str
    row: int
    citizenship: str
    exploitation_country: str
    gender: str
    age_band: str
    exploitation: tuple[str, ...]
    year: int
    returns: bool = False

    @property
    def child(self) -> bool:
        return self.age_band in CHILD_BANDS

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["exploitation"] = list(self.exploitation)
        return data


def _flag(value: str) -> bool:
    return value.strip() in {"1", "1.0"}


def cross_border_rows(path: Path, countries: Iterable[str]) -> Iterator[Record]:
    """Yield the rows of ``path`` between two different ``countries``.

    ``key`` and ``returns`` are placeholders until :func:`sample` sets them.
    Rows with an unknown (``0``) or empty country are skipped.

    Raises:
        OSError: the file cannot be read.
        KeyError: a required column is missing.
    """
    wanted = {c.upper() for c in countries}
    with path.open(encoding="utf-8", newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            origin = row["citizenship"].strip().upper()
            where = row["CountryOfExploitation"].strip().upper()
            if origin == where or origin not in wanted or where not in wanted:
                continue
            kinds = tuple(
                kind
                for kind, column in (
                    ("labour", "isForcedLabour"),
                    ("sexual", "isSexualExploit"),
                )
                if _flag(row[column])
            )
            yield Record(
                key="",
                row=line,
                citizenship=origin,
                exploitation_country=where,
                gender=GENDERS.get(row["gender"].strip(), "NonSpecifiedUnknown"),
                age_band=row["ageBroad"].strip(),
                exploitation=kinds or ("labour",),
                year=int(float(row["yearOfRegistration"] or 0)),
            )


def sample(rows: Iterable[Record], size: int, seed: int) -> list[Record]:
    """Pick ``size`` rows at random (reproducible with ``seed``), spread over
    the country pairs in proportion, and number them ``r001``…; mark every
    :data:`RETURN_EVERY`-th adult as returning.

    Returns every row when there are fewer than ``size``.
    """
    pool = list(rows)
    rng = random.Random(seed)  # noqa: S311 - a reproducible sample, not a secret
    picked = pool if len(pool) <= size else rng.sample(pool, size)
    picked.sort(key=lambda r: (r.exploitation_country, r.citizenship, r.row))
    out: list[Record] = []
    adults = 0
    for number, record in enumerate(picked, start=1):
        returns = False
        if not record.child:
            adults += 1
            returns = adults % RETURN_EVERY == 0
        out.append(
            Record(
                **{
                    **asdict(record),
                    "key": f"r{number:03d}",
                    "returns": returns,
                }
            )
        )
    return out


def load(path: Path, countries: Iterable[str], size: int, seed: int) -> list[Record]:
    """:func:`cross_border_rows` then :func:`sample`."""
    return sample(cross_border_rows(path, countries), size, seed)
