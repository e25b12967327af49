"""Template helpers for URLs."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def page_url(context: dict[str, Any], number: int) -> str:
    """Return ``?<the current query, filters kept>&page=<number>``."""
    request = context["request"]
    query = request.GET.copy()
    query["page"] = str(number)
    return "?" + str(query.urlencode())
