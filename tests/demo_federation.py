"""Three demo nodes shared by the tests that need a federation as ``make
demo`` runs it (the replay, the guided scenario, the two-node browser test).

Serbia (``node-rs``) is a country of exploitation; Moldova (``node-md``) and
Romania (``node-ro``) are citizenship countries. Each node runs its own
server, worker, SQLite database and keys (:mod:`tests.federation`); Serbia
becomes a peer of the other two through ``trm peers add``. Each node is
seeded as the launcher seeds it — ``trm demo seed`` in demo mode (the demo
organisations, one user per role named ``<cc>-<role>``, e.g. ``rs-ncp``, all
with :data:`DEMO_PASSWORD` and an authenticator enrolled with
:data:`DEMO_TOTP_SECRET`, DEMO ONLY).

The fixture is session-scoped (setting up a node costs most of a minute of
migrations): tests share the nodes, so they assert what *they* changed
(counts before and after), never absolute counts.
"""

from __future__ import annotations

import csv
import json
import secrets
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from tests.federation import Node, peer

from trm.demo.federation import COUNTRIES
from trm.demo_replay.replay import NodeHandle

#: The demo users' password and authenticator secret (40 hex digits) on the
#: shared nodes: random per test session, DEMO ONLY.
DEMO_PASSWORD = "Demo-" + secrets.token_urlsafe(12)
DEMO_TOTP_SECRET = secrets.token_hex(20)


def _prepare(node: Node) -> None:
    node.setup()
    node.trm("demo", "seed")  # as the launcher does (trm.demo.federation)
    node.start()


@pytest.fixture(scope="session")
def demo_federation(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Node]]:
    """``{"RS": Node, "MD": Node, "RO": Node}``, running, seeded and peered
    (RS–MD, RS–RO), set up side by side."""
    root = tmp_path_factory.mktemp("demo-federation")
    env = {
        "TRM_EXCHANGE_RETRY_BASE_SECONDS": "1",
        "TRM_EXCHANGE_RETRY_CAP_SECONDS": "2",
        # Demo mode, as `make demo` runs the nodes (DEMO ONLY credentials).
        "TRM_DEMO": "1",
        "TRM_DEMO_PASSWORD": DEMO_PASSWORD,
        "TRM_DEMO_TOTP_SECRET": DEMO_TOTP_SECRET,
    }
    nodes = {
        country: Node(
            f"node-{country.lower()}",
            country,
            root,
            sop_variant=country.lower(),
            # Named as the launcher names its nodes (seen on screenshots).
            extra_env={
                **env,
                "TRM_NODE_NAME": f"TRM demo node {COUNTRIES[country][0]} (fictional)",
            },
        )
        for country in ("RS", "MD", "RO")
    }
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(_prepare, nodes.values()))
        peer(nodes["RS"], nodes["MD"])
        peer(nodes["RS"], nodes["RO"])
        yield nodes
    finally:
        for node in nodes.values():
            node.destroy()


# --- driving the nodes -------------------------------------------------------

HEADER = [
    "yearOfRegistration",
    "gender",
    "ageBroad",
    "citizenship",
    "isForcedLabour",
    "isSexualExploit",
    "CountryOfExploitation",
    "nacionalidade_lat",
    "nacionalidade_long",
    "nacionalidade",
    "pais_exploracao_lat",
    "pais_exploracao_long",
    "pais_exploracao",
    "nacionalidade_alpha3",
    "pais_exploracao_alpha3",
]


def ctdc_csv(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    """Write ``(citizenship, exploitation country, gender, age band)`` rows in
    the CTDC subset's layout, plus rows the replay must leave out."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(HEADER)
        extra = [("RS", "RS", "Female", "18--20"), ("0", "RS", "Male", "")]
        for origin, where, gender, band in rows + extra:
            out.writerow(
                ["2016", gender, band, origin, "0.0", "1.0", where]
                + [""] * (len(HEADER) - 7)
            )
    return path


def snippet_handle(node: Node) -> NodeHandle:
    """Run ``trm replay`` steps in the node's long-lived snippet runner (the
    same code the command runs, without a new interpreter per step)."""

    def call(action: str, payload: Any) -> Any:
        code = textwrap.dedent(
            f"""
            import json
            from trm.demo_replay.management.commands.replay import run_action
            result = run_action({action!r}, json.loads({json_text(payload)!r}))
            """
        )
        return node.python(code)

    return NodeHandle(node.node_id, node.country, call)


def json_text(payload: Any) -> str:
    return json.dumps(payload)
