"""Benchmark: statistics — the CTDC import and the dashboard's main count table.

Measures, on SQLite and on PostgreSQL (a scratch database, created and dropped):

1. **CTDC import** of the real subset
   (``/work/shared/data/ctdc-global-2020-subset/dados_app.csv``) through
   :func:`trm.statistics.ctdc.import_ctdc` (parse, map to HTCDS codes, row
   keys, idempotence check, bulk insert, audit), against ``pandas.read_csv`` of
   the same file in the same run (parse only). Budget ≤ 5×. pandas is NOT a
   dependency of the project: install it in your own venv to get this figure
   (the bench says so and skips the ratio when it is missing).
2. **The dashboard's main query**:
   ``part_tables(rows="year", columns="exploitation_type")`` — the counting
   behind ``protected_table``, which the dashboard publishes (people by year of
   registration and type of exploitation, the dashboard's main chart) over
   ``--n`` synthetic historical records (default 1,000,000, bulk inserted:
   ``executemany`` on SQLite, ``COPY`` on PostgreSQL), against the raw
   ``GROUP BY`` SQL the table needs (the JSON list expanded with
   ``json_each`` / ``jsonb_array_elements_text``; grouped by dataset too, since
   each dataset is protected on its own). Budget ≤ 1.5×. For scale it
   also times a scalar table (``year`` × ``sex``, no JSON expansion) and the
   raw scalar ``GROUP BY``.

Each figure is the median of ``--repeat`` runs (after one warm-up). Not run
by CI. Usage::

    .venv/bin/python bench/stats.py                        # both databases, 1M
    .venv/bin/python bench/stats.py --n 100000 --database sqlite
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CTDC = Path("/work/shared/data/ctdc-global-2020-subset/dados_app.csv")
PG = ["-h", "127.0.0.1", "-U", "postgres"]
PG_NAME = "trm_bench_stats"
IMPORT_BUDGET = 5.0
QUERY_BUDGET = 1.5

TYPES = [
    "ForcedLabour",
    "SexualExploitation",
    "ChildLabour",
    "ForcedMarriage",
    "Servitude",
    "ForcedBegging",
    "OrganRemoval",
]
GENDERS = ["Feminine", "Masculine", "NonSpecifiedUnknown"]
BANDS = ["0--8", "9--17", "18--20", "21--23", "24--26", "27--29", "30--38", "48+"]
COUNTRIES = ["BG", "RO", "MD", "UA", "US", "PH", "ID", "KH", ""]


def median_seconds(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    result = fn()  # warm-up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def configure(database: str) -> None:
    os.environ.update(
        {
            "TRM_ENV": "development",
            "TRM_DEBUG": "0",
            "TRM_DATA_DIR": tempfile.mkdtemp(prefix="trm-bench-stats-"),
            "TRM_NODE_ID": "bench-node",
            "TRM_COUNTRY": "BG",
            "TRM_KEK": base64.b64encode(os.urandom(32)).decode(),
            "DJANGO_SETTINGS_MODULE": "trm.settings",
        }
    )
    if database == "postgres":
        os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{PG_NAME}"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def bench_import(repeat: int) -> None:
    from trm.statistics.ctdc import import_ctdc
    from trm.statistics.models import HistoricalRecord

    def ours() -> int:
        HistoricalRecord.objects.all().delete()
        return import_ctdc(actor=None, path=CTDC).imported

    ours_s, imported = median_seconds(ours, repeat)
    print(f"  CTDC import (trm):   {ours_s:8.3f} s  ({imported} records)")
    try:
        import pandas
    except ImportError:
        print(
            "  pandas is not installed: no baseline. Install it in YOUR venv only "
            "(not a project dependency): pip download pandas -d /tmp/whl && "
            ".venv/bin/pip install /tmp/whl/*.whl"
        )
        return
    theirs_s, frame = median_seconds(lambda: pandas.read_csv(CTDC), repeat)
    ratio = ours_s / theirs_s
    verdict = "OK" if ratio <= IMPORT_BUDGET else "OVER BUDGET"
    print(f"  pandas.read_csv:     {theirs_s:8.3f} s  ({len(frame)} rows)")
    print(f"  ratio {ratio:.2f}x (budget ≤ {IMPORT_BUDGET}x): {verdict}")


def synthetic_rows(n: int):  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    for i in range(n):
        k = rng.choices([0, 1, 2], weights=[1, 6, 2])[0]
        band = rng.choice([*BANDS, ""])
        yield (
            "bench",
            "synthetic",
            f"{i:064d}",
            rng.randint(2002, 2021) if rng.random() > 0.02 else None,
            "",
            rng.choice(GENDERS),
            band,
            None if not band else band in ("0--8", "9--17"),
            None,
            rng.choice(COUNTRIES),
            rng.choice(COUNTRIES),
            json.dumps(rng.sample(TYPES, k)),
            "[]",
            "[]",
            "[]",
            None,
            "[]",
        )


COLUMNS = (
    "source, release, row_key, year_of_registration, data_source, gender, "
    "age_group, is_child, is_child_at_exploitation, citizenship, "
    "country_of_exploitation, exploitation_types, means_of_control, "
    "types_of_labour, types_of_sexual_exploitation, is_abduction, "
    "recruiter_relations"
)


def load(n: int) -> float:
    from django.db import connection, transaction

    from trm.statistics.models import HistoricalRecord

    table = HistoricalRecord._meta.db_table
    HistoricalRecord.objects.all().delete()
    started = time.perf_counter()
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        raw = connection.connection
        copy_sql = f"COPY {table} ({COLUMNS}) FROM STDIN"
        with (
            transaction.atomic(),
            raw.cursor() as cursor,
            cursor.copy(copy_sql) as copy,
        ):
            for row in synthetic_rows(n):
                copy.write_row(row)
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {table}")
    else:
        marks = ", ".join(["%s"] * 17)
        sql = f"INSERT INTO {table} ({COLUMNS}) VALUES ({marks})"  # noqa: S608 (model's table)
        rows = synthetic_rows(n)
        with transaction.atomic(), connection.cursor() as cursor:
            while chunk := [r for _, r in zip(range(50_000), rows, strict=False)]:
                cursor.executemany(sql, chunk)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return time.perf_counter() - started


def raw_sql(scalar: bool) -> str:
    from django.db import connection

    from trm.statistics.models import HistoricalRecord

    table = HistoricalRecord._meta.db_table
    if scalar:
        return (
            f"SELECT r.source, r.year_of_registration, r.gender, COUNT(*) "  # noqa: S608
            f"FROM {table} r GROUP BY r.source, r.year_of_registration, r.gender"
        )
    if connection.vendor == "postgresql":
        join = (
            "LEFT JOIN LATERAL jsonb_array_elements_text(r.exploitation_types) "
            "AS x(value) ON TRUE"
        )
    else:
        join = "LEFT JOIN json_each(r.exploitation_types) AS x ON 1 = 1"
    return (
        f"SELECT r.source, r.year_of_registration, x.value, COUNT(*) "  # noqa: S608
        f"FROM {table} r {join} GROUP BY r.source, r.year_of_registration, x.value"
    )


def bench_query(n: int, repeat: int) -> None:
    from django.db import connection

    from trm.statistics.tables import part_tables, protected_table

    print(f"  loading {n:,} synthetic historical records…", flush=True)
    print(f"  load:                {load(n):8.3f} s")

    def raw(scalar: bool) -> Callable[[], object]:
        def run() -> object:
            with connection.cursor() as cursor:
                cursor.execute(raw_sql(scalar))
                return cursor.fetchall()

        return run

    cases = [
        ("year × exploitation_type", "exploitation_type", False),
        ("year × sex (scalar)", "sex", True),
    ]
    for label, columns, scalar in cases:
        # The dashboard's counting: one GROUP BY per dataset (part_tables),
        # then protect_parts; the protection itself is pure Python on the
        # small result and is timed apart.
        ours_s, tables = median_seconds(
            lambda c=columns: part_tables(rows="year", columns=c), repeat
        )
        published_s, _published = median_seconds(
            lambda c=columns: protected_table(rows="year", columns=c), repeat
        )
        raw_s, _rows = median_seconds(raw(scalar), repeat)
        ratio = ours_s / raw_s
        total = sum(t.grand_total for t in tables)  # type: ignore[attr-defined]
        print(f"  {label}:")
        print(
            f"    part_tables:       {ours_s * 1000:8.1f} ms  (grand total {total:,})"
        )
        print(f"    protected_table:   {published_s * 1000:8.1f} ms  (with protection)")
        print(f"    raw GROUP BY:      {raw_s * 1000:8.1f} ms")
        if not scalar:
            verdict = "OK" if ratio <= QUERY_BUDGET else "OVER BUDGET"
            print(f"    ratio {ratio:.2f}x (budget ≤ {QUERY_BUDGET}x): {verdict}")
        else:
            print(f"    ratio {ratio:.2f}x")


def worker(database: str, n: int, repeat: int) -> None:
    configure(database)
    print(f"== {database} ==", flush=True)
    if CTDC.exists():
        bench_import(repeat)
    else:
        print(f"  {CTDC} not found: CTDC import skipped")
    bench_query(n, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--database", choices=["sqlite", "postgres", "both"], default="both"
    )
    parser.add_argument("--worker", choices=["sqlite", "postgres"])
    args = parser.parse_args()
    if args.worker:
        sys.path.insert(0, str(ROOT / "src"))
        worker(args.worker, args.n, args.repeat)
        return
    chosen = ["sqlite", "postgres"] if args.database == "both" else [args.database]
    for database in chosen:
        command = [
            sys.executable,
            __file__,
            "--worker",
            database,
            "--n",
            str(args.n),
            "--repeat",
            str(args.repeat),
        ]
        if database == "postgres":
            names = [PG_NAME, f"{PG_NAME}_keystore"]
            for name in names:
                subprocess.run(["dropdb", *PG, "--if-exists", name], check=True)
                subprocess.run(["createdb", *PG, name], check=True)
            try:
                subprocess.run(command, check=True)
            finally:
                for name in names:
                    subprocess.run(["dropdb", *PG, "--if-exists", name], check=True)
        else:
            subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
