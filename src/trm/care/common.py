"""What the trm.care services and selectors share: who may do what, sealing, dates.

Who may do what (SOPS §6.3; issue "SOP 2 and SOP 3"):

* the **care plan**, its reviews and the **services given**: the case manager
  and the service provider on the case team (:data:`CARE_ROLES`);
* **residence records**: the case manager, the national contact point, the
  competent authority and the service provider on the case team
  (:data:`RESIDENCE_ROLES`) — whoever holds the document or the decision;
* **reading**: anyone who may see the case, except a user whose roles on it
  are legal-track only (a prosecutor): everything here is assistance content
  (SOPS §3). Access through node policy (a national contact point on a case
  linked abroad) reads but never writes
  (:func:`trm.identification.common.require_roles`).
"""

from __future__ import annotations

from datetime import date

from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import Role
from trm.care.errors import CareNotForLegalTrack
from trm.cases.access import CaseAccess
from trm.cases.errors import CaseInvalidInput
from trm.cases.models import Case, Person
from trm.common import keys
from trm.dataprotection import crypto

#: Roles on the case team that write the care plan, its reviews and the log of
#: services given.
CARE_ROLES = frozenset({Role.CASE_MANAGER, Role.SERVICE_PROVIDER})
#: Roles on the case team that record residence documents, permits and statuses.
RESIDENCE_ROLES = frozenset(
    {
        Role.CASE_MANAGER,
        Role.NATIONAL_CONTACT_POINT,
        Role.COMPETENT_AUTHORITY,
        Role.SERVICE_PROVIDER,
    }
)
#: The earliest date accepted anywhere in trm.care (a typo guard).
EARLIEST_DATE = date(1990, 1, 1)


def may_read(access: CaseAccess) -> bool:
    """Return True if ``access`` may read long-term care (not legal-track only)."""
    return not access.legal_only


def require_reader(access: CaseAccess) -> None:
    """Raise :class:`CareNotForLegalTrack` for a legal-track-only user."""
    if not may_read(access):
        raise CareNotForLegalTrack(
            _(
                "Long-term care is part of the assistance record, which the "
                "legal track does not see."
            )
        )


def may_write(access: CaseAccess, roles: frozenset[str]) -> bool:
    """Return True if ``access`` is a team role among ``roles`` (not via policy)."""
    return not access.via_policy and bool(access.roles & roles)


def check_date(
    value: date | None,
    *,
    field: str,
    required: bool = True,
    not_future: bool = False,
    not_before: date | None = None,
    message: str = "",
) -> date | None:
    """Return ``value`` or refuse it (:class:`CaseInvalidInput` on ``field``).

    Refuses a missing required date, a date before :data:`EARLIEST_DATE` or
    ``not_before``, and with ``not_future`` a date after today (the node's
    local date).
    """
    if value is None:
        if required:
            raise CaseInvalidInput(
                message or _("Give the date."), details={"field": field}
            )
        return None
    if value < EARLIEST_DATE:
        raise CaseInvalidInput(
            _("The date is not plausible (before %(year)d).")
            % {"year": EARLIEST_DATE.year},
            details={"field": field},
        )
    if not_future and value > timezone.localdate():
        raise CaseInvalidInput(
            _("The date is in the future."), details={"field": field}
        )
    if not_before is not None and value < not_before:
        raise CaseInvalidInput(
            message or _("The date is too early."), details={"field": field}
        )
    return value


class Sealer:
    """Seal several texts under one person's data key (one keystore read)."""

    def __init__(self, case: Case) -> None:
        self._key = crypto.data_key(case.person.data_key_id)

    def seal(self, text: str, *, context: bytes) -> bytes | None:
        """Return ``text`` sealed, or None when it is empty."""
        if not text:
            return None
        return keys.aead_seal(self._key, text.encode(), context=context)


class Opener:
    """Open sealed texts of one person (one keystore read; nothing after erasure)."""

    def __init__(self, person: Person) -> None:
        self._key: bytes | None = None
        if not person.is_erased:
            self._key = crypto.data_keys([person.data_key_id]).get(person.data_key_id)

    def open(self, blob: bytes | memoryview | None, *, context: bytes) -> str | None:
        """Return the text; ``""`` if none was written; None if it can no longer
        be read (the person was erased)."""
        if blob is None:
            return ""
        if self._key is None:
            return None
        return keys.aead_open(self._key, blob, context=context).decode()
