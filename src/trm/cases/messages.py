"""The cases app on the transnational channel (EXCHANGE.md §3; SOPS §6.4).

Message types: ``case.alert`` / ``case.alert.ack`` (M1: a pseudonymous alert
and the counterpart's acknowledgement, which links the cases),
``safety.alert`` (M14: urgent, allowed without consent), ``case.closure``
(M11) and the v1 schema of ``proceedings.notice`` (M12), which
:mod:`trm.proceedings.messages` registers and applies. Payloads are built
here from the case's non-identifying attributes; inbound ones are applied through
:mod:`trm.cases.services`. Also the exchange's hooks: every message in and
out goes on the case timeline (:func:`timeline_observer`) and only the case
team reads payloads in the operator view (:func:`payload_access`).

Every payload names the sending organisation (its id on the sending node, name
and country) and the contact's role, never a person.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pydantic import BaseModel, ConfigDict, Field, field_validator

from trm.accounts.models import Organisation, Role, TrmFunction, User
from trm.accounts.node_users import node_user
from trm.accounts.peer_organisations import record_peer_organisation
from trm.audit import services as audit
from trm.cases import services
from trm.cases.access import case_access
from trm.cases.models import AgeBand, Case, ClosureReason, Visibility
from trm.cases.tracks import Legal, Reflection, TransnationalLink
from trm.common.errors import DomainError
from trm.common.htcds import Gender
from trm.exchange import registry
from trm.exchange import services as exchange
from trm.exchange.models import (
    Conversation,
    OutboxMessage,
    OutboxStatus,
    Peer,
    PeerStatus,
)
from trm.exchange.selectors import is_party

logger = logging.getLogger(__name__)

CASE_ALERT = "case.alert"
CASE_ALERT_ACK = "case.alert.ack"
SAFETY_ALERT = "safety.alert"
CASE_CLOSURE = "case.closure"
PROCEEDINGS_NOTICE = "proceedings.notice"

#: How long the counterpart has to answer an alert (SOPS §6.3: "e.g. 24 h
#: urgent / 72 h normal").
ANSWER_HOURS = {"urgent": 24, "normal": 72}

REQUEST_LABELS = {
    "identity_check": gettext_lazy("Identity and nationality check"),
    "family_risk_information": gettext_lazy("Family, social and risk information"),
    "return_planning": gettext_lazy("Return planning"),
    "services": gettext_lazy("Services in the country"),
}
URGENCY_LABELS = {
    "normal": gettext_lazy("Normal (answer within 72 hours)"),
    "urgent": gettext_lazy("Urgent (answer within 24 hours)"),
}
#: The nature of an urgent risk (SOPS §6.4 M14).
SAFETY_NATURES = {
    "threat_to_life": gettext_lazy("Threat to life"),
    "threats_to_family": gettext_lazy("Threats to the family"),
    "child_missing": gettext_lazy("A child is missing"),
    "person_missing": gettext_lazy("The person is missing"),
    "missed_handover": gettext_lazy("Missed handover or arrival"),
    "retrafficking_risk": gettext_lazy("Risk of being trafficked again"),
    "other": gettext_lazy("Other risk to life or safety"),
}
SAFETY_ACTIONS = {
    "protect_person": gettext_lazy("Protect the person"),
    "protect_family": gettext_lazy("Protect the family"),
    "alert_police": gettext_lazy("Alert the police"),
    "locate_person": gettext_lazy("Help locate the person"),
    "share_information": gettext_lazy("Share what you know about the risk"),
    "contact_us": gettext_lazy("Contact us at once"),
}
PEOPLE_AT_RISK = {
    "person": gettext_lazy("The person"),
    "child": gettext_lazy("A child"),
    "family": gettext_lazy("Family members"),
    "witness": gettext_lazy("A witness"),
    "staff": gettext_lazy("Staff or escort"),
}
#: What may remain to do after a case closes (SOPS §6.4 M11).
OBLIGATIONS = {
    "proceedings": gettext_lazy("Proceedings in which the person takes part"),
    "residence_permit": gettext_lazy("A residence permit in force"),
    "guardianship": gettext_lazy("Guardianship of a child"),
}

_REF = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$"
_COUNTRY = r"^[A-Z]{2}$"
_CODE = r"^[a-z][a-z0-9_]{0,39}$"

Urgency = Literal["normal", "urgent"]
AlertRequest = Literal[
    "identity_check", "family_risk_information", "return_planning", "services"
]
SafetyNature = Literal[
    "threat_to_life",
    "threats_to_family",
    "child_missing",
    "person_missing",
    "missed_handover",
    "retrafficking_risk",
    "other",
]
SafetyAction = Literal[
    "protect_person",
    "protect_family",
    "alert_police",
    "locate_person",
    "share_information",
    "contact_us",
]
AtRisk = Literal["person", "child", "family", "witness", "staff"]
Obligation = Literal["proceedings", "residence_permit", "guardianship"]
ContactRole = Literal[
    "national_contact_point",
    "case_manager",
    "service_provider",
    "guardian",
    "first_contact_point",
    "competent_authority",
    "prosecutor",
]


class NoContactPoint(DomainError):
    """This node has no active organisation with the NCP function."""

    code = "cases.no_contact_point"


class NotLinked(DomainError):
    """No case on this node is linked under the message's shared reference,
    or the message's conversation is not that reference."""

    code = "cases.not_linked"


