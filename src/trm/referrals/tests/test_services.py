"""The referral services: the state machine, its guards, and nothing half-written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from trm.accounts.models import Role
from trm.accounts.tests.factories import UserFactory
from trm.audit.models import AuditEntry
from trm.cases import services as case_services
from trm.cases.errors import (
    CaseInvalidInput,
    CaseNotFound,
    CaseRoleRequired,
    PersonErased,
    TransitionNotAllowed,
)
from trm.cases.models import CaseEvent, Person
from trm.cases.tests.factories import open_case, set_states, team_member
from trm.cases.tracks import TransnationalLink
from trm.common.text import InvalidText
from trm.consent import services as consent_services
from trm.consent.errors import ConsentMissing
from trm.directory.models import ServiceProfile
from trm.referrals import notifications, selectors, services
from trm.referrals.content import open_json
from trm.referrals.errors import (
    CapacityWarning,
    GuardianConsentRequired,
    NotAcceptingReferrals,
    ReferralNotFound,
    RemoteNotSetUp,
)
from trm.referrals.models import (
    Referral,
    ReferralFeedback,
    ReferralTransition,
    Status,
)
from trm.referrals.tests.factories import (
    RISK,
    SUMMARY,
    consent_for,
    draft,
    erase,
    receiver_org,
    receiver_user,
    sent,
)
from trm.referrals.transport import (
    RemoteMessage,
    register_remote_transport,
    remote_transport,
    unregister_remote_transport,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def case(caseworker_a):
    return open_case(caseworker_a)


@pytest.fixture
def shelter(db):
    return receiver_org()


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run the on-commit callbacks (the e-mails) of the block."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def provider(shelter):
    return receiver_user(shelter, username="shelter-provider")


def _counts():
    return (
        Referral.objects.count(),
        ReferralTransition.objects.count(),
        ReferralFeedback.objects.count(),
        CaseEvent.objects.count(),
        AuditEntry.objects.count(),
    )


def _shared(referral):
    referral.refresh_from_db()
    return open_json(
        referral.case.person.data_key_id,
        referral.sealed_shared,
        context=referral.shared_context(),
    )


def _identity(case, user):
    from trm.cases.selectors import person_identity_for_user

    identity = person_identity_for_user(user=user, case=case)
    assert identity is not None
    return identity


# --- drafting and sending ------------------------------------------------------------


def test_send_shares_only_the_chosen_categories(caseworker_a, case, shelter):
    referral = sent(
        caseworker_a, case, shelter, categories=["identity", "case_summary"]
    )
    identity = _identity(case, caseworker_a)
    shared = _shared(referral)
    assert set(shared) == {"identity", "case_summary"}
    assert shared["identity"]["family_names"] == identity.family_names
    assert shared["case_summary"] == SUMMARY
    assert "documents" not in shared and "contact" not in shared
    assert referral.status == Status.SENT
    assert referral.categories == ["identity", "case_summary"]
    assert referral.consent is not None
    assert not referral.risk_shared_without_consent
    # Sealed: nothing personal in the stored bytes.
    raw = bytes(referral.sealed_shared or b"")
    assert identity.family_names.encode() not in raw
    assert SUMMARY.encode() not in raw


def test_send_writes_the_timeline_history_and_audit(caseworker_a, case, shelter):
    referral = sent(caseworker_a, case, shelter)
    event = CaseEvent.objects.get(case=case, kind="sop2.referral_sent")
    assert event.visibility == "assistance_only"
    assert event.code == "normal"
    assert [t.to_status for t in referral.transitions.all()] == ["draft", "sent"]
    assert AuditEntry.objects.filter(
        action="referrals.send", target_id=str(referral.pk)
    ).exists()
    assert AuditEntry.objects.filter(action="referrals.drafted").exists()


@pytest.mark.parametrize(("urgency", "hours"), [("urgent", 24), ("normal", 72)])
def test_reply_by_follows_the_urgency(caseworker_a, case, shelter, urgency, hours):
    referral = sent(caseworker_a, case, shelter, urgency=urgency)
    assert referral.reply_by is not None and referral.sent_at is not None
    assert referral.reply_by - referral.sent_at == pytest.approx(
        timedelta(hours=hours), abs=timedelta(seconds=5)
    )


def test_send_without_consent_is_refused_and_writes_nothing(
    caseworker_a, case, shelter
):
    referral = draft(caseworker_a, case, shelter)
    before = _counts()
    with pytest.raises(ConsentMissing) as refused:
        services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    assert refused.value.details["purpose"] == "referral"
    assert refused.value.details["recipient"] == shelter.name
    assert _counts() == before
    referral.refresh_from_db()
    assert referral.status == Status.DRAFT and referral.sealed_shared is None


def test_a_consent_naming_another_organisation_does_not_cover(
    caseworker_a, case, shelter
):
    other = receiver_org("Fictional Other Shelter")
    consent_for(caseworker_a, case, other)
    referral = draft(caseworker_a, case, shelter)
    with pytest.raises(ConsentMissing):
        services.referral_send(actor=caseworker_a, referral_id=referral.pk)


def test_a_consent_naming_only_the_country_does_not_cover_a_referral(
    caseworker_a, case, shelter
):
    """SOPS §6.3: a domestic referral needs consent naming the recipient."""
    consent_services.consent_record(
        actor=caseworker_a,
        case_id=case.pk,
        purpose="referral",
        categories=["identity", "case_summary"],
        given_by="person",
        language="ro",
        recipient_country=shelter.country.code,
        declaration="Fictional declaration (test)",
    )
    referral = draft(caseworker_a, case, shelter)
    before = _counts()
    with pytest.raises(ConsentMissing) as refused:
        services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    assert refused.value.details["country_consent_only"] is True
    assert refused.value.details["organisation_named"] is True
    assert refused.value.details["recipient"] == shelter.name
    assert "not enough for a referral" in refused.value.message
    assert _counts() == before
    named = consent_for(caseworker_a, case, shelter)
    services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    referral.refresh_from_db()
    assert referral.status == Status.SENT
    assert referral.consent == named


def test_a_consent_missing_a_category_names_it(caseworker_a, case, shelter):
    consent_for(caseworker_a, case, shelter, ["identity"])
    referral = draft(
        caseworker_a, case, shelter, categories=["identity", "case_summary"]
    )
    with pytest.raises(ConsentMissing) as refused:
        services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    assert refused.value.details["missing_categories"] == ["case_summary"]


def test_a_withdrawn_consent_does_not_cover(caseworker_a, case, shelter):
    consent = consent_for(caseworker_a, case, shelter)
    consent_services.consent_withdraw(actor=caseworker_a, consent_id=consent.pk)
    referral = draft(caseworker_a, case, shelter)
    with pytest.raises(ConsentMissing) as refused:
        services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    assert refused.value.details["state"] == "withdrawn"


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"accepts": False}, "not_accepting"),
        ({"is_active": False}, "inactive"),
        ({"profile": False}, "no_profile"),
    ],
)
def test_an_organisation_that_does_not_take_referrals_is_refused(
    caseworker_a, case, options, reason
):
    org = receiver_org("Fictional Closed Shelter", **options)
    before = _counts()
    with pytest.raises(NotAcceptingReferrals) as refused:
        draft(caseworker_a, case, org)
    assert refused.value.details == {"field": "to_organisation", "reason": reason}
    assert _counts() == before


def test_send_is_refused_when_the_receiver_stopped_accepting(
    caseworker_a, case, shelter
):
    consent_for(caseworker_a, case, shelter)
    referral = draft(caseworker_a, case, shelter)
    ServiceProfile.objects.filter(organisation=shelter).update(accepts_referrals=False)
    with pytest.raises(NotAcceptingReferrals):
        services.referral_send(actor=caseworker_a, referral_id=referral.pk)


def test_a_full_receiver_needs_an_acknowledgement(caseworker_a, case):
    full = receiver_org("Fictional Full Shelter", places_free=0)
    consent_for(caseworker_a, case, full)
    referral = draft(caseworker_a, case, full)
    before = _counts()
    with pytest.raises(CapacityWarning) as warned:
        services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    assert warned.value.details["field"] == "capacity_warning_accepted"
    assert warned.value.details["places_free"] == 0
    assert _counts() == before
    services.referral_send(
        actor=caseworker_a, referral_id=referral.pk, capacity_warning_accepted=True
    )
    referral.refresh_from_db()
    assert referral.status == Status.SENT


def test_a_child_needs_the_guardian_in_the_consent(caseworker_a, case, shelter):
    consent_for(caseworker_a, case, shelter, given_by="person")
    Person.objects.filter(pk=case.person_id).update(presumed_child=True)
    referral = draft(caseworker_a, case, shelter)
    with pytest.raises(GuardianConsentRequired):
        services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    # A guardian's consent can be recorded once a guardian is appointed.
    set_states(case, child_protection="guardian_appointed")
    consent_for(caseworker_a, case, shelter, given_by="guardian")
    services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    referral.refresh_from_db()
    assert referral.status == Status.SENT
    assert referral.consent is not None
    assert referral.consent.given_by == "guardian"


def test_a_childs_risk_information_needs_no_consent(caseworker_a, case, shelter):
    Person.objects.filter(pk=case.person_id).update(presumed_child=True)
    referral = draft(caseworker_a, case, shelter, categories=[], texts={"risk": RISK})
    services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    referral.refresh_from_db()
    assert referral.status == Status.SENT


def test_risk_only_referral_needs_no_consent_and_is_marked(caseworker_a, case, shelter):
    referral = draft(caseworker_a, case, shelter, categories=[], texts={"risk": RISK})
    services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    referral.refresh_from_db()
    assert referral.consent is None
    assert referral.categories == ["risk"]
    assert referral.risk_shared_without_consent
    assert _shared(referral) == {}
    view = selectors.shared_for_receiver(user=receiver_user(shelter), referral=referral)
    assert view.risk == RISK


def test_risk_is_always_shared_beside_consented_categories(caseworker_a, case, shelter):
    consent_for(caseworker_a, case, shelter, ["identity", "case_summary"])
    referral = draft(
        caseworker_a,
        case,
        shelter,
        texts={"case_summary": SUMMARY, "risk": RISK},
    )
    services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    referral.refresh_from_db()
    assert referral.categories == ["identity", "case_summary", "risk"]
    assert referral.consent is not None
    assert referral.risk_shared_without_consent


def test_something_must_be_shared(caseworker_a, case, shelter):
    referral = draft(caseworker_a, case, shelter, categories=[], texts={})
    with pytest.raises(CaseInvalidInput) as refused:
        services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    assert refused.value.details["field"] == "categories"


def test_a_chosen_text_must_be_written(caseworker_a, case, shelter):
    consent_for(caseworker_a, case, shelter, ["identity", "health"])
    referral = draft(caseworker_a, case, shelter, categories=["identity", "health"])
    with pytest.raises(CaseInvalidInput) as refused:
        services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    assert refused.value.details["field"] == "health"


def test_a_text_written_but_not_chosen_is_not_sent_silently(
    caseworker_a, case, shelter
):
    consent_for(caseworker_a, case, shelter, ["identity"])
    referral = draft(
        caseworker_a,
        case,
        shelter,
        categories=["identity"],
        texts={"family": "Fictional family note (test)"},
    )
    with pytest.raises(CaseInvalidInput) as refused:
        services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    assert refused.value.details["field"] == "family"


def test_a_photo_is_not_sent(caseworker_a, case, shelter):
    with pytest.raises(CaseInvalidInput) as refused:
        draft(caseworker_a, case, shelter, categories=["photo"])
    assert refused.value.details["field"] == "categories"


def test_texts_refuse_invisible_marks(caseworker_a, case, shelter):
    with pytest.raises(InvalidText) as refused:
        draft(
            caseworker_a,
            case,
            shelter,
            texts={"case_summary": "Fictional \u202e summary"},
        )
    assert refused.value.details["field"] == "case_summary"


def test_texts_keep_line_breaks(caseworker_a, case, shelter):
    referral = sent(
        caseworker_a,
        case,
        shelter,
        texts={"case_summary": "Line one (test)\nLine two"},
    )
    assert _shared(referral)["case_summary"] == "Line one (test)\nLine two"


def test_a_meeting_in_the_past_is_refused(caseworker_a, case, shelter):
    with pytest.raises(CaseInvalidInput) as refused:
        draft(
            caseworker_a,
            case,
            shelter,
            meeting_who="Fictional Social Worker",
            meeting_where="Fictional Station",
            meeting_at=timezone.now() - timedelta(hours=1),
        )
    assert refused.value.details["field"] == "meeting_at"


def test_a_drafts_meeting_that_has_passed_blocks_sending(caseworker_a, case, shelter):
    consent_for(caseworker_a, case, shelter)
    referral = draft(
        caseworker_a,
        case,
        shelter,
        meeting_who="Fictional Social Worker",
        meeting_at=timezone.now() + timedelta(hours=2),
    )
    later = timezone.now() + timedelta(hours=3)
    with time_machine.travel(later), pytest.raises(CaseInvalidInput) as refused:
        services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    assert refused.value.details["field"] == "meeting_at"


def test_the_meeting_is_shared_with_the_receiver(caseworker_a, case, shelter, provider):
    at = timezone.now() + timedelta(days=1)
    referral = sent(
        caseworker_a,
        case,
        shelter,
        meeting_who="Fictional Social Worker",
        meeting_where="Fictional Bus Station, gate 2",
        meeting_at=at,
    )
    view = selectors.shared_for_receiver(user=provider, referral=referral)
    assert view.meeting is not None and view.meeting.at is not None
    assert view.meeting.who == "Fictional Social Worker"
    assert view.meeting.where == "Fictional Bus Station, gate 2"
    assert abs(view.meeting.at - at) < timedelta(seconds=1)
    assert b"Fictional Bus Station" not in bytes(referral.sealed_meeting or b"")


@pytest.mark.parametrize(
    "role",
    [Role.GUARDIAN, Role.COMPETENT_AUTHORITY, Role.NATIONAL_CONTACT_POINT],
)
def test_team_roles_that_do_not_refer_are_refused(case, shelter, role):
    member = team_member(case, role)
    before = _counts()
    with pytest.raises(CaseRoleRequired):
        draft(member, case, shelter)
    assert _counts() == before


@pytest.mark.parametrize(
    "role", [Role.FIRST_CONTACT_POINT, Role.SERVICE_PROVIDER, Role.CASE_MANAGER]
)
def test_referring_roles_may_draft(case, shelter, role):
    member = team_member(case, role)
    assert draft(member, case, shelter).status == Status.DRAFT


def test_the_legal_track_and_strangers_see_no_case(case, shelter, caseworker_b):
    prosecutor = team_member(case, Role.PROSECUTOR)
    for actor in (prosecutor, caseworker_b):
        with pytest.raises(CaseNotFound):
            draft(actor, case, shelter)


def test_access_through_policy_does_not_refer(case, shelter):
    ncp = UserFactory(roles=[Role.NATIONAL_CONTACT_POINT])
    set_states(case, transnational=TransnationalLink.NCP_NOTIFIED)
    with pytest.raises(CaseRoleRequired):
        draft(ncp, case, shelter)


def test_a_closed_case_refers_no_one(caseworker_a, case, shelter):
    referral = draft(caseworker_a, case, shelter)
    consent_for(caseworker_a, case, shelter)
    case_services.case_close(actor=caseworker_a, case_id=case.pk, reason="goals_met")
    before = _counts()
    with pytest.raises(TransitionNotAllowed):
        services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    with pytest.raises(TransitionNotAllowed):
        draft(caseworker_a, case, shelter)
    assert _counts() == before


def test_an_erased_person_is_not_referred(caseworker_a, case, shelter):
    consent_for(caseworker_a, case, shelter)
    referral = draft(caseworker_a, case, shelter)
    erase(case)
    before = _counts()
    with pytest.raises(PersonErased):
        services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    with pytest.raises(PersonErased):
        draft(caseworker_a, case, shelter)
    assert _counts() == before


def test_only_a_draft_is_changed(caseworker_a, case, shelter):
    referral = sent(caseworker_a, case, shelter)
    with pytest.raises(TransitionNotAllowed):
        services.referral_update(
            actor=caseworker_a,
            referral_id=referral.pk,
            to_organisation_id=shelter.pk,
            services=["medical"],
        )


def test_update_replaces_the_draft(caseworker_a, case, shelter):
    referral = draft(caseworker_a, case, shelter)
    services.referral_update(
        actor=caseworker_a,
        referral_id=referral.pk,
        to_organisation_id=shelter.pk,
        services=["medical", "legal_aid"],
        urgency="urgent",
        categories=["identity"],
        texts={},
    )
    referral.refresh_from_db()
    assert referral.services == ["medical", "legal_aid"]
    assert referral.urgency == "urgent"
    assert referral.sealed_texts is None


def test_sending_twice_is_refused(caseworker_a, case, shelter):
    referral = sent(caseworker_a, case, shelter)
    with pytest.raises(TransitionNotAllowed):
        services.referral_send(actor=caseworker_a, referral_id=referral.pk)


# --- the receiver --------------------------------------------------------------------


def test_accept_writes_the_timeline_and_audit(caseworker_a, case, shelter, provider):
    referral = sent(caseworker_a, case, shelter)
    services.referral_accept(actor=provider, referral_id=referral.pk)
    referral.refresh_from_db()
    assert referral.status == Status.ACCEPTED and referral.responded_at
    event = CaseEvent.objects.get(case=case, kind="sop2.referral_accepted")
    assert event.actor == provider
    assert event.visibility == "assistance_only"
    entry = AuditEntry.objects.get(action="referrals.accept")
    assert entry.target_id == str(referral.pk)
    assert entry.actor_id == provider.pk


def test_decline_writes_the_reason_to_the_timeline_and_audit(
    caseworker_a, case, shelter, provider
):
    referral = sent(caseworker_a, case, shelter)
    services.referral_decline(
        actor=provider,
        referral_id=referral.pk,
        reason="no_capacity",
        text="Fictional: full until next week (test).",
    )
    referral.refresh_from_db()
    assert referral.status == Status.DECLINED
    assert referral.outcome_code == "no_capacity"
    event = CaseEvent.objects.get(case=case, kind="sop2.referral_declined")
    assert event.code == "no_capacity"
    assert AuditEntry.objects.filter(action="referrals.decline").exists()
    detail = selectors.referral_detail(user=caseworker_a, referral=referral)
    assert detail.outcome_text == "Fictional: full until next week (test)."


def test_decline_other_needs_an_explanation(caseworker_a, case, shelter, provider):
    referral = sent(caseworker_a, case, shelter)
    before = _counts()
    with pytest.raises(CaseInvalidInput):
        services.referral_decline(
            actor=provider, referral_id=referral.pk, reason="other"
        )
    with pytest.raises(CaseInvalidInput):
        services.referral_decline(
            actor=provider, referral_id=referral.pk, reason="nope"
        )
    assert _counts() == before


def test_only_the_receiving_organisations_staff_answer(caseworker_a, case, shelter):
    referral = sent(caseworker_a, case, shelter)
    other_org_provider = receiver_user(receiver_org("Fictional Other Shelter"))
    no_role = UserFactory(organisation=shelter, roles=[Role.GUARDIAN])
    inactive = receiver_user(shelter, is_active=False)
    for actor in (other_org_provider, no_role, inactive, caseworker_a):
        with pytest.raises(ReferralNotFound):
            services.referral_accept(actor=actor, referral_id=referral.pk)
    referral.refresh_from_db()
    assert referral.status == Status.SENT


def test_a_case_manager_of_the_receiver_answers_too(caseworker_a, case, shelter):
    referral = sent(caseworker_a, case, shelter)
    manager = receiver_user(shelter, role=Role.CASE_MANAGER)
    services.referral_accept(actor=manager, referral_id=referral.pk)


def test_a_draft_is_not_the_receivers_to_see(caseworker_a, case, shelter, provider):
    referral = draft(caseworker_a, case, shelter)
    with pytest.raises(ReferralNotFound):
        services.referral_accept(actor=provider, referral_id=referral.pk)
    with pytest.raises(ReferralNotFound):
        selectors.inbox_referral_for_user(user=provider, referral_id=referral.pk)


def test_services_start_then_complete(caseworker_a, case, shelter, provider):
    referral = sent(caseworker_a, case, shelter)
    with pytest.raises(TransitionNotAllowed):
        services.referral_start(actor=provider, referral_id=referral.pk)
    services.referral_accept(actor=provider, referral_id=referral.pk)
    with pytest.raises(TransitionNotAllowed):
        services.referral_complete(actor=provider, referral_id=referral.pk)
    services.referral_start(actor=provider, referral_id=referral.pk)
    services.referral_complete(actor=provider, referral_id=referral.pk)
    referral.refresh_from_db()
    assert referral.status == Status.COMPLETED
    kinds = set(CaseEvent.objects.filter(case=case).values_list("kind", flat=True))
    assert {"sop2.referral_started", "sop2.referral_completed"} <= kinds
    assert not selectors.shared_for_receiver(user=provider, referral=referral).readable


def test_receiver_feedback_is_recorded_and_timelined(
    caseworker_a, case, shelter, provider
):
    referral = sent(caseworker_a, case, shelter)
    with pytest.raises(TransitionNotAllowed):
        services.referral_feedback(
            actor=provider, referral_id=referral.pk, outcome="arrived"
        )
    services.referral_accept(actor=provider, referral_id=referral.pk)
    entry = services.referral_feedback(
        actor=provider,
        referral_id=referral.pk,
        outcome="arrived",
        text="Fictional: arrived at noon (test).",
    )
    assert entry.side == "receiver"
    event = CaseEvent.objects.get(case=case, kind="sop2.referral_feedback")
    assert event.code == "arrived"
    detail = selectors.referral_detail(user=caseworker_a, referral=referral)
    assert [f.text for f in detail.feedback] == ["Fictional: arrived at noon (test)."]


def test_the_referrer_records_feedback_received_by_phone(caseworker_a, case, shelter):
    referral = sent(caseworker_a, case, shelter)
    entry = services.referral_feedback(
        actor=caseworker_a, referral_id=referral.pk, outcome="did_not_arrive"
    )
    assert entry.side == "referrer"
    with pytest.raises(CaseInvalidInput):
        services.referral_feedback(
            actor=caseworker_a, referral_id=referral.pk, outcome="other"
        )


# --- ending ------------------------------------------------------------------------


def test_cancel_needs_a_reason_and_hides_the_content(
    caseworker_a, case, shelter, provider
):
    referral = sent(caseworker_a, case, shelter)
    with pytest.raises(CaseInvalidInput):
        services.referral_cancel(actor=caseworker_a, referral_id=referral.pk, reason="")
    services.referral_cancel(
        actor=caseworker_a, referral_id=referral.pk, reason="person_changed_mind"
    )
    referral.refresh_from_db()
    assert referral.status == Status.CANCELLED
    assert CaseEvent.objects.filter(kind="sop2.referral_cancelled").exists()
    assert not selectors.shared_for_receiver(user=provider, referral=referral).readable
    with pytest.raises(TransitionNotAllowed):
        services.referral_cancel(
            actor=caseworker_a, referral_id=referral.pk, reason="other", text="x"
        )


def test_the_receiver_cannot_cancel(caseworker_a, case, shelter, provider):
    referral = sent(caseworker_a, case, shelter)
    with pytest.raises(ReferralNotFound):
        services.referral_cancel(
            actor=provider, referral_id=referral.pk, reason="sent_in_error"
        )


def test_the_referrer_cancels_a_referral_in_progress(
    caseworker_a, case, shelter, provider, mailoutbox, commit
):
    referral = sent(
        caseworker_a,
        case,
        shelter,
        texts={"case_summary": SUMMARY, "risk": RISK},
        meeting_who="Fictional Social Worker",
        meeting_at=timezone.now() + timedelta(days=1),
    )
    services.referral_accept(actor=provider, referral_id=referral.pk)
    services.referral_start(actor=provider, referral_id=referral.pk)
    referral.refresh_from_db()
    assert selectors.shared_for_receiver(user=provider, referral=referral).readable
    mailoutbox.clear()
    with commit():
        services.referral_cancel(
            actor=caseworker_a, referral_id=referral.pk, reason="no_longer_needed"
        )
    referral.refresh_from_db()
    assert referral.status == Status.CANCELLED
    assert referral.outcome_code == "no_longer_needed"
    assert referral.ended_at is not None
    last = referral.transitions.last()
    assert last is not None
    assert (last.from_status, last.to_status) == ("in_progress", "cancelled")
    event = CaseEvent.objects.get(case=case, kind="sop2.referral_cancelled")
    assert event.code == "no_longer_needed"
    assert AuditEntry.objects.filter(
        action="referrals.cancel", target_id=str(referral.pk)
    ).exists()
    view = selectors.shared_for_receiver(user=provider, referral=referral)
    assert not view.readable
    assert view.shared is None and view.risk is None and view.meeting is None
    assert [m.to for m in mailoutbox] == [[provider.email]]
    assert "cancelled" in mailoutbox[0].subject
    with pytest.raises(TransitionNotAllowed):
        services.referral_complete(actor=provider, referral_id=referral.pk)
    with pytest.raises(TransitionNotAllowed):
        services.referral_feedback(
            actor=provider, referral_id=referral.pk, outcome="arrived"
        )


def test_assistance_ended_is_not_a_reason_a_user_chooses(caseworker_a, case, shelter):
    referral = sent(caseworker_a, case, shelter)
    before = _counts()
    with pytest.raises(CaseInvalidInput) as refused:
        services.referral_cancel(
            actor=caseworker_a, referral_id=referral.pk, reason="assistance_ended"
        )
    assert refused.value.details == {"field": "reason", "reason": "system_only"}
    assert _counts() == before


def _cancel_open(actor, case, **kwargs):
    """Call the service as the assistance pathway does: in its own transaction,
    on the case it locked."""
    with transaction.atomic():
        locked, _access = case_services.lock_case(actor=actor, case_id=case.pk)
        return services.cancel_open_for_case(actor=actor, case=locked, **kwargs)


def test_ending_assistance_cancels_every_open_referral_of_the_case(
    caseworker_a, case, shelter, provider, mailoutbox, commit
):
    drafted = draft(caseworker_a, case, shelter)
    waiting = sent(caseworker_a, case, shelter)
    accepted = sent(caseworker_a, case, shelter)
    services.referral_accept(actor=provider, referral_id=accepted.pk)
    started = sent(caseworker_a, case, shelter)
    services.referral_accept(actor=provider, referral_id=started.pk)
    services.referral_start(actor=provider, referral_id=started.pk)
    declined = sent(caseworker_a, case, shelter)
    services.referral_decline(actor=provider, referral_id=declined.pk, reason="safety")
    completed = sent(caseworker_a, case, shelter)
    for step in (
        services.referral_accept,
        services.referral_start,
        services.referral_complete,
    ):
        step(actor=provider, referral_id=completed.pk)
    other_case = open_case(caseworker_a)
    elsewhere = sent(caseworker_a, other_case, shelter)
    mailoutbox.clear()
    events = CaseEvent.objects.count()

    with commit():
        count = _cancel_open(caseworker_a, case)

    assert count == 4
    opened = [drafted, waiting, accepted, started]
    for referral in opened:
        referral.refresh_from_db()
        assert referral.status == Status.CANCELLED
        assert referral.outcome_code == "assistance_ended"
        assert referral.outcome_label() == (
            "Assistance ended: the person declined or assistance was closed"
        )
        if referral.sent_at is not None:
            view = selectors.shared_for_receiver(user=provider, referral=referral)
            assert not view.readable and view.shared is None
        assert referral.transitions.filter(
            to_status="cancelled", code="assistance_ended", actor=caseworker_a
        ).exists()
        assert AuditEntry.objects.filter(
            action="referrals.cancel", target_id=str(referral.pk)
        ).exists()
    assert CaseEvent.objects.count() == events + 4
    assert (
        CaseEvent.objects.filter(
            case=case, kind="sop2.referral_cancelled", code="assistance_ended"
        ).count()
        == 4
    )
    for referral, status in (
        (declined, Status.DECLINED),
        (completed, Status.COMPLETED),
        (elsewhere, Status.SENT),
    ):
        referral.refresh_from_db()
        assert referral.status == status
    # The receivers of the three sent referrals are told; a draft was never sent.
    assert len(mailoutbox) == 3
    assert all(m.to == [provider.email] for m in mailoutbox)
    assert all("cancelled" in m.subject for m in mailoutbox)
    assert {m.subject for m in mailoutbox} == {
        f"TRM: referral {r.reference} cancelled" for r in (waiting, accepted, started)
    }
    before = _counts()
    assert _cancel_open(caseworker_a, case) == 0
    assert _counts() == before


def test_ending_assistance_tells_a_peer_node(caseworker_a, case, fake_transport):
    remote = receiver_org("Fictional Remote Shelter", home_node="md-node")
    referral = sent(caseworker_a, case, remote)
    assert _cancel_open(caseworker_a, case) == 1
    assert [m.kind for m in fake_transport] == ["referral.sent", "referral.cancelled"]
    assert fake_transport[1].payload == {
        "status": "cancelled",
        "code": "assistance_ended",
    }
    referral.refresh_from_db()
    assert referral.status == Status.CANCELLED


@pytest.mark.parametrize("reason", ["", "nope", "other"])
def test_ending_assistance_with_a_bad_reason_writes_nothing(
    caseworker_a, case, shelter, reason
):
    sent(caseworker_a, case, shelter)
    before = _counts()
    with pytest.raises(CaseInvalidInput):
        _cancel_open(caseworker_a, case, reason=reason)
    assert _counts() == before


def test_not_possible_after_a_decline(caseworker_a, case, shelter, provider):
    referral = sent(caseworker_a, case, shelter)
    with pytest.raises(TransitionNotAllowed):
        services.referral_not_possible(
            actor=caseworker_a, referral_id=referral.pk, reason="no_capacity"
        )
    services.referral_decline(actor=provider, referral_id=referral.pk, reason="safety")
    services.referral_not_possible(
        actor=caseworker_a, referral_id=referral.pk, reason="declined"
    )
    referral.refresh_from_db()
    assert referral.status == Status.NOT_POSSIBLE
    event = CaseEvent.objects.get(kind="sop2.referral_not_possible")
    assert event.code == "declined"


def test_not_possible_without_a_draft(caseworker_a, case):
    with pytest.raises(CaseInvalidInput):
        services.referral_not_possible_for_case(
            actor=caseworker_a, case_id=case.pk, reason="other"
        )
    referral = services.referral_not_possible_for_case(
        actor=caseworker_a,
        case_id=case.pk,
        reason="person_refused",
        text="Fictional: wants to go home first (test).",
    )
    assert referral.status == Status.NOT_POSSIBLE
    assert referral.to_organisation is None
    assert CaseEvent.objects.filter(kind="sop2.referral_not_possible").exists()
    assert AuditEntry.objects.filter(action="referrals.not_possible").exists()


def test_not_possible_refused_to_other_roles(case):
    guardian = team_member(case, Role.GUARDIAN)
    with pytest.raises(CaseRoleRequired):
        services.referral_not_possible_for_case(
            actor=guardian, case_id=case.pk, reason="person_refused"
        )


# --- consent withdrawn -------------------------------------------------------------


def test_withdrawing_the_consent_revokes_and_destroys_the_shared_content(
    caseworker_a,
    case,
    shelter,
    provider,
    mailoutbox,
    commit,
):
    consent = consent_for(caseworker_a, case, shelter)
    referral = draft(
        caseworker_a, case, shelter, texts={"case_summary": SUMMARY, "risk": RISK}
    )
    services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    services.referral_accept(actor=provider, referral_id=referral.pk)
    mailoutbox.clear()
    with commit():
        consent_services.consent_withdraw(actor=caseworker_a, consent_id=consent.pk)
    referral.refresh_from_db()
    assert referral.status == Status.REVOKED
    assert referral.sealed_shared is None
    assert referral.content_destroyed_at is not None
    assert referral.sealed_risk is not None  # risk information is kept
    assert (
        CaseEvent.objects.get(kind="sop2.referral_revoked").code == "consent_withdrawn"
    )
    assert AuditEntry.objects.filter(action="referrals.revoke").exists()
    view = selectors.shared_for_receiver(user=provider, referral=referral)
    assert not view.readable and view.shared is None and view.risk is None
    assert [m.to for m in mailoutbox] == [[provider.email]]
    assert "revoked" in mailoutbox[0].subject


def test_withdrawal_destroys_the_content_of_a_completed_referral(
    caseworker_a, case, shelter, provider
):
    consent = consent_for(caseworker_a, case, shelter)
    referral = draft(caseworker_a, case, shelter)
    services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    for step in (services.referral_accept, services.referral_start):
        step(actor=provider, referral_id=referral.pk)
    services.referral_complete(actor=provider, referral_id=referral.pk)
    consent_services.consent_withdraw(actor=caseworker_a, consent_id=consent.pk)
    referral.refresh_from_db()
    assert referral.status == Status.COMPLETED
    assert referral.sealed_shared is None
    assert AuditEntry.objects.filter(action="referrals.content_destroyed").exists()


def test_withdrawing_another_consent_changes_nothing(caseworker_a, case, shelter):
    referral = sent(caseworker_a, case, shelter)
    other = consent_for(caseworker_a, case, receiver_org("Fictional Other Shelter"))
    consent_services.consent_withdraw(actor=caseworker_a, consent_id=other.pk)
    referral.refresh_from_db()
    assert referral.status == Status.SENT and referral.sealed_shared is not None


# --- receivers on other nodes ------------------------------------------------------


@pytest.fixture(autouse=True)
def _restore_transport():
    """Tests replace the exchange's transport; put it back afterwards."""
    registered = remote_transport()
    yield
    if registered is None:
        unregister_remote_transport()
    else:
        register_remote_transport(registered)


