"""The ILO/EC screening instrument as data, and pure scoring (no database).

The indicator lists, grades and rules live in ``instruments/ilo_ec_2009.yaml``
(SOPS §5.7), checked against ``instruments/schema.json`` and then by
:func:`read_instrument` (unique ids, known dimensions, grades and rule
references). :func:`score` applies the rules to one list's answers;
:func:`score_lists` to several lists at once (a case screened for labour and
sexual exploitation), whose overall result is the strongest of the lists'.

Results say what the indicators suggest and what to do next, never who is a
trafficked person: a screening is not a legal determination (ILO/EC 2009;
SOPS §5.3 design note), and missing indicators do not rule trafficking out
(UNODC E4J, SOPS §5.3).

Sources: ILO/EC *Operational indicators of trafficking in human beings*
(WCMS_105023), read only through the secondary synthesis in SOPS §5.2–5.6.
Every grade and rule is therefore marked ``verified: false`` in the data.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import combinations
from pathlib import Path
from typing import Any, TypeAlias

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from trm.common.yamldata import (
    DataFileError,
    LoadedYaml,
    Problem,
    load_schema,
    load_yaml,
    schema_problems,
)

INSTRUMENTS_DIR = Path(__file__).resolve().parent / "instruments"
DEFAULT_PATH = INSTRUMENTS_DIR / "ilo_ec_2009.yaml"
SCHEMA_PATH = INSTRUMENTS_DIR / "schema.json"

PRESENT, ABSENT, NOT_ASSESSED = "present", "absent", "not_assessed"
#: What an answer to an indicator (or a fact) may be (SOPS §5.3 design note).
VALUES: tuple[str, ...] = (PRESENT, ABSENT, NOT_ASSESSED)
#: How an answer was learned; required when the indicator is present.
EVIDENCE: tuple[str, ...] = ("observed", "self_reported", "documented")
#: Types of exploitation a screening may look for; each picks a list.
EXPLOITATION: tuple[str, ...] = ("labour", "sexual")
ADULT, CHILD = "adult", "child"

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
EXPLOITATION_LABELS: dict[str, Promise] = {
    "labour": _("Labour exploitation"),
    "sexual": _("Sexual exploitation"),
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
        "Insufficient data: indicators not yet assessed could meet the rule"
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


# --- the instrument ---------------------------------------------------------------


@dataclass(frozen=True)
class Dimension:
    """One of the six dimensions of the Palermo definition (SOPS §5.1)."""

    id: str
    key: str
    title: str


@dataclass(frozen=True)
class Fact:
    """A fact recorded beside the indicators (e.g. the Palermo act for a child).

    Attributes:
        lists: ids of the lists it applies to.
    """

    id: str
    title: str
    lists: tuple[str, ...]
    source: str = ""


@dataclass(frozen=True)
class Indicator:
    """One graded indicator of one list.

    Attributes:
        id: ``<list prefix>.<dimension>.<key>``, unique in the instrument.
        list_id: the list it belongs to.
        dimension: a :class:`Dimension` id.
        title: plain English label (translated at display through gettext).
        grade: a grade id (``S``, ``M`` or ``W``).
        verified: checked against the ILO source (false everywhere today).
        source: where the label and grade come from.
        note: why the grade is uncertain, if it is.
        source_label: the source's wording, where ``title`` departs from it.
    """

    id: str
    list_id: str
    dimension: str
    title: str
    grade: str
    verified: bool
    source: str
    note: str = ""
    source_label: str = ""


@dataclass(frozen=True)
class IndicatorList:
    """One of the four lists (population × type of exploitation).

    Attributes:
        scoring: False for a list kept only as a checklist (its result is
            always "continue the assessment").
        grades: the grades its indicators may have.
    """

    id: str
    title: str
    population: str
    exploitation: str
    grades: tuple[str, ...]
    scoring: bool
    verified: bool
    source: str
    note: str
    indicators: tuple[Indicator, ...]

    @functools.cached_property
    def indicator_ids(self) -> frozenset[str]:
        return frozenset(i.id for i in self.indicators)

    @property
    def is_verified(self) -> bool:
        """True only when the list and every indicator in it are verified."""
        return self.verified and all(i.verified for i in self.indicators)

    def in_dimension(self, dimension_id: str) -> tuple[Indicator, ...]:
        """Return the list's indicators of one dimension, in file order."""
        return tuple(i for i in self.indicators if i.dimension == dimension_id)


