"""Factories for cases. All personal data is synthetic (Faker) and marked fictional.

Names carry the token ``Fictiv``, document numbers the user-assigned country
prefix ``ZZ``, and phone numbers come from the range Ofcom reserves for drama
(+44 7700 900xxx), so nothing here can be mistaken for a real person.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import F
from faker import Faker

from trm.accounts.models import Organisation, User
from trm.accounts.tests.factories import UserFactory
from trm.cases import services
from trm.cases.identity import IdentityDocument, PersonIdentity
from trm.cases.models import Case, CaseTeamMember
from trm.cases.tracks import TRACKS

FICTIONAL = "Fictiv"

fake = Faker(["en_US", "ro_RO", "bg_BG"])
_IDENTITY_FIELDS = frozenset(PersonIdentity.model_fields)


def fictional_phone() -> str:
    """Return a phone number from the UK range reserved for fiction."""
    return f"+44 7700 900{fake.random_int(0, 999):03d}"


def fictional_identity(**overrides: Any) -> PersonIdentity:
    """Return a synthetic identity; ``overrides`` replace single fields."""
    values: dict[str, Any] = {
        "given_names": fake.first_name(),
        "family_names": f"{fake.last_name()}-{FICTIONAL}",
        "birth_date": fake.date_of_birth(minimum_age=19, maximum_age=60),
        "place_of_birth": f"{fake.city()} ({FICTIONAL})",
        "documents": [
            IdentityDocument(
                kind="passport",
                number=f"ZZ{fake.random_int(100000, 999999)}",
                issuing_country="GB",
            )
        ],
        "phones": [fictional_phone()],
        "addresses": [f"{fake.street_address()}, {FICTIONAL}"],
    }
    values.update(overrides)
    return PersonIdentity.model_validate(values)


def open_case(actor: User, **fields: Any) -> Case:
    """Open a case through :func:`trm.cases.services.case_open` as ``actor``.

    Keyword arguments naming a :class:`PersonIdentity` field (``given_names``,
    ``birth_date``…) override the synthetic identity; the others
    (``may_be_child``, ``number``, ``citizenships``…) go to ``case_open``.
    """
    identity = {k: v for k, v in fields.items() if k in _IDENTITY_FIELDS}
    options = {k: v for k, v in fields.items() if k not in _IDENTITY_FIELDS}
    options.setdefault("citizenships", ["RO"])
    options.setdefault("languages", ["ro"])
    return services.case_open(
        actor=actor, identity=fictional_identity(**identity), **options
    )


def team_member(
    case: Case, role: str, *, organisation: Organisation | None = None, **kw: Any
) -> User:
    """Create a user holding ``role`` and put them on the case team in that role.

    Test set-up only: written directly, without the service's manager check.
    """
    user = UserFactory(
        organisation=organisation or case.lead_organisation, roles=[role], **kw
    )
    CaseTeamMember.objects.create(case=case, user=user, role=role)
    return user


def set_states(case: Case, **states: str) -> Case:
    """Put tracks of ``case`` into ``states`` (test set-up; bypasses the rules)."""
    fields = {TRACKS[track].field: state for track, state in states.items()}
    Case.objects.filter(pk=case.pk).update(**fields, updated_at=F("updated_at"))
    case.refresh_from_db()
    return case


def adult_birth_date(years: int = 30) -> date:
    """Return a birth date ``years`` ago (a stable adult age band)."""
    today = date.today()  # noqa: DTZ011 - a calendar date, as a form enters it
    return today.replace(year=today.year - years, day=min(today.day, 28))
