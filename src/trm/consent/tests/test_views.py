"""Recording, reading and withdrawing consent in the UI; the evidence download."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from tests.test_accessibility import assert_invalid_fields_described, assert_page_basics

from trm.accounts.models import Role
from trm.accounts.tests.factories import UserFactory
from trm.accounts.tests.helpers import message_texts
from trm.audit.models import AuditEntry
from trm.cases import services as case_services
from trm.cases.identity import PersonIdentity
from trm.consent import services
from trm.consent.errors import ConsentMissing
from trm.consent.models import Consent

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n% fictional signed form\n%%EOF\n"
DECLARATION = "Fictional: I agree that the shelter receives my name."


@pytest.fixture
def case(caseworker_a):
    return case_services.case_open(
        actor=caseworker_a,
        identity=PersonIdentity(given_names="Fictional", family_names="Consentova"),
        languages=["ro"],
    )


@pytest.fixture
def child_case(caseworker_a):
    return case_services.case_open(
        actor=caseworker_a,
        identity=PersonIdentity(given_names="Fictional", family_names="Childova"),
        may_be_child=True,
    )


def form(org, **overrides):
    data = {
        "purpose": "referral",
        "recipient_organisation": str(org.pk),
        "recipient_country": "",
        "categories": ["identity", "contact"],
        "given_by": "person",
        "language": "ro",
        "interpreter_used": "on",
        "declaration": DECLARATION,
        "given_at": "2026-01-10T09:30",
        "expires_at": "",
    }
    data.update(overrides)
    return data


def record(actor, case, org, **overrides):
    values = {
        "actor": actor,
        "case_id": case.pk,
        "purpose": "referral",
        "categories": ["identity"],
        "given_by": "person",
        "language": "ro",
        "recipient_organisation_id": org.pk,
        "declaration": DECLARATION,
    }
    values.update(overrides)
    return services.consent_record(**values)


def html(response) -> str:
    return str(response.content.decode())


def test_consent_pages_render_for_a_team_member(signed_in, caseworker_a, case, org_b):
    consent = record(caseworker_a, case, org_b)
    client = signed_in(caseworker_a)
    for url in [
        reverse("consent:record", args=[case.pk]),
        reverse("consent:detail", args=[consent.pk]),
        reverse("consent:withdraw", args=[consent.pk]),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_page_basics(html(response))


def test_record_form_starts_with_the_persons_language_and_now(
    signed_in, caseworker_a, case
):
    page = html(signed_in(caseworker_a).get(reverse("consent:record", args=[case.pk])))
    assert 'name="language" value="ro"' in page
    assert 'type="datetime-local"' in page
    assert 'enctype="multipart/form-data"' in page


def test_record_and_withdraw_round_trip(signed_in, caseworker_a, case, org_b):
    client = signed_in(caseworker_a)
    response = client.post(reverse("consent:record", args=[case.pk]), form(org_b))
    consent = Consent.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("consent:detail", args=[consent.pk])
    assert consent.categories == ["identity", "contact"]
    assert consent.interpreter_used
    assert consent.recipient_organisation == org_b
    assert timezone.localtime(consent.given_at).strftime("%Y-%m-%d %H:%M") == (
        "2026-01-10 09:30"
    )
    detail = html(client.get(response["Location"]))
    assert DECLARATION in detail
    assert "valid" in detail and org_b.name in detail
    case_page = html(client.get(reverse("cases:detail", args=[case.pk])))
    assert reverse("consent:detail", args=[consent.pk]) in case_page
    assert "Referral to a service provider" in case_page
    assert services.require(
        person=case.person,
        purpose="referral",
        categories=["identity"],
        organisation=org_b,
    )

    withdraw = reverse("consent:withdraw", args=[consent.pk])
    assert "Withdraw this consent?" in html(client.get(withdraw))
    response = client.post(withdraw, follow=True)
    assert "The consent is withdrawn. Data is no longer shared under it." in (
        message_texts(response)
    )
    consent.refresh_from_db()
    assert consent.withdrawn_at is not None and consent.withdrawn_by == caseworker_a
    assert "withdrawn" in html(response)
    assert withdraw not in html(response)  # no second withdrawal offered
    with pytest.raises(ConsentMissing, match="withdrawn"):
        services.require(
            person=case.person,
            purpose="referral",
            categories=["identity"],
            organisation=org_b,
        )
    again = client.get(withdraw, follow=True)
    assert "This consent was already withdrawn." in message_texts(again)
    case_page = html(client.get(reverse("cases:detail", args=[case.pk])))
    assert "withdrawn" in case_page


def test_case_page_shows_expired_consent(signed_in, caseworker_a, case, org_b):
    now = timezone.now()
    record(
        caseworker_a,
        case,
        org_b,
        given_at=now - timedelta(days=30),
        expires_at=now - timedelta(days=1),
    )
    page = html(signed_in(caseworker_a).get(reverse("cases:detail", args=[case.pk])))
    assert '<span class="tag tag-warn">expired</span>' in page


def test_missing_recipient_and_declaration_show_service_messages(
    signed_in, caseworker_a, case, org_b
):
    client = signed_in(caseworker_a)
    url = reverse("consent:record", args=[case.pk])
    no_recipient = client.post(url, form(org_b, recipient_organisation=""))
    assert no_recipient.status_code == 400
    page = html(no_recipient)
    assert "Name the recipient: an organisation or a country." in page
    assert_invalid_fields_described(assert_page_basics(page))
    no_declaration = html(client.post(url, form(org_b, declaration="")))
    assert "Attach the signed form or type the person&#x27;s declaration." in (
        no_declaration
    )
    assert not Consent.objects.exists()


def test_country_recipient_is_accepted(signed_in, caseworker_a, case):
    response = signed_in(caseworker_a).post(
        reverse("consent:record", args=[case.pk]),
        form(case.lead_organisation, recipient_organisation="", recipient_country="RO"),
    )
    assert response.status_code == 302
    assert Consent.objects.get().recipient_country.code == "RO"


def test_child_consent_needs_the_guardian(signed_in, caseworker_a, child_case, org_b):
    client = signed_in(caseworker_a)
    response = client.post(reverse("consent:record", args=[child_case.pk]), form(org_b))
    assert response.status_code == 400
    page = html(response)
    assert "The person is or may be a child: the guardian must take part." in page
    invalid = assert_invalid_fields_described(assert_page_basics(page))
    assert {e.attrs["name"] for e in invalid} == {"given_by"}
    assert not Consent.objects.exists()


def test_evidence_that_is_not_really_a_pdf_is_refused(
    signed_in, caseworker_a, case, org_b
):
    fake = SimpleUploadedFile(
        "signed.pdf", b"<html><script>alert(1)</script>", "application/pdf"
    )
    response = signed_in(caseworker_a).post(
        reverse("consent:record", args=[case.pk]),
        form(org_b, declaration="", evidence=fake),
    )
    assert response.status_code == 400
    assert "The evidence must be a PDF, PNG or JPEG file." in html(response)
    assert not Consent.objects.exists()


def test_evidence_download_is_an_audited_attachment(
    signed_in, caseworker_a, case, org_b
):
    client = signed_in(caseworker_a)
    upload = SimpleUploadedFile("Consentova signed.pdf", PDF, "application/pdf")
    client.post(
        reverse("consent:record", args=[case.pk]),
        form(org_b, declaration="", evidence=upload),
    )
    consent = Consent.objects.get()
    assert consent.evidence_content_type == "application/pdf"
    detail = html(client.get(reverse("consent:detail", args=[consent.pk])))
    assert "No declaration was typed." in detail
    url = reverse("consent:evidence", args=[consent.pk])
    assert url in detail

    response = client.get(url)
    assert response.status_code == 200
    assert response.content == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        f'attachment; filename="consent-{consent.pk}.pdf"'
    )
    assert "Consentova" not in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"]
    assert "sandbox" in response["Content-Security-Policy"]
    assert AuditEntry.objects.filter(
        action="consent.evidence_read", target_id=str(consent.pk)
    ).exists()


def test_evidence_with_a_wrong_browser_type_is_recognised_by_content(
    signed_in, caseworker_a, case, org_b
):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
    upload = SimpleUploadedFile("scan.png", png, "application/octet-stream")
    signed_in(caseworker_a).post(
        reverse("consent:record", args=[case.pk]),
        form(org_b, declaration="", evidence=upload),
    )
    assert Consent.objects.get().evidence_content_type == "image/png"


def test_consent_without_evidence_has_no_download(signed_in, caseworker_a, case, org_b):
    consent = record(caseworker_a, case, org_b)
    client = signed_in(caseworker_a)
    assert client.get(reverse("consent:evidence", args=[consent.pk])).status_code == (
        404
    )


def test_user_not_on_the_team_gets_404_on_every_consent_url(
    signed_in, caseworker_a, caseworker_b, case, org_b
):
    consent = record(
        caseworker_a, case, org_b, evidence=PDF, evidence_content_type="application/pdf"
    )
    client = signed_in(caseworker_b)
    for url in [
        reverse("consent:record", args=[case.pk]),
        reverse("consent:detail", args=[consent.pk]),
        reverse("consent:evidence", args=[consent.pk]),
        reverse("consent:withdraw", args=[consent.pk]),
    ]:
        response = client.get(url)
        assert response.status_code == 404, url
        assert DECLARATION not in html(response)
    assert (
        client.post(reverse("consent:record", args=[case.pk]), form(org_b)).status_code
        == 404
    )
    assert (
        client.post(reverse("consent:withdraw", args=[consent.pk])).status_code == 404
    )
    consent.refresh_from_db()
    assert consent.withdrawn_at is None
    assert Consent.objects.count() == 1


def test_prosecutor_sees_only_consents_to_proceedings(
    signed_in, caseworker_a, case, org_b
):
    prosecutor = UserFactory(organisation=org_b, roles=[Role.PROSECUTOR])
    case_services.case_team_add(
        actor=caseworker_a, case_id=case.pk, user_id=prosecutor.pk, role="prosecutor"
    )
    medical = record(caseworker_a, case, org_b, purpose="medical")
    proceedings = record(caseworker_a, case, org_b, purpose="proceedings")
    client = signed_in(prosecutor)
    page = html(client.get(reverse("cases:detail", args=[case.pk])))
    assert reverse("consent:detail", args=[proceedings.pk]) in page
    assert reverse("consent:detail", args=[medical.pk]) not in page
    assert client.get(reverse("consent:detail", args=[medical.pk])).status_code == 404
    assert (
        client.get(reverse("consent:detail", args=[proceedings.pk])).status_code == 200
    )
