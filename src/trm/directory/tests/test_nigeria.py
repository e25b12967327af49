"""Importing the IOM Nigeria directory (read in place, never copied into the repo)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from trm.accounts.models import Organisation
from trm.directory.importer import import_directory
from trm.directory.models import ServiceProfile
from trm.directory.selectors import directory_search

pytestmark = pytest.mark.django_db

NIGERIA = Path(
    os.environ.get(
        "TRM_NIGERIA_DIRECTORY",
        "/work/shared/data/nigeria-trafficking-service-providers/"
        "service-providers.json",
    )
)
SOURCE = "iom-nigeria-2020"

if not NIGERIA.exists():
    pytest.skip(
        f"the IOM Nigeria directory is not at {NIGERIA} (set TRM_NIGERIA_DIRECTORY)",
        allow_module_level=True,
    )


def _features() -> list[dict[str, Any]]:
    features: list[dict[str, Any]] = json.loads(NIGERIA.read_text(encoding="utf-8"))[
        "features"
    ]
    return features


def _import():
    return import_directory(
        NIGERIA, coordinate_order="lat-lon", country="NG", source=SOURCE
    )


def test_all_92_providers_are_imported_with_their_services():
    report = _import()
    assert report.errors == []
    assert (report.created, report.updated, report.skipped) == (92, 0, 0)
    assert ServiceProfile.objects.filter(source=SOURCE).count() == 92
    assert Organisation.objects.count() == 92
    # "Child to Child Network" (Ogun) and "Child To Child Network" (Lagos) are
    # two providers; the second is told apart by its state.
    assert any("Child To Child Network (Lagos State)" in w for w in report.warnings)
    assert not [w for w in report.warnings if "unknown service" in w]

    expected = {"Shelter": "shelter", "Health": "medical", "Legal": "legal_aid"}
    for feature in _features():
        props = feature["properties"]
        profile = ServiceProfile.objects.get(
            source=SOURCE, external_id=str(props["PROVIDER_ID"])
        )
        for label, code in expected.items():
            assert (label in props["SERVICE"]) == (code in profile.service_types)
        psychosocial = {"Psychosocial support", "Psycho-social support"}
        assert bool(psychosocial & set(props["SERVICE"])) == (
            "psychological" in profile.service_types
        )
        assert profile.email == (props["EMAIL"] or "")
        lat, lon = feature["geometry"]["coordinates"]
        assert (profile.latitude, profile.longitude) == (lat, lon)
        assert profile.latitude is not None and profile.longitude is not None
        assert 4 <= profile.latitude <= 14 and 2 <= profile.longitude <= 15


def test_reimport_creates_nothing_and_leaves_all_unchanged():
    _import()
    again = _import()
    assert again.errors == []
    assert (again.created, again.updated, again.skipped, again.unchanged) == (
        0,
        0,
        92,
        92,
    )
    assert Organisation.objects.count() == 92


def test_search_for_shelters_in_lagos():
    _import()
    expected = sorted(
        str(f["properties"]["PROVIDER_ID"])
        for f in _features()
        if "Shelter" in f["properties"]["SERVICE"]
        and "lagos" in f["properties"]["STATE"].casefold()
    )
    assert len(expected) == 11
    found = directory_search(service_type="shelter", region="lagos")
    assert sorted(p.external_id for p in found) == expected
    names = [p.organisation.name for p in found]
    assert names == sorted(names)
    # Typing "shelter" in the search box finds the same organisations as the
    # service-type filter (the word names a service, not an organisation).
    typed = directory_search(q="shelter", region="lagos")
    assert sorted(p.external_id for p in typed) == expected


def test_search_words_match_service_and_group_names_not_single_letters():
    _import()
    assert directory_search(q="sh").count() < directory_search().count()
    children = directory_search(q="children")
    assert children.count() >= directory_search(target_group="children").count()
