"""The only writers of the guidance library.

:func:`resource_create`, :func:`resource_update` and :func:`resource_delete`
are keyword-only, take the acting user, allow only editors (an active national
contact point or node administrator), check every value, keep the full-text
index (:mod:`trm.guidance.search`) and write an audit entry in the same
transaction. A refusal is a :class:`~trm.guidance.errors.GuidanceInvalidInput`
naming its field (``details["field"]``), with nothing written.
:func:`seed_catalogue` loads the starter catalogue (``seed.yaml``) and is safe
to run again.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from uuid import UUID

import yaml
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from trm.accounts.models import Role, User
from trm.audit import services as audit
from trm.common.languages import is_language_code, normalise_language_code
from trm.common.text import InvalidText, clean_text
from trm.guidance import search
from trm.guidance.errors import (
    GuidanceInvalidInput,
    NotGuidanceEditor,
    ResourceNotFound,
)
from trm.guidance.files import CheckedFile
from trm.guidance.models import (
    Category,
    Region,
    Resource,
    SeededEntry,
    guidance_storage,
)

#: Who keeps the library.
EDITOR_ROLES: frozenset[str] = frozenset(
    {Role.NATIONAL_CONTACT_POINT, Role.NODE_ADMINISTRATOR}
)
SEED_FILE = Path(__file__).resolve().parent / "seed.yaml"
#: Slugs the pages' URLs use for themselves.
RESERVED_SLUGS = frozenset({"new"})
MAX_TAGS = 20
TAG_MAX = 40
LINK_MAX = 500
PUBLISHER_MAX = 200
FIRST_YEAR = 1900


def is_editor(user: User) -> bool:
    """Return whether ``user`` may create, change and delete resources."""
    return bool(
        user.is_authenticated
        and user.may_use_account()
        and user.has_role(*EDITOR_ROLES)
    )


def require_editor(actor: User) -> None:
    """Raise NotGuidanceEditor unless ``actor`` may edit the library."""
    if not is_editor(actor):
        raise NotGuidanceEditor(
            _(
                "Only a national contact point or a node administrator may "
                "change the guidance library."
            )
        )


@dataclass
class ResourceInput:
    """What an editor gives for a resource (the file comes separately).

    ``slug`` empty: made from the title when creating, kept when updating.
    """

    title: str
    category: str
    publisher: str = ""
    year: int | None = None
    regions: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    summary: str = ""
    link: str = ""
    sop_steps: list[str] = field(default_factory=list)
    slug: str = ""


def _invalid(message: str, field_name: str) -> GuidanceInvalidInput:
    return GuidanceInvalidInput(message, details={"field": field_name})


def _line(value: str, field_name: str, max_length: int) -> str:
    try:
        return clean_text(value or "", field=field_name, max_length=max_length)
    except InvalidText as exc:
        raise _invalid(exc.message, field_name) from None


def clean_summary(value: str) -> str:
    """Return the summary with each line cleaned; paragraphs are kept."""
    text = (value or "").replace("\r\n", "\n").replace("\r", "\n")
    lines = [_line(line, "summary", Resource.SUMMARY_MAX) for line in text.split("\n")]
    summary = "\n".join(lines).strip()
    while "\n\n\n" in summary:
        summary = summary.replace("\n\n\n", "\n\n")
    if len(summary) > Resource.SUMMARY_MAX:
        raise _invalid(
            _("Use at most %(max)d characters.") % {"max": Resource.SUMMARY_MAX},
            "summary",
        )
    return summary


def clean_link(value: str) -> str:
    """Return an ``https://`` or ``http://`` address, or ``""``; refuse others
    (``javascript:``, ``data:``…) so the link is safe to show."""
    link = _line(value, "link", LINK_MAX)
    if not link:
        return ""
    scheme, sep, rest = link.partition("://")
    if not sep or scheme.lower() not in {"http", "https"} or not rest.strip("/"):
        raise _invalid(
            _("Give a web address starting with https:// or http://."), "link"
        )
    if " " in link:
        raise _invalid(_("A web address has no spaces."), "link")
    return link


def clean_year(value: int | None) -> int | None:
    """Return a year between 1900 and next year, or None."""
    if value is None:
        return None
    latest = timezone.localdate().year + 1
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(_("Give a year such as 2009."), "year")
    if not FIRST_YEAR <= value <= latest:
        raise _invalid(
            _("Give a year between %(first)d and %(last)d.")
            % {"first": FIRST_YEAR, "last": latest},
            "year",
        )
    return value


def _codes(values: Iterable[str], field_name: str, allowed: Iterable[str]) -> list[str]:
    allowed_list = list(allowed)
    chosen = [code for code in dict.fromkeys(str(v).strip() for v in values) if code]
    unknown = [code for code in chosen if code not in allowed_list]
    if unknown:
        raise _invalid(
            _("Unknown code(s): %(codes)s.") % {"codes": ", ".join(unknown)},
            field_name,
        )
    return chosen


def clean_topics(values: Iterable[str]) -> list[str]:
    """Return topic tags lower case, once each, at most 20 of 40 characters."""
    tags = []
    for value in values:
        tag = _line(str(value), "topics", TAG_MAX).casefold()
        tag = unicodedata.normalize("NFC", " ".join(tag.split()))
        if tag and tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise _invalid(_("Give at most %(n)d topics.") % {"n": MAX_TAGS}, "topics")
    return tags


def clean_languages(values: Iterable[str]) -> list[str]:
    """Return ISO 639 codes, once each, in one form: ISO 639-1 (alpha-2) where
    the language has one, else alpha-3, lower case (``bul`` is stored as
    ``bg``); refuse anything else."""
    given = [c for c in dict.fromkeys(str(v).strip().lower() for v in values) if c]
    unknown = [code for code in given if not is_language_code(code)]
    if unknown:
        raise _invalid(
            _("Unknown language code(s): %(codes)s. Use ISO 639 codes such as en.")
            % {"codes": ", ".join(unknown)},
            "languages",
        )
    return list(dict.fromkeys(normalise_language_code(code) for code in given))


def clean_sop_steps(values: Iterable[str], kept: Iterable[str] = ()) -> list[str]:
    """Return step ids of the node's SOP definition, once each, in given order.

    ``kept``: steps the resource already names, accepted even if the node's
    SOP definition no longer has them (the definition or its variant changed):
    only a step the caller adds must exist.
    """
    from trm.sop.loader import get_definition

    known = [step.id for step in get_definition().steps()]
    return _codes(values, "sop_steps", [*known, *kept])


#: What a short name must be: the SOP YAML schema's pattern of ``guidance:``
#: entries (``src/trm/sop/definitions/schema.json``).
SLUG_PATTERN = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


def make_slug(text: str, max_length: int = 80) -> str:
    """Return a short name made of ``text``: lower-case ASCII letters and
    digits in groups joined by single hyphens ("National_SOP 2024" gives
    ``national-sop-2024``), at most ``max_length`` characters; ``""`` when
    nothing usable remains."""
    slug = re.sub(r"[^a-z0-9]+", "-", slugify(text or "").lower())
    return slug[:max_length].strip("-")


def clean_slug(value: str, field_name: str = "slug") -> str:
    """Return a valid short name (lower-case letters, digits and single
    hyphens, as SOP definitions can name it); ``""`` for none given."""
    slug = make_slug(value or "")
    if value and (slug != value or not SLUG_PATTERN.fullmatch(value)):
        raise _invalid(
            _("Use lower-case letters, digits and hyphens only (e.g. %(example)s).")
            % {"example": slug or "trm-guidelines-2009"},
            field_name,
        )
    return slug


def clean_values(
    values: ResourceInput, kept_steps: Iterable[str] = ()
) -> dict[str, Any]:
    """Check every field; return the cleaned values (raises on the first problem).

    ``kept_steps``: SOP steps the resource already names (see
    :func:`clean_sop_steps`).

    Raises:
        GuidanceInvalidInput: no title, no or unknown category, a bad year,
            code, tag, language, link or step (``details["field"]``).
    """
    title = _line(values.title, "title", Resource.TITLE_MAX)
    if not title:
        raise _invalid(_("Give the title."), "title")
    if not values.category:
        raise _invalid(_("Choose a category."), "category")
    if values.category not in Category.values:
        raise _invalid(_("Choose one of the categories."), "category")
    return {
        "title": title,
        "category": values.category,
        "publisher": _line(values.publisher, "publisher", PUBLISHER_MAX),
        "year": clean_year(values.year),
        "regions": _codes(values.regions, "regions", Region.values),
        "topics": clean_topics(values.topics),
        "languages": clean_languages(values.languages),
        "summary": clean_summary(values.summary),
        "link": clean_link(values.link),
        "sop_steps": clean_sop_steps(values.sop_steps, kept_steps),
    }


def _free_slug(base: str) -> str:
    base = base or "resource"
    taken = Resource.objects.filter(slug__startswith=base)
    names = set(taken.values_list("slug", flat=True)) | RESERVED_SLUGS
    if base not in names:
        return base
    number = 2
    stem = base[:75].rstrip("-")
    while f"{stem}-{number}" in names:
        number += 1
    return f"{stem}-{number}"


@contextmanager
def _new_files_removed_on_failure() -> Iterator[list[str]]:
    """Yield a list for the names of files stored during a change; delete them
    if the change fails (its transaction rolled back), so no orphan is left."""
    written: list[str] = []
    try:
        yield written
    except BaseException:
        storage = guidance_storage()
        for name in written:
            storage.delete(name)
        raise


def _attach(resource: Resource, upload: CheckedFile, written: list[str]) -> None:
    """Store the checked file under a random name and describe it."""
    resource.file.save(
        f"{uuid.uuid4().hex}{upload.extension}", ContentFile(upload.content), save=False
    )
    resource.file_name = upload.name
    resource.file_type = upload.content_type
    resource.file_size = len(upload.content)
    resource.file_sha256 = upload.sha256
    resource.file_text = upload.text
    written.append(resource.file.name or "")


def _detach(resource: Resource) -> str:
    """Forget the resource's file; return its stored name (deleted on commit)."""
    old = resource.file.name or ""
    resource.file = ""
    resource.file_name = resource.file_type = resource.file_sha256 = ""
    resource.file_size = None
    resource.file_text = ""
    return old


