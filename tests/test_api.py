"""The JSON API base: authentication, CSRF, 2FA, structured errors, OpenAPI."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from conftest import sign_in_verified
from django.test import Client
from django.utils import timezone

from trm.accounts import services
from trm.accounts.models import APIToken, Organisation, Role, TOTPDevice, hash_token
from trm.accounts.tests.factories import (
    OrganisationFactory,
    TOTPDeviceFactory,
    UserFactory,
)
from trm.audit.models import AuditEntry

API = "/api/v1"

NEW_ORG = {
    "name": "Fictional Helpline C",
    "country": "MD",
    "org_type": "NGO",
    "functions": ["SP"],
}


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]


def _new_token(user, *, name: str = "synthetic test token", days: int = 90):
    """Make a token as the user would from a session that passed the second factor."""
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        TOTPDeviceFactory(user=user)
    return services.api_token_create(
        actor=user, name=name, days=days, second_factor=True
    )


def _token_for(user) -> str:
    return _new_token(user).raw


def _bearer(raw: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


@pytest.fixture
def admin_token(admin_user) -> str:
    return _token_for(admin_user)


# --- No credentials -------------------------------------------------------------


@pytest.mark.django_db
def test_get_without_credentials_answers_401_auth_required(client):
    response = client.get(f"{API}/me")

    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert _error(response)["code"] == "auth.required"


@pytest.mark.django_db
def test_post_without_credentials_answers_401_not_csrf_403():
    client = Client(enforce_csrf_checks=True)

    response = client.post(
        f"{API}/organisations", NEW_ORG, content_type="application/json"
    )

    assert response.status_code == 401
    assert _error(response)["code"] == "auth.required"
    assert not Organisation.objects.filter(name=NEW_ORG["name"]).exists()


# --- Bearer tokens --------------------------------------------------------------


@pytest.mark.django_db
def test_unknown_token_is_refused_as_invalid(client, admin_user):
    response = client.get(f"{API}/me", **_bearer("trm_" + "x" * 43))

    assert response.status_code == 401
    assert _error(response)["code"] == "auth.invalid_token"


@pytest.mark.django_db
def test_expired_token_is_refused_as_invalid(client, admin_user):
    raw = _new_token(admin_user, name="short", days=1).raw

    with time_machine.travel(timezone.now() + timedelta(days=1, seconds=1)):
        response = client.get(f"{API}/me", **_bearer(raw))

    assert response.status_code == 401
    assert _error(response)["code"] == "auth.invalid_token"


@pytest.mark.django_db
def test_token_still_works_just_before_expiry(client, admin_user):
    raw = _new_token(admin_user, name="short", days=1).raw

    with time_machine.travel(timezone.now() + timedelta(hours=23, minutes=59)):
        response = client.get(f"{API}/me", **_bearer(raw))

    assert response.status_code == 200


@pytest.mark.django_db
def test_revoked_token_is_refused_as_invalid(client, admin_user):
    new = _new_token(admin_user, name="to revoke")
    services.api_token_revoke(actor=admin_user, token_id=new.token.pk)

    response = client.get(f"{API}/me", **_bearer(new.raw))

    assert response.status_code == 401
    assert _error(response)["code"] == "auth.invalid_token"


@pytest.mark.django_db
def test_valid_token_shows_the_users_roles_on_me(client, admin_user):
    response = client.get(f"{API}/me", **_bearer(_token_for(admin_user)))

    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "admin-a"
    assert body["organisation"] == "Fictional Ministry A"
    assert body["country"] == "BG"
    assert body["roles"] == [Role.NODE_ADMINISTRATOR]


@pytest.mark.django_db
def test_token_of_deactivated_user_is_refused(client, admin_user, caseworker_a):
    raw = _token_for(caseworker_a)
    services.user_set_active(actor=admin_user, user_id=caseworker_a.pk, active=False)

    response = client.get(f"{API}/me", **_bearer(raw))

    assert response.status_code == 401
    assert _error(response)["code"] == "auth.inactive"


@pytest.mark.django_db
def test_token_of_user_owing_password_change_is_refused(client, caseworker_a):
    raw = _token_for(caseworker_a)
    caseworker_a.must_change_password = True
    caseworker_a.save(update_fields=["must_change_password"])

    response = client.get(f"{API}/me", **_bearer(raw))

    assert response.status_code == 403
    assert _error(response)["code"] == "auth.password_change_required"


@pytest.mark.django_db
def test_bad_token_is_not_rescued_by_a_valid_session(signed_in, admin_user):
    client = signed_in(admin_user)

    response = client.get(f"{API}/me", **_bearer("trm_unknown"))

    assert response.status_code == 401
    assert _error(response)["code"] == "auth.invalid_token"


@pytest.mark.django_db
def test_first_use_records_token_last_used_at(client, admin_user):
    new = _new_token(admin_user, name="usage")
    assert new.token.last_used_at is None

    client.get(f"{API}/me", **_bearer(new.raw))

    new.token.refresh_from_db()
    assert new.token.last_used_at is not None


@pytest.mark.django_db
def test_last_used_at_is_refreshed_only_after_five_minutes(client, admin_user):
    new = _new_token(admin_user, name="usage")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.get(f"{API}/me", **_bearer(new.raw))
    with time_machine.travel(start + timedelta(minutes=4), tick=False):
        client.get(f"{API}/me", **_bearer(new.raw))
    new.token.refresh_from_db()
    assert new.token.last_used_at == start

    with time_machine.travel(start + timedelta(minutes=6), tick=False):
        client.get(f"{API}/me", **_bearer(new.raw))

    new.token.refresh_from_db()
    assert new.token.last_used_at == start + timedelta(minutes=6)


@pytest.mark.django_db
def test_token_plaintext_is_never_stored(admin_user):
    new = _new_token(admin_user, name="secret check")

    row = APIToken.objects.filter(pk=new.token.pk).values().get()
    assert new.raw.startswith("trm_")
    assert row["token_hash"] == hash_token(new.raw)
    assert all(new.raw not in str(value) for value in row.values())
    audit_rows = AuditEntry.objects.values_list(
        "action", "target_id", "data_digest", "hash"
    )
    assert all(new.raw not in str(value) for row in audit_rows for value in row)


# --- Browser session ------------------------------------------------------------


@pytest.mark.django_db
def test_password_only_session_of_personal_data_role_needs_second_factor(
    caseworker_a,
):
    client = Client()
    client.force_login(
        caseworker_a, backend="django.contrib.auth.backends.ModelBackend"
    )

    response = client.get(f"{API}/me")

    assert response.status_code == 401
    assert _error(response)["code"] == "auth.second_factor_required"


@pytest.mark.django_db
def test_password_only_session_is_enough_without_a_personal_data_role(no_role_user):
    client = Client()
    client.force_login(
        no_role_user, backend="django.contrib.auth.backends.ModelBackend"
    )

    response = client.get(f"{API}/me")

    assert response.status_code == 200
    assert response.json()["roles"] == []


@pytest.mark.django_db
def test_verified_session_reads_me(signed_in, auditor):
    response = signed_in(auditor).get(f"{API}/me")

    assert response.status_code == 200
    body = response.json()
    assert body["roles"] == [Role.AUDITOR]
    assert body["two_factor_verified"] is True


@pytest.mark.django_db
def test_verified_session_post_without_csrf_header_is_refused(admin_user):
    client = Client(enforce_csrf_checks=True)
    sign_in_verified(client, admin_user)
    audit_before = AuditEntry.objects.count()

    response = client.post(
        f"{API}/organisations", NEW_ORG, content_type="application/json"
    )

    assert response.status_code == 403
    assert _error(response)["code"] == "auth.csrf_failed"
    assert not Organisation.objects.filter(name=NEW_ORG["name"]).exists()
    assert AuditEntry.objects.count() == audit_before


@pytest.mark.django_db
def test_verified_session_post_with_csrf_header_creates(admin_user):
    client = Client(enforce_csrf_checks=True)
    sign_in_verified(client, admin_user)
    client.get("/accounts/me/")  # a page with a form sets the csrftoken cookie
    csrf = client.cookies["csrftoken"].value

    response = client.post(
        f"{API}/organisations",
        NEW_ORG,
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf,
    )

    assert response.status_code == 201, response.content
    assert Organisation.objects.filter(name=NEW_ORG["name"]).exists()


@pytest.mark.django_db
def test_deactivated_users_session_is_not_authenticated(signed_in, admin_user, auditor):
    client = signed_in(auditor)
    services.user_set_active(actor=admin_user, user_id=auditor.pk, active=False)

    response = client.get(f"{API}/me")

    assert response.status_code == 401
    assert _error(response)["code"] == "auth.required"


# --- Organisations: create, validation, refusals ------------------------------------


@pytest.mark.django_db
def test_token_post_creates_organisation_with_201(client, admin_token):
    response = client.post(
        f"{API}/organisations",
        NEW_ORG,
        content_type="application/json",
        **_bearer(admin_token),
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == NEW_ORG["name"]
    assert body["country"] == "MD"
    assert body["functions"] == ["SP"]
    assert Organisation.objects.filter(pk=body["id"]).exists()
    assert AuditEntry.objects.filter(
        action="accounts.organisation_created", target_id=body["id"]
    ).exists()


@pytest.mark.django_db
def test_malformed_payload_answers_422_with_error_locations(client, admin_token):
    response = client.post(
        f"{API}/organisations",
        {"name": "", "country": "MDA"},
        content_type="application/json",
        **_bearer(admin_token),
    )

    assert response.status_code == 422
    error = _error(response)
    assert error["code"] == "invalid_input"
    locations = {tuple(e["location"]) for e in error["details"]["errors"]}
    assert locations == {
        ("body", "payload", "name"),
        ("body", "payload", "country"),
        ("body", "payload", "org_type"),
    }
    assert all(e["message"] and e["type"] for e in error["details"]["errors"])


@pytest.mark.django_db
def test_unparseable_json_body_answers_structured_error(client, admin_token):
    response = client.post(
        f"{API}/organisations",
        "{not json",
        content_type="application/json",
        **_bearer(admin_token),
    )

    assert 400 <= response.status_code < 500
    assert _error(response)["code"]


@pytest.mark.django_db
def test_unknown_org_type_is_refused_by_the_service(client, admin_token):
    response = client.post(
        f"{API}/organisations",
        {**NEW_ORG, "org_type": "no-such-type"},
        content_type="application/json",
        **_bearer(admin_token),
    )

    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "accounts.invalid_input"
    assert error["details"]["field"] == "org_type"


@pytest.mark.django_db
def test_unassigned_country_code_is_refused(client, admin_token):
    response = client.post(
        f"{API}/organisations",
        {**NEW_ORG, "country": "ZZ"},
        content_type="application/json",
        **_bearer(admin_token),
    )

    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "accounts.invalid_input"
    assert error["details"]["field"] == "country"
    assert not Organisation.objects.filter(name=NEW_ORG["name"]).exists()


@pytest.mark.django_db
def test_caseworker_creating_organisation_is_refused_with_stable_code(
    client, caseworker_a
):
    response = client.post(
        f"{API}/organisations",
        NEW_ORG,
        content_type="application/json",
        **_bearer(_token_for(caseworker_a)),
    )

    assert response.status_code == 403
    assert _error(response)["code"] == "accounts.not_node_administrator"
    assert not Organisation.objects.filter(name=NEW_ORG["name"]).exists()


@pytest.mark.django_db
def test_duplicate_organisation_name_answers_409(client, admin_token):
    OrganisationFactory(name="Fictional Helpline C")

    response = client.post(
        f"{API}/organisations",
        {**NEW_ORG, "name": "fictional helpline c"},
        content_type="application/json",
        **_bearer(admin_token),
    )

    assert response.status_code == 409
    error = _error(response)
    assert error["code"] == "accounts.duplicate"
    assert error["details"] == {"field": "name"}


@pytest.mark.django_db
def test_any_signed_in_user_lists_organisations(client, caseworker_a, org_b):
    response = client.get(
        f"{API}/organisations", {"q": "shelter"}, **_bearer(_token_for(caseworker_a))
    )

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert [o["name"] for o in body["items"]] == ["Fictional Shelter B"]


# --- Not found, users and pagination -----------------------------------------------


@pytest.mark.django_db
def test_unknown_route_answers_404_json(client, admin_token):
    response = client.get(f"{API}/no-such-thing", **_bearer(admin_token))

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert _error(response)["code"] == "not_found"


@pytest.mark.django_db
def test_unknown_route_without_credentials_answers_404_json(client):
    response = client.get(f"{API}/no-such-thing")

    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"


def test_post_to_unknown_route_answers_404_json_not_csrf_page():
    client = Client(enforce_csrf_checks=True)

    response = client.post(f"{API}/no-such-thing", {}, content_type="application/json")

    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"


@pytest.mark.django_db
def test_users_are_paginated_with_count_and_items(client, admin_user, admin_token):
    UserFactory.create_batch(54, organisation=admin_user.organisation)

    first = client.get(f"{API}/users", **_bearer(admin_token))
    second = client.get(f"{API}/users", {"page": 2}, **_bearer(admin_token))

    assert first.status_code == second.status_code == 200
    assert first.json()["count"] == second.json()["count"] == 55
    assert len(first.json()["items"]) == 50
    assert len(second.json()["items"]) == 5
    names = [u["username"] for u in first.json()["items"] + second.json()["items"]]
    assert names == sorted(names)
    assert len(set(names)) == 55


@pytest.mark.django_db
def test_users_list_shows_roles(client, admin_token, auditor):
    response = client.get(f"{API}/users", {"q": "auditor"}, **_bearer(admin_token))

    assert response.json()["items"] == [
        {
            "id": auditor.pk,
            "username": "auditor-a",
            "organisation_id": str(auditor.organisation_id),
            "roles": [Role.AUDITOR],
            "is_active": True,
        }
    ]


@pytest.mark.django_db
def test_users_list_is_refused_to_caseworker(client, caseworker_a):
    response = client.get(f"{API}/users", **_bearer(_token_for(caseworker_a)))

    assert response.status_code == 403
    assert _error(response)["code"] == "accounts.not_node_administrator"


@pytest.mark.django_db
def test_audit_verify_is_refused_to_caseworker(client, caseworker_a):
    response = client.post(f"{API}/audit/verify", **_bearer(_token_for(caseworker_a)))

    assert response.status_code == 403
    assert _error(response)["code"]


@pytest.mark.django_db
def test_auditor_verifies_the_audit_chain(client, auditor):
    raw = _token_for(auditor)

    response = client.post(f"{API}/audit/verify", **_bearer(raw))

    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["checked"] >= 1


# --- OpenAPI and docs -------------------------------------------------------------


@pytest.mark.django_db
def test_openapi_schema_lists_paths_and_security_schemes(client):
    response = client.get(f"{API}/openapi.json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "TRM node API"
    for path in ("/api/v1/me", "/api/v1/organisations", "/api/v1/users"):
        assert path in schema["paths"]
    assert "post" in schema["paths"]["/api/v1/organisations"]
    schemes = schema["components"]["securitySchemes"]
    assert {"type": "http", "scheme": "bearer"}.items() <= schemes[
        "BearerTokenAuth"
    ].items()
    assert schemes["VerifiedSessionAuth"]["in"] == "cookie"


@pytest.mark.django_db
def test_docs_page_loads_only_local_static_files(client):
    response = client.get(f"{API}/docs")

    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert any(s.endswith(".js") for s in sources)
    assert all(s.startswith("/static/") for s in sources), sources
    assert not re.search(r"https?://", html)


# --- Tokens and the second factor (security review) ------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.CASE_MANAGER, Role.NODE_ADMINISTRATOR])
def test_token_made_without_second_factor_stops_working_when_a_role_needs_it(
    client, admin_user, no_role_user, role
):
    raw = services.api_token_create(actor=no_role_user, name="before the role").raw
    assert client.get(f"{API}/me", **_bearer(raw)).status_code == 200
    TOTPDeviceFactory(user=no_role_user)  # even with an authenticator set up later
    services.user_set_roles(actor=admin_user, user_id=no_role_user.pk, roles=[role])

    response = client.get(f"{API}/me", **_bearer(raw))

    assert response.status_code == 401
    assert _error(response)["code"] == "auth.second_factor_required"


@pytest.mark.django_db
def test_token_made_with_second_factor_stops_working_without_an_authenticator(
    client, caseworker_a
):
    raw = _token_for(caseworker_a)
    assert client.get(f"{API}/me", **_bearer(raw)).status_code == 200
    TOTPDevice.objects.filter(user=caseworker_a).delete()

    response = client.get(f"{API}/me", **_bearer(raw))

    assert response.status_code == 401
    assert _error(response)["code"] == "auth.second_factor_required"


@pytest.mark.django_db
def test_token_of_a_user_without_role_works_without_second_factor(client, no_role_user):
    raw = services.api_token_create(actor=no_role_user, name="no role").raw

    response = client.get(f"{API}/me", **_bearer(raw))

    assert response.status_code == 200


@pytest.mark.django_db
def test_credentials_reset_ends_the_users_tokens(client, admin_user, caseworker_a):
    raw = _token_for(caseworker_a)
    services.user_reset_credentials(actor=admin_user, user_id=caseworker_a.pk)

    response = client.get(f"{API}/me", **_bearer(raw))

    assert response.status_code == 401
    assert _error(response)["code"] == "auth.invalid_token"


# --- Deactivated organisations -------------------------------------------------------


def _deactivate(org) -> None:
    Organisation.objects.filter(pk=org.pk).update(is_active=False)


@pytest.mark.django_db
def test_token_of_user_in_deactivated_organisation_is_refused(client, caseworker_a):
    raw = _token_for(caseworker_a)
    _deactivate(caseworker_a.organisation)

    response = client.get(f"{API}/me", **_bearer(raw))

    assert response.status_code == 401
    assert _error(response)["code"] == "auth.inactive"


@pytest.mark.django_db
def test_session_of_user_in_deactivated_organisation_is_refused(signed_in, auditor):
    client = signed_in(auditor)
    _deactivate(auditor.organisation)

    response = client.get(f"{API}/me")

    assert response.status_code == 401
    assert _error(response)["code"] == "auth.inactive"


# --- Robustness: page numbers, body size, methods, text ------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["99999999999999999999", "1000001", "0", "-1"])
def test_out_of_range_page_number_answers_422(client, admin_token, page):
    response = client.get(f"{API}/users", {"page": page}, **_bearer(admin_token))

    assert response.status_code == 422
    error = _error(response)
    assert error["code"] == "invalid_input"
    assert ["query", "page"] in [e["location"] for e in error["details"]["errors"]]


@pytest.mark.django_db
def test_highest_allowed_page_number_answers_an_empty_page(client, admin_token):
    response = client.get(f"{API}/users", {"page": 1_000_000}, **_bearer(admin_token))

    assert response.status_code == 200
    assert response.json()["items"] == []


@pytest.mark.django_db
def test_body_over_the_upload_limit_answers_413(client, admin_token, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = client.post(
        f"{API}/organisations",
        {**NEW_ORG, "name": "x" * 2000},
        content_type="application/json",
        **_bearer(admin_token),
    )

    assert response.status_code == 413
    error = _error(response)
    assert error["code"] == "request_too_large"
    assert error["details"] == {"max_bytes": 1000}
    assert not Organisation.objects.filter(org_type="NGO", country="MD").exists()


@pytest.mark.django_db
def test_unsupported_method_answers_structured_405(client, admin_token):
    response = client.delete(f"{API}/me", **_bearer(admin_token))

    assert response.status_code == 405
    assert response["Content-Type"].startswith("application/json")
    error = _error(response)
    assert error["code"] == "method_not_allowed"
    assert error["details"] == {"allowed": ["GET"]}
    assert response["Allow"] == "GET"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    [
        "Fictional\x00Helpline",
        "Fictional\nHelpline",
        "Fictional \u202eenilpleH",
        "Fictional \u2067Helpline\u2069",
        "Fictional\u200bHelpline",
        "\ufeffFictional Helpline",
    ],
    ids=["nul", "newline", "rlo", "rli", "zwsp", "bom"],
)
def test_organisation_name_with_hidden_characters_is_refused(client, admin_token, name):
    response = client.post(
        f"{API}/organisations",
        {**NEW_ORG, "name": name},
        content_type="application/json",
        **_bearer(admin_token),
    )

    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "accounts.invalid_input"
    assert error["details"]["field"] == "name"
    assert not Organisation.objects.filter(country="MD").exists()


@pytest.mark.django_db
def test_organisation_name_differing_only_in_cyrillic_case_answers_409(
    client, admin_token
):
    first = client.post(
        f"{API}/organisations",
        {**NEW_ORG, "name": "Министерство на вътрешните работи"},
        content_type="application/json",
        **_bearer(admin_token),
    )
    assert first.status_code == 201

    response = client.post(
        f"{API}/organisations",
        {**NEW_ORG, "name": "МИНИСТЕРСТВО на вътрешните работи"},
        content_type="application/json",
        **_bearer(admin_token),
    )

    assert response.status_code == 409
    assert _error(response)["code"] == "accounts.duplicate"


@pytest.mark.django_db
def test_users_search_ignores_cyrillic_case(client, admin_user, admin_token):
    UserFactory(username="ivan", first_name="Иван", last_name="Петров")

    response = client.get(f"{API}/users", {"q": "иван"}, **_bearer(admin_token))

    assert [u["username"] for u in response.json()["items"]] == ["ivan"]


@pytest.mark.django_db
def test_api_answers_for_a_token_user_are_not_cached(client, admin_token):
    response = client.get(f"{API}/me", **_bearer(admin_token))

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]
