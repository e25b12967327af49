"""Readers of the exchange's records for domain apps (no payloads, no persons).

Domain handlers ask here rather than querying the exchange's models: what
they need to know is routing, never personal data, so these readers take no
acting user and write no audit entry.
"""

from __future__ import annotations

from trm.exchange.models import InboxMessage, InboxStatus, OutboxMessage


def is_party(peer_node: str, reference: str) -> bool:
    """Whether the peer ``peer_node`` is party to the shared case ``reference``
    on this node: in that conversation, this node wrote to it about a local
    case, or applied one of its messages that touched a local case.

    A handler asks this before a message acts on a case that already exists
    here under ``reference``, so that a peer that merely knows a reference
    cannot close, restrict or change a case it was never party to. The
    message being applied does not count (it is recorded after its handler).

    What does not count, because a peer that is not party can cause it:

    * a refused message, which still consumes its sequence number (so the
      conversation's ``last_in_seq`` is no evidence);
    * an applied message that touched no case here (a cancellation of a
      referral that never arrived, a withdrawal of which nothing is held),
      and this node's automatic answers that concern no case here (the
      conversation's ``last_out_seq`` counts those too).

    A message cancelled before it left has left the conversation (its
    ``conversation`` is cleared), so it does not count either.
    """
    if not peer_node or not reference:
        return False
    if OutboxMessage.objects.filter(
        peer__node_id=peer_node, conversation=reference, case_id__isnull=False
    ).exists():
        return True
    return InboxMessage.objects.filter(
        peer__node_id=peer_node,
        conversation=reference,
        status=InboxStatus.APPLIED,
        case_id__isnull=False,
    ).exists()
