"""Benchmark: the exchange channel between two real nodes on loopback.

Two node processes (server + workers each, own PostgreSQL databases) and
``N`` ``referral.request`` messages of realistic size (a referral with
identity, documents, contact, case summary, health, family and risk texts:
about 2.1 KB of JSON). Measures, in one run:

* **exchange**: end-to-end throughput from ``enqueue`` (outbox row
  ``created_at``) to receipt stored (``sent_at``), all messages queued at once
  and delivered by ``--workers`` worker processes; then p50/p99 latency
  (enqueue → receipt stored) of a paced run (``--paced`` messages at
  ``--rate`` per second) so queueing does not dominate;
* **baseline**: the same payloads as a plain unsigned, unencrypted JSON POST
  to an equivalent endpoint of the same receiving server that validates them
  with the same schema and inserts one row, sent with the same concurrency;
* the ratio; where the CPU went during the burst (the machine, the
  receiving server, the sending workers, the rest: share of the cores and ms
  per message, from /proc); and a cProfile of the sender's ``deliver_due``.

The receiving node serves with ``trm serve --processes 2`` (one per core;
``--server-processes`` changes it) and runs with ``bench/exchange_bench`` (its
handler of ``referral.request`` does nothing, so the channel is measured, not
the referral workflow). Not run by CI. Usage::

    .venv/bin/python bench/exchange.py                  # N=5000, PostgreSQL
    .venv/bin/python bench/exchange.py --n 500 --workers 2

Budget (issue "The transnational channel"): ≥ 200 messages/s on 2 cores and
≤ 3× the plain baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.federation import Node, children_of, peer, wait_for  # noqa: E402

SEED = """
import random, uuid
from datetime import timedelta
from django.db import transaction
from django.utils import timezone
from faker import Faker
from trm.accounts.models import Organisation
from trm.exchange import registry, services
from trm.exchange.models import Peer

fake = Faker()
Faker.seed(7)
random.seed(7)
org = Organisation.objects.get(home_node=PEER, remote_id__isnull=False)

def payload(i):
    return {
        "trm_case_ref": f"bench-{uuid.uuid4().hex[:12]}",
        "exchange_key": str(uuid.uuid4()),
        "from_organisation": {"id": str(uuid.uuid4()),
                              "name": "Fictional Referring NGO", "country": "MD"},
        "to_organisation_id": str(org.remote_id),
        "reason": "additional_services_required",
        "services": ["shelter", "medical", "legal_aid"],
        "urgency": "normal",
        "reply_by": (timezone.now() + timedelta(days=3)).isoformat(),
        "categories": ["identity", "documents", "contact", "case_summary",
                       "health", "family", "risk"],
        "consent_ref": str(uuid.uuid4()),
        "risk_shared_without_consent": False,
        "shared": {
            "identity": {"given_names": fake.first_name(),
                         "family_names": fake.last_name() + " (fictional)",
                         "aliases": [fake.first_name()],
                         "birth_date": str(fake.date_of_birth(minimum_age=18,
                                                              maximum_age=40)),
                         "birth_date_is_estimate": False,
                         "place_of_birth": fake.city()},
            "documents": [{"kind": "passport", "number": fake.bothify("??######"),
                           "issuing_country": "MD"}],
            "contact": {"phones": [fake.phone_number()],
                        "addresses": [fake.address().replace(chr(10), ", ")]},
            "case_summary": fake.paragraph(nb_sentences=12),
            "health": fake.paragraph(nb_sentences=5),
            "family": fake.paragraph(nb_sentences=5),
        },
        "risk": fake.paragraph(nb_sentences=4),
        "meeting": None,
        "person": {"gender": "female", "age_band": "18_24", "presumed_child": False,
                   "citizenships": ["MD"], "languages": ["ro"]},
    }

# The benchmark checks the channel, not the consent records: accept the basis.
registry.register_legal_basis_check(lambda **kw: None)
mtype = registry.message_type("referral.request")
start = time.perf_counter()
sizes = []
bodies = []
for i in range(N):
    body = payload(i)
    model = mtype.schema.model_validate(body)
    bodies.append(model.model_dump(mode="json"))
t0 = time.perf_counter()
for i, body in enumerate(bodies):
    if RATE:
        ahead = t0 + i / RATE - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
    with transaction.atomic():
        services.enqueue(to_node=PEER, type="referral.request", payload=body,
                         legal_basis="consent:" + body["consent_ref"],
                         categories=body["categories"],
                         conversation=body["trm_case_ref"])
    sizes.append(len(json.dumps(body)))
result = {"seconds": time.perf_counter() - start, "mean_bytes": sum(sizes) / len(sizes),
          "bodies": bodies if DUMP else []}