#: One alternative of the dimension rule: (grade set, minimum count) slots.
Alternative: TypeAlias = tuple[tuple[frozenset[str], int], ...]


@dataclass(frozen=True)
class DimensionRule:
    """When a dimension counts as present (SOPS §5.2).

    Attributes:
        alternatives: any one suffices; each gives the minimum number of
            distinct present indicators per grade set.
    """

    alternatives: tuple[Alternative, ...]
    source: str
    verified: bool

    def met(self, counts: Mapping[str, int]) -> bool:
        """Return True if present-indicator ``counts`` (grade → n) meet the rule."""
        return any(_alternative_met(alt, counts) for alt in self.alternatives)

    def describe(self) -> str:
        """Return the rule as ``2S | 1S+1(M|W) | 3M | 2M+1W`` (SOPS §5.7)."""
        parts = []
        for alt in self.alternatives:
            slots = [
                f"{n}{next(iter(g))}" if len(g) == 1 else f"{n}({'|'.join(sorted(g))})"
                for g, n in alt
            ]
            parts.append("+".join(slots))
        return " | ".join(parts)


def _alternative_met(alternative: Alternative, counts: Mapping[str, int]) -> bool:
    # Each present indicator fills at most one slot. Slots of one group share
    # their allowed grades, so by Hall's theorem an assignment exists iff every
    # union of whole groups has enough indicators of the grades they accept.
    for size in range(1, len(alternative) + 1):
        for subset in combinations(alternative, size):
            need = sum(n for _grades, n in subset)
            grades = frozenset().union(*(g for g, _n in subset))
            if sum(counts.get(g, 0) for g in grades) < need:
                return False
    return True


@dataclass(frozen=True)
class AllOf:
    """Every term must hold."""

    terms: tuple[Term, ...]


@dataclass(frozen=True)
class AnyOf:
    """At least one term must hold."""

    terms: tuple[Term, ...]


#: A combination-rule term: a dimension id, a fact id, or a group of terms.
Term: TypeAlias = "str | AllOf | AnyOf"


def term_refs(term: Term) -> Iterable[str]:
    """Yield every dimension or fact id a term refers to."""
    if isinstance(term, str):
        yield term
    else:
        for inner in term.terms:
            yield from term_refs(inner)


def describe_term(term: Term) -> str:
    """Return a term as ``(D1 | D2 | D3) & D4 & (D5 | D6)`` (SOPS §5.7)."""
    if isinstance(term, str):
        return term
    joiner = " & " if isinstance(term, AllOf) else " | "
    inner = [describe_term(t) for t in term.terms]
    text = joiner.join(
        f"({part})" if not isinstance(t, str) and len(t.terms) > 1 else part
        for t, part in zip(term.terms, inner, strict=True)
    )
    return text


@dataclass(frozen=True)
class CombinationRule:
    """Which dimensions and facts must be present, per population (SOPS §5.3)."""

    by_population: Mapping[str, Term]
    source: str
    verified: bool


@dataclass(frozen=True)
class Instrument:
    """A loaded screening instrument (immutable, shared per process)."""

    code: str
    version: str
    title: str
    source: str
    verified: bool
    path: str
    grades: Mapping[str, str]
    dimensions: tuple[Dimension, ...]
    facts: tuple[Fact, ...]
    dimension_rule: DimensionRule
    combination_rule: CombinationRule
    lists: tuple[IndicatorList, ...]

    def get_list(self, list_id: str) -> IndicatorList:
        """Return the list ``list_id``.

        Raises:
            KeyError: no such list.
        """
        for indicator_list in self.lists:
            if indicator_list.id == list_id:
                return indicator_list
        raise KeyError(list_id)

    def get_dimension(self, dimension_id: str) -> Dimension:
        """Return a dimension by id (``KeyError`` if unknown)."""
        for dimension in self.dimensions:
            if dimension.id == dimension_id:
                return dimension
        raise KeyError(dimension_id)

    def facts_for(self, list_ids: Iterable[str]) -> tuple[Fact, ...]:
        """Return the facts that apply to any of ``list_ids``, in file order."""
        wanted = set(list_ids)
        return tuple(f for f in self.facts if wanted & set(f.lists))

    def rule_for(self, indicator_list: IndicatorList) -> Term:
        """Return the combination rule of the list's population."""
        return self.combination_rule.by_population[indicator_list.population]


# --- loading ----------------------------------------------------------------------


@functools.cache
def _schema() -> dict[str, Any]:
    return load_schema(SCHEMA_PATH)