@pytest.fixture
def fake_transport():
    messages: list[RemoteMessage] = []
    register_remote_transport(messages.append)
    return messages


def test_a_remote_receiver_without_the_exchange_is_refused(caseworker_a, case):
    remote = receiver_org("Fictional Remote Shelter", home_node="md-node")
    consent_for(caseworker_a, case, remote)
    referral = draft(caseworker_a, case, remote)
    unregister_remote_transport()
    before = _counts()
    with pytest.raises(RemoteNotSetUp) as refused:
        services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    assert "md-node" in refused.value.message
    assert refused.value.details["node"] == "md-node"
    assert _counts() == before


def test_a_remote_receiver_gets_the_referral_through_the_transport(
    caseworker_a, case, fake_transport, mailoutbox, commit
):
    remote = receiver_org("Fictional Remote Shelter", home_node="md-node")
    consent_for(caseworker_a, case, remote)
    referral = draft(caseworker_a, case, remote)
    with commit():
        services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    [message] = fake_transport
    assert message.kind == "referral.sent"
    assert message.node == "md-node"
    assert message.exchange_key == referral.exchange_key
    assert set(message.payload["shared"]) == {"identity", "case_summary"}
    assert message.payload["consent_id"]
    assert mailoutbox == []
    services.referral_cancel(
        actor=caseworker_a, referral_id=referral.pk, reason="sent_in_error"
    )
    assert [m.kind for m in fake_transport] == ["referral.sent", "referral.cancelled"]
    assert fake_transport[1].payload == {"status": "cancelled", "code": "sent_in_error"}


