"""Test helpers: messages from a peer through the exchange's real inbox.

:func:`signed_peer` makes a peer node with its own keys (the exchange tests'
:class:`~trm.exchange.tests.conftest.FakePeer`) trusted by this node;
:func:`deliver` seals a message as that peer would and hands it to
:func:`trm.exchange.inbox.receive`, which checks, applies and records it.
All data is synthetic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from trm.exchange import inbox, nodekeys, registry
from trm.exchange.models import Peer, PeerStatus
from trm.exchange.tests.conftest import FakePeer


def signed_peer(node_id: str = "peer-ro", country: str = "RO") -> FakePeer:
    """Return a peer node with keys, trusted by this node (which gets its own
    exchange keys if it has none)."""
    nodekeys.init_keys()
    fake = FakePeer(node_id)
    Peer.objects.update_or_create(
        node_id=node_id,
        defaults={
            "name": f"Fictional node {node_id}",
            "country": country,
            "base_url": "http://127.0.0.1:9/",
            "keys": fake.jwks,
            "fingerprint": fake.sig_jwk["kid"],
            "status": PeerStatus.ACTIVE,
        },
    )
    return fake


def deliver(
    fake: FakePeer,
    type: str,
    payload: dict[str, Any],
    *,
    conversation: str = "",
    seq: int | None = None,
    legal_basis: str = "pseudonymous",
    categories: list[str] | tuple[str, ...] = (),
    **claims: Any,
) -> inbox.Answer:
    """Send ``payload`` as a ``type`` message from ``fake`` to this node's
    inbox and return its answer (``seq`` defaults to 1 in a conversation)."""
    body, _claims = fake.envelope(
        payload,
        type=type,
        conversation=conversation,
        seq=(1 if conversation else 0) if seq is None else seq,
        legal_basis=legal_basis,
        categories=list(categories),
        **claims,
    )
    return inbox.receive(body)


@contextmanager
def handled(name: str, handler: Any = None) -> Iterator[list[registry.Inbound]]:
    """Give the schema-only type ``name`` a recording handler for the block
    (so the inbox gets past ``unsupported_type`` to its other checks)."""
    original = registry.message_type(name)
    assert original is not None
    calls: list[registry.Inbound] = []

    def record(message: registry.Inbound) -> None:
        calls.append(message)
        return None

    registry.register(
        dataclasses.replace(original, handler=handler or record), replace=True
    )
    try:
        yield calls
    finally:
        registry.register(original, replace=True)
