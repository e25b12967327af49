"""Referrals across borders: the referral messages of the exchange.

A referral to an organisation of a peer node (``Organisation.home_node``) runs
through the same state machine as a referral on this node; only its moves
travel (EXCHANGE.md §3, SOPS §6.4 M1/M7/M13):

``referral.request`` v1 (referring node → receiving node)
    The referral as sent: the shared case reference, the referral's key, the
    referring organisation, the receiving organisation (by its id on the
    receiving node), reason, services, urgency, reply-by time, the categories
    shared, the consent's id (a reference only), the snapshot of the consented
    categories, the risk information (always shared, BG 1.4), the meeting
    arrangements, and the person's non-identifying attributes the receiving
    node needs to open its linked case (gender, age band, presumed child,
    citizenships, languages). Legal basis ``consent:<id>`` when personal
    categories are shared, else ``pseudonymous`` (only risk information).
``referral.response`` v1 (receiving node → referring node)
    What the receiver did: accepted, declined (+ reason code), started,
    completed or feedback (+ outcome code); the named case manager (a contact
    at the organisation), the services offered, the carer confirmation for a
    child (not yet recorded on the receiving node: always empty), the
    receiver's case number. Codes only, no personal data: the texts a receiver
    writes (a decline's explanation, a feedback text) stay on its node.
``referral.cancelled`` v1 (referring node → receiving node)
    The referrer ended the referral: ``cancelled`` (+ reason code) or
    ``revoked`` (the person withdrew the consent: the receiving node destroys
    everything it received but the risk information). The catalogue has no
    message for a referral its sender ends — ``consent.withdrawn`` (M13) speaks
    of a consent, not of one referral, and a cancellation involves no consent
    at all — so this type is added.

The sending side is the transport registered with
:func:`trm.referrals.transport.register_remote_transport`
(:func:`send_over_exchange`): the referral services hand it their moves inside
their transaction and it enqueues the message. The handlers apply inbound
messages by calling the referral services a person would use, inside the
exchange's inbox transaction, with the local user standing for the peer's
organisation (:func:`trm.accounts.node_users.node_user`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from django.utils import timezone
from django.utils.translation import gettext as _
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from trm.accounts.models import Organisation, Role
from trm.accounts.node_users import node_user
from trm.accounts.peer_organisations import record_peer_organisation
from trm.cases import services as case_services
from trm.cases.identity import IdentityDocument, PersonIdentity
from trm.cases.messages import carries_nothing, require_party
from trm.cases.models import Case
from trm.exchange import registry
from trm.exchange.services import PSEUDONYMOUS, enqueue
from trm.referrals.content import Meeting
from trm.referrals.errors import (
    ExchangeMismatch,
    NotAcceptingReferrals,
    ReferralNotFound,
)
from trm.referrals.models import Direction, Referral, ReferralMessage, Status
from trm.referrals.receiving import (
    referral_apply_answer,
    referral_end_from_sender,
    referral_receive,
)
from trm.referrals.transport import ANSWER_KINDS, RemoteMessage

REQUEST = "referral.request"
RESPONSE = "referral.response"
CANCELLED = "referral.cancelled"

#: Longest free text of a referral (as :data:`trm.identification.common.
#: MAX_REASON_CHARS`).
_LONG = 5000


Short = Annotated[str, StringConstraints(strict=True, max_length=200)]
Entry = Annotated[str, StringConstraints(strict=True, max_length=300)]
LongText = Annotated[str, StringConstraints(strict=True, max_length=_LONG)]
#: A code of a choice list (HTCDS or this project's): letters, digits, _ - +.
Code = Annotated[
    str,
    StringConstraints(
        strict=True, min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_+\-]+$"
    ),
]
OptionalCode = Annotated[
    str,
    StringConstraints(strict=True, max_length=40, pattern=r"^[A-Za-z0-9_+\-]*$"),
]
Country = Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Z]{2}$")]
Language = Annotated[
    str, StringConstraints(strict=True, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
]
#: Data categories a referral may share (a photo is never sent).
SharedCategory = Literal[
    "identity",
    "documents",
    "contact",
    "case_summary",
    "health",
    "family",
    "legal",
    "risk",
]


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OrganisationRefV1(_Schema):
    """An organisation as the sending node names it."""

    id: UUID
    name: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=200)]
    country: Country
    org_type: Annotated[str, StringConstraints(strict=True, max_length=40)] = ""


class IdentityV1(_Schema):
    given_names: Short = ""
    family_names: Short = ""
    aliases: list[Entry] = Field(default_factory=list, max_length=20)
    birth_date: date | None = None
    birth_date_is_estimate: StrictBool = False
    place_of_birth: Short = ""


class DocumentV1(_Schema):
    kind: Annotated[str, StringConstraints(strict=True, max_length=60)] = ""
    number: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=60)]
    issuing_country: Annotated[str, StringConstraints(strict=True, max_length=2)] = ""


class ContactV1(_Schema):
    phones: list[Entry] = Field(default_factory=list, max_length=10)
    addresses: list[Entry] = Field(default_factory=list, max_length=10)


class SharedV1(_Schema):
    """The snapshot of the consented categories (:mod:`trm.referrals.content`)."""

    identity: IdentityV1 | None = None
    documents: list[DocumentV1] | None = Field(default=None, max_length=10)
    contact: ContactV1 | None = None
    case_summary: LongText | None = None
    health: LongText | None = None
    family: LongText | None = None
    legal: LongText | None = None

    def categories(self) -> set[str]:
        """Return the categories this snapshot holds."""
        return {name for name in type(self).model_fields if getattr(self, name)}


class MeetingV1(_Schema):
    who: Entry = ""
    where: Entry = ""
    at: AwareDatetime | None = None


class PersonV1(_Schema):
    """Non-identifying attributes of the person (HTCDS ``prs_*``)."""

    gender: Code
    age_band: Code
    presumed_child: StrictBool
    citizenships: list[Country] = Field(default_factory=list, max_length=10)
    languages: list[Language] = Field(default_factory=list, max_length=10)


class ReferralRequestV1(_Schema):
    """``referral.request`` v1: a referral to an organisation of the receiving node."""

    trm_case_ref: Annotated[
        str, StringConstraints(strict=True, min_length=1, max_length=64)
    ]
    exchange_key: UUID
    from_organisation: OrganisationRefV1
    #: The receiving organisation's id on the receiving node.
    to_organisation_id: UUID
    reason: Code
    services: list[Code] = Field(min_length=1, max_length=20)
    urgency: Literal["urgent", "normal"]
    reply_by: AwareDatetime | None = None
    categories: list[SharedCategory] = Field(max_length=8)
    #: The consent's id on the referring node (None: only risk information).
    consent_ref: UUID | None = None
    risk_shared_without_consent: StrictBool = False
    shared: SharedV1 = Field(default_factory=SharedV1)
    risk: LongText = ""
    meeting: MeetingV1 | None = None
    person: PersonV1

    @model_validator(mode="after")
    def _declared(self) -> ReferralRequestV1:
        beyond = self.shared.categories() - set(self.categories)
        if beyond:
            raise ValueError(f"shared beyond the categories: {sorted(beyond)}")
        if bool(self.risk) != ("risk" in self.categories):
            raise ValueError("risk text and the risk category go together")
        return self


class ReferralResponseV1(_Schema):
    """``referral.response`` v1: the receiving organisation's answer."""

    exchange_key: UUID
    outcome: Literal["accepted", "declined", "started", "completed", "feedback"]
    #: The decline reason or the feedback outcome code.
    code: OptionalCode = ""
    #: A contact at the receiving organisation (never the person).
    case_manager: Short = ""
    services_offered: list[Code] = Field(default_factory=list, max_length=20)
    #: For a child: whether the carer confirmed (None: not recorded).
    carer_confirmed: StrictBool | None = None
    #: The receiver's case number.
    receiver_case_ref: Annotated[str, StringConstraints(strict=True, max_length=64)] = (
        ""
    )

    @model_validator(mode="after")
    def _coded(self) -> ReferralResponseV1:
        if self.outcome in {"declined", "feedback"} and not self.code:
            raise ValueError("a decline or feedback needs its code")
        return self


