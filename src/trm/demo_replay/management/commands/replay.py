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
* ``settle`` — ``timeout``; ``summary`` — nothing.

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
from trm.demo_replay import steps

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
