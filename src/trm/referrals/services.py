"""The only writers of referrals: one state machine, consent-gated.

The referring case team drafts a referral (:func:`referral_create`,
:func:`referral_update`), sends it (:func:`referral_send`), may cancel it
(:func:`referral_cancel`; the assistance pathway cancels every open referral
of a case with :func:`cancel_open_for_case` when assistance is declined or
closed) or record that no referral is possible
(:func:`referral_not_possible`, :func:`referral_not_possible_for_case`). The
receiving organisation accepts or declines it (:func:`referral_accept`,
:func:`referral_decline`), records that the services started and ended
(:func:`referral_start`, :func:`referral_complete`); either side gives
feedback (:func:`referral_feedback`). Withdrawing the consent a referral relied
on revokes it (:func:`revoke_for_consent`, a withdrawal hook registered in
:class:`trm.referrals.apps.ReferralsConfig`).

Every move goes through :func:`_move`, which reads the allowed moves from
:data:`trm.referrals.models.MOVES`, writes the referral's history, an event on
the case timeline ("assistance only") and an audit entry, in the caller's
transaction. Every service is keyword-only, takes the acting user, and on
refusal raises a :class:`~trm.common.errors.DomainError` with nothing written.

**Receivers on other nodes.** The receiver-side services take the acting user
and check only that they hold a receiving role at the receiving organisation.
When the receiver is an organisation of a peer node (``home_node``), the
exchange's inbox calls these same services with the local user that stands for
that organisation, so a referral abroad runs through this same state machine.
Sending to such an organisation hands the referral to the transport registered
with :func:`register_remote_transport` (in the sending transaction), and is
refused while none is registered; the app registers the exchange's
(:func:`trm.referrals.messages.send_over_exchange`: ``referral.request``,
``referral.cancelled``), and the receiving node answers with
``referral.response`` (:mod:`trm.referrals.messages`).

Source: SOPS §2 SOP 1 step 6 [BG 1.4 steps 1-5], §3, §6.1 Referral, §6.3
"Domestic referral to named organisation", §6.5 rule 7.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import User
from trm.audit import services as audit
from trm.cases.errors import (
    CaseNotFound,
    TransitionNotAllowed,
)
from trm.cases.models import Case
from trm.cases.selectors import person_identity_for_user
from trm.cases.services import lock_case, require_live_person
from trm.common.htcds import ReasonForOutgoingReferral
from trm.consent import services as consent_services
from trm.consent.models import DataCategory, Purpose
from trm.identification.common import require_open, require_roles
from trm.referrals import notifications
from trm.referrals.checks import (
    accepting_profile,
    check_child_consent,
    check_meeting_time,
    draft_values,
    organisation_or_none,
    shared_categories,
    store_draft,
)
from trm.referrals.content import (
    IDENTITY_CATEGORIES,
    Meeting,
    build_snapshot,
    open_json,
    seal_json,
    seal_text,
)
from trm.referrals.errors import (
    CapacityWarning,
    RemoteNotSetUp,
)
from trm.referrals.machine import (
    after_commit,
    clean_outcome,
    lock_for_referrer,
    locked_referral,
    require_move,
    seal_outcome,
    tell_remote,
    transition,
)
from trm.referrals.models import (
    MOVES,
    REPLY_WITHIN,
    CancelReason,
    Referral,
    ReferralTransition,
    Side,
    Status,
    Urgency,
)
from trm.referrals.receiving import (
    referral_accept,
    referral_complete,
    referral_decline,
    referral_feedback,
    referral_start,
    revoke_for_consent,
)
from trm.referrals.selectors import REFERRER_ROLES
from trm.referrals.transport import (
    RemoteMessage,
    register_remote_transport,
    remote_transport,
    unregister_remote_transport,
)

#: The receiving organisation's services live in :mod:`trm.referrals.receiving`;
#: the exchange registers its transport through this module too.
__all__ = [
    "referral_accept",
    "referral_complete",
    "referral_decline",
    "referral_feedback",
    "referral_start",
    "register_remote_transport",
    "revoke_for_consent",
    "unregister_remote_transport",
]

#: Data categories a referral may share. A photo is shown in person, not sent
#: (the snapshot holds text only); risk is shared through its own text.
SHAREABLE_CATEGORIES = tuple(
    c for c in DataCategory.values if c not in {DataCategory.PHOTO, DataCategory.RISK}
)


# --- the referring case team ----------------------------------------------------------


@transaction.atomic(durable=True)
def referral_create(
    *,
    actor: User,
    case_id: UUID,
    to_organisation_id: UUID | None,
    services: Iterable[str],
    reason: str = ReasonForOutgoingReferral.ADDITIONAL_SERVICES_REQUIRED,
    urgency: str = Urgency.NORMAL,
    categories: Iterable[str] = (),
    texts: Mapping[str, str] | None = None,
    meeting_who: str = "",
    meeting_where: str = "",
    meeting_at: datetime | None = None,
) -> Referral:
    """Draft a referral of the case's person to a receiving organisation.

    Args:
        to_organisation_id: the receiver; active, in the service directory and
            accepting referrals (it may belong to a peer node).
        services: :class:`~trm.directory.models.ServiceType` codes (≥ 1).
        reason: HTCDS ``cas_ReasonForOutgoingReferral`` code.
        urgency: ``urgent`` (reply within 24 h) or ``normal`` (72 h).
        categories: :class:`~trm.consent.models.DataCategory` codes to share
            (not ``photo``; ``risk`` is shared through ``texts["risk"]``).
        texts: ``case_summary``, ``health``, ``family``, ``legal`` and
            ``risk`` texts for this referral (sealed).
        meeting_who, meeting_where, meeting_at: who meets the person, where
            and when (aware datetime in the future); sealed.

    Raises:
        CaseNotFound; CaseRoleRequired (case manager, first contact point or
        service provider on the team); TransitionNotAllowed (closed case);
        PersonErased; NotAcceptingReferrals (inactive, not in the directory,
        not accepting); CaseInvalidInput / InvalidText naming the field.
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    if access.legal_only:
        raise CaseNotFound(_("No such case."))
    require_roles(access, REFERRER_ROLES)
    require_open(case)
    require_live_person(case)
    values = draft_values(
        case=case,
        to_organisation_id=to_organisation_id,
        reason=reason,
        services=services,
        urgency=urgency,
        categories=categories,
        texts=texts or {},
        meeting_who=meeting_who,
        meeting_where=meeting_where,
        meeting_at=meeting_at,
    )
    referral = Referral(
        case=case,
        from_organisation=actor.organisation or case.lead_organisation,
        referred_by=actor,
        status=Status.DRAFT,
    )
    store_draft(referral, case, values)
    referral.save(force_insert=True)
    ReferralTransition.objects.create(
        referral=referral,
        at=referral.created_at,
        actor=actor,
        side=Side.REFERRER,
        to_status=Status.DRAFT,
    )
    audit.record(
        actor=actor,
        action="referrals.drafted",
        target=referral,
        data={
            "case": str(case.pk),
            "to_organisation": str(referral.to_organisation_id),
            "categories": referral.categories,
        },
    )
    return referral