class ReferralCancelledV1(_Schema):
    """``referral.cancelled`` v1: the referring organisation ended the referral."""

    exchange_key: UUID
    status: Literal["cancelled", "revoked"]
    reason: OptionalCode = ""


#: What ``referral.request`` may carry: the snapshot's categories and risk.
REQUEST_CATEGORIES = frozenset(
    {
        "identity",
        "documents",
        "contact",
        "case_summary",
        "health",
        "family",
        "legal",
        "risk",
    }
)


def request_carried(payload: BaseModel) -> set[str]:
    """What ``referral.request`` carries: the snapshot's categories, the risk
    text, and every category the referral says it shares (the person's
    attributes are pseudonymous)."""
    assert isinstance(payload, ReferralRequestV1)  # noqa: S101
    carried = payload.shared.categories() | set(payload.categories)
    if payload.risk:
        carried.add("risk")
    return carried


def register() -> None:
    """Register the referral message types with the exchange (``AppConfig.ready``)."""
    registry.register(
        registry.MessageType(
            name=REQUEST,
            version=1,
            schema=ReferralRequestV1,
            categories=REQUEST_CATEGORIES,
            handler=apply_referral_request,
            carried=request_carried,
            sop=(1, 2, 3, 4),
            description="A referral to an organisation of the receiving node.",
        )
    )
    registry.register(
        registry.MessageType(
            name=RESPONSE,
            version=1,
            schema=ReferralResponseV1,
            categories=frozenset(),
            handler=apply_referral_response,
            carried=carries_nothing,
            sop=(1, 2, 3, 4),
            description="The receiving organisation's answer to a referral.",
        )
    )
    registry.register(
        registry.MessageType(
            name=CANCELLED,
            version=1,
            schema=ReferralCancelledV1,
            categories=frozenset(),
            handler=apply_referral_cancelled,
            carried=carries_nothing,
            sop=(1, 2, 3, 4),
            description="The referring organisation cancelled or revoked a referral.",
        )
    )


