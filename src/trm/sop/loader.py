"""Load SOP definitions: the baseline and national variants, from YAML.

The five SOPs live as data in ``trm/sop/definitions/`` (ARCHITECTURE §5):
``baseline.yaml`` is complete; a national variant (``bg.yaml``…) is an overlay
that ``extends`` it, deep-merging its ``settings``, changing or removing steps
by id (``steps:``) and adding steps (``add_steps:``). A country may also keep
its variant outside the package and name it by path.

Every file is checked twice before anything is used: against
``definitions/schema.json`` (shape, unknown fields), then for meaning (event
kinds, tracks and states, conditions, message codes, roles, organisation
functions, step ids, deadline settings, the 30-day minimum of the reflection
and recovery period of CETS Art. 13, the steps that carry legal rules). All
problems are collected and raised together as one
:class:`~trm.common.yamldata.DataFileError`, each naming its file, line and
field — in the overlay for what the overlay wrote, in the baseline for what the
baseline wrote.

Sources: SOPS §2 (steps), §4.1 (indicators), §6 (tracks, messages, time
limits); ARCHITECTURE §5.
"""

from __future__ import annotations

import copy
import difflib
import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings

from trm.accounts.models import Role, TrmFunction
from trm.cases.tracks import TRACKS
from trm.common.yamldata import (
    DataFileError,
    DataPath,
    LoadedYaml,
    Problem,
    load_schema,
    load_yaml,
    schema_problems,
)
from trm.sop import vocabulary
from trm.sop.types import Deadline, Definition, MonitoringIndicator, Sop, Step

#: Where the packaged definitions and their JSON Schema live.
DEFINITIONS_DIR = Path(__file__).resolve().parent / "definitions"
SCHEMA_FILE = DEFINITIONS_DIR / "schema.json"
#: The variant every other packaged variant builds on.
BASELINE = "baseline"

_CODE = re.compile(r"^[a-z][a-z0-9_-]*$")
_STEP_PREFIX = re.compile(r"^sop(\d+)\.")
_LIST_FIELDS = ("roles", "trigger", "done_when", "applies_when", "guards", "messages")
_EVENT_FIELDS = ("trigger", "done_when")
_CONDITION_FIELDS = ("applies_when", "guards")
_STEP_FIELDS = (
    "title",
    "description",
    *_LIST_FIELDS,
    "deadline",
    "remind_days_before",
    "repeats",
    "once",
    "period",
    "source",
)

#: Steps that carry legal rules the system relies on, with their legal basis: no
#: variant may remove them, and every complete definition must have them.
PROTECTED_STEPS: Mapping[str, str] = {
    "sop1.formal_identification": "CETS Art. 10(2); SOPS §6.5 rules 2 and 10",
    "sop1.reflection_period": "CETS Art. 13; SOPS §6.5 rule 2",
}
#: The reflection and recovery period, and the fields of its step that decide when
#: it starts, runs and ends. Its length is set only by
#: ``settings.reflection_period.days`` (checked against the 30-day minimum) and
#: its start by ``settings.reflection_period.starts_at``, so a variant may
#: re-word the step or move its reminder, never change these.
REFLECTION_STEP = "sop1.reflection_period"
REFLECTION_STEP_FIXED = (
    "deadline",
    "trigger",
    "done_when",
    "once",
    "period",
    "repeats",
    "applies_when",
    "guards",
)
#: The deadline of :data:`REFLECTION_STEP` in every definition.
REFLECTION_DEADLINE = {"setting": "reflection_period.days"}
#: The longest reflection and recovery period accepted: far beyond any national
#: law, but a mistyped number fails here rather than in every case page.
REFLECTION_MAX_DAYS = 365


class UnknownVariant(DataFileError):
    """No packaged variant has this code.

    Attributes:
        code: the code asked for.
        available: the packaged variant codes.
    """

    def __init__(self, code: str, available: Iterable[str]) -> None:
        self.code = code
        self.available = tuple(available)
        super().__init__(
            [
                Problem(
                    code,
                    0,
                    "",
                    f"unknown SOP variant {code!r} (available: "
                    f"{', '.join(self.available)}; or give the path of a .yaml file)",
                )
            ]
        )


