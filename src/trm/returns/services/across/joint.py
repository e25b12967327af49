"""``risk.assessment.joint`` (M5): the destination shares its ratings, the
origin rates its side and answers (SOPS §2 SOP 4 step 2)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import User
from trm.cases.errors import TransitionNotAllowed
from trm.cases.messages import OrganisationRefV1
from trm.cases.models import Case
from trm.exchange import services as exchange
from trm.exchange.models import OutboxMessage
from trm.identification.common import audit_case
from trm.returns import wire
from trm.returns.errors import (
    NothingArrived,
)
from trm.returns.models import (
    MATRIX_ITEMS,
    JointRiskAssessment,
    highest,
)
from trm.returns.services.across.common import (
    lock_origin,
    peer_for,
    sender_organisation,
)
from trm.returns.services.assessment import apply_origin_ratings
from trm.returns.services.common import (
    PLANNING_ROLES,
    lock_for,
    require_planning,
)

# --- risk.assessment.joint -----------------------------------------------------------


def _joint_payload(
    case: Case,
    assessment: JointRiskAssessment,
    *,
    side: str,
    ref: UUID,
    assessed_on: date,
    ratings: dict[str, str],
    overall: str,
    mitigations: bool,
    organisation: OrganisationRefV1,
) -> wire.JointRiskV1:
    return wire.JointRiskV1(
        trm_case_ref=case.trm_case_ref,
        assessment_ref=ref,
        side=side,
        assessed_on=assessed_on,
        valid_until=assessment.valid_until,
        ratings=ratings,
        overall_level=overall,
        first_needs=list(assessment.first_needs),
        mitigations_written=mitigations,
        sending_organisation=organisation,
    )


@transaction.atomic(durable=True)
def joint_risk_share(
    *, actor: User, case_id: UUID, to_node: str | None = None
) -> OutboxMessage:
    """Send the case's newest joint risk assessment to the origin node
    (``risk.assessment.joint`` v1, side ``destination``; SOPS §2 SOP 4 step 2;
    M5) for the origin side to rate. Risk information only: the ratings, the
    overall level, the first-needs codes and whether mitigations are written
    (their text stays here); legal basis ``pseudonymous``.

    Returns the queued message; the origin's answer comes back through
    :func:`trm.returns.messages.apply_joint_risk` into
    :func:`~trm.returns.services.apply_origin_ratings`.

    Raises:
        CaseNotFound, CaseRoleRequired (:data:`PLANNING_ROLES`),
        TransitionNotAllowed (closed; not in return preparation or on hold;
        no assessment: ``reason`` ``joint_risk_missing``), PersonErased,
        ReturnNotLinked, PeerUnavailable.
    """
    case = lock_for(actor, case_id, PLANNING_ROLES)
    require_planning(case)
    assessment = JointRiskAssessment.objects.filter(case=case).first()
    if assessment is None:
        raise TransitionNotAllowed(
            _("Record the joint risk assessment first."),
            details={"reason": "joint_risk_missing"},
        )
    node = peer_for(case, to_node)
    payload = _joint_payload(
        case,
        assessment,
        side="destination",
        ref=assessment.pk,
        assessed_on=assessment.assessed_on,
        ratings={
            item: (assessment.ratings.get(item) or {}).get("destination", "low")
            for item in MATRIX_ITEMS
        },
        overall=assessment.overall_level,
        mitigations=assessment.has_mitigations,
        organisation=sender_organisation(actor, case),
    )
    message = exchange.enqueue(
        to_node=node,
        type=wire.RISK_JOINT,
        payload=payload,
        legal_basis=exchange.PSEUDONYMOUS,
        categories=["risk"],
        conversation=case.trm_case_ref,
        case_id=case.pk,
        actor=actor,
    )
    audit_case(
        actor,
        "returns.joint_risk_shared",
        case,
        record=str(assessment.pk),
        to=node,
        message=str(message.msg_id),
    )
    return message


def joint_risk_receive(
    *, actor: User, case: Case, peer_node: str, msg_id: UUID, payload: wire.JointRiskV1
) -> JointRiskAssessment:
    """Record the destination's ratings on the origin's locked linked ``case``
    (inner service of the handler; not durable). The same assessment sent
    again replaces the destination's ratings and keeps the origin's. The
    origin side is left to rate (:func:`joint_risk_origin_rate`).
    """
    assessment = (
        JointRiskAssessment.objects.select_for_update()
        .filter(case=case, remote_ref=payload.assessment_ref)
        .first()
    )
    if assessment is None:
        assessment = JointRiskAssessment(
            case=case, remote_ref=payload.assessment_ref, recorded_by=actor
        )
    assessment.ratings = {
        item: {
            "destination": payload.ratings[item],
            "origin": (assessment.ratings.get(item) or {}).get("origin")
            if assessment.ratings
            else None,
        }
        for item in MATRIX_ITEMS
    }
    assessment.assessed_on = payload.assessed_on
    assessment.valid_until = payload.valid_until
    assessment.overall_level = payload.overall_level
    assessment.first_needs = list(payload.first_needs)
    assessment.has_mitigations = payload.mitigations_written
    assessment.peer_node = peer_node
    assessment.received_msg_id = msg_id
    assessment.recorded_at = timezone.now()
    assessment.save()
    audit_case(
        actor,
        "returns.joint_risk_received",
        case,
        record=str(assessment.pk),
        sender=peer_node,
        level=payload.overall_level,
    )
    return assessment


@transaction.atomic(durable=True)
def joint_risk_origin_rate(
    *,
    actor: User,
    case_id: UUID,
    ratings: dict[str, str],
    rated_on: date | None = None,
    assessment_id: UUID | None = None,
) -> OutboxMessage:
    """On the origin node: rate the origin side of a joint assessment that
    arrived (``assessment_id``, or the newest received) and send the ratings
    back (``risk.assessment.joint`` side ``origin``, in reply; M5).

    ``ratings``: every item of :data:`~trm.returns.models.MATRIX_ITEMS` →
    ``low``/``medium``/``high``; ``rated_on`` defaults to today. The origin's
    overall level sent is the highest of its ratings.

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed (closed case),
        PersonErased, NothingArrived (no assessment received),
        CaseInvalidInput, PeerUnavailable.
    """
    case, _access = lock_origin(actor, case_id)
    found = JointRiskAssessment.objects.select_for_update().filter(
        case=case, remote_ref__isnull=False
    )
    if assessment_id is not None:
        found = found.filter(pk=assessment_id)
    assessment = found.first()
    if assessment is None or assessment.received_msg_id is None:
        raise NothingArrived(
            _("No joint risk assessment arrived from the destination country."),
            details={"what": "joint_risk"},
        )
    organisation = sender_organisation(actor, case)
    day = rated_on or timezone.localdate()
    apply_origin_ratings(
        actor=actor,
        case=case,
        assessment=assessment,
        ratings=ratings,
        organisation=organisation.name,
        rated_on=day,
    )
    origin = {item: assessment.ratings[item]["origin"] for item in MATRIX_ITEMS}
    assert assessment.remote_ref is not None  # noqa: S101 - filtered above
    message = exchange.enqueue(
        to_node=assessment.peer_node,
        type=wire.RISK_JOINT,
        payload=_joint_payload(
            case,
            assessment,
            side="origin",
            ref=assessment.remote_ref,
            assessed_on=day,
            ratings=origin,
            overall=highest(list(origin.values())),
            mitigations=False,
            organisation=organisation,
        ),
        legal_basis=exchange.PSEUDONYMOUS,
        categories=["risk"],
        conversation=case.trm_case_ref,
        in_reply_to=assessment.received_msg_id,
        case_id=case.pk,
        actor=actor,
    )
    audit_case(
        actor,
        "returns.joint_risk_origin_sent",
        case,
        record=str(assessment.pk),
        to=assessment.peer_node,
        message=str(message.msg_id),
    )
    return message
