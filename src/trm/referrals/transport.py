"""The port through which a referral reaches an organisation on a peer node.

An organisation whose ``home_node`` is set belongs to another node. Sending a
referral to it hands a :class:`RemoteMessage` to the transport registered here,
inside the sending transaction (the exchange writes an outbox row there, so the
message leaves only if the referral is committed). No transport registered
means the exchange with that node is not set up yet: sending is refused.

The exchange registers its transport at start-up
(``register_remote_transport(callable)`` in its ``AppConfig.ready``); tests
register a fake. Domain code never does network I/O (STYLE.md: "the exchange
layer is a foreign country").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID


@dataclass(frozen=True)
class RemoteMessage:
    """What the referral state machine asks the exchange to deliver.

    Attributes:
        kind: from the referring node: ``"referral.sent"``,
            ``"referral.cancelled"`` or ``"referral.revoked"`` (then the
            receiving node must destroy everything but risk information: SOPS
            §6.4 M13); from the receiving node, its answer
            (:data:`ANSWER_KINDS`): ``"referral.accepted"``,
            ``"referral.declined"``, ``"referral.started"``,
            ``"referral.completed"`` or ``"referral.feedback"``.
        node: the peer node's id (the other organisation's ``home_node``).
        referral_id: this node's id of the referral.
        exchange_key: the id both nodes use for the referral (idempotency).
        to_organisation_id: the organisation the message goes to (this node's
            row standing for it).
        payload: for ``referral.sent``, what was shared and how (personal data:
            only the categories the consent covers, and risk information);
            codes only for the other kinds.
        actor: who made the move (the audit entry of the message), if a user.
    """

    kind: str
    node: str
    referral_id: UUID
    exchange_key: UUID
    to_organisation_id: UUID
    payload: dict[str, object] = field(default_factory=dict)
    actor: Any = None


#: The receiving node's answers, by the outcome they carry.
ANSWER_KINDS: dict[str, str] = {
    "referral.accepted": "accepted",
    "referral.declined": "declined",
    "referral.started": "started",
    "referral.completed": "completed",
    "referral.feedback": "feedback",
}


RemoteTransport = Callable[[RemoteMessage], None]

_transport: list[RemoteTransport] = []


def register_remote_transport(transport: RemoteTransport) -> None:
    """Use ``transport(message)`` for referrals to organisations of peer nodes.

    It is called inside the service's transaction and must not do network I/O
    there: enqueue (an outbox row) and return. Raising refuses the referral
    (nothing is written). Registering again replaces the previous transport.
    """
    _transport[:] = [transport]


def unregister_remote_transport() -> None:
    """Forget the registered transport (tests; an exchange switched off)."""
    _transport.clear()


def remote_transport() -> RemoteTransport | None:
    """Return the registered transport, or None when the exchange is not set up."""
    return _transport[0] if _transport else None
