"""This node's rows for the organisations of peer nodes: one writer, one rule.

An organisation working on a peer node is known here by a row of
:class:`~trm.accounts.models.Organisation` with ``home_node`` = the peer's
node id and ``remote_id`` = its id on that node (what messages name it by).
Such rows are written only by :func:`record_peer_organisation`, for two
callers:

* the exchange mirrors a peer's published directory when an administrator
  adds or refreshes the peer (``trm peers add`` / ``refresh``,
  :mod:`trm.exchange.peers`), with ``update=True``;
* message handlers record the organisation that sent a message, on first
  contact (:func:`trm.cases.messages.actor_for`, used by every domain app's
  handlers, and :func:`trm.referrals.messages.apply_referral_request`), with
  ``update=False``.

The rule, the same for both:

* **Identity**: the pair (node, remote id); a row is never matched by name.
* **Name**: the peer's, checked as any name on this node
  (:func:`~trm.common.text.clean_text`, at most 200 characters, not empty).
  When another organisation here already has it (in any case), `` (<node>)``
  is added, then `` (<node> <first 8 hex digits of the remote id>)``, then
  `` (<node> <remote id>)``; when all are taken it is refused.
* **Country**: an ISO 3166-1 code this node knows; otherwise refused.
* **Org type**: an HTCDS ``org_Type`` code. None stated (a message schema that
  does not carry one) is ``NGO`` on a new row — as the directory import does —
  and leaves an existing row's type; a code this node does not know is refused,
  never guessed.
* **Functions**: those this node knows (others are dropped); none stated
  (``None``) is an empty list on a new row and leaves an existing row's.
* **First contact or update**: with ``update=False`` an existing row is
  returned as it is (what a message says of its sender does not rewrite the
  directory, and is not even checked); with ``update=True`` the row follows
  the peer (name, country, type, functions) and is active again.
* **Audit**: each creation and each change is one ``accounts.
  organisation_mirrored`` entry (node, remote id, what happened).

A refusal is :class:`~trm.accounts.errors.PeerOrganisationRefused` with
``details["reason"]`` ``name``, ``name_taken``, ``country`` or ``org_type``:
the mirroring skips that entry, a message naming it is rejected with that code.

The exchange may import this module (it imports ``trm.accounts``, never a
domain app).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from django_countries import countries

from trm.accounts.errors import PeerOrganisationRefused
from trm.accounts.models import Organisation, TrmFunction
from trm.audit import services as audit
from trm.common.htcds import OrgType
from trm.common.text import InvalidText, clean_text, fold_key

#: Longest organisation name (``Organisation.name``).
MAX_NAME = 200
#: The type of a new row whose peer states none (as the directory import).
DEFAULT_ORG_TYPE = OrgType.NGO

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


class PeerOrganisation(NamedTuple):
    """The row standing for the peer's organisation, and what was done to it:
    ``created``, ``updated`` or ``unchanged``."""

    organisation: Organisation
    change: str


def _refuse(reason: str, node_id: str, message: str) -> PeerOrganisationRefused:
    return PeerOrganisationRefused(message, details={"reason": reason, "node": node_id})


def _checked(
    *, node_id: str, name: str, country: str, org_type: str
) -> tuple[str, str, str]:
    """Return the name, country and org type as this node records them, or refuse."""
    try:
        clean = clean_text(name, field="name", max_length=MAX_NAME)
    except InvalidText as exc:
        raise _refuse("name", node_id, exc.message) from None
    if not clean:
        raise _refuse("name", node_id, _("The peer's organisation has no name."))
    code = (country or "").strip().upper()
    if not code or countries.alpha2(code) != code:
        raise _refuse(
            "country", node_id, _("The peer's organisation names no known country.")
        )
    if org_type and org_type not in OrgType.values:
        raise _refuse(
            "org_type",
            node_id,
            _("The peer's organisation has a type this node does not know."),
        )
    return clean, code, org_type


def candidate_names(name: str, *, node_id: str, remote_id: UUID) -> list[str]:
    """Return the names tried in turn for a peer's organisation (the rule above)."""
    names = []
    for suffix in ("", f" ({node_id})", f" ({node_id} {remote_id.hex[:8]})"):
        names.append(name[: MAX_NAME - len(suffix)] + suffix)
    suffix = f" ({node_id} {remote_id})"[-MAX_NAME:]
    names.append(name[: max(MAX_NAME - len(suffix), 0)] + suffix)
    return list(dict.fromkeys(names))


def _taken(name: str, *, exclude: Any) -> bool:
    clash = Organisation.objects.filter(
        Q(name_key=fold_key(name)) | Q(name__iexact=name)
    )
    if exclude is not None:
        clash = clash.exclude(pk=exclude)
    return clash.exists()