@transaction.atomic(durable=True)
def referral_update(
    *,
    actor: User,
    referral_id: UUID,
    to_organisation_id: UUID | None,
    services: Iterable[str],
    reason: str = ReasonForOutgoingReferral.ADDITIONAL_SERVICES_REQUIRED,
    urgency: str = Urgency.NORMAL,
    categories: Iterable[str] = (),
    texts: Mapping[str, str] | None = None,
    meeting_who: str = "",
    meeting_where: str = "",
    meeting_at: datetime | None = None,
) -> Referral:
    """Change a draft referral (every value is replaced; see :func:`referral_create`).

    Raises:
        ReferralNotFound; CaseRoleRequired; TransitionNotAllowed (not a draft,
        or the case is closed); PersonErased; NotAcceptingReferrals;
        CaseInvalidInput / InvalidText.
    """
    referral, case, _access = lock_for_referrer(actor, referral_id)
    require_open(case)
    require_live_person(case)
    if referral.status != Status.DRAFT:
        raise TransitionNotAllowed(
            _("Only a draft referral can be changed."),
            details={"from": referral.status},
        )
    values = draft_values(
        case=case,
        to_organisation_id=to_organisation_id,
        reason=reason,
        services=services,
        urgency=urgency,
        categories=categories,
        texts=texts or {},
        meeting_who=meeting_who,
        meeting_where=meeting_where,
        meeting_at=meeting_at,
    )
    store_draft(referral, case, values)
    referral.save()
    audit.record(
        actor=actor,
        action="referrals.draft_updated",
        target=referral,
        data={
            "case": str(case.pk),
            "to_organisation": str(referral.to_organisation_id),
            "categories": referral.categories,
        },
    )
    return referral