def available_variants() -> list[str]:
    """Return the codes of the packaged variants, ``baseline`` first.

    Source: the ``*.yaml`` files of ``trm/sop/definitions/``.
    """
    codes = sorted(path.stem for path in DEFINITIONS_DIR.glob("*.yaml"))
    return sorted(codes, key=lambda code: code != BASELINE)


def load_definition(variant_or_path: str) -> Definition:
    """Load, validate and merge a definition.

    Args:
        variant_or_path: a packaged variant code (``baseline``, ``bg``…) or the
            path of a ``.yaml`` file: a complete definition, or an overlay whose
            ``extends`` names a packaged variant (which may itself extend
            another; the chain ends at a complete definition).

    Returns:
        The overlay chain merged over its base, as a frozen
        :class:`~trm.sop.types.Definition` (lists turned into tuples).

    Raises:
        UnknownVariant: ``variant_or_path`` is neither a packaged code nor a path.
        DataFileError: any file of the chain is missing, is not valid YAML,
            breaks the schema or the rules above; ``problems`` holds every
            problem found, each with file, line and field.
    """
    docs, problems = _load_chain(_resolve(variant_or_path))
    schema = _schema()
    for doc in docs:
        problems.extend(schema_problems(doc, schema))
        problems.extend(_document_problems(doc))
    merged: _Merged | None = None
    if docs and not _extends(docs[0]):
        merged = _merge(docs, problems)
    if problems or merged is None:
        raise DataFileError(_ordered(problems, docs))
    return merged.build()


def get_definition(variant: str | None = None) -> Definition:
    """Return the definition of ``variant`` (default ``settings.TRM_SOP_VARIANT``).

    Loaded once per process and variant, then shared (a :class:`Definition` is
    frozen). :func:`clear_cache` forgets them (tests, after editing a file).

    Raises:
        UnknownVariant, DataFileError: as :func:`load_definition`; failures are
            not cached.
    """
    return _cached_definition(variant if variant is not None else configured_variant())


def configured_variant() -> str:
    """Return the node's variant: ``settings.TRM_SOP_VARIANT`` (code or path)."""
    return str(django_settings.TRM_SOP_VARIANT)


@functools.lru_cache(maxsize=32)
def _cached_definition(name: str) -> Definition:
    return load_definition(name)


def clear_cache() -> None:
    """Forget the definitions :func:`get_definition` has loaded."""
    _cached_definition.cache_clear()


def deadline_days(definition: Definition, step: Step) -> int | None:
    """Return the days from a step's start (or ``deadline.base``) to its due date.

    ``None`` means the step has no deadline: none given, or its
    ``deadline.setting`` is ``null`` in this variant (e.g. no national time
    limit for the formal identification decision).
    """
    if step.deadline is None:
        return None
    if step.deadline.setting:
        value = definition.setting(step.deadline.setting)
        return value if isinstance(value, int) else None
    return step.deadline.days or 0


def event_ref_problem(ref: str) -> str | None:
    """Return why ``ref`` is not a valid event reference, or ``None`` if it is.

    The forms (see :mod:`trm.sop.vocabulary`): ``<kind>``, ``<kind>=<code>``,
    ``track:<track>-><state>`` and ``@reflection_start``.
    """
    if ref == "@reflection_start":
        return None
    if ref.startswith("@"):
        return (
            f"unknown event reference {ref!r} (the only '@' reference is "
            "'@reflection_start')"
        )
    if ref.startswith("track:"):
        track_name, arrow, state = ref.removeprefix("track:").partition("->")
        if not arrow:
            return f"a track reference reads 'track:<track>-><state>', not {ref!r}"
        track = TRACKS.get(track_name)
        if track is None:
            return _unknown("track", track_name, TRACKS)
        if state not in track.states.values:
            return _unknown(
                f"state of track {track_name!r}", state, track.states.values
            )
        return None
    kind, equals, code = ref.partition("=")
    if kind not in vocabulary.EVENTS:
        return _unknown("event kind", kind, vocabulary.EVENTS)
    if equals:
        if not re.fullmatch(r"[a-z0-9_]{1,40}", code):
            return f"the outcome code in {ref!r} must be 1-40 of a-z, 0-9, _"
        if (
            kind == "sop1.reflection_ended"
            and code not in vocabulary.REFLECTION_END_REASONS
        ):
            return _unknown("end reason", code, vocabulary.REFLECTION_END_REASONS)
    return None


