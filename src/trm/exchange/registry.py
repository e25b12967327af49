"""Message types and the hooks domain apps register with the exchange.

The exchange never imports a domain app (STYLE.md, "Dependency direction").
Each app declares its message types in ``<app>/messages.py`` and registers
them in its ``AppConfig.ready``::

    register(MessageType(
        name="referral.request", version=1, schema=ReferralRequestV1,
        categories=frozenset({"identity", "case_summary", "risk"}),
        handler=apply_referral_request, sop=(1, 2, 3, 4),
    ))

A handler is called by the inbox inside the transaction that records the
message, with an :class:`Inbound` (verified routing fields and the validated
payload). It applies the message by calling the same domain services a person
would, and returns the local case id it touched (or None). Raising
:class:`~trm.common.errors.DomainError` rejects the message permanently (the
sender is answered with a signed rejection ``refused`` and the error's code);
nothing it wrote is kept.

Other hooks:

* :func:`register_legal_basis_check` — the consent app checks
  ``consent:<id>`` bases at :func:`~trm.exchange.services.enqueue` time.
* :func:`register_observer` — the cases app adds every message in and out to
  the case timeline.
* :func:`register_case_access` — the cases app answers "may this user read the
  payloads of this case?" for the operator view.
* :func:`register_data_key_lookup` — the cases app names the data key of a
  case's person, under which the stored copy of a message about that case is
  sealed (destroying the key at erasure makes it unreadable).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel

#: Data categories a message may carry (the consent app's DataCategory values).
CATEGORIES = frozenset(
    {
        "identity",
        "documents",
        "contact",
        "photo",
        "case_summary",
        "health",
        "family",
        "legal",
        "risk",
    }
)
#: Categories that need no consent: risk to life or safety (SOPS §3, BG 1.3).
FREE_CATEGORIES = frozenset({"risk"})


@dataclass(frozen=True)
class Inbound:
    """A verified message handed to a handler.

    Attributes:
        sender: the peer's node id. ``sender_country``: its ISO country code.
        msg_id, type, version, conversation, seq, in_reply_to, legal_basis,
        categories, sent_at, reply_by: the envelope's claims (EXCHANGE.md §2).
        payload: the validated payload (an instance of the type's schema).
    """

    sender: str
    sender_country: str
    msg_id: UUID
    type: str
    version: int
    conversation: str
    seq: int
    in_reply_to: UUID | None
    legal_basis: str
    categories: tuple[str, ...]
    sent_at: datetime
    reply_by: datetime | None
    payload: BaseModel


Handler = Callable[[Inbound], "UUID | None"]


@dataclass(frozen=True)
class MessageType:
    """One message type of the catalogue (EXCHANGE.md §3).

    Attributes:
        name: e.g. ``"referral.request"``.
        version: schema version ``v``; the receiver accepts only registered ones.
        schema: pydantic model of the payload (``extra="forbid"``).
        categories: the data categories the type may carry; the sender refuses
            more, the receiver rejects more (``category_not_allowed``).
        handler: applies an inbound message (None: the type is declared but its
            workflow comes later; the receiver rejects it ``unsupported_type``).
        exceptions: legal bases other than consent this type may use without a
            consent: ``"vital_interest"`` (safety.alert), ``"legal_obligation"``.
        carried: what a payload instance actually carries (see the field).
        sop: SOP numbers the type serves (documentation, operator view).
        description: one line for the operator view and docs.
    """

    name: str
    version: int
    schema: type[BaseModel]
    categories: frozenset[str]
    handler: Handler | None = None
    exceptions: frozenset[str] = field(default_factory=frozenset)
    #: The categories a payload actually carries (e.g. {"identity"} when its
    #: identity block is filled). The sender refuses and the receiver rejects
    #: a message whose payload carries a category its envelope does not
    #: declare, so a declared "pseudonymous" message cannot smuggle names.
    #: None: the type carries no personal data beyond ``categories`` checks.
    carried: Callable[[BaseModel], set[str]] | None = None
    sop: tuple[int, ...] = ()
    description: str = ""


_types: dict[tuple[str, int], MessageType] = {}

LegalBasisCheck = Callable[..., None]
_legal_basis_checks: list[LegalBasisCheck] = []

Observer = Callable[[str, Any], None]
_observers: list[Observer] = []

CaseAccess = Callable[[Any, UUID], bool]
_case_access: list[CaseAccess] = []

DataKeyLookup = Callable[[UUID], "UUID | None"]
_data_key_lookup: list[DataKeyLookup] = []


def register(message_type: MessageType, *, replace: bool = False) -> None:
    """Register a message type; called from ``AppConfig.ready``.

    One app owns each (name, version): registering a different type under a
    name and version already registered is refused, so two apps cannot both
    claim a type (the one installed last would silently win). Registering the
    very same type again changes nothing.

    Args:
        message_type: the type.
        replace: swap the registered type for this one (tests that give a
            type a fake handler for a while, then put the original back).

    Raises:
        ValueError: the type declares a category outside :data:`CATEGORIES`,
            or another type is registered under its name and version and
            ``replace`` is not set.
    """
    unknown = set(message_type.categories) - CATEGORIES
    if unknown:
        raise ValueError(f"{message_type.name}: unknown categories {sorted(unknown)}")
    key = (message_type.name, message_type.version)
    registered = _types.get(key)
    if registered is not None and registered != message_type and not replace:
        raise ValueError(
            f"{message_type.name} v{message_type.version} is already registered"
            f" (schema {registered.schema.__module__}.{registered.schema.__name__})"
        )
    _types[key] = message_type


def unregister(name: str, version: int) -> None:
    """Forget a registered type (tests that register their own)."""
    _types.pop((name, version), None)


def message_type(name: str, version: int | None = None) -> MessageType | None:
    """Return the registered type (the highest version when ``version`` is None)."""
    if version is not None:
        return _types.get((name, version))
    versions = [t for (n, _v), t in _types.items() if n == name]
    return max(versions, key=lambda t: t.version) if versions else None


def message_types() -> list[MessageType]:
    """Return every registered type, by name and version."""
    return [t for _k, t in sorted(_types.items())]


def register_legal_basis_check(check: LegalBasisCheck) -> None:
    """Use ``check(legal_basis=, categories=, peer_country=, organisation_id=,
    case_id=)`` for ``consent:<id>`` bases; it raises a DomainError to refuse."""
    _legal_basis_checks[:] = [check]


def legal_basis_check() -> LegalBasisCheck | None:
    return _legal_basis_checks[0] if _legal_basis_checks else None


def register_observer(observer: Observer) -> None:
    """Call ``observer(direction, message)`` ("out" with an OutboxMessage at
    enqueue, "in" with an InboxMessage once recorded: applied, or refused by
    its handler (``status`` says which)) inside the transaction."""
    if observer not in _observers:
        _observers.append(observer)


def observers() -> list[Observer]:
    return list(_observers)


def register_case_access(check: CaseAccess) -> None:
    """Use ``check(user, case_id) -> bool`` to decide who sees payloads."""
    _case_access[:] = [check]


def case_access() -> CaseAccess | None:
    return _case_access[0] if _case_access else None


def register_data_key_lookup(lookup: DataKeyLookup) -> None:
    """Use ``lookup(case_id) -> key id | None`` to find the data key of the
    person a case is about (None: no such case, or the person was erased).

    The stored copy of a message about that case (in or out) is sealed under
    that key rather than the node's exchange key, so it goes with the person's
    erasure (:func:`trm.exchange.services.seal_payload`).
    """
    _data_key_lookup[:] = [lookup]


def data_key_lookup() -> DataKeyLookup | None:
    return _data_key_lookup[0] if _data_key_lookup else None


def holds_personal_data(name: str, version: int) -> bool:
    """Whether a message of this type may hold data of the person: its type
    may carry a data category (an unknown type counts as holding some).

    A type carrying no category (an acknowledgement, a closure or withdrawal
    notice and its confirmation) holds nothing of the person.
    """
    mtype = _types.get((name, version))
    return mtype is None or bool(mtype.categories)
