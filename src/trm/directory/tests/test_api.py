"""The service directory's API: search, read, capacity, profile; refusals."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import sign_in_verified
from django.test import Client

from trm.accounts.models import Organisation, Role, User
from trm.accounts.tests.factories import OrganisationFactory, UserFactory
from trm.directory import services
from trm.directory.models import ServiceProfile

pytestmark = pytest.mark.django_db


class Api:
    def __init__(self, user: Any) -> None:
        self.client = Client()
        sign_in_verified(self.client, user)

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.get(f"/api/v1{path}", params or {})

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(f"/api/v1{path}", body, content_type="application/json")

    def put(self, path: str, body: Any) -> Any:
        return self.client.put(f"/api/v1{path}", body, content_type="application/json")


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code, body
    error: dict[str, Any] = body["error"]
    return error


def profile(admin: User, organisation: Organisation, **values: Any) -> ServiceProfile:
    values.setdefault("service_types", ["shelter"])
    return services.profile_save(actor=admin, organisation_id=organisation.pk, **values)


@pytest.fixture
def shelter_b(admin_user, org_b):
    return profile(
        admin_user,
        org_b,
        target_groups=["women"],
        languages=["bg"],
        region="Fictional Region North",
    )


@pytest.fixture
def provider_b(org_b):
    return UserFactory(
        username="provider-b", organisation=org_b, roles=[Role.SERVICE_PROVIDER]
    )


def test_search_filters_and_paginates(caseworker_a, admin_user, shelter_b):
    profile(
        admin_user,
        OrganisationFactory(name="Fictional Clinic"),
        service_types=["medical"],
        region="Fictional Region North",
    )
    response = Api(caseworker_a).get(
        "/directory", {"service_type": "shelter", "region": "north"}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 1
    [item] = body["items"]
    assert item["organisation"] == "Fictional Shelter B"
    assert item["organisation_id"] == str(shelter_b.organisation_id)
    assert item["service_types"] == ["shelter"]
    assert item["places_total"] is None


def test_search_caps_the_page_size(caseworker_a, admin_user):
    for n in range(3):
        profile(admin_user, OrganisationFactory(name=f"Fictional Shelter {n}"))
    body = Api(caseworker_a).get("/directory", {"page_size": "2"}).json()
    assert body["count"] == 3 and len(body["items"]) == 2
    second = Api(caseworker_a).get("/directory", {"page_size": "2", "page": "2"})
    assert [i["organisation"] for i in second.json()["items"]] == [
        "Fictional Shelter 2"
    ]
    _error(
        Api(caseworker_a).get("/directory", {"page_size": "100000"}),
        422,
        "invalid_input",
    )


def test_search_refused_to_an_auditor(auditor, shelter_b):
    _error(Api(auditor).get("/directory"), 403, "permission_denied")


def test_search_needs_authentication(shelter_b):
    _error(Client().get("/api/v1/directory"), 401, "auth.required")


def test_detail(caseworker_a, shelter_b):
    response = Api(caseworker_a).get(f"/directory/{shelter_b.organisation_id}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["region"] == "Fictional Region North"
    assert body["languages"] == ["bg"]
    assert body["country"] == "BG"


def test_detail_refusals(caseworker_a, auditor, shelter_b, org_a):
    _error(
        Api(auditor).get(f"/directory/{shelter_b.organisation_id}"),
        403,
        "permission_denied",
    )
    _error(
        Api(caseworker_a).get(f"/directory/{org_a.pk}"),
        404,
        "directory.profile_not_found",
    )


def test_own_staff_report_capacity(provider_b, shelter_b):
    response = Api(provider_b).post(
        f"/directory/{shelter_b.organisation_id}/capacity",
        {"places_total": 8, "places_free": 2, "accepts_referrals": False},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["places_total"], body["places_free"]) == (8, 2)
    assert body["accepts_referrals"] is False
    assert body["capacity_updated_by_provider"] is True
    assert body["capacity_updated_at"]


def test_capacity_refusals(caseworker_a, provider_b, shelter_b):
    path = f"/directory/{shelter_b.organisation_id}/capacity"
    _error(
        Api(caseworker_a).post(path, {"places_total": 5, "places_free": 5}),
        403,
        "directory.capacity_not_allowed",
    )
    error = _error(
        Api(provider_b).post(path, {"places_total": -1, "places_free": 0}),
        400,
        "directory.invalid_input",
    )
    assert error["details"]["field"] == "places_total"
    shelter_b.refresh_from_db()
    assert shelter_b.places_total is None


def test_node_administrator_saves_a_profile(admin_user, org_b):
    response = Api(admin_user).put(
        f"/directory/{org_b.pk}",
        {"service_types": ["legal_aid"], "languages": ["en"], "region": "Fictional"},
    )
    assert response.status_code == 200, response.content
    assert response.json()["service_types"] == ["legal_aid"]
    assert ServiceProfile.objects.get(organisation=org_b).languages == ["en"]


def test_profile_save_refusals(admin_user, caseworker_b, shelter_b):
    path = f"/directory/{shelter_b.organisation_id}"
    _error(
        Api(caseworker_b).put(path, {"service_types": ["medical"]}),
        403,
        "accounts.not_node_administrator",
    )
    error = _error(
        Api(admin_user).put(path, {"service_types": ["spa"]}),
        400,
        "directory.invalid_input",
    )
    assert error["details"]["field"] == "service_types"
    _error(
        Api(admin_user).put(path, {"service_types": [], "unknown": 1}),
        422,
        "invalid_input",
    )
    shelter_b.refresh_from_db()
    assert shelter_b.service_types == ["shelter"]
