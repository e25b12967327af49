"""Identity and nationality verification through the counterpart node (SOPS §6.4 M2).

``identity.verify.request`` carries the identity data the check needs
(categories ``identity``, and ``documents`` when document numbers help), under
a consent to transfer abroad naming the peer's country or a named legal
obligation. It is never sent for a person who applied for international
protection (SOPS §6.5 rule 6): it is sent by the same check a person's request
through the origin country's channel passes
(:func:`trm.identification.contacts.record_verification_request`, channel
"national contact point"). ``identity.verify.response`` answers confirmed / not
confirmed and the document options, with no personal category.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal
from uuid import UUID

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pydantic import BaseModel, Field

from trm.accounts.models import User
from trm.audit import services as audit
from trm.cases import services as cases
from trm.cases.errors import CaseInvalidInput, TransitionNotAllowed
from trm.cases.identity import PersonIdentity
from trm.cases.messages import (
    ContactRole,
    OrganisationRefV1,
    WireIdentityV1,
    WireModel,
    actor_for,
    answered_case,
    carries_nothing,
    check_reference,
    contact_point_organisation,
    identity_categories,
    linked_case,
    organisation_ref,
    require_party,
)
from trm.cases.models import Case
from trm.cases.selectors import person_identity_for_user
from trm.common.errors import DomainError
from trm.exchange import registry
from trm.exchange import services as exchange
from trm.exchange.models import InboxMessage, InboxStatus, OutboxMessage, OutboxStatus
from trm.identification.common import require_open, require_roles
from trm.identification.contacts import (
    VERIFICATION_ROLES,
    VerificationChannel,
    record_verification_request,
)

REQUEST = "identity.verify.request"
RESPONSE = "identity.verify.response"
_REF = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$"

PURPOSES = {
    "identity_and_nationality": gettext_lazy("Verify identity and nationality"),
    "travel_documents": gettext_lazy("Verify identity for travel documents"),
}
OUTCOMES = {
    "confirmed": gettext_lazy("Identity confirmed"),
    "not_confirmed": gettext_lazy("Identity not confirmed"),
}
DOCUMENT_OPTIONS = {
    "passport": gettext_lazy("Passport"),
    "identity_card": gettext_lazy("Identity card"),
    "emergency_travel_document": gettext_lazy("Emergency travel document"),
    "none": gettext_lazy("No document can be issued"),
}
DocumentOption = Literal[
    "passport", "identity_card", "emergency_travel_document", "none"
]


class UnknownReply(DomainError):
    """A reply names no request this node sent to that peer."""

    code = "identification.unknown_reply"


class IdentityVerifyRequestV1(WireModel):
    """``identity.verify.request`` v1 (M2). Never for an asylum applicant."""

    trm_case_ref: str = Field(pattern=_REF)
    purpose: Literal["identity_and_nationality", "travel_documents"]
    #: Names, birth date and place, documents (if ``documents`` is carried);
    #: never phones or addresses (the check does not need them).
    identity: WireIdentityV1
    nationality_claimed: list[str] = Field(default_factory=list, max_length=5)
    document_options_requested: bool = True
    sending_organisation: OrganisationRefV1
    contact_role: ContactRole = "national_contact_point"


class IdentityVerifyResponseV1(WireModel):
    """``identity.verify.response`` v1: the outcome, no personal category."""

    trm_case_ref: str = Field(pattern=_REF)
    outcome: Literal["confirmed", "not_confirmed"]
    document_options: list[DocumentOption] = Field(default_factory=list, max_length=4)
    sending_organisation: OrganisationRefV1


# --- sending a request ---------------------------------------------------------------


@transaction.atomic(durable=True)
def identity_verification_send(
    *,
    actor: User,
    case_id: UUID,
    peer_node: str,
    legal_basis: str,
    purpose: str = "identity_and_nationality",
    include_documents: bool = False,
    note: str = "",
) -> OutboxMessage:
    """Ask the counterpart node to verify the person's identity and nationality.

    The request is recorded as one through the national contact point's
    channel (the same check: refused for an asylum applicant, rule 6; the
    roles that ask), then the identity travels: names, birth date and place,
    and document numbers with ``include_documents`` — never phones or
    addresses. ``legal_basis`` is ``consent:<id>`` (a consent to transfer
    abroad naming the peer's country and covering the categories: checked by
    the consent gate) or ``legal_obligation:<reference>``.

    Raises:
        CaseNotFound, CaseRoleRequired, ConsularCheckBlocked, CaseInvalidInput,
        TransitionNotAllowed, PersonErased, PeerUnavailable,
        ConsentMissing / LegalBasisMissing (the basis does not cover it).
    """
    case, access = cases.lock_case(actor=actor, case_id=case_id)
    record_verification_request(
        actor=actor,
        case=case,
        access=access,
        channel=VerificationChannel.NATIONAL_CONTACT_POINT,
        note=note,
    )
    cases.require_live_person(case)
    if purpose not in PURPOSES:
        raise CaseInvalidInput(
            _("Choose what the check is for."), details={"field": "purpose"}
        )
    peer = exchange.active_peer(peer_node)
    identity = person_identity_for_user(user=actor, case=case) or PersonIdentity()
    documents = identity.documents if include_documents else []
    wire = WireIdentityV1(
        given_names=identity.given_names,
        family_names=identity.family_names,
        aliases=identity.aliases,
        birth_date=identity.birth_date,
        birth_date_is_estimate=identity.birth_date_is_estimate,
        place_of_birth=identity.place_of_birth,
        documents=[d.model_dump() for d in documents],
    )
    categories = ["identity"] + (["documents"] if documents else [])
    reference = cases.ensure_trm_case_ref(actor=actor, case=case)
    message = exchange.enqueue(
        to_node=peer.node_id,
        type=REQUEST,
        payload=IdentityVerifyRequestV1(
            trm_case_ref=reference,
            purpose=purpose,
            identity=wire,
            nationality_claimed=list(case.person.citizenships)[:5],
            sending_organisation=organisation_ref(actor.organisation),
        ),
        legal_basis=legal_basis,
        categories=categories,
        conversation=reference,
        case_id=case.pk,
        actor=actor,
    )
    audit.record(
        actor=actor,
        action="identification.verification_sent",
        target=case,
        data={
            "to": peer.node_id,
            "categories": categories,
            "legal_basis": legal_basis.split(":", 1)[0],
            "message": str(message.msg_id),
        },
    )
    return message


# --- answering a request --------------------------------------------------------------


def pending_request(case: Case) -> InboxMessage | None:
    """Return the newest verification request about ``case`` not yet answered."""
    answered = OutboxMessage.objects.filter(
        type=RESPONSE, case_id=case.pk, in_reply_to__isnull=False
    ).exclude(status=OutboxStatus.CANCELLED)
    return (
        InboxMessage.objects.filter(
            type=REQUEST, case_id=case.pk, status=InboxStatus.APPLIED
        )
        .exclude(msg_id__in=answered.values("in_reply_to"))
        .select_related("peer")
        .order_by("-received_at")
        .first()
    )


@transaction.atomic(durable=True)
def identity_verification_respond(
    *,
    actor: User,
    case_id: UUID,
    outcome: str,
    document_options: Iterable[str] = (),
) -> OutboxMessage:
    """Answer the counterpart's verification request about a linked case.

    Raises:
        CaseNotFound, CaseRoleRequired (join the team; a verifying role),
        CaseInvalidInput (unknown outcome or option; no request to answer),
        TransitionNotAllowed (closed case), PeerUnavailable.
    """
    case, access = cases.lock_case(actor=actor, case_id=case_id)
    require_open(case)
    require_roles(access, VERIFICATION_ROLES)
    if outcome not in OUTCOMES:
        raise CaseInvalidInput(
            _("Choose the outcome of the check."), details={"field": "outcome"}
        )
    options = list(dict.fromkeys(document_options))
    if any(o not in DOCUMENT_OPTIONS for o in options):
        raise CaseInvalidInput(
            _("Choose from the list."), details={"field": "document_options"}
        )
    request = pending_request(case)
    if request is None or not case.trm_case_ref:
        raise CaseInvalidInput(
            _("No verification request about this case awaits an answer."),
            details={"reason": "no_request"},
        )
    message = exchange.enqueue(
        to_node=request.peer.node_id,
        type=RESPONSE,
        payload=IdentityVerifyResponseV1(
            trm_case_ref=case.trm_case_ref,
            outcome=outcome,
            document_options=options,
            sending_organisation=organisation_ref(case.lead_organisation),
        ),
        legal_basis=exchange.PSEUDONYMOUS,
        conversation=case.trm_case_ref,
        in_reply_to=request.msg_id,
        case_id=case.pk,
        actor=actor,
    )
    cases.record_case_event(
        case=case,
        actor=actor,
        kind="sop1.identity_verification_answered",
        code=outcome,
    )
    audit.record(
        actor=actor,
        action="identification.verification_answered",
        target=case,
        data={"to": request.peer.node_id, "outcome": outcome, "options": options},
    )
    return message


# --- handlers ------------------------------------------------------------------------


def apply_verify_request(message: registry.Inbound) -> UUID | None:
    """Open (or find) the linked case, led by the national contact point
    organisation, with the identity received (kept only if the person had
    none here); record the request for the national contact point to answer.

    Raises:
        NoContactPoint, NotLinked, CaseInvalidInput / InvalidText (an
        identity that does not pass this node's checks), NotParty (a case
        exists here under the reference and the sender is not party to it).
    """
    payload = message.payload
    assert isinstance(payload, IdentityVerifyRequestV1)  # noqa: S101
    check_reference(message, payload.trm_case_ref)
    if payload.identity.phones or payload.identity.addresses:
        raise CaseInvalidInput(
            _("A verification request carries no contact details."),
            details={"field": "identity"},
        )
    if payload.identity.documents and "documents" not in message.categories:
        raise CaseInvalidInput(
            _("Document numbers travel only under the documents category."),
            details={"field": "identity.documents"},
        )
    case = linked_case(payload.trm_case_ref)
    if case is not None:
        require_party(message, case)
    actor = actor_for(
        message.sender, payload.sending_organisation, payload.contact_role
    )
    identity = PersonIdentity.model_validate(payload.identity.model_dump())
    if case is None:
        lead = contact_point_organisation()
        case = cases.case_open_linked(
            actor=actor,
            organisation_id=lead.pk,
            trm_case_ref=payload.trm_case_ref,
            identity=identity,
            citizenships=payload.nationality_claimed,
        )
    else:
        if case.is_closed:
            raise TransitionNotAllowed(_("The case is closed."))
        cases.person_set_received_identity(actor=actor, case=case, identity=identity)
    cases.record_case_event(
        case=case,
        actor=actor,
        kind="sop1.identity_verification_received",
        code=payload.purpose,
    )
    audit.record(
        actor=actor,
        action="identification.verification_received",
        target=case,
        data={"from": message.sender, "categories": list(message.categories)},
    )
    return case.pk


def apply_verify_response(message: registry.Inbound) -> UUID | None:
    """Record the counterpart's answer on the case that asked.

    Raises:
        NotLinked: the conversation is not the shared reference.
        UnknownReply: it answers no request this node sent to that peer
            about the case of that reference.
        NotParty: the peer is not party to the case (never the case for the
            peer the request went to).
    """
    payload = message.payload
    assert isinstance(payload, IdentityVerifyResponseV1)  # noqa: S101
    check_reference(message, payload.trm_case_ref)
    case = answered_case(message, asked=REQUEST, trm_case_ref=payload.trm_case_ref)
    if case is None:
        raise UnknownReply(
            _("This answer matches no verification request sent from this node."),
            details={"type": RESPONSE},
        )
    require_party(message, case)
    actor = actor_for(
        message.sender, payload.sending_organisation, "national_contact_point"
    )
    detail = ""
    if payload.document_options and not case.person.is_erased:
        detail = _("Document options: %(options)s.") % {
            "options": ", ".join(
                str(DOCUMENT_OPTIONS[o]) for o in payload.document_options
            )
        }
    cases.record_case_event(
        case=case,
        actor=actor,
        kind="sop1.identity_verification_result",
        code=payload.outcome,
        detail=detail,
    )
    audit.record(
        actor=actor,
        action="identification.verification_result",
        target=case,
        data={"from": message.sender, "outcome": payload.outcome},
    )
    return case.pk


def verify_request_carried(payload: BaseModel) -> set[str]:
    """What ``identity.verify.request`` carries: its identity block's
    categories (the claimed nationality is pseudonymous)."""
    assert isinstance(payload, IdentityVerifyRequestV1)  # noqa: S101
    return identity_categories(payload.identity)


def register_all() -> None:
    """Register the two message types (``IdentificationConfig.ready``)."""
    registry.register(
        registry.MessageType(
            name=REQUEST,
            version=1,
            schema=IdentityVerifyRequestV1,
            categories=frozenset({"identity", "documents"}),
            handler=apply_verify_request,
            exceptions=frozenset({exchange.LEGAL_OBLIGATION}),
            carried=verify_request_carried,
            sop=(1, 4),
            description="Identity and nationality check (M2); never for asylum "
            "applicants",
        )
    )
    registry.register(
        registry.MessageType(
            name=RESPONSE,
            version=1,
            schema=IdentityVerifyResponseV1,
            categories=frozenset(),
            handler=apply_verify_response,
            carried=carries_nothing,
            sop=(1, 4),
            description="Identity check answered: confirmed or not, documents",
        )
    )
