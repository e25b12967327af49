"""SOP 4 on the destination node: the only writers of the return record, and the
one service that starts the journey ("in transit").

Every top-level service is keyword-only, takes the acting user, locks the case
(:func:`trm.cases.services.lock_case`), checks the case is open, the actor's
role on the case team and that the person was not erased, validates everything
before writing, seals free text under the person's data key, and writes the
timeline event (assistance only) and an audit entry (codes only) in the same
transaction. A refusal is a :class:`~trm.common.errors.DomainError` and writes
nothing.

The answers from the country of origin — the origin side's ratings of the joint
risk matrix (``risk.assessment.joint``, M5) and the receiving organisation's
answer with, for a child, the carer confirmation (``return.plan.response``, M7) —
go through :func:`apply_origin_ratings` and :func:`apply_receiver_decision`:
they take an already locked case and ``actor=None`` is allowed, so the message
handlers of :mod:`trm.returns.messages` call them inside the inbox's
transaction; a case worker may also type in the partner's answer
(:func:`joint_risk_origin_record`, :func:`receiver_decision_record`). The
services that send and answer across nodes are in
:mod:`trm.returns.services.across` (``risk.assessment.joint``,
``return.plan`` / ``return.plan.response``, family assessment and tracing).

Who (SOPS §6.3; the SOP 4 steps' roles in the baseline definition):

* the best-interests determination: the case manager and the guardian
  (:data:`BID_ROLES`);
* the joint risk assessment, the logistics and the receiver's answer: the case
  manager, the service provider and the national contact point
  (:data:`PLANNING_ROLES`);
* "in transit": the national contact point only
  (:data:`trm.cases.tracks.TRACKS` ``assistance``).
"""

from trm.returns.services.assessment import (
    apply_origin_ratings,
    joint_risk_origin_record,
    joint_risk_record,
)
from trm.returns.services.common import BID_ROLES, PLANNING_ROLES, TRANSIT_ROLES
from trm.returns.services.decision import bid_record
from trm.returns.services.journey import blocked_error, return_in_transit
from trm.returns.services.logistics import (
    apply_receiver_decision,
    receiver_decision_record,
    return_plan_update,
)

__all__ = [
    "BID_ROLES",
    "PLANNING_ROLES",
    "TRANSIT_ROLES",
    "apply_origin_ratings",
    "apply_receiver_decision",
    "bid_record",
    "blocked_error",
    "joint_risk_origin_record",
    "joint_risk_record",
    "receiver_decision_record",
    "return_in_transit",
    "return_plan_update",
]
