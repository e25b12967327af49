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

This module is the public API (and re-exports the names of
:mod:`trm.sop.constants`, :func:`~trm.sop.validation.event_ref_problem` and
:mod:`trm.sop.diff` that callers import from here); it finds the files and
reads the chain of ``extends``. The work is done by :mod:`trm.sop.validation`
(what one file means), :mod:`trm.sop.merge` (the overlays merged over the base,
and the checks that need the whole) and :mod:`trm.sop.diff` (``trm sop diff``).

Sources: SOPS §2 (steps), §4.1 (indicators), §6 (tracks, messages, time
limits); ARCHITECTURE §5.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings

from trm.common.yamldata import (
    DataFileError,
    LoadedYaml,
    Problem,
    load_schema,
    load_yaml,
    schema_problems,
)
from trm.sop.constants import (
    BASELINE,
    DECISION_STEP,
    DECISION_STEP_FIXED,
    DEFINITIONS_DIR,
    PROTECTED_STEPS,
    REFLECTION_DEADLINE,
    REFLECTION_MAX_DAYS,
    REFLECTION_STEP,
    REFLECTION_STEP_FIXED,
    SCHEMA_FILE,
)
from trm.sop.diff import describe_deadline, diff_definitions
from trm.sop.merge import Merged, merge
from trm.sop.types import Definition, Step
from trm.sop.validation import document_problems, event_ref_problem

__all__ = [
    "BASELINE",
    "DECISION_STEP",
    "DECISION_STEP_FIXED",
    "DEFINITIONS_DIR",
    "PROTECTED_STEPS",
    "REFLECTION_DEADLINE",
    "REFLECTION_MAX_DAYS",
    "REFLECTION_STEP",
    "REFLECTION_STEP_FIXED",
    "SCHEMA_FILE",
    "UnknownVariant",
    "available_variants",
    "clear_cache",
    "configured_variant",
    "deadline_days",
    "describe_deadline",
    "diff_definitions",
    "event_ref_problem",
    "get_definition",
    "load_definition",
]

_CODE = re.compile(r"^[a-z][a-z0-9_-]*$")


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
        problems.extend(document_problems(doc))
    merged: Merged | None = None
    if docs and not _extends(docs[0]):
        merged = merge(docs, problems)
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
