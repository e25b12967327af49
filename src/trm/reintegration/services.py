"""SOP 4 steps 9–10: the only writers of the reintegration plan, the
follow-ups and their reports (SOPS §2 SOP 4 steps 9–10; §6.3; §6.4 M10).

Top-level services are keyword-only, take the acting user, lock the case
(:func:`trm.cases.services.lock_case`), check the case is open, the actor's
role on the case team (not node policy) and that the person was not erased,
validate everything before writing, seal free text under the person's data
key, and write the timeline event (assistance only) and an audit entry (codes
only) in the same durable transaction. A refusal is a
:class:`~trm.common.errors.DomainError` and writes nothing.

Who: the case manager, the service provider and the national contact point on
the case team (:data:`PLAN_ROLES`). When: the case's assistance is
``reintegration`` or ``follow_up`` (:data:`REINTEGRATION_STATES`; on the
origin node only the arrival confirmation moves a linked case there).

:func:`followup_report_receive` is the inner service of the
``followup.report`` handler on the destination node (inside the inbox's
transaction).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import Role, User
from trm.assessments.models import RiskLevel
from trm.care.common import Sealer, check_date
from trm.cases.errors import CaseInvalidInput, TransitionNotAllowed
from trm.cases.messages import conversation_peers, organisation_ref
from trm.cases.models import Case, Visibility
from trm.cases.services import lock_case, record_case_event, require_live_person
from trm.cases.tracks import Assistance
from trm.common.text import clean_text, has_visible_text
from trm.consent.errors import ConsentMissing
from trm.directory.models import ServiceType
from trm.exchange import services as exchange
from trm.identification.common import (
    audit_case,
    clean_reason,
    require_open,
    require_roles,
)
from trm.reintegration.errors import FollowUpNotFound
from trm.reintegration.messages import (
    FOLLOWUP_REPORT,
    FollowupReportV1,
    followup_report_carried,
)
from trm.reintegration.models import (
    DOMAINS,
    DomainStatus,
    FollowUp,
    FollowUpReport,
    ReintegrationPlan,
)
from trm.reintegration.schedule import due_dates, months_after_return

#: Roles on the case team that record the plan and the follow-up reports.
PLAN_ROLES = frozenset(
    {Role.CASE_MANAGER, Role.SERVICE_PROVIDER, Role.NATIONAL_CONTACT_POINT}
)
#: Assistance states in which the person is being reintegrated.
REINTEGRATION_STATES = frozenset({Assistance.REINTEGRATION, Assistance.FOLLOW_UP})
MAX_GOALS_CHARS = 4000
MAX_NOTE_CHARS = 2000
MAX_LINE_CHARS = 200
#: The furthest ahead a plan may start (its follow-ups are scheduled up to a
#: few years after the start; year 9999 would overflow).
MAX_DAYS_AHEAD = 366


def _invalid(message: str, field: str, **details: object) -> CaseInvalidInput:
    return CaseInvalidInput(message, details={"field": field, **details})


def _lock(actor: User, case_id: UUID) -> Case:
    case, access = lock_case(actor=actor, case_id=case_id)
    require_open(case)
    require_roles(access, PLAN_ROLES)
    require_live_person(case)
    if case.assistance not in REINTEGRATION_STATES:
        raise TransitionNotAllowed(
            _(
                "Reintegration is planned and followed up once the person has "
                "returned and been handed over (SOP 4)."
            ),
            details={"reason": "not_in_reintegration", "from": case.assistance},
        )
    return case


def _services(values: Iterable[str], *, field: str, required: bool) -> list[str]:
    if isinstance(values, str):
        values = [values]
    codes = list(dict.fromkeys(values or ()))
    if any(code not in ServiceType.values for code in codes):
        raise _invalid(_("Choose services from the list."), field)
    if required and not codes:
        raise _invalid(_("Choose at least one service."), field)
    return codes


def _text(value: str, *, field: str, limit: int, required: bool, message: str) -> str:
    text = clean_reason(value, field=field, required=required, message=message)
    if len(text) > limit:
        raise _invalid(_("At most %(n)d characters.") % {"n": limit}, field)
    return text


def destination_node(case: Case, plan: ReintegrationPlan | None) -> str:
    """Return the node the follow-up reports of ``case`` go to: the plan's
    ``report_to_node``, else the only node the case is linked with; ``""``
    when there is none or several to choose from."""
    if plan is not None and plan.report_to_node:
        return plan.report_to_node
    peers = (
        [p.node_id for p in conversation_peers(case.trm_case_ref)]
        if case.trm_case_ref
        else []
    )
    return peers[0] if len(peers) == 1 else ""


def current_plan(case: Case) -> ReintegrationPlan | None:
    """Return the case's reintegration plan (the newest), if any."""
    return ReintegrationPlan.objects.filter(case=case).first()