# --- sending: the transport of the referral services ----------------------------------


def send_over_exchange(message: RemoteMessage) -> None:
    """Enqueue the exchange message for a referral's move (the remote transport).

    Called by the referral services inside their transaction: the outbox row
    commits or rolls back with the move. The conversation is the case's
    shared reference (given one if it has none); the message is recorded on
    the referral (:class:`~trm.referrals.models.ReferralMessage`) so that its
    page shows the delivery.

    Raises:
        PeerUnavailable, LegalBasisMissing, ConsentMissing, MessageInvalid:
            the exchange refuses the message; the move is refused with it and
            nothing is written.
        NotAcceptingReferrals: the receiving organisation's id on its node is
            unknown here (``details["reason"] == "no_remote_id"``).
        ValueError: an unknown kind (a programming error).
    """
    referral = (
        Referral.objects.select_related(
            "case", "case__person", "from_organisation", "to_organisation"
        )
        .filter(pk=message.referral_id)
        .get()
    )
    case = referral.case
    locked = Case.objects.select_for_update(no_key=True).get(pk=case.pk)
    reference = case_services.ensure_trm_case_ref(actor=message.actor, case=locked)
    categories: list[str] = []
    legal_basis = PSEUDONYMOUS
    reply_by: datetime | None = None
    payload: BaseModel
    if message.kind == "referral.sent":
        payload = _request(referral, reference, message.payload)
        categories = list(referral.categories)
        if set(categories) - registry.FREE_CATEGORIES:
            legal_basis = f"consent:{referral.consent_id}"
        reply_by = referral.reply_by
        mtype, recipient, code = REQUEST, referral.to_organisation, referral.urgency
    elif message.kind in {"referral.cancelled", "referral.revoked"}:
        status = "revoked" if message.kind == "referral.revoked" else "cancelled"
        payload = ReferralCancelledV1(
            exchange_key=referral.exchange_key,
            status=status,
            reason=str(message.payload.get("code") or ""),
        )
        mtype, recipient, code = CANCELLED, referral.to_organisation, status
    elif message.kind in ANSWER_KINDS:
        answer = message.payload
        payload = ReferralResponseV1.model_validate(
            {**answer, "exchange_key": str(referral.exchange_key)}
        )
        mtype, recipient = RESPONSE, referral.from_organisation
        code = ANSWER_KINDS[message.kind]
    else:
        raise ValueError(f"unknown referral message kind {message.kind!r}")
    out = enqueue(
        to_node=message.node,
        type=mtype,
        payload=payload,
        legal_basis=legal_basis,
        categories=categories,
        conversation=reference,
        reply_by=reply_by,
        case_id=case.pk,
        organisation_id=recipient.pk if recipient is not None else None,
        actor=message.actor,
    )
    ReferralMessage.objects.create(
        referral=referral,
        msg_id=out.msg_id,
        type=out.type,
        direction=Direction.OUT,
        code=code,
        at=out.created_at,
    )


