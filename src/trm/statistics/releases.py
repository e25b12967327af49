"""Releases of the published datasets behind the historical records.

A published dataset (CTDC) is corrected and re-published: docs/ctdc-import.md
tells users to import a changed file under its own release. Each record keeps
its release, and every count table (:mod:`trm.statistics.tables`) counts, per
source, only the **current** release — the one first imported most recently —
so a corrected file replaces the old figures instead of doubling them.
Re-importing an older release (idempotent, adds nothing or fills gaps) does
not make it current again.
"""

from __future__ import annotations

from django.utils import timezone

from trm.statistics.models import HistoricalRelease


def register(source: str, release: str) -> HistoricalRelease:
    """Record that ``release`` of ``source`` was imported; called by the
    importers inside their durable transaction (not a transaction of its own).

    The first import of a release makes it current and marks every other
    release of the source superseded (now). A release already known is
    returned unchanged.
    """
    entry, created = HistoricalRelease.objects.get_or_create(
        source=source, release=release, defaults={"imported_at": timezone.now()}
    )
    if created:
        HistoricalRelease.objects.filter(
            source=source, superseded_at__isnull=True
        ).exclude(pk=entry.pk).update(superseded_at=entry.imported_at)
    return entry


def superseded() -> list[tuple[str, str]]:
    """``(source, release)`` pairs that are no longer counted."""
    return list(
        HistoricalRelease.objects.filter(superseded_at__isnull=False)
        .order_by("source", "release")
        .values_list("source", "release")
    )


def current() -> list[HistoricalRelease]:
    """The releases counted, one per source at most, by source."""
    return list(
        HistoricalRelease.objects.filter(superseded_at__isnull=True).order_by("source")
    )
