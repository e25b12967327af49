"""Load YAML data files with line numbers, and validate them with JSON Schema.

SOP definitions and screening instruments are data a country may edit. A
mistake must be reported as ``file:line: field: reason`` so the person editing
the file can find it, and nothing is half-loaded. PyYAML parses (safe loader
only), ``jsonschema`` validates; this module keeps, for every value, the line
it came from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

#: The C (libyaml) safe loader when PyYAML was built with it, else pure Python.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: A path into a loaded document: mapping keys and list indexes.
DataPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a data file.

    Attributes:
        file: the file's path as given.
        line: 1-based line number (0 when unknown, e.g. a missing file).
        field: dotted path of the offending value (``steps.3.deadline.days``),
            empty for the whole document.
        message: what is wrong, in plain English.
    """

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field or '(document)'}: {self.message}"


class DataFileError(Exception):
    """A data file is unusable; ``problems`` lists every reason found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def dotted(path: Iterable[str | int]) -> str:
    """Return ``a.b.0.c`` for a data path."""
    return ".".join(str(part) for part in path)


@dataclass(frozen=True)
class LoadedYaml:
    """A parsed YAML document with the line of every value.

    Attributes:
        file: the path as given.
        data: the plain Python value (dicts, lists, scalars).
        lines: data path → 1-based line of that value (of its key for mapping
            entries, so an error points at the field's name).
    """

    file: str
    data: Any
    lines: dict[DataPath, int]

    def line_of(self, path: Iterable[str | int]) -> int:
        """Return the line of ``path`` or of its nearest ancestor that has one."""
        parts = tuple(path)
        while parts:
            if parts in self.lines:
                return self.lines[parts]
            parts = parts[:-1]
        return self.lines.get((), 1)

    def problem(self, path: Iterable[str | int], message: str) -> Problem:
        """Return a :class:`Problem` at ``path`` of this document."""
        parts = tuple(path)
        return Problem(self.file, self.line_of(parts), dotted(parts), message)


def _walk(node: yaml.Node, path: DataPath) -> Iterator[tuple[DataPath, int]]:
    yield path, node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            child = (*path, key)
            yield child, key_node.start_mark.line + 1
            for entry in _walk(value_node, child):
                if entry[0] != child:
                    yield entry
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _walk(item, (*path, index))


def _duplicate_keys(node: yaml.Node, path: DataPath) -> Iterator[tuple[DataPath, int]]:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                yield (*path, key), key_node.start_mark.line + 1
            seen.add(key)
            yield from _duplicate_keys(value_node, (*path, key))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(item, (*path, index))


def load_yaml(path: str | Path, *, text: str | None = None) -> LoadedYaml:
    """Parse a YAML file (safe loader) and record the line of every value.

    Args:
        path: the file to read (also the name used in problems).
        text: the content, if already read (then ``path`` is only a name).

    Raises:
        DataFileError: the file is missing or unreadable, is not valid YAML
            (with the parser's line), repeats a key, or is empty.
    """
    name = str(path)
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DataFileError([Problem(name, 0, "", "file not found")]) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DataFileError(
                [
                    Problem(
                        name, 0, "", f"cannot read the file ({exc.__class__.__name__})"
                    )
                ]
            ) from None
    try:
        node = yaml.compose(text, Loader=_SafeLoader)
        data = yaml.load(text, Loader=_SafeLoader)  # noqa: S506 - a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        reason = exc.problem or exc.context or "invalid YAML"
        raise DataFileError(
            [Problem(name, line, "", f"invalid YAML: {reason}")]
        ) from None
    except yaml.YAMLError as exc:
        raise DataFileError([Problem(name, 0, "", f"invalid YAML: {exc}")]) from None
    if node is None or data is None:
        raise DataFileError([Problem(name, 1, "", "the file is empty")])
    duplicates = [
        Problem(name, line, dotted(dup), "this key appears twice")
        for dup, line in _duplicate_keys(node, ())
    ]
    if duplicates:
        raise DataFileError(duplicates)
    lines: dict[DataPath, int] = {}
    for data_path, line in _walk(node, ()):
        lines.setdefault(data_path, line)
    return LoadedYaml(file=name, data=data, lines=lines)


def load_schema(path: str | Path) -> dict[str, Any]:
    """Read a JSON Schema (draft 2020-12) shipped with the package."""
    schema: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return schema


def _message(error: ValidationError) -> str:
    if error.validator == "additionalProperties":
        return f"unknown field ({error.message})"
    if error.validator == "required":
        return f"missing field: {error.message}"
    return error.message


def schema_problems(document: LoadedYaml, schema: dict[str, Any]) -> list[Problem]:
    """Validate ``document`` against ``schema``; return one problem per error."""
    validator = Draft202012Validator(schema)
    problems: list[Problem] = []
    for error in sorted(
        validator.iter_errors(document.data), key=lambda e: list(map(str, e.path))
    ):
        path = tuple(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(
            error.instance, dict
        ):
            known = set(error.schema.get("properties", {}))
            extras = [k for k in error.instance if k not in known]
            if extras and not error.schema.get("patternProperties"):
                problems.extend(
                    document.problem((*path, key), "unknown field") for key in extras
                )
                continue
        problems.append(document.problem(path, _message(error)))
    return problems