def load_instrument(path: str | Path | None = None) -> Instrument:
    """Return the instrument in ``path`` (default: ILO/EC 2009), cached per process.

    Raises:
        DataFileError: the file is missing, not valid YAML, does not match
            ``instruments/schema.json``, or breaks a rule of
            :func:`read_instrument`; every problem names file, line and field.
    """
    return _load_cached(str(Path(path) if path is not None else DEFAULT_PATH))


@functools.cache
def _load_cached(path: str) -> Instrument:
    return read_instrument(path)


def read_instrument(path: str | Path, *, text: str | None = None) -> Instrument:
    """Parse and check an instrument file (uncached; ``text`` if already read).

    Besides the JSON Schema, checks: ids are unique (grades, dimensions,
    dimension keys, facts, lists, indicators across all lists); an indicator's
    dimension exists and matches its id; a list uses only grades the
    instrument defines and its indicators only the list's grades; the rules
    name only known grades, dimensions and facts; and every fact a list's rule
    needs applies to that list.

    Raises:
        DataFileError: with every problem found (nothing is half-loaded).
    """
    document = load_yaml(path, text=text)
    problems = schema_problems(document, _schema())
    if problems:
        raise DataFileError(problems)
    instrument, problems = _build(document)
    if problems:
        raise DataFileError(problems)
    return instrument


def _unique(
    document: LoadedYaml,
    items: Sequence[Mapping[str, Any]],
    base: tuple[str | int, ...],
    field: str,
    seen: dict[str, str] | None = None,
) -> list[Problem]:
    seen = {} if seen is None else seen
    problems = []
    for index, item in enumerate(items):
        value = str(item[field])
        path = (*base, index, field)
        if value in seen:
            problems.append(
                document.problem(path, f"“{value}” is already used ({seen[value]})")
            )
        else:
            seen[value] = f"line {document.line_of(path)}"
    return problems


def _term(raw: Any) -> Term:
    if isinstance(raw, str):
        return raw
    if "all_of" in raw:
        return AllOf(tuple(_term(t) for t in raw["all_of"]))
    return AnyOf(tuple(_term(t) for t in raw["any_of"]))


def _term_paths(raw: Any, path: tuple[str | int, ...]) -> Iterable[tuple[Any, str]]:
    if isinstance(raw, str):
        yield path, raw
        return
    key = "all_of" if "all_of" in raw else "any_of"
    for index, inner in enumerate(raw[key]):
        yield from _term_paths(inner, (*path, key, index))


