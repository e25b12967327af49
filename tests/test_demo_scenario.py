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

from trm.demo.federation import COUNTRIES, STATE_FILE, NodeState, State
from trm.demo.scenario import SOPS, Scenario, ScenarioFailed, new_tag, parser
from trm.demo_replay import steps
from trm.demo_replay.replay import NodeHandle

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
    # Another --dir: the hint names the command that starts that federation.
    root = (tmp_path / "demo").resolve()
    assert f'make demo DEMO_ARGS="--dir {root}"' in done.stdout
    assert f"python -m trm.demo --dir {root} up" in done.stdout
    assert "configuration error" not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    # The default --dir (var/demo under the current directory): make demo.
    done = run_scenario_cli(cwd=tmp_path)
    assert done.returncode == 1 and "start it with make demo (" in done.stdout


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
    assert f'make demo DEMO_ARGS="--dir {root.resolve()}"' in done.stdout
    done = run_scenario_cli("--dir", str(root), "--destination", "mk", cwd=tmp_path)
    assert done.returncode == 1 and "has no MK node" in done.stdout


def test_trm_demo_help_without_node_settings_lists_the_subcommands(tmp_path):
    for flag in ("--help", "-h"):
        done = subprocess.run(  # noqa: S603 - our own trm, fixed argv
            [str(TRM), "demo", flag],
            env=bare_env(),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "seed" in done.stdout and "scenario" in done.stdout
        assert "configuration error" not in done.stdout + done.stderr
        assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--destination", ""], "is not a demo country"),
        (["--origin", "xx"], "is not a demo country"),
        (["--timeout", "0"], "greater than 0"),
        (["--timeout", "-5"], "greater than 0"),
        (["--timeout", "soon"], "is not a number of seconds"),
    ],
)
def test_the_scenario_refuses_bad_options_with_a_clear_message(args, says, capsys):
    with pytest.raises(SystemExit) as stopped:
        parser().parse_args(args)
    assert stopped.value.code == 2
    assert says in capsys.readouterr().err


def test_the_scenario_options_take_any_case_of_a_country_code():
    args = parser().parse_args(["--destination", "MD", "--origin", "rs"])
    assert (args.destination, args.origin, args.timeout) == ("MD", "RS", 120.0)


def test_two_runs_in_the_same_second_get_different_tags():
    from datetime import UTC, datetime

    now = datetime(2026, 11, 30, 14, 25, 34, tzinfo=UTC)
    tags = {new_tag(now) for _ in range(20)}
    assert len(tags) > 1
    for tag in tags:
        stamp, _dash, random = tag.partition("-")
        assert stamp == "1130142534" and len(random) == 3


@pytest.mark.parametrize("citizenship", sorted(COUNTRIES))
def test_every_demo_country_gets_a_fictional_identity(citizenship):
    # Each demo country as the citizenship, i.e. as the origin of a scenario
    # in either direction: a locale Faker has, never a crash.
    from datetime import date

    from faker.config import AVAILABLE_LOCALES

    assert steps.faker_locale(citizenship) in AVAILABLE_LOCALES
    for key, gender in (("scenario-adult", "Feminine"), ("scenario-child", "x")):
        person = steps.identity(
            {
                "key": key,
                "citizenship": citizenship,
                "gender": gender,
                "age_band": "14--17",
            },
            date(2026, 11, 30),
            7,
        )
        assert person.family_names.endswith("(fictional)")
        assert person.given_names


def test_an_unknown_or_missing_faker_locale_falls_back(monkeypatch):
    monkeypatch.setitem(steps.LOCALES, "RS", "sr_RS")  # not in Faker
    assert steps.faker_locale("RS") == steps.FALLBACK_LOCALE
    assert steps.faker_locale("ZZ") == steps.FALLBACK_LOCALE


def test_a_step_that_waits_in_vain_names_the_node_and_what_is_left(tmp_path):
    # The origin's worker is down: the destination never sees the alert's
    # acknowledgement. The message names the node, the process and the
    # command; the cases started; and that a new run starts fresh ones.
    calls: list[str] = []

    def destination(action, payload):
        calls.append(action)
        if action == "scenario_open":
            return {
                "cases": {
                    k: {
                        "case": k,
                        "number": f"RS-SCN-T-{k[0].upper()}",
                        "ref": k,
                        "name": "X (fictional)",
                    }
                    for k in ("adult", "child")
                },
                "lines": [],
            }
        return {"done": {}, "waiting": ["adult", "child"]}

    def origin(action, payload):
        calls.append(action)
        return {
            "done": {k: {"case": k, "number": f"MD-{k}"} for k in ("adult", "child")},
            "waiting": [],
            "lines": [],
        }

    printed: list[str] = []
    scenario = Scenario(
        NodeHandle("demo-rs", "RS", destination),
        NodeHandle("demo-md", "MD", origin),
        timeout=20,
        root=tmp_path,
        out=printed.append,
    )
    with pytest.raises(ScenarioFailed) as failed:
        scenario.run()
    text = str(failed.value)
    assert calls == ["scenario_open", "scenario_link", "scenario_acked"]
    assert text.startswith("demo-md has not answered demo-rs for 20 s")
    assert "is its worker running?" in text
    assert f"python -m trm.demo --dir {tmp_path} status" in text
    assert "RS-SCN-T-A, RS-SCN-T-C" in text and "MD-adult, MD-child" in text
    assert "starts fresh cases" in text
    for internal in ("scenario_", "plan_send", "the adult, child case"):
        assert internal not in text
    # Nothing claimed that did not happen.
    assert not any("✓" in line or "←" in line for line in printed)


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
    # Reintegration and follow-up at home are SOP 4 (steps 9–10), not SOP 3.
    assert "SOP 4 Return and social inclusion · " in text
    assert not [
        line
        for line in printed
        if line.startswith("[node-md] SOP 3") and "reintegration" in line
    ]
    assert "reintegration plan" in "\n".join(
        line for line in printed if line.startswith("[node-md] SOP 4")
    )
    # What the scenario says was given is recorded, and each ✓/← came after
    # the receiving node showed it.
    assert "first assistance started (shelter, medical, psychological" in text
    assert "individual care plan agreed" in text
    assert "← risk.assessment.joint (origin's ratings) received on node-rs" in text
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
        # The SOP 1–3 records the replay keeps too: the first risk assessment
        # and the review on the day of the decision, the signed support and
        # safety plan, the services first assistance started with (logged),
        # the agreed individual care plan.
        assert {"initial", "ongoing"} <= set(there["risk_assessments"])
        assert there["support_plan_signed"] and there["care_plan_agreed"]
        assert there["services_given"] == ["medical", "psychological", "shelter"]
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
