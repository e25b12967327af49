"""The guided scenario (``trm demo scenario``, ``make scenario``): one adult
and one child case through the five TRM Standard Operating Procedures across
two running demo nodes, printed step by step, then where to look in the UI.

Destination (default Serbia, ``demo-rs``): the country where the person was
exploited; origin (default Moldova, ``demo-md``): their citizenship (the CTDC
data has Moldova → Serbia flows). The steps:

1. SOP 1 Identification, SOP 2 First assistance, SOP 5 proceedings and SOP 3
   long-term assistance on the destination, as over the months before the
   return (screening, presumed, guardian for the child, identified by the
   competent authority, reflection and recovery period, consent to
   assistance, rights as a victim and witness, protection, non-punishment,
   long-term needs); then ``case.alert`` to the origin, which links the case;
2. SOP 4 Return: for the child a best-interests determination first, the
   family assessment asked of the origin (``family.assessment.request`` /
   ``.report``) and a child-and-family risk assessment; the consents to
   return and to each transfer; the joint risk assessment both ways, the
   return plan and its acceptance (a carer for the child), the journey and
   the arrival confirmed on the origin;
3. SOP 5 across the border: the trial hearing with remote testimony from the
   origin (``proceedings.notice``);
4. SOP 4 at the origin (steps 9–10): the reintegration plan and the first follow-up
   reported back (``followup.report``).

Nothing here imports Django: each node's part runs as ``trm replay
scenario_…`` (or a replay step) in that node's environment
(:class:`trm.demo_replay.replay.NodeHandle`); every message crosses the real
exchange. Each run opens two new cases, numbered with a run tag
(``RS-SCN-<tag>-A`` / ``-C``): running it again never fails on the cases of
an earlier run.
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trm.demo.names import username_for
from trm.demo_replay.replay import NodeHandle, ReplayFailed

#: The five SOPs by number (TRM-EU / TRM-SEE).
SOPS = {
    "1": "Identification",
    "2": "First assistance and protection",
    "3": "Long-term assistance and social inclusion",
    "4": "Return and social inclusion",
    "5": "Criminal and civil proceedings",
}
KEYS = ("adult", "child")
DEFAULT_TIMEOUT = 120.0
DEFAULT_DIR = "var/demo"


def new_tag(now: datetime | None = None) -> str:
    """A run tag unique across runs: the date and time to the second and
    three random hex digits (two runs in the same second get different
    tags), e.g. ``1130142534-7F3``."""
    when = now or datetime.now(UTC)
    return f"{when:%m%d%H%M%S}-{secrets.token_hex(2)[:3].upper()}"


def _country(code: str) -> str:
    from trm.demo.federation import COUNTRIES

    return COUNTRIES.get(code.upper(), (code, ""))[0]


class ScenarioFailed(RuntimeError):
    """A step did not finish (a node refused it, or waited in vain)."""


@dataclass
class CaseEnds:
    """Where one case of the scenario ended, on both nodes."""

    key: str
    name: str
    destination_number: str
    origin_number: str
    destination: dict[str, Any] = field(default_factory=dict)
    origin: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scenario:
    """The guided scenario between two nodes.

    Attributes:
        destination, origin: the nodes (country of exploitation, citizenship).
        tag: the run tag in the destination's case numbers (:func:`new_tag`).
        urls: node id → address, for "where to look" (optional).
        root: the federation's folder, for the commands a failure names.
        out: prints one line.
    """

    destination: NodeHandle
    origin: NodeHandle
    tag: str = field(default_factory=lambda: new_tag())
    timeout: float = DEFAULT_TIMEOUT
    urls: Mapping[str, str] = field(default_factory=dict)
    root: Path | None = None
    out: Callable[[str], None] = print
    lines: list[str] = field(default_factory=list)

    # --- printing --------------------------------------------------------------

    def _say(self, text: str) -> None:
        self.lines.append(text)
        self.out(text)

    def step(self, node: NodeHandle, sop: str, text: str) -> None:
        self._say(f"[{node.node_id}] SOP {sop} {SOPS[sop]} · {text}")

    def message(self, text: str) -> None:
        self._say(f"    {text}")

    def _steps(self, node: NodeHandle, lines: Sequence[Sequence[str]]) -> None:
        for key, sop, text in lines:
            self.step(node, sop, f"{self.numbers[node.node_id][key]} · {text}")

    # --- calling the nodes -----------------------------------------------------

    def _call(
        self,
        node: NodeHandle,
        action: str,
        payload: Mapping[str, Any],
        awaiting: str = "",
    ) -> Any:
        """Run ``action`` on ``node``; ``awaiting`` says in words what it
        waits for from the other node (a step that waits in vain fails with
        :meth:`_waited`)."""
        result = node.call(action, {"timeout": self.timeout, **payload})
        waiting = result.get("waiting") if isinstance(result, dict) else None
        if waiting:
            raise ScenarioFailed(self._waited(node, awaiting))
        return result

    def _other(self, node: NodeHandle) -> NodeHandle:
        return self.origin if node is self.destination else self.destination

    def _waited(self, node: NodeHandle, awaiting: str) -> str:
        """The message for a step on ``node`` that waited in vain for the
        other node: which node and process to check, and what is left."""
        other = self._other(node)
        status = status_command(self.root or Path(DEFAULT_DIR).resolve())
        what = f" ({awaiting})" if awaiting else ""
        return (
            f"{other.node_id} has not answered {node.node_id} for "
            f"{self.timeout:.0f} s{what}: is its worker running? ({status}) "
            f"{self.left_behind()}"
        )

    def left_behind(self) -> str:
        """Which cases this run started on each node (they stay as they are)."""
        numbers = getattr(self, "numbers", {})
        started = [
            f"on {node_id} {', '.join(n[k] for k in KEYS if k in n)}"
            for node_id, n in numbers.items()
            if n
        ]
        left = (
            f"This run's cases stay where they stopped: {'; '.join(started)}. "
            if started
            else ""
        )
        return left + "Running the scenario again starts fresh cases."

    # --- the run ---------------------------------------------------------------

    def run(self) -> list[CaseEnds]:
        """Run every step; return where each case ended.

        Raises:
            ScenarioFailed: a step did not finish. ReplayFailed: a node's
                command failed (e.g. a service refused a step).
        """
        d, o = self.destination, self.origin
        self._say(
            f"Guided scenario (run {self.tag}): an adult and a child, citizens of "
            f"{_country(o.country)} ({o.node_id}), found exploited in "
            f"{_country(d.country)} ({d.node_id}). Everyone and everything here is "
            "fictional."
        )
        opened = self._call(
            d,
            "scenario_open",
            {"tag": self.tag, "peer": o.node_id, "citizenship": o.country},
        )
        cases = opened["cases"]
        self.numbers: dict[str, dict[str, str]] = {
            d.node_id: {k: v["number"] for k, v in cases.items()},
            o.node_id: {},
        }
        self._steps(d, opened["lines"])
        refs = {k: v["ref"] for k, v in cases.items()}
        linked = self._call(
            o, "scenario_link", {"refs": refs}, "the alerts about the cases"
        )
        self.numbers[o.node_id] = {k: v["number"] for k, v in linked["done"].items()}
        # The ✓ is printed once the destination holds the origin's answer.
        self._call(
            d,
            "scenario_acked",
            {"cases": {k: v["case"] for k, v in cases.items()}},
            "the acknowledgement of the alerts",
        )
        for key in KEYS:
            self.message(
                f"→ case.alert sent to {o.node_id} by the national contact point "
                f"(pseudonymous) … ✓ linked on {o.node_id} as "
                f"{self.numbers[o.node_id][key]}; ← case.alert.ack"
            )
        self._steps(o, linked["lines"])
        origin_cases = {k: v["case"] for k, v in linked["done"].items()}

        # SOP 4: the return decision, the child's safeguards.
        decided = self._call(
            d,
            "scenario_decide_return",
            {
                "cases": {k: v["case"] for k, v in cases.items()},
                "citizenship": o.country,
            },
        )
        self._steps(d, decided["lines"])
        going = decided["done"]
        self.message(f"→ family.assessment.request (child) sent to {o.node_id}")
        family = self._call(
            o,
            "scenario_family_report",
            {"refs": {"child": refs["child"]}},
            "the family assessment request",
        )
        self._steps(o, family["lines"])
        self.message(f"→ family.assessment.report sent to {d.node_id}")
        self._call(
            d, "joint_share", {"cases": {k: v["case"] for k, v in going.items()}}
        )
        for key in KEYS:
            self.step(
                d,
                "4",
                f"{self.numbers[d.node_id][key]} · case manager "
                f"{self._user(d, 'case_manager')}: joint pre-return risk "
                "assessment (low)",
            )
        self.message(f"→ risk.assessment.joint sent to {o.node_id}")
        self._call(o, "origin_rate", {"refs": refs}, "the joint risk assessment")
        self._both(
            o,
            "4",
            f"national contact point {self._user(o, 'national_contact_point')}: "
            "the origin's side of the joint risk assessment rated",
        )
        self._call(
            d,
            "scenario_ratings_back",
            {"cases": {k: v["case"] for k, v in going.items()}},
            "the origin's ratings of the joint risk assessment",
        )
        self.message(
            f"← risk.assessment.joint (origin's ratings) received on {d.node_id}, "
            "on its joint risk assessment"
        )
        self._call(d, "plan_send", {"cases": going}, "the origin's ratings")
        self._both(
            d,
            "4",
            "travel document issued, journey planned, return plan sent by "
            f"national contact point {self._user(d, 'national_contact_point')}",
            "; a social worker escorts the child",
        )
        self.message(f"→ return.plan sent to {o.node_id}")
        self._call(o, "plan_accept", {"refs": refs}, "the return plan")
        self._both(
            o,
            "4",
            f"national contact point {self._user(o, 'national_contact_point')}: "
            "the receiving organisation accepts",
            "; the child's mother confirmed as carer",
        )
        self.message(f"→ return.plan.response (accepted) sent to {d.node_id}")
        self._call(d, "depart", {"cases": going}, "the answer to the return plan")
        self._both(
            d,
            "4",
            "nothing blocks the journey any more (consent, reflection period "
            "over, joint risk assessment, receiver, travel document): in transit",
            "; for the child also guardian, best interests, family report, "
            "carer, escort, child-and-family risk",
        )
        self.message(f"→ return.handover sent to {o.node_id}")
        self._call(o, "arrive", {"refs": refs}, "the announced journey")
        self._both(
            o,
            "4",
            f"national contact point {self._user(o, 'national_contact_point')}: "
            "arrival confirmed, the case moves to reintegration",
        )
        self.message(f"→ return.handover.arrival sent to {d.node_id}")
        self._call(
            d,
            "followed_up",
            {"cases": {k: v["case"] for k, v in going.items()}},
            "the confirmation of the arrival",
        )
        self.message(f"✓ on {d.node_id} both cases are now in follow-up")

        # SOP 5 across the border, then SOP 4 steps 9–10 at home.
        testimony = self._call(
            d,
            "scenario_remote_testimony",
            {"cases": going, "origin_country": o.country},
        )
        self._steps(d, testimony["lines"])
        self.message(f"→ proceedings.notice (remote testimony) sent to {o.node_id}")
        self._call(
            o, "scenario_notice_received", {"refs": refs}, "the proceedings notice"
        )
        self.message(f"✓ recorded on {o.node_id} (the case's Proceedings page)")
        home = self._call(
            o,
            "scenario_reintegrate",
            {"cases": origin_cases, "destination_country": d.country},
        )
        self._steps(o, home["lines"])
        self.message(f"→ followup.report sent to {d.node_id}")
        self._call(
            d,
            "scenario_followup_received",
            {"cases": {k: v["case"] for k, v in going.items()}},
            "the follow-up reports",
        )
        self.message(f"✓ follow-up reports received on {d.node_id}")
        self._call(d, "settle", {}, "the delivery of the last messages")
        self._call(o, "settle", {}, "the delivery of the last messages")

        there = d.call(
            "scenario_describe", {"cases": {k: v["case"] for k, v in cases.items()}}
        )
        here = o.call("scenario_describe", {"cases": origin_cases})
        ends = [
            CaseEnds(
                key=key,
                name=cases[key]["name"],
                destination_number=cases[key]["number"],
                origin_number=self.numbers[o.node_id][key],
                destination=there[key],
                origin=here[key],
            )
            for key in KEYS
        ]
        self.where_to_look(ends)
        return ends

    def _both(self, node: NodeHandle, sop: str, text: str, child: str = "") -> None:
        """One line per case: ``text``, and for the child ``child`` after it."""
        for key in KEYS:
            said = text + (child if key == "child" else "")
            self.step(node, sop, f"{self.numbers[node.node_id][key]} · {said}")

    @staticmethod
    def _user(node: NodeHandle, role: str) -> str:
        return username_for(node.country, role)

    def where_to_look(self, ends: Sequence[CaseEnds]) -> None:
        """Print, per case, the node addresses, case numbers and users."""
        d, o = self.destination, self.origin
        self._say("")
        self._say("Where to look (sign in with the demo password and code):")
        for end in ends:
            self._say(f"  The {end.key}: {end.name}")
            for node, number, users in (
                (
                    d,
                    end.destination_number,
                    ["case_manager", "prosecutor"]
                    + (["guardian"] if end.key == "child" else []),
                ),
                (o, end.origin_number, ["case_manager", "national_contact_point"]),
            ):
                url = self.urls.get(node.node_id, "")
                names = ", ".join(self._user(node, r) for r in users)
                self._say(
                    f"    {node.node_id:<8} {url:<24} case {number:<22} "
                    f"sign in as {names}"
                )


def start_command(root: Path) -> str:
    """How to start the federation kept in ``root``: ``make demo`` for the
    default ``var/demo`` of the current directory, else the command with
    ``--dir`` (``make demo`` alone would start a different federation)."""
    if root == Path(DEFAULT_DIR).resolve():
        return "make demo (or .venv/bin/python -m trm.demo up)"
    return (
        f'make demo DEMO_ARGS="--dir {root}" '
        f"(or .venv/bin/python -m trm.demo --dir {root} up)"
    )


def status_command(root: Path) -> str:
    """The launcher's command that shows whether each process runs."""
    if root == Path(DEFAULT_DIR).resolve():
        return ".venv/bin/python -m trm.demo status"
    return f".venv/bin/python -m trm.demo --dir {root} status"


