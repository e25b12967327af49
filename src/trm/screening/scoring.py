"""Pure scoring of a screening's answers against the instrument (no database).

:func:`score` applies the instrument's rules to one list's answers;
:func:`score_lists` to several lists at once (a case screened for labour and
sexual exploitation), whose overall result is the strongest of the lists'.

Results say what the indicators suggest and what to do next, never who is a
trafficked person: a screening is not a legal determination (ILO/EC 2009;
SOPS §5.3 design note), and missing indicators do not rule trafficking out
(UNODC E4J, SOPS §5.3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from trm.screening.instrument import (
    AllOf,
    IndicatorList,
    Instrument,
    ScreeningInputError,
    Term,
    describe_refs,
)

PRESENT, ABSENT, NOT_ASSESSED = "present", "absent", "not_assessed"
#: What an answer to an indicator (or a fact) may be (SOPS §5.3 design note).
VALUES: tuple[str, ...] = (PRESENT, ABSENT, NOT_ASSESSED)
#: How an answer was learned; required when the indicator is present.
EVIDENCE: tuple[str, ...] = ("observed", "self_reported", "documented")

VALUE_LABELS: dict[str, Promise] = {
    PRESENT: _("Present"),
    ABSENT: _("Absent"),
    NOT_ASSESSED: _("Not assessed"),
}
EVIDENCE_LABELS: dict[str, Promise] = {
    "observed": _("Observed"),
    "self_reported": _("Self-reported"),
    "documented": _("Documented"),
}


class Action(StrEnum):
    """The recommended next step (SOPS §5.7 ``recommended_action``)."""

    NO_INDICATION = "no_indication"
    CONTINUE_ASSESSMENT = "continue_assessment"
    REFER = "refer"


class RuleResult(StrEnum):
    """Whether the combination rule holds (SOPS §5.7 ``rule_result``)."""

    INDICATIVE_NEGATIVE = "indicative_negative"
    INSUFFICIENT_DATA = "insufficient_data"
    INDICATIVE_POSITIVE = "indicative_positive"


class Reason(StrEnum):
    """Why a list got its result (kept with the result; explained in plain words)."""

    RULE_HOLDS = "rule_holds"
    RULE_COULD_HOLD = "rule_could_hold"
    INDICATORS_PRESENT = "indicators_present"
    NO_INDICATORS = "no_indicators"
    NOT_SCORED = "not_scored"


#: Weakest first: the overall result of several lists is the strongest one.
ACTION_ORDER: tuple[Action, ...] = tuple(Action)
RULE_ORDER: tuple[RuleResult, ...] = tuple(RuleResult)

ACTION_LABELS: dict[str, Promise] = {
    Action.REFER: _(
        "Indicators suggest a presumed trafficked person — refer to the "
        "competent authority"
    ),
    Action.CONTINUE_ASSESSMENT: _("Continue the assessment"),
    Action.NO_INDICATION: _(
        "No indication from these indicators — missing indicators do not rule "
        "trafficking out"
    ),
}
RULE_LABELS: dict[str, Promise] = {
    RuleResult.INDICATIVE_POSITIVE: _("Indicative: the combination rule is met"),
    RuleResult.INSUFFICIENT_DATA: _(
        "Insufficient data: the combination rule cannot be applied yet"
    ),
    RuleResult.INDICATIVE_NEGATIVE: _("The combination rule is not met"),
}
REASON_LABELS: dict[str, Promise] = {
    Reason.RULE_HOLDS: _(
        "The indicators found present meet the combination rule of this list."
    ),
    Reason.RULE_COULD_HOLD: _(
        "The combination rule is not met yet, but indicators not assessed could "
        "meet it: assess them."
    ),
    Reason.INDICATORS_PRESENT: _(
        "Some indicators are present, but not enough to meet the combination "
        "rule. Keep assessing; the person may still be a trafficked person."
    ),
    Reason.NO_INDICATORS: _(
        "No indicator was found present. Missing indicators do not rule "
        "trafficking out."
    ),
    Reason.NOT_SCORED: _(
        "Automatic scoring of this list is not available until the ILO tables "
        "are transcribed: the answers are kept as a checklist."
    ),
}


# --- answers ----------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    """The answer to one indicator.

    Attributes:
        value: ``present``, ``absent`` or ``not_assessed``.
        evidence: ``observed``, ``self_reported`` or ``documented``; required
            when present, optional when absent, empty when not assessed.
    """

    value: str
    evidence: str = ""

    def problem(self) -> str:
        """Return what is wrong with this answer, or ``""``."""
        if self.value not in VALUES:
            return "value"
        if self.evidence and self.evidence not in EVIDENCE:
            return "evidence"
        if self.value == PRESENT and not self.evidence:
            return "evidence_missing"
        if self.value == NOT_ASSESSED and self.evidence:
            return "evidence_not_assessed"
        return ""


def parse_responses(
    raw: Mapping[str, Any], *, instrument: Instrument | None = None
) -> dict[str, Response]:
    """Turn ``{id: {"value", "evidence"}}`` (or :class:`Response`) into responses.

    Args:
        instrument: names the indicators in the error message by their titles
            (by their ids without it).

    Raises:
        ScreeningInputError: an answer has an unknown value or evidence type,
            lacks the evidence of a present indicator, or gives evidence for
            one not assessed (``field="responses"``, the ids concerned).
    """
    responses: dict[str, Response] = {}
    bad: dict[str, list[str]] = {}
    for indicator_id, answer in raw.items():
        if isinstance(answer, Response):
            response = answer
        elif isinstance(answer, Mapping):
            extra = set(answer) - {"value", "evidence"}
            value, evidence = answer.get("value", ""), answer.get("evidence") or ""
            if extra or not isinstance(value, str) or not isinstance(evidence, str):
                bad.setdefault("value", []).append(str(indicator_id))
                continue
            response = Response(value=value, evidence=evidence)
        else:
            bad.setdefault("value", []).append(str(indicator_id))
            continue
        problem = response.problem()
        if problem:
            bad.setdefault(problem, []).append(str(indicator_id))
        else:
            responses[str(indicator_id)] = response
    if bad:
        messages = {
            "value": _("Answer present, absent or not assessed"),
            "evidence": _("Unknown evidence type"),
            "evidence_missing": _(
                "Say how a present indicator was learned (observed, self-reported "
                "or documented)"
            ),
            "evidence_not_assessed": _(
                "Leave the evidence empty for an indicator not assessed"
            ),
        }
        text = " ".join(
            f"{messages[kind]}: {describe_refs(ids, instrument)}."
            for kind, ids in sorted(bad.items())
        )
        raise ScreeningInputError(
            text,
            field="responses",
            ids=[i for ids in bad.values() for i in ids],
            reasons={i: f"{messages[kind]}." for kind, ids in bad.items() for i in ids},
        )
    return responses


# --- scoring ----------------------------------------------------------------------

_NO, _COULD, _YES = 0, 1, 2


@dataclass(frozen=True)
class DimensionResult:
    """One dimension of one list after scoring.

    Attributes:
        present: the dimension rule is met by the indicators found present.
        could_be_present: it would be met if every indicator not assessed
            were present.
        counts: present indicators per grade (every grade of the list).
        absent: indicators answered absent.
        not_assessed: indicators not assessed (or not answered).
    """

    dimension: str
    present: bool
    could_be_present: bool
    counts: Mapping[str, int]
    absent: int
    not_assessed: int

    @property
    def present_total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class ScreeningResult:
    """The result of one list.

    Attributes:
        scored: False for a checklist-only list (``scoring: false``).
        facts: fact id → value, for the facts that apply to this list.
        any_present: at least one indicator was found present.
    """

    list_id: str
    scored: bool
    verified: bool
    dimensions: tuple[DimensionResult, ...]
    facts: Mapping[str, str]
    rule_result: RuleResult
    action: Action
    reason: Reason
    any_present: bool

    @property
    def action_text(self) -> str:
        return str(ACTION_LABELS[self.action])

    @property
    def explanation(self) -> str:
        return str(REASON_LABELS[self.reason])

    def summary(self) -> dict[str, Any]:
        """Return the non-personal summary kept in clear (statistics)."""
        return {
            "scored": self.scored,
            "verified": self.verified,
            "rule_result": str(self.rule_result),
            "result": str(self.action),
            "reason": str(self.reason),
            "dimensions": {
                d.dimension: {
                    "present": d.present,
                    "could_be_present": d.could_be_present,
                    "counts": dict(d.counts),
                    "absent": d.absent,
                    "not_assessed": d.not_assessed,
                }
                for d in self.dimensions
            },
            "facts": dict(self.facts),
        }


@dataclass(frozen=True)
class CombinedResult:
    """The results of every list screened, and the strongest of them."""

    results: tuple[ScreeningResult, ...]
    action: Action
    rule_result: RuleResult

    @property
    def action_text(self) -> str:
        return str(ACTION_LABELS[self.action])

    def summary(self) -> dict[str, Any]:
        """Return ``{"lists": {list_id: ScreeningResult.summary()}}``."""
        return {"lists": {r.list_id: r.summary() for r in self.results}}


def _check_facts(
    instrument: Instrument, list_ids: Sequence[str], facts: Mapping[str, str]
) -> dict[str, str]:
    applicable = {f.id for f in instrument.facts_for(list_ids)}
    unknown = set(facts) - applicable
    if unknown:
        raise ScreeningInputError(
            str(_("These facts do not apply to the lists screened: %(ids)s."))
            % {"ids": describe_refs(unknown, instrument)},
            field="facts",
            ids=unknown,
            reasons=dict.fromkeys(
                unknown, str(_("This fact does not apply to the lists screened."))
            ),
        )
    bad = {k for k, v in facts.items() if v not in VALUES}
    if bad:
        raise ScreeningInputError(
            str(_("Answer present, absent or not assessed for: %(ids)s."))
            % {"ids": describe_refs(bad, instrument)},
            field="facts",
            ids=bad,
            reasons=dict.fromkeys(
                bad, str(_("Answer present, absent or not assessed."))
            ),
        )
    return {f: facts.get(f, NOT_ASSESSED) for f in sorted(applicable)}


def _value(value: str) -> int:
    return {PRESENT: _YES, NOT_ASSESSED: _COULD}.get(value, _NO)


def _evaluate(term: Term, values: Mapping[str, int]) -> int:
    if isinstance(term, str):
        return values[term]
    inner = [_evaluate(t, values) for t in term.terms]
    return min(inner) if isinstance(term, AllOf) else max(inner)


def _score_list(
    instrument: Instrument,
    indicator_list: IndicatorList,
    responses: Mapping[str, Response],
    facts: Mapping[str, str],
) -> ScreeningResult:
    dimension_results = []
    values: dict[str, int] = {}
    any_present = False
    for dimension in instrument.dimensions:
        present = dict.fromkeys(indicator_list.grades, 0)
        possible = dict.fromkeys(indicator_list.grades, 0)
        absent = not_assessed = 0
        for indicator in indicator_list.in_dimension(dimension.id):
            value = responses.get(indicator.id, Response(NOT_ASSESSED)).value
            if value == PRESENT:
                present[indicator.grade] += 1
                possible[indicator.grade] += 1
            elif value == NOT_ASSESSED:
                possible[indicator.grade] += 1
                not_assessed += 1
            else:
                absent += 1
        any_present = any_present or any(present.values())
        scored = indicator_list.scoring
        is_present = scored and instrument.dimension_rule.met(present)
        could = scored and instrument.dimension_rule.met(possible)
        values[dimension.id] = _YES if is_present else _COULD if could else _NO
        dimension_results.append(
            DimensionResult(
                dimension=dimension.id,
                present=is_present,
                could_be_present=could,
                counts=present,
                absent=absent,
                not_assessed=not_assessed,
            )
        )
    list_facts = {
        f.id: facts.get(f.id, NOT_ASSESSED)
        for f in instrument.facts
        if indicator_list.id in f.lists
    }
    values.update({k: _value(v) for k, v in list_facts.items()})
    if not indicator_list.scoring:
        rule, action, reason = (
            RuleResult.INSUFFICIENT_DATA,
            Action.CONTINUE_ASSESSMENT,
            Reason.NOT_SCORED,
        )
    else:
        holds = _evaluate(instrument.rule_for(indicator_list), values)
        if holds == _YES:
            rule, action, reason = (
                RuleResult.INDICATIVE_POSITIVE,
                Action.REFER,
                Reason.RULE_HOLDS,
            )
        elif holds == _COULD:
            rule, action, reason = (
                RuleResult.INSUFFICIENT_DATA,
                Action.CONTINUE_ASSESSMENT,
                Reason.RULE_COULD_HOLD,
            )
        elif any_present:
            rule, action, reason = (
                RuleResult.INDICATIVE_NEGATIVE,
                Action.CONTINUE_ASSESSMENT,
                Reason.INDICATORS_PRESENT,
            )
        else:
            rule, action, reason = (
                RuleResult.INDICATIVE_NEGATIVE,
                Action.NO_INDICATION,
                Reason.NO_INDICATORS,
            )
    return ScreeningResult(
        list_id=indicator_list.id,
        scored=indicator_list.scoring,
        verified=indicator_list.is_verified,
        dimensions=tuple(dimension_results),
        facts=list_facts,
        rule_result=rule,
        action=action,
        reason=reason,
        any_present=any_present,
    )


def _list_or_error(instrument: Instrument, list_id: str) -> IndicatorList:
    try:
        return instrument.get_list(list_id)
    except KeyError:
        raise ScreeningInputError(
            str(_("Unknown indicator list: %(id)s.")) % {"id": list_id},
            field="lists",
            ids=[list_id],
        ) from None


def score(
    instrument: Instrument,
    list_id: str,
    responses: Mapping[str, Response],
    *,
    facts: Mapping[str, str] | None = None,
) -> ScreeningResult:
    """Score one list's answers (SOPS §5.2–5.3).

    A dimension is present when the dimension rule holds for the indicators
    found present; "could be present" when it would hold if the indicators not
    assessed (or not answered) were present. The list's combination rule then
    gives ``indicative_positive`` → ``refer``; ``insufficient_data`` (it would
    hold with the unassessed ones) → ``continue_assessment``; otherwise
    ``indicative_negative`` → ``continue_assessment`` when any indicator is
    present, else ``no_indication``. A ``scoring: false`` list always gives
    ``insufficient_data`` / ``continue_assessment`` (reason ``not_scored``).

    Args:
        responses: indicator id → :class:`Response`; ids of this list only.
            Missing ids count as not assessed.
        facts: fact id → ``present``/``absent``/``not_assessed`` for the facts
            that apply to this list (e.g. ``recruitment_act`` for a child).

    Raises:
        ScreeningInputError: unknown list, indicator ids not in the list
            (all listed), facts that do not apply, or invalid answers.
    """
    indicator_list = _list_or_error(instrument, list_id)
    return score_lists(instrument, [indicator_list], responses, facts=facts).results[0]


def score_lists(
    instrument: Instrument,
    lists: Sequence[IndicatorList],
    responses: Mapping[str, Response],
    *,
    facts: Mapping[str, str] | None = None,
) -> CombinedResult:
    """Score several lists (e.g. labour and sexual) and combine the results.

    Each list is scored as in :func:`score` with the answers to its own
    indicators. The overall action and rule result are the strongest of the
    lists' (``refer`` over ``continue_assessment`` over ``no_indication``).

    Raises:
        ScreeningInputError: no list; an indicator id in no list screened (all
            such ids are listed, never ignored); a fact that applies to none of
            the lists; an answer that is not a valid :class:`Response`.
    """
    if not lists:
        raise ScreeningInputError(
            str(_("Choose the type of exploitation suspected.")),
            field="exploitation",
        )
    known = frozenset().union(*(entry.indicator_ids for entry in lists))
    unknown = set(responses) - known
    if unknown:
        raise ScreeningInputError(
            str(_("Unknown indicators for the lists screened: %(ids)s."))
            % {"ids": describe_refs(unknown, instrument)},
            field="responses",
            ids=unknown,
            reasons=dict.fromkeys(
                unknown, str(_("This indicator is not on the lists screened."))
            ),
        )
    # Every answer must be valid, even if unused.
    parse_responses(responses, instrument=instrument)
    checked_facts = _check_facts(instrument, [e.id for e in lists], facts or {})
    results = tuple(
        _score_list(instrument, entry, responses, checked_facts) for entry in lists
    )
    return CombinedResult(
        results=results,
        action=max((r.action for r in results), key=ACTION_ORDER.index),
        rule_result=max((r.rule_result for r in results), key=RULE_ORDER.index),
    )
