"""The service directory's pages: search, a profile, capacity, editing, CSV."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from tests.test_accessibility import assert_invalid_fields_described, assert_page_basics

from trm.accounts.models import Organisation, Role, User
from trm.accounts.tests.factories import OrganisationFactory, UserFactory
from trm.accounts.tests.helpers import message_texts
from trm.directory import services
from trm.directory.models import ServiceProfile

pytestmark = pytest.mark.django_db


def profile(admin: User, organisation: Organisation, **values: Any) -> ServiceProfile:
    values.setdefault("service_types", ["shelter"])
    return services.profile_save(actor=admin, organisation_id=organisation.pk, **values)


@pytest.fixture
def shelter_b(admin_user, org_b):
    return profile(
        admin_user,
        org_b,
        service_types=["shelter", "legal_aid"],
        target_groups=["women", "children"],
        languages=["bg", "en"],
        region="Fictional Region North",
        contact_24_7="+359 2 000 0000",
        latitude=42.697708,
        longitude=23.321868,
    )


@pytest.fixture
def provider_b(org_b):
    return UserFactory(
        username="provider-b", organisation=org_b, roles=[Role.SERVICE_PROVIDER]
    )


# --- the list ---------------------------------------------------------------------


def test_list_filters_by_service_type_and_region(signed_in, caseworker_a, admin_user):
    wanted = profile(
        admin_user,
        OrganisationFactory(name="Fictional North Shelter"),
        region="Fictional North",
    )
    profile(
        admin_user,
        OrganisationFactory(name="Fictional South Shelter"),
        region="Fictional South",
    )
    profile(
        admin_user,
        OrganisationFactory(name="Fictional North Clinic"),
        service_types=["medical"],
        region="Fictional North",
    )
    response = signed_in(caseworker_a).get(
        reverse("directory:list"),
        {"service_type": "shelter", "region": "Fictional North"},
    )
    assert response.status_code == 200
    assert [r.profile for r in response.context["rows"]] == [wanted]
    assert "Fictional North Shelter" in response.content.decode()
    assert "Fictional North Clinic" not in response.content.decode()


def test_list_shows_labels_capacity_and_24_7_contact(
    signed_in, caseworker_a, shelter_b, provider_b
):
    services.capacity_update(
        actor=provider_b,
        organisation_id=shelter_b.organisation_id,
        places_total=10,
        places_free=3,
    )
    html = signed_in(caseworker_a).get(reverse("directory:list")).content.decode()
    assert "Fictional Shelter B" in html
    assert "Shelter, Legal aid" in html
    assert "Women, Children" in html
    assert "3/10 places free" in html
    assert "by the provider" in html
    assert "+359 2 000 0000" in html
    assert "accepts referrals" in html


def test_list_says_when_capacity_is_not_reported(signed_in, caseworker_a, shelter_b):
    html = signed_in(caseworker_a).get(reverse("directory:list")).content.decode()
    assert "capacity not reported" in html


def test_list_filters_on_accepting_referrals(signed_in, caseworker_a, admin_user):
    profile(admin_user, OrganisationFactory(name="Fictional Open Shelter"))
    profile(
        admin_user,
        OrganisationFactory(name="Fictional Full Shelter"),
        accepts_referrals=False,
    )
    response = signed_in(caseworker_a).get(
        reverse("directory:list"), {"accepts_referrals": "on"}
    )
    names = [r.profile.organisation.name for r in response.context["rows"]]
    assert names == ["Fictional Open Shelter"]


def test_pagination_keeps_the_filters(signed_in, caseworker_a, admin_user):
    for n in range(26):
        profile(
            admin_user,
            OrganisationFactory(name=f"Fictional Shelter {n:02d}"),
            region="Fictional Coast",
        )
    client = signed_in(caseworker_a)
    response = client.get(
        reverse("directory:list"),
        {"service_type": "shelter", "region": "Fictional Coast"},
    )
    assert len(response.context["rows"]) == 25
    html = response.content.decode()
    assert 'href="?service_type=shelter&amp;region=Fictional+Coast&amp;page=2"' in html
    second = client.get(
        reverse("directory:list"),
        {"service_type": "shelter", "region": "Fictional Coast", "page": "2"},
    )
    assert [r.profile.organisation.name for r in second.context["rows"]] == [
        "Fictional Shelter 25"
    ]


def test_empty_directory_says_so(signed_in, caseworker_a):
    response = signed_in(caseworker_a).get(reverse("directory:list"))
    assert response.status_code == 200
    assert "The directory is empty" in response.content.decode()


def test_no_match_says_so(signed_in, caseworker_a, shelter_b):
    response = signed_in(caseworker_a).get(
        reverse("directory:list"), {"q": "Fictional Nowhere"}
    )
    assert "No organisation matches these filters" in response.content.decode()


def test_list_is_accessible(signed_in, caseworker_a, shelter_b):
    response = signed_in(caseworker_a).get(reverse("directory:list"))
    tree = assert_page_basics(response.content.decode())
    current = [a for a in tree.find_all("a") if a.attrs.get("aria-current") == "page"]
    assert [a.attrs["href"] for a in current] == [reverse("directory:list")]


def test_auditor_may_not_use_the_directory(signed_in, auditor, shelter_b):
    client = signed_in(auditor)
    assert client.get(reverse("directory:list")).status_code == 403
    detail = reverse("directory:detail", args=[shelter_b.organisation_id])
    assert client.get(detail).status_code == 403


def test_signed_out_user_is_sent_to_sign_in(client):
    response = client.get(reverse("directory:list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_menu_offers_services_to_case_workers_and_admins_only(
    signed_in, caseworker_a, admin_user, auditor
):
    url = reverse("directory:list")
    for user, shown in ((caseworker_a, True), (admin_user, True), (auditor, False)):
        html = signed_in(user).get(reverse("home")).content.decode()
        assert (f'href="{url}"' in html) is shown, user.username


def test_csv_link_for_node_administrators_only(
    signed_in, caseworker_a, admin_user, shelter_b
):
    export = reverse("directory:export")
    assert (
        export in signed_in(admin_user).get(reverse("directory:list")).content.decode()
    )
    assert (
        export
        not in signed_in(caseworker_a).get(reverse("directory:list")).content.decode()
    )


# --- one profile ------------------------------------------------------------------


def test_detail_shows_every_field_and_coordinates_as_text(
    signed_in, caseworker_a, shelter_b
):
    response = signed_in(caseworker_a).get(
        reverse("directory:detail", args=[shelter_b.organisation_id])
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Fictional Region North" in html
    assert "bg, en" in html
    assert "42.697708, 23.321868" in html
    assert "<img" not in html and "<iframe" not in html
    # Another organisation's case manager may not report this one's capacity.
    assert reverse("directory:capacity", args=[shelter_b.organisation_id]) not in html
    assert_page_basics(html)


def test_detail_of_organisation_without_profile_is_not_found(
    signed_in, caseworker_a, org_a
):
    response = signed_in(caseworker_a).get(reverse("directory:detail", args=[org_a.pk]))
    assert response.status_code == 404


# --- capacity ---------------------------------------------------------------------


def test_own_staff_report_capacity(signed_in, provider_b, shelter_b):
    url = reverse("directory:capacity", args=[shelter_b.organisation_id])
    client = signed_in(provider_b)
    assert client.get(url).status_code == 200
    response = client.post(
        url, {"places_total": "12", "places_free": "4", "accepts_referrals": "on"}
    )
    detail = reverse("directory:detail", args=[shelter_b.organisation_id])
    assert response.status_code == 302 and response["Location"] == detail
    shelter_b.refresh_from_db()
    assert (shelter_b.places_total, shelter_b.places_free) == (12, 4)
    assert shelter_b.capacity_updated_by == provider_b
    assert "The capacity is updated." in message_texts(client.get(detail))


def test_other_organisation_may_not_report_capacity(signed_in, caseworker_a, shelter_b):
    url = reverse("directory:capacity", args=[shelter_b.organisation_id])
    client = signed_in(caseworker_a)
    assert client.get(url).status_code == 403
    response = client.post(url, {"places_total": "5", "places_free": "5"})
    assert response.status_code == 403
    shelter_b.refresh_from_db()
    assert shelter_b.places_total is None


def test_negative_capacity_is_refused_with_the_input_kept(
    signed_in, provider_b, shelter_b
):
    url = reverse("directory:capacity", args=[shelter_b.organisation_id])
    response = signed_in(provider_b).post(
        url, {"places_total": "10", "places_free": "-1"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "The capacity cannot be below zero." in html
    assert 'value="-1"' in html and 'value="10"' in html
    tree = assert_page_basics(html)
    invalid = assert_invalid_fields_described(tree)
    assert [e.attrs["name"] for e in invalid] == ["places_free"]
    shelter_b.refresh_from_db()
    assert shelter_b.places_total is None and shelter_b.capacity_updated_at is None


# --- editing ----------------------------------------------------------------------


def test_node_administrator_creates_a_profile(signed_in, admin_user, org_b):
    url = reverse("directory:edit", args=[org_b.pk])
    client = signed_in(admin_user)
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "service_types": ["shelter", "medical"],
            "target_groups": ["women"],
            "languages": "bg, RO",
            "region": "Fictional Region",
            "email": "office@shelter.example",
            "accepts_referrals": "on",
            "latitude": "42.5",
            "longitude": "23.25",
        },
    )
    assert response.status_code == 302
    saved = ServiceProfile.objects.get(organisation=org_b)
    assert saved.service_types == ["shelter", "medical"]
    assert saved.languages == ["bg", "ro"]
    assert (saved.latitude, saved.longitude) == (42.5, 23.25)
    assert "The directory entry is saved." in message_texts(
        client.get(response["Location"])
    )


def test_edit_form_shows_the_saved_profile_and_service_errors(
    signed_in, admin_user, shelter_b
):
    url = reverse("directory:edit", args=[shelter_b.organisation_id])
    client = signed_in(admin_user)
    html = client.get(url).content.decode()
    assert 'value="bg, en"' in html
    assert_page_basics(html)
    response = client.post(url, {"service_types": ["shelter"], "languages": "zz9"})
    assert response.status_code == 400
    assert "Unknown language code" in response.content.decode()
    assert_invalid_fields_described(assert_page_basics(response.content.decode()))
    shelter_b.refresh_from_db()
    assert shelter_b.languages == ["bg", "en"]


def test_only_node_administrators_edit(signed_in, caseworker_b, shelter_b):
    url = reverse("directory:edit", args=[shelter_b.organisation_id])
    client = signed_in(caseworker_b)
    assert client.get(url).status_code == 403
    assert client.post(url, {"service_types": ["medical"]}).status_code == 403
    shelter_b.refresh_from_db()
    assert shelter_b.service_types == ["shelter", "legal_aid"]


# --- CSV --------------------------------------------------------------------------


def test_node_administrator_downloads_csv(signed_in, admin_user, shelter_b):
    response = signed_in(admin_user).get(reverse("directory:export"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment")
    assert "Fictional Shelter B" in response.content.decode()


def test_csv_export_is_for_node_administrators_only(signed_in, caseworker_a, shelter_b):
    assert signed_in(caseworker_a).get(reverse("directory:export")).status_code == 403
