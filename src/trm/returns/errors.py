"""Refusals of trm.returns with stable codes. Messages never contain personal data."""

from __future__ import annotations

from trm.common.errors import Conflict, NotFound, PermissionDenied


class ReturnNotForLegalTrack(PermissionDenied):
    """The return record is assistance content: legal-track-only roles (a
    prosecutor) see none of it (SOPS §3 unconditional assistance)."""

    code = "returns.not_for_legal_track"


class ReturnRecordNotFound(NotFound):
    """No such joint risk assessment (or other return record) on this case."""

    code = "returns.not_found"


class ReturnBlocked(Conflict):
    """The journey may not start: ``details["blockers"]`` lists EVERY unmet
    condition as ``{"code", "message"}`` (SOPS §6.2 region B IN_TRANSIT; §6.5
    rules 4 and 5)."""

    code = "returns.blocked"


class ReturnNotLinked(Conflict):
    """The case is not linked with a case on a peer node (no shared reference
    or no active peer in its conversation), or not with the node named:
    nothing can be sent about it (EXCHANGE.md §1.5)."""

    code = "returns.not_linked"


class UnknownAssessment(NotFound):
    """A ``risk.assessment.joint`` names an assessment this case does not have
    (``assessment_ref``)."""

    code = "returns.unknown_assessment"


class UnknownPlan(NotFound):
    """A ``return.plan.response`` names a plan this case does not have, or an
    answer is asked for a plan that never arrived."""

    code = "returns.unknown_plan"


class UnknownFamilyRequest(NotFound):
    """A family report names a request this node never sent (or an answer is
    written for a request that never arrived)."""

    code = "returns.unknown_request"


class NothingArrived(Conflict):
    """The origin node is asked to answer something that did not arrive: no
    joint assessment, return plan or family request from the destination
    (``details["what"]``)."""

    code = "returns.nothing_arrived"


class WrongSide(Conflict):
    """A message of the country of origin's side (``return.plan``,
    ``return.handover``, ``risk.assessment.joint`` side ``destination``,
    ``family.*.request``) arrived about a case for which this node is the
    country of destination: it alerted the sender, or prepares the return
    itself (EXCHANGE.md §3 "from → to")."""

    code = "returns.wrong_side"
