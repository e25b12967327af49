"""The only readers of screenings. Access follows the case; reads are audited.

A user sees a case's screenings when they may see the case
(:mod:`trm.cases.access`); "no access" answers like "no such screening". The
answers and the assessor's note are assistance material (SOPS §3
confidentiality): a user whose roles on the case are legal-track only (a
prosecutor) sees a screening's result and summary, never them. Reading the
answers (personal data, decrypted) is audited as ``screening.read``; reading
results only (no answers) as ``screening.list_read``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils.translation import gettext as _

from trm.accounts.models import User
from trm.audit import services as audit
from trm.cases.access import CaseAccess, case_access
from trm.cases.errors import CaseNotFound
from trm.cases.models import Case
from trm.dataprotection import crypto
from trm.screening.errors import ScreeningNotFound
from trm.screening.instrument import (
    EXPLOITATION,
    IndicatorList,
    Instrument,
    lists_for,
    load_instrument,
)
from trm.screening.models import Screening
from trm.screening.scoring import Action


def _access(user: User, case: Case) -> CaseAccess:
    access = case_access(user, case)
    if access is None:
        raise CaseNotFound(_("No such case."))
    return access


def screenings_for_user(
    *, user: User, case: Case, limit: int | None = None
) -> list[Screening]:
    """Return the screenings of ``case``, newest first (results only, no answers).

    Audited as ``screening.list_read`` when there is any.

    Args:
        limit: at most this many (the newest); all when None.

    Raises:
        CaseNotFound: the user may not see the case.
    """
    _access(user, case)
    qs = (
        Screening.objects.filter(case=case)
        .select_related("assessor")
        .order_by("-at", "-pk")
    )
    screenings = list(qs[:limit] if limit is not None else qs)
    if screenings:
        with transaction.atomic():
            audit.record(
                actor=user,
                action="screening.list_read",
                target=case,
                data={"screenings": [str(s.pk) for s in screenings]},
            )
    return screenings


@dataclass(frozen=True)
class ScreeningDetail:
    """One screening as shown to a user.

    Attributes:
        responses: indicator id → ``{"value", "evidence"}``; None when the
            answers can no longer be read (the person was erased) or are
            withheld.
        facts: fact id → value (empty when unreadable or withheld).
        note: the assessor's note (``""`` if none; None when unreadable or
            withheld).
        withheld: the user's roles on the case are legal-track only, so the
            answers and the note were not read (the result and the summary on
            :attr:`screening` are shown).
    """

    screening: Screening
    case: Case
    access: CaseAccess
    responses: dict[str, dict[str, str]] | None
    facts: dict[str, str] = field(default_factory=dict)
    note: str | None = ""
    withheld: bool = False


def screening_detail_for_user(
    *, user: User, case: Case, screening_id: UUID
) -> ScreeningDetail:
    """Return one screening of ``case`` with its answers decrypted.

    Audited as ``screening.read``. To a user whose roles on the case are
    legal-track only (:attr:`~trm.cases.access.CaseAccess.legal_only`) the
    answers and the note are withheld (SOPS §3: they are assistance material):
    nothing is decrypted, and the read of the result is audited as
    ``screening.list_read``, as the list is.

    Raises:
        CaseNotFound: the user may not see the case.
        ScreeningNotFound: no such screening on this case.
    """
    access = _access(user, case)
    screening = (
        Screening.objects.filter(case=case, pk=screening_id)
        .select_related("assessor")
        .first()
    )
    if screening is None:
        raise ScreeningNotFound(_("No such screening."))
    if access.legal_only:
        with transaction.atomic():
            audit.record(
                actor=user,
                action="screening.list_read",
                target=case,
                data={"screenings": [str(screening.pk)]},
            )
        return ScreeningDetail(
            screening=screening,
            case=case,
            access=access,
            responses=None,
            note=None,
            withheld=True,
        )
    with transaction.atomic():
        audit.record(
            actor=user,
            action="screening.read",
            target=screening,
            data={"case": str(case.pk)},
        )
    answers: dict[str, Any] | None = None
    if screening.sealed_responses and not case.person.is_erased:
        try:
            raw = crypto.unseal_for(
                case.person.data_key_id,
                bytes(screening.sealed_responses),
                context=screening.responses_context(),
            )
        except crypto.KeyDestroyed:
            answers = None
        else:
            answers = json.loads(raw)
    if answers is None:
        return ScreeningDetail(
            screening=screening, case=case, access=access, responses=None, note=None
        )
    return ScreeningDetail(
        screening=screening,
        case=case,
        access=access,
        responses=dict(answers.get("responses", {})),
        facts=dict(answers.get("facts", {})),
        note=str(answers.get("note", "")),
    )


@dataclass(frozen=True)
class ListsForCase:
    """The lists a screening of this case would use, per type of exploitation."""

    instrument: Instrument
    child: bool
    lists: list[IndicatorList]


def lists_for_case(
    *, user: User, case: Case, exploitation: list[str] | None = None
) -> ListsForCase:
    """Return the indicator lists a screening of ``case`` would use.

    The child lists when the person is or may be a child. No personal data is
    read, so nothing is audited.

    Args:
        exploitation: the types looked for; both (labour, sexual) when None.

    Raises:
        CaseNotFound: the user may not see the case.
        ScreeningInputError: an unknown type of exploitation.
    """
    _access(user, case)
    instrument = load_instrument()
    child = case.person.presumed_child
    kinds = list(EXPLOITATION) if exploitation is None else exploitation
    return ListsForCase(
        instrument=instrument,
        child=child,
        lists=lists_for(instrument, child=child, exploitation=kinds),
    )


def latest_screening(case: Case) -> Screening | None:
    """Return the case's latest screening with only its id and result loaded.

    The result (``refer``, ``continue_assessment``, ``no_indication``) is not
    personal data, so this read is not audited; the answers stay sealed.
    """
    return Screening.objects.filter(case=case).order_by("-at").only("result").first()


def suggests_referral(case: Case) -> bool:
    """Return True if the case's latest screening says "refer to the competent
    authority" (SOPS §5.3 design note)."""
    latest = latest_screening(case)
    return latest is not None and latest.result == Action.REFER