def test_a_transport_that_fails_refuses_the_referral(caseworker_a, case):
    remote = receiver_org("Fictional Remote Shelter", home_node="md-node")
    consent_for(caseworker_a, case, remote)
    referral = draft(caseworker_a, case, remote)

    def broken(message):
        raise RuntimeError("outbox unavailable")

    register_remote_transport(broken)
    with pytest.raises(RuntimeError):
        services.referral_send(actor=caseworker_a, referral_id=referral.pk)
    referral.refresh_from_db()
    assert referral.status == Status.DRAFT


# --- notifications -----------------------------------------------------------------


def test_sending_emails_the_receivers_inbox_users_without_personal_data(
    caseworker_a,
    case,
    shelter,
    provider,
    mailoutbox,
    commit,
):
    manager = receiver_user(shelter, role=Role.CASE_MANAGER)
    receiver_user(shelter, role=Role.GUARDIAN)  # does not answer referrals
    receiver_user(receiver_org("Fictional Other Shelter"))
    with commit():
        referral = sent(
            caseworker_a,
            case,
            shelter,
            categories=["identity", "contact", "documents", "case_summary"],
        )
    assert sorted(m.to[0] for m in mailoutbox) == sorted(
        [provider.email, manager.email]
    )
    identity = _identity(case, caseworker_a)
    for message in mailoutbox:
        text = message.subject + message.body
        for secret in (
            identity.given_names,
            identity.family_names,
            identity.phones[0],
            identity.documents[0].number,
            SUMMARY,
            case.number,
        ):
            assert secret not in text
        assert referral.reference in message.subject
        assert f"/referrals/inbox/{referral.pk}/" in message.body


