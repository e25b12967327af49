"""Releases of the published datasets behind the historical records.

A published dataset (CTDC) is corrected and re-published: docs/ctdc-import.md
tells users to import a changed file under its own release. Each record keeps
its release, and every count table (:mod:`trm.statistics.tables`) counts only
the **current** CTDC release — the newest (greatest ``YYYY-MM-DD``) release
imported — so a corrected file replaces the old figures instead of doubling
them, whatever the order of the imports. A release is registered only when
its file held a readable record, so an empty or all-rejected file never hides
the data. HTCDS files are datasets of their own (one partner's cases each):
all of them count.
"""

from __future__ import annotations

from django.utils import timezone

from trm.statistics.models import HistoricalRelease

#: Sources whose releases are versions of ONE published dataset (a newer
#: release replaces the older ones). Every HTCDS file is a dataset of its own
#: (one partner's cases): never superseded.
VERSIONED_SOURCES = frozenset({"ctdc"})


def register(source: str, release: str) -> HistoricalRelease:
    """Record that ``release`` of ``source`` was imported; called by the
    importers inside their durable transaction (not a transaction of its own),
    only when the file held at least one readable record.

    For a :data:`VERSIONED_SOURCES` source the greatest release name (CTDC
    releases are dates, ``YYYY-MM-DD``) is current and every other release
    is superseded, whatever the order of the imports; an older release
    imported later does not replace a newer one. Other sources' releases are
    all current.
    """
    now = timezone.now()
    entry, _created = HistoricalRelease.objects.get_or_create(
        source=source, release=release, defaults={"imported_at": now}
    )
    if source in VERSIONED_SOURCES:
        entries = HistoricalRelease.objects.filter(source=source)
        newest = max(entries.values_list("release", flat=True))
        entries.filter(release=newest).update(superseded_at=None)
        entries.exclude(release=newest).filter(superseded_at__isnull=True).update(
            superseded_at=now
        )
        entry.refresh_from_db()
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