class NotParty(DomainError):
    """The sending peer is not party to the case it names: it exchanged no
    message about that case with this node under its shared reference, and
    the case was not opened from one of its messages."""

    code = "cases.not_party"


class UnknownReply(DomainError):
    """A reply names no message this node sent to that peer."""

    code = "cases.unknown_reply"


# --- wire schemas (v1: never edited once released) ------------------------------


class WireModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OrganisationRefV1(WireModel):
    """An organisation as its node knows it (id there, name, country)."""

    id: UUID
    name: str = Field(min_length=1, max_length=200)
    country: str = Field(pattern=_COUNTRY)


class WireDocumentV1(WireModel):
    kind: str = Field(max_length=60)
    number: str = Field(min_length=1, max_length=60)
    issuing_country: str = Field(default="", pattern=r"^([A-Z]{2})?$")


class WireIdentityV1(WireModel):
    """Identifying data of a person (category ``identity``; documents:
    ``documents``; phones and addresses: ``contact``)."""

    given_names: str = Field(default="", max_length=200)
    family_names: str = Field(default="", max_length=200)
    aliases: list[str] = Field(default_factory=list, max_length=20)
    birth_date: date | None = None
    birth_date_is_estimate: bool = False
    place_of_birth: str = Field(default="", max_length=200)
    documents: list[WireDocumentV1] = Field(default_factory=list, max_length=10)
    phones: list[str] = Field(default_factory=list, max_length=10)
    addresses: list[str] = Field(default_factory=list, max_length=10)

    @field_validator("aliases", "phones", "addresses")
    @classmethod
    def _short_entries(cls, values: list[str]) -> list[str]:
        if any(len(v) > 300 for v in values):
            raise ValueError("each entry must be at most 300 characters")
        return values


class _PersonAttributes(WireModel):
    """Non-identifying attributes (pseudonymous)."""

    gender: str = Field(default=Gender.NOT_SPECIFIED_UNKNOWN, max_length=30)
    age_band: str = Field(default=AgeBand.UNKNOWN, max_length=10)
    presumed_child: bool = False

    @field_validator("gender")
    @classmethod
    def _gender(cls, value: str) -> str:
        if value not in Gender.values:
            raise ValueError("unknown gender code")
        return value

    @field_validator("age_band")
    @classmethod
    def _age_band(cls, value: str) -> str:
        if value not in AgeBand.values:
            raise ValueError("unknown age band")
        return value


class CaseAlertV1(_PersonAttributes):
    """``case.alert`` v1 (M1): pseudonymous, carries no personal category."""

    trm_case_ref: str = Field(pattern=_REF)
    country_of_identification: str = Field(pattern=_COUNTRY)
    nationality_claimed: list[str] = Field(default_factory=list, max_length=5)
    exploitation: list[str] = Field(default_factory=list, max_length=5)
    urgency: Urgency
    requests: list[AlertRequest] = Field(min_length=1, max_length=4)
    sending_organisation: OrganisationRefV1
    contact_role: ContactRole = "national_contact_point"

    @field_validator("nationality_claimed")
    @classmethod
    def _countries(cls, values: list[str]) -> list[str]:
        if any(len(v) != 2 or not v.isupper() for v in values):
            raise ValueError("ISO 3166-1 alpha-2 codes")
        return values

    @field_validator("exploitation")
    @classmethod
    def _codes(cls, values: list[str]) -> list[str]:
        if any(not v.isidentifier() or len(v) > 40 for v in values):
            raise ValueError("short codes")
        return values


