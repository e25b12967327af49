"""Compare two SOP definitions, and show their values as short YAML-like text.

Used by ``trm sop diff`` (:func:`diff_definitions`) and by the messages of
:mod:`trm.sop.merge` (:func:`show_yaml`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields

from trm.sop.types import Deadline, Definition, Step


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


def show_yaml(value: object) -> str:
    """Return ``value`` as short YAML-like text, a mapping as ``{key: value}``."""
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
