"""The only readers of the proceedings records; every read is audited.

A user reads a case's proceedings records when they may see the case
(:mod:`trm.cases.access`; no access answers 404, as "no such case") and their
roles on it are among :data:`~trm.proceedings.common.READERS` (the prosecutor,
the case manager, the competent authority); notices also the national contact
point (:data:`~trm.proceedings.common.NOTICE_READERS`). Others get
:class:`~trm.proceedings.errors.ProceedingsNotForRole` (403).

Every read is audited (``proceedings.records_read``,
``proceedings.notices_read``) with record ids only, also when nothing sealed
is opened. Sealed text is ``None`` once the person was erased ("can no longer
be read").
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _

from trm.accounts.models import User
from trm.audit import services as audit
from trm.care.common import Opener
from trm.cases.access import CaseAccess, case_access
from trm.cases.errors import CaseNotFound
from trm.cases.models import Case
from trm.proceedings.common import NOTICE_READERS, READERS, require_reader
from trm.proceedings.models import (
    CompensationClaim,
    Hearing,
    NonPunishment,
    ProceedingsNotice,
    ProtectionMeasure,
    RightsInformation,
)

#: The most records of one kind a read returns (a case has a few).
MAX_RECORDS = 200


def proceedings_access_for_user(
    *, user: User, case: Case, readers: frozenset[str] = READERS
) -> CaseAccess:
    """Return the user's access to ``case`` if they may read its proceedings.

    Raises:
        CaseNotFound: the user may not see the case.
        ProceedingsNotForRole: their roles on it do not read these records.
    """
    access = case_access(user, case)
    if access is None:
        raise CaseNotFound(_("No such case."))
    require_reader(access, readers)
    return access


def _audit(user: User, action: str, case: Case, **data: object) -> None:
    with transaction.atomic():
        audit.record(actor=user, action=action, target=case, data=dict(data))


@dataclass(frozen=True)
class ChargeView:
    """A non-punishment record; ``charge`` and ``legal_reference`` are ``""``
    when none was written and None when they can no longer be read."""

    record: NonPunishment
    charge: str | None
    legal_reference: str | None


@dataclass(frozen=True)
class ProceedingsView:
    """Everything recorded on a case's proceedings, newest first."""

    rights: RightsInformation | None
    protection: list[ProtectionMeasure]
    compensation: list[CompensationClaim]
    charges: list[ChargeView]
    hearings: list[Hearing]

    @property
    def empty(self) -> bool:
        return not (
            self.rights
            or self.protection
            or self.compensation
            or self.charges
            or self.hearings
        )


def proceedings_for_user(*, user: User, case: Case) -> ProceedingsView:
    """Return the rights information and the sub-track records of ``case``,
    with the sealed texts opened. Audited as ``proceedings.records_read``.

    Raises:
        CaseNotFound, ProceedingsNotForRole.
    """
    proceedings_access_for_user(user=user, case=case)
    rights = RightsInformation.objects.filter(case=case).first()
    protection = list(ProtectionMeasure.objects.filter(case=case)[:MAX_RECORDS])
    compensation = list(CompensationClaim.objects.filter(case=case)[:MAX_RECORDS])
    charges = list(NonPunishment.objects.filter(case=case)[:MAX_RECORDS])
    hearings = list(Hearing.objects.filter(case=case)[:MAX_RECORDS])
    _audit(
        user,
        "proceedings.records_read",
        case,
        rights=str(rights.pk) if rights else None,
        records=[str(r.pk) for r in (*protection, *compensation, *charges, *hearings)],
    )
    opener = Opener(case.person) if charges else None
    return ProceedingsView(
        rights=rights,
        protection=protection,
        compensation=compensation,
        charges=[
            ChargeView(
                record=c,
                charge=opener.open(c.sealed_charge, context=c.charge_context())
                if opener
                else None,
                legal_reference=opener.open(
                    c.sealed_legal_reference, context=c.legal_reference_context()
                )
                if opener
                else None,
            )
            for c in charges
        ],
        hearings=hearings,
    )


@dataclass(frozen=True)
class NoticeView:
    notice: ProceedingsNotice
    outcome: str | None


def notices_for_user(*, user: User, case: Case) -> list[NoticeView]:
    """Return the proceedings notices sent and received about ``case``, newest
    first, the outcome texts opened. Audited as ``proceedings.notices_read``.

    Raises:
        CaseNotFound, ProceedingsNotForRole (not a reader nor the national
        contact point).
    """
    proceedings_access_for_user(user=user, case=case, readers=NOTICE_READERS)
    notices = list(ProceedingsNotice.objects.filter(case=case)[:MAX_RECORDS])
    _audit(user, "proceedings.notices_read", case, notices=[str(n.pk) for n in notices])
    if not notices:
        return []
    opener = Opener(case.person)
    return [
        NoticeView(n, opener.open(n.sealed_outcome, context=n.outcome_context()))
        for n in notices
    ]