def handles_from_dir(
    root: Path, destination: str, origin: str
) -> tuple[NodeHandle, NodeHandle, dict[str, str]]:
    """The two nodes of the federation kept in ``root`` (``federation.json``).

    Raises:
        ScenarioFailed: no federation there, a node not in it, or not answering
            (the message names the command that starts it: :func:`start_command`).
    """
    from trm.demo.federation import STATE_FILE, Node, State

    state = State.load(root / STATE_FILE)
    if state is None:
        raise ScenarioFailed(
            f"No demo federation in {root}: start it with {start_command(root)}, "
            "then run the scenario in another terminal."
        )
    nodes = []
    for code in (destination.upper(), origin.upper()):
        if code not in state.nodes:
            raise ScenarioFailed(
                f"The demo federation in {root} has no {code} node "
                f"(it has {', '.join(sorted(state.nodes))})."
            )
        node = Node(code, state.nodes[code].port, root, state)
        if not node.answers():
            raise ScenarioFailed(
                f"The demo node {node.node_id} ({node.url}) does not answer: "
                f"start it with {start_command(root)}."
            )
        nodes.append(node)
    handles = tuple(
        NodeHandle.command(n.node_id, n.code, n.env, cwd=n.dir) for n in nodes
    )
    return handles[0], handles[1], {n.node_id: n.url + "/" for n in nodes}