def _request(
    referral: Referral, reference: str, sent: dict[str, object]
) -> ReferralRequestV1:
    """Build ``referral.request`` from the referral and what its send shared."""
    to_organisation = referral.to_organisation
    if to_organisation is None or to_organisation.remote_id is None:
        raise NotAcceptingReferrals(
            _(
                "This node does not know the organisation's id on its own node: "
                "refresh the peer (trm peers refresh) and try again."
            ),
            details={"field": "to_organisation", "reason": "no_remote_id"},
        )
    origin = referral.from_organisation
    person = referral.case.person
    meeting = sent.get("meeting")
    if not isinstance(meeting, dict):
        meeting = {}
    return ReferralRequestV1.model_validate(
        {
            "trm_case_ref": reference,
            "exchange_key": str(referral.exchange_key),
            "from_organisation": {
                "id": str(origin.pk),
                "name": origin.name,
                "country": origin.country.code,
                "org_type": origin.org_type,
            },
            "to_organisation_id": str(to_organisation.remote_id),
            "reason": referral.reason,
            "services": list(referral.services),
            "urgency": referral.urgency,
            "reply_by": referral.reply_by.isoformat() if referral.reply_by else None,
            "categories": list(referral.categories),
            "consent_ref": str(referral.consent_id) if referral.consent_id else None,
            "risk_shared_without_consent": referral.risk_shared_without_consent,
            "shared": sent.get("shared") or {},
            "risk": sent.get("risk") or "",
            "meeting": (
                {
                    "who": meeting.get("who", ""),
                    "where": meeting.get("where", ""),
                    "at": meeting.get("at") or None,
                }
                if meeting
                else None
            ),
            "person": {
                "gender": person.gender,
                "age_band": person.age_band,
                "presumed_child": person.presumed_child,
                "citizenships": list(person.citizenships),
                "languages": list(person.languages),
            },
        }
    )


# --- receiving ------------------------------------------------------------------------


def _record_in(
    referral: Referral, inbound: registry.Inbound, *, code: str
) -> ReferralMessage:
    message, _created = ReferralMessage.objects.get_or_create(
        direction=Direction.IN,
        msg_id=inbound.msg_id,
        defaults={
            "referral": referral,
            "type": inbound.type,
            "code": code,
            "at": timezone.now(),
        },
    )
    return message