def _build(document: LoadedYaml) -> tuple[Instrument, list[Problem]]:
    data = document.data
    problems: list[Problem] = []
    problems += _unique(document, data["grades"], ("grades",), "id")
    problems += _unique(document, data["dimensions"], ("dimensions",), "key")
    problems += _unique(document, data["lists"], ("lists",), "id")
    # Rules name dimensions and facts alike: one namespace for both.
    names: dict[str, str] = {}
    problems += _unique(document, data["dimensions"], ("dimensions",), "id", names)
    problems += _unique(document, data["facts"], ("facts",), "id", names)
    grades = {g["id"]: g["title"] for g in data["grades"]}
    dimensions = {d["id"] for d in data["dimensions"]}
    list_ids = {entry["id"] for entry in data["lists"]}
    fact_lists = {f["id"]: set(f["lists"]) for f in data["facts"]}

    for f_index, fact in enumerate(data["facts"]):
        for l_index, list_id in enumerate(fact["lists"]):
            if list_id not in list_ids:
                problems.append(
                    document.problem(
                        ("facts", f_index, "lists", l_index),
                        f"no list “{list_id}” in this file",
                    )
                )

    alternatives: list[Alternative] = []
    for a_index, alternative in enumerate(data["dimension_rule"]["any_of"]):
        slots = []
        for key, count in alternative.items():
            grade_set = frozenset(key.split("|"))
            unknown = sorted(grade_set - set(grades))
            if unknown:
                problems.append(
                    document.problem(
                        ("dimension_rule", "any_of", a_index, key),
                        f"unknown grade(s) {', '.join(unknown)}; "
                        f"known: {', '.join(grades)}",
                    )
                )
            slots.append((grade_set, int(count)))
        alternatives.append(tuple(slots))

    combination: dict[str, Term] = {}
    for population in (ADULT, CHILD):
        raw = data["combination_rule"][population]
        for path, ref in _term_paths(raw, ("combination_rule", population)):
            if ref not in dimensions and ref not in fact_lists:
                problems.append(
                    document.problem(
                        path, f"“{ref}” is neither a dimension nor a fact id"
                    )
                )
        combination[population] = _term(raw)

    seen_indicators: dict[str, str] = {}
    lists: list[IndicatorList] = []
    for l_index, entry in enumerate(data["lists"]):
        base = ("lists", l_index)
        problems += _unique(
            document, entry["indicators"], (*base, "indicators"), "id", seen_indicators
        )
        for g_index, grade in enumerate(entry["grades"]):
            if grade not in grades:
                problems.append(
                    document.problem(
                        (*base, "grades", g_index), f"unknown grade “{grade}”"
                    )
                )
        for ref in term_refs(combination[entry["population"]]):
            if ref in fact_lists and entry["id"] not in fact_lists[ref]:
                problems.append(
                    document.problem(
                        (*base, "population"),
                        f"the {entry['population']} rule needs fact “{ref}”, "
                        f"which does not apply to this list",
                    )
                )
        prefixes = {i["id"].split(".")[0] for i in entry["indicators"]}
        if len(prefixes) > 1:
            problems.append(
                document.problem(
                    (*base, "indicators"),
                    "indicator ids use several prefixes "
                    f"({', '.join(sorted(prefixes))}); use one per list",
                )
            )
        indicators = []
        for i_index, raw in enumerate(entry["indicators"]):
            path = (*base, "indicators", i_index)
            if raw["dimension"] not in dimensions:
                problems.append(
                    document.problem(
                        (*path, "dimension"), f"unknown dimension “{raw['dimension']}”"
                    )
                )
            elif raw["id"].split(".")[1] != raw["dimension"].lower():
                problems.append(
                    document.problem(
                        (*path, "id"),
                        f"the id says {raw['id'].split('.')[1]}, the dimension is "
                        f"{raw['dimension']}",
                    )
                )
            if raw["grade"] not in entry["grades"]:
                problems.append(
                    document.problem(
                        (*path, "grade"),
                        f"grade “{raw['grade']}” is not allowed in this list "
                        f"(allowed: {', '.join(entry['grades'])})",
                    )
                )
            indicators.append(
                Indicator(
                    id=raw["id"],
                    list_id=entry["id"],
                    dimension=raw["dimension"],
                    title=raw["title"],
                    grade=raw["grade"],
                    verified=raw["verified"],
                    source=raw["source"],
                    note=raw.get("note", ""),
                    source_label=raw.get("source_label", ""),
                )
            )
        lists.append(
            IndicatorList(
                id=entry["id"],
                title=entry["title"],
                population=entry["population"],
                exploitation=entry["exploitation"],
                grades=tuple(entry["grades"]),
                scoring=entry["scoring"],
                verified=entry["verified"],
                source=entry["source"],
                note=entry.get("note", ""),
                indicators=tuple(indicators),
            )
        )
    pairs: dict[tuple[str, str], int] = {}
    for l_index, entry in enumerate(data["lists"]):
        pair = (entry["population"], entry["exploitation"])
        if pair in pairs:
            problems.append(
                document.problem(
                    ("lists", l_index, "exploitation"),
                    f"a second {pair[0]} list for {pair[1]} exploitation "
                    f"(the first is list {pairs[pair] + 1})",
                )
            )
        pairs.setdefault(pair, l_index)

    instrument = Instrument(
        code=data["instrument"],
        version=data["version"],
        title=data["title"],
        source=data["source"],
        verified=data["verified"],
        path=document.file,
        grades=grades,
        dimensions=tuple(
            Dimension(id=d["id"], key=d["key"], title=d["title"])
            for d in data["dimensions"]
        ),
        facts=tuple(
            Fact(
                id=f["id"],
                title=f["title"],
                lists=tuple(f["lists"]),
                source=f.get("source", ""),
            )
            for f in data["facts"]
        ),
        dimension_rule=DimensionRule(
            alternatives=tuple(alternatives),
            source=data["dimension_rule"]["source"],
            verified=data["dimension_rule"]["verified"],
        ),
        combination_rule=CombinationRule(
            by_population=combination,
            source=data["combination_rule"]["source"],
            verified=data["combination_rule"]["verified"],
        ),
        lists=tuple(lists),
    )
    return instrument, problems


# --- choosing lists ---------------------------------------------------------------