def _delete_stored(name: str) -> None:
    """Delete a stored file once the change is committed (kept on rollback)."""
    if name:
        storage = guidance_storage()
        transaction.on_commit(lambda: storage.delete(name))


def _require_file_or_link(resource: Resource) -> None:
    if not resource.link and not resource.file:
        raise _invalid(_("Give a file or a public link (or both)."), "file")


def resource_create(
    *, actor: User, values: ResourceInput, upload: CheckedFile | None = None
) -> Resource:
    """Add a resource to the library (editors), in one durable transaction.

    ``upload`` is a file checked by :func:`trm.guidance.files.check_upload`;
    it is stored before the row is written and deleted again if the change
    fails.

    Raises:
        NotGuidanceEditor, GuidanceInvalidInput.
    """
    require_editor(actor)
    with (
        _new_files_removed_on_failure() as written,
        transaction.atomic(durable=True),
    ):
        return _create(actor=actor, values=values, upload=upload, written=written)


def _create(
    *,
    actor: User | None,
    values: ResourceInput,
    upload: CheckedFile | None,
    written: list[str] | None = None,
) -> Resource:
    cleaned = clean_values(values)
    slug = clean_slug(values.slug)
    if slug in RESERVED_SLUGS or (slug and Resource.objects.filter(slug=slug).exists()):
        raise _invalid(_("Another resource has this short name."), "slug")
    resource = Resource(
        **cleaned,
        slug=slug or _free_slug(make_slug(cleaned["title"], 70)),
        created_by=actor,
        updated_by=actor,
    )
    if upload is not None:
        _attach(resource, upload, written if written is not None else [])
    _require_file_or_link(resource)
    resource.save(force_insert=True)
    search.index_resource(resource)
    audit.record(
        actor=actor,
        action="guidance.resource_created",
        target=resource,
        data={"slug": resource.slug, "file": resource.file_sha256},
    )
    return resource


