"""Benchmark: blind-index search and the case-list page over 100,000 persons and cases.

Seeds N synthetic (Faker, clearly fictional) persons with their cases, sealed
under per-person data keys exactly as ``case_open`` does (bulk inserts, to seed in
minutes), then measures p50/p95 of:

* exact search by blind index through ``cases.selectors.case_search``
  (name + birth year), against the same query as raw SQL;
* the case-list page (``GET /cases/``: query, count, 25 names decrypted, HTML
  rendered), against the raw SQL of its page query.

Usage (not run by CI)::

    .venv/bin/python bench/cases.py                       # SQLite, N=100000
    .venv/bin/python bench/cases.py --database postgres   # PostgreSQL (trm_bench)
    .venv/bin/python bench/cases.py --n 20000             # smaller

Budgets (issue "Cases, persons, consent…"): search p95 < 50 ms, list page
p95 < 150 ms on 2 cores, ratio to raw SQL ≤ 3×.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

PROFILE = False
SEARCH_SQL: dict[str, Any] = {}
LIST_SQL: dict[str, Any] = {}


def configure(database: str) -> None:
    data_dir = tempfile.mkdtemp(prefix="trm-bench-")
    os.environ.update(
        {
            "TRM_ENV": "development",
            "TRM_DEBUG": "0",
            "TRM_DATA_DIR": data_dir,
            "TRM_NODE_ID": "bench-node",
            "TRM_COUNTRY": "BG",
            "TRM_ALLOWED_HOSTS": "testserver,127.0.0.1",
            "TRM_KEK": base64.b64encode(os.urandom(32)).decode(),
            "DJANGO_SETTINGS_MODULE": "trm.settings",
        }
    )
    if database == "postgres":
        for name in ("trm_bench", "trm_bench_keystore"):
            subprocess.run(
                ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", name],
                check=True,
            )
            subprocess.run(
                ["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True
            )
        os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/trm_bench"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(n: int) -> dict[str, object]:
    from django.db import transaction
    from django.utils import timezone
    from faker import Faker

    from trm.accounts.models import Membership, Organisation, Role, User
    from trm.cases.identity import IdentityDocument, PersonIdentity
    from trm.cases.models import Case, CaseTeamMember, Person, PersonIndex
    from trm.cases.services import _index_entries, _seal_identity
    from trm.cases.tracks import TransnationalLink
    from trm.common import keys
    from trm.dataprotection.models import DataKey
    from trm.dataprotection.router import KEYSTORE

    fake = Faker(["ro_RO", "bg_BG", "en_GB"])
    Faker.seed(7)
    random.seed(7)
    org = Organisation.objects.create(
        name="Fictional Bench Shelter", country="BG", org_type="NGO", functions=["SP"]
    )
    managers = []
    for i in range(200):
        user = User.objects.create(username=f"bench-cm-{i}", organisation=org)
        Membership.objects.create(user=user, role=Role.CASE_MANAGER)
        managers.append(user)
    ncp = User.objects.create(username="bench-ncp", organisation=org)
    Membership.objects.create(user=ncp, role=Role.NATIONAL_CONTACT_POINT)
    kek = keys.load_kek()
    fingerprint = keys.kek_fingerprint(kek)
    probes: list[tuple[str, int]] = []
    now = timezone.now()
    batch = 2000
    started = time.perf_counter()
    for offset in range(0, n, batch):
        size = min(batch, n - offset)
        data_keys, persons, cases, team, indexes = [], [], [], [], []
        for _j in range(size):
            key_id = uuid.uuid4()
            raw_key = os.urandom(32)
            data_keys.append(
                DataKey(
                    id=key_id,
                    wrapped=keys.wrap_key(
                        raw_key, kek=kek, context=b"trm:data-key:" + key_id.bytes
                    ),
                    kek_fingerprint=fingerprint,
                )
            )
            birth = fake.date_of_birth(minimum_age=14, maximum_age=60)
            identity = PersonIdentity(
                given_names=fake.first_name(),
                family_names=f"{fake.last_name()} Fictiv",
                birth_date=birth,
                documents=[
                    IdentityDocument(kind="passport", number=fake.bothify("??######"))
                ],
                phones=[fake.phone_number()],
            )
            person = Person(data_key_id=key_id, citizenships=["RO"], languages=["ro"])
            persons.append((person, identity))
            if random.random() < 0.01:
                probes.append((identity.full_name(), birth.year))
        DataKey.objects.using(KEYSTORE).bulk_create(data_keys)
        for person, identity in persons:
            person.sealed_identity = _seal_identity(person, identity)
        Person.objects.bulk_create([p for p, _ in persons])
        for index, (person, identity) in enumerate(persons):
            number = offset + index + 1
            case = Case(
                number=f"BG-2026-{number:06d}",
                person=person,
                lead_organisation=org,
                opened_at=now - timedelta(minutes=n - number),
                transnational=(
                    TransnationalLink.LINKED
                    if number % 3 == 0
                    else TransnationalLink.NO_LINK
                ),
            )
            cases.append(case)
            team.append(
                CaseTeamMember(
                    case=case,
                    user=managers[number % len(managers)],
                    role=Role.CASE_MANAGER,
                )
            )
            for kind, digest in _index_entries(identity):
                indexes.append(PersonIndex(person=person, kind=kind, digest=digest))
        with transaction.atomic():
            Case.objects.bulk_create(cases)
            CaseTeamMember.objects.bulk_create(team)
            PersonIndex.objects.bulk_create(indexes)
        print(f"\rseeded {offset + size:>7}/{n}", end="", file=sys.stderr)
    print(f"\nseeding took {time.perf_counter() - started:.0f} s", file=sys.stderr)
    # Planner statistics, as PostgreSQL's autovacuum keeps them on a live node
    # (and as `ANALYZE` / `PRAGMA optimize` gives SQLite).
    from django.db import connections

    for alias in ("default", "keystore"):
        with connections[alias].cursor() as cursor:
            cursor.execute("ANALYZE")
    return {"manager": managers[0], "ncp": ncp, "probes": probes}


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return statistics.median(ordered) * 1000, p95 * 1000


def timed(fn, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    fn()  # warm up
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def measure(ctx: dict[str, object]) -> None:
    from django.db import connection
    from django.test import Client

    from trm.cases import selectors
    from trm.cases.models import PersonIndex
    from trm.dataprotection import crypto
    from trm.dataprotection.normalise import birth_year_key, name_key

    ncp = ctx["ncp"]
    probes = ctx["probes"]
    assert probes, "no probe names recorded"
    cycle = iter(probes * 1000)

    def search() -> None:
        name, year = next(cycle)
        found = list(selectors.case_search(user=ncp, name=name, birth_year=year))
        del found

    from trm.cases.models import Case

    def search_raw() -> None:
        # The very SQL the ORM runs for the search (compiled by Django once, with
        # the digest as a parameter), executed by hand: the ratio is the ORM cost.
        name, year = next(cycle)
        digest = crypto.blind_index(
            "name_year", f"{name_key(name)}|{birth_year_key(year)}"
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT person_id FROM cases_personindex WHERE kind = %s AND "
                "digest = %s LIMIT 500",
                [PersonIndex.Kind.NAME_BIRTH_YEAR, digest],
            )
            person_ids = [row[0] for row in cursor.fetchall()]
            key = len(person_ids)
            markers = [uuid.UUID(int=i + 1) for i in range(key)]
            field = Case._meta.get_field("person").target_field  # type: ignore[union-attr]
            prepped = [field.get_db_prep_value(m, connection) for m in markers]
            if key not in SEARCH_SQL:  # compiled once per list length
                SEARCH_SQL[key] = (
                    selectors.case_list_for_user(user=ncp, status="all")
                    .filter(person_id__in=markers)
                    .query.sql_with_params()
                )
            sql, template = SEARCH_SQL[key]
            lookup = {str(m): real for m, real in zip(prepped, person_ids, strict=True)}
            params = [lookup.get(str(p), p) for p in template]
            cursor.execute(sql, params)
            cursor.fetchall()

    client = Client()
    from conftest import sign_in_verified

    sign_in_verified(client, ncp)

    def list_page() -> None:
        response = client.get("/cases/")
        assert response.status_code == 200, response.status_code

    def list_raw() -> None:
        # The count and the page query the list view runs, as raw SQL.
        queryset = selectors.case_list_for_user(user=ncp, status="open")
        count_sql = LIST_SQL.get("count")
        if count_sql is None:
            counted = queryset[:1001].query.clone()
            inner, inner_params = counted.sql_with_params()
            LIST_SQL["count"] = f"SELECT COUNT(*) FROM ({inner}) subquery"  # noqa: S608
            LIST_SQL["count_params"] = inner_params
            page_sql, page_params = queryset[:25].query.sql_with_params()
            LIST_SQL["page"], LIST_SQL["page_params"] = page_sql, page_params
        with connection.cursor() as cursor:
            cursor.execute(LIST_SQL["count"], LIST_SQL["count_params"])
            cursor.fetchall()
            cursor.execute(LIST_SQL["page"], LIST_SQL["page_params"])
            cursor.fetchall()

    if PROFILE:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(200):
            search()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(50):
            list_page()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)

    from trm.common.pagination import CappedPaginator

    def search_query_orm() -> None:
        name, year = next(cycle)
        digest = crypto.blind_index(
            "name_year", f"{name_key(name)}|{birth_year_key(year)}"
        )
        persons = list(
            PersonIndex.objects.filter(
                kind=PersonIndex.Kind.NAME_BIRTH_YEAR, digest=digest
            ).values_list("person_id", flat=True)[:500]
        )
        list(
            selectors.case_list_for_user(user=ncp, status="all").filter(
                person_id__in=persons
            )
        )

    def list_query_orm() -> None:
        paginator = CappedPaginator(
            selectors.case_list_for_user(user=ncp, status="open"), 25
        )
        list(paginator.page(1).object_list)

    def list_names_orm() -> None:
        cases: list[Case] = list(
            selectors.case_list_for_user(user=ncp, status="open")[:25]
        )
        selectors.display_names_for_user(user=ncp, cases=cases)

    if PROFILE:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(200):
            search_query_orm()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)

    rows = [
        ("search (selector, audited)", timed(search, 300)),
        ("search query (ORM)", timed(search_query_orm, 300)),
        ("search (raw SQL)", timed(search_raw, 300)),
        ("list page (GET /cases/)", timed(list_page, 100)),
        ("list query (ORM)", timed(list_query_orm, 100)),
        ("list 25 names (decrypt+audit)", timed(list_names_orm, 100)),
        ("list page (raw SQL)", timed(list_raw, 100)),
    ]
    print(f"\n{'measure':<32}{'p50 ms':>10}{'p95 ms':>10}")
    figures = {}
    for label, samples in rows:
        p50, p95 = percentiles(samples)
        figures[label] = (p50, p95)
        print(f"{label:<32}{p50:>10.2f}{p95:>10.2f}")

    def ratio(a: str, b: str) -> float:
        return figures[a][1] / figures[b][1]

    print("\nratios of p95 (budget: 3x for the same query):")
    for label, a, b in (
        ("search query, ORM / raw SQL", "search query (ORM)", "search (raw SQL)"),
        ("list query, ORM / raw SQL", "list query (ORM)", "list page (raw SQL)"),
        (
            "search selector+audit / raw",
            "search (selector, audited)",
            "search (raw SQL)",
        ),
        (
            "list page request / raw SQL",
            "list page (GET /cases/)",
            "list page (raw SQL)",
        ),
    ):
        print(f"  {label:<34}{ratio(a, b):>8.2f}x")
    search_p95 = figures["search (selector, audited)"][1]
    list_p95 = figures["list page (GET /cases/)"][1]
    print(
        f"budgets: search p95 < 50 ms: {'OK' if search_p95 < 50 else 'OVER'}; "
        f"list page p95 < 150 ms: {'OK' if list_p95 < 150 else 'OVER'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--profile", action="store_true", help="print a cProfile of the search"
    )
    args = parser.parse_args()
    global PROFILE
    PROFILE = args.profile
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    configure(args.database)
    print(f"database: {args.database}, persons and cases: {args.n}")
    ctx = seed(args.n)
    measure(ctx)


if __name__ == "__main__":
    main()
