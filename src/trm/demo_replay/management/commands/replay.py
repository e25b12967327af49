"""``trm replay ACTION``: one node's part of the demo replay.

Reads a JSON object on standard input and writes one line
``__REPLAY__{json}`` with the result on standard output (anything the
services print comes before it). The orchestrator
(:mod:`trm.demo_replay.replay`) runs it in each node's environment.

Actions and their input (keys of the JSON object):

* ``open`` — ``records`` (list of :class:`~trm.demo_replay.records.Record`
  as JSON), ``peers`` (citizenship → peer node id), ``seed``,
  ``backdate_days``; result: key → ``{"case", "ref", "transfer"}``, and
  ``errors``: key → message for records the services refused;
* ``linked``, ``origin_rate``, ``plan_accept``, ``arrive`` — ``refs``
  (key → shared reference), ``timeout``;
* ``joint_share`` — ``cases`` (key → case id);
* ``plan_send``, ``depart`` — ``cases`` (key → ``{"case", "transfer"}``),
  ``timeout``; ``followed_up`` — ``cases`` (key → case id), ``timeout``;
* ``settle`` — ``timeout``; ``summary`` — nothing;
* the guided scenario's steps (:mod:`trm.demo_replay.scenario`, ``trm demo
  scenario``): ``scenario_open`` — ``tag``, ``peer``, ``citizenship``,
  ``backdate_days``; ``scenario_link``, ``scenario_family_report``,
  ``scenario_notice_received`` — ``refs``, ``timeout``;
  ``scenario_decide_return`` — ``cases``, ``citizenship``;
  ``scenario_remote_testimony`` — ``cases`` (key → ``{"case", "transfer"}``),
  ``origin_country``; ``scenario_reintegrate`` — ``cases``,
  ``destination_country``; ``scenario_followup_received`` — ``cases``,
  ``timeout``; ``scenario_acked``, ``scenario_ratings_back`` — ``cases``,
  ``timeout``; ``scenario_describe`` — ``cases``.

The waiting actions answer ``{"done": {key: ...}, "waiting": [keys]}``.
Every action is safe to run again for the same cases: a case already past
the step is answered done without acting (see :mod:`trm.demo_replay.steps`);
``open`` lists a record whose case an interrupted replay left half-opened in
``errors`` (``demo_replay.half_opened``).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from trm.common.errors import DomainError
from trm.demo_replay import scenario, steps

MARK = "__REPLAY__"
ACTIONS = (
    "open",
    "linked",
    "joint_share",
    "origin_rate",
    "plan_send",
    "plan_accept",
    "depart",
    "arrive",
    "followed_up",
    "settle",
    "summary",
    "scenario_open",
    "scenario_link",
    "scenario_acked",
    "scenario_ratings_back",
    "scenario_decide_return",
    "scenario_family_report",
    "scenario_remote_testimony",
    "scenario_notice_received",
    "scenario_reintegrate",
    "scenario_followup_received",
    "scenario_describe",
)


def run_action(action: str, payload: dict[str, Any]) -> Any:
    """Run ``action`` with ``payload`` on this node (see the module doc).

    Raises:
        CommandError: unknown action. DomainError / ReplayError: from a step.
    """
    timeout = float(payload.get("timeout", 60))
    if action == "open":
        done: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for record in payload["records"]:
            try:
                done[record["key"]] = steps.open_case(
                    record,
                    peer_node=payload["peers"][record["citizenship"]],
                    seed=int(payload.get("seed", 0)),
                    backdate_days=int(
                        payload.get("backdate_days", steps.BACKDATE_DAYS)
                    ),
                )
            except steps.ReplayError:
                raise
            except DomainError as refused:
                errors[record["key"]] = f"{refused.code}: {refused.message}"
        return {"done": done, "errors": errors}
    if action in {"linked", "origin_rate", "plan_accept", "arrive"}:
        step = getattr(steps, action)
        return step(payload["refs"], timeout)
    if action == "joint_share":
        return steps.joint_share(payload["cases"])
    if action in {"plan_send", "depart", "followed_up"}:
        return getattr(steps, action)(payload["cases"], timeout)
    if action == "settle":
        return steps.outbox_settled(timeout)
    if action == "summary":
        return steps.summary()
    if action.startswith("scenario_"):
        return _scenario(action, payload, timeout)
    raise CommandError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")


def _scenario(action: str, payload: dict[str, Any], timeout: float) -> Any:
    """Run one step of the guided scenario (see the module doc)."""
    if action == "scenario_open":
        return scenario.open_cases(
            tag=str(payload["tag"]),
            peer_node=payload["peer"],
            citizenship=payload["citizenship"],
            backdate_days=int(payload.get("backdate_days", steps.BACKDATE_DAYS)),
        )
    waits = {
        "scenario_link": scenario.link,
        "scenario_family_report": scenario.family_report,
        "scenario_notice_received": scenario.notice_received,
    }
    if action in waits:
        return waits[action](payload["refs"], timeout)
    if action == "scenario_decide_return":
        return scenario.decide_return(payload["cases"], payload["citizenship"])
    if action == "scenario_remote_testimony":
        return scenario.remote_testimony(payload["cases"], payload["origin_country"])
    if action == "scenario_reintegrate":
        return scenario.reintegrate(payload["cases"], payload["destination_country"])
    if action == "scenario_followup_received":
        return scenario.followup_received(payload["cases"], timeout)
    if action == "scenario_acked":
        return scenario.acked(payload["cases"], timeout)
    if action == "scenario_ratings_back":
        return scenario.ratings_back(payload["cases"], timeout)
    if action == "scenario_describe":
        return scenario.describe(payload["cases"])
    raise CommandError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")


class Command(BaseCommand):
    help = (
        "One node's part of the demo replay of CTDC records (development "
        "only); JSON in on standard input, one __REPLAY__ JSON line out."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=ACTIONS)

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEVELOPMENT:
            raise CommandError(
                "The demo replay writes fictional cases: development nodes only "
                "(TRM_ENV=development)."
            )
        text = sys.stdin.read() if not sys.stdin.isatty() else ""
        payload = json.loads(text) if text.strip() else {}
        try:
            result = run_action(options["action"], payload)
        except DomainError as refused:
            raise CommandError(f"{refused.code}: {refused.message}") from None
        self.stdout.write(MARK + json.dumps(result, default=str))
