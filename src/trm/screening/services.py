"""The only writer of screenings (SOP 1, SOPS §5 and §6.2 region A).

A screening records answers to the ILO/EC indicators, scores them
(:mod:`trm.screening.scoring`) and moves the identification track to
"screening". It never moves it further: recording a presumed or identified
trafficked person is a decision people take with their own services
(:mod:`trm.identification`), whatever the indicators suggest (SOPS §6.5 rule 10).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import Role, User
from trm.audit import services as audit
from trm.cases.services import (
    lock_case,
    move_track,
    record_case_event,
    require_live_person,
)
from trm.cases.tracks import Identification
from trm.dataprotection import crypto
from trm.screening.errors import (
    ScreeningCaseClosed,
    ScreeningInvalidInput,
    ScreeningRoleRequired,
)
from trm.screening.instrument import ScreeningInputError, lists_for, load_instrument
from trm.screening.models import Screening
from trm.screening.scoring import parse_responses, score_lists

#: Roles on the case team that may screen (SOPS §6.3: FCP, SP, SS, police…).
SCREENING_ROLES = frozenset(
    {
        Role.FIRST_CONTACT_POINT,
        Role.CASE_MANAGER,
        Role.SERVICE_PROVIDER,
        Role.COMPETENT_AUTHORITY,
    }
)
#: Identification states a screening moves to "screening" (re-screening after
#: "no indication" re-opens it); in any other state the track stays where it is.
MOVES_TO_SCREENING = frozenset(
    {Identification.SIGNAL_RECEIVED, Identification.NO_INDICATION}
)
MAX_NOTE_CHARS = 5000
#: A screening never answers more indicators than the lists hold; this bounds
#: the work done on a malformed request before the ids are checked.
MAX_RESPONSES = 1000


def _invalid(exc: ScreeningInputError) -> ScreeningInvalidInput:
    details: dict[str, Any] = {"field": exc.field}
    if exc.ids:
        details["ids"] = list(exc.ids)
    return ScreeningInvalidInput(exc.message, details=details, reasons=exc.reasons)


def _clean_exploitation(exploitation: Any) -> list[str]:
    if isinstance(exploitation, str) or not all(
        isinstance(kind, str) for kind in exploitation
    ):
        raise ScreeningInvalidInput(
            _("Give the types of exploitation as a list."),
            details={"field": "exploitation"},
        )
    return list(dict.fromkeys(exploitation))


@transaction.atomic(durable=True)
def screening_record(
    *,
    actor: User,
    case_id: UUID,
    exploitation: list[str],
    responses: Mapping[str, Mapping[str, str]],
    facts: Mapping[str, str] | None = None,
    note: str = "",
) -> Screening:
    """Record a screening of the case's person against the ILO/EC indicators.

    The lists follow the person: the child lists whenever the person is or may
    be a child (``Person.presumed_child``), one list per type of exploitation
    (``labour``, ``sexual``). Indicators not answered count as not assessed.
    The answers and ``note`` are sealed under the person's data key; the result
    and the per-dimension summary stay in clear. The identification track moves
    ``signal_received → screening`` (or ``no_indication → screening``), never
    beyond, whatever the result (SOPS §6.5 rule 10). A timeline event
    ``sop1.screening_recorded`` carries the result code.

    Args:
        responses: indicator id → ``{"value": present|absent|not_assessed,
            "evidence": observed|self_reported|documented}`` (evidence required
            when present, empty when not assessed).
        facts: fact id → value, e.g. ``{"recruitment_act": "present"}`` for a
            child (SOPS §5.3: no "means" are needed for a child).

    Raises:
        CaseNotFound: no such case, or the actor may not see it.
        ScreeningRoleRequired: the actor's roles on the case may not screen.
        PersonErased: the person's data was erased.
        ScreeningCaseClosed: the case is closed.
        ScreeningInvalidInput: no or unknown type of exploitation, unknown
            indicator or fact ids (all listed in ``details["ids"]``), invalid
            answers, or a note too long. Nothing is written.
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    if not access.roles & SCREENING_ROLES:
        raise ScreeningRoleRequired(
            _("Only these roles on the case may screen: %(roles)s.")
            % {"roles": ", ".join(str(Role(r).label) for r in sorted(SCREENING_ROLES))},
            details={"allowed_roles": sorted(SCREENING_ROLES)},
        )
    require_live_person(case)
    if case.is_closed:
        raise ScreeningCaseClosed(_("The case is closed; re-open it to screen."))
    kinds = _clean_exploitation(exploitation)
    if len(responses) > MAX_RESPONSES:
        raise ScreeningInvalidInput(
            _("Too many answers."), details={"field": "responses"}
        )
    note = note.strip()
    if len(note) > MAX_NOTE_CHARS:
        raise ScreeningInvalidInput(
            _("A note may hold at most %(n)d characters.") % {"n": MAX_NOTE_CHARS},
            details={"field": "note"},
        )
    instrument = load_instrument()
    try:
        lists = lists_for(
            instrument, child=case.person.presumed_child, exploitation=kinds
        )
        parsed = parse_responses(responses, instrument=instrument)
        combined = score_lists(instrument, lists, parsed, facts=facts or {})
    except ScreeningInputError as exc:
        raise _invalid(exc) from None

    if case.identification in MOVES_TO_SCREENING:
        move_track(
            actor=actor,
            case=case,
            access=access,
            track="identification",
            target=Identification.SCREENING,
            reason="",
        )
    screening = Screening(
        case=case,
        assessor=actor,
        at=timezone.now(),
        instrument=instrument.code,
        instrument_version=instrument.version,
        list_ids=[entry.id for entry in lists],
        exploitation=[kind for kind in ("labour", "sexual") if kind in kinds],
        child_lists=case.person.presumed_child,
        result=str(combined.action),
        rule_result=str(combined.rule_result),
        dimension_summary=combined.summary(),
    )
    answers = {
        "responses": {
            indicator_id: {"value": r.value, "evidence": r.evidence}
            for indicator_id, r in sorted(parsed.items())
        },
        "facts": {k: v for r in combined.results for k, v in r.facts.items()},
        "note": note,
    }
    screening.sealed_responses = crypto.seal_for(
        case.person.data_key_id,
        json.dumps(answers, sort_keys=True).encode(),
        context=screening.responses_context(),
    )
    screening.save(force_insert=True)
    record_case_event(
        case=case, actor=actor, kind="sop1.screening_recorded", code=screening.result
    )
    audit.record(
        actor=actor,
        action="screening.recorded",
        target=screening,
        data={
            "case": str(case.pk),
            "lists": screening.list_ids,
            "result": screening.result,
            "rule_result": screening.rule_result,
        },
    )
    return screening
