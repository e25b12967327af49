"""What every SOP 1 service shares: the variant, role and state checks, reasons.

Internal to :mod:`trm.identification`; the services are in ``services``
(identification), ``reflection``, ``children`` and ``contacts``.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from trm.accounts.models import Role, User
from trm.audit import services as audit
from trm.cases.access import CaseAccess
from trm.cases.errors import CaseInvalidInput, CaseRoleRequired, TransitionNotAllowed
from trm.cases.models import Case
from trm.cases.services import (
    move_track,
    require_live_person,
)
from trm.cases.tracks import ChildProtection
from trm.common.text import clean_multiline_text, has_visible_text
from trm.sop.types import Definition

MAX_REASON_CHARS = 5000


def node_definition() -> Definition:
    """Return the node's SOP variant (``TRM_SOP_VARIANT``), loaded once."""
    from trm.sop.loader import get_definition

    return get_definition()


def require_roles(access: CaseAccess, allowed: frozenset[str]) -> None:
    """Raise :class:`CaseRoleRequired` unless the actor holds one of ``allowed``
    as a member of the case team (access through node policy — a national
    contact point seeing a transnational case — reads, but does not act)."""
    if access.via_policy:
        raise CaseRoleRequired(
            _("Join the case team to do this."), details={"reason": "not_on_team"}
        )
    if not (access.roles & allowed):
        raise CaseRoleRequired(
            _("Only these roles on the case may do this: %(roles)s.")
            % {"roles": ", ".join(str(Role(r).label) for r in sorted(allowed))},
            details={"allowed_roles": sorted(allowed)},
        )


def require_open(case: Case) -> None:
    """Raise :class:`TransitionNotAllowed` if the case is closed."""
    if case.is_closed:
        raise TransitionNotAllowed(_("The case is closed."))


def clean_reason(reason: str, *, field: str, required: bool, message: str = "") -> str:
    """Return ``reason`` stripped; raise :class:`CaseInvalidInput` on ``field``
    if it is required and shows nothing (empty, or only invisible or blank
    characters: :func:`~trm.common.text.has_visible_text`) or is longer than
    :data:`MAX_REASON_CHARS`. Optional text that shows nothing becomes "".
    Line breaks and tabs are kept; other control characters and invisible
    formatting marks (text-direction overrides, zero-width characters) are
    refused (:func:`~trm.common.text.clean_multiline_text`, ``InvalidText``)."""
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON_CHARS:
        raise CaseInvalidInput(
            _("At most %(n)d characters.") % {"n": MAX_REASON_CHARS},
            details={"field": field},
        )
    if not has_visible_text(reason):
        reason = ""
    if required and not reason:
        raise CaseInvalidInput(
            message or _("Give the reasons."), details={"field": field}
        )
    return clean_multiline_text(reason, field=field, max_length=MAX_REASON_CHARS)


def optional_text(case: Case, text: str, *, field: str) -> str:
    """Return optional free text cleaned as :func:`clean_reason`; text for an
    erased person is refused (:class:`~trm.cases.errors.PersonErased`): it
    could never be read again."""
    text = clean_reason(text, field=field, required=False)
    if text:
        require_live_person(case)
    return text


def start_child_protection(case: Case, *, actor: User | None) -> None:
    """Request a guardian (child-protection track) unless it already runs."""
    if case.child_protection in {
        ChildProtection.GUARDIAN_REQUESTED,
        ChildProtection.GUARDIAN_APPOINTED,
    }:
        return
    move_track(
        actor=actor,  # type: ignore[arg-type]
        case=case,
        access=CaseAccess(roles=frozenset({Role.CASE_MANAGER})),
        track="child_protection",
        target=ChildProtection.GUARDIAN_REQUESTED,
        reason="",
    )


def audit_case(actor: User | None, action: str, case: Case, **data: object) -> None:
    """Append an audit entry about ``case`` (``data`` must hold nothing personal)."""
    audit.record(actor=actor, action=action, target=case, data=dict(data))
