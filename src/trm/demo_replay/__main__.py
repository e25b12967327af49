"""``python -m trm.demo_replay --nodes NODES.json [--csv FILE] [--sample N]``.

Replays CTDC cross-border records between running demo nodes
(:func:`trm.demo_replay.replay.replay`), prints the progress bar on standard
error and the per-node summary on standard output (``--json``: the summary as
JSON). Exit status 0 when every record went its whole way and no message is
dead or still waiting, 1 otherwise, 2 when a node's command failed.

``NODES.json``: a list of ``{"node_id", "country", "env": {...}, "cwd"}`` —
each node's environment as the launcher starts it (``TRM_NODE_ID``,
``TRM_COUNTRY``, ``TRM_DATA_DIR``, ``TRM_ENV=development``…).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from trm.demo_replay.replay import ReplayFailed, handles_from_file, replay

DEFAULT_CSV = (
    Path("..") / "shared" / "data" / "ctdc-global-2020-subset" / "dados_app.csv"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trm.demo_replay")
    parser.add_argument("--nodes", required=True, help="JSON file of the nodes")
    parser.add_argument("--csv", default=str(DEFAULT_CSV), help="CTDC dados_app.csv")
    parser.add_argument("--sample", type=int, default=40, help="records to replay")
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--timeout", type=float, default=120, help="seconds per wait")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    try:
        summary = replay(
            handles_from_file(args.nodes),
            args.csv,
            sample=args.sample,
            seed=args.seed,
            timeout=args.timeout,
            progress=sys.stderr,
        )
    except ReplayFailed as exc:
        sys.stderr.write(f"replay: {exc}\n")
        return 2
    text = json.dumps(summary.as_json(), indent=2) if args.json else summary.table()
    sys.stdout.write(text + "\n")
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