def test_the_reply_by_time_is_written_in_the_nodes_time_zone(
    caseworker_a, case, shelter, provider, mailoutbox, commit, settings
):
    settings.TIME_ZONE = "Europe/Sofia"
    colleague = receiver_user(shelter, role=Role.CASE_MANAGER)
    colleague.preferred_language = "bg"
    colleague.save(update_fields=["preferred_language"])
    # Sent 72 h before 2027-12-02 21:41 UTC, which is 23:41 in Sofia.
    moment = datetime(2027, 11, 29, 21, 41, tzinfo=UTC)
    with time_machine.travel(moment, tick=False), commit():
        sent(caseworker_a, case, shelter, urgency="normal")
    assert len(mailoutbox) == 2
    for message in mailoutbox:
        assert "2027-12-02 23:41 (Europe/Sofia)" in message.body
        assert ".." not in message.body
        assert "p.m." not in message.body
    english = next(m for m in mailoutbox if m.to == [provider.email])
    assert "accept or decline by 2027-12-02 23:41 (Europe/Sofia)." in english.body


def test_deadlines_are_written_in_one_unambiguous_form(settings):
    settings.TIME_ZONE = "UTC"
    moment = datetime(2026, 2, 12, 9, 5, tzinfo=UTC)
    assert notifications.deadline_text(moment) == "2026-02-12 09:05 (UTC)"
    settings.TIME_ZONE = "Europe/Bucharest"
    assert notifications.deadline_text(moment) == "2026-02-12 11:05 (Europe/Bucharest)"
    assert notifications.deadline_text(None) == "—"


