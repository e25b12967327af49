"""The JSON API for cases and consent: same services, same checks, structured errors."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from conftest import sign_in_verified
from django.test import Client

from trm.accounts.models import Role
from trm.accounts.node_users import node_user
from trm.accounts.tests.factories import OrganisationFactory
from trm.audit.models import AuditEntry
from trm.cases.models import AgeBand, Case, Person
from trm.cases.tests.factories import (
    adult_birth_date,
    open_case,
    set_states,
    team_member,
)
from trm.cases.tracks import TRACKS
from trm.consent.models import Consent
from trm.dataprotection import crypto

pytestmark = pytest.mark.django_db

API = "/api/v1"
PDF = b"%PDF-1.7\n% fictional consent form\n"

IDENTITY = {
    "given_names": "Zorvina",
    "family_names": "Quellmar-Fictiv",
    "birth_date": "1994-05-06",
    "documents": [{"kind": "passport", "number": "ZZ 480-113", "issuing_country": ""}],
    "phones": ["+44 7700 900461"],
}


class Api:
    """A client calling the API as one user, signed in with a second factor.

    Bearer tokens and sessions reach the same endpoints; ``tests/test_api.py``
    tests both ways of signing in.
    """

    def __init__(self, user: Any) -> None:
        self.user = user
        self.client = Client()
        sign_in_verified(self.client, user)
        self.headers: dict[str, str] = {}

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.get(f"{API}{path}", params or {}, **self.headers)

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.post(
            f"{API}{path}", body or {}, content_type="application/json", **self.headers
        )

    def put(self, path: str, body: Any) -> Any:
        return self.client.put(
            f"{API}{path}", body, content_type="application/json", **self.headers
        )

    def delete(self, path: str) -> Any:
        return self.client.delete(f"{API}{path}", **self.headers)


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code, body
    return body["error"]


def _age(born: date) -> int:
    today = date.today()  # noqa: DTZ011 - a calendar date
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _last_seq() -> int:
    last = AuditEntry.objects.order_by("-seq").first()
    return last.seq if last else 0


def _actions_since(seq: int) -> list[str]:
    return list(AuditEntry.objects.filter(seq__gt=seq).values_list("action", flat=True))


@pytest.fixture
def cm(caseworker_a) -> Api:
    return Api(caseworker_a)


@pytest.fixture
def other(caseworker_b) -> Api:
    return Api(caseworker_b)


@pytest.fixture
def case(caseworker_a) -> Case:
    return open_case(
        caseworker_a,
        given_names="Zorvina",
        family_names="Quellmar-Fictiv",
        birth_date=date(1994, 5, 6),
    )


# --- authentication -------------------------------------------------------------


def test_cases_need_authentication(client):
    assert client.get(f"{API}/cases").status_code == 401
    response = client.post(
        f"{API}/cases/search", {"name": "x"}, content_type="application/json"
    )
    _error(response, 401, "auth.required")


# --- list -----------------------------------------------------------------------


def test_list_shows_only_my_cases_without_names_by_default(cm, other, case):
    open_case(other.user)
    before = _last_seq()

    body = cm.get("/cases").json()

    assert body["count"] == 1
    (item,) = body["items"]
    assert item["id"] == str(case.pk)
    assert item["number"] == case.number
    assert item["htcds_status"] == "Active"
    assert item["tracks"] == {name: t.initial for name, t in TRACKS.items()}
    assert item["person_name"] is None
    assert _actions_since(before) == []


def test_list_with_names_is_an_audited_read(cm, case):
    before = _last_seq()

    body = cm.get("/cases", {"with_names": "true"}).json()

    assert body["items"][0]["person_name"] == "Zorvina Quellmar-Fictiv"
    assert _actions_since(before) == ["cases.person_list_read"]


def test_list_filters_by_status(cm, case):
    closed = open_case(cm.user)
    cm.post(f"/cases/{closed.pk}/close", {"reason": "goals_met"})

    def ids(status: str) -> set[str]:
        return {c["id"] for c in cm.get("/cases", {"status": status}).json()["items"]}

    assert ids("open") == {str(case.pk)}
    assert ids("closed") == {str(closed.pk)}
    assert ids("all") == {str(case.pk), str(closed.pk)}
    _error(cm.get("/cases", {"status": "bogus"}), 422, "invalid_input")


def test_list_is_paginated(cm):
    for _ in range(5):
        open_case(cm.user)

    first = cm.get("/cases", {"page_size": 2}).json()
    third = cm.get("/cases", {"page_size": 2, "page": 3}).json()

    assert first["count"] == third["count"] == 5
    assert len(first["items"]) == 2
    assert len(third["items"]) == 1
    _error(cm.get("/cases", {"page_size": 500}), 422, "invalid_input")


# --- search -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        {"name": "QUELLMAR-FICTIV zorvina"},
        {"name": "Zorvina Quellmar-Fictiv", "birth_year": 1994},
        {"document_number": "zz480113"},
    ],
)
def test_search_in_the_body_finds_the_case(query, cm):
    case = open_case(cm.user, **IDENTITY)
    before = _last_seq()

    body = cm.post("/cases/search", query).json()

    assert [c["id"] for c in body["items"]] == [str(case.pk)]
    assert _actions_since(before) == ["cases.person_searched"]


def test_search_finds_nothing_in_cases_i_may_not_see(other, case):
    body = other.post("/cases/search", {"name": "Zorvina Quellmar-Fictiv"}).json()

    assert body == {"count": 0, "more": False, "items": []}


def test_search_is_not_offered_in_the_url(cm, case):
    response = cm.get("/cases/search", {"name": "Zorvina Quellmar-Fictiv"})

    assert response.status_code == 405


def test_search_without_a_name_or_number_is_refused(cm):
    error = _error(
        cm.post("/cases/search", {"birth_year": 1994}), 400, "cases.invalid_input"
    )

    assert error["details"] == {"field": "name"}


def test_search_refuses_unknown_fields(cm):
    _error(cm.post("/cases/search", {"surname": "Quellmar"}), 422, "invalid_input")


# --- open -------------------------------------------------------------------------


def test_open_creates_the_case_and_answers_its_detail(cm):
    response = cm.post(
        "/cases", {"identity": IDENTITY, "citizenships": ["md"], "gender": "Feminine"}
    )

    assert response.status_code == 201, response.content
    body = response.json()
    case = Case.objects.get(pk=body["id"])
    assert body["number"] == case.number
    assert body["person"]["citizenships"] == ["MD"]
    born = date.fromisoformat(IDENTITY["birth_date"])
    assert body["person"]["age_band"] == AgeBand.for_age(_age(born))
    assert body["team"][0]["username"] == cm.user.username
    assert body["my_roles"] == [Role.CASE_MANAGER]
    assert body["manages"] is True
    assert "Zorvina" not in response.content.decode()
    tracks = {t["track"]: t for t in body["tracks"]}
    # Identification moves through its own endpoints (screening, presume…).
    assert tracks["identification"]["moves"] == []
    # First assistance has its own endpoint (trm.assistance), with its guard.
    assert tracks["assistance"]["moves"] == []
    assert "ncp_notified" in tracks["transnational"]["moves"]


def test_open_presumed_child_starts_child_protection(cm):
    identity = {**IDENTITY, "birth_date": adult_birth_date(12).isoformat()}

    body = cm.post("/cases", {"identity": identity}).json()

    assert body["person"]["presumed_child"] is True
    tracks = {t["track"]: t["state"] for t in body["tracks"]}
    assert tracks["child_protection"] == "guardian_requested"


def test_open_refusal_is_a_structured_error_and_writes_nothing(cm):
    before = (Person.objects.count(), _last_seq())

    error = _error(
        cm.post("/cases", {"identity": IDENTITY, "citizenships": ["XX"]}),
        400,
        "cases.invalid_input",
    )

    assert error["details"] == {"field": "citizenships"}
    assert (Person.objects.count(), _last_seq()) == before


def test_open_with_a_taken_number_answers_409(cm, case):
    _error(
        cm.post("/cases", {"identity": IDENTITY, "number": case.number}),
        409,
        "cases.number_taken",
    )


def test_open_by_auditor_is_refused(auditor):
    _error(
        Api(auditor).post("/cases", {"identity": IDENTITY}),
        403,
        "cases.role_required",
    )


def test_malformed_identity_is_refused_without_echoing_it(cm):
    response = cm.post(
        "/cases",
        {
            "identity": {**IDENTITY, "given_names": "Zorvina" * 40, "nickname": "Z"},
            "number": "x",
        },
    )

    error = _error(response, 422, "invalid_input")
    locations = {tuple(e["location"][-2:]) for e in error["details"]["errors"]}
    assert ("identity", "given_names") in locations
    assert ("identity", "nickname") in locations
    assert "Zorvina" not in response.content.decode()
    assert not Person.objects.exists()


# --- detail and person -------------------------------------------------------------


def test_unseen_and_missing_cases_answer_the_same_404(other, case):
    unseen = other.get(f"/cases/{case.pk}")
    missing = other.get(f"/cases/{uuid.uuid4()}")

    assert _error(unseen, 404, "cases.not_found") == _error(
        missing, 404, "cases.not_found"
    )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/cases/{id}/person", None),
        ("put", "/cases/{id}/person", IDENTITY),
        (
            "post",
            "/cases/{id}/moves",
            {"track": "legal", "target": "informed_of_rights"},
        ),
        ("post", "/cases/{id}/close", {"reason": "goals_met"}),
        ("get", "/cases/{id}/notes", None),
        ("post", "/cases/{id}/notes", {"text": "Fictional"}),
        ("get", "/cases/{id}/timeline", None),
        ("post", "/cases/{id}/team", {"user_id": 1, "role": "case_manager"}),
        ("delete", "/cases/{id}/team/1", None),
        ("get", "/consent/cases/{id}", None),
        (
            "post",
            "/consent/cases/{id}",
            {
                "purpose": "referral",
                "categories": ["identity"],
                "given_by": "person",
                "language": "ro",
                "recipient_country": "BG",
                "declaration": "Fictional",
            },
        ),
    ],
)
def test_every_case_endpoint_hides_an_unseen_case(method, path, body, other, case):
    before = (_last_seq(), Case.objects.values_list("updated_at", flat=True).get())
    call = getattr(other, method)
    url = path.format(id=case.pk)

    response = call(url, body) if body is not None else call(url)

    _error(response, 404, "cases.not_found")
    assert (
        _last_seq(),
        Case.objects.values_list("updated_at", flat=True).get(),
    ) == before


def test_detail_lists_team_and_moves_i_may_make(cm, case):
    prosecutor = team_member(case, Role.PROSECUTOR)

    body = Api(prosecutor).get(f"/cases/{case.pk}").json()

    assert body["my_roles"] == [Role.PROSECUTOR]
    assert body["manages"] is False
    assert {m["role"] for m in body["team"]} == {Role.CASE_MANAGER, Role.PROSECUTOR}
    moves = {t["track"]: t["moves"] for t in body["tracks"]}
    # Informing of rights has its own endpoint (trm.proceedings).
    assert moves["legal"] == []
    assert moves["assistance"] == []


def test_person_identity_is_an_audited_read(cm, case):
    before = _last_seq()

    response = cm.get(f"/cases/{case.pk}/person")

    assert response.status_code == 200
    assert response.json()["family_names"] == "Quellmar-Fictiv"
    assert response.json()["birth_date"] == "1994-05-06"
    assert _actions_since(before) == ["cases.person_read"]


def test_person_identity_of_an_erased_person_answers_409(cm, case):
    crypto.destroy_data_key(case.person.data_key_id)

    _error(cm.get(f"/cases/{case.pk}/person"), 409, "cases.person_erased")


def test_identity_update_replaces_the_identity(cm, case):
    response = cm.put(f"/cases/{case.pk}/person", {**IDENTITY, "given_names": "Zora"})

    assert response.status_code == 204
    assert cm.get(f"/cases/{case.pk}/person").json()["given_names"] == "Zora"


# --- moves and closing --------------------------------------------------------------


def test_move_answers_the_updated_case(cm, case):
    response = cm.post(
        f"/cases/{case.pk}/moves",
        {"track": "transnational", "target": "ncp_notified", "reason": "Fictional"},
    )

    assert response.status_code == 200, response.content
    tracks = {t["track"]: t["state"] for t in response.json()["tracks"]}
    assert tracks["transnational"] == "ncp_notified"
    timeline = cm.get(f"/cases/{case.pk}/timeline").json()
    assert timeline[0]["kind"] == "case.track_moved"
    assert timeline[0]["detail"] == "Fictional"


def test_move_outside_the_track_data_answers_409_with_details(cm, case):
    error = _error(
        cm.post(f"/cases/{case.pk}/moves", {"track": "legal", "target": "witness"}),
        409,
        "cases.transition_not_allowed",
    )

    assert error["details"] == {
        "track": "legal",
        "from": "not_informed",
        "to": "witness",
    }


def test_only_the_competent_authority_identifies_through_the_api(cm, case):
    set_states(case, identification="presumed")

    error = _error(
        cm.post(
            f"/cases/{case.pk}/moves",
            {"track": "identification", "target": "identified"},
        ),
        403,
        "cases.role_required",
    )

    assert error["details"] == {"allowed_roles": [Role.COMPETENT_AUTHORITY]}
    # Even the competent authority decides through the identification
    # endpoint (reasons and rights information), never the generic move.
    authority = Api(team_member(case, Role.COMPETENT_AUTHORITY))
    error = _error(
        authority.post(
            f"/cases/{case.pk}/moves",
            {"track": "identification", "target": "identified"},
        ),
        409,
        "cases.transition_not_allowed",
    )
    assert error["details"]["reason"] == "dedicated_service"


def test_close_answers_the_closed_case(cm, case):
    body = cm.post(
        f"/cases/{case.pk}/close", {"reason": "referred", "note": "Fictional"}
    ).json()

    assert body["closed_at"] is not None
    assert body["closure_reason"] == "referred"
    assert body["htcds_status"] == "ClosedReferred"
    assert all(t["moves"] == [] for t in body["tracks"])


def test_close_by_a_service_provider_is_refused(case):
    sp = Api(team_member(case, Role.SERVICE_PROVIDER))

    _error(
        sp.post(f"/cases/{case.pk}/close", {"reason": "goals_met"}),
        403,
        "cases.role_required",
    )


# --- notes and team ---------------------------------------------------------------


def test_notes_are_added_and_listed_by_visibility(cm, case):
    prosecutor = Api(team_member(case, Role.PROSECUTOR))
    created = cm.post(
        f"/cases/{case.pk}/notes",
        {"text": " Fictional assistance note ", "visibility": "assistance_only"},
    )
    cm.post(f"/cases/{case.pk}/notes", {"text": "Fictional team note"})

    assert created.status_code == 201
    assert created.json()["text"] == "Fictional assistance note"
    assert created.json()["author"] == cm.user.username
    assert {n["text"] for n in cm.get(f"/cases/{case.pk}/notes").json()} == {
        "Fictional assistance note",
        "Fictional team note",
    }
    assert [n["text"] for n in prosecutor.get(f"/cases/{case.pk}/notes").json()] == [
        "Fictional team note"
    ]


def test_prosecutor_cannot_write_an_assistance_only_note(case):
    prosecutor = Api(team_member(case, Role.PROSECUTOR))

    error = _error(
        prosecutor.post(
            f"/cases/{case.pk}/notes",
            {"text": "Fictional", "visibility": "assistance_only"},
        ),
        400,
        "cases.invalid_input",
    )

    assert error["details"] == {"field": "visibility"}


def test_team_members_are_added_and_removed(cm, case, caseworker_b):
    added = cm.post(
        f"/cases/{case.pk}/team",
        {"user_id": caseworker_b.pk, "role": Role.CASE_MANAGER},
    )

    assert added.status_code == 201, added.content
    assert added.json()["username"] == caseworker_b.username
    assert Api(caseworker_b).get(f"/cases/{case.pk}").status_code == 200

    removed = cm.delete(f"/cases/{case.pk}/team/{caseworker_b.pk}")

    assert removed.status_code == 204
    _error(Api(caseworker_b).get(f"/cases/{case.pk}"), 404, "cases.not_found")


def test_a_peer_nodes_node_user_is_refused_with_a_structured_error(cm, case):
    peer = OrganisationFactory(
        name="Demo National Coordination Office Serbia (fictional)",
        home_node="demo-rs",
        remote_id=uuid.uuid4(),
    )
    node = node_user(organisation=peer, role=Role.NATIONAL_CONTACT_POINT)

    error = _error(
        cm.post(
            f"/cases/{case.pk}/team",
            {"user_id": node.pk, "role": Role.NATIONAL_CONTACT_POINT},
        ),
        400,
        "cases.not_a_local_user",
    )

    assert error["details"] == {"field": "user"}
    assert "Only people working on this node" in error["message"]
    assert not case.team.filter(user=node).exists()


def test_the_last_case_manager_cannot_be_removed(cm, case):
    _error(cm.delete(f"/cases/{case.pk}/team/{cm.user.pk}"), 400, "cases.invalid_input")


# --- consent ------------------------------------------------------------------------


def _consent_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "purpose": "referral",
        "categories": ["identity", "contact"],
        "given_by": "person",
        "language": "ro",
        "recipient_country": "BG",
        "declaration": "I agree (fictional declaration)",
    }
    body.update(overrides)
    return body


def test_consent_with_a_typed_declaration_is_recorded(cm, case, org_b):
    response = cm.post(
        f"/consent/cases/{case.pk}",
        _consent_body(recipient_country="", recipient_organisation_id=str(org_b.pk)),
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "valid"
    assert body["recipient_organisation"] == org_b.name
    assert body["has_declaration"] is True
    assert body["has_evidence"] is False
    assert "fictional declaration" not in response.content.decode()
    detail = cm.get(f"/consent/{body['id']}").json()
    assert detail["declaration"] == "I agree (fictional declaration)"


def test_consent_evidence_travels_as_base64_and_is_checked_by_content(cm, case):
    evidence = {
        "content_type": "application/pdf",
        "data": base64.b64encode(PDF).decode(),
    }

    response = cm.post(
        f"/consent/cases/{case.pk}", _consent_body(declaration="", evidence=evidence)
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["evidence_content_type"] == "application/pdf"
    download = cm.get(f"/consent/{body['id']}/evidence").json()
    assert base64.b64decode(download["data"]) == PDF


@pytest.mark.parametrize(
    "evidence",
    [
        {"content_type": "application/pdf", "data": "not base64!"},
        {"content_type": "image/png", "data": base64.b64encode(PDF).decode()},
        {"content_type": "text/plain", "data": base64.b64encode(b"hello").decode()},
    ],
)
def test_bad_evidence_is_refused(evidence, cm, case):
    error = _error(
        cm.post(f"/consent/cases/{case.pk}", _consent_body(evidence=evidence)),
        400,
        "consent.invalid_input",
    )

    assert error["details"] == {"field": "evidence"}
    assert not Consent.objects.exists()


def test_consent_times_need_a_time_zone(cm, case):
    response = cm.post(
        f"/consent/cases/{case.pk}",
        _consent_body(expires_at="2031-01-01T00:00:00"),
    )

    error = _error(response, 422, "invalid_input")
    assert error["details"]["errors"][0]["location"][-1] == "expires_at"


def test_consent_expiry_is_recorded(cm, case):
    body = cm.post(
        f"/consent/cases/{case.pk}",
        _consent_body(expires_at="2031-01-01T00:00:00+02:00"),
    ).json()

    expires = datetime.fromisoformat(body["expires_at"])
    assert expires == datetime(2030, 12, 31, 22, tzinfo=UTC)
    assert body["state"] == "valid"


def test_a_body_over_the_size_limit_answers_413(cm, case, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    evidence = {"content_type": "application/pdf", "data": "A" * 2000}

    response = cm.post(f"/consent/cases/{case.pk}", _consent_body(evidence=evidence))

    error = _error(response, 413, "request_too_large")
    assert error["details"] == {"max_bytes": 1000}


def test_childs_consent_without_the_guardian_is_refused(cm):
    child = open_case(cm.user, birth_date=adult_birth_date(13))

    _error(
        cm.post(f"/consent/cases/{child.pk}", _consent_body()),
        400,
        "consent.guardian_required",
    )


def test_consents_are_listed_and_withdrawn(cm, case):
    created = cm.post(f"/consent/cases/{case.pk}", _consent_body()).json()

    withdrawn = cm.post(f"/consent/{created['id']}/withdraw")

    assert withdrawn.status_code == 200
    assert withdrawn.json()["state"] == "withdrawn"
    listed = cm.get(f"/consent/cases/{case.pk}").json()
    assert [(c["id"], c["state"]) for c in listed] == [(created["id"], "withdrawn")]
    _error(
        cm.post(f"/consent/{created['id']}/withdraw"), 409, "consent.already_withdrawn"
    )


def test_consent_of_an_unseen_case_is_hidden(cm, other, case):
    created = cm.post(f"/consent/cases/{case.pk}", _consent_body()).json()

    _error(other.get(f"/consent/{created['id']}"), 404, "cases.not_found")
    _error(other.post(f"/consent/{created['id']}/withdraw"), 404, "cases.not_found")


def test_consent_require_has_no_endpoint(cm, case):
    response = cm.get("/consent/require", {"person": str(case.person_id)})

    assert response.status_code in {404, 422}


# --- OpenAPI -----------------------------------------------------------------------


def test_openapi_lists_the_case_and_consent_paths(client):
    paths = client.get(f"{API}/openapi.json").json()["paths"]

    for path in (
        "/api/v1/cases",
        "/api/v1/cases/search",
        "/api/v1/cases/{case_id}",
        "/api/v1/cases/{case_id}/person",
        "/api/v1/cases/{case_id}/moves",
        "/api/v1/cases/{case_id}/close",
        "/api/v1/cases/{case_id}/notes",
        "/api/v1/cases/{case_id}/team",
        "/api/v1/cases/{case_id}/team/{user_id}",
        "/api/v1/consent/cases/{case_id}",
        "/api/v1/consent/{consent_id}/withdraw",
    ):
        assert path in paths, path
    assert set(paths["/api/v1/cases/search"]) == {"post"}
    parameters = paths["/api/v1/cases"]["get"].get("parameters", [])
    assert not {p["name"] for p in parameters} & {"name", "document_number"}


# --- privacy review -----------------------------------------------------------------


def test_ncp_moving_to_no_link_gets_a_recorded_answer_not_404(case):
    from trm.accounts.tests.factories import UserFactory
    from trm.cases.tests.factories import set_states

    ncp = Api(UserFactory(roles=[Role.NATIONAL_CONTACT_POINT]))
    set_states(case, transnational="ncp_notified")
    response = ncp.post(
        f"/cases/{case.pk}/moves", {"track": "transnational", "target": "no_link"}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["recorded"] is True
    assert body["visible"] is False
    assert "no longer visible" in body["message"]
    case.refresh_from_db()
    assert case.transnational == "no_link"


def test_identity_update_with_a_future_birth_date_is_refused(cm, case):
    response = cm.put(
        f"/cases/{case.pk}/person", {**IDENTITY, "birth_date": "2999-01-01"}
    )
    assert _error(response, 400, "cases.invalid_input")["details"]["field"] == (
        "birth_date"
    )


def test_identity_update_to_a_child_starts_child_protection_over_the_api(cm, case):
    born = adult_birth_date(12).isoformat()
    response = cm.put(f"/cases/{case.pk}/person", {**IDENTITY, "birth_date": born})
    assert response.status_code == 204, response.content
    detail = cm.get(f"/cases/{case.pk}").json()
    assert detail["person"]["presumed_child"] is True
    tracks = {t["track"]: t["state"] for t in detail["tracks"]}
    assert tracks["child_protection"] == "guardian_requested"


def test_bidi_override_in_a_name_is_refused_over_the_api(cm):
    response = cm.post(
        "/cases", {"identity": {**IDENTITY, "given_names": "Zor\u202eanivr"}}
    )
    assert _error(response, 400, "invalid_text")["details"]["field"] == "given_names"


def test_case_number_with_markup_is_refused_over_the_api(cm):
    response = cm.post("/cases", {"identity": IDENTITY, "number": "<b>x</b>"})
    assert _error(response, 400, "cases.invalid_input")["details"]["field"] == (
        "number"
    )
