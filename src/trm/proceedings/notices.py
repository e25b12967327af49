"""``proceedings.notice`` (SOPS §6.4 M12; EXCHANGE.md §3): send and record.

Logistics only — a hearing date, a remote-testimony arrangement, the support
the person needs to take part, the outcome or the offender's release — from
the node of the proceedings to the counterpart node of a linked case, which
records it on its linked case. A formal judicial request (summons, mutual
legal assistance) goes through judicial channels and is only referenced by its
number (SOPS §2 SOP 5 step 5).

The message carries the category ``legal``: it needs a consent to a transfer
abroad that names the counterpart's country and covers ``legal``
(``consent:<id>``) or a named legal obligation (``legal_obligation:<ref>``,
e.g. the duty to tell a victim of an offender's release, Directive 2012/29/EU
Art. 6(5)); the exchange checks either at enqueue time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import Role, User
from trm.care.common import Sealer
from trm.cases.errors import CaseInvalidInput, CaseRoleRequired
from trm.cases.messages import (
    PROCEEDINGS_NOTICE,
    ProceedingsNoticeV1,
    conversation_peers,
    organisation_ref,
)
from trm.cases.models import Case, Visibility
from trm.cases.services import lock_case, record_case_event, require_live_person
from trm.common.text import clean_text
from trm.exchange import services as exchange
from trm.identification.common import audit_case, clean_reason, require_open
from trm.proceedings.common import NOTICE_SENDERS
from trm.proceedings.models import (
    NoticeDirection,
    NoticeKind,
    ProceedingsNotice,
    SupportNeeded,
)

#: Notices that tell the outcome (SOP 5 step 8): sending one to the node where
#: the person is completes the step "tell the person the outcome".
OUTCOME_KINDS = frozenset({NoticeKind.OUTCOME, NoticeKind.OFFENDER_RELEASE})
#: Notices about a hearing: they need its date and time.
HEARING_KINDS = frozenset({NoticeKind.HEARING, NoticeKind.REMOTE_TESTIMONY})
MAX_OUTCOME_CHARS = 2000
MAX_REFERENCE_CHARS = 100


def _clean_basis(legal_basis: str) -> str:
    basis = (legal_basis or "").strip()
    if basis.startswith("consent:") or (
        basis.startswith(exchange.LEGAL_OBLIGATION + ":") and basis.split(":", 1)[1]
    ):
        return basis
    raise CaseInvalidInput(
        _(
            "Choose the person's consent to the transfer, or name the legal "
            "obligation the notice fulfils."
        ),
        details={"field": "legal_basis"},
    )


def notice_peers(case: Case) -> list[str]:
    """Return the node ids a notice about ``case`` may go to: the active peers
    that share its conversation (the case is linked with theirs)."""
    return [p.node_id for p in conversation_peers(case.trm_case_ref)]


@transaction.atomic(durable=True)
def proceedings_notice_send(
    *,
    actor: User,
    case_id: UUID,
    peer_node: str,
    kind: str,
    legal_basis: str,
    hearing_at: datetime | None = None,
    support_needed: Iterable[str] = (),
    outcome: str = "",
    judicial_reference: str = "",
) -> ProceedingsNotice:
    """Send a proceedings notice about a linked case to ``peer_node`` (M12).

    ``kind``: ``hearing`` or ``remote_testimony`` (``hearing_at`` required;
    the second marks the testimony remote), ``outcome`` or
    ``offender_release`` (``outcome``, what was decided, required; sealed
    here). ``support_needed``: interpretation, travel, accompaniment,
    legal_aid, protection. ``judicial_reference``: the number of a formal
    judicial request, if any. Records the notice, writes
    ``sop5.notice_sent`` (code: the kind; visible to the case team, as the
    notice is logistics) and, for an outcome or release,
    ``sop5.outcome_notified``.

    Raises:
        CaseNotFound, CaseRoleRequired (:data:`NOTICE_SENDERS`; through node
        policy only the national contact point), TransitionNotAllowed (closed
        case), PersonErased, CaseInvalidInput (not linked with that node,
        unknown kind or support, missing date or outcome, no legal basis),
        InvalidText, PeerUnavailable, LegalBasisMissing / ConsentMissing (the
        basis does not cover ``legal`` for that node), MessageInvalid.
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    if not (access.roles & NOTICE_SENDERS) or (
        access.via_policy and Role.NATIONAL_CONTACT_POINT not in access.roles
    ):
        raise CaseRoleRequired(
            _("Only these roles on the case may do this: %(roles)s.")
            % {"roles": ", ".join(str(Role(r).label) for r in sorted(NOTICE_SENDERS))},
            details={"allowed_roles": sorted(NOTICE_SENDERS)},
        )
    require_open(case)
    require_live_person(case)
    if not case.trm_case_ref or peer_node not in notice_peers(case):
        raise CaseInvalidInput(
            _(
                "This case is not linked with a case on that node: a notice goes "
                "only to a node that shares the case."
            ),
            details={"field": "peer_node", "reason": "not_linked"},
        )
    if kind not in NoticeKind.values:
        raise CaseInvalidInput(
            _("Choose what the notice is about."), details={"field": "kind"}
        )
    if kind in HEARING_KINDS and hearing_at is None:
        raise CaseInvalidInput(
            _("Give the date and time of the hearing."),
            details={"field": "hearing_at"},
        )
    if hearing_at is not None and timezone.is_naive(hearing_at):
        hearing_at = timezone.make_aware(hearing_at)
    support = list(dict.fromkeys(support_needed))
    if any(s not in SupportNeeded.values for s in support):
        raise CaseInvalidInput(
            _("Choose from the list."), details={"field": "support_needed"}
        )
    text = clean_reason(
        outcome,
        field="outcome",
        required=kind in OUTCOME_KINDS,
        message=_("Say what was decided."),
    )
    if len(text) > MAX_OUTCOME_CHARS:
        raise CaseInvalidInput(
            _("At most %(n)d characters.") % {"n": MAX_OUTCOME_CHARS},
            details={"field": "outcome"},
        )
    reference = clean_text(
        judicial_reference or "",
        field="judicial_reference",
        max_length=MAX_REFERENCE_CHARS,
    )
    basis = _clean_basis(legal_basis)
    payload = ProceedingsNoticeV1(
        trm_case_ref=case.trm_case_ref,
        kind=kind,
        hearing_at=hearing_at,
        remote_testimony=kind == NoticeKind.REMOTE_TESTIMONY,
        support_needed=support,
        outcome=text,
        judicial_reference=reference,
        sending_organisation=organisation_ref(
            actor.organisation or case.lead_organisation
        ),
    )
    message = exchange.enqueue(
        to_node=peer_node,
        type=PROCEEDINGS_NOTICE,
        payload=payload,
        legal_basis=basis,
        categories=["legal"],
        conversation=case.trm_case_ref,
        case_id=case.pk,
        actor=actor,
    )
    notice = _record(
        case,
        actor=actor,
        direction=NoticeDirection.OUT,
        peer_node=peer_node,
        msg_id=message.msg_id,
        payload=payload,
    )
    record_case_event(
        case=case,
        actor=actor,
        kind="sop5.notice_sent",
        code=kind,
        visibility=Visibility.TEAM,
    )
    if kind in OUTCOME_KINDS:
        record_case_event(
            case=case,
            actor=actor,
            kind="sop5.outcome_notified",
            code=kind,
            visibility=Visibility.TEAM,
        )
    audit_case(
        actor,
        "proceedings.notice_sent",
        case,
        notice=str(notice.pk),
        to=peer_node,
        kind=kind,
        legal_basis=basis.split(":", 1)[0],
        message=str(message.msg_id),
    )
    return notice