def _remote_payload(
    referral: Referral,
    snapshot: Mapping[str, Any],
    risk: str,
    meeting: Meeting,
) -> dict[str, object]:
    return {
        "reason": referral.reason,
        "services": list(referral.services),
        "urgency": referral.urgency,
        "reply_by": referral.reply_by.isoformat() if referral.reply_by else "",
        "categories": list(referral.categories),
        "consent_id": str(referral.consent_id or ""),
        "risk_shared_without_consent": referral.risk_shared_without_consent,
        "from_organisation_id": str(referral.from_organisation_id),
        "shared": dict(snapshot),
        "risk": risk,
        "meeting": meeting.to_json() if not meeting.is_empty() else {},
    }


@transaction.atomic(durable=True)
def referral_send(
    *, actor: User, referral_id: UUID, capacity_warning_accepted: bool = False
) -> Referral:
    """Send a draft referral: take the snapshot of what is shared, notify the
    receiver, start its reply time (urgent 24 h, normal 72 h; SOPS §6.3).

    Guards, in order: the case is open and the person not erased; the receiver
    is active, in the directory and accepting referrals; something is shared;
    the meeting is not in the past; a valid **consent** to referral names the
    receiving organisation itself — a consent naming only its country is not
    enough (SOPS §6.3 "consent naming the recipient") — and covers every
    category shared (:func:`trm.consent.services.require` with
    ``organisation_named``), except risk information, which is always shared
    and marked so (BG 1.4 step 2; SOPS §6.5 rule 7); for a child, the guardian
    took part in that consent; a receiver reporting no free place needs
    ``capacity_warning_accepted``; a receiver on a peer node needs the
    exchange's transport.

    Raises:
        ReferralNotFound; CaseRoleRequired; TransitionNotAllowed (not a draft,
        closed case); PersonErased; NotAcceptingReferrals; CaseInvalidInput
        (nothing shared, a chosen text missing, meeting in the past);
        ConsentMissing (``details`` name the missing purpose, recipient,
        categories or state; ``country_consent_only`` when only a consent
        naming the country exists); GuardianConsentRequired; CapacityWarning
        (``details["places_free"] == 0``); RemoteNotSetUp.
    """
    referral, case, _access = lock_for_referrer(actor, referral_id)
    require_open(case)
    require_live_person(case)
    require_move(referral, "send")
    organisation = referral.to_organisation
    profile = accepting_profile(organisation)
    assert organisation is not None  # noqa: S101 - _accepting_profile checked it
    person = case.person
    key = person.data_key_id
    texts: dict[str, str] = (
        open_json(key, referral.sealed_texts, context=referral.texts_context()) or {}
    )
    categories = shared_categories(referral.categories, texts)
    meeting = Meeting.from_json(
        open_json(key, referral.sealed_meeting, context=referral.meeting_context())
    )
    check_meeting_time(meeting)
    consent = consent_services.require(
        person=person,
        purpose=Purpose.REFERRAL,
        categories=categories,
        organisation=organisation,
        organisation_named=True,
    )
    check_child_consent(case, consent)
    if profile.places_free == 0 and not capacity_warning_accepted:
        raise CapacityWarning(
            _(
                "%(org)s reports no free place. Check with them that they can take "
                "the person, then confirm to send anyway."
            )
            % {"org": organisation.name},
            details={
                "field": "capacity_warning_accepted",
                "places_free": 0,
                "places_total": profile.places_total,
                "capacity_updated_at": (
                    profile.capacity_updated_at.isoformat()
                    if profile.capacity_updated_at
                    else None
                ),
            },
        )
    transport = None
    if organisation.home_node:
        transport = remote_transport()
        if transport is None:
            raise RemoteNotSetUp(
                _(
                    "%(org)s works on another node (%(node)s), and the exchange "
                    "with %(node)s is not set up on this node yet."
                )
                % {"org": organisation.name, "node": organisation.home_node},
                details={"field": "to_organisation", "node": organisation.home_node},
            )
    identity = None
    if set(categories) & IDENTITY_CATEGORIES:
        identity = person_identity_for_user(user=actor, case=case)
    snapshot = build_snapshot(identity=identity, categories=categories, texts=texts)
    risk = texts.get(DataCategory.RISK, "")
    referral.categories = categories
    referral.consent = consent
    referral.risk_shared_without_consent = bool(risk) and (
        consent is None or DataCategory.RISK not in consent.categories
    )
    referral.sealed_shared = seal_json(key, snapshot, context=referral.shared_context())
    referral.sealed_risk = seal_text(key, risk, context=referral.risk_context())
    referral.reply_by = timezone.now() + REPLY_WITHIN[referral.urgency]
    transition(
        referral,
        "send",
        actor=actor,
        code=referral.urgency,
        fields=[
            "categories",
            "consent",
            "risk_shared_without_consent",
            "sealed_shared",
            "sealed_risk",
            "reply_by",
        ],
    )
    if transport is not None:
        transport(
            RemoteMessage(
                kind="referral.sent",
                node=organisation.home_node,
                referral_id=referral.pk,
                exchange_key=referral.exchange_key,
                to_organisation_id=organisation.pk,
                payload=_remote_payload(referral, snapshot, risk, meeting),
                actor=actor,
            )
        )
    else:
        referral_pk = referral.pk
        after_commit(lambda: notifications.notify_sent(referral_pk))
    return referral