def _free_names(name: str, *, node_id: str, remote_id: UUID, exclude: Any) -> list[str]:
    return [
        n
        for n in candidate_names(name, node_id=node_id, remote_id=remote_id)
        if not _taken(n, exclude=exclude)
    ]


def _name_taken(node_id: str) -> PeerOrganisationRefused:
    return _refuse(
        "name_taken",
        node_id,
        _("The peer organisation's name is taken on this node, even with the node id."),
    )


def _known_functions(functions: Iterable[str]) -> list[str]:
    return [f for f in dict.fromkeys(functions) if f in TrmFunction.values]


def _audit(actor: Any, organisation: Organisation, change: str) -> None:
    audit.record(
        actor=actor,
        action="accounts.organisation_mirrored",
        target=organisation,
        data={
            "node": organisation.home_node,
            "remote_id": str(organisation.remote_id),
            "change": change,
        },
    )


def record_peer_organisation(
    *,
    node_id: str,
    remote_id: UUID,
    name: str,
    country: str,
    org_type: str = "",
    functions: Iterable[str] | None = None,
    update: bool = False,
    actor: Any = None,
) -> PeerOrganisation:
    """Return this node's row for organisation ``remote_id`` of peer ``node_id``,
    creating it on first contact and, with ``update``, bringing it up to date.

    Inside the caller's transaction (a failed insert is undone in a savepoint
    and the next name tried, so a concurrent first contact finds the row the
    other transaction wrote). ``actor`` is who the audit entry names: a user,
    None for the command line, or ``"node:<id>"`` for a message.

    Raises:
        PeerOrganisationRefused: a name, country or org type this node refuses,
            or every name taken (``details["reason"]``).
        ValueError: ``node_id`` is empty (this node's own organisations are
            not written here).
    """
    if not node_id:
        raise ValueError("a peer organisation belongs to a peer node")
    rows = Organisation.objects.filter(home_node=node_id, remote_id=remote_id)
    row = (rows.select_for_update() if update else rows).first()
    if row is not None and not update:
        return PeerOrganisation(row, UNCHANGED)
    clean, code, stated_type = _checked(
        node_id=node_id, name=name, country=country, org_type=org_type
    )
    if row is None:
        return _create(
            node_id=node_id,
            remote_id=remote_id,
            name=clean,
            country=code,
            org_type=stated_type or DEFAULT_ORG_TYPE,
            functions=_known_functions(functions or ()),
            actor=actor,
        )
    return _update(
        row,
        name=clean,
        country=code,
        org_type=stated_type or row.org_type,
        functions=row.functions if functions is None else _known_functions(functions),
        actor=actor,
    )


def _create(
    *,
    node_id: str,
    remote_id: UUID,
    name: str,
    country: str,
    org_type: str,
    functions: list[str],
    actor: Any,
) -> PeerOrganisation:
    for candidate in _free_names(
        name, node_id=node_id, remote_id=remote_id, exclude=None
    ):
        try:
            with transaction.atomic():
                organisation = Organisation.objects.create(
                    name=candidate,
                    name_key=fold_key(candidate),
                    country=country,
                    org_type=org_type,
                    functions=functions,
                    home_node=node_id,
                    remote_id=remote_id,
                    is_active=True,
                )
        except IntegrityError:
            # Either another transaction recorded the same organisation first
            # (use its row) or took this name meanwhile (try the next one).
            found = Organisation.objects.filter(
                home_node=node_id, remote_id=remote_id
            ).first()
            if found is not None:
                return PeerOrganisation(found, UNCHANGED)
            continue
        _audit(actor, organisation, CREATED)
        return PeerOrganisation(organisation, CREATED)
    raise _name_taken(node_id)


def _update(
    row: Organisation,
    *,
    name: str,
    country: str,
    org_type: str,
    functions: list[str],
    actor: Any,
) -> PeerOrganisation:
    assert row.remote_id is not None  # noqa: S101 - found by it
    fields = (country, org_type, functions, True)
    same_fields = fields == (row.country.code, row.org_type, row.functions, True)
    if (
        row.is_active
        and same_fields
        and row.name
        in candidate_names(name, node_id=row.home_node, remote_id=row.remote_id)
    ):
        # The name it was given still stands for the peer's (perhaps with a
        # suffix that was needed when it was recorded).
        return PeerOrganisation(row, UNCHANGED)
    for candidate in _free_names(
        name, node_id=row.home_node, remote_id=row.remote_id, exclude=row.pk
    ):
        row.name, row.name_key = candidate, fold_key(candidate)
        row.country, row.org_type = country, org_type
        row.functions, row.is_active = functions, True
        try:
            with transaction.atomic():
                row.save()
        except IntegrityError:
            continue
        _audit(actor, row, UPDATED)
        return PeerOrganisation(row, UPDATED)
    raise _name_taken(row.home_node)