"""


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def seed(
    node: Node, peer_id: str, org_name: str, n: int, *, dump: bool, rate: float = 0
) -> dict:
    code = f"import json, time\nPEER={peer_id!r}\nORG_NAME={org_name!r}\nN={n}\n"
    code += f"DUMP={dump!r}\nRATE={rate!r}\n" + SEED
    return node.python(code)


def stats(node: Node, since: str) -> dict:
    """Delivery figures of messages queued since ``since``, read straight from
    the node's database (a Django process per poll would load the machine)."""
    import psycopg

    with psycopg.connect(f"{node.postgres_url}/{node.db_name}") as conn:
        rows = conn.execute(
            "SELECT status, created_at, sent_at FROM exchange_outboxmessage "
            "WHERE created_at >= %s",
            (since,),
        ).fetchall()
    sent = [(c, s) for st, c, s in rows if st == "sent"]
    return {
        "total": len(rows),
        "sent": len(sent),
        "first": min(c for c, _ in sent).timestamp() if sent else None,
        "last": max(s for _, s in sent).timestamp() if sent else None,
        "latencies": sorted((s - c).total_seconds() for c, s in sent),
    }


def now_iso(node: Node) -> str:
    snippet = "from django.utils import timezone\nresult = timezone.now()"
    return str(node.python(snippet))


def set_peer_status(node: Node, peer_id: str, status: str) -> None:
    import psycopg

    with psycopg.connect(f"{node.postgres_url}/{node.db_name}") as conn:
        conn.execute(
            "UPDATE exchange_peer SET status = %s WHERE node_id = %s", (status, peer_id)
        )


def start_workers(node: Node, count: int) -> None:
    """Start ``count`` workers and wait until each says it runs (a worker's
    start-up checks take a few seconds of CPU; they are not the channel)."""
    log = node.dir / "worker.log"
    before = log.read_text().count("TRM worker running") if log.exists() else 0
    for _ in range(count):
        node.start_worker(exchange_interval=0.2)
    wait_for(
        lambda: log.read_text().count("TRM worker running") >= before + count,
        timeout=120,
        every=0.2,
    )


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _process_seconds(pid: int) -> float:
    """CPU seconds (user + system) a live process has used; 0 if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_snapshot(a: Node, b: Node) -> dict[str, float]:
    """CPU seconds so far: the whole machine (busy, all cores, from
    /proc/stat), the receiving node's server (with its forked processes) and
    the sending node's workers. Linux only; empty elsewhere."""
    try:
        line = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return {}
    ticks = [int(v) for v in line]
    busy = sum(ticks[:8]) - ticks[3] - ticks[4]  # less idle and iowait
    server = b.server.pid if b.server else 0
    return {
        "machine": busy / CLOCK_TICKS,
        "receiver": sum(_process_seconds(p) for p in [server, *children_of(server)]),
        "sender": sum(_process_seconds(w.pid) for w in a.workers),
    }


def cpu_report(
    before: dict[str, float], after: dict[str, float], *, seconds: float, messages: int
) -> str:
    """Where the CPU went between two snapshots: share of one core and
    milliseconds per message, for the receiving server, the sending workers
    and the rest (both PostgreSQL servers, the receiver's worker, this
    script)."""
    if not before or not after or not messages:
        return "  (CPU split not available on this system)"
    used = {k: after[k] - before[k] for k in before}
    used["rest"] = used["machine"] - used["receiver"] - used["sender"]
    cores = os.cpu_count() or 1
    parts = ", ".join(
        f"{label} {used[key] / seconds * 100:.0f} % "
        f"({used[key] / messages * 1000:.2f} ms/msg)"
        for key, label in (
            ("receiver", "receiving server"),
            ("sender", "sending workers"),
            ("rest", "rest: PostgreSQL etc."),
        )
    )
    return (
        f"  CPU during the burst ({cores} cores = {cores * 100} %): machine "
        f"{used['machine'] / seconds * 100:.0f} % "
        f"({used['machine'] / messages * 1000:.2f} ms/msg); {parts}"
    )


