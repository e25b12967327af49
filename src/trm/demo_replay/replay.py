"""Replay CTDC cross-border records as live cases between demo nodes.

Nothing here imports Django: every step runs inside a node as
``trm replay ACTION`` (:mod:`trm.demo_replay.management.commands.replay`),
in that node's environment, and every message between nodes crosses the real
exchange (the nodes' servers and workers). The choreography per record
(citizenship → country of exploitation, e.g. MD → RS):

1. the country of exploitation's node opens the case: screening, presumed →
   identified, first assistance, then long-term assistance — or, for every
   third adult (:data:`trm.demo_replay.records.RETURN_EVERY`), the decision to
   return; its national contact point sends ``case.alert`` to the citizenship
   country's node;
2. the citizenship node links the case (``case.alert.ack`` back);
3. returning cases only: the joint risk assessment both ways, the return plan
   and its acceptance, the journey (``return.handover``), the arrival
   confirmed on the origin node (``return.handover.arrival``), which moves the
   destination's case to follow-up;
4. every node's outbox is waited on until nothing is pending; each node
   reports its summary (:class:`Summary`).

Each phase runs on all nodes concerned at once; a node's waiting step acts on
each case as soon as what it waits for arrived. A record a phase could not
finish in ``timeout`` seconds (e.g. its counterpart node is down) is left out
of the later phases and listed in :attr:`Summary.waiting`.

Running it again: every step is idempotent (:mod:`trm.demo_replay.steps`):
a replay that failed or was interrupted in any phase is run again whole, with
the same records and seed; a case already past a step — read from the case's
state on its node — is reported done without acting or sending again.

Entry points: :func:`replay` (the launcher), :class:`Replay` (phase by phase,
for tests), ``python -m trm.demo_replay`` (CLI, :mod:`trm.demo_replay.__main__`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from trm.demo_replay.records import Record, load

MARK = "__REPLAY__"
#: Columns of the per-node summary table: summary key → heading.
COLUMNS = {
    "node": "node",
    "cases_opened": "opened",
    "cases_linked": "linked",
    "long_term": "long-term",
    "follow_up": "follow-up",
    "reintegration": "reintegr.",
    "returns_completed": "returns done",
    "sent": "msgs sent",
    "received": "msgs received",
    "waiting": "msgs waiting",
    "dead": "dead",
}


#: The counts :attr:`Summary.expected` gives per node.
EXPECTED = (
    "cases_opened",
    "cases_linked",
    "long_term",
    "follow_up",
    "returns_completed",
)


class ReplayFailed(RuntimeError):
    """A node could not run a replay step (its command failed)."""


Call = Callable[[str, Mapping[str, Any]], Any]


@dataclass
class NodeHandle:
    """One node of the federation, as the replay sees it.

    Attributes:
        node_id: the node's id (``TRM_NODE_ID``), its peers' name for it.
        country: ISO alpha-2 code (``TRM_COUNTRY``).
        call: runs ``trm replay ACTION`` inside the node with a JSON payload
            and returns its result; :meth:`command` builds one from an
            environment.
    """

    node_id: str
    country: str
    call: Call

    @classmethod
    def command(
        cls,
        node_id: str,
        country: str,
        env: Mapping[str, str],
        *,
        cwd: str | Path | None = None,
        trm: str | Path | None = None,
        timeout: float = 900,
    ) -> NodeHandle:
        """A handle that runs ``trm replay`` as a child process with ``env``
        (the node's full environment: ``TRM_NODE_ID``, ``TRM_DATA_DIR``,
        ``DATABASE_URL``…) in ``cwd``; ``trm`` defaults to the one beside
        this Python.

        Raises (from ``call``):
            ReplayFailed: the command exited non-zero (its stderr attached).
        """
        program = str(trm or Path(sys.executable).parent / "trm")

        def call(action: str, payload: Mapping[str, Any]) -> Any:
            done = subprocess.run(  # noqa: S603 - fixed argv, no shell
                [program, "replay", action],
                input=json.dumps(payload),
                env=dict(env),
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            return parse_output(
                node_id, action, done.returncode, done.stdout, done.stderr
            )

        return cls(node_id=node_id, country=country.upper(), call=call)


def parse_output(
    node_id: str, action: str, returncode: int, stdout: str, stderr: str
) -> Any:
    """The result of a ``trm replay`` run from its output.

    Raises:
        ReplayFailed: non-zero exit, or no result line.
    """
    if returncode == 0:
        for line in reversed(stdout.splitlines()):
            if line.startswith(MARK):
                return json.loads(line[len(MARK) :])
    raise ReplayFailed(
        f"[{node_id}] trm replay {action} failed ({returncode}):\n"
        f"{stderr.strip()[-2000:]}"
    )


@dataclass
class Summary:
    """What the replay did, as data.

    Attributes:
        records: how many records were replayed; ``returning``: how many of
            them went the return way.
        nodes: per node, :func:`trm.demo_replay.steps.summary` plus
            ``waiting`` (messages still pending or retrying in its outbox).
        errors: record key → why a node refused it.
        waiting: phase → record keys it could not finish in time.
        expected: node id → the least each count of :data:`EXPECTED` must be
            once every record went its whole way (a node may hold more: cases
            of earlier replays).
    """

    records: int
    returning: int
    nodes: list[dict[str, Any]]
    errors: dict[str, str] = field(default_factory=dict)
    waiting: dict[str, list[str]] = field(default_factory=dict)
    expected: dict[str, dict[str, int]] = field(default_factory=dict)

    def problems(self) -> list[str]:
        """What is wrong with the end state: refused or unfinished records,
        dead or undelivered messages, a node count below :attr:`expected`."""
        found = [f"record {key} refused: {why}" for key, why in self.errors.items()]
        found += [
            f"still waiting at {phase}: {', '.join(keys)}"
            for phase, keys in self.waiting.items()
        ]
        for node in self.nodes:
            name = node["node"]
            if node["dead"]:
                found.append(f"{name}: {node['dead']} dead messages")
            if node["waiting"]:
                found.append(f"{name}: {node['waiting']} messages not delivered")
            for key, least in self.expected.get(name, {}).items():
                if node[key] < least:
                    found.append(f"{name}: {key} {node[key]}, expected {least}")
        return found

    @property
    def ok(self) -> bool:
        """Every record went its whole way, every node holds what it should,
        and no message is dead or waiting."""
        return not self.problems()

    def node(self, node_id: str) -> dict[str, Any]:
        return next(n for n in self.nodes if n["node"] == node_id)

    def as_json(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "returning": self.returning,
            "nodes": self.nodes,
            "errors": self.errors,
            "waiting": self.waiting,
            "expected": self.expected,
            "problems": self.problems(),
            "ok": self.ok,
        }

    def table(self) -> str:
        """The per-node summary as a plain-text table."""
        rows = [list(COLUMNS.values())]
        rows += [[str(n.get(key, "")) for key in COLUMNS] for n in self.nodes]
        widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
        lines = [
            "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=False)) for r in rows
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        # What happened, not what was planned: the arrivals confirmed on the
        # origin nodes (at most the planned returns: a node may hold those
        # of an earlier replay too).
        completed = min(
            self.returning, sum(int(n.get("returns_completed", 0)) for n in self.nodes)
        )
        head = (
            f"Replayed {self.records} CTDC records: {self.returning} to return "
            f"home ({completed} returns completed), "
            f"{self.records - self.returning} in long-term assistance."
        )
        tail = self.problems() or ["End state as expected on every node."]
        return "\n".join([head, *lines, *tail])


class Progress:
    """A text progress bar on ``stream`` (redrawn in place on a terminal, one
    line per phase otherwise); silent when ``stream`` is None."""

    def __init__(self, total: int, stream: TextIO | None, width: int = 30) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream
        self.width = width
        self.tty = bool(stream and stream.isatty())

    def advance(self, steps: int, label: str) -> None:
        self.done = min(self.total, self.done + steps)
        if self.stream is None:
            return
        filled = self.width * self.done // self.total
        bar = "#" * filled + "." * (self.width - filled)
        text = f"replay [{bar}] {self.done}/{self.total} {label}"
        if self.tty:
            self.stream.write("\r" + text.ljust(self.width + 50))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.stream is not None and self.tty:
            self.stream.write("\n")
            self.stream.flush()


#: Steps per record for the progress bar: open + link; a return adds seven.
STEPS_STAY, STEPS_RETURN = 2, 9


class Replay:
    """The replay of ``records`` between ``nodes``, phase by phase.

    Args:
        nodes: one handle per node; each record's two countries must have one
            (records between other countries are left out).
        records: from :func:`trm.demo_replay.records.load`.
        seed: the identities' seed and the case numbers' tag (``RPL-<seed>-…``:
            replaying the same records again opens nothing twice, and a case
            already past a step is not taken through it again).
        timeout: seconds a waiting step waits for the other node.
        backdate_days: see :data:`trm.demo_replay.steps.BACKDATE_DAYS`.
        progress: where the progress bar goes (None: nowhere).
    """

    def __init__(
        self,
        nodes: Sequence[NodeHandle],
        records: Iterable[Record],
        *,
        seed: int = 0,
        timeout: float = 120,
        backdate_days: int = 120,
        progress: TextIO | None = None,
    ) -> None:
        self.nodes = list(nodes)
        self.by_country = {n.country: n for n in self.nodes}
        self.records = [
            r
            for r in records
            if r.citizenship in self.by_country
            and r.exploitation_country in self.by_country
        ]
        self.seed = seed
        self.timeout = timeout
        self.backdate_days = backdate_days
        total = sum(STEPS_RETURN if r.returns else STEPS_STAY for r in self.records)
        self.progress = Progress(total, progress)
        #: key → {"case", "ref", "transfer"} on the exploitation country's node.
        self.opened: dict[str, dict[str, str]] = {}
        #: key → the linked case's id on the citizenship country's node.
        self.linked: dict[str, str] = {}
        #: keys of returning records still on their way.
        self.going: set[str] = set()
        self.errors: dict[str, str] = {}
        self.waiting: dict[str, list[str]] = {}
        self._record = {r.key: r for r in self.records}

    # --- helpers ----------------------------------------------------------------

    def _where(self, key: str, side: str) -> NodeHandle:
        record = self._record[key]
        country = record.exploitation_country if side == "dest" else record.citizenship
        return self.by_country[country]

    def _fan_out(
        self,
        phase: str,
        keys: Iterable[str],
        side: str,
        action: str,
        payload: Callable[[list[str]], dict[str, Any]],
    ) -> dict[str, Any]:
        """Run ``action`` on each node holding ``side`` of some of ``keys``,
        all nodes at once; merge their ``done``; note their ``waiting``."""
        groups: dict[str, list[str]] = {}
        for key in sorted(keys):
            groups.setdefault(self._where(key, side).node_id, []).append(key)
        if not groups:
            return {}
        handles = {n.node_id: n for n in self.nodes}
        done: dict[str, Any] = {}
        with ThreadPoolExecutor(max_workers=len(groups)) as pool:
            futures = {
                node_id: pool.submit(handles[node_id].call, action, payload(group))
                for node_id, group in groups.items()
            }
            for node_id, future in futures.items():
                result = future.result()
                done.update(result.get("done", {}))
                for key, why in result.get("errors", {}).items():
                    self.errors[key] = f"[{node_id}] {why}"
                if result.get("waiting"):
                    self.waiting.setdefault(phase, []).extend(result["waiting"])
                self.progress.advance(len(result.get("done", {})), phase)
        return done

    # --- phases -------------------------------------------------------------------

    def open(self) -> None:
        """The exploitation countries open, identify, assist and alert."""
        peers = {n.country: n.node_id for n in self.nodes}

        def payload(keys: list[str]) -> dict[str, Any]:
            return {
                "records": [self._record[k].as_json() for k in keys],
                "peers": peers,
                "seed": self.seed,
                "backdate_days": self.backdate_days,
            }

        self.opened = self._fan_out("open", self._record, "dest", "open", payload)
        self.going = {k for k in self.opened if self._record[k].returns}

    def link(self) -> None:
        """The citizenship countries link the alerted cases."""
        self.linked = self._fan_out(
            "link",
            self.opened,
            "origin",
            "linked",
            lambda keys: {
                "refs": {k: self.opened[k]["ref"] for k in keys},
                "timeout": self.timeout,
            },
        )
        self.going &= set(self.linked)

    def _refs(self, keys: list[str]) -> dict[str, Any]:
        return {
            "refs": {k: self.opened[k]["ref"] for k in keys},
            "timeout": self.timeout,
        }

    def _cases(self, keys: list[str]) -> dict[str, Any]:
        return {
            "cases": {
                k: {
                    "case": self.opened[k]["case"],
                    "transfer": self.opened[k]["transfer"],
                }
                for k in keys
            },
            "timeout": self.timeout,
        }

    def _case_ids(self, keys: list[str]) -> dict[str, Any]:
        return {
            "cases": {k: self.opened[k]["case"] for k in keys},
            "timeout": self.timeout,
        }

    def _return_step(
        self, phase: str, side: str, action: str, payload: Callable[..., Any]
    ) -> None:
        self.going &= set(self._fan_out(phase, self.going, side, action, payload))

    def returns(self) -> None:
        """The returning cases, from the joint risk assessment to follow-up."""
        self._return_step("joint assessment", "dest", "joint_share", self._case_ids)
        self._return_step("origin rating", "origin", "origin_rate", self._refs)
        self._return_step("return plan", "dest", "plan_send", self._cases)
        self._return_step("plan accepted", "origin", "plan_accept", self._refs)
        self._return_step("journey", "dest", "depart", self._cases)
        self._return_step("arrival", "origin", "arrive", self._refs)
        self._return_step("follow-up", "dest", "followed_up", self._case_ids)

    def summary(self) -> Summary:
        """Wait for every outbox to empty (``timeout``), then ask each node."""
        handles = self.nodes
        with ThreadPoolExecutor(max_workers=max(1, len(handles))) as pool:
            settled = list(
                pool.map(lambda n: n.call("settle", {"timeout": self.timeout}), handles)
            )
            nodes = list(pool.map(lambda n: n.call("summary", {}), handles))
        for node, settle in zip(nodes, settled, strict=True):
            node["waiting"] = settle["waiting"]
        self.progress.close()
        expected: dict[str, dict[str, int]] = {
            n.node_id: dict.fromkeys(EXPECTED, 0) for n in self.nodes
        }
        for r in self.records:
            dest = expected[self.by_country[r.exploitation_country].node_id]
            origin = expected[self.by_country[r.citizenship].node_id]
            dest["cases_opened"] += 1
            origin["cases_linked"] += 1
            dest["follow_up" if r.returns else "long_term"] += 1
            origin["returns_completed"] += r.returns
        return Summary(
            records=len(self.records),
            returning=sum(1 for r in self.records if r.returns),
            nodes=nodes,
            errors=dict(self.errors),
            waiting={p: sorted(set(k)) for p, k in self.waiting.items()},
            expected=expected,
        )

    def run(self) -> Summary:
        """Every phase, then the summary."""
        self.open()
        self.link()
        self.returns()
        return self.summary()


def replay(
    nodes: Sequence[NodeHandle],
    csv_path: str | Path,
    *,
    sample: int = 40,
    seed: int = 2020,
    timeout: float = 120,
    progress: TextIO | None = sys.stderr,
) -> Summary:
    """Replay ``sample`` CTDC cross-border records between ``nodes``.

    Args:
        nodes: the federation (each node's peers must include the others).
        csv_path: the CTDC subset ``dados_app.csv`` (or a file in its layout).
        sample: how many records (all there are, if fewer); ``seed`` picks them.

    Returns:
        The :class:`Summary` (also printable with :meth:`Summary.table`).

    Raises:
        ReplayFailed: a node's command failed (e.g. a role missing: seed the
            node first). OSError / KeyError: the CSV cannot be read.
    """
    records = load(Path(csv_path), [n.country for n in nodes], sample, seed)
    return Replay(nodes, records, seed=seed, timeout=timeout, progress=progress).run()


def handles_from_file(path: str | Path) -> list[NodeHandle]:
    """Node handles from a JSON file: a list of ``{"node_id", "country",
    "env": {...}, "cwd"}``. Each node's ``env`` is laid over this process's
    environment without its ``TRM_*``, ``DJANGO_SETTINGS_MODULE`` and
    ``DATABASE_URL`` (a node's settings come from the file only).

    Raises:
        OSError, ValueError (not JSON), KeyError (an entry lacks a key).
    """
    entries = json.loads(Path(path).read_text(encoding="utf-8"))
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TRM_") and k not in _NODE_ONLY
    }
    return [
        NodeHandle.command(
            entry["node_id"],
            entry["country"],
            {**base, **entry.get("env", {})},
            cwd=entry.get("cwd"),
        )
        for entry in entries
    ]


#: Variables of the caller that must not reach a node unless its entry sets them.
_NODE_ONLY = ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")