@transaction.atomic(durable=True)
def reintegration_plan_record(
    *,
    actor: User,
    case_id: UUID,
    starts_on: date | None,
    services: Iterable[str],
    goals: str,
    case_manager_function: str,
    report_to_node: str = "",
) -> ReintegrationPlan:
    """Record the reintegration plan in the country of origin and schedule
    its follow-ups (SOPS §2 SOP 4 steps 9–10).

    Args:
        starts_on: the day the plan starts (from 1990; may be ahead, at most
            :data:`MAX_DAYS_AHEAD` days).
        services: :class:`~trm.directory.models.ServiceType` codes (at least
            one: shelter, medical, psychological, legal_aid, documents,
            education, vocational_training, employment, empowerment…).
        goals: what the plan aims at (required; sealed; ≤ 4000 characters).
        case_manager_function: who manages the plan, as a function (never a
            person's name; ≤ 200 characters).
        report_to_node: the node the follow-up reports go to; it must share
            the case (empty: the only node the case is linked with).

    One :class:`~trm.reintegration.models.FollowUp` is due ``N`` calendar
    months after ``starts_on`` for each ``N`` of the variant's
    ``follow_up.months_after_return`` (baseline 1, 3, 6, 12). A new plan
    replaces the previous one: follow-ups already reported stay, the others
    are scheduled again from the new start. Writes
    ``sop4.reintegration_planned`` (code: the number of follow-ups) and the
    audit entry ``reintegration.plan_recorded``.

    Raises:
        CaseNotFound, CaseRoleRequired (:data:`PLAN_ROLES` on the team),
        TransitionNotAllowed (closed case; assistance not ``reintegration``
        or ``follow_up``: ``details["reason"] == "not_in_reintegration"``),
        PersonErased, CaseInvalidInput (a missing or bad field, a node that
        does not share the case), InvalidText.
    """
    case = _lock(actor, case_id)
    day = check_date(
        starts_on, field="starts_on", message=_("Give the day the plan starts.")
    )
    assert day is not None  # noqa: S101 - required
    if day > timezone.localdate() + timedelta(days=MAX_DAYS_AHEAD):
        raise _invalid(
            _("The plan cannot start more than a year ahead."),
            "starts_on",
            reason="too_far",
        )
    codes = _services(services, field="services", required=True)
    text = _text(
        goals,
        field="goals",
        limit=MAX_GOALS_CHARS,
        required=True,
        message=_("Say what the plan aims at."),
    )
    function = clean_text(
        case_manager_function or "",
        field="case_manager_function",
        max_length=MAX_LINE_CHARS,
    )
    if not has_visible_text(function):
        raise _invalid(
            _("Say who manages the plan (a function, not a name)."),
            "case_manager_function",
        )
    node = (report_to_node or "").strip()
    if node and (
        not case.trm_case_ref
        or node not in {p.node_id for p in conversation_peers(case.trm_case_ref)}
    ):
        raise _invalid(
            _("This case is not linked with a case on that node."),
            "report_to_node",
            reason="not_linked",
        )
    months = months_after_return()
    plan = ReintegrationPlan(
        case=case,
        starts_on=day,
        services=codes,
        case_manager_function=function,
        report_to_node=node,
        recorded_at=timezone.now(),
        recorded_by=actor,
    )
    plan.sealed_goals = Sealer(case).seal(text, context=plan.goals_context())
    plan.save(force_insert=True)
    FollowUp.objects.filter(case=case, reported_on__isnull=True).delete()
    reported = set(
        FollowUp.objects.filter(case=case).values_list("sequence", flat=True)
    )
    scheduled = [
        FollowUp(case=case, plan=plan, sequence=n, months=m, due_on=due)
        for n, m, due in due_dates(day, months)
        if n not in reported
    ]
    FollowUp.objects.bulk_create(scheduled)
    record_case_event(
        case=case,
        actor=actor,
        kind="sop4.reintegration_planned",
        code=str(len(scheduled)),
        visibility=Visibility.ASSISTANCE_ONLY,
    )
    audit_case(
        actor,
        "reintegration.plan_recorded",
        case,
        plan=str(plan.pk),
        services=codes,
        follow_ups=len(scheduled),
    )
    return plan


