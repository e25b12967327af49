"""What the trm.proceedings services and selectors share: who may do what, checks.

Who may record what, role by role (SOPS §2 SOP 5, §6.2 region D, §6.3):

* **rights information** (:data:`RIGHTS_ROLES`): the case manager, the
  competent authority and the prosecutor. Region D names "SP/lawyer/police":
  the police inform as competent authority, the NGO's case worker as case
  manager; the prosecutor must inform a victim too (Directive 2012/29/EU
  Art. 4). A service provider informs through the case manager, because it
  does not read the legal record afterwards (below).
* **protection measures** (:data:`PROTECTION_ROLES`): the prosecutor (asks
  for and orders them), the competent authority (police protection) and the
  case manager (assesses the risk with the person: SOP 5 step 3).
* **compensation** (:data:`COMPENSATION_ROLES`): the case manager (helps the
  person claim: baseline step ``sop5.compensation``) and the prosecutor (the
  civil claim inside the criminal case).
* **non-punishment**: a charge linked to the trafficking is flagged and an
  assessment asked for by the case manager, the prosecutor or the competent
  authority (:data:`CHARGE_ROLES`, SOPS §3 "flag any charges"); the outcome
  is the prosecution's decision (:data:`NON_PUNISHMENT_DECIDERS`: the
  prosecutor, or the competent authority where the prosecution service is it,
  as in Bulgaria; SOPS §6.3 "Lawyer / PROS").
* **hearings** (:data:`HEARING_ROLES`): the prosecutor, the case manager
  (arranges support to attend) and the competent authority.
* **proceedings notices** to a counterpart node (:data:`NOTICE_SENDERS`): the
  national contact point (the channel, SOPS §6.4 M12 "via NCP"; also when it
  sees the case through its link abroad), the prosecutor and the case manager
  on the team.
* **reading** (:data:`READERS`): the prosecutor, the case manager and the
  competent authority — the legal track's need to know; the other roles
  (service provider, guardian, first contact point) get 403
  :class:`~trm.proceedings.errors.ProceedingsNotForRole`. Notices, which are
  logistics, are read by :data:`NOTICE_READERS` (the readers and the national
  contact point).

Every check here reads the case's legal track or these records only: no legal
move depends on the assistance track (SOPS §6.5 rule 1, the other direction).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import pycountry
from django.utils.translation import gettext as _

from trm.accounts.models import Role
from trm.cases.access import CaseAccess
from trm.cases.errors import CaseInvalidInput
from trm.proceedings.errors import ProceedingsNotForRole

_CM, _CA, _PROS = Role.CASE_MANAGER, Role.COMPETENT_AUTHORITY, Role.PROSECUTOR
_NCP = Role.NATIONAL_CONTACT_POINT

READERS = frozenset({_PROS, _CM, _CA})
NOTICE_READERS = READERS | {_NCP}
RIGHTS_ROLES = frozenset({_CM, _CA, _PROS})
PROTECTION_ROLES = frozenset({_PROS, _CA, _CM})
COMPENSATION_ROLES = frozenset({_CM, _PROS})
CHARGE_ROLES = frozenset({_CM, _PROS, _CA})
NON_PUNISHMENT_DECIDERS = frozenset({_PROS, _CA})
HEARING_ROLES = frozenset({_PROS, _CM, _CA})
NOTICE_SENDERS = frozenset({_NCP, _PROS, _CM})

#: Longest name of a court, an authority or a lawyer's organisation.
MAX_NAME_CHARS = 200
#: The largest amount accepted (a typo guard), and the most decimals (ISO 4217
#: minor units go up to 3, e.g. the Kuwaiti dinar).
MAX_AMOUNT = Decimal("999999999999")
MAX_DECIMALS = 3


def may_read(access: CaseAccess, readers: frozenset[str] = READERS) -> bool:
    """Return True if ``access`` reads the proceedings records (or notices)."""
    return bool(access.roles & readers)


def require_reader(access: CaseAccess, readers: frozenset[str] = READERS) -> None:
    """Raise :class:`ProceedingsNotForRole` unless ``access`` may read."""
    if not may_read(access, readers):
        raise ProceedingsNotForRole(
            _(
                "The proceedings records are for the prosecutor, the case manager "
                "and the competent authority on the case."
            ),
            details={"allowed_roles": sorted(readers)},
        )


def may_write(access: CaseAccess, roles: frozenset[str]) -> bool:
    """Return True if ``access`` is a team role among ``roles`` (not via policy)."""
    return not access.via_policy and bool(access.roles & roles)


def clean_currency(currency: str, *, field: str = "currency") -> str:
    """Return ``currency`` as an ISO 4217 alphabetic code, or refuse it.

    Raises:
        CaseInvalidInput: empty, or not a code of ISO 4217.
    """
    code = (currency or "").strip().upper()
    if not code:
        raise CaseInvalidInput(
            _("Give the currency of the amount (ISO 4217 code, e.g. EUR)."),
            details={"field": field},
        )
    if (
        len(code) != 3
        or not code.isalpha()
        or not pycountry.currencies.get(alpha_3=code)
    ):
        raise CaseInvalidInput(
            _("Unknown currency code: use an ISO 4217 code such as EUR, RON or MDL."),
            details={"field": field, "reason": "unknown_currency"},
        )
    return code


def clean_money(
    amount: Decimal | None,
    currency: str,
    *,
    required: bool,
    amount_field: str = "amount",
    currency_field: str = "currency",
) -> tuple[Decimal | None, str]:
    """Return ``(amount, currency)`` checked, or ``(None, "")`` when optional
    and both are empty.

    An amount is a positive :class:`~decimal.Decimal` (at most
    :data:`MAX_DECIMALS` decimals, at most :data:`MAX_AMOUNT`) and always has
    its ISO 4217 currency; a currency never comes without an amount.

    Raises:
        CaseInvalidInput: on ``amount_field`` or ``currency_field``.
    """
    currency = (currency or "").strip()
    if amount is None:
        if required:
            raise CaseInvalidInput(
                _("Give the amount."), details={"field": amount_field}
            )
        if currency:
            raise CaseInvalidInput(
                _("Give the amount, or leave the currency empty."),
                details={"field": amount_field},
            )
        return None, ""
    try:
        value = Decimal(amount)
        exponent = value.as_tuple().exponent
    except (InvalidOperation, TypeError, ValueError):
        raise CaseInvalidInput(
            _("Give the amount as a number."), details={"field": amount_field}
        ) from None
    if not value.is_finite() or not isinstance(exponent, int):
        raise CaseInvalidInput(
            _("Give the amount as a number."), details={"field": amount_field}
        )
    if value <= 0 or value > MAX_AMOUNT:
        raise CaseInvalidInput(
            _("The amount must be more than 0 and at most %(max)s.")
            % {"max": f"{MAX_AMOUNT:,}"},
            details={"field": amount_field},
        )
    if -exponent > MAX_DECIMALS:
        raise CaseInvalidInput(
            _("An amount has at most %(n)d decimals.") % {"n": MAX_DECIMALS},
            details={"field": amount_field},
        )
    return value, clean_currency(currency, field=currency_field)
