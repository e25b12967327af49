"""Searching the directory."""

from __future__ import annotations

import pytest

from trm.accounts.tests.factories import OrganisationFactory
from trm.directory import selectors
from trm.directory.errors import ProfileNotFound
from trm.directory.tests.factories import ServiceProfileFactory

pytestmark = pytest.mark.django_db


def _profile(name: str, **values):
    return ServiceProfileFactory(organisation=OrganisationFactory(name=name), **values)


@pytest.fixture
def profiles():
    return {
        "shelter_lagos": _profile(
            "Fictional Haven",
            region="Lagos State.",
            service_types=["shelter"],
            target_groups=["women"],
            languages=["en", "yo"],
        ),
        "crisis_lagos": _profile(
            "Fictional Crisis Desk",
            region="Lagos State.",
            service_types=["crisis_accommodation"],
            accepts_referrals=False,
        ),
        "shelter_edo": _profile(
            "Lagos Road Shelter",
            region="Edo State.",
            service_types=["shelter"],
            target_groups=["children"],
        ),
        "cyrillic": _profile(
            "Фиктивен Център",
            region="София",
            service_types=["legal_aid"],
            languages=["bg"],
        ),
    }


def _names(qs) -> list[str]:
    return [p.organisation.name for p in qs]


def test_region_filter_matches_a_folded_part_of_the_region(profiles):
    found = selectors.directory_search(region="lagos")
    assert _names(found) == ["Fictional Crisis Desk", "Fictional Haven"]


def test_service_type_matches_whole_codes(profiles):
    found = selectors.directory_search(service_type="shelter", region="lagos")
    assert _names(found) == ["Fictional Haven"]


def test_q_matches_name_or_region_in_any_script(profiles):
    assert _names(selectors.directory_search(q="ФИКТИВЕН")) == ["Фиктивен Център"]
    assert _names(selectors.directory_search(q="софия")) == ["Фиктивен Център"]
    assert _names(selectors.directory_search(q="LAGOS ROAD")) == ["Lagos Road Shelter"]


def test_other_filters(profiles):
    assert _names(selectors.directory_search(target_group="children")) == [
        "Lagos Road Shelter"
    ]
    assert _names(selectors.directory_search(language="YO")) == ["Fictional Haven"]
    assert "Fictional Crisis Desk" not in _names(
        selectors.directory_search(accepts_referrals=True)
    )
    assert _names(selectors.directory_search(accepts_referrals=False)) == [
        "Fictional Crisis Desk"
    ]


def test_inactive_organisations_are_left_out(profiles):
    org = profiles["shelter_lagos"].organisation
    org.is_active = False
    org.save()
    assert "Fictional Haven" not in _names(selectors.directory_search())
    assert "Lagos State." in selectors.regions()


def test_regions_are_distinct_and_sorted(profiles):
    assert selectors.regions() == ["Edo State.", "Lagos State.", "София"]


def test_profile_get(profiles):
    profile = profiles["cyrillic"]
    assert selectors.profile_get(organisation_id=profile.organisation_id) == profile
    with pytest.raises(ProfileNotFound):
        selectors.profile_get(organisation_id=OrganisationFactory().pk)
