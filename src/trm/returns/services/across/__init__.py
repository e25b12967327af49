"""SOP 4 preparation across nodes: the services that send the destination's
and the origin's messages, and the inner services the handlers of
:mod:`trm.returns.messages` call (EXCHANGE.md §3; SOPS §2 SOP 4 steps 2-4).

Destination node (the case in return preparation):

* :func:`joint_risk_share` — ``risk.assessment.joint`` side ``destination``;
* :func:`return_plan_send` — ``return.plan``;
* :func:`family_request_send` — ``family.assessment.request`` /
  ``family.tracing.request``; :func:`family_report_record` records a report
  that came outside TRM.

Origin node (the linked case opened from ``case.alert``):

* :func:`joint_risk_origin_rate` — rates the origin side, answers
  ``risk.assessment.joint`` side ``origin``;
* :func:`return_plan_answer` — answers ``return.plan.response``;
* :func:`family_report_send` — answers ``family.assessment.report`` /
  ``family.tracing.result``.

Every message goes to a peer of the case's conversation (its shared reference)
inside the service's transaction (:func:`trm.exchange.services.enqueue`).
On the origin node the national contact point acts on the linked case also
through node policy (the case is led by its organisation and these messages
are between contact points), as :func:`trm.proceedings.notices.
proceedings_notice_send` does; team members act with the planning roles.
"""

from __future__ import annotations

from trm.returns.services.across.common import (
    FAMILY_ROLES,
    REPORT_TYPES,
    REQUEST_TYPES,
    consent_of,
    lock_origin,
    peer_for,
)
from trm.returns.services.across.family import (
    PLAN_TEXT_CATEGORIES,
    family_report_apply,
    family_report_record,
    family_report_send,
    family_request_receive,
    family_request_send,
)
from trm.returns.services.across.joint import (
    joint_risk_origin_rate,
    joint_risk_receive,
    joint_risk_share,
)
from trm.returns.services.across.plan import (
    plan_response_apply,
    return_plan_answer,
    return_plan_carried,
    return_plan_receive,
    return_plan_send,
)
from trm.returns.services.across.restriction import (
    restrict_received,
)

__all__ = [
    "FAMILY_ROLES",
    "PLAN_TEXT_CATEGORIES",
    "REPORT_TYPES",
    "REQUEST_TYPES",
    "consent_of",
    "family_report_apply",
    "family_report_record",
    "family_report_send",
    "family_request_receive",
    "family_request_send",
    "joint_risk_origin_rate",
    "joint_risk_receive",
    "joint_risk_share",
    "lock_origin",
    "peer_for",
    "plan_response_apply",
    "restrict_received",
    "return_plan_answer",
    "return_plan_carried",
    "return_plan_receive",
    "return_plan_send",
]
