"""Referral pages: the provider's inbox shows only what was shared; the case team's
forms refuse with messages next to the field and keep what was typed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.html import escape
from tests.test_accessibility import assert_invalid_fields_described, assert_page_basics

from trm.accounts.models import Role
from trm.accounts.tests.helpers import message_texts
from trm.audit.models import AuditEntry
from trm.cases import services as case_services
from trm.cases.models import CaseEvent
from trm.cases.selectors import person_identity_for_user
from trm.cases.tests.factories import open_case, team_member
from trm.referrals import services
from trm.referrals.models import Referral, Status
from trm.referrals.tests.factories import (
    RISK,
    SUMMARY,
    consent_for,
    draft,
    receiver_org,
    receiver_user,
    sent,
)

pytestmark = pytest.mark.django_db

NOTE = "Fictional case note that must stay in the case (test)."


@pytest.fixture
def case(caseworker_a):
    case = open_case(caseworker_a)
    case_services.case_note_add(actor=caseworker_a, case_id=case.pk, text=NOTE)
    return case


@pytest.fixture
def shelter(db):
    return receiver_org()


@pytest.fixture
def provider(shelter):
    return receiver_user(shelter, username="shelter-provider")


def html(response) -> str:
    return str(response.content.decode())


# --- "Done when": the inbox shows exactly the shared categories ---------------------


def test_the_inbox_shows_exactly_the_shared_categories(
    caseworker_a, case, shelter, provider, signed_in
):
    referral = sent(
        caseworker_a, case, shelter, categories=["identity", "case_summary"]
    )
    identity = person_identity_for_user(user=caseworker_a, case=case)
    assert identity is not None
    client = signed_in(provider)

    page = client.get(f"/referrals/inbox/{referral.pk}/")
    assert page.status_code == 200
    text = html(page)
    assert_page_basics(text)
    assert escape(identity.given_names) in text
    assert escape(identity.family_names) in text
    assert escape(SUMMARY) in text
    for absent in (
        identity.phones[0],
        identity.addresses[0],
        identity.documents[0].number,
        NOTE,
        case.number,
    ):
        assert escape(absent) not in text
        assert absent not in text

    api = client.get(f"/api/v1/referrals/inbox/{referral.pk}")
    assert api.status_code == 200
    body = api.json()
    assert set(body["shared"]) == {"identity", "case_summary"}
    assert body["shared"]["identity"]["family_names"] == identity.family_names
    raw = api.content.decode()
    for absent in (
        identity.phones[0],
        identity.addresses[0],
        identity.documents[0].number,
        NOTE,
        case.number,
        str(case.pk),
    ):
        assert absent not in raw

    # The provider has no access to the case itself.
    assert client.get(f"/cases/{case.pk}/").status_code == 404
    assert client.get(f"/api/v1/cases/{case.pk}").status_code == 404
    assert client.get(f"/referrals/{referral.pk}/").status_code == 404
    assert client.get(f"/api/v1/referrals/{referral.pk}").status_code == 404


def test_accepting_and_declining_reach_the_timeline_and_the_audit_log(
    caseworker_a, case, shelter, provider, signed_in
):
    client = signed_in(provider)
    first = sent(caseworker_a, case, shelter)
    response = client.post(f"/referrals/inbox/{first.pk}/accept/")
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.status == Status.ACCEPTED
    accepted = CaseEvent.objects.get(case=case, kind="sop2.referral_accepted")
    assert accepted.actor == provider
    assert AuditEntry.objects.filter(
        action="referrals.accept", target_id=str(first.pk), actor_id=provider.pk
    ).exists()

    second = sent(caseworker_a, case, shelter)
    form = client.get(f"/referrals/inbox/{second.pk}/decline/")
    assert form.status_code == 200
    assert_page_basics(html(form))
    bad = client.post(f"/referrals/inbox/{second.pk}/decline/", {"reason": "other"})
    assert bad.status_code == 400
    assert_invalid_fields_described(assert_page_basics(html(bad)))
    response = client.post(
        f"/referrals/inbox/{second.pk}/decline/", {"reason": "no_capacity"}
    )
    assert response.status_code == 302
    declined = CaseEvent.objects.get(case=case, kind="sop2.referral_declined")
    assert declined.code == "no_capacity"
    assert AuditEntry.objects.filter(
        action="referrals.decline", target_id=str(second.pk)
    ).exists()

    # The case team sees both on the case timeline.
    team_page = html(signed_in(caseworker_a).get(f"/cases/{case.pk}/"))
    assert "Referral accepted" in team_page
    assert "Referral declined" in team_page


# --- the inbox ----------------------------------------------------------------------


def test_the_inbox_lists_referrals_with_their_reply_time(
    caseworker_a, case, shelter, provider, signed_in
):
    client = signed_in(provider)
    empty = client.get("/referrals/inbox/")
    assert empty.status_code == 200
    assert "No referral received yet." in html(empty)
    referral = sent(caseworker_a, case, shelter, urgency="urgent")
    Referral.objects.filter(pk=referral.pk).update(
        reply_by=timezone.now() - timedelta(hours=1)
    )
    page = client.get("/referrals/inbox/")
    text = html(page)
    assert_page_basics(text)
    assert referral.reference in text
    assert "reply overdue" in text
    assert "Urgent" in text
    assert escape(SUMMARY) not in text  # the list shows no content
    filtered = client.get("/referrals/inbox/?status=completed")
    assert referral.reference not in html(filtered)


def test_the_inbox_is_for_receiving_roles_only(signed_in, caseworker_a, auditor):
    assert signed_in(auditor).get("/referrals/inbox/").status_code == 403
    guardian = receiver_user(receiver_org(), role=Role.GUARDIAN)
    assert signed_in(guardian).get("/referrals/inbox/").status_code == 403


def test_the_navigation_counts_referrals_awaiting_a_reply(
    caseworker_a, case, shelter, provider, signed_in
):
    sent(caseworker_a, case, shelter)
    sent(caseworker_a, case, shelter)
    text = html(signed_in(provider).get("/"))
    assert "Referrals received" in text
    assert '<span class="badge badge-warn">2' in text


def test_a_revoked_referral_shows_only_that_it_was_revoked(
    caseworker_a, case, shelter, provider, signed_in
):
    from trm.consent import services as consent_services

    consent = consent_for(caseworker_a, case, shelter)
    referral = draft(
        caseworker_a, case, shelter, texts={"case_summary": SUMMARY, "risk": RISK}
    )
    services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    consent_services.consent_withdraw(actor=caseworker_a, consent_id=consent.pk)
    text = html(signed_in(provider).get(f"/referrals/inbox/{referral.pk}/"))
    assert "Revoked: the person withdrew consent" in text
    assert escape(SUMMARY) not in text
    assert escape(RISK) not in text


def test_risk_information_is_marked_for_the_receiver(
    caseworker_a, case, shelter, provider, signed_in
):
    referral = draft(caseworker_a, case, shelter, categories=[], texts={"risk": RISK})
    services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    text = html(signed_in(provider).get(f"/referrals/inbox/{referral.pk}/"))
    assert escape(RISK) in text
    assert "Shared without consent to protect life or safety (BG 1.4)" in text


def test_start_complete_and_feedback_from_the_inbox(
    caseworker_a, case, shelter, provider, signed_in
):
    client = signed_in(provider)
    referral = sent(caseworker_a, case, shelter)
    client.post(f"/referrals/inbox/{referral.pk}/accept/")
    page = html(client.get(f"/referrals/inbox/{referral.pk}/"))
    assert "Record that the services started" in page
    assert client.post(f"/referrals/inbox/{referral.pk}/start/").status_code == 302
    response = client.post(
        f"/referrals/inbox/{referral.pk}/feedback/", {"outcome": "services_started"}
    )
    assert response.status_code == 302
    assert client.post(f"/referrals/inbox/{referral.pk}/complete/").status_code == 302
    referral.refresh_from_db()
    assert referral.status == Status.COMPLETED
    closed = html(client.get(f"/referrals/inbox/{referral.pk}/"))
    assert "This referral is closed" in closed
    assert escape(SUMMARY) not in closed
    # A move the state does not allow is refused with a message, not a crash.
    response = client.post(f"/referrals/inbox/{referral.pk}/accept/", follow=True)
    assert message_texts(response)


def test_another_organisations_referral_is_not_found(
    caseworker_a, case, shelter, signed_in
):
    referral = sent(caseworker_a, case, shelter)
    stranger = receiver_user(receiver_org("Fictional Other Shelter"))
    client = signed_in(stranger)
    assert client.get(f"/referrals/inbox/{referral.pk}/").status_code == 404
    assert client.post(f"/referrals/inbox/{referral.pk}/accept/").status_code == 404
    referral.refresh_from_db()
    assert referral.status == Status.SENT


# --- the case team ------------------------------------------------------------------


def _form(shelter, **overrides):
    data = {
        "to_organisation": str(shelter.pk),
        "services": ["shelter"],
        "reason": "AdditionalServicesRequired",
        "urgency": "normal",
        "categories": ["identity", "case_summary"],
        "case_summary": SUMMARY,
        "action": "send",
    }
    data.update(overrides)
    return data


def test_the_case_page_lists_referrals_and_offers_to_refer(
    caseworker_a, case, shelter, signed_in
):
    client = signed_in(caseworker_a)
    text = html(client.get(f"/cases/{case.pk}/"))
    assert 'id="referrals"' in text
    assert "No referral yet." in text
    assert f"/referrals/case/{case.pk}/new/" in text
    referral = sent(caseworker_a, case, shelter)
    text = html(client.get(f"/cases/{case.pk}/"))
    assert f"/referrals/{referral.pk}/" in text
    assert shelter.name in text


def test_the_legal_track_sees_no_referrals_on_the_case_page(
    caseworker_a, case, shelter, signed_in
):
    referral = sent(caseworker_a, case, shelter)
    prosecutor = team_member(case, Role.PROSECUTOR)
    client = signed_in(prosecutor)
    text = html(client.get(f"/cases/{case.pk}/"))
    assert 'id="referrals"' not in text
    assert client.get(f"/referrals/{referral.pk}/").status_code == 404
    assert client.get(f"/referrals/case/{case.pk}/new/").status_code == 404


def test_refer_and_send_in_one_go(caseworker_a, case, shelter, signed_in):
    consent_for(caseworker_a, case, shelter)
    client = signed_in(caseworker_a)
    page = client.get(f"/referrals/case/{case.pk}/new/")
    assert page.status_code == 200
    text = html(page)
    assert_page_basics(text)
    assert shelter.name in text
    assert "3 of 10 places free" in text
    response = client.post(f"/referrals/case/{case.pk}/new/", _form(shelter))
    referral = Referral.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/referrals/{referral.pk}/"
    assert referral.status == Status.SENT
    detail = client.get(response["Location"])
    text = html(detail)
    assert_page_basics(text)
    assert escape(SUMMARY) in text
    assert "Sent, awaiting a reply" in text


def test_without_consent_the_draft_is_kept_and_the_form_links_to_consent(
    caseworker_a, case, shelter, signed_in
):
    client = signed_in(caseworker_a)
    response = client.post(f"/referrals/case/{case.pk}/new/", _form(shelter))
    assert response.status_code == 400
    text = html(response)
    assert_page_basics(text)
    assert "No consent for" in text
    assert f"/consent/case/{case.pk}/record/" in text
    assert escape(SUMMARY) in text  # nothing typed is lost
    referral = Referral.objects.get()
    assert referral.status == Status.DRAFT
    assert f"/referrals/{referral.pk}/edit/" in text
    # After recording the consent, the draft is sent from its edit page.
    consent_for(caseworker_a, case, shelter)
    response = client.post(f"/referrals/{referral.pk}/edit/", _form(shelter))
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.status == Status.SENT


def test_a_full_receiver_asks_for_the_acknowledgement(caseworker_a, case, signed_in):
    full = receiver_org("Fictional Full Shelter", places_free=0)
    consent_for(caseworker_a, case, full)
    client = signed_in(caseworker_a)
    response = client.post(f"/referrals/case/{case.pk}/new/", _form(full))
    assert response.status_code == 400
    tree = assert_page_basics(html(response))
    invalid = assert_invalid_fields_described(tree)
    assert [e.attrs["name"] for e in invalid] == ["capacity_warning_accepted"]
    referral = Referral.objects.get()
    response = client.post(
        f"/referrals/{referral.pk}/edit/",
        _form(full, capacity_warning_accepted="on"),
    )
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.status == Status.SENT


def test_an_organisation_not_accepting_is_refused_next_to_its_field(
    caseworker_a, case, signed_in
):
    closed = receiver_org("Fictional Closed Shelter", accepts=False)
    client = signed_in(caseworker_a)
    response = client.post(
        f"/referrals/case/{case.pk}/new/?accepting=all", _form(closed)
    )
    assert response.status_code == 400
    assert "does not accept referrals now" in html(response)
    assert not Referral.objects.exists()


def test_the_filters_narrow_the_organisations(caseworker_a, case, shelter, signed_in):
    medical = receiver_org("Fictional Clinic")
    medical.service_profile.service_types = ["medical"]
    medical.service_profile.save()
    closed = receiver_org("Fictional Closed Shelter", accepts=False)
    client = signed_in(caseworker_a)
    text = html(client.get(f"/referrals/case/{case.pk}/new/?service_type=medical"))
    assert "Fictional Clinic" in text and shelter.name not in text
    text = html(client.get(f"/referrals/case/{case.pk}/new/"))
    assert closed.name not in text
    text = html(client.get(f"/referrals/case/{case.pk}/new/?accepting=all"))
    assert closed.name in text


def test_save_as_draft_then_cancel_with_confirmation(
    caseworker_a, case, shelter, signed_in
):
    client = signed_in(caseworker_a)
    response = client.post(
        f"/referrals/case/{case.pk}/new/", _form(shelter, action="save")
    )
    referral = Referral.objects.get()
    assert response.status_code == 302
    assert referral.status == Status.DRAFT
    confirm = client.get(f"/referrals/{referral.pk}/cancel/")
    assert confirm.status_code == 200
    assert_page_basics(html(confirm))
    response = client.post(
        f"/referrals/{referral.pk}/cancel/", {"reason": "sent_in_error"}
    )
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.status == Status.CANCELLED
    assert client.get(f"/referrals/{referral.pk}/cancel/").status_code == 409


def test_a_referral_in_progress_is_cancelled_with_confirmation(
    caseworker_a, case, shelter, provider, signed_in
):
    referral = sent(caseworker_a, case, shelter)
    services.referral_accept(actor=provider, referral_id=referral.pk)
    services.referral_start(actor=provider, referral_id=referral.pk)
    client = signed_in(caseworker_a)
    detail = html(client.get(f"/referrals/{referral.pk}/"))
    assert f"/referrals/{referral.pk}/cancel/" in detail
    confirm = client.get(f"/referrals/{referral.pk}/cancel/")
    assert confirm.status_code == 200
    # "Assistance ended" is recorded by the assistance pathway, not chosen here.
    assert 'value="assistance_ended"' not in html(confirm)
    refused = client.post(
        f"/referrals/{referral.pk}/cancel/", {"reason": "assistance_ended"}
    )
    assert refused.status_code == 400
    response = client.post(
        f"/referrals/{referral.pk}/cancel/", {"reason": "no_longer_needed"}
    )
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.status == Status.CANCELLED
    inbox = html(signed_in(provider).get(f"/referrals/inbox/{referral.pk}/"))
    assert "This referral is closed" in inbox
    assert escape(SUMMARY) not in inbox


def test_record_that_a_referral_is_not_possible(caseworker_a, case, signed_in):
    client = signed_in(caseworker_a)
    page = client.get(f"/referrals/case/{case.pk}/not-possible/")
    assert page.status_code == 200
    assert_page_basics(html(page))
    bad = client.post(f"/referrals/case/{case.pk}/not-possible/", {"reason": "other"})
    assert bad.status_code == 400
    response = client.post(
        f"/referrals/case/{case.pk}/not-possible/", {"reason": "person_refused"}
    )
    assert response.status_code == 302
    assert CaseEvent.objects.filter(kind="sop2.referral_not_possible").exists()


def test_roles_that_do_not_refer_get_403(case, shelter, signed_in):
    guardian = team_member(case, Role.GUARDIAN)
    client = signed_in(guardian)
    assert client.get(f"/referrals/case/{case.pk}/new/").status_code == 403
    text = html(client.get(f"/cases/{case.pk}/"))
    assert 'id="referrals"' in text
    assert f"/referrals/case/{case.pk}/new/" not in text


def test_the_referrer_records_feedback(caseworker_a, case, shelter, signed_in):
    referral = sent(caseworker_a, case, shelter)
    client = signed_in(caseworker_a)
    assert client.get(f"/referrals/{referral.pk}/feedback/").status_code == 200
    response = client.post(
        f"/referrals/{referral.pk}/feedback/",
        {"outcome": "arrived", "text": "Fictional: she arrived (test)."},
    )
    assert response.status_code == 302
    text = html(client.get(f"/referrals/{referral.pk}/"))
    assert "Fictional: she arrived (test)." in text
    assert "recorded by the referring team" in text
