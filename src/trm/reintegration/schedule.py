"""The follow-up schedule after a return, from the node's SOP variant.

The variant's setting ``follow_up.months_after_return`` (baseline
``[1, 3, 6, 12]``: SOPS §6.3 "reports at 1/3/6/12 months" [INF]; a national
variant may replace the list) says when each follow-up is due, counted in
calendar months from the day the reintegration plan starts.
"""

from __future__ import annotations

import calendar
from datetime import date

from trm.sop.types import Definition

#: The setting's dotted path in the variant's ``settings``.
SETTING = "follow_up.months_after_return"


def months_after_return(definition: Definition | None = None) -> list[int]:
    """Return the months after the start at which follow-ups are due, from
    ``definition`` (default: the node's variant), in increasing order.

    Raises:
        KeyError: the definition has no such setting (the schema requires it
            in a complete definition, so only a broken file could).
    """
    if definition is None:
        from trm.sop.loader import get_definition

        definition = get_definition()
    value = definition.setting(SETTING)
    if not isinstance(value, list):
        raise KeyError(SETTING)
    return sorted({int(m) for m in value})


def add_months(day: date, months: int) -> date:
    """Return ``day`` plus ``months`` calendar months, clamped to the end of a
    shorter month (31 January + 1 month = 28 or 29 February)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_dates(starts_on: date, months: list[int]) -> list[tuple[int, int, date]]:
    """Return ``(sequence, months, due_on)`` for each follow-up of the schedule."""
    return [(n, m, add_months(starts_on, m)) for n, m in enumerate(months, start=1)]