def apply_referral_request(inbound: registry.Inbound) -> UUID | None:
    """Apply ``referral.request``: record the referral for the organisation named.

    Finds the receiving organisation (one of this node's, active, accepting
    referrals), the referring organisation's row on this node (created on
    first contact: ``home_node`` the sender, ``remote_id`` its id there, by
    :func:`trm.accounts.peer_organisations.record_peer_organisation`), and
    this node's case linked under the shared reference — opened on first
    contact with :func:`trm.cases.services.case_open_linked`, with the shared
    identity only when the identity category was shared. Then records the
    referral as sent (:func:`trm.referrals.receiving.referral_receive`) and
    e-mails the receiving organisation's inbox users. A request already
    applied (same referral key from the same node) changes nothing.

    Returns:
        The linked case's id.

    Raises:
        NotAcceptingReferrals: no such organisation on this node, or it is
            inactive or not accepting referrals (the sender sees it refused).
        ExchangeMismatch: the conversation is not the shared reference, the
            payload shares categories the envelope does not declare, or the
            key is another node's referral.
        CaseInvalidInput / InvalidText: codes or texts this node refuses.
        PeerOrganisationRefused: a referring organisation this node cannot
            record (its name, country or type).
        NotParty: a case exists here under the reference and the sender is
            not party to it (:func:`trm.cases.messages.require_party`).
    """
    request = inbound.payload
    if not isinstance(request, ReferralRequestV1):
        raise TypeError("referral.request payload expected")
    if not inbound.conversation or inbound.conversation != request.trm_case_ref:
        raise ExchangeMismatch(
            _("The message's conversation is not the referral's case reference."),
            details={"reason": "conversation"},
        )
    declared: set[str] = set(inbound.categories)
    undeclared = sorted(c for c in request.categories if c not in declared)
    if undeclared:
        # The envelope's categories are what the sender's consent gate
        # checked: content beyond them was never covered.
        raise ExchangeMismatch(
            _("The referral shares data its message does not declare."),
            details={"reason": "categories", "categories": undeclared},
        )
    existing = (
        Referral.objects.select_related("from_organisation")
        .filter(exchange_key=request.exchange_key)
        .first()
    )
    if existing is not None:
        if existing.from_organisation.home_node != inbound.sender:
            raise ExchangeMismatch(
                _("This referral key belongs to another referral."),
                details={"reason": "key_taken"},
            )
        return existing.case_id
    organisation = Organisation.objects.filter(
        pk=request.to_organisation_id, home_node=""
    ).first()
    if organisation is None:
        raise NotAcceptingReferrals(
            _("No such organisation on this node."),
            details={"field": "to_organisation", "reason": "unknown"},
        )
    origin = request.from_organisation
    mirror = record_peer_organisation(
        node_id=inbound.sender,
        remote_id=origin.id,
        name=origin.name,
        country=origin.country,
        org_type=origin.org_type,
        actor=f"node:{inbound.sender}",
    ).organisation
    actor = node_user(organisation=mirror, role=Role.CASE_MANAGER)
    case = (
        Case.objects.select_for_update(no_key=True, of=("self",))
        .select_related("person")
        .filter(trm_case_ref=request.trm_case_ref)
        .first()
    )
    if case is not None:
        require_party(inbound, case)
    if case is None:
        person = request.person
        case = case_services.case_open_linked(
            actor=actor,
            organisation_id=organisation.pk,
            trm_case_ref=request.trm_case_ref,
            identity=_identity(request.shared),
            gender=person.gender,
            age_band=person.age_band,
            may_be_child=person.presumed_child,
            citizenships=person.citizenships,
            languages=person.languages,
        )
    meeting = request.meeting
    referral = referral_receive(
        actor=actor,
        case=case,
        from_organisation=mirror,
        to_organisation=organisation,
        exchange_key=request.exchange_key,
        reason=request.reason,
        services=request.services,
        urgency=request.urgency,
        reply_by=request.reply_by,
        categories=request.categories,
        remote_consent_ref=request.consent_ref,
        risk_shared_without_consent=request.risk_shared_without_consent,
        shared=_snapshot(request.shared),
        risk=request.risk,
        meeting=(
            Meeting(who=meeting.who, where=meeting.where, at=meeting.at)
            if meeting is not None
            else Meeting()
        ),
    )
    _record_in(referral, inbound, code=Status.SENT)
    return case.pk


def _identity(shared: SharedV1) -> PersonIdentity | None:
    """The person's identity as shared (None unless the identity category was);
    documents and contact details are added when they were shared too."""
    if shared.identity is None:
        return None
    identity = shared.identity
    return PersonIdentity(
        given_names=identity.given_names,
        family_names=identity.family_names,
        aliases=list(identity.aliases),
        birth_date=identity.birth_date,
        birth_date_is_estimate=identity.birth_date_is_estimate,
        place_of_birth=identity.place_of_birth,
        documents=[
            IdentityDocument(
                kind=d.kind, number=d.number, issuing_country=d.issuing_country
            )
            for d in shared.documents or []
        ],
        phones=list(shared.contact.phones) if shared.contact else [],
        addresses=list(shared.contact.addresses) if shared.contact else [],
    )


def _snapshot(shared: SharedV1) -> dict[str, Any]:
    """The snapshot in :mod:`trm.referrals.content`'s shape, its texts checked
    as this node checks entered text (:meth:`PersonIdentity.checked`)."""
    checked = PersonIdentity(
        **(shared.identity.model_dump() if shared.identity else {}),
        documents=[IdentityDocument(**d.model_dump()) for d in shared.documents or []],
        phones=list(shared.contact.phones) if shared.contact else [],
        addresses=list(shared.contact.addresses) if shared.contact else [],
    ).checked()
    snapshot: dict[str, Any] = {}
    if shared.identity is not None:
        snapshot["identity"] = {
            "given_names": checked.given_names,
            "family_names": checked.family_names,
            "aliases": list(checked.aliases),
            "birth_date": (
                checked.birth_date.isoformat() if checked.birth_date else None
            ),
            "birth_date_is_estimate": checked.birth_date_is_estimate,
            "place_of_birth": checked.place_of_birth,
        }
    if shared.documents is not None:
        snapshot["documents"] = [d.model_dump() for d in checked.documents]
    if shared.contact is not None:
        snapshot["contact"] = {
            "phones": list(checked.phones),
            "addresses": list(checked.addresses),
        }
    for name in ("case_summary", "health", "family", "legal"):
        value = getattr(shared, name)
        if value:
            snapshot[name] = value
    return snapshot


