"""Errors of the exchange."""

from __future__ import annotations

from trm.common.errors import Conflict, DomainError, NotFound


class ExchangeError(DomainError):
    """Base class of the exchange's refusals."""

    code = "exchange.error"


class PeerNotFound(NotFound):
    code = "exchange.peer_not_found"


class PeerUnavailable(ExchangeError):
    """No active peer for the node, or it is disabled."""

    code = "exchange.peer_unavailable"


class LegalBasisMissing(ExchangeError):
    """The message's categories are not covered by its legal basis (§1.7)."""

    code = "exchange.legal_basis_missing"


class MessageInvalid(ExchangeError):
    """The payload does not fit the message type's schema or categories."""

    code = "exchange.message_invalid"


class FingerprintMismatch(Conflict):
    code = "exchange.fingerprint_mismatch"