def diff_definitions(base: Definition, variant: Definition) -> list[str]:
    """Describe how ``variant`` differs from ``base``, one line per difference.

    Lines, in this order: top-level fields (``title: A → B``), settings by
    dotted path (``settings.reflection_period.starts_at: reasonable_grounds →
    formal_identification``), then steps: ``+ step <id> (SOP n, after <id>):
    <title>`` for added ones, ``~ step <id>: <field>: A → B`` per changed
    field, ``- step <id>: <title>`` for removed ones; then indicators added or
    removed. Empty when they do not differ. Used by ``trm sop diff``.
    """
    lines: list[str] = []
    for name in ("title", "country", "example", "note", "source"):
        old, new = getattr(base, name), getattr(variant, name)
        if old != new:
            lines.append(f"{name}: {_show(old)} → {_show(new)}")

    old_settings, new_settings = _flatten(base.settings), _flatten(variant.settings)
    for key in dict.fromkeys([*old_settings, *new_settings]):
        old, new = old_settings.get(key, _ABSENT), new_settings.get(key, _ABSENT)
        if old != new:
            lines.append(f"settings.{key}: {_show(old)} → {_show(new)}")

    old_steps = {step.id: step for step in base.steps()}
    new_steps = {step.id: step for step in variant.steps()}
    for sop in variant.sops:
        previous = ""
        for step in sop.steps:
            before = old_steps.get(step.id)
            if before is None:
                where = f"SOP {sop.number}" + (
                    f", after {previous}" if previous else ""
                )
                lines.append(f"+ step {step.id} ({where}): {step.title}")
            else:
                for item in fields(Step):
                    old, new = getattr(before, item.name), getattr(step, item.name)
                    if old != new:
                        change = f"{_show(old)} → {_show(new)}"
                        lines.append(f"~ step {step.id}: {item.name}: {change}")
            previous = step.id
    lines.extend(
        f"- step {step.id}: {step.title}"
        for step in base.steps()
        if step.id not in new_steps
    )

    old_indicators = {i.id: i for i in base.indicators}
    new_indicators = {i.id: i for i in variant.indicators}
    lines.extend(
        f"+ indicator {i.id}: {i.title}"
        for i in variant.indicators
        if i.id not in old_indicators
    )
    lines.extend(
        f"- indicator {i.id}: {i.title}"
        for i in base.indicators
        if i.id not in new_indicators
    )
    return lines


# --- Loading the chain ---------------------------------------------------------


@functools.cache
def _schema() -> dict[str, Any]:
    return load_schema(SCHEMA_FILE)


def _is_path(text: str) -> bool:
    return text.endswith((".yaml", ".yml")) or "/" in text or "\\" in text


def _packaged(code: str) -> Path | None:
    if not _CODE.match(code):
        return None
    path = DEFINITIONS_DIR / f"{code}.yaml"
    return path if path.is_file() else None


def _resolve(variant_or_path: str) -> Path:
    if _is_path(variant_or_path):
        return Path(variant_or_path)
    path = _packaged(variant_or_path)
    if path is None:
        raise UnknownVariant(variant_or_path, available_variants())
    return path


def _extends(doc: LoadedYaml) -> object:
    return doc.data.get("extends") if isinstance(doc.data, dict) else None


def _load_chain(path: Path) -> tuple[list[LoadedYaml], list[Problem]]:
    """Read ``path`` and what it extends; return the documents base first.

    Problems with ``extends`` are returned (the chain then stops there);
    a file that cannot be read or parsed raises at once if it is the first,
    and is returned as problems if it is a base further down.
    """
    docs = [load_yaml(path)]
    problems: list[Problem] = []
    seen = {path.resolve()}
    while True:
        doc = docs[-1]
        extends = _extends(doc)
        if extends is None:
            break
        if not isinstance(extends, str):
            break  # the schema reports the type
        base = _packaged(extends)
        if base is None:
            problems.append(
                doc.problem(
                    ("extends",),
                    f"unknown variant {extends!r} (available: "
                    f"{', '.join(available_variants())})",
                )
            )
            break
        if base.resolve() in seen:
            problems.append(
                doc.problem(
                    ("extends",), f"{extends!r} extends this file again (a loop)"
                )
            )
            break
        seen.add(base.resolve())
        try:
            docs.append(load_yaml(base))
        except DataFileError as exc:
            problems.extend(exc.problems)
            break
    docs.reverse()
    return docs, problems


