import pytest

from trm.accounts.models import Role
from trm.accounts.tests.factories import UserFactory
from trm.cases import selectors, services
from trm.cases.identity import IdentityDocument, PersonIdentity
from trm.consent import services as consent
from trm.consent.errors import ConsentMissing


def test_open_search_read_note_consent(org_a, org_b):
    cm = UserFactory(organisation=org_a, roles=[Role.CASE_MANAGER])
    other = UserFactory(organisation=org_b, roles=[Role.CASE_MANAGER])
    identity = PersonIdentity(
        given_names="Ioana",
        family_names="Popescu-Fictiv",
        birth_date="1999-04-03",
        documents=[IdentityDocument(kind="passport", number="zz 123-456")],
        phones=["+40 700 000 001"],
    )
    case = services.case_open(
        actor=cm, identity=identity, citizenships=["RO"], languages=["ro"]
    )
    assert case.number.startswith("BG-")
    found = selectors.case_search(user=cm, name="ПОПЕСКУ-фиктив иоана", birth_year=1999)
    assert list(found) == [case]
    assert list(selectors.case_search(user=other, name="Ioana Popescu-Fictiv")) == []
    assert list(selectors.case_search(user=cm, document_number="ZZ123456")) == [case]
    got = selectors.person_identity_for_user(user=cm, case=case)
    assert got is not None
    assert got.family_names == "Popescu-Fictiv"
    services.case_note_add(
        actor=cm, case_id=case.pk, text="Fictional note", visibility="assistance_only"
    )
    assert [n.text for n in selectors.case_notes_for_user(user=cm, case=case)] == [
        "Fictional note"
    ]
    with pytest.raises(ConsentMissing, match="No consent"):
        consent.require(
            person=case.person,
            purpose="referral",
            categories=["identity"],
            organisation=org_b,
        )
    c = consent.consent_record(
        actor=cm,
        case_id=case.pk,
        purpose="referral",
        categories=["identity", "contact"],
        given_by="person",
        language="ro",
        recipient_organisation_id=org_b.pk,
        declaration="I agree (fictional)",
    )
    assert (
        consent.require(
            person=case.person,
            purpose="referral",
            categories=["identity"],
            organisation=org_b,
        )
        == c
    )
    with pytest.raises(ConsentMissing, match="does not cover"):
        consent.require(
            person=case.person,
            purpose="referral",
            categories=["health"],
            organisation=org_b,
        )
    consent.consent_withdraw(actor=cm, consent_id=c.pk)
    with pytest.raises(ConsentMissing, match="withdrawn"):
        consent.require(
            person=case.person,
            purpose="referral",
            categories=["identity"],
            organisation=org_b,
        )
    services.case_move(
        actor=cm, case_id=case.pk, track="transnational", target="ncp_notified"
    )
    timeline = selectors.case_timeline_for_user(user=cm, case=case)
    assert timeline[0].event.kind == "case.track_moved"