class CaseAlertAckV1(WireModel):
    """``case.alert.ack`` v1 (M1-ACK): the receiver's reference and contact."""

    trm_case_ref: str = Field(pattern=_REF)
    receiver_reference: str = Field(min_length=1, max_length=32)
    contact: OrganisationRefV1
    contact_role: ContactRole = "national_contact_point"
    expected_answer_by: datetime


class SafetyAlertV1(_PersonAttributes):
    """``safety.alert`` v1 (M14): urgent risk information (category ``risk``)."""

    trm_case_ref: str = Field(pattern=_REF)
    nature: SafetyNature
    people_at_risk: list[AtRisk] = Field(default_factory=list, max_length=5)
    #: What the risk is and why it is urgent (the reason for sending without
    #: consent); risk information may always travel (SOPS §3).
    description: str = Field(min_length=1, max_length=2000)
    actions_requested: list[SafetyAction] = Field(min_length=1, max_length=6)
    sending_organisation: OrganisationRefV1
    contact_role: ContactRole = "national_contact_point"


class CaseClosureV1(WireModel):
    """``case.closure`` v1 (M11): the other side closed its case."""

    trm_case_ref: str = Field(pattern=_REF)
    reason: str = Field(max_length=30)
    closed_on: date
    data: Literal["retained", "erased"]
    open_obligations: list[Obligation] = Field(default_factory=list, max_length=3)
    sending_organisation: OrganisationRefV1

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        if value not in ClosureReason.values:
            raise ValueError("unknown closure reason")
        return value


class ProceedingsNoticeV1(WireModel):
    """``proceedings.notice`` v1 (M12): logistics only. Formal judicial
    requests go through judicial channels and are only referenced."""

    trm_case_ref: str = Field(pattern=_REF)
    kind: Literal["hearing", "remote_testimony", "outcome", "offender_release"]
    hearing_at: datetime | None = None
    remote_testimony: bool = False
    support_needed: list[
        Literal["interpretation", "travel", "accompaniment", "legal_aid", "protection"]
    ] = Field(default_factory=list, max_length=5)
    outcome: str = Field(default="", max_length=2000)
    judicial_reference: str = Field(default="", max_length=100)
    sending_organisation: OrganisationRefV1


# --- helpers -------------------------------------------------------------------------


def answer_time(urgency: str) -> timedelta:
    """Return the time the counterpart has to answer an alert of ``urgency``."""
    return timedelta(hours=ANSWER_HOURS.get(urgency, ANSWER_HOURS["normal"]))


def organisation_ref(organisation: Organisation | None) -> OrganisationRefV1:
    """Return how a payload names this node's ``organisation``.

    Raises:
        NoContactPoint: no organisation (a user without one cannot send).
    """
    if organisation is None:
        raise NoContactPoint(_("Your account belongs to no organisation."))
    return OrganisationRefV1(
        id=organisation.pk,
        name=organisation.name,
        country=organisation.country.code or settings.TRM_COUNTRY,
    )


def alerted(case: Case, node_id: str) -> bool:
    """Return True if a case alert about ``case`` went, or waits to go, to
    ``node_id`` (and was not refused or cancelled)."""
    return (
        OutboxMessage.objects.filter(
            type=CASE_ALERT,
            case_id=case.pk,
            peer__node_id=node_id,
        )
        .exclude(status__in=[OutboxStatus.REJECTED, OutboxStatus.CANCELLED])
        .exists()
    )


def case_alert_payload(
    case: Case,
    *,
    urgency: str,
    requests: list[str],
    organisation: Organisation | None,
) -> CaseAlertV1:
    """Build the pseudonymous alert about ``case`` (no personal category)."""
    person = case.person
    screening = (
        case.screenings.order_by("-at").values_list("exploitation", flat=True).first()
    )
    return CaseAlertV1(
        trm_case_ref=case.trm_case_ref,
        country_of_identification=settings.TRM_COUNTRY,
        gender=person.gender,
        age_band=person.age_band,
        presumed_child=person.presumed_child,
        nationality_claimed=list(person.citizenships)[:5],
        exploitation=[str(e) for e in (screening or [])][:5],
        urgency=urgency,
        requests=requests,
        sending_organisation=organisation_ref(organisation),
    )