def test_accept_decline_and_feedback_email_the_referrer(
    caseworker_a,
    case,
    shelter,
    provider,
    mailoutbox,
    commit,
):
    referral = sent(caseworker_a, case, shelter)
    with commit():
        services.referral_accept(actor=provider, referral_id=referral.pk)
        services.referral_feedback(
            actor=provider,
            referral_id=referral.pk,
            outcome="arrived",
            text="Fictional secret detail (test)",
        )
    assert [m.to for m in mailoutbox] == [[caseworker_a.email]] * 2
    assert "accepted" in mailoutbox[0].subject
    assert "Fictional secret detail" not in mailoutbox[1].body
    second = sent(caseworker_a, case, shelter)
    mailoutbox.clear()
    with commit():
        services.referral_decline(
            actor=provider,
            referral_id=second.pk,
            reason="other",
            text="Fictional reason (test)",
        )
    [message] = mailoutbox
    assert "declined" in message.subject
    assert "Fictional reason" not in message.body


def test_a_failed_email_does_not_undo_the_referral(
    caseworker_a, case, shelter, provider, settings, commit
):
    settings.EMAIL_BACKEND = "trm.referrals.tests.test_services.BrokenBackend"
    with commit():
        referral = sent(caseworker_a, case, shelter)
    referral.refresh_from_db()
    assert referral.status == Status.SENT


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise OSError("mail server down")