def _ordered(problems: list[Problem], docs: list[LoadedYaml]) -> list[Problem]:
    """Return the problems without repeats, by file (chain order) and line."""
    order = {doc.file: index for index, doc in enumerate(docs)}
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (order.get(p.file, -1), p.line))


# --- Checks of one file --------------------------------------------------------


def _unknown(what: str, value: str, known: Iterable[str]) -> str:
    known = list(known)
    close = difflib.get_close_matches(value, known, n=1)
    if close:
        return f"unknown {what} {value!r} (did you mean {close[0]!r}?)"
    if len(known) <= 12:
        return f"unknown {what} {value!r} (known: {', '.join(known)})"
    return f"unknown {what} {value!r}"


def _condition_problem(name: str) -> str | None:
    bare = name.removeprefix("not ").strip()
    if bare in vocabulary.CONDITIONS:
        return None
    return _unknown("condition", bare, vocabulary.CONDITIONS)


def _strings(value: object) -> Iterator[tuple[int, str]]:
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                yield index, item


def _step_problems(
    doc: LoadedYaml, path: DataPath, step: Mapping[str, Any], sop: object
) -> Iterator[Problem]:
    """Check the names one step (or one change to a step) uses."""
    step_id = step.get("id")
    if isinstance(step_id, str) and isinstance(sop, int):
        match = _STEP_PREFIX.match(step_id)
        if match and int(match.group(1)) != sop:
            yield doc.problem(
                (*path, "id"),
                f"step id {step_id!r} must start with 'sop{sop}.' "
                f"(the step belongs to SOP {sop})",
            )
    for index, role in _strings(step.get("roles")):
        if role not in Role.values:
            yield doc.problem(
                (*path, "roles", index), _unknown("role", role, Role.values)
            )
    for name in _EVENT_FIELDS:
        for index, ref in _strings(step.get(name)):
            reason = event_ref_problem(ref)
            if reason:
                yield doc.problem((*path, name, index), reason)
    for name in _CONDITION_FIELDS:
        for index, condition in _strings(step.get(name)):
            reason = _condition_problem(condition)
            if reason:
                yield doc.problem((*path, name, index), reason)
    for index, code in _strings(step.get("messages")):
        if code not in vocabulary.MESSAGES:
            yield doc.problem(
                (*path, "messages", index),
                _unknown("message code", code, vocabulary.MESSAGES),
            )
    deadline = step.get("deadline")
    if isinstance(deadline, dict):
        if "days" in deadline and "setting" in deadline:
            yield doc.problem(
                (*path, "deadline"), "give either days or setting, not both"
            )
        elif "days" not in deadline and "setting" not in deadline:
            yield doc.problem(
                (*path, "deadline"),
                "give days ({days: 3}) or a setting ({setting: care_plan.within_days})",
            )
        base = deadline.get("base")
        if isinstance(base, str):
            reason = event_ref_problem(base)
            if reason:
                yield doc.problem((*path, "deadline", "base"), reason)
    if step.get("repeats") is True and step.get("once") is True:
        yield doc.problem(
            (*path, "once"), "a step cannot both repeat and start only once"
        )


def _settings_problems(doc: LoadedYaml, settings: object) -> Iterator[Problem]:
    if not isinstance(settings, dict):
        return
    here: DataPath = ("settings",)
    identification = settings.get("formal_identification")
    if isinstance(identification, dict):
        for index, code in _strings(identification.get("authority_functions")):
            if code not in TrmFunction.values:
                yield doc.problem(
                    (*here, "formal_identification", "authority_functions", index),
                    _unknown("organisation function", code, TrmFunction.values),
                )
    reflection = settings.get("reflection_period")
    if isinstance(reflection, dict):
        days = reflection.get("days")
        if (
            isinstance(days, int)
            and not isinstance(days, bool)
            and days < vocabulary.REFLECTION_MIN_DAYS
        ):
            yield doc.problem(
                (*here, "reflection_period", "days"),
                "the reflection and recovery period must last at least "
                f"{vocabulary.REFLECTION_MIN_DAYS} days (CETS Art. 13), not {days}",
            )
        if (
            isinstance(days, int)
            and not isinstance(days, bool)
            and days > REFLECTION_MAX_DAYS
        ):
            yield doc.problem(
                (*here, "reflection_period", "days"),
                "the reflection and recovery period can last at most "
                f"{REFLECTION_MAX_DAYS} days, not {days} (a mistyped number?)",
            )
        starts_at = reflection.get("starts_at")
        if isinstance(starts_at, str) and starts_at not in vocabulary.REFLECTION_STARTS:
            yield doc.problem(
                (*here, "reflection_period", "starts_at"),
                _unknown(
                    "start of the reflection and recovery period",
                    starts_at,
                    vocabulary.REFLECTION_STARTS,
                ),
            )


