"""Readers of the guidance library.

The library holds no personal data: any signed-in user may read it, and reads
are not audited. :func:`search_resources` is the one search (full text through
:mod:`trm.guidance.search` on either database, plus filters);
:func:`guidance_for_steps` answers "which resources help with this SOP step",
from the SOP YAML's ``guidance:`` lists and the resources' own ``sop_steps``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL
from django.utils.translation import gettext as _

from trm.common.languages import language_forms
from trm.guidance import search
from trm.guidance.errors import ResourceNotFound
from trm.guidance.models import Resource


@dataclass(frozen=True)
class Filters:
    """What the list and the API filter on; empty values do not filter.

    Attributes:
        q: words to find (every one, as a word prefix) in the title,
            publisher, summary, topics or the text of the uploaded PDF.
        category: a :class:`~trm.guidance.models.Category` code.
        region: a :class:`~trm.guidance.models.Region` code.
        topic: a topic tag (exact, lower case).
        language: an ISO 639 code, alpha-2 or alpha-3 (either finds both).
        year: the year of publication.
    """

    q: str = ""
    category: str = ""
    region: str = ""
    topic: str = ""
    language: str = ""
    year: int | None = None

    def given(self) -> bool:
        """Return whether any filter is given."""
        return any(
            (self.q.strip(), self.category, self.region, self.topic, self.language)
        ) or (self.year is not None)


#: The JSON list fields :func:`_has` filters on (names put in SQL: fixed here).
LIST_FIELDS = frozenset({"regions", "topics", "languages", "sop_steps"})


def _has(field: str, code: str) -> Q:
    """Match resources whose JSON list ``field`` holds ``code`` (exactly)."""
    if field not in LIST_FIELDS:
        raise ValueError(field)
    if connection.features.supports_json_field_contains:
        return Q(**{f"{field}__contains": [code]})
    # SQLite stores the list as JSON text with non-ASCII letters escaped
    # (\uXXXX): compare the list's decoded items with SQLite's json_each.
    table = Resource._meta.db_table
    return Q(
        pk__in=RawSQL(  # noqa: S611 - fixed names; the code is a parameter
            f"SELECT {table}.id FROM {table}, json_each({table}.{field}) "  # noqa: S608
            "WHERE json_each.value = %s",
            [code],
        )
    )


def search_resources(filters: Filters) -> QuerySet[Resource]:
    """Return the resources matching every given filter.

    With words (``filters.q``) the best matches come first (the database's
    full-text rank); without, newest first, then by title. Words without
    letters or digits match nothing.
    """
    qs = Resource.objects.all()
    if filters.category:
        qs = qs.filter(category=filters.category)
    if filters.region:
        qs = qs.filter(_has("regions", filters.region))
    if filters.topic:
        qs = qs.filter(_has("topics", filters.topic.strip().casefold()))
    if filters.language:
        # Stored codes are ISO 639-1 where one exists; older entries may hold
        # the alpha-3 form, so either finds them.
        codes = language_forms(filters.language)
        match = Q()
        for code in codes:
            match |= _has("languages", code)
        qs = qs.filter(match) if codes else qs.none()
    if filters.year is not None:
        qs = qs.filter(year=filters.year)
    if filters.q.strip():
        ids = search.matching_ids(filters.q)
        if not ids:
            return qs.none()
        rank = Case(
            *(When(pk=pk, then=Value(index)) for index, pk in enumerate(ids)),
            output_field=IntegerField(),
        )
        return qs.filter(pk__in=ids).annotate(rank=rank).order_by("rank", "title")
    return qs.order_by("-year", "title")


def resource_get(*, slug: str) -> Resource:
    """Return the resource with this short name.

    Raises:
        ResourceNotFound
    """
    resource = Resource.objects.filter(slug=slug).first()
    if resource is None:
        raise ResourceNotFound(_("No such resource in the guidance library."))
    return resource


def topics() -> list[str]:
    """Return every topic tag in use, sorted."""
    tags: set[str] = set()
    for values in Resource.objects.values_list("topics", flat=True):
        tags.update(str(tag) for tag in values or ())
    return sorted(tags)


def years() -> list[int]:
    """Return the years of publication in use, newest first."""
    values = Resource.objects.exclude(year=None).values_list("year", flat=True)
    return sorted({int(y) for y in values if y is not None}, reverse=True)


def guidance_for_steps(step_ids: Iterable[str]) -> dict[str, list[Resource]]:
    """Return, for each step id, the resources that help with it.

    A step's resources are those its ``guidance:`` list in the node's SOP
    definition names (in that order; a slug the library does not hold is
    left out), then those whose ``sop_steps`` name the step (by title).
    One query for all steps. Steps the definition does not know get what the
    resources name.
    """
    from trm.sop.loader import get_definition

    wanted = list(dict.fromkeys(step_ids))
    definition = get_definition()
    named: dict[str, tuple[str, ...]] = {}
    for step in definition.steps():
        if step.id in wanted:
            named[step.id] = step.guidance
    slugs = {slug for values in named.values() for slug in values}
    match = Q(slug__in=slugs)
    for step_id in wanted:
        match |= _has("sop_steps", step_id)
    resources = list(Resource.objects.filter(match).order_by("title")) if wanted else []
    by_slug = {resource.slug: resource for resource in resources}
    result: dict[str, list[Resource]] = {}
    for step_id in wanted:
        chosen = [by_slug[s] for s in named.get(step_id, ()) if s in by_slug]
        chosen += [
            r for r in resources if step_id in (r.sop_steps or []) and r not in chosen
        ]
        result[step_id] = chosen
    return result


def unknown_guidance_slugs(
    step_guidance: dict[str, tuple[str, ...]],
) -> list[tuple[str, str]]:
    """Return ``(step id, slug)`` for each named slug the library does not hold."""
    slugs = {slug for values in step_guidance.values() for slug in values}
    held = set(Resource.objects.filter(slug__in=slugs).values_list("slug", flat=True))
    return [
        (step_id, slug)
        for step_id, values in step_guidance.items()
        for slug in values
        if slug not in held
    ]
