"""Issue 10: the demo replay of CTDC cross-border records across real nodes.

Serbia (``node-rs``) is the country of exploitation; Moldova (``node-md``) and
Romania (``node-ro``) are the citizenship countries: the session's demo nodes
(:mod:`tests.demo_federation`), seeded as ``make demo`` seeds them, so the
steps find the people the launcher's nodes have; the replay itself runs
``trm replay`` steps, which call the services a person would use, and every
message crosses over real HTTP.

The records come from a small CSV in the layout of the CTDC subset
``dados_app.csv`` (rows written here, nothing real).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from tests.demo_federation import ctdc_csv, snippet_handle
from tests.federation import Node, sqlite_pass_only, wait_for

from trm.demo_replay.records import load
from trm.demo_replay.replay import Replay

pytestmark = [pytest.mark.slow, sqlite_pass_only]


@pytest.fixture
def federation(demo_federation: dict[str, Node]) -> dict[str, Node]:
    """The session's three demo nodes (:mod:`tests.demo_federation`); other
    tests use them too, so these tests assert what the replay changed."""
    return demo_federation


ROWS = [
    ("MD", "RS", "Female", "21--23"),
    ("MD", "RS", "Female", "24--26"),
    ("MD", "RS", "Male", "30--38"),
    ("MD", "RS", "Female", "18--20"),
    ("MD", "RS", "Female", "27--29"),
    ("MD", "RS", "Female", "48+"),
    ("RO", "RS", "Female", "9--17"),
    ("RO", "RS", "Female", "18--20"),
    ("RO", "RS", "Female", "21--23"),
    ("RO", "RS", "Female", "24--26"),
]


def test_the_replay_opens_links_and_returns_across_three_nodes(federation, tmp_path):
    rs, md, ro = federation["RS"], federation["MD"], federation["RO"]
    path = ctdc_csv(tmp_path / "dados_app.csv", ROWS)
    records = load(path, ["RS", "MD", "RO"], 50, 7)
    returning = {r.citizenship: 0 for r in records}
    for r in records:
        returning[r.citizenship] += r.returns
    handles = [snippet_handle(n) for n in (rs, md, ro)]
    before = Replay(handles, [], seed=7).summary()  # what other tests left
    summary = Replay(handles, records, seed=7, timeout=60).run()

    def grew(node: str, key: str) -> int:
        return int(summary.node(node)[key] - before.node(node)[key])

    assert summary.ok, summary.table()
    assert summary.problems() == []
    assert summary.records == 10 and summary.returning == 3
    assert grew("node-rs", "cases_opened") == 10
    assert grew("node-rs", "cases_linked") == 0
    assert grew("node-rs", "follow_up") == 3 and grew("node-rs", "long_term") == 7
    for node, country in ((md, "MD"), (ro, "RO")):
        assert grew(node.node_id, "cases_opened") == 0
        assert grew(node.node_id, "cases_linked") == sum(
            r.citizenship == country for r in records
        )
        assert grew(node.node_id, "returns_completed") == returning[country]
        assert grew(node.node_id, "reintegration") == returning[country]
        mine = summary.node(node.node_id)
        assert mine["dead"] == 0 and mine["waiting"] == 0
    # Serbia sent an alert per case and three messages per return (joint
    # assessment, plan, handover); each was applied by its receiver, and the
    # answers came back (ack; joint assessment, plan response, arrival).
    assert grew("node-rs", "sent") == 10 + 3 * 3
    assert grew("node-rs", "received") == 10 + 3 * 3
    assert sum(grew(n.node_id, "received") for n in (md, ro)) == grew("node-rs", "sent")
    assert "returns done" in summary.table()
    # Serbia's own people did it: the node users standing for Moldova's and
    # Romania's contact points (created when their first answer arrived,
    # holding the same role) never act for Serbia nor join its cases.
    assert rs.python(ACTORS) == {"node_users_on_teams": 0, "ncp": ["rs-ncp"]}
    # The SOP 1/2 steps a caseworker would have done are done (first risk
    # assessment, support plan, child-protection notice): nothing of them is
    # overdue on Serbia's case manager's list for these cases.
    assert rs.python(OVERDUE.replace("USER", "rs-cm")) == []
    # In the country of origin someone works the case: its case manager is on
    # the team of every linked case, and after a return the reintegration
    # plan is recorded, its follow-ups scheduled.
    opened = rs.python(REFS)
    for node, country in ((md, "MD"), (ro, "RO")):
        refs = [r["ref"] for r in opened if r["citizenship"] == country]
        assert refs
        origin = node.python(f"REFS = {refs!r}\n" + ORIGIN)
        assert origin["without_case_manager"] == []
        assert origin["returned"] == returning[country]
        assert origin["returned_with_plan"] == returning[country]
        assert origin["follow_ups"] >= 4 * returning[country]

    # The command line, through `trm replay` in each node's environment: the
    # same seed again opens nothing twice (here: no record between the nodes
    # in the file), and the summary is the one above.
    nodes_file = tmp_path / "nodes.json"
    nodes_file.write_text(
        json.dumps(
            [
                {
                    "node_id": n.node_id,
                    "country": n.country,
                    "env": n.env,
                    "cwd": str(n.dir),
                }
                for n in (rs, md, ro)
            ]
        )
    )
    empty = ctdc_csv(tmp_path / "none.csv", [])
    done = subprocess.run(  # noqa: S603 - our own interpreter, fixed argv
        [
            sys.executable,
            "-m",
            "trm.demo_replay",
            "--nodes",
            str(nodes_file),
            "--csv",
            str(empty),
            "--seed",
            "7",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    again = json.loads(done.stdout[done.stdout.index("{") :])
    assert again["ok"] and again["records"] == 0
    assert [
        {k: n[k] for k in ("node", "cases_opened", "cases_linked", "sent", "received")}
        for n in again["nodes"]
    ] == [
        {k: n[k] for k in ("node", "cases_opened", "cases_linked", "sent", "received")}
        for n in summary.nodes
    ]


REFS = """
from trm.cases.models import Case
result = [
    {"ref": c.trm_case_ref, "citizenship": c.person.citizenships[0]}
    for c in Case.objects.filter(number__startswith="RPL-7-").select_related("person")
]
"""

OVERDUE = """
from trm.accounts.models import User
from trm.sop.selectors import tasks_for_user
tasks, _ = tasks_for_user(user=User.objects.get(username="USER"), overdue_only=True)
result = sorted(
    f"{t.case_number} {t.status.step.id}"
    for t in tasks
    if t.case_number.startswith("RPL-7-")
)
"""

ORIGIN = """
from trm.cases.models import Case
from trm.handover.models import ReturnHandover
from trm.reintegration.models import FollowUp, ReintegrationPlan
cases = Case.objects.filter(trm_case_ref__in=REFS)
assert cases.count() == len(REFS)
returned = cases.filter(
    pk__in=ReturnHandover.objects.filter(side="origin", status="arrived").values(
        "case_id"
    )
)
result = {
    "without_case_manager": sorted(
        c.number
        for c in cases
        if not c.team.filter(user__username__endswith="-cm", role="case_manager")
    ),
    "returned": returned.count(),
    "returned_with_plan": returned.filter(
        pk__in=ReintegrationPlan.objects.values("case_id")
    ).count(),
    "follow_ups": FollowUp.objects.filter(case__in=returned).count(),
}
"""

ACTORS = """
from trm.cases.models import CaseTeamMember
team = CaseTeamMember.objects.filter(case__number__startswith="RPL-")
result = {
    "node_users_on_teams": team.filter(user__username__startswith="node.").count(),
    "ncp": sorted(set(team.filter(role="national_contact_point")
                      .values_list("user__username", flat=True))),
}
"""


OUTBOX = """
from trm.exchange.models import OutboxMessage
result = OutboxMessage.objects.filter(
    peer__node_id=PEER, status__in=["pending", "retrying"]).count()
