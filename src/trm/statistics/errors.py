"""Errors of trm.statistics (codes ``statistics.<reason>``)."""

from __future__ import annotations

from trm.common.errors import Conflict, DomainError, NotFound, PermissionDenied


class UnknownDimension(DomainError):
    """A table spec names a dimension or source that does not exist
    (``details["field"]``: ``rows``, ``columns`` or ``sources``)."""

    code = "statistics.unknown_dimension"


class InvalidTable(DomainError):
    """A table spec is not valid otherwise: the same dimension twice, a period
    ending before it starts, no peer (``details["field"]``)."""

    code = "statistics.invalid_table"


class NotCoordinator(PermissionDenied):
    """Only national contact points (the national coordinator) ask for and
    read regional tables."""

    code = "statistics.not_coordinator"


class UnknownAggregateRequest(NotFound):
    """An answer quotes a request this node did not send to its sender."""

    code = "statistics.unknown_request"


class AlreadyAnswered(Conflict):
    """A node answered the same request twice."""

    code = "statistics.already_answered"


class InvalidAnswer(DomainError):
    """A node's answer to a regional table request is not a protected table of
    the agreed spec: a label that is no code of its dimension, or a figure
    that protection could not have published (``details["field"]``)."""

    code = "statistics.invalid_answer"