def _referral_of_peer(
    exchange_key: UUID, *, node: str, receiving: bool
) -> Referral | None:
    """Return the referral ``exchange_key`` whose other side is on ``node``.

    ``receiving``: this node holds the receiving copy (the referring
    organisation is the peer's); else this node referred (the receiving
    organisation is the peer's).
    """
    referral = (
        Referral.objects.select_related("case", "from_organisation", "to_organisation")
        .filter(exchange_key=exchange_key)
        .first()
    )
    if referral is None:
        return None
    other = referral.from_organisation if receiving else referral.to_organisation
    if other is None or other.home_node != node:
        return None
    return referral


def _check_conversation(referral: Referral, inbound: registry.Inbound) -> None:
    """Refuse a message about ``referral`` outside its case's conversation, or
    from a peer not party to that case.

    Raises:
        ExchangeMismatch: another (or no) conversation.
        NotParty: see :func:`trm.cases.messages.require_party`.
    """
    reference = referral.case.trm_case_ref
    if not reference or inbound.conversation != reference:
        raise ExchangeMismatch(
            _("The message's conversation is not the referral's case reference."),
            details={"reason": "conversation"},
        )
    require_party(inbound, referral.case)


def apply_referral_response(inbound: registry.Inbound) -> UUID | None:
    """Apply ``referral.response`` on the referring node.

    The referral must have been sent by this node to an organisation of the
    answering node. The answer goes through the receiver's services
    (:func:`trm.referrals.receiving.referral_apply_answer`) acting as the user
    standing for that organisation; an answer already applied changes nothing.

    Returns:
        The referral's case id.

    Raises:
        ReferralNotFound: no referral with that key went to that node.
        ExchangeMismatch: another conversation.
        NotParty: the node is not party to the referral's case.
        TransitionNotAllowed / CaseInvalidInput: the answer does not fit.
    """
    response = inbound.payload
    if not isinstance(response, ReferralResponseV1):
        raise TypeError("referral.response payload expected")
    referral = _referral_of_peer(
        response.exchange_key, node=inbound.sender, receiving=False
    )
    if referral is None or referral.to_organisation is None:
        raise ReferralNotFound(_("No such referral."))
    _check_conversation(referral, inbound)
    actor = node_user(organisation=referral.to_organisation, role=Role.SERVICE_PROVIDER)
    referral_apply_answer(
        actor=actor,
        referral_id=referral.pk,
        outcome=response.outcome,
        code=response.code,
        node=inbound.sender,
    )
    _record_in(referral, inbound, code=response.outcome)
    return referral.case_id


def apply_referral_cancelled(inbound: registry.Inbound) -> UUID | None:
    """Apply ``referral.cancelled`` on the receiving node: cancel or revoke its
    copy (:func:`trm.referrals.receiving.referral_end_from_sender`).

    A referral that never arrived here (its request was refused) is nothing
    to end: the message changes nothing.

    Returns:
        The linked case's id (None when nothing arrived).

    Raises:
        ExchangeMismatch: another conversation.
    """
    ended = inbound.payload
    if not isinstance(ended, ReferralCancelledV1):
        raise TypeError("referral.cancelled payload expected")
    referral = _referral_of_peer(
        ended.exchange_key, node=inbound.sender, receiving=True
    )
    if referral is None:
        return None
    _check_conversation(referral, inbound)
    actor = node_user(organisation=referral.from_organisation, role=Role.CASE_MANAGER)
    referral_end_from_sender(
        actor=actor, referral_id=referral.pk, status=ended.status, reason=ended.reason
    )
    _record_in(referral, inbound, code=ended.status)
    return referral.case_id