"""


def undelivered(sender: Node, to: str) -> int:
    """How many of ``sender``'s messages to ``to`` wait in its outbox."""
    return int(sender.python(f"PEER = {to!r}\n" + OUTBOX))


def test_a_node_down_gets_its_messages_when_it_is_back(federation, tmp_path):
    rs, md, ro = federation["RS"], federation["MD"], federation["RO"]
    records = load(
        ctdc_csv(tmp_path / "dados_app.csv", ROWS), ["RS", "MD", "RO"], 50, 3
    )
    handles = [snippet_handle(n) for n in (rs, md, ro)]
    before = Replay(handles, [], seed=3).summary()  # what earlier tests left
    replay = Replay(handles, records, seed=3, timeout=60)

    md.stop()  # Moldova's server and worker die
    replay.open()  # Serbia keeps going: it opens every case, alerts both
    assert len(replay.opened) == 10 and not replay.errors
    # Romania links its cases; Moldova's alerts wait in Serbia's outbox.
    ro_refs = {
        k: v["ref"]
        for k, v in replay.opened.items()
        if replay._record[k].citizenship == "RO"
    }
    linked = snippet_handle(ro).call("linked", {"refs": ro_refs, "timeout": 30})
    assert not linked["waiting"]
    assert undelivered(rs, "node-md") == 6
    assert undelivered(rs, "node-ro") == 0

    md.start()  # back: Serbia's worker delivers what waited
    wait_for(lambda: undelivered(rs, "node-md") == 0, timeout=60)
    replay.link()
    replay.returns()
    summary = replay.summary()
    assert summary.ok, summary.table()

    def grew(node: str, key: str) -> int:
        return int(summary.node(node)[key] - before.node(node)[key])

    assert grew("node-md", "cases_linked") == 6
    assert grew("node-rs", "cases_opened") == 10
    assert grew("node-md", "returns_completed") + grew(
        "node-ro", "returns_completed"
    ) == sum(r.returns for r in records)
    assert summary.node("node-rs")["dead"] == 0


