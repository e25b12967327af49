"""Check what one SOP definition file means (its shape is the schema's job).

Event kinds, tracks and states, conditions, message codes, roles, organisation
functions, step ids, country codes, the reflection and recovery period's
bounds, numbers written with a decimal point. Each problem names the file, line
and field that wrote it. Used by :func:`trm.sop.loader.load_definition`, before
the files of a chain are merged (:mod:`trm.sop.merge`).

Sources: SOPS §2 (steps), §4.1 (indicators), §6 (tracks, messages, time
limits); CETS Art. 13; ARCHITECTURE §5.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from django_countries.data import COUNTRIES

from trm.accounts.models import Role, TrmFunction
from trm.cases.tracks import TRACKS
from trm.common.yamldata import DataPath, LoadedYaml, Problem
from trm.sop import vocabulary
from trm.sop.constants import DEFINITIONS_DIR, REFLECTION_MAX_DAYS

_STEP_PREFIX = re.compile(r"^sop(\d+)\.")
_EVENT_FIELDS = ("trigger", "done_when")
_CONDITION_FIELDS = ("applies_when", "guards")


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


def _follow_up_problems(
    doc: LoadedYaml, settings: dict[str, object]
) -> Iterator[Problem]:
    """The follow-up schedule after a return: months in increasing order."""
    follow_up = settings.get("follow_up")
    if not isinstance(follow_up, dict):
        return
    months = follow_up.get("months_after_return")
    if not isinstance(months, list):
        return
    numbers = [m for m in months if isinstance(m, int) and not isinstance(m, bool)]
    for index in range(1, len(numbers)):
        if numbers[index] <= numbers[index - 1]:
            yield doc.problem(
                ("settings", "follow_up", "months_after_return", index),
                "the months of the follow-up reports must increase "
                f"({numbers[index]} comes after {numbers[index - 1]})",
            )
            return


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


def _is_country(code: str) -> bool:
    """ISO 3166-1 alpha-2, or a user-assigned code (AA, QM–QZ, XA–XZ, ZZ: e.g.
    XK, which the region uses for Kosovo, or a test country)."""
    user_assigned = (
        code in {"AA", "ZZ"}
        or (code[:1] == "Q" and "M" <= code[1:] <= "Z")
        or code[:1] == "X"
    )
    return code in COUNTRIES or (len(code) == 2 and user_assigned)


def document_problems(doc: LoadedYaml) -> list[Problem]:
    """Check the names one file uses (its shape is the schema's job)."""
    data = doc.data
    if not isinstance(data, dict):
        return []
    problems = list(_settings_problems(doc, data.get("settings")))
    if isinstance(data.get("settings"), dict):
        problems.extend(_follow_up_problems(doc, data["settings"]))
    problems.extend(_decimal_problems(doc, data, ()))
    country = data.get("country")
    if isinstance(country, str) and country and not _is_country(country):
        problems.append(
            doc.problem(("country",), f"{country!r} is not an ISO 3166-1 country code")
        )
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