def safety_alert_payload(
    case: Case,
    *,
    nature: str,
    description: str,
    actions: list[str],
    people_at_risk: list[str],
    organisation: Organisation | None,
    role: str,
) -> SafetyAlertV1:
    """Build the urgent safety alert about ``case`` (category ``risk``)."""
    person = case.person
    return SafetyAlertV1(
        trm_case_ref=case.trm_case_ref,
        nature=nature,
        people_at_risk=people_at_risk,
        description=description,
        actions_requested=actions,
        sending_organisation=organisation_ref(organisation),
        contact_role=role,
        gender=person.gender,
        age_band=person.age_band,
        presumed_child=person.presumed_child,
    )


def contact_point_organisation() -> Organisation:
    """Return this node's national contact point organisation (the active
    organisation of this node with the NCP function; the oldest if several).

    Raises:
        NoContactPoint: there is none.
    """
    for organisation in Organisation.objects.filter(
        is_active=True, home_node=""
    ).order_by("created_at", "name"):
        if TrmFunction.NATIONAL_CONTACT_POINT in (organisation.functions or []):
            return organisation
    raise NoContactPoint(
        _("No organisation of this node is its national contact point."),
        details={"function": TrmFunction.NATIONAL_CONTACT_POINT},
    )


def actor_for(node_id: str, ref: OrganisationRefV1, role: str) -> User:
    """Return the node user standing for the peer's organisation ``ref`` in
    ``role`` (a national contact point when the role is unknown here).

    The organisation's row is recorded on first contact
    (:func:`trm.accounts.peer_organisations.record_peer_organisation`).

    Raises:
        PeerOrganisationRefused: a first contact whose name, country or type
            this node refuses.
    """
    organisation = record_peer_organisation(
        node_id=node_id,
        remote_id=ref.id,
        name=ref.name,
        country=ref.country,
        actor=f"node:{node_id}",
    ).organisation
    return node_user(
        organisation=organisation,
        role=role if role in Role.values else Role.NATIONAL_CONTACT_POINT,
    )


def check_reference(message: registry.Inbound, reference: str) -> None:
    """Refuse a case-bound message whose conversation is not its shared case
    reference (an empty conversation included: messages outside a
    conversation are not ordered, EXCHANGE.md §1.5).

    Raises:
        NotLinked: ``details["reason"] == "conversation"``.
    """
    if not message.conversation or message.conversation != reference:
        raise NotLinked(
            _("The message's shared reference does not match its conversation."),
            details={"field": "trm_case_ref", "reason": "conversation"},
        )


def opened_from(case: Case, node_id: str) -> bool:
    """Whether ``case`` was opened on this node from a message of ``node_id``
    (its opener is a node user standing for an organisation of that node)."""
    if not node_id or case.opened_by_id is None:
        return False
    return Case.objects.filter(
        pk=case.pk,
        opened_by__username__startswith="node.",
        opened_by__organisation__home_node=node_id,
    ).exists()


def require_party(message: registry.Inbound, case: Case) -> None:
    """Refuse a message from a peer that is not party to ``case``, the case
    that already exists here under the message's shared reference.

    The peer is party if it exchanged messages about a case here with this
    node in the case's conversation before (applied ones on the way in:
    :func:`trm.exchange.selectors.is_party`) or the case was opened from one
    of its messages (:func:`opened_from`). Knowing a reference is not enough
    to act on the case it names.

    Raises:
        NotParty: neither.
    """
    if is_party(message.sender, case.trm_case_ref) or opened_from(case, message.sender):
        return
    raise NotParty(
        _("The sending node is not party to this case."),
        details={"field": "trm_case_ref", "reason": "not_party"},
    )


def identity_categories(identity: WireIdentityV1 | None) -> set[str]:
    """Return the categories an identity block carries: ``identity`` (names,
    aliases, birth date or place), ``documents``, ``contact`` (phones or
    addresses)."""
    if identity is None:
        return set()
    carried: set[str] = set()
    if (
        identity.given_names
        or identity.family_names
        or identity.aliases
        or identity.birth_date is not None
        or identity.place_of_birth
    ):
        carried.add("identity")
    if identity.documents:
        carried.add("documents")
    if identity.phones or identity.addresses:
        carried.add("contact")
    return carried