# --- selectors ---------------------------------------------------------------------


def test_the_inbox_lists_only_the_organisations_sent_referrals(
    caseworker_a, case, shelter, provider
):
    first = sent(caseworker_a, case, shelter)
    draft(caseworker_a, case, shelter)
    sent(caseworker_a, case, receiver_org("Fictional Other Shelter"))
    assert list(selectors.inbox_for_user(user=provider)) == [first]
    assert selectors.awaiting_reply_count(user=provider) == 1
    services.referral_accept(actor=provider, referral_id=first.pk)
    assert selectors.awaiting_reply_count(user=provider) == 0
    assert list(selectors.inbox_for_user(user=provider, status="sent")) == []


def test_reading_the_shared_content_is_audited(caseworker_a, case, shelter, provider):
    referral = sent(caseworker_a, case, shelter)
    selectors.shared_for_receiver(user=provider, referral=referral)
    entry = AuditEntry.objects.filter(action="referrals.shared_read").get()
    assert entry.actor_id == provider.pk
    assert entry.target_id == str(referral.pk)


def test_after_erasure_nothing_can_be_read(caseworker_a, case, shelter, provider):
    referral = sent(caseworker_a, case, shelter)
    erase(case)
    referral.refresh_from_db()
    view = selectors.shared_for_receiver(user=provider, referral=referral)
    assert view.unreadable and view.shared is None
    detail = selectors.referral_detail(user=caseworker_a, referral=referral)
    assert detail.shared is None and detail.texts is None
    with pytest.raises(PersonErased):
        services.referral_decline(
            actor=provider,
            referral_id=referral.pk,
            reason="other",
            text="Fictional (test)",
        )
    services.referral_decline(actor=provider, referral_id=referral.pk, reason="safety")


def test_the_legal_track_sees_no_referral(caseworker_a, case, shelter):
    referral = sent(caseworker_a, case, shelter)
    prosecutor = team_member(case, Role.PROSECUTOR)
    assert selectors.referrals_for_case(user=prosecutor, case=case) == []
    with pytest.raises(ReferralNotFound):
        selectors.referral_for_team(user=prosecutor, referral_id=referral.pk)