@transaction.atomic(durable=True)
def referral_cancel(
    *, actor: User, referral_id: UUID, reason: str, text: str = ""
) -> Referral:
    """Cancel a draft, sent, accepted or in-progress referral (the referrer),
    with a reason.

    The receiver no longer sees its content (:data:`~trm.referrals.models.
    SHARED_READABLE`) and is told by e-mail (a peer node through the exchange).

    Args:
        reason: a :class:`~trm.referrals.models.CancelReason` code; ``other``
            needs ``text`` (sealed). ``assistance_ended`` is recorded only by
            :func:`cancel_open_for_case`.

    Raises:
        ReferralNotFound; CaseRoleRequired; TransitionNotAllowed;
        CaseInvalidInput / InvalidText; PersonErased (text after erasure).
    """
    referral, case, _access = lock_for_referrer(actor, referral_id)
    require_move(referral, "cancel")
    reason, text = clean_outcome("cancel", reason, text, case)
    return _cancel(referral, actor=actor, reason=reason, text=text)


def _cancel(referral: Referral, *, actor: User, reason: str, text: str) -> Referral:
    """Cancel an already locked referral with a checked reason; tell the receiver."""
    was_sent = referral.sent_at is not None
    referral.outcome_code = reason
    seal_outcome(referral, text)
    transition(
        referral,
        "cancel",
        actor=actor,
        code=reason,
        detail=text,
        fields=["outcome_code", "sealed_outcome_text"],
    )
    if was_sent:
        if referral.is_remote:
            tell_remote(referral, "referral.cancelled", actor=actor)
        else:
            after_commit(partial(notifications.notify_receivers_ended, referral.pk))
    return referral