def _locked(resource_id: UUID) -> Resource:
    resource = Resource.objects.select_for_update().filter(pk=resource_id).first()
    if resource is None:
        raise ResourceNotFound(_("No such resource in the guidance library."))
    return resource


def resource_update(
    *,
    actor: User,
    resource_id: UUID,
    values: ResourceInput,
    upload: CheckedFile | None = None,
    remove_file: bool = False,
) -> Resource:
    """Change a resource (editors); a new ``upload`` replaces the file.

    One durable transaction; the old file is deleted once it commits, a new
    one again if it fails.

    Raises:
        NotGuidanceEditor, ResourceNotFound, GuidanceInvalidInput.
    """
    require_editor(actor)
    with (
        _new_files_removed_on_failure() as written,
        transaction.atomic(durable=True),
    ):
        resource = _locked(resource_id)
        return _update(
            actor=actor,
            resource=resource,
            values=values,
            upload=upload,
            remove_file=remove_file,
            written=written,
        )


def _update(
    *,
    actor: User | None,
    resource: Resource,
    values: ResourceInput,
    upload: CheckedFile | None,
    remove_file: bool,
    written: list[str],
) -> Resource:
    cleaned = clean_values(values, kept_steps=resource.sop_steps or ())
    # The resource's own short name is kept as it is, even one made before
    # short names had to match the SOP schema; a new one must.
    slug = "" if values.slug == resource.slug else clean_slug(values.slug)
    if slug and slug != resource.slug:
        if slug in RESERVED_SLUGS or Resource.objects.filter(slug=slug).exists():
            raise _invalid(_("Another resource has this short name."), "slug")
        cleaned["slug"] = slug
    changed = sorted(k for k, v in cleaned.items() if getattr(resource, k) != v)
    for name in changed:
        setattr(resource, name, cleaned[name])
    old_file = ""
    if upload is not None or remove_file:
        old_file = _detach(resource)
        changed.append("file")
    if upload is not None:
        _attach(resource, upload, written)
    _require_file_or_link(resource)
    resource.updated_by = actor
    resource.save()
    _delete_stored(old_file)
    search.index_resource(resource)
    audit.record(
        actor=actor,
        action="guidance.resource_updated",
        target=resource,
        data={"slug": resource.slug, "changed": changed, "file": resource.file_sha256},
    )
    return resource


