"""Benchmark: the SOP deadline engine — a case's panel, "My tasks", the reminder job.

Seeds M open cases (default 20,000) with typical SOP 1 timelines (opened,
screening, presumed, reflection started, contacts, reviews), one case manager
on K of them (default 500), then measures:

* ``engine.case_sop_status`` for one case (the SOP panel; events loaded);
* ``selectors.tasks_for_user`` for the case manager on K cases (the My tasks page);
* ``jobs.send_reminders`` over all M open cases (the worker's pass), twice: the
  first creates reminders, the second finds them already sent.

Nothing personal is sealed or decrypted by the engine, so persons are seeded
with random key ids and no identity. Usage (not run by CI)::

    .venv/bin/python bench/sop.py                        # SQLite
    .venv/bin/python bench/sop.py --database postgres    # PostgreSQL (trm_bench)
    .venv/bin/python bench/sop.py --cases 5000 --mine 200

No budget is set by an issue yet; the figures are for the closing note and for
noticing regressions.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import configure


def seed(total: int, mine: int) -> object:
    from django.db import transaction
    from django.utils import timezone

    from trm.accounts.models import Membership, Organisation, Role, User
    from trm.cases.models import Case, CaseEvent, CaseTeamMember, Person

    rng = random.Random(7)
    org = Organisation.objects.create(
        name="Fictional Bench Org", country="BG", org_type="NGO", functions=["SP"]
    )
    manager = User.objects.create(username="bench-manager", organisation=org)
    Membership.objects.create(user=manager, role=Role.CASE_MANAGER)
    now = timezone.now()
    with transaction.atomic():
        for start in range(0, total, 2000):
            persons, cases, events, team = [], [], [], []
            for i in range(start, min(total, start + 2000)):
                age = timedelta(days=rng.randint(0, 60), hours=rng.randint(0, 23))
                opened = now - age
                person = Person(
                    data_key_id=uuid.uuid4(),
                    citizenships=[rng.choice(["RO", "MD", "BG", "UA"])],
                    presumed_child=rng.random() < 0.1,
                    asylum_applicant=rng.random() < 0.05,
                )
                case = Case(
                    number=f"BG-BENCH-{i:07d}",
                    person=person,
                    lead_organisation=org,
                    opened_at=opened,
                    identification="presumed",
                    reflection="reflection_period",
                )
                persons.append(person)
                cases.append(case)
                at = opened
                timeline = [
                    ("case.opened", "", "", ""),
                    ("sop1.screening_recorded", "", "", "refer"),
                    ("case.track_moved", "identification", "presumed", ""),
                    ("case.track_moved", "reflection", "reflection_period", ""),
                    ("sop1.reflection_started", "", "", "reasonable_grounds"),
                ]
                timeline += [("sop1.contact_recorded", "", "", "phone")] * rng.randint(
                    0, 4
                )
                if rng.random() < 0.5:
                    timeline.append(("sop1.risk_assessment_reviewed", "", "", "low"))
                for kind, track, to_state, code in timeline:
                    at += timedelta(hours=rng.randint(1, 30))
                    events.append(
                        CaseEvent(
                            case=case,
                            at=at,
                            kind=kind,
                            track=track,
                            to_state=to_state,
                            code=code,
                        )
                    )
                if i < mine:
                    team.append(
                        CaseTeamMember(case=case, user=manager, role=Role.CASE_MANAGER)
                    )
            Person.objects.bulk_create(persons)
            Case.objects.bulk_create(cases)
            CaseEvent.objects.bulk_create(events)
            CaseTeamMember.objects.bulk_create(team)
    return manager


def timed(fn: object, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append((time.perf_counter() - t0) * 1000)
    return out


def report(name: str, samples: list[float]) -> None:
    samples = sorted(samples)
    p95 = samples[max(0, int(len(samples) * 0.95) - 1)]
    print(f"{name:<44} p50 {statistics.median(samples):8.1f} ms   p95 {p95:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--mine", type=int, default=500)
    args = parser.parse_args()
    configure(args.database)
    from django.db import connection

    from trm.cases.models import Case
    from trm.sop import engine, jobs, selectors
    from trm.sop.loader import get_definition

    t0 = time.perf_counter()
    manager = seed(args.cases, args.mine)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(
        f"seeded {args.cases} open cases ({args.mine} on the manager's team) "
        f"in {time.perf_counter() - t0:.0f} s on {connection.vendor}"
    )
    definition = get_definition("baseline")
    ids = list(Case.objects.values_list("pk", flat=True)[:200])

    def panel() -> None:
        case = Case.objects.select_related("person").get(pk=random.choice(ids))
        engine.case_sop_status(case, definition=definition)

    report("SOP panel of one case (load + engine)", timed(panel, 200))
    report(
        f"My tasks for a user on {args.mine} cases",
        timed(lambda: selectors.tasks_for_user(user=manager), 20),
    )
    t0 = time.perf_counter()
    first = jobs.send_reminders()
    first_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    second = jobs.send_reminders()
    second_s = time.perf_counter() - t0
    print(
        f"reminder pass over {first.cases} open cases: {first_s:.1f} s "
        f"({first.created} reminders created); again: {second_s:.1f} s "
        f"({second.created} created)"
    )


if __name__ == "__main__":
    main()