def cancel_open_for_case(
    *, actor: User, case: Case, reason: str = CancelReason.ASSISTANCE_ENDED
) -> int:
    """Cancel every open referral of the case because its assistance ended.

    For the assistance pathway, when the person declines assistance or it is
    closed: every draft, sent, accepted or in-progress referral of the case is
    ``cancelled`` with ``reason``, writing the referral's history, the case
    timeline event and the audit entry of a cancel; the receivers no longer see
    the shared content and are told as for :func:`referral_cancel`. Declined
    and ended referrals are left as they are.

    Runs **inside the caller's transaction** (not durable), on a case the
    caller has already locked (:func:`trm.cases.services.lock_case`) and whose
    access and roles it has checked: the actor's referring roles are not asked
    again. The receivers' e-mails are sent once that transaction commits.

    Args:
        reason: the :class:`~trm.referrals.models.CancelReason` code recorded;
            ``assistance_ended`` (the default) is the one meant here.

    Returns:
        How many referrals were cancelled.

    Raises:
        CaseInvalidInput: ``reason`` is not a cancel reason code, or ``other``
            (which needs a text). Nothing is written.
        RuntimeError: called outside a transaction (a programming error).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("cancel_open_for_case runs inside the caller's transaction")
    reason, _text = clean_outcome("cancel", reason, "", case, system=True)
    ids = list(
        Referral.objects.filter(case=case, status__in=MOVES["cancel"].sources)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    cancelled = 0
    for referral_id in ids:
        referral = locked_referral(referral_id)
        if not referral.can("cancel"):
            continue
        _cancel(referral, actor=actor, reason=reason, text="")
        cancelled += 1
    return cancelled


@transaction.atomic(durable=True)
def referral_not_possible(
    *, actor: User, referral_id: UUID, reason: str, text: str = ""
) -> Referral:
    """Record that this referral is not possible (a draft, or after a decline):
    SOPS §2 SOP 1 step 6 step 5 [BG 1.4].

    Args:
        reason: a :class:`~trm.referrals.models.NotPossibleReason` code;
            ``other`` needs ``text`` (sealed).

    Raises:
        ReferralNotFound; CaseRoleRequired; TransitionNotAllowed (another
        state, closed case); CaseInvalidInput / InvalidText; PersonErased.
    """
    referral, case, _access = lock_for_referrer(actor, referral_id)
    require_open(case)
    require_move(referral, "not_possible")
    reason, text = clean_outcome("not_possible", reason, text, case)
    referral.outcome_code = reason
    seal_outcome(referral, text)
    return transition(
        referral,
        "not_possible",
        actor=actor,
        code=reason,
        detail=text,
        fields=["outcome_code", "sealed_outcome_text"],
    )


@transaction.atomic(durable=True)
def referral_not_possible_for_case(
    *,
    actor: User,
    case_id: UUID,
    reason: str,
    text: str = "",
    to_organisation_id: UUID | None = None,
) -> Referral:
    """Record that no referral is possible for the case's person (no draft was
    made): SOPS §2 SOP 1 step 6 step 5 [BG 1.4].

    Args:
        reason: a :class:`~trm.referrals.models.NotPossibleReason` code;
            ``other`` needs ``text``.
        to_organisation_id: the organisation that was asked, if any.

    Raises:
        CaseNotFound; CaseRoleRequired; TransitionNotAllowed (closed case);
        CaseInvalidInput / InvalidText; PersonErased (text after erasure).
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    if access.legal_only:
        raise CaseNotFound(_("No such case."))
    require_roles(access, REFERRER_ROLES)
    require_open(case)
    organisation = organisation_or_none(to_organisation_id)
    reason, text = clean_outcome("not_possible", reason, text, case)
    referral = Referral(
        case=case,
        from_organisation=actor.organisation or case.lead_organisation,
        referred_by=actor,
        to_organisation=organisation,
        status=Status.DRAFT,
        outcome_code=reason,
        services=[],
    )
    seal_outcome(referral, text)
    referral.save(force_insert=True)
    return transition(referral, "not_possible", actor=actor, code=reason, detail=text)
