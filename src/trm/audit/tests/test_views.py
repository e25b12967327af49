import pytest
from django.urls import reverse

from trm.audit.tests import tampering

API_VERIFY = "/api/v1/audit/verify"
READERS = ["auditor", "admin_user"]
REFUSAL = "Only an auditor or a node administrator may do this."


@pytest.fixture(params=READERS)
def reader(request):
    return request.getfixturevalue(request.param)


def test_audit_reader_sees_the_log_newest_first(signed_in, reader, append):
    append(3)

    response = signed_in(reader).get(reverse("audit:entry_list"))

    assert response.status_code == 200
    entries = list(response.context["page"].object_list)
    assert [e.seq for e in entries] == [3, 2, 1]
    assert b"test.synthetic_3" in response.content


def test_audit_log_filters_by_exact_action(signed_in, auditor, append):
    append(3)

    response = signed_in(auditor).get(
        reverse("audit:entry_list"), {"action": "test.synthetic_2"}
    )

    assert [e.seq for e in response.context["page"].object_list] == [2]


def test_audit_reader_verifies_an_intact_chain_on_the_page(signed_in, reader, append):
    append(3)

    response = signed_in(reader).post(reverse("audit:verify"))

    assert response.status_code == 200
    assert b"The chain is intact: 3 entries checked." in response.content


def test_audit_reader_verifies_an_intact_chain_through_the_api(
    signed_in, reader, append
):
    append(3)

    response = signed_in(reader).post(API_VERIFY)

    assert response.status_code == 200
    assert response.json() == {"ok": True, "checked": 3, "bad_seq": None, "reason": ""}


def test_verify_page_names_the_entry_where_the_chain_breaks(signed_in, auditor, append):
    append(5)
    tampering.delete_entries(3)

    response = signed_in(auditor).post(reverse("audit:verify"))

    assert response.status_code == 200
    assert b"The chain is broken at entry 3: entries 3..3 are missing" in (
        response.content
    )
    assert b"intact" not in response.content


def test_verify_api_names_the_entry_where_the_chain_breaks(signed_in, auditor, append):
    append(5)
    tampering.edit_action(2, "test.innocuous")

    response = signed_in(auditor).post(API_VERIFY)

    assert response.status_code == 200
    body = response.json()
    assert (body["ok"], body["bad_seq"]) == (False, 2)
    assert "(edited)" in body["reason"]


def test_verify_page_accepts_only_post(signed_in, auditor):
    response = signed_in(auditor).get(reverse("audit:verify"))

    assert response.status_code == 405


def test_caseworker_is_refused_the_log_page(signed_in, caseworker_a, append):
    append(2)

    response = signed_in(caseworker_a).get(reverse("audit:entry_list"))

    assert response.status_code == 403
    assert "errors/domain.html" in [t.name for t in response.templates]
    assert REFUSAL.encode() in response.content
    assert b"test.synthetic_" not in response.content


def test_caseworker_is_refused_verification_on_the_page(signed_in, caseworker_a):
    response = signed_in(caseworker_a).post(reverse("audit:verify"))

    assert response.status_code == 403
    assert REFUSAL.encode() in response.content


def test_caseworker_is_refused_verification_through_the_api(signed_in, caseworker_a):
    response = signed_in(caseworker_a).post(API_VERIFY)

    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "permission_denied"
    assert error["message"] == REFUSAL
    assert "ok" not in response.json()


def test_anonymous_visitor_is_sent_to_sign_in(client, db):
    response = client.get(reverse("audit:entry_list"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_anonymous_api_call_is_refused_with_auth_required(client, db):
    response = client.post(API_VERIFY)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "auth.required"


def test_audit_log_pages_keep_the_action_filter(signed_in, auditor):
    from django.db import transaction

    from trm.audit import services

    with transaction.atomic():
        for i in range(120):
            services.record(actor=None, action="test.same" if i % 2 else "test.other")
    client = signed_in(auditor)
    first = client.get("/audit/", {"action": "test.same"}).content.decode()
    assert "?action=test.same&amp;page=2" in first
    second = client.get("/audit/", {"action": "test.same", "page": 2}).content.decode()
    assert "test.same" in second
    assert "test.other" not in second


def test_audit_log_shows_the_actor_username(signed_in, auditor, admin_user):
    from django.db import transaction

    from trm.audit import services

    with transaction.atomic():
        services.record(actor=admin_user, action="test.by_admin")
    body = signed_in(auditor).get("/audit/", {"action": "test.by_admin"}).content
    assert b"admin-a" in body
