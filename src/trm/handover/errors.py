"""Refusals of trm.handover with stable codes. Messages never hold personal data."""

from __future__ import annotations

from trm.common.errors import Conflict, NotFound


class NoOriginNode(Conflict):
    """A return needs the node of the country of origin: the case shares its
    reference with no active peer (or with several and none was chosen)."""

    code = "handover.no_origin_node"


class HandoverNotFound(NotFound):
    """No handover with that id (or reference) on this case, or one that was
    not sent by (or to) the node that names it."""

    code = "handover.not_found"


class HandoverAlreadyConfirmed(Conflict):
    """The arrival of this handover was already confirmed (or reported missed)."""

    code = "handover.already_confirmed"


class HandoverNotLinked(Conflict):
    """An announcement names a shared reference no case here is linked under."""

    code = "handover.not_linked"


class HandoverDuplicate(Conflict):
    """An announcement repeats a handover reference already recorded here."""

    code = "handover.duplicate"
