"""What the services, selectors and pages of trm.assessments share.

Who may do what (SOPS §6.3; documented on each service):

* needs and risk assessments (:data:`ASSESSMENT_ROLES`): first contact point,
  case manager, service provider, competent authority, national contact point,
  and the guardian of a person presumed a child — everyone who meets the
  person except the legal track (the base is
  :data:`trm.identification.contacts.CONTACT_ROLES`);
* the support and safety plan (:data:`PLAN_ROLES`): case manager, service
  provider, first contact point.

Only members of the case team act; a national contact point who sees a
transnational case through node policy reads. Roles whose work is the legal
track only (a prosecutor) see nothing of this: it is assistance material
(SOPS §3, confidentiality; unconditional assistance).
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from trm.accounts.models import Role, User
from trm.cases.access import CaseAccess, case_access
from trm.cases.errors import CaseNotFound
from trm.cases.models import Case
from trm.common.text import (
    InvalidText,
    clean_multiline_text,
    clean_text,
    has_visible_text,
)
from trm.identification.common import require_roles
from trm.identification.contacts import CONTACT_ROLES

from .errors import AssessmentInvalidInput, AssistanceContentHidden

#: Roles that record needs and risk assessments (the guardian only for a child).
ASSESSMENT_ROLES: frozenset[str] = CONTACT_ROLES
#: Roles that write and sign the support and safety plan.
PLAN_ROLES: frozenset[str] = frozenset(
    {Role.CASE_MANAGER, Role.SERVICE_PROVIDER, Role.FIRST_CONTACT_POINT}
)
#: Longest free text (notes, judgement, plan sections).
MAX_TEXT_CHARS = 5000
#: Longest one-line text (names, place, timeframe, a step).
MAX_LINE_CHARS = 200
#: Line breaks and tabs are allowed in free text; no other control character.
_ALLOWED_CONTROLS = frozenset({"\n", "\t"})


def acting_roles(case: Case, allowed: frozenset[str]) -> frozenset[str]:
    """Return ``allowed`` as it applies to ``case``: a guardian acts only for a
    person presumed a child (SOPS §3 best interests of the child)."""
    if case.person.presumed_child:
        return allowed
    return allowed - {Role.GUARDIAN}


def require_actor(access: CaseAccess, case: Case, allowed: frozenset[str]) -> None:
    """Raise ``CaseRoleRequired`` unless the actor is on the team in a role of
    ``allowed`` that applies to ``case`` (:func:`acting_roles`)."""
    require_roles(access, acting_roles(case, allowed))


def may_act(access: CaseAccess | None, case: Case, allowed: frozenset[str]) -> bool:
    """Return True if ``access`` may act with ``allowed`` roles on ``case``."""
    return (
        access is not None
        and not access.via_policy
        and bool(access.roles & acting_roles(case, allowed))
    )


def may_read(access: CaseAccess | None) -> bool:
    """Return True if ``access`` may read needs, risks and plans."""
    return access is not None and not access.legal_only


def reader_access(user: User, case: Case) -> CaseAccess:
    """Return the user's access to ``case`` for reading this app's content.

    Raises:
        CaseNotFound: the user may not see the case (404, as for no case).
        AssistanceContentHidden: the user's roles on the case are legal-track
            only (403).
    """
    access = case_access(user, case)
    if access is None:
        raise CaseNotFound(_("No such case."))
    if access.legal_only:
        raise AssistanceContentHidden(
            _(
                "Needs, risks and the support plan are assistance material: the "
                "legal track does not see them."
            )
        )
    return access


def roles_text(roles: frozenset[str]) -> str:
    """Return the labels of ``roles``, comma-separated (for messages)."""
    return ", ".join(str(Role(r).label) for r in sorted(roles))


def clean_line(value: str, *, field: str, max_length: int = MAX_LINE_CHARS) -> str:
    """Return one line of text stripped (``""`` if it shows nothing).

    Raises:
        trm.common.text.InvalidText: control or invisible formatting
            characters, or longer than ``max_length``.
    """
    text = clean_text(value or "", field=field, max_length=max_length)
    return text if has_visible_text(text) else ""


def clean_long_text(value: str, *, field: str, max_length: int = MAX_TEXT_CHARS) -> str:
    """Return free text (several lines allowed) stripped and in NFC.

    Text that shows nothing (blanks, zero-width characters) becomes ``""``.

    Raises:
        AssessmentInvalidInput: control characters other than line breaks and
            tabs, text-direction or zero-width characters, or longer than
            ``max_length``.
    """
    if len((value or "").strip()) > max_length:
        raise AssessmentInvalidInput(
            _("At most %(n)d characters.") % {"n": max_length},
            details={"field": field},
        )
    try:
        text = clean_multiline_text(value, field=field, max_length=max_length)
    except InvalidText as exc:
        raise AssessmentInvalidInput(exc.message, details=exc.details) from None
    return text if has_visible_text(text) else ""