def exchange_burst(a: Node, b: Node, n: int, workers: int, org: str) -> dict:
    since = now_iso(a)
    seeded = seed(a, b.node_id, org, n, dump=True)
    print(
        f"  enqueued {n} in {seeded['seconds']:.1f} s "
        f"({n / seeded['seconds']:.0f}/s), mean payload {seeded['mean_bytes']:.0f} B"
    )
    # The workers start while the peer is disabled (nothing is claimed), so
    # the clock starts when sending can, with the queue full.
    set_peer_status(a, b.node_id, "disabled")
    start_workers(a, workers)
    before = cpu_snapshot(a, b)
    set_peer_status(a, b.node_id, "active")
    started = time.time()
    result = wait_for(
        lambda: (s := stats(a, since))["sent"] == n and s, timeout=1800, every=0.5
    )
    after = cpu_snapshot(a, b)
    a.stop_worker()
    seconds = result["last"] - started
    throughput = n / seconds
    return {
        # Shares over the burst (the snapshot after it is up to 0.5 s late:
        # idle time, little CPU).
        "cpu": cpu_report(before, after, seconds=seconds, messages=n),
        "throughput": throughput,
        "bodies": seeded["bodies"],
        "since": since,
    }


def baseline(b: Node, bodies: list[dict], concurrency: int) -> dict:
    latencies: list[float] = []
    lock = threading.Lock()
    queue = list(enumerate(bodies))

    def run() -> None:
        with httpx.Client(timeout=30) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    _i, body = queue.pop()
                t0 = time.perf_counter()
                r = client.post(
                    f"{b.url}/bench/plain",
                    content=json.dumps({"msg_id": str(uuid.uuid4()), "payload": body}),
                    headers={"content-type": "application/json"},
                )
                r.raise_for_status()
                with lock:
                    latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=run) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    return {"throughput": len(bodies) / seconds, "latencies": latencies}


PROFILE_SENDER = """
import cProfile, io, pstats
from trm.exchange import delivery
prof = cProfile.Profile()
prof.enable()
total = 0
while True:
    counts = delivery.deliver_due(limit=200)
    if not sum(counts.values()):
        break
prof.disable()
out = io.StringIO()
pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(25)
result = out.getvalue()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--paced", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument(
        "--postgres", default="postgres://postgres@127.0.0.1:5432", help="server URL"
    )
    parser.add_argument("--profile", type=int, default=300, help="messages profiled")
    parser.add_argument(
        "--server-processes",
        type=int,
        default=2,
        help="server processes of the receiving node (trm serve --processes)",
    )
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="trm-bench-exchange-"))
    bench_env = {
        "DJANGO_SETTINGS_MODULE": "exchange_bench.settings",
        "PYTHONPATH": str(ROOT / "bench"),
    }
    a = Node("bench-a", "MD", root, postgres_url=args.postgres)
    b = Node("bench-b", "RS", root, postgres_url=args.postgres, extra_env=bench_env)
    try:
        for node in (a, b):
            node.setup()
        org = "Fictional Shelter RS"
        b.python(
            "from trm.accounts.tests.factories import OrganisationFactory\n"
            f"OrganisationFactory(name={org!r}, country='RS', functions=['SP'])\n"
        )
        a.start(worker=False)
        b.start(worker=True, processes=args.server_processes)
        peer(a, b)
        print(f"nodes up: {a.url} ({a.node_id}), {b.url} ({b.node_id})")

        print(f"exchange, burst of {args.n} with {args.workers} workers:")
        burst = exchange_burst(a, b, args.n, args.workers, org)
        print(f"  throughput {burst['throughput']:.0f} msg/s")
        print(burst["cpu"])

        print(f"baseline, same {args.n} payloads, concurrency {args.workers}:")
        base = baseline(b, burst["bodies"], args.workers)
        print(
            f"  throughput {base['throughput']:.0f} msg/s, "
            f"p50 {pct(base['latencies'], 0.5) * 1000:.1f} ms, "
            f"p99 {pct(base['latencies'], 0.99) * 1000:.1f} ms"
        )

        print(f"exchange, paced {args.paced} at {args.rate:.0f}/s:")
        start_workers(a, args.workers)
        since = now_iso(a)
        seed(a, b.node_id, org, args.paced, dump=False, rate=args.rate)
        paced = wait_for(
            lambda: (s := stats(a, since))["sent"] == args.paced and s,
            timeout=600,
            every=1,
        )
        a.stop_worker()
        lat = paced["latencies"]
        print(
            f"  latency enqueue → receipt stored: p50 {pct(lat, 0.5) * 1000:.1f} ms, "
            f"p99 {pct(lat, 0.99) * 1000:.1f} ms"
        )

        ratio = base["throughput"] / burst["throughput"]
        print()
        print(f"exchange  {burst['throughput']:8.0f} msg/s   (budget ≥ 200)")
        print(f"baseline  {base['throughput']:8.0f} msg/s")
        print(f"ratio     {ratio:8.2f} ×       (budget ≤ 3)")

        if args.profile:
            print(f"\nprofile of the sender delivering {args.profile} messages:")
            seed(a, b.node_id, org, args.profile, dump=False)
            print(a.python(PROFILE_SENDER))
    finally:
        for node in (a, b):
            node.destroy()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