def carries_nothing(_payload: BaseModel) -> set[str]:
    """``carried`` of a type whose payload holds nothing of the person: codes,
    dates, references and organisations only."""
    return set()


def linked_case(reference: str) -> Case | None:
    return (
        Case.objects.select_for_update(no_key=True)
        .select_related("person")
        .filter(trm_case_ref=reference)
        .first()
    )


def _contact_point_users() -> list[User]:
    return list(
        User.objects.filter(
            is_active=True,
            memberships__role=Role.NATIONAL_CONTACT_POINT,
            organisation__home_node="",
        )
        .exclude(email="")
        .distinct()
        .order_by("pk")
    )


def _notify_contact_points(case_id: UUID, *, urgent: bool, nature: str) -> int:
    """E-mail the node's national contact points that an alert arrived.

    No personal data: the kind of alert, the peer-neutral nature label and a
    link to the case page (read after signing in).
    """
    link = settings.TRM_BASE_URL + reverse("cases:detail", args=[case_id])
    sent = 0
    for user in _contact_point_users():
        with translation.override(user.preferred_language or settings.LANGUAGE_CODE):
            if urgent:
                subject = _("TRM: urgent safety alert from a counterpart node")
                first = _(
                    "A counterpart node sent an urgent safety alert (%(nature)s). "
                    "Act on it now."
                ) % {"nature": SAFETY_NATURES.get(nature, nature)}
            else:
                subject = _("TRM: a counterpart node alerted you about a case")
                first = _(
                    "A counterpart node alerted you about a case with a link to "
                    "your country. Please answer by the time shown on the case."
                )
            body = "\n\n".join(
                [
                    first,
                    _("Open the case: %(link)s") % {"link": link},
                    _(
                        "You receive this because you are a national contact point "
                        "in TRM."
                    ),
                ]
            )
        try:
            send_mail(subject, body, None, [user.email], fail_silently=False)
        except Exception:
            logger.warning("alert e-mail failed")
            continue
        sent += 1
    return sent


# --- handlers ------------------------------------------------------------------------


def _linked_or_opened(
    message: registry.Inbound,
    payload: CaseAlertV1 | SafetyAlertV1,
    *,
    citizenships: Iterable[str] = (),
) -> tuple[Case, User, bool]:
    """Return the case linked under the alert's reference — the sender must be
    party to it — or open one led by this node's national contact point;
    with the node user standing for the sender and whether it was opened.

    Raises:
        NotLinked, NotParty, NoContactPoint.
    """
    check_reference(message, payload.trm_case_ref)
    case = linked_case(payload.trm_case_ref)
    if case is not None:
        require_party(message, case)
    actor = actor_for(
        message.sender, payload.sending_organisation, payload.contact_role
    )
    if case is not None:
        return case, actor, False
    lead = contact_point_organisation()
    case = services.case_open_linked(
        actor=actor,
        organisation_id=lead.pk,
        trm_case_ref=payload.trm_case_ref,
        identity=None,
        gender=payload.gender,
        age_band=payload.age_band,
        may_be_child=payload.presumed_child,
        citizenships=list(citizenships),
        languages=[],
    )
    return case, actor, True


def apply_case_alert(message: registry.Inbound) -> UUID | None:
    """Open (or find) the case linked under the alert's shared reference, led
    by this node's national contact point organisation; record the alert and
    acknowledge it (``case.alert.ack``, in the same transaction).

    Raises:
        NoContactPoint: this node has no national contact point organisation.
        NotLinked: the reference does not match the conversation.
        NotParty: a case exists here under the reference and the sender is
            not party to it.
    """
    payload = message.payload
    assert isinstance(payload, CaseAlertV1)  # noqa: S101 - the registry's schema
    case, actor, opened = _linked_or_opened(
        message, payload, citizenships=payload.nationality_claimed
    )
    if not opened and not case.is_closed:
        services.set_transnational(
            actor=actor, case=case, target=TransnationalLink.LINKED
        )
    services.record_case_event(
        case=case, actor=actor, kind="case.alert_received", code=payload.urgency
    )
    lead = case.lead_organisation
    exchange.enqueue(
        to_node=message.sender,
        type=CASE_ALERT_ACK,
        payload=CaseAlertAckV1(
            trm_case_ref=payload.trm_case_ref,
            receiver_reference=case.number,
            contact=organisation_ref(lead),
            expected_answer_by=timezone.now() + answer_time(payload.urgency),
        ),
        legal_basis=exchange.PSEUDONYMOUS,
        conversation=payload.trm_case_ref,
        in_reply_to=message.msg_id,
        case_id=case.pk,
    )
    audit.record(
        actor=actor,
        action="cases.alert_received",
        target=case,
        data={"from": message.sender, "urgency": payload.urgency},
    )
    case_id = case.pk
    transaction.on_commit(
        lambda: _notify_contact_points(case_id, urgent=False, nature="")
    )
    return case.pk