def _status(status: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(status, Mapping):
        raise _invalid(_("Give the status of each domain."), "status")
    unknown = sorted(set(status) - set(DOMAINS))
    if unknown:
        raise _invalid(_("Unknown domains."), "status", domains=unknown)
    clean = {}
    for domain in DOMAINS:
        value = status.get(domain) or DomainStatus.UNKNOWN
        if value not in DomainStatus.values:
            raise _invalid(_("Choose a status from the list."), f"status_{domain}")
        clean[domain] = str(value)
    return clean


@transaction.atomic(durable=True)
def followup_report_record(
    *,
    actor: User,
    case_id: UUID,
    follow_up_id: UUID,
    reported_on: date | None,
    services_given: Iterable[str],
    status: Mapping[str, str],
    risk_level: str,
    risk_note: str = "",
    contact_kept: bool = True,
    send: bool = True,
    consent_id: UUID | None = None,
) -> FollowUp:
    """Record the report of one follow-up and, with ``send``, send it to the
    destination node as ``followup.report`` (SOPS §2 SOP 4 step 10; §6.4 M10).

    Args:
        reported_on: the report's date (not in the future, not before the
            plan started).
        services_given: service codes given (may be empty).
        status: ``{"housing"|"health"|"income"|"education": code}`` with
            :class:`~trm.reintegration.models.DomainStatus` codes (a missing
            domain is ``unknown``).
        risk_level: ``low``, ``medium``, ``high`` or ``critical``.
        risk_note: the risk update (optional; sealed; ≤ 2000 characters).
        contact_kept: whether the organisation is still in contact.
        send: send it back (needs ``consent_id``); False keeps it here only
            (the person can refuse the feedback, SOPS §6.3).
        consent_id: the person's consent to a transfer abroad naming the
            destination's country and covering ``case_summary`` (and
            ``health`` when a health status is given).

    Writes ``sop4.follow_up_recorded`` (code ``sent`` or ``kept``) and the
    audit entry ``reintegration.follow_up_recorded``; the message goes in the
    outbox in the same transaction.

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed (closed; not in
        reintegration or follow-up; ``already_reported``), PersonErased,
        FollowUpNotFound, CaseInvalidInput (a bad field; ``no_destination``:
        no node to send to), InvalidText, ConsentMissing (no consent given,
        or the gate's reason: withdrawn, expired, another country, a category
        not covered), PeerUnavailable, MessageInvalid.
    """
    case = _lock(actor, case_id)
    follow_up = (
        FollowUp.objects.select_for_update()
        .select_related("plan")
        .filter(case=case, pk=follow_up_id)
        .first()
    )
    if follow_up is None:
        raise FollowUpNotFound(_("No such follow-up on this case."))
    if follow_up.is_reported:
        raise TransitionNotAllowed(
            _("This follow-up is already reported."),
            details={"reason": "already_reported"},
        )
    day = check_date(
        reported_on,
        field="reported_on",
        not_future=True,
        not_before=follow_up.plan.starts_on,
        message=_("Give the date of the report (not before the plan started)."),
    )
    assert day is not None  # noqa: S101 - required
    codes = _services(services_given, field="services_given", required=False)
    clean_status = _status(status)
    if risk_level not in RiskLevel.values:
        raise _invalid(_("Choose the risk level."), "risk_level")
    note = _text(
        risk_note, field="risk_note", limit=MAX_NOTE_CHARS, required=False, message=""
    )
    message_id = None
    node = ""
    if send:
        node = destination_node(case, current_plan(case))
        if not node:
            raise _invalid(
                _(
                    "There is no node to send the report to: the case is not "
                    "linked, or name the node in the reintegration plan."
                ),
                "send",
                reason="no_destination",
            )
        if consent_id is None:
            raise ConsentMissing(
                _(
                    "A follow-up report goes back only with the person's consent "
                    "to a transfer abroad naming the destination's country."
                ),
                details={"state": "missing", "field": "consent_id"},
            )
        payload = FollowupReportV1(
            trm_case_ref=case.trm_case_ref,
            sequence=follow_up.sequence,
            due_on=follow_up.due_on,
            reported_on=day,
            services=codes,
            risk_level=risk_level,
            risk_update=note,
            contact_kept=contact_kept,
            sending_organisation=organisation_ref(
                actor.organisation or case.lead_organisation
            ),
            **clean_status,
        )
        message = exchange.enqueue(
            to_node=node,
            type=FOLLOWUP_REPORT,
            payload=payload,
            legal_basis=f"consent:{consent_id}",
            categories=sorted(followup_report_carried(payload)),
            conversation=case.trm_case_ref,
            case_id=case.pk,
            actor=actor,
        )
        message_id = message.msg_id
    follow_up.reported_on = day
    follow_up.services_given = codes
    follow_up.status = clean_status
    follow_up.risk_level = risk_level
    follow_up.contact_kept = contact_kept
    follow_up.sealed_risk_note = Sealer(case).seal(
        note, context=follow_up.note_context()
    )
    follow_up.sent_to_node = node
    follow_up.msg_id = message_id
    follow_up.consent_id = consent_id if send else None
    follow_up.reported_at = timezone.now()
    follow_up.reported_by = actor
    follow_up.save()
    record_case_event(
        case=case,
        actor=actor,
        kind="sop4.follow_up_recorded",
        code="sent" if send else "kept",
        visibility=Visibility.ASSISTANCE_ONLY,
    )
    audit_case(
        actor,
        "reintegration.follow_up_recorded",
        case,
        follow_up=str(follow_up.pk),
        sequence=follow_up.sequence,
        risk_level=risk_level,
        sent_to=node,
        message=str(message_id) if message_id else "",
    )
    return follow_up


def followup_report_receive(
    *,
    actor: User,
    case: Case,
    peer_node: str,
    msg_id: UUID,
    payload: FollowupReportV1,
    remote_consent_ref: UUID | None = None,
) -> FollowUpReport:
    """Record a follow-up report the origin node sent about the locked linked
    ``case`` (inner service of the ``followup.report`` handler, inside the
    inbox's transaction: not ``durable``; ``actor`` is the node user standing
    for the sender).

    The risk note is sealed under the person's key (not kept after erasure).
    Writes ``sop4.follow_up_reported`` (code: the risk level; assistance
    only), which completes the SOP step ``sop4.follow_up``, and the audit
    entry ``reintegration.report_received``.

    A second report of the same follow-up (``sequence``) from the same node
    replaces the first: the newest is the origin's corrected report, and a
    follow-up is never counted twice.
    """
    FollowUpReport.objects.filter(
        case=case, peer_node=peer_node, sequence=payload.sequence
    ).delete()
    report = FollowUpReport(
        case=case,
        peer_node=peer_node,
        msg_id=msg_id,
        sequence=payload.sequence,
        due_on=payload.due_on,
        reported_on=payload.reported_on,
        services=list(payload.services),
        status={domain: getattr(payload, domain) for domain in DOMAINS},
        risk_level=payload.risk_level,
        contact_kept=payload.contact_kept,
        sending_organisation=payload.sending_organisation.name,
        remote_consent_ref=remote_consent_ref,
        received_at=timezone.now(),
    )
    if payload.risk_update and not case.person.is_erased:
        report.sealed_risk_note = Sealer(case).seal(
            payload.risk_update, context=report.note_context()
        )
    report.save(force_insert=True)
    record_case_event(
        case=case,
        actor=actor,
        kind="sop4.follow_up_reported",
        code=payload.risk_level,
        visibility=Visibility.ASSISTANCE_ONLY,
    )
    audit_case(
        actor,
        "reintegration.report_received",
        case,
        report=str(report.pk),
        sender=peer_node,
        sequence=payload.sequence,
        risk_level=payload.risk_level,
    )
    return report


def erase_received(
    *,
    case: Case,
    peer_node: str,
    consent_ref: UUID,
    categories: Iterable[str],
    actor: User | None = None,
) -> str | None:
    """Erase the follow-up reports received from ``peer_node`` under the
    consent ``consent_ref`` that the person withdrew there (a restriction hook
    of ``consent.withdrawn``, :func:`trm.consent.messages.register_restriction_hook`;
    inside the inbox's transaction). The whole report came under that one
    consent, so all of it goes; the timeline keeps its code-only event.

    Returns:
        ``"erased"`` when such reports were held here, else None.
    """
    reports = FollowUpReport.objects.filter(
        case=case, peer_node=peer_node, remote_consent_ref=consent_ref
    )
    ids = [str(pk) for pk in reports.values_list("pk", flat=True)]
    if not ids:
        return None
    reports.delete()
    audit_case(
        actor, "reintegration.reports_erased", case, reports=ids, sender=peer_node
    )
    return "erased"
