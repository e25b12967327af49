"""The ILO/EC screening instrument as data (no database).

The indicator lists, grades and rules live in ``instruments/ilo_ec_2009.yaml``
(SOPS §5.7), checked against ``instruments/schema.json`` and then by
:func:`read_instrument` (unique ids, known dimensions, grades and rule
references). :func:`lists_for` picks the lists a screening uses; scoring the
answers against them is :mod:`trm.screening.scoring`.

Sources: ILO/EC *Operational indicators of trafficking in human beings*
(WCMS_105023), read only through the secondary synthesis in SOPS §5.2–5.6.
Every grade and rule is therefore marked ``verified: false`` in the data.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
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

#: Types of exploitation a screening may look for; each picks a list.
EXPLOITATION: tuple[str, ...] = ("labour", "sexual")
ADULT, CHILD = "adult", "child"

EXPLOITATION_LABELS: dict[str, Promise] = {
    "labour": _("Labour exploitation"),
    "sexual": _("Sexual exploitation"),
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

    @functools.cached_property
    def _by_id(self) -> dict[str, Indicator | Fact]:
        found: dict[str, Indicator | Fact] = {fact.id: fact for fact in self.facts}
        found.update(
            (indicator.id, indicator)
            for entry in self.lists
            for indicator in entry.indicators
        )
        return found

    def find(self, ref: str) -> Indicator | Fact | None:
        """Return the indicator or fact with id ``ref``, or None."""
        return self._by_id.get(ref)

    def title_of(self, ref: str) -> str:
        """Return the (English) title of an indicator or fact id; ``""`` if unknown."""
        item = self.find(ref)
        return item.title if item is not None else ""


def describe_refs(ids: Iterable[str], instrument: Instrument | None = None) -> str:
    """Name indicators or facts for people: their translated titles, quoted.

    An indicator also gets its dimension (``D2``), as the form shows it: a
    list may have the same title in two dimensions (debt bondage). Ids the
    instrument does not know (sent by an API client) are named as sent: there
    is nothing else to call them. The ids themselves belong in an error's
    ``details``, for programs.
    """
    names = []
    for ref in sorted(set(ids)):
        item = instrument.find(ref) if instrument is not None else None
        if isinstance(item, Indicator):
            names.append(
                str(_("“%(title)s” (%(dimension)s)"))
                % {"title": _(item.title), "dimension": item.dimension}
            )
        elif item is not None:
            names.append(str(_("“%(title)s”")) % {"title": _(item.title)})
        else:
            names.append(ref)
    return "; ".join(names)


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
        message: for people; names indicators and facts by their titles.
        field: the input at fault (``exploitation``, ``responses``, ``facts``).
        ids: the indicator, fact or list ids concerned (sorted).
        reasons: id → what is wrong with that one answer, without naming it
            (shown beside the answer on a form); may leave ids out.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str,
        ids: Iterable[str] = (),
        reasons: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.ids = tuple(sorted(set(ids)))
        self.reasons = dict(reasons or {})


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