def _record(
    case: Case,
    *,
    actor: User | None,
    direction: str,
    peer_node: str,
    msg_id: UUID,
    payload: ProceedingsNoticeV1,
) -> ProceedingsNotice:
    notice = ProceedingsNotice(
        case=case,
        direction=direction,
        peer_node=peer_node,
        msg_id=msg_id,
        kind=payload.kind,
        hearing_at=payload.hearing_at,
        remote_testimony=payload.remote_testimony,
        support_needed=list(payload.support_needed),
        judicial_reference=payload.judicial_reference,
        recorded_by=actor,
    )
    if payload.outcome and not case.person.is_erased:
        notice.sealed_outcome = Sealer(case).seal(
            payload.outcome, context=notice.outcome_context()
        )
    notice.save(force_insert=True)
    return notice


def proceedings_notice_receive(
    *,
    actor: User,
    case: Case,
    peer_node: str,
    msg_id: UUID,
    payload: ProceedingsNoticeV1,
) -> ProceedingsNotice:
    """Record a notice a counterpart node sent about the locked linked ``case``
    (inner service for the message handler, inside the inbox's transaction:
    not ``durable``; ``actor`` is the node user standing for the sender).

    The outcome text is sealed under the person's key (not kept after
    erasure). Writes ``sop5.notice_received`` (code: the kind; visible to the
    case team, who arrange the support) and an audit entry.
    """
    notice = _record(
        case,
        actor=actor,
        direction=NoticeDirection.IN,
        peer_node=peer_node,
        msg_id=msg_id,
        payload=payload,
    )
    record_case_event(
        case=case,
        actor=actor,
        kind="sop5.notice_received",
        code=payload.kind,
        visibility=Visibility.TEAM,
    )
    audit_case(
        actor,
        "proceedings.notice_received",
        case,
        notice=str(notice.pk),
        sender=peer_node,
        kind=payload.kind,
    )
    return notice