def answered_case(
    message: registry.Inbound, *, asked: str, trm_case_ref: str
) -> Case | None:
    """Return the local case, locked, of the ``asked`` message this reply
    answers: one this node sent to the replying peer (``in_reply_to``) about
    the case of ``trm_case_ref``; None when there is no such message."""
    if message.in_reply_to is None:
        return None
    original = OutboxMessage.objects.filter(
        msg_id=message.in_reply_to, type=asked, peer__node_id=message.sender
    ).first()
    if original is None or original.case_id is None:
        return None
    case = (
        Case.objects.select_for_update(no_key=True)
        .select_related("person")
        .filter(pk=original.case_id)
        .first()
    )
    if case is None or case.trm_case_ref != trm_case_ref:
        return None
    return case


def apply_case_alert_ack(message: registry.Inbound) -> UUID | None:
    """Link the alerted case (transnational track → linked) and record the
    counterpart's reference, contact and expected answer time.

    Raises:
        NotLinked: the conversation is not the shared reference.
        UnknownReply: it answers no alert this node sent to that peer.
        NotParty: the peer is not party to the case (never the case for the
            peer an alert went to).
    """
    payload = message.payload
    assert isinstance(payload, CaseAlertAckV1)  # noqa: S101
    check_reference(message, payload.trm_case_ref)
    case = answered_case(message, asked=CASE_ALERT, trm_case_ref=payload.trm_case_ref)
    if case is None:
        raise UnknownReply(
            _("This acknowledgement answers no alert sent from this node."),
            details={"type": CASE_ALERT_ACK},
        )
    require_party(message, case)
    actor = actor_for(message.sender, payload.contact, payload.contact_role)
    if not case.is_closed:
        services.set_transnational(
            actor=actor, case=case, target=TransnationalLink.LINKED
        )
    detail = ""
    if not case.person.is_erased:
        detail = _(
            "Their case %(reference)s; contact: %(organisation)s (%(role)s); "
            "answer expected by %(when)s."
        ) % {
            "reference": payload.receiver_reference,
            "organisation": payload.contact.name,
            "role": Role(payload.contact_role).label,
            "when": f"{payload.expected_answer_by:%Y-%m-%d %H:%M} UTC",
        }
    services.record_case_event(
        case=case, actor=actor, kind="case.alert_acknowledged", detail=detail
    )
    audit.record(
        actor=actor,
        action="cases.alert_acknowledged",
        target=case,
        data={"from": message.sender, "reference": payload.receiver_reference},
    )
    return case.pk


def apply_safety_alert(message: registry.Inbound) -> UUID | None:
    """Record an urgent safety alert on the linked case (opening one, led by
    the national contact point organisation, if none) and e-mail the node's
    national contact points at once (no personal data in the e-mail).

    Raises:
        NoContactPoint, NotLinked, NotParty (a case exists here under the
        reference and the sender is not party to it).
    """
    payload = message.payload
    assert isinstance(payload, SafetyAlertV1)  # noqa: S101
    case, actor, _opened = _linked_or_opened(message, payload)
    services.record_case_event(
        case=case,
        actor=actor,
        kind="case.safety_alert_received",
        code=payload.nature,
        detail="" if case.person.is_erased else payload.description,
    )
    audit.record(
        actor=actor,
        action="cases.safety_alert_received",
        target=case,
        data={
            "from": message.sender,
            "nature": payload.nature,
            "actions": list(payload.actions_requested),
        },
    )
    case_id, nature = case.pk, payload.nature
    transaction.on_commit(
        lambda: _notify_contact_points(case_id, urgent=True, nature=nature)
    )
    return case.pk


