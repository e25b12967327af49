"""Template tags that put the guidance library beside the work.

``{% step_guidance "sop1.screening" %}`` renders "Guidance for this step": links
to the resources for the steps given (a step id, or ``sop4`` for every step of
SOP 4). ``{% guidance_by_step as guidance %}`` returns ``{step id: [resource]}``
for every step of the node's SOPs in one query, and
``guidance|for_step:step.id`` picks one step's list (the SOP panel).
"""

from __future__ import annotations

import re
from typing import Any

from django import template

from trm.guidance import selectors
from trm.guidance.models import Resource

register = template.Library()

_SOP = re.compile(r"^sop[1-5]$")


def _flatten(names: tuple[Any, ...]) -> list[str]:
    flat: list[str] = []
    for name in names:
        if isinstance(name, list | tuple):
            flat += [str(n) for n in name]
        else:
            flat.append(str(name))
    return flat


def _expand(names: tuple[Any, ...]) -> list[str]:
    """Return step ids; ``sopN`` stands for every step of SOP N; a list or
    tuple argument gives several."""
    from trm.sop.loader import get_definition

    ids: list[str] = []
    for name in _flatten(names):
        if _SOP.match(name):
            number = int(name[3:])
            ids += [s.id for s in get_definition().steps() if s.sop == number]
        else:
            ids.append(name)
    return ids


@register.inclusion_tag("guidance/_step_guidance.html")
def step_guidance(*names: Any, title: str = "") -> dict[str, Any]:
    """Render links to the resources for the steps named (none: nothing)."""
    ids = _expand(names)
    found: list[Resource] = []
    for resources in selectors.guidance_for_steps(ids).values():
        found += [r for r in resources if r not in found]
    anchor = re.sub(r"[^a-z0-9]+", "-", "-".join(_flatten(names)).lower())
    anchor = anchor.strip("-")[:60]
    return {"resources": found, "title": title, "anchor": anchor or "steps"}


@register.simple_tag
def guidance_by_step() -> dict[str, list[Resource]]:
    """Return every step's resources (one query)."""
    from trm.sop.loader import get_definition

    return selectors.guidance_for_steps(s.id for s in get_definition().steps())


@register.filter
def for_step(
    guidance: dict[str, list[Resource]] | None, step_id: str
) -> list[Resource]:
    """Return one step's resources from :func:`guidance_by_step`."""
    return (guidance or {}).get(step_id, [])
