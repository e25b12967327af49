"""Set-up helpers for referral tests. All data is synthetic and clearly fictional."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from trm.accounts.models import Organisation, Role, User
from trm.accounts.tests.factories import OrganisationFactory, UserFactory
from trm.cases.models import Case
from trm.consent import services as consent_services
from trm.consent.models import Consent
from trm.directory.tests.factories import ServiceProfileFactory
from trm.referrals import services
from trm.referrals.models import Referral


def receiver_org(
    name: str = "Fictional Shelter Receiver",
    *,
    accepts: bool = True,
    places_total: int | None = 10,
    places_free: int | None = 3,
    is_active: bool = True,
    home_node: str = "",
    profile: bool = True,
) -> Organisation:
    """Return an organisation with a directory profile (accepting by default)."""
    org = OrganisationFactory(name=name, is_active=is_active, home_node=home_node)
    if profile:
        ServiceProfileFactory(
            organisation=org,
            accepts_referrals=accepts,
            places_total=places_total,
            places_free=places_free,
            capacity_updated_at=timezone.now() - timedelta(days=1),
        )
    return org


def receiver_user(
    org: Organisation, role: str = Role.SERVICE_PROVIDER, **kwargs: Any
) -> User:
    """Return a user answering referrals for ``org``."""
    return UserFactory(organisation=org, roles=[role], **kwargs)


def consent_for(
    actor: User,
    case: Case,
    org: Organisation,
    categories: Iterable[str] = ("identity", "case_summary"),
    *,
    given_by: str = "person",
    purpose: str = "referral",
) -> Consent:
    """Record a consent to referral naming ``org`` for ``categories``."""
    return consent_services.consent_record(
        actor=actor,
        case_id=case.pk,
        purpose=purpose,
        categories=list(categories),
        given_by=given_by,
        language="ro",
        recipient_organisation_id=org.pk,
        declaration="Fictional declaration (test)",
    )


SUMMARY = "Fictional summary: needs a safe place to stay (test)."
RISK = "Fictional risk: the recruiter is looking for her (test)."


def draft(
    actor: User,
    case: Case,
    org: Organisation,
    *,
    categories: Iterable[str] = ("identity", "case_summary"),
    texts: dict[str, str] | None = None,
    **kwargs: Any,
) -> Referral:
    """Draft a referral through the service (texts default to a summary)."""
    if texts is None:
        texts = {"case_summary": SUMMARY} if "case_summary" in categories else {}
    kwargs.setdefault("services", ["shelter"])
    return services.referral_create(
        actor=actor,
        case_id=case.pk,
        to_organisation_id=org.pk,
        categories=list(categories),
        texts=texts,
        **kwargs,
    )


def sent(
    actor: User,
    case: Case,
    org: Organisation,
    *,
    categories: Iterable[str] = ("identity", "case_summary"),
    consent: bool = True,
    **kwargs: Any,
) -> Referral:
    """Record a covering consent (unless ``consent=False``), draft and send."""
    if consent:
        consent_for(actor, case, org, categories)
    referral = draft(actor, case, org, categories=categories, **kwargs)
    return services.referral_send(actor=actor, referral_id=referral.pk)


def erase(case: Case) -> None:
    """Erase the case's person (crypto-shredding), as the data-protection officer."""
    from trm.dataprotection.services import erase_person

    with transaction.atomic():
        erase_person(actor=None, person_id=case.person_id, reason="recorded_in_error")
    case.person.refresh_from_db()