def apply_case_closure(message: registry.Inbound) -> UUID | None:
    """Record that the other side closed its case and unlink ours; our case
    stays open (its team decides).

    Raises:
        NotLinked: no case here is linked under that reference (or the
            conversation is not the reference).
        NotParty: the sender is not party to the case.
    """
    payload = message.payload
    assert isinstance(payload, CaseClosureV1)  # noqa: S101
    check_reference(message, payload.trm_case_ref)
    case = linked_case(payload.trm_case_ref)
    if case is None:
        raise NotLinked(
            _("No case on this node is linked under that reference."),
            details={"field": "trm_case_ref"},
        )
    require_party(message, case)
    actor = actor_for(
        message.sender, payload.sending_organisation, "national_contact_point"
    )
    if case.transnational in {
        TransnationalLink.LINKED,
        TransnationalLink.COUNTERPART_ALERTED,
        TransnationalLink.NCP_NOTIFIED,
    }:
        services.set_transnational(
            actor=actor, case=case, target=TransnationalLink.UNLINKED
        )
    detail = ""
    if not case.person.is_erased:
        obligations = ", ".join(str(OBLIGATIONS[o]) for o in payload.open_obligations)
        detail = _(
            "Closed on %(date)s: %(reason)s. Their data: %(data)s. Still open: "
            "%(obligations)s."
        ) % {
            "date": payload.closed_on.isoformat(),
            "reason": ClosureReason(payload.reason).label,
            "data": _("kept") if payload.data == "retained" else _("erased"),
            "obligations": obligations or _("nothing"),
        }
    services.record_case_event(
        case=case,
        actor=actor,
        kind="case.closure_received",
        code=payload.reason,
        detail=detail,
    )
    audit.record(
        actor=actor,
        action="cases.closure_received",
        target=case,
        data={"from": message.sender, "reason": payload.reason},
    )
    return case.pk


# --- closing a linked case ------------------------------------------------------------


def _open_obligations(case: Case) -> list[str]:
    obligations = []
    if case.legal in {Legal.COOPERATING, Legal.STATEMENT_GIVEN, Legal.WITNESS}:
        obligations.append("proceedings")
    if case.reflection in {Reflection.PERMIT_COOPERATION, Reflection.PERMIT_PERSONAL}:
        obligations.append("residence_permit")
    if case.person.presumed_child and case.child_protection == "guardian_appointed":
        obligations.append("guardianship")
    return obligations


def conversation_peers(reference: str) -> list[Peer]:
    """Return the active peers that exchanged messages under ``reference``."""
    if not reference:
        return []
    ids = Conversation.objects.filter(reference=reference).values_list(
        "peer_id", flat=True
    )
    return list(
        Peer.objects.filter(pk__in=list(ids), status=PeerStatus.ACTIVE).order_by(
            "node_id"
        )
    )


def announce_closure(*, case: Case, actor: User) -> list[OutboxMessage]:
    """Tell every peer of the case's conversation that it closed (M11), inside
    :func:`~trm.cases.services.case_close`'s transaction. A case never linked
    (no shared reference or no conversation) sends nothing; a disabled peer is
    skipped."""
    peers = conversation_peers(case.trm_case_ref)
    if not peers:
        return []
    payload = CaseClosureV1(
        trm_case_ref=case.trm_case_ref,
        reason=case.closure_reason,
        closed_on=timezone.localdate(case.closed_at or timezone.now()),
        data="erased" if case.person.is_erased else "retained",
        open_obligations=_open_obligations(case),
        sending_organisation=organisation_ref(case.lead_organisation),
    )
    return [
        exchange.enqueue(
            to_node=peer.node_id,
            type=CASE_CLOSURE,
            payload=payload,
            legal_basis=exchange.PSEUDONYMOUS,
            conversation=case.trm_case_ref,
            case_id=case.pk,
            actor=actor,
        )
        for peer in peers
    ]


# --- the exchange's hooks ---------------------------------------------------------


