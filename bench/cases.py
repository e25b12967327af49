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

    fake = Faker(["ro_RO", "bg_BG", "sr_RS", "en_GB"])
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

    def search_raw() -> None:
        name, year = next(cycle)
        digest = crypto.blind_index(
            "name_year", f"{name_key(name)}|{birth_year_key(year)}"
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.id, c.number FROM cases_case c "
                "WHERE c.person_id IN (SELECT person_id FROM cases_personindex "
                "WHERE kind = %s AND digest = %s) "
                "AND (c.transnational <> 'no_link' OR EXISTS (SELECT 1 FROM "
                "cases_caseteammember t WHERE t.case_id = c.id AND t.user_id = %s)) "
                "ORDER BY c.opened_at DESC",
                [PersonIndex.Kind.NAME_BIRTH_YEAR, digest, ncp.pk],
            )
            cursor.fetchall()

    client = Client()
    from conftest import sign_in_verified

    sign_in_verified(client, ncp)

    def list_page() -> None:
        response = client.get("/cases/")
        assert response.status_code == 200, response.status_code

    def list_raw() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*) FROM cases_case c WHERE c.closed_at IS NULL AND "
                "(c.transnational <> 'no_link' OR EXISTS (SELECT 1 FROM "
                "cases_caseteammember t WHERE t.case_id = c.id AND t.user_id = %s))",
                [ncp.pk],
            )
            cursor.fetchall()
            cursor.execute(
                "SELECT c.*, p.* FROM cases_case c JOIN cases_person p ON "
                "p.id = c.person_id WHERE c.closed_at IS NULL AND "
                "(c.transnational <> 'no_link' OR EXISTS (SELECT 1 FROM "
                "cases_caseteammember t WHERE t.case_id = c.id AND t.user_id = %s)) "
                "ORDER BY c.opened_at DESC LIMIT 25",
                [ncp.pk],
            )
            cursor.fetchall()

    rows = [
        ("search (selector)", timed(search, 300)),
        ("search (raw SQL)", timed(search_raw, 300)),
        ("list page (GET /cases/)", timed(list_page, 100)),
        ("list page (raw SQL)", timed(list_raw, 100)),
    ]
    print(f"\n{'measure':<28}{'p50 ms':>10}{'p95 ms':>10}")
    figures = {}
    for label, samples in rows:
        p50, p95 = percentiles(samples)
        figures[label] = (p50, p95)
        print(f"{label:<28}{p50:>10.2f}{p95:>10.2f}")
    search_ratio = figures["search (selector)"][1] / figures["search (raw SQL)"][1]
    list_ratio = (
        figures["list page (GET /cases/)"][1] / figures["list page (raw SQL)"][1]
    )
    print(f"\nratio p95 search selector / raw SQL: {search_ratio:.2f}x (budget 3x)")
    print(f"ratio p95 list page / raw SQL:       {list_ratio:.2f}x (budget 3x)")
    print(
        "budgets: search p95 < 50 ms: "
        f"{'OK' if figures['search (selector)'][1] < 50 else 'OVER'}; "
        "list p95 < 150 ms: "
        f"{'OK' if figures['list page (GET /cases/)'][1] < 150 else 'OVER'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    configure(args.database)
    print(f"database: {args.database}, persons and cases: {args.n}")
    ctx = seed(args.n)
    measure(ctx)


if __name__ == "__main__":
    main()