@transaction.atomic(durable=True)
def resource_delete(*, actor: User, resource_id: UUID) -> None:
    """Remove a resource and its file from the library (editors).

    Raises:
        NotGuidanceEditor, ResourceNotFound.
    """
    require_editor(actor)
    resource = _locked(resource_id)
    stored = resource.file.name or ""
    audit.record(
        actor=actor,
        action="guidance.resource_deleted",
        target=resource,
        data={"slug": resource.slug},
    )
    search.unindex_resource(resource.pk)
    resource.delete()
    _delete_stored(stored)


# --- the starter catalogue ------------------------------------------------------


#: The seed file's fields and the types their values must have.
_SEED_TEXT = ("slug", "title", "category", "publisher", "summary", "link")
_SEED_LISTS = ("regions", "topics", "languages", "sop_steps")


def _seed_entry(index: int, entry: object, known: set[str]) -> ResourceInput:
    """Return one seed entry as ResourceInput, refusing wrong shapes or types."""
    where = f"resources[{index}]"
    if not isinstance(entry, Mapping) or set(entry) - known or not entry.get("slug"):
        raise _invalid(
            f"seed: entry {index} must be a mapping with a slug and only "
            f"the fields {', '.join(sorted(known))}",
            where,
        )
    name = f"entry {index} ({entry['slug']!r})"
    for key in _SEED_TEXT:
        if key in entry and not isinstance(entry[key], str):
            raise _invalid(f"seed: {name}: '{key}' must be text (quote it)", where)
    for key in _SEED_LISTS:
        value = entry.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _invalid(
                f"seed: {name}: '{key}' must be a list of text, e.g. [a, b]", where
            )
    year = entry.get("year")
    if year is not None and (isinstance(year, bool) or not isinstance(year, int)):
        raise _invalid(f"seed: {name}: 'year' must be a number such as 2009", where)
    return ResourceInput(**dict(entry))


def load_seed(path: Path = SEED_FILE) -> list[ResourceInput]:
    """Return the resources of a seed file (``seed.yaml``'s ``resources`` list).

    Raises:
        GuidanceInvalidInput: the file is not a list of resources with known
            fields of the right types (text, a list of text, a year number);
            the message and ``details["field"]`` name the entry.
    """
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    entries = data.get("resources") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise _invalid("seed: a top-level 'resources' list is required", "resources")
    known = {f.name for f in fields(ResourceInput)}
    return [_seed_entry(index, entry, known) for index, entry in enumerate(entries)]


@transaction.atomic(durable=True)
def seed_catalogue(*, path: Path = SEED_FILE) -> tuple[int, int]:
    """Add the seed file's resources this node has never had, by slug.

    Each slug added (or found already there) is remembered
    (:class:`~trm.guidance.models.SeededEntry`): a resource already there (an
    editor may have changed its summary or link) is left as it is, and one an
    editor deleted or renamed is not added again, so ``make run`` (which runs
    this at every start) changes nothing the editors did. Written by the system
    (audit actor ``None``).

    Returns:
        (added, skipped: present or seeded before).

    Raises:
        GuidanceInvalidInput: a seed entry breaks a rule (nothing is written).
    """
    added = skipped = 0
    seeded = set(SeededEntry.objects.values_list("slug", flat=True))
    for values in load_seed(path):
        if values.slug in seeded:
            skipped += 1
            continue
        if Resource.objects.filter(slug=values.slug).exists():
            skipped += 1
        else:
            try:
                _create(actor=None, values=values, upload=None)
            except GuidanceInvalidInput as exc:
                raise _invalid(
                    f"seed: entry {values.slug!r}: {exc.message}",
                    str(exc.details.get("field", "")),
                ) from None
            added += 1
        SeededEntry.objects.create(slug=values.slug)
        seeded.add(values.slug)
    return added, skipped