class ScreeningInputError(ValueError):
    """Answers that cannot be scored; nothing is guessed or ignored.

    Attributes:
        field: the input at fault (``exploitation``, ``responses``, ``facts``).
        ids: the indicator, fact or list ids concerned (sorted).
    """

    def __init__(self, message: str, *, field: str, ids: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.ids = tuple(sorted(set(ids)))


def lists_for(
    instrument: Instrument, *, child: bool, exploitation: Iterable[str]
) -> list[IndicatorList]:
    """Return the lists to screen against, one per type of exploitation.

    The child lists are used whenever the person is or may be a child
    (``Person.presumed_child``: the presumption of minority, CETS 10(3)).
    Order follows :data:`EXPLOITATION` (labour, then sexual).

    Raises:
        ScreeningInputError: no type given, or an unknown one
            (``field="exploitation"``).
    """
    chosen = set(exploitation)
    if not chosen:
        raise ScreeningInputError(
            str(_("Choose the type of exploitation suspected.")),
            field="exploitation",
        )
    unknown = chosen - set(EXPLOITATION)
    if unknown:
        raise ScreeningInputError(
            str(_("Unknown type of exploitation: %(types)s."))
            % {"types": ", ".join(sorted(unknown))},
            field="exploitation",
            ids=unknown,
        )
    population = CHILD if child else ADULT
    return [
        entry
        for kind in EXPLOITATION
        if kind in chosen
        for entry in instrument.lists
        if entry.population == population and entry.exploitation == kind
    ]


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


def parse_responses(raw: Mapping[str, Any]) -> dict[str, Response]:
    """Turn ``{id: {"value", "evidence"}}`` (or :class:`Response`) into responses.

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
        text = "; ".join(
            f"{messages[kind]}: {', '.join(sorted(ids))}"
            for kind, ids in sorted(bad.items())
        )
        raise ScreeningInputError(
            f"{text}.",
            field="responses",
            ids=[i for ids in bad.values() for i in ids],
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
            % {"ids": ", ".join(sorted(unknown))},
            field="facts",
            ids=unknown,
        )
    bad = {k for k, v in facts.items() if v not in VALUES}
    if bad:
        raise ScreeningInputError(
            str(_("Answer present, absent or not assessed for: %(ids)s."))
            % {"ids": ", ".join(sorted(bad))},
            field="facts",
            ids=bad,
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
            % {"ids": ", ".join(sorted(unknown))},
            field="responses",
            ids=unknown,
        )
    parse_responses(responses)  # every answer must be valid, even if unused
    checked_facts = _check_facts(instrument, [e.id for e in lists], facts or {})
    results = tuple(
        _score_list(instrument, entry, responses, checked_facts) for entry in lists
    )
    return CombinedResult(
        results=results,
        action=max((r.action for r in results), key=ACTION_ORDER.index),
        rule_result=max((r.rule_result for r in results), key=RULE_ORDER.index),
    )


# --- translatable strings -----------------------------------------------------------


def translatable_texts(instrument: Instrument) -> list[str]:
    """Return every label and note shown on screen, once each, in file order."""
    texts = [instrument.title, *instrument.grades.values()]
    texts += [d.title for d in instrument.dimensions]
    texts += [f.title for f in instrument.facts]
    for entry in instrument.lists:
        texts.append(entry.title)
        if entry.note:
            texts.append(entry.note)
    for entry in instrument.lists:
        for indicator in entry.indicators:
            texts.append(indicator.title)
            if indicator.note:
                texts.append(indicator.note)
    return list(dict.fromkeys(texts))


STRINGS_HEADER = '''\
"""Labels of the screening instrument, for translation. Generated: do not edit.

Run ``trm screening strings`` after changing ``instruments/ilo_ec_2009.yaml``
(``trm screening strings --check`` fails while this file is out of date).
``makemessages`` finds the labels here; pages translate them at display time.
"""

# ruff: noqa: E501

from django.utils.translation import gettext_noop

STRINGS = (
'''

#: Longest line ruff format keeps on one line.
_LINE_LENGTH = 88


def render_strings_module(instrument: Instrument) -> str:
    """Return the source of ``strings.py`` for ``instrument`` (ruff-format stable)."""
    lines = [STRINGS_HEADER.rstrip("\n")]
    for text in translatable_texts(instrument):
        literal = json.dumps(text, ensure_ascii=False)
        one_line = f"    gettext_noop({literal}),"
        if len(one_line) <= _LINE_LENGTH:
            lines.append(one_line)
        else:
            lines += ["    gettext_noop(", f"        {literal}", "    ),"]
    lines.append(")")
    return "\n".join(lines) + "\n"
