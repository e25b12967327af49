"""The guidance library: SOPs, standards and tools at the practitioner's elbow.

A :class:`Resource` describes one guidance document (the TRM Guidelines, a
national SOP, an indicator list, a law, a handbook): who published it and when,
its category and tags, the languages it exists in, a summary written by the
node's editors, an uploaded file and/or a public link, and the SOP steps it
supports. It holds no personal data. :mod:`trm.guidance.services` is its only
writer; the full-text index beside it (:mod:`trm.guidance.search`) is kept by
the same services.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import ClassVar

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage
from django.db import models
from django.utils.translation import gettext_lazy as _


class Category(models.TextChoices):
    """What kind of document a resource is (the libraries' usual categories)."""

    GUIDANCE = "guidance", _("Guidance")
    STANDARDS = "standards", _("Standards and codes of conduct")
    RESEARCH = "research", _("Research and data")
    TOOLS = "tools", _("Tools and forms")
    LEGISLATION = "legislation", _("Legislation")


class Region(models.TextChoices):
    """Where a resource applies (regional tags)."""

    GLOBAL = "global", _("Global")
    EUROPE = "europe", _("Europe")
    SOUTH_EAST_EUROPE = "south_east_europe", _("South-Eastern Europe")
    AFRICA = "africa", _("Africa")
    AMERICAS = "americas", _("Americas")
    ASIA = "asia", _("Asia")
    MIDDLE_EAST = "middle_east", _("Middle East")
    OCEANIA = "oceania", _("Oceania")


class GuidanceStorage(FileSystemStorage):
    """Plain files under ``settings.TRM_GUIDANCE_DIR``, read at each use (so
    tests and a changed setting take effect), with no public URL: files are
    served only by :func:`trm.guidance.views.download_view`."""

    @property
    def base_location(self) -> str:
        return str(settings.TRM_GUIDANCE_DIR)

    @property
    def location(self) -> str:
        return str(Path(self.base_location).resolve())


def guidance_storage() -> Storage:
    """Return the storage of uploaded files (a callable: migrations record no
    path)."""
    return GuidanceStorage()


class Resource(models.Model):
    """One guidance document in the node's library."""

    TITLE_MAX: ClassVar[int] = 300
    SUMMARY_MAX: ClassVar[int] = 4000

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    #: Stable name (``ilo-ec-operational-indicators-2009``): URLs and the SOP
    #: YAML's ``guidance:`` lists name resources by it.
    slug = models.SlugField(_("short name"), max_length=80, unique=True)
    title = models.CharField(_("title"), max_length=300)
    publisher = models.CharField(_("publisher"), max_length=200, blank=True)
    year = models.PositiveSmallIntegerField(_("year"), null=True, blank=True)
    category = models.CharField(_("category"), max_length=20, choices=Category)
    #: :class:`Region` codes.
    regions = models.JSONField(_("regions"), default=list, blank=True)
    #: Free topic tags, lower case ("indicators", "children", "return").
    topics = models.JSONField(_("topics"), default=list, blank=True)
    #: ISO 639 codes of the languages the document exists in.
    languages = models.JSONField(_("languages (ISO 639)"), default=list, blank=True)
    summary = models.TextField(_("summary"), blank=True)
    link = models.CharField(_("public link"), max_length=500, blank=True)
    #: The uploaded file, stored under a random name; ``file_name`` is the
    #: name it is downloaded as.
    file = models.FileField(
        _("file"), storage=guidance_storage, max_length=200, blank=True
    )
    file_name = models.CharField(max_length=200, blank=True, editable=False)
    file_type = models.CharField(max_length=100, blank=True, editable=False)
    file_size = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    file_sha256 = models.CharField(max_length=64, blank=True, editable=False)
    #: Text extracted from an uploaded PDF (what full-text search reads).
    file_text = models.TextField(blank=True, editable=False)
    #: Step ids (``sop1.screening``) this resource supports, besides the
    #: steps whose ``guidance:`` list in the SOP YAML names it.
    sop_steps = models.JSONField(_("SOP steps supported"), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["title"]
        indexes = [models.Index(fields=["category"], name="guidance_category_idx")]

    def __str__(self) -> str:
        return self.title

    def has_file(self) -> bool:
        """Return whether a file was uploaded."""
        return bool(self.file)

    def is_pdf(self) -> bool:
        """Return whether the uploaded file is a PDF (served as such)."""
        return self.file_type == "application/pdf"

    def category_label(self) -> str:
        """Return the category's human label."""
        return str(dict(Category.choices).get(self.category, self.category))

    def region_labels(self) -> list[str]:
        """Return the regions' human labels, in stored order."""
        labels = dict(Region.choices)
        return [str(labels.get(code, code)) for code in self.regions]


class SeededEntry(models.Model):
    """A short name of the starter catalogue (``seed.yaml``) this node has
    added (or found present) once: ``trm guidance seed`` never adds it again,
    so a resource an editor deleted or renamed stays so."""

    slug = models.CharField(max_length=80, primary_key=True)
    seeded_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.slug
