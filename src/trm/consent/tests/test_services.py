"""Recording, requiring and withdrawing consent."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from trm.accounts.models import Role
from trm.accounts.tests.factories import OrganisationFactory
from trm.audit.models import AuditEntry
from trm.cases.models import CaseEvent, Person
from trm.cases.tests.factories import (
    adult_birth_date,
    open_case,
    set_states,
    team_member,
)
from trm.cases.tracks import ChildProtection
from trm.common.errors import DomainError
from trm.consent import services
from trm.consent.errors import ConsentMissing, GuardianRequired
from trm.consent.models import Consent, DataCategory, GivenBy, Purpose
from trm.dataprotection import crypto

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n% fictional consent form\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16


@pytest.fixture
def case(caseworker_a):
    return open_case(caseworker_a, birth_date=adult_birth_date(30))


@pytest.fixture
def child_case(caseworker_a):
    return open_case(caseworker_a, birth_date=adult_birth_date(14))


@pytest.fixture
def org_md(db):
    return OrganisationFactory(name="Fictional Helpline MD", country="MD")


def _record(actor: Any, case: Any, **overrides: Any) -> Consent:
    values: dict[str, Any] = {
        "purpose": Purpose.REFERRAL,
        "categories": [DataCategory.IDENTITY, DataCategory.CONTACT],
        "given_by": GivenBy.PERSON,
        "language": "ro",
        "declaration": "I agree (fictional declaration)",
    }
    values.update(overrides)
    return services.consent_record(actor=actor, case_id=case.pk, **values)


def _raw(value: bytes | memoryview | None) -> bytes:
    assert value is not None
    return bytes(value)


def _snapshot() -> tuple[int, int, int, list[Any]]:
    return (
        Consent.objects.count(),
        AuditEntry.objects.count(),
        CaseEvent.objects.count(),
        sorted(
            Consent.objects.values_list("pk", "withdrawn_at", "withdrawn_by"), key=str
        ),
    )


def _refused(code: str, action: Callable[[], object]) -> DomainError:
    before = _snapshot()
    with pytest.raises(DomainError) as excinfo:
        action()
    assert excinfo.value.code == code, excinfo.value
    assert _snapshot() == before
    return excinfo.value


# --- recording ---------------------------------------------------------------------


def test_recording_seals_the_declaration_and_audits_without_it(
    case, caseworker_a, org_b
):
    consent = _record(
        caseworker_a, case, recipient_organisation_id=org_b.pk, language=" RO "
    )

    stored = Consent.objects.get(pk=consent.pk)
    assert b"fictional declaration" not in _raw(stored.sealed_declaration)
    opened = crypto.unseal_for(
        case.person.data_key_id,
        _raw(stored.sealed_declaration),
        context=stored.declaration_context(),
    )
    assert opened == b"I agree (fictional declaration)"
    assert stored.language == "ro"
    assert stored.recorded_by == caseworker_a
    assert stored.person == case.person
    assert AuditEntry.objects.filter(
        action="consent.recorded", target_id=str(consent.pk)
    ).exists()
    assert case.events.filter(kind="consent.recorded").exists()


def _refusals(w: dict[str, Any]) -> dict[str, tuple[str, Callable[[], object]]]:
    cm, case, org_b = w["cm"], w["case"], w["org_b"]

    def rec(**kw: Any) -> Callable[[], object]:
        def call() -> object:
            values = {"recipient_organisation_id": org_b.pk, **kw}
            return _record(values.pop("actor", cm), values.pop("case", case), **values)

        return call

    return {
        "unseen case": ("cases.not_found", rec(actor=w["outsider"])),
        "unknown purpose": ("consent.invalid_input", rec(purpose="fun")),
        "no categories": ("consent.invalid_input", rec(categories=[])),
        "unknown category": (
            "consent.invalid_input",
            rec(categories=["identity", "shoe_size"]),
        ),
        "unknown organisation": (
            "consent.invalid_input",
            rec(recipient_organisation_id=w["missing_id"]),
        ),
        "unknown country": (
            "consent.invalid_input",
            rec(recipient_organisation_id=None, recipient_country="XX"),
        ),
        "no recipient": (
            "consent.invalid_input",
            rec(recipient_organisation_id=None, recipient_country=""),
        ),
        "unknown given by": ("consent.invalid_input", rec(given_by="neighbour")),
        "child alone": (
            "consent.guardian_required",
            rec(case=w["child_case"], given_by=GivenBy.PERSON),
        ),
        "no language": ("consent.invalid_input", rec(language="  ")),
        "no declaration nor evidence": (
            "consent.invalid_input",
            rec(declaration=" "),
        ),
        "evidence of another type": (
            "consent.invalid_input",
            rec(evidence=PNG, evidence_content_type="application/pdf"),
        ),
        "evidence of an unaccepted type": (
            "consent.invalid_input",
            rec(evidence=b"GIF89a....", evidence_content_type="image/gif"),
        ),
        "evidence too large": (
            "consent.invalid_input",
            rec(
                evidence=PDF + b"0" * services.MAX_EVIDENCE_BYTES,
                evidence_content_type="application/pdf",
            ),
        ),
        "expiry before giving": (
            "consent.invalid_input",
            rec(
                given_at=timezone.now(),
                expires_at=timezone.now() - timedelta(days=1),
            ),
        ),
        "prosecutor recording a referral": (
            "consent.invalid_input",
            rec(actor=w["prosecutor"]),
        ),
        "erased person": ("cases.person_erased", rec(case=w["erased_case"])),
        "given in the future": (
            "consent.invalid_input",
            rec(given_at=timezone.now() + timedelta(minutes=6)),
        ),
        "language not ISO 639": ("consent.invalid_input", rec(language="xx")),
        "language as a name": ("consent.invalid_input", rec(language="Romanian")),
    }


REFUSAL_NAMES = list(_refusals(defaultdict(lambda: None)))


@pytest.fixture
def refusal_world(case, child_case, caseworker_a, caseworker_b, org_b):
    erased = open_case(caseworker_a)
    crypto.destroy_data_key(erased.person.data_key_id)
    Person.objects.filter(pk=erased.person_id).update(erased_at=timezone.now())
    return {
        "cm": caseworker_a,
        "case": case,
        "org_b": org_b,
        "outsider": caseworker_b,
        "child_case": child_case,
        "erased_case": erased,
        "prosecutor": team_member(case, Role.PROSECUTOR),
        "missing_id": case.pk,  # a UUID that is no organisation
    }


@pytest.mark.parametrize("name", REFUSAL_NAMES)
def test_refusal_has_a_stable_code_and_writes_nothing(name, refusal_world):
    code, action = _refusals(refusal_world)[name]

    error = _refused(code, action)

    assert "fictional declaration" not in error.message


def test_unknown_categories_are_named_with_the_allowed_ones(refusal_world):
    error = _refused(*_refusals(refusal_world)["unknown category"])

    assert "shoe_size" in error.message
    assert error.details["allowed"] == list(DataCategory.values)


@pytest.mark.parametrize("given_by", [GivenBy.GUARDIAN, GivenBy.BOTH])
def test_childs_consent_is_recorded_when_the_guardian_takes_part(
    given_by, child_case, caseworker_a, org_b
):
    set_states(child_case, child_protection=ChildProtection.GUARDIAN_APPOINTED)
    consent = _record(
        caseworker_a,
        child_case,
        given_by=given_by,
        recipient_organisation_id=org_b.pk,
    )

    assert consent.given_by == given_by


@pytest.mark.parametrize("given_by", [GivenBy.GUARDIAN, GivenBy.BOTH])
def test_childs_consent_before_a_guardian_is_appointed_is_refused(
    given_by, child_case, caseworker_a, org_b
):
    """SOPS §6.2 region E: a 'guardian's' consent with no guardian appointed would
    let a referral or a transfer go ahead without one."""
    with pytest.raises(GuardianRequired) as caught:
        _record(
            caseworker_a,
            child_case,
            given_by=given_by,
            recipient_organisation_id=org_b.pk,
        )
    assert caught.value.details["reason"] == "guardian_not_appointed"
    assert not Consent.objects.filter(person=child_case.person).exists()


def test_national_contact_point_through_policy_neither_records_nor_withdraws(
    case, caseworker_a, org_b
):
    """Node policy lets a national contact point read a transnational case; the
    person's consents are the case team's to record and withdraw."""
    from trm.accounts.tests.factories import UserFactory
    from trm.cases.errors import CaseRoleRequired

    given = _record(caseworker_a, case, recipient_organisation_id=org_b.pk)
    set_states(case, transnational="ncp_notified")
    ncp = UserFactory(
        organisation=case.lead_organisation, roles=[Role.NATIONAL_CONTACT_POINT]
    )
    with pytest.raises(CaseRoleRequired):
        _record(ncp, case, recipient_organisation_id=org_b.pk)
    with pytest.raises(CaseRoleRequired):
        services.consent_withdraw(actor=ncp, consent_id=given.pk)
    given.refresh_from_db()
    assert given.withdrawn_at is None
    assert Consent.objects.filter(person=case.person).count() == 1


def test_prosecutor_records_consent_to_proceedings(case, org_b):
    prosecutor = team_member(case, Role.PROSECUTOR)

    consent = _record(
        prosecutor,
        case,
        purpose=Purpose.PROCEEDINGS,
        categories=[DataCategory.LEGAL],
        recipient_organisation_id=org_b.pk,
    )

    assert consent.purpose == Purpose.PROCEEDINGS


@pytest.mark.parametrize(
    ("content", "content_type"),
    [(PDF, "application/pdf"), (PNG, "image/png"), (JPEG, "image/jpeg")],
)
def test_evidence_is_accepted_by_its_content_and_sealed(
    content, content_type, case, caseworker_a, org_b
):
    consent = _record(
        caseworker_a,
        case,
        declaration="",
        evidence=content,
        evidence_content_type=content_type,
        recipient_organisation_id=org_b.pk,
    )

    stored = Consent.objects.get(pk=consent.pk)
    assert stored.evidence_content_type == content_type
    assert stored.sealed_declaration is None
    assert _raw(stored.sealed_evidence) != content
    assert (
        crypto.unseal_for(
            case.person.data_key_id,
            _raw(stored.sealed_evidence),
            context=stored.evidence_context(),
        )
        == content
    )


# --- require -----------------------------------------------------------------------


def _require(person: Person, **kw: Any) -> Consent | None:
    kw.setdefault("purpose", Purpose.REFERRAL)
    kw.setdefault("categories", [DataCategory.IDENTITY])
    return services.require(person=person, **kw)


def _missing(person: Person, **kw: Any) -> ConsentMissing:
    with pytest.raises(ConsentMissing) as excinfo:
        _require(person, **kw)
    assert excinfo.value.code == "consent.missing"
    return excinfo.value


def test_consent_naming_an_organisation_covers_only_that_organisation(
    case, caseworker_a, org_b
):
    other_bg = OrganisationFactory(name="Fictional Shelter BG2", country="BG")
    consent = _record(caseworker_a, case, recipient_organisation_id=org_b.pk)

    assert _require(case.person, organisation=org_b) == consent
    _missing(case.person, organisation=other_bg)
    _missing(case.person, country="BG")


def test_consent_naming_a_country_covers_every_organisation_there(
    case, caseworker_a, org_b, org_md
):
    consent = _record(
        caseworker_a, case, recipient_organisation_id=None, recipient_country="bg"
    )

    assert consent.recipient_country.code == "BG"
    assert _require(case.person, organisation=org_b) == consent
    assert _require(case.person, country="bg") == consent
    error = _missing(case.person, organisation=org_md)
    assert error.details["recipient"] == org_md.name


def test_a_referral_needs_a_consent_naming_the_organisation_itself(
    case, caseworker_a, org_b
):
    """SOPS §6.3: "consent naming the recipient" for a domestic referral."""
    country_wide = _record(
        caseworker_a, case, recipient_organisation_id=None, recipient_country="BG"
    )
    # Other shares keep counting a country-wide consent.
    assert _require(case.person, organisation=org_b) == country_wide

    error = _missing(case.person, organisation=org_b, organisation_named=True)

    assert error.details["organisation_named"] is True
    assert error.details["country_consent_only"] is True
    assert error.details["recipient"] == org_b.name
    assert "names only the country" in error.message
    assert "not enough for a referral" in error.message
    named = _record(caseworker_a, case, recipient_organisation_id=org_b.pk)
    assert _require(case.person, organisation=org_b, organisation_named=True) == named


def test_organisation_named_without_any_consent_says_none_names_it(case, org_b):
    error = _missing(case.person, organisation=org_b, organisation_named=True)

    assert "No consent" in error.message
    assert "country_consent_only" not in error.details


def test_organisation_named_still_names_a_withdrawn_consent(case, caseworker_a, org_b):
    consent = _record(caseworker_a, case, recipient_organisation_id=org_b.pk)
    services.consent_withdraw(actor=caseworker_a, consent_id=consent.pk)
    _record(caseworker_a, case, recipient_organisation_id=None, recipient_country="BG")

    error = _missing(case.person, organisation=org_b, organisation_named=True)

    assert error.details["state"] == "withdrawn"
    assert "country_consent_only" not in error.details


def test_organisation_named_needs_the_organisation(case):
    with pytest.raises(ValueError, match="organisation"):
        _require(case.person, country="BG", organisation_named=True)


def test_consent_covers_only_its_purpose(case, caseworker_a, org_b):
    _record(caseworker_a, case, recipient_organisation_id=org_b.pk)

    error = _missing(
        case.person, purpose=Purpose.CROSS_BORDER_TRANSFER, organisation=org_b
    )

    assert "No consent" in error.message
    assert error.details["purpose"] == Purpose.CROSS_BORDER_TRANSFER


def test_consent_covers_only_its_categories_and_names_the_missing_ones(
    case, caseworker_a, org_b
):
    consent = _record(caseworker_a, case, recipient_organisation_id=org_b.pk)

    assert (
        _require(
            case.person,
            organisation=org_b,
            categories=[DataCategory.IDENTITY, DataCategory.CONTACT],
        )
        == consent
    )
    error = _missing(
        case.person,
        organisation=org_b,
        categories=[DataCategory.IDENTITY, DataCategory.HEALTH],
    )
    assert error.details["missing_categories"] == [DataCategory.HEALTH]
    assert str(DataCategory.HEALTH.label) in error.message


def test_two_partial_consents_do_not_add_up(case, caseworker_a, org_b):
    _record(
        caseworker_a,
        case,
        categories=[DataCategory.IDENTITY],
        recipient_organisation_id=org_b.pk,
    )
    _record(
        caseworker_a,
        case,
        categories=[DataCategory.HEALTH],
        recipient_organisation_id=org_b.pk,
    )

    _missing(
        case.person,
        organisation=org_b,
        categories=[DataCategory.IDENTITY, DataCategory.HEALTH],
    )


def test_risk_information_alone_needs_no_consent(case, org_b):
    assert (
        _require(case.person, organisation=org_b, categories=[DataCategory.RISK])
        is None
    )


def test_risk_alongside_other_data_needs_consent_for_the_other_data(
    case, caseworker_a, org_b
):
    _missing(
        case.person,
        organisation=org_b,
        categories=[DataCategory.RISK, DataCategory.IDENTITY],
    )
    consent = _record(
        caseworker_a,
        case,
        categories=[DataCategory.IDENTITY],
        recipient_organisation_id=org_b.pk,
    )

    assert (
        _require(
            case.person,
            organisation=org_b,
            categories=[DataCategory.RISK, DataCategory.IDENTITY],
        )
        == consent
    )


def test_expired_consent_is_named_as_expired(case, caseworker_a, org_b):
    start = timezone.now()
    consent = _record(
        caseworker_a,
        case,
        recipient_organisation_id=org_b.pk,
        given_at=start,
        expires_at=start + timedelta(days=30),
    )

    with time_machine.travel(start + timedelta(days=29)):
        assert _require(case.person, organisation=org_b) == consent
    with time_machine.travel(start + timedelta(days=30, seconds=1)):
        error = _missing(case.person, organisation=org_b)

    assert error.details["state"] == "expired"
    assert "expired" in error.message
    assert _require(case.person, organisation=org_b, at=start) == consent


def test_withdrawn_consent_is_named_as_withdrawn(case, caseworker_a, org_b):
    consent = _record(caseworker_a, case, recipient_organisation_id=org_b.pk)
    services.consent_withdraw(actor=caseworker_a, consent_id=consent.pk)

    error = _missing(case.person, organisation=org_b)

    assert error.details["state"] == "withdrawn"
    assert "withdrawn" in error.message


def test_a_new_consent_after_a_withdrawn_one_covers_again(case, caseworker_a, org_b):
    old = _record(caseworker_a, case, recipient_organisation_id=org_b.pk)
    services.consent_withdraw(actor=caseworker_a, consent_id=old.pk)

    new = _record(caseworker_a, case, recipient_organisation_id=org_b.pk)

    assert _require(case.person, organisation=org_b) == new


# --- withdrawal ----------------------------------------------------------------------


def test_withdrawal_is_recorded_and_audited(case, caseworker_a, org_b):
    consent = _record(caseworker_a, case, recipient_organisation_id=org_b.pk)

    withdrawn = services.consent_withdraw(actor=caseworker_a, consent_id=consent.pk)

    assert withdrawn.withdrawn_at is not None
    assert withdrawn.withdrawn_by == caseworker_a
    assert AuditEntry.objects.filter(
        action="consent.withdrawn", target_id=str(consent.pk)
    ).exists()
    assert case.events.filter(kind="consent.withdrawn").exists()


def test_withdrawing_twice_is_refused(case, caseworker_a, org_b):
    consent = _record(caseworker_a, case, recipient_organisation_id=org_b.pk)
    services.consent_withdraw(actor=caseworker_a, consent_id=consent.pk)

    _refused(
        "consent.already_withdrawn",
        lambda: services.consent_withdraw(actor=caseworker_a, consent_id=consent.pk),
    )


def test_withdrawing_a_consent_of_an_unseen_case_is_refused(
    case, caseworker_a, caseworker_b, org_b
):
    consent = _record(caseworker_a, case, recipient_organisation_id=org_b.pk)

    _refused(
        "cases.not_found",
        lambda: services.consent_withdraw(actor=caseworker_b, consent_id=consent.pk),
    )


@pytest.fixture
def hook_calls() -> Iterator[list[dict[str, Any]]]:
    calls: list[dict[str, Any]] = []

    def hook(consent: Consent, actor: Any) -> None:
        calls.append(
            {
                "consent": consent.pk,
                "actor": actor,
                "in_transaction": connection.in_atomic_block,
                "stored_withdrawn": Consent.objects.get(pk=consent.pk).withdrawn_at,
                "audited": AuditEntry.objects.filter(
                    action="consent.withdrawn", target_id=str(consent.pk)
                ).exists(),
            }
        )

    services.register_withdrawal_hook(hook)
    yield calls
    services.unregister_withdrawal_hook(hook)


@pytest.mark.django_db(transaction=True)
def test_withdrawal_hooks_run_inside_the_withdrawal_transaction(
    hook_calls, case, caseworker_a, org_b
):
    consent = _record(caseworker_a, case, recipient_organisation_id=org_b.pk)

    services.consent_withdraw(actor=caseworker_a, consent_id=consent.pk)

    assert len(hook_calls) == 1
    call = hook_calls[0]
    assert call["consent"] == consent.pk
    assert call["actor"] == caseworker_a
    assert call["in_transaction"] is True
    assert call["stored_withdrawn"] is not None
    assert call["audited"] is True


@pytest.mark.django_db(transaction=True)
def test_a_failing_hook_rolls_the_withdrawal_back(case, caseworker_a, org_b):
    consent = _record(caseworker_a, case, recipient_organisation_id=org_b.pk)
    audit_before = AuditEntry.objects.count()

    def failing(consent: Consent, actor: Any) -> None:
        raise RuntimeError("restriction message could not be queued")

    services.register_withdrawal_hook(failing)
    try:
        with pytest.raises(RuntimeError):
            services.consent_withdraw(actor=caseworker_a, consent_id=consent.pk)
    finally:
        services.unregister_withdrawal_hook(failing)

    consent.refresh_from_db()
    assert consent.withdrawn_at is None
    assert AuditEntry.objects.count() == audit_before


def test_registering_a_hook_twice_calls_it_once(hook_calls, case, caseworker_a, org_b):
    services.register_withdrawal_hook(services._withdrawal_hooks[-1])
    consent = _record(caseworker_a, case, recipient_organisation_id=org_b.pk)

    services.consent_withdraw(actor=caseworker_a, consent_id=consent.pk)

    assert len(hook_calls) == 1


def test_unregistered_hook_is_not_called(case, caseworker_a, org_b):
    calls: list[Consent] = []

    def hook(consent: Consent, actor: Any) -> None:
        calls.append(consent)

    services.register_withdrawal_hook(hook)
    services.unregister_withdrawal_hook(hook)
    services.unregister_withdrawal_hook(hook)  # harmless when already gone
    consent = _record(caseworker_a, case, recipient_organisation_id=org_b.pk)

    services.consent_withdraw(actor=caseworker_a, consent_id=consent.pk)

    assert calls == []


def test_giving_time_a_little_ahead_of_the_clock_is_accepted(case, caseworker_a, org_b):
    consent = _record(
        caseworker_a,
        case,
        recipient_organisation_id=org_b.pk,
        given_at=timezone.now() + timedelta(minutes=4),
    )
    assert consent.pk


def test_language_code_of_three_letters_is_accepted(case, caseworker_a, org_b):
    consent = _record(
        caseworker_a, case, recipient_organisation_id=org_b.pk, language="RON"
    )
    assert consent.language == "ron"


def test_require_names_an_unknown_category(case, org_b):
    error = _missing(case.person, organisation=org_b, categories=["shoe_size"])
    assert "shoe_size" in error.message
    assert error.details["unknown_categories"] == ["shoe_size"]


def test_require_without_a_recipient_is_a_programming_error(case):
    with pytest.raises(ValueError, match="a recipient organisation or country"):
        _require(case.person)
