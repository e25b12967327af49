"""trm.proceedings on the transnational channel: ``proceedings.notice`` (M12).

The v1 wire schema is :class:`trm.cases.messages.ProceedingsNoticeV1` (released
with the catalogue, never edited in place); this module registers the type with
its handler, which applies an inbound notice through
:func:`trm.proceedings.notices.proceedings_notice_receive`. The sending side is
:func:`trm.proceedings.notices.proceedings_notice_send`.
"""

from __future__ import annotations

from uuid import UUID

from django.utils.translation import gettext as _
from pydantic import BaseModel

from trm.cases.messages import (
    PROCEEDINGS_NOTICE,
    NotLinked,
    ProceedingsNoticeV1,
    actor_for,
    check_reference,
    linked_case,
    require_party,
)
from trm.exchange import registry
from trm.exchange import services as exchange
from trm.proceedings.notices import proceedings_notice_receive


def proceedings_notice_carried(payload: BaseModel) -> set[str]:
    """``proceedings.notice`` is about the person's part in proceedings: a
    hearing, testimony, an outcome or a release (category ``legal``)."""
    return {"legal"}


def apply_proceedings_notice(message: registry.Inbound) -> UUID | None:
    """Record a counterpart's proceedings notice on the case linked under its
    shared reference (the sender must be party to it) and show it on the
    case's timeline.

    Raises:
        NotLinked: no case here is linked under the reference, or the
            conversation is not the reference.
        NotParty: the sender is not party to the case.
    """
    payload = message.payload
    assert isinstance(payload, ProceedingsNoticeV1)  # noqa: S101 - the schema
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
    proceedings_notice_receive(
        actor=actor,
        case=case,
        peer_node=message.sender,
        msg_id=message.msg_id,
        payload=payload,
    )
    return case.pk


def register_all() -> None:
    """Register ``proceedings.notice`` with its handler (``ready()``)."""
    registry.register(
        registry.MessageType(
            name=PROCEEDINGS_NOTICE,
            version=1,
            schema=ProceedingsNoticeV1,
            categories=frozenset({"legal", "risk"}),
            handler=apply_proceedings_notice,
            exceptions=frozenset({exchange.LEGAL_OBLIGATION}),
            carried=proceedings_notice_carried,
            sop=(5,),
            description="Proceedings logistics: hearing, testimony, outcome (M12)",
        )
    )
