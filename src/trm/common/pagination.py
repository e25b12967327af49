"""A paginator for lists that can grow to millions of rows.

Counting every visible row of a large table on each page view costs more than the
page itself (a full scan). :class:`CappedPaginator` counts at most ``cap`` rows
(``SELECT COUNT(*) FROM (… LIMIT cap + 1)``): below the cap the count is exact;
above it the list says "more than N" and offers search to narrow it.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.utils.functional import cached_property

DEFAULT_CAP = 1000


class CappedPaginator(Paginator):  # type: ignore[type-arg]
    """Paginator whose count stops at ``cap`` + 1 (then :attr:`capped` is True)."""

    def __init__(self, object_list: Any, per_page: int, *, cap: int = DEFAULT_CAP):
        super().__init__(object_list, per_page)
        self.cap = cap

    @cached_property
    def count(self) -> int:
        return int(self.object_list[: self.cap + 1].count())  # type: ignore[attr-defined]

    @property
    def capped(self) -> bool:
        """True when there are more than ``cap`` rows (the count is a lower bound)."""
        return self.count > self.cap


def capped_count(queryset: Any, cap: int = DEFAULT_CAP) -> tuple[int, bool]:
    """Return ``(count, more)``: the count up to ``cap``; whether more rows exist."""
    count = int(queryset[: cap + 1].count())
    return min(count, cap), count > cap