RESUMED = """
from trm.cases.models import Case
from trm.exchange.models import OutboxMessage
from trm.returns.models import JointRiskAssessment
cases = Case.objects.filter(number__startswith="RPL-13-")
result = {
    "cases": cases.count(),
    "assessments": JointRiskAssessment.objects.filter(case__in=cases).count(),
    "sent": sorted(
        OutboxMessage.objects.filter(case_id__in=cases.values("pk"))
        .values_list("type", flat=True)
    ),
}
"""


def test_a_replay_run_again_after_an_interruption_does_nothing_twice(
    federation, tmp_path
):
    rs, md, ro = federation["RS"], federation["MD"], federation["RO"]
    rows = [
        ("MD", "RS", "Female", "21--23"),
        ("RO", "RS", "Female", "24--26"),
        ("MD", "RS", "Male", "30--38"),
        ("RO", "RS", "Female", "27--29"),
    ]
    records = load(
        ctdc_csv(tmp_path / "dados_app.csv", rows), ["RS", "MD", "RO"], 50, 13
    )
    returning = {r.key for r in records if r.returns}
    assert len(records) == 4 and len(returning) == 1
    handles = [snippet_handle(n) for n in (rs, md, ro)]
    before = Replay(handles, [], seed=13).summary()  # what other tests left

    # The first replay dies after the returns' first two steps: the joint
    # assessment went and the origin rated it; no plan was sent yet.
    first = Replay(handles, records, seed=13, timeout=60)
    first.open()
    first.link()
    first._return_step("joint assessment", "dest", "joint_share", first._case_ids)
    first._return_step("origin rating", "origin", "origin_rate", first._refs)
    assert first.going == returning and not first.errors and not first.waiting

    # `make demo` again: the whole replay, same records and seed.
    summary = Replay(handles, records, seed=13, timeout=60).run()
    assert summary.ok, summary.table()

    def grew(node: str, key: str, after: Any = summary) -> int:
        return int(after.node(node)[key] - before.node(node)[key])

    assert grew("node-rs", "cases_opened") == 4
    assert grew("node-md", "cases_linked") + grew("node-ro", "cases_linked") == 4
    assert grew("node-md", "returns_completed") + grew(
        "node-ro", "returns_completed"
    ) == len(returning)
    assert grew("node-rs", "follow_up") == 1 and grew("node-rs", "long_term") == 3
    # One complete replay's messages, nothing twice: an alert per case and
    # three per return (joint assessment, plan, handover); the answers back.
    assert grew("node-rs", "sent") == 4 + 3 * len(returning)
    assert grew("node-rs", "received") == 4 + 3 * len(returning)
    assert rs.python(RESUMED) == {
        "cases": 4,
        "assessments": 1,
        "sent": sorted(
            ["case.alert"] * 4
            + ["risk.assessment.joint", "return.plan", "return.handover"]
        ),
    }

    # Once more after it finished: every case is past every step, so
    # nothing is recorded or sent again and the end state stays as expected.
    again = Replay(handles, records, seed=13, timeout=60).run()
    assert again.ok, again.table()
    for node in ("node-rs", "node-md", "node-ro"):
        for key in ("cases_opened", "cases_linked", "returns_completed", "sent"):
            assert again.node(node)[key] == summary.node(node)[key], (node, key)
