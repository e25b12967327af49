"""The exchange's records: node keys, peers, the outbox, the inbox.

Nothing here holds a payload in clear: a payload that may carry personal data
is sealed under the data key of the person its case is about (so erasing the
person erases it), others under the node's ``exchange`` purpose key
(:func:`trm.dataprotection.crypto.seal_node`); private keys are sealed under
that node key too. Routing fields (type, conversation,
seq, categories, legal basis) stay in clear: they are what a proxy would see
anyway (EXCHANGE.md §1.2) and what the operator view and statistics need.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _


class KeyUse(models.TextChoices):
    SIGNING = "sig", _("Signing (Ed25519)")
    ENCRYPTION = "enc", _("Encryption (X25519)")


class ExchangeKey(models.Model):
    """One of this node's key pairs (JWK with ``kid``).

    The newest unretired key of each use signs / receives; retired keys stay so
    old messages and receipts can still be verified (signing) or read
    (encryption).
    """

    kid = models.CharField(max_length=64, primary_key=True)
    use = models.CharField(max_length=3, choices=KeyUse.choices)
    public_jwk = models.JSONField()
    #: The private JWK (JSON) sealed with seal_node("exchange", ..., context=kid).
    private_sealed = models.BinaryField()
    created_at = models.DateTimeField()
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["use", "retired_at", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.use}:{self.kid}"


class PeerStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    DISABLED = "disabled", _("Disabled")


class Peer(models.Model):
    """A node this node trusts, added by an administrator after checking the
    fingerprint of its signing key out of band (never trusted on first use)."""

    node_id = models.CharField(_("node id"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True)
    #: Base URL of the peer (its inbox is ``<base_url>/exchange/v1/messages``).
    base_url = models.URLField(_("address"), max_length=300)
    #: Public JWKs of the peer (signing and encryption, current and retired).
    keys = models.JSONField(default=list)
    #: RFC 7638 thumbprint of the signing key the administrator checked.
    fingerprint = models.CharField(_("fingerprint"), max_length=64)
    status = models.CharField(
        max_length=10, choices=PeerStatus.choices, default=PeerStatus.ACTIVE
    )
    #: Set when the peer signed with a key this node does not know yet (it
    #: rotated): the worker refreshes its published keys (key continuity).
    refresh_requested_at = models.DateTimeField(null=True, blank=True)
    added_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["node_id"]

    def __str__(self) -> str:
        return self.node_id


class OutboxStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RETRYING = "retrying", _("Retrying")
    SENT = "sent", _("Delivered")
    REJECTED = "rejected", _("Rejected by the receiver")
    DEAD = "dead", _("Dead (gave up)")
    CANCELLED = "cancelled", _("Cancelled before sending (consent withdrawn)")


class OutboxMessage(models.Model):
    """A message waiting to leave, or gone (with its receipt).

    Written by :func:`trm.exchange.services.enqueue` inside the transaction of
    the business change that caused it (EXCHANGE.md §1.3).
    """

    msg_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    peer = models.ForeignKey(Peer, on_delete=models.PROTECT, related_name="outbox")
    type = models.CharField(max_length=64)
    version = models.PositiveSmallIntegerField(default=1)
    #: The shared case reference ("" for messages outside a case).
    conversation = models.CharField(max_length=64, blank=True, db_index=True)
    seq = models.PositiveIntegerField(default=0)
    in_reply_to = models.UUIDField(null=True, blank=True)
    legal_basis = models.CharField(max_length=200)
    categories = models.JSONField(default=list)
    reply_by = models.DateTimeField(null=True, blank=True)
    #: This node's case the message is about (no foreign key: the exchange
    #: never imports a domain app).
    case_id = models.UUIDField(null=True, blank=True, db_index=True)
    payload_sealed = models.BinaryField()
    #: The person's data key the payload is sealed under (None: the node's
    #: exchange key). Destroying the person's key erases the stored payload.
    payload_key_id = models.UUIDField(null=True, blank=True)
    #: SHA-256 (hex) of the canonical JSON payload.
    payload_digest = models.CharField(max_length=64)
    status = models.CharField(
        max_length=10, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    #: SHA-256 (hex) of the compact JWE last sent (what the receipt signs).
    envelope_digest = models.CharField(max_length=64, blank=True)
    #: The receiver's signed receipt or rejection (compact JWS) and its claims.
    receipt = models.TextField(blank=True)
    receipt_claims = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["peer", "conversation", "seq"],
                condition=~models.Q(conversation=""),
                name="exchange_outbox_seq_unique",
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["peer", "status", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.type} → {self.peer_id} ({self.status})"


class InboxStatus(models.TextChoices):
    APPLIED = "applied", _("Applied")
    REJECTED = "rejected", _("Rejected")


class InboxMessage(models.Model):
    """A message received from a peer, recorded in the same transaction as
    applying it (EXCHANGE.md §1.4): ``(peer, msg_id)`` is unique."""

    id = models.BigAutoField(primary_key=True)
    peer = models.ForeignKey(Peer, on_delete=models.PROTECT, related_name="inbox")
    msg_id = models.UUIDField()
    type = models.CharField(max_length=64)
    version = models.PositiveSmallIntegerField(default=1)
    conversation = models.CharField(max_length=64, blank=True, db_index=True)
    seq = models.PositiveIntegerField(default=0)
    in_reply_to = models.UUIDField(null=True, blank=True)
    legal_basis = models.CharField(max_length=200)
    categories = models.JSONField(default=list)
    case_id = models.UUIDField(null=True, blank=True, db_index=True)
    payload_sealed = models.BinaryField(null=True, blank=True)
    #: As on OutboxMessage: the person's data key the payload is sealed under.
    payload_key_id = models.UUIDField(null=True, blank=True)
    envelope_digest = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=InboxStatus.choices)
    error_code = models.CharField(max_length=64, blank=True)
    received_at = models.DateTimeField()
    #: The signed receipt this node answered with (returned again on a duplicate).
    receipt = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["peer", "msg_id"], name="exchange_inbox_unique"
            )
        ]
        indexes = [models.Index(fields=["peer", "-received_at"])]

    def __str__(self) -> str:
        return f"{self.type} ← {self.peer_id} ({self.status})"


class Conversation(models.Model):
    """Sequence counters of one shared case with one peer.

    ``last_out_seq`` numbers this node's messages; ``last_in_seq`` is the
    highest of the peer's messages applied here (EXCHANGE.md §1.5).
    """

    peer = models.ForeignKey(Peer, on_delete=models.PROTECT, related_name="+")
    reference = models.CharField(max_length=64)
    last_out_seq = models.PositiveIntegerField(default=0)
    last_in_seq = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["peer", "reference"], name="exchange_conversation_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.reference} with {self.peer_id}"