def _decimal_problems(
    doc: LoadedYaml, value: object, path: DataPath
) -> Iterator[Problem]:
    """Report numbers written with a decimal point (``30.0``).

    Every number of a definition is a whole one (days, SOP numbers), and JSON
    Schema lets ``30.0`` pass as an integer; said here, at the line that wrote
    it, not later where the value is used (perhaps in another file).
    """
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _decimal_problems(doc, child, (*path, str(key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _decimal_problems(doc, child, (*path, index))
    elif isinstance(value, float) and value.is_integer():
        yield doc.problem(
            path, f"write a whole number without a decimal point ({int(value)})"
        )


def _document_problems(doc: LoadedYaml) -> list[Problem]:
    """Check the names one file uses (its shape is the schema's job)."""
    data = doc.data
    if not isinstance(data, dict):
        return []
    problems = list(_settings_problems(doc, data.get("settings")))
    problems.extend(_decimal_problems(doc, data, ()))
    code = data.get("variant")
    stem = Path(doc.file).stem
    if (
        isinstance(code, str)
        and Path(doc.file).resolve().parent == DEFINITIONS_DIR
        and code != stem
    ):
        problems.append(
            doc.problem(
                ("variant",),
                f"a packaged variant's code must be its file name {stem!r}",
            )
        )
    sops = data.get("sops")
    if isinstance(sops, list):
        numbers: dict[int, int] = {}
        step_lines: dict[str, int] = {}
        for i, sop in enumerate(sops):
            if not isinstance(sop, dict):
                continue
            number = sop.get("number")
            if isinstance(number, int):
                if number in numbers:
                    problems.append(
                        doc.problem(
                            ("sops", i, "number"),
                            f"SOP {number} appears twice (first at line "
                            f"{numbers[number]})",
                        )
                    )
                numbers.setdefault(number, doc.line_of(("sops", i, "number")))
            steps = sop.get("steps")
            if not isinstance(steps, list):
                continue
            for j, step in enumerate(steps):
                if not isinstance(step, dict):
                    continue
                path: DataPath = ("sops", i, "steps", j)
                problems.extend(_step_problems(doc, path, step, number))
                step_id = step.get("id")
                if isinstance(step_id, str):
                    if step_id in step_lines:
                        problems.append(
                            doc.problem(
                                (*path, "id"),
                                f"duplicate step id {step_id!r} (first at line "
                                f"{step_lines[step_id]})",
                            )
                        )
                    step_lines.setdefault(step_id, doc.line_of((*path, "id")))
    changes = data.get("steps")
    if isinstance(changes, dict):
        for step_id, change in changes.items():
            if isinstance(change, dict):
                problems.extend(_step_problems(doc, ("steps", step_id), change, None))
    added = data.get("add_steps")
    if isinstance(added, list):
        for k, step in enumerate(added):
            if isinstance(step, dict):
                problems.extend(
                    _step_problems(doc, ("add_steps", k), step, step.get("sop"))
                )
    indicators = data.get("indicators")
    if isinstance(indicators, list):
        seen: dict[str, int] = {}
        for k, indicator in enumerate(indicators):
            if not isinstance(indicator, dict):
                continue
            ident, sop = indicator.get("id"), indicator.get("sop")
            if not isinstance(ident, str):
                continue
            if ident in seen:
                problems.append(
                    doc.problem(
                        ("indicators", k, "id"),
                        f"duplicate indicator id {ident!r} "
                        f"(first at line {seen[ident]})",
                    )
                )
            seen.setdefault(ident, doc.line_of(("indicators", k, "id")))
            expected = f"sop{sop}." if isinstance(sop, int) else "transnational."
            if not ident.startswith(expected):
                problems.append(
                    doc.problem(
                        ("indicators", k, "id"),
                        f"indicator id {ident!r} must start with {expected!r} "
                        f"(its sop is {sop if sop is not None else 'null'})",
                    )
                )
    return problems


# --- Merging -------------------------------------------------------------------


@dataclass(frozen=True)
class _Origin:
    """Where a value was written: a document and the path inside it."""

    doc: LoadedYaml
    path: DataPath

    def problem(self, message: str, *more: str | int) -> Problem:
        return self.doc.problem((*self.path, *more), message)


@dataclass
class _StepDraft:
    sop: int
    values: dict[str, Any]
    origins: dict[str, _Origin]
    origin: _Origin

    @property
    def id(self) -> str:
        return str(self.values["id"])


@dataclass
class _SopDraft:
    number: int
    key: str
    title: str
    purpose: str
    steps: list[_StepDraft] = field(default_factory=list)


@dataclass
class _Merged:
    top: dict[str, Any]
    settings: dict[str, Any]
    setting_origins: dict[tuple[str, ...], _Origin]
    sops: list[_SopDraft]
    indicators: list[MonitoringIndicator]
    files: list[str]

    def find(self, step_id: str) -> tuple[_SopDraft, int] | None:
        for sop in self.sops:
            for index, step in enumerate(sop.steps):
                if step.id == step_id:
                    return sop, index
        return None

    def build(self) -> Definition:
        return Definition(
            variant=str(self.top["variant"]),
            title=str(self.top["title"]),
            country=str(self.top.get("country", "")),
            example=bool(self.top.get("example", False)),
            source=str(self.top.get("source", "")),
            note=str(self.top.get("note", "")),
            settings=copy.deepcopy(self.settings),
            sops=tuple(
                Sop(
                    number=sop.number,
                    key=sop.key,
                    title=sop.title,
                    purpose=sop.purpose,
                    steps=tuple(_build_step(step) for step in sop.steps),
                )
                for sop in self.sops
            ),
            indicators=tuple(self.indicators),
            files=tuple(self.files),
        )


def _build_step(draft: _StepDraft) -> Step:
    values = draft.values
    deadline = values.get("deadline")
    remind = values.get("remind_days_before")
    return Step(
        id=draft.id,
        sop=draft.sop,
        title=str(values["title"]),
        description=str(values.get("description", "")),
        deadline=(
            Deadline(
                days=deadline.get("days"),
                setting=deadline.get("setting", ""),
                base=deadline.get("base", ""),
            )
            if isinstance(deadline, dict)
            else None
        ),
        remind_days_before=remind if isinstance(remind, int) else None,
        repeats=bool(values.get("repeats", False)),
        once=bool(values.get("once", False)),
        period=bool(values.get("period", False)),
        source=str(values.get("source", "")),
        roles=_tuple(values.get("roles")),
        trigger=_tuple(values.get("trigger")),
        done_when=_tuple(values.get("done_when")),
        applies_when=_tuple(values.get("applies_when")),
        guards=_tuple(values.get("guards")),
        messages=_tuple(values.get("messages")),
    )


def _tuple(value: object) -> tuple[str, ...]:
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


def _set_leaves(
    target: dict[str, Any],
    overlay: Mapping[str, Any],
    origins: dict[tuple[str, ...], _Origin],
    doc: LoadedYaml,
    prefix: tuple[str, ...] = (),
) -> None:
    """Deep-merge ``overlay`` into ``target``; lists and scalars are replaced."""
    for key, value in overlay.items():
        here = (*prefix, str(key))
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _set_leaves(target[key], value, origins, doc, here)
            continue
        target[key] = copy.deepcopy(value)
        for leaf in list(origins):
            if leaf[: len(here)] == here:
                del origins[leaf]
        for leaf in _leaf_paths(value, here):
            origins[leaf] = _Origin(doc, ("settings", *leaf))


def _leaf_paths(value: object, prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    if isinstance(value, dict) and value:
        for key, child in value.items():
            yield from _leaf_paths(child, (*prefix, str(key)))
    else:
        yield prefix


def _merge(docs: list[LoadedYaml], problems: list[Problem]) -> _Merged | None:
    """Merge the overlays over the base; append problems that need the whole."""
    base = docs[0]
    if not isinstance(base.data, dict):
        return None
    merged = _Merged(
        top={},
        settings={},
        setting_origins={},
        sops=[],
        indicators=[],
        files=[doc.file for doc in docs],
    )
    for i, sop in enumerate(base.data.get("sops") or []):
        if not isinstance(sop, dict) or not isinstance(sop.get("number"), int):
            continue
        draft = _SopDraft(
            number=sop["number"],
            key=str(sop.get("key", "")),
            title=str(sop.get("title", "")),
            purpose=str(sop.get("purpose", "")),
        )
        for j, step in enumerate(sop.get("steps") or []):
            if isinstance(step, dict) and isinstance(step.get("id"), str):
                path: DataPath = ("sops", i, "steps", j)
                draft.steps.append(
                    _StepDraft(
                        sop=draft.number,
                        values=dict(step),
                        origins={name: _Origin(base, (*path, name)) for name in step},
                        origin=_Origin(base, path),
                    )
                )
        merged.sops.append(draft)
    for indicator in base.data.get("indicators") or []:
        if isinstance(indicator, dict):
            merged.indicators.append(
                MonitoringIndicator(
                    id=str(indicator.get("id", "")),
                    sop=indicator.get("sop"),
                    title=str(indicator.get("title", "")),
                    source=str(indicator.get("source", "")),
                    verified=bool(indicator.get("verified", False)),
                )
            )

    for doc in docs:
        data = doc.data
        if not isinstance(data, dict):
            return None
        for key in ("variant", "title", "country", "example", "source"):
            if key in data:
                merged.top[key] = data[key]
        merged.top["note"] = data.get("note", "")
        if isinstance(data.get("settings"), dict):
            _set_leaves(merged.settings, data["settings"], merged.setting_origins, doc)
        if doc is not base:
            _apply_changes(merged, doc, problems)
            _add_steps(merged, doc, problems)

    problems.extend(_merged_problems(merged, base))
    return merged


def _apply_changes(merged: _Merged, doc: LoadedYaml, problems: list[Problem]) -> None:
    changes = doc.data.get("steps")
    if not isinstance(changes, dict):
        return
    for step_id, change in changes.items():
        here = _Origin(doc, ("steps", step_id))
        found = merged.find(str(step_id))
        if found is None:
            problems.append(
                here.problem(
                    f"no step {step_id!r} in {_parents(merged, doc)} to change "
                    "(to add a step use add_steps)"
                )
            )
            continue
        if not isinstance(change, dict):
            continue
        sop, index = found
        if change.get("remove") is True:
            if len(change) > 1:
                problems.append(
                    here.problem("remove: true cannot be combined with other fields")
                )
            basis = PROTECTED_STEPS.get(str(step_id))
            if basis is not None:
                problems.append(
                    here.problem(
                        f"{step_id} cannot be removed: the system relies on it "
                        f"for a legal rule ({basis})",
                        "remove",
                    )
                )
                continue
            del sop.steps[index]
            continue
        draft = sop.steps[index]
        for name, value in change.items():
            if name not in _STEP_FIELDS:
                continue  # the schema reports it
            if step_id == REFLECTION_STEP and name in REFLECTION_STEP_FIXED:
                problems.append(
                    here.problem(
                        f"{name} of {REFLECTION_STEP} cannot be changed: the "
                        "reflection and recovery period's length is set by "
                        "settings.reflection_period.days (CETS Art. 13) and its "
                        "start by settings.reflection_period.starts_at",
                        name,
                    )
                )
                continue
            if value is None:
                draft.values.pop(name, None)
            else:
                draft.values[name] = value
            draft.origins[name] = _Origin(doc, ("steps", step_id, name))


def _add_steps(merged: _Merged, doc: LoadedYaml, problems: list[Problem]) -> None:
    added = doc.data.get("add_steps")
    if not isinstance(added, list):
        return
    for k, step in enumerate(added):
        if not isinstance(step, dict) or not isinstance(step.get("id"), str):
            continue
        here = _Origin(doc, ("add_steps", k))
        step_id = step["id"]
        existing = merged.find(step_id)
        if existing is not None:
            sop, index = existing
            first = sop.steps[index].origin
            problems.append(
                here.problem(
                    f"duplicate step id {step_id!r}: it already exists "
                    f"({first.doc.file}:{first.doc.line_of((*first.path, 'id'))}); "
                    "to change it use steps:",
                    "id",
                )
            )
            continue
        number = step.get("sop")
        target = next((s for s in merged.sops if s.number == number), None)
        if target is None:
            if isinstance(number, int):
                problems.append(
                    here.problem(f"there is no SOP {number} to add to", "sop")
                )
            continue
        position = len(target.steps)
        after = step.get("after")
        if isinstance(after, str):
            found = merged.find(after)
            if found is None:
                problems.append(
                    here.problem(f"after: no step {after!r} to follow", "after")
                )
                continue
            if found[0] is not target:
                problems.append(
                    here.problem(
                        f"after: step {after!r} is in SOP {found[0].number}, "
                        f"not SOP {target.number}",
                        "after",
                    )
                )
                continue
            position = found[1] + 1
        values = {
            name: value for name, value in step.items() if name not in {"sop", "after"}
        }
        target.steps.insert(
            position,
            _StepDraft(
                sop=target.number,
                values=values,
                origins={name: _Origin(doc, ("add_steps", k, name)) for name in values},
                origin=here,
            ),
        )


def _parents(merged: _Merged, doc: LoadedYaml) -> str:
    index = merged.files.index(doc.file)
    return " + ".join(Path(name).name for name in merged.files[:index])


def _merged_problems(merged: _Merged, base: LoadedYaml) -> Iterator[Problem]:
    """Check what only the merged whole can tell: deadline settings, reminders.

    Also that the steps carrying legal rules are there and the reflection and
    recovery period runs by its settings: a variant cannot change them (see
    :func:`_apply_changes`), so this catches a complete definition that does.
    """
    for step_id, basis in PROTECTED_STEPS.items():
        if merged.find(step_id) is None:
            yield base.problem(
                ("sops",),
                f"step {step_id} is missing: the system relies on it for a legal "
                f"rule ({basis})",
            )
    found = merged.find(REFLECTION_STEP)
    if found is not None:
        step = found[0].steps[found[1]]
        fixed = {"deadline": REFLECTION_DEADLINE, "once": True, "period": True}
        for name, expected in fixed.items():
            if step.values.get(name) != expected:
                yield step.origins.get(name, step.origin).problem(
                    f"{REFLECTION_STEP} needs {name}: {_show_yaml(expected)}: the "
                    "reflection and recovery period's length is set by "
                    "settings.reflection_period.days (CETS Art. 13)"
                )
    for sop in merged.sops:
        for step in sop.steps:
            deadline = step.values.get("deadline")
            where = step.origins.get("deadline", step.origin)
            if isinstance(deadline, dict) and isinstance(deadline.get("setting"), str):
                path = deadline["setting"]
                reason = _setting_problem(merged.settings, path)
                if reason:
                    yield where.problem(reason, "setting")
            if step.values.get("remind_days_before") is not None and not isinstance(
                deadline, dict
            ):
                yield step.origins.get("remind_days_before", step.origin).problem(
                    "remind_days_before needs a deadline"
                )


def _setting_problem(settings: Mapping[str, Any], path: str) -> str | None:
    value: object = settings
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return f"no setting {path!r} (see the settings of baseline.yaml)"
        value = value[part]
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return None
    if isinstance(value, float) and value.is_integer():
        return None  # reported where it was written (_decimal_problems)
    return f"setting {path!r} is not a number of days (or null)"


# --- Showing values ------------------------------------------------------------


class _Absent:
    def __repr__(self) -> str:
        return "(not set)"


_ABSENT = _Absent()


def _flatten(value: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, child in value.items():
        name = f"{prefix}{key}"
        if isinstance(child, dict) and child:
            flat.update(_flatten(child, f"{name}."))
        else:
            flat[name] = child
    return flat


def _show(value: object) -> str:
    """Return ``value`` as a short, YAML-like text for diff lines."""
    if value is _ABSENT:
        return "(not set)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value else '""'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    if isinstance(value, Deadline):
        return describe_deadline(value)
    return str(value)


def _show_yaml(value: object) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    return _show(value)


def describe_deadline(deadline: Deadline | None) -> str:
    """Return a deadline as YAML-like text: ``{days: 3}``, ``{setting: …}``, ``-``."""
    if deadline is None:
        return "-"
    parts = [f"setting: {deadline.setting}"] if deadline.setting else []
    if deadline.days is not None or not deadline.setting:
        parts.insert(0, f"days: {deadline.days or 0}")
    if deadline.base:
        parts.append(f"base: {deadline.base}")
    return "{" + ", ".join(parts) + "}"
