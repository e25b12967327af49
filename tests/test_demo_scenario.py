"""The guided scenario (``trm demo scenario``): one adult and one child case
through the five SOPs across two real demo nodes — Serbia (``node-rs``) the
destination, Moldova (``node-md``) the origin — of the session's demo
federation (:mod:`tests.demo_federation`, seeded as ``make demo`` seeds it).

The steps run in each node's snippet runner (the code ``trm replay
scenario_…`` runs), every message over real HTTP. Other tests share the nodes:
these assert only on the cases the scenario opened. The command-line tests
start no node.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.demo_federation import snippet_handle
from tests.federation import free_port, sqlite_pass_only

from trm.demo.federation import STATE_FILE, NodeState, State
from trm.demo.scenario import SOPS, Scenario

TRM = Path(sys.executable).parent / "trm"


def bare_env() -> dict[str, str]:
    """A shell with no node configured (no TRM_*, no Django settings)."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TRM_", "DJANGO_", "DATABASE_"))
    }


def run_scenario_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own trm, fixed argv
        [str(TRM), "demo", "scenario", *args],
        env=bare_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_trm_demo_scenario_without_a_federation_says_to_start_it(tmp_path):
    # `trm` needs a node's settings; `trm demo scenario` does not: it is
    # handed over before Django starts, and says what to do.
    done = run_scenario_cli("--dir", str(tmp_path / "demo"), cwd=tmp_path)
    assert done.returncode == 1
    assert "start it with make demo" in done.stdout
    assert "configuration error" not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    # The same with the default --dir (var/demo under the current directory).
    done = run_scenario_cli(cwd=tmp_path)
    assert done.returncode == 1 and "start it with make demo" in done.stdout


def test_trm_demo_scenario_with_its_nodes_stopped_names_the_node(tmp_path):
    root = tmp_path / "demo"
    state = State.new()
    state.nodes = {
        "MD": NodeState(country="MD", port=free_port()),
        "RS": NodeState(country="RS", port=free_port()),
    }
    state.save(root / STATE_FILE)
    done = run_scenario_cli("--dir", str(root), cwd=tmp_path)
    assert done.returncode == 1
    assert "demo-rs" in done.stdout and "does not answer" in done.stdout
    assert "start it with make demo" in done.stdout
    done = run_scenario_cli("--dir", str(root), "--destination", "mk", cwd=tmp_path)
    assert done.returncode == 1 and "has no MK node" in done.stdout


@pytest.mark.slow
@sqlite_pass_only
def test_the_scenario_walks_an_adult_and_a_child_through_the_five_sops(
    demo_federation,
):
    rs, md = demo_federation["RS"], demo_federation["MD"]
    printed: list[str] = []
    scenario = Scenario(
        snippet_handle(rs), snippet_handle(md), timeout=90, out=printed.append
    )
    ends = {end.key: end for end in scenario.run()}
    text = "\n".join(printed)

    # Every SOP is named, on the node where it happened.
    for number, name in SOPS.items():
        assert f"SOP {number} {name}" in text, name
    assert "[node-rs] SOP 1 Identification" in text
    assert "[node-md] SOP 4 Return and social inclusion" in text
    # The messages that crossed the border are printed as such.
    for message in (
        "case.alert",
        "family.assessment.request",
        "family.assessment.report",
        "risk.assessment.joint",
        "return.plan",
        "return.plan.response",
        "return.handover",
        "return.handover.arrival",
        "proceedings.notice",
        "followup.report",
    ):
        assert f"→ {message} " in text, message
    assert set(ends) == {"adult", "child"}
    for end in ends.values():
        assert f"✓ linked on node-md as {end.origin_number}" in text
        assert end.destination_number.startswith("RS-SCN-" + scenario.tag)
        assert end.name.endswith("(fictional)")
        there, here = end.destination, end.origin
        # Destination: SOP 1 identified, the reflection period over; SOP 5 the
        # person informed, a witness, two hearings; SOP 4 returned, followed up
        # with the origin's report; linked.
        assert there["identification"] == "identified"
        assert there["reflection"] == "reflection_ended"
        assert there["rights_informed"] and there["legal"] == "witness"
        assert there["hearings"] == 2
        assert there["assistance"] == "follow_up"
        assert there["follow_ups_received"] == 1
        assert there["transnational"] == "linked"
        # Origin: linked, the arrival confirmed, in reintegration with a plan,
        # the proceedings notice received.
        assert here["transnational"] == "linked"
        assert here["returned"] and here["assistance"] == "reintegration"
        assert here["reintegration_plan"]
        assert here["notices_in"] == 1
        assert here["number"] == end.origin_number != end.destination_number
    # The child: a guardian on both sides, the best-interests determination.
    assert ends["child"].destination["child_protection"] == "guardian_appointed"
    assert ends["child"].destination["bid"]
    assert ends["child"].origin["child_protection"] == "guardian_appointed"
    assert not ends["adult"].destination["bid"]
    # Where to look: each node's case number and who to sign in as.
    assert "Where to look" in text
    assert f"case {ends['child'].destination_number}" in text
    assert "rs-guardian" in text and "md-cm" in text

    # Again with the same run tag: the cases are found, nothing opened twice.
    again = snippet_handle(rs).call(
        "scenario_open",
        {"tag": scenario.tag, "peer": md.node_id, "citizenship": "MD"},
    )
    assert again["lines"] == []
    assert {k: v["number"] for k, v in again["cases"].items()} == {
        k: e.destination_number for k, e in ends.items()
    }
