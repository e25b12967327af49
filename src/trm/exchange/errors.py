"""Errors of the exchange."""

from __future__ import annotations

from trm.common.errors import Conflict, DomainError, NotFound, PermissionDenied


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


# --- Peers and the operator view (trm.exchange.peers, trm.exchange.operations) ---


class PeerUnreachable(ExchangeError):
    """The peer's published document could not be fetched."""

    code = "exchange.peer_unreachable"


class PeerDocumentInvalid(ExchangeError):
    """The peer's published document is malformed or its signature fails."""

    code = "exchange.peer_document_invalid"


class KeyContinuityBroken(Conflict):
    """A refreshed document is not signed by a key already trusted for the peer."""

    code = "exchange.key_continuity_broken"


class PeerCountryChanged(Conflict):
    """A refreshed document declares another country than the one trusted.

    Consents name the country data may go to, so the change is taken only when
    an administrator confirms it after checking it out of band.
    """

    code = "exchange.peer_country_changed"


class PeerExists(Conflict):
    code = "exchange.peer_exists"


class PeerIsThisNode(Conflict):
    code = "exchange.peer_is_this_node"


class PeerInUse(Conflict):
    """The peer has messages in or out: disable it instead of removing it."""

    code = "exchange.peer_in_use"


class NotExchangeOperator(PermissionDenied):
    code = "exchange.not_operator"


class MessageNotFound(NotFound):
    code = "exchange.message_not_found"


class MessageNotRetryable(Conflict):
    code = "exchange.message_not_retryable"


class InvalidFilter(ExchangeError):
    code = "exchange.invalid_filter"


class PeerInputInvalid(ExchangeError):
    """A peer's address or fingerprint as typed is not valid (``details["field"]``)."""

    code = "exchange.invalid_input"
