"""The JSON API for data protection: erasure requests (four eyes) and the export.

Same services and selectors as the pages (``src/trm/dataprotection/tests``);
these tests check the API's answers: status codes, stable error codes, bodies
without personal data, and the export's headers and audit entry.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import sign_in_verified
from django.test import Client
from django.urls import reverse

from trm.accounts.models import Role
from trm.accounts.tests.factories import UserFactory
from trm.audit.models import AuditEntry
from trm.cases.models import Person
from trm.dataprotection import services
from trm.dataprotection.models import ErasureRequest
from trm.dataprotection.tests import people

pytestmark = pytest.mark.django_db

API = "/api/v1"
Status = ErasureRequest.Status
PERSONAL = (people.GIVEN, people.FAMILY, "ZZ000123", "900123", "Fictional Street")


class Api:
    """A client calling the API as one user, signed in with a second factor."""

    def __init__(self, user: Any) -> None:
        self.user = user
        self.client = Client()
        sign_in_verified(self.client, user)

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.get(f"{API}{path}", params or {})

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.post(
            f"{API}{path}", body or {}, content_type="application/json"
        )


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code, body
    return body["error"]


def _no_personal_data(response: Any) -> None:
    text = response.content.decode()
    for value in PERSONAL:
        assert value not in text


@pytest.fixture
def case(caseworker_a):
    return people.open_case(caseworker_a)


@pytest.fixture
def second_dpo(org_a):
    return UserFactory(username="auditor-a2", organisation=org_a, roles=[Role.AUDITOR])


def _request_path(case: Any) -> str:
    return f"/data-protection/cases/{case.pk}/erasure-requests"


def _confirm_path(request_id: Any) -> str:
    return f"/data-protection/erasure-requests/{request_id}/confirm"


def _cancel_path(request_id: Any) -> str:
    return f"/data-protection/erasure-requests/{request_id}/cancel"


def _export_path(case: Any) -> str:
    return f"/data-protection/cases/{case.pk}/export"


# --- request and confirm ------------------------------------------------------------


def test_request_then_confirm_by_another_dpo_erases_the_person(
    caseworker_a, auditor, second_dpo, case
):
    assert Api(caseworker_a).get(f"/cases/{case.pk}/person").status_code == 200

    created = Api(auditor).post(
        _request_path(case), {"reason": "gdpr_art17", "note": "Letter DP-7"}
    )

    assert created.status_code == 201, created.content
    body = created.json()
    assert body["status"] == "pending"
    assert body["reason"] == "gdpr_art17"
    assert body["note"] == "Letter DP-7"
    assert body["case_id"] == str(case.pk)
    assert body["case_number"] == case.number
    assert body["requested_by"] == auditor.username
    assert body["requested_at"]
    assert body["decided_by"] is None
    _no_personal_data(created)
    assert not Person.objects.get(pk=case.person_id).is_erased

    confirmed = Api(second_dpo).post(_confirm_path(body["id"]))

    assert confirmed.status_code == 200, confirmed.content
    after = confirmed.json()
    assert after["id"] == body["id"]
    assert after["status"] == "confirmed"
    assert after["decided_by"] == second_dpo.username
    assert after["decided_at"]
    _no_personal_data(confirmed)
    assert Person.objects.get(pk=case.person_id).is_erased
    _error(
        Api(caseworker_a).get(f"/cases/{case.pk}/person"), 409, "cases.person_erased"
    )
    # Decided once: neither confirmed again nor cancelled.
    again = Api(second_dpo).post(_confirm_path(body["id"]))
    _error(again, 409, "dataprotection.request_closed")
    _error(
        Api(auditor).post(_cancel_path(body["id"])),
        409,
        "dataprotection.request_closed",
    )


def test_case_manager_on_the_team_may_request(caseworker_a, case):
    created = Api(caseworker_a).post(_request_path(case), {"reason": "court_order"})

    assert created.status_code == 201, created.content
    assert ErasureRequest.objects.get().requested_by == caseworker_a


def test_the_requester_may_not_confirm_their_own_request(auditor, case):
    client = Api(auditor)
    request_id = client.post(_request_path(case), {"reason": "gdpr_art17"}).json()["id"]

    _error(
        client.post(_confirm_path(request_id)), 403, "dataprotection.four_eyes_required"
    )

    assert ErasureRequest.objects.get().status == Status.PENDING
    assert not Person.objects.get(pk=case.person_id).is_erased


def test_the_requester_may_withdraw_their_own_request(caseworker_a, case):
    client = Api(caseworker_a)
    request_id = client.post(_request_path(case), {"reason": "gdpr_art17"}).json()["id"]

    # The case manager decides nothing else…
    _error(client.post(_confirm_path(request_id)), 403, "dataprotection.role_required")
    cancelled = client.post(_cancel_path(request_id))

    assert cancelled.status_code == 200, cancelled.content
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["decided_by"] == caseworker_a.username
    assert not Person.objects.get(pk=case.person_id).is_erased


def test_a_request_is_hidden_from_users_who_may_not_decide_on_it(
    caseworker_a, caseworker_b, auditor, case
):
    pending = services.erasure_request(
        actor=auditor, case_id=case.pk, reason="gdpr_art17"
    )

    # Not the requester, not a decider: the request does not exist for them.
    for user in (caseworker_a, caseworker_b):
        _error(
            Api(user).post(_cancel_path(pending.pk)),
            404,
            "dataprotection.request_not_found",
        )
    pending.refresh_from_db()
    assert pending.status == Status.PENDING


def test_an_unknown_request_is_not_found(auditor):
    missing = "00000000-0000-4000-8000-000000000000"

    _error(
        Api(auditor).post(_confirm_path(missing)),
        404,
        "dataprotection.request_not_found",
    )


# --- refusals of the request --------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "forgotten", "other"])
def test_a_bad_reason_is_refused_with_a_code(caseworker_a, case, reason):
    response = Api(caseworker_a).post(_request_path(case), {"reason": reason})

    error = _error(response, 400, "dataprotection.invalid_input")
    field = "note" if reason == "other" else "reason"
    assert error["details"] == {"field": field}
    assert error["message"]
    assert not ErasureRequest.objects.exists()


def test_a_long_note_and_unknown_fields_are_refused(caseworker_a, case):
    client = Api(caseworker_a)

    long_note = client.post(
        _request_path(case), {"reason": "gdpr_art17", "note": "x" * 201}
    )
    _error(long_note, 400, "dataprotection.invalid_input")
    unknown = client.post(
        _request_path(case), {"reason": "gdpr_art17", "person": "Fictional"}
    )
    _error(unknown, 422, "invalid_input")
    assert not ErasureRequest.objects.exists()


def test_a_second_request_conflicts(caseworker_a, auditor, case):
    services.erasure_request(actor=auditor, case_id=case.pk, reason="gdpr_art17")

    response = Api(caseworker_a).post(_request_path(case), {"reason": "court_order"})

    _error(response, 409, "dataprotection.erasure_already_requested")


def test_request_is_refused_outside_the_case_and_to_other_roles(
    caseworker_b, admin_user, org_a, case
):
    for user in (caseworker_b, admin_user):
        response = Api(user).post(_request_path(case), {"reason": "gdpr_art17"})
        _error(response, 404, "cases.not_found")
    prosecutor = people.prosecutor_on(case, org_a)
    response = Api(prosecutor).post(_request_path(case), {"reason": "gdpr_art17"})
    _error(response, 403, "dataprotection.role_required")
    assert not ErasureRequest.objects.exists()


# --- the list -----------------------------------------------------------------------


def test_dpo_and_admin_list_pending_and_decided_requests(
    caseworker_a, auditor, second_dpo, admin_user
):
    first = people.open_case(caseworker_a, with_records=False)
    second = people.open_case(
        caseworker_a, with_records=False, given_names="Fictiva", family_names="Other"
    )
    done = services.erasure_request(
        actor=auditor, case_id=first.pk, reason="other", note="Ref 1"
    )
    services.erasure_confirm(actor=second_dpo, request_id=done.pk)
    waiting = services.erasure_request(
        actor=caseworker_a, case_id=second.pk, reason="court_order"
    )

    for user in (auditor, admin_user):
        client = Api(user)
        pending = client.get("/data-protection/erasure-requests", {"status": "pending"})
        assert pending.status_code == 200, pending.content
        assert pending.json()["count"] == 1
        assert [r["id"] for r in pending.json()["items"]] == [str(waiting.pk)]
        decided = client.get("/data-protection/erasure-requests", {"status": "decided"})
        assert [r["id"] for r in decided.json()["items"]] == [str(done.pk)]
        assert decided.json()["items"][0]["decided_by"] == second_dpo.username
        everything = client.get("/data-protection/erasure-requests")
        assert everything.json()["count"] == 2
        assert everything.json()["more"] is False
        paged = client.get("/data-protection/erasure-requests", {"page_size": 1})
        assert len(paged.json()["items"]) == 1
        page_two = client.get(
            "/data-protection/erasure-requests", {"page_size": 1, "page": 2}
        )
        assert page_two.json()["items"][0]["id"] != paged.json()["items"][0]["id"]
        _no_personal_data(everything)


def test_the_list_is_refused_to_other_roles(caseworker_a, no_role_user):
    for user in (caseworker_a, no_role_user):
        _error(
            Api(user).get("/data-protection/erasure-requests"),
            403,
            "dataprotection.role_required",
        )


def test_the_list_refuses_an_unknown_status_filter(auditor):
    response = Api(auditor).get(
        "/data-protection/erasure-requests", {"status": "everything"}
    )

    _error(response, 422, "invalid_input")


# --- export -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "scope"), [("auditor", "all"), ("caseworker_a", "case_team")]
)
def test_export_is_the_pages_json_and_is_audited(request, case, persona, scope):
    user = request.getfixturevalue(persona)
    client = Api(user)

    response = client.get(_export_path(case))

    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/json")
    assert "no-store" in response["Cache-Control"]
    assert response["Content-Language"] == "ro"
    data = response.json()
    assert data["schema"] == "trm.subject-access.v1"
    assert data["scope"]["code"] == scope
    assert data["person"]["identity"]["given_names"] == people.GIVEN
    entry = AuditEntry.objects.filter(
        action="dataprotection.subject_access_exported"
    ).get()
    assert entry.actor_id == user.pk
    assert entry.target_type == "cases.person"
    assert entry.target_id == str(case.person_id)
    # The same document as the page's JSON download (apart from the moment).
    page = client.client.get(
        reverse("dataprotection:export", kwargs={"case_id": case.pk}) + "?format=json"
    )
    page_data = json.loads(page.content)
    for document in (data, page_data):
        document.pop("exported_at")
        document.pop("audit")  # the second export adds an audit entry
    assert data == page_data


def test_export_is_not_found_for_others_and_refused_to_other_team_roles(
    caseworker_b, admin_user, no_role_user, org_a, case
):
    for user in (caseworker_b, admin_user, no_role_user):
        _error(Api(user).get(_export_path(case)), 404, "cases.not_found")
    prosecutor = people.prosecutor_on(case, org_a)
    _error(Api(prosecutor).get(_export_path(case)), 403, "dataprotection.role_required")
    assert not AuditEntry.objects.filter(
        action="dataprotection.subject_access_exported"
    ).exists()


def test_export_needs_authentication(case):
    response = Client().get(f"{API}{_export_path(case)}")

    _error(response, 401, "auth.required")
