"""Merge a chain of SOP definition files, keeping where each value was written.

The base is complete; each overlay deep-merges its ``settings``, changes or
removes steps by id (``steps:``) and adds steps (``add_steps:``). Every value
keeps its origin (file and path), so a problem found only in the merged whole
(a deadline naming a missing setting, a protected step changed or missing) is
reported where it was written. :meth:`Merged.build` turns the result into a
frozen :class:`~trm.sop.types.Definition`.

Sources: SOPS §2 (steps), §6.5 rules 2 and 10; CETS Art. 10(2) and 13;
ARCHITECTURE §5.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trm.common.yamldata import DataPath, LoadedYaml, Problem
from trm.sop.constants import (
    DECISION_STEP,
    DECISION_STEP_FIXED,
    PROTECTED_STEPS,
    REFLECTION_DEADLINE,
    REFLECTION_STEP,
    REFLECTION_STEP_FIXED,
)
from trm.sop.diff import show_yaml
from trm.sop.types import Deadline, Definition, MonitoringIndicator, Sop, Step

_LIST_FIELDS = (
    "roles",
    "trigger",
    "done_when",
    "applies_when",
    "guards",
    "messages",
    "guidance",
)
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
class Merged:
    """The chain merged so far: values, with where each was written."""

    top: dict[str, Any]
    settings: dict[str, Any]
    setting_origins: dict[tuple[str, ...], _Origin]
    sops: list[_SopDraft]
    indicators: list[MonitoringIndicator]
    files: list[str]

    def find(self, step_id: str) -> tuple[_SopDraft, int] | None:
        """Return the SOP holding ``step_id`` and its index there, if any."""
        for sop in self.sops:
            for index, step in enumerate(sop.steps):
                if step.id == step_id:
                    return sop, index
        return None

    def build(self) -> Definition:
        """Return the merged definition, frozen (lists turned into tuples)."""
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
        guidance=_tuple(values.get("guidance")),
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


def merge(docs: list[LoadedYaml], problems: list[Problem]) -> Merged | None:
    """Merge the overlays over the base; append problems that need the whole."""
    base = docs[0]
    if not isinstance(base.data, dict):
        return None
    merged = Merged(
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


def _apply_changes(merged: Merged, doc: LoadedYaml, problems: list[Problem]) -> None:
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
            if step_id == DECISION_STEP and name in DECISION_STEP_FIXED:
                problems.append(
                    here.problem(
                        f"{name} of {DECISION_STEP} cannot be changed: only the "
                        "competent authority's decision completes it (CETS Art. "
                        "10(2); SOPS §6.5 rule 10); the deciding body is set by "
                        "settings.formal_identification.authority_functions",
                        name,
                    )
                )
                continue
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


def _add_steps(merged: Merged, doc: LoadedYaml, problems: list[Problem]) -> None:
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


def _parents(merged: Merged, doc: LoadedYaml) -> str:
    index = merged.files.index(doc.file)
    return " + ".join(Path(name).name for name in merged.files[:index])


def _merged_problems(merged: Merged, base: LoadedYaml) -> Iterator[Problem]:
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
                    f"{REFLECTION_STEP} needs {name}: {show_yaml(expected)}: the "
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
        return None  # reported where it was written (trm.sop.validation)
    return f"setting {path!r} is not a number of days (or null)"