#: Message types about assistance — referrals, the return and what follows
#: it (SOPS §2 SOP 2-4): their timeline entries are hidden from legal-track-
#: only roles (SOPS §3 unconditional assistance; issue "SOP 5": the
#: prosecutor does not see assistance), like the assistance events themselves.
ASSISTANCE_MESSAGE_PREFIXES = (
    "referral.",
    "return.",
    "risk.assessment.",
    "family.",
    "followup.",
    "travel.document.",
)


def message_visibility(message_type: str) -> str:
    """Return the timeline visibility of a message of ``message_type``."""
    if message_type.startswith(ASSISTANCE_MESSAGE_PREFIXES):
        return Visibility.ASSISTANCE_ONLY
    return Visibility.TEAM


def timeline_observer(direction: str, message: Any) -> None:
    """Put every message in or out about a case on its timeline: the type as
    the event's code, never the payload; assistance messages are hidden from
    legal-track-only roles (:func:`message_visibility`)."""
    case_id = getattr(message, "case_id", None)
    if case_id is None:
        return
    case = Case.objects.select_related("person").filter(pk=case_id).first()
    if case is None:
        return
    code = str(message.type)[:40]
    visibility = message_visibility(code)
    if direction == "out":
        services.record_case_event(
            case=case,
            actor=None,
            kind="exchange.message_sent",
            code=code,
            visibility=visibility,
        )
    else:
        services.record_case_event(
            case=case,
            actor=None,
            kind="exchange.message_received",
            code=code,
            visibility=visibility,
        )


def payload_access(user: Any, case_id: UUID) -> bool:
    """Whether ``user`` may read the payloads of messages about ``case_id`` in
    the operator view: whoever sees the case (its team, or the national
    contact point through a link abroad), except legal-track-only roles —
    payloads may carry assistance data (SOPS §3, issue "SOP 5")."""
    if not isinstance(user, User):
        return False
    case = Case.objects.filter(pk=case_id).first()
    if case is None:
        return False
    access = case_access(user, case)
    return access is not None and not access.legal_only


def safety_alert_carried(payload: BaseModel) -> set[str]:
    """``safety.alert`` carries risk information (its description), nothing
    else: the person's attributes are pseudonymous."""
    return {"risk"}


def _types() -> Iterable[registry.MessageType]:
    yield registry.MessageType(
        name=CASE_ALERT,
        version=1,
        schema=CaseAlertV1,
        categories=frozenset(),
        handler=apply_case_alert,
        carried=carries_nothing,
        sop=(1,),
        description="Pseudonymous case alert to the counterpart (M1)",
    )
    yield registry.MessageType(
        name=CASE_ALERT_ACK,
        version=1,
        schema=CaseAlertAckV1,
        categories=frozenset(),
        handler=apply_case_alert_ack,
        carried=carries_nothing,
        sop=(1,),
        description="Acknowledgement and linkage of a case alert (M1-ACK)",
    )
    yield registry.MessageType(
        name=SAFETY_ALERT,
        version=1,
        schema=SafetyAlertV1,
        categories=frozenset({"risk"}),
        handler=apply_safety_alert,
        exceptions=frozenset({exchange.VITAL_INTEREST}),
        carried=safety_alert_carried,
        description="Urgent risk to life or safety, without consent (M14)",
    )
    yield registry.MessageType(
        name=CASE_CLOSURE,
        version=1,
        schema=CaseClosureV1,
        categories=frozenset(),
        handler=apply_case_closure,
        carried=carries_nothing,
        description="The other side closed its case (M11)",
    )


def register_all() -> None:
    """Register the message types and the exchange's hooks (``ready()``)."""
    for message_type in _types():
        registry.register(message_type)
    registry.register_observer(timeline_observer)
    registry.register_case_access(payload_access)


# --- what the case page shows ---------------------------------------------------------


def alert_peers(case: Case) -> list[tuple[Peer, str]]:
    """Return the active peers an alert about ``case`` may go to, with a label;
    those of a country of the person's claimed nationality first."""
    citizenships = set(case.person.citizenships)
    peers = sorted(
        Peer.objects.filter(status=PeerStatus.ACTIVE),
        key=lambda p: (p.country not in citizenships, p.node_id),
    )
    rows = []
    for peer in peers:
        label = f"{peer.name or peer.node_id} ({peer.country or '—'})"
        if peer.country in citizenships:
            label = _("%(peer)s — the person's claimed nationality") % {"peer": label}
        rows.append((peer, label))
    return rows