def _country_code(value: str) -> str:
    """argparse type: a demo country's code (``md``, ``ro``, ``rs``, ``mk``)."""
    from trm.demo.federation import COUNTRIES

    code = value.strip().upper()
    if code not in COUNTRIES:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a demo country: use one of "
            f"{', '.join(c.lower() for c in COUNTRIES)}"
        )
    return code


def _seconds(value: str) -> float:
    """argparse type: a number of seconds greater than 0."""
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a number of seconds"
        ) from None
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(
            f"{value!r}: the timeout must be a number of seconds greater than 0"
        )
    return seconds


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="trm demo scenario",
        description="Walk an adult and a child case through the five TRM SOPs "
        "across two running demo nodes (make demo), printing each step.",
    )
    cli.add_argument(
        "--dir", default=DEFAULT_DIR, help="The federation's data (default var/demo)."
    )
    cli.add_argument(
        "--destination",
        default="rs",
        type=_country_code,
        help="Country of exploitation's node (default rs).",
    )
    cli.add_argument(
        "--origin",
        default="md",
        type=_country_code,
        help="Citizenship country's node (default md).",
    )
    cli.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        help="Seconds to wait for each message from the other node (default 120).",
    )
    return cli


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    """``trm demo scenario`` without Django: 0 when every step went through,
    1 when the federation is not there or a step failed."""
    args = parser().parse_args(argv)
    if args.destination == args.origin:
        out("trm demo scenario: the destination and the origin must differ.")
        return 1
    root = Path(args.dir).resolve()
    try:
        destination, origin, urls = handles_from_dir(
            root, args.destination, args.origin
        )
    except (ScenarioFailed, ReplayFailed) as failed:
        out(f"trm demo scenario: {failed}")
        return 1
    scenario = Scenario(
        destination, origin, timeout=args.timeout, urls=urls, root=root, out=out
    )
    try:
        scenario.run()
    except ScenarioFailed as failed:
        out(f"trm demo scenario: {failed}")
        return 1
    except ReplayFailed as failed:
        out(f"trm demo scenario: {failed} {scenario.left_behind()}")
        return 1
    return 0
