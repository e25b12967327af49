"""Fictional people and cases for the data-protection tests.

Names carry the token "Fictiv", documents the user-assigned country prefix
"ZZ", phones the UK range reserved for drama (+44 7700 900xxx).
"""

from __future__ import annotations

from typing import Any

from trm.accounts.models import Organisation, Role, User
from trm.accounts.tests.factories import UserFactory
from trm.assistance.services import assistance_start
from trm.cases import services as cases
from trm.cases.identity import IdentityDocument, PersonIdentity
from trm.cases.models import Case, CaseTeamMember
from trm.common.htcds import Gender
from trm.consent import services as consent
from trm.consent.models import Consent

GIVEN = "Ioana"
FAMILY = "Fictiv-Popescu"
CYRILLIC_FAMILY = "Фиктив-Попеску"
NOTE_TEXT = "Fictional note: met at the shelter, needs a doctor."
LEGAL_NOTE_TEXT = "Fictional legal note: statement planned."
DECLARATION = "I agree to the referral (fictional declaration)."


def identity(**overrides: Any) -> PersonIdentity:
    values: dict[str, Any] = {
        "given_names": GIVEN,
        "family_names": FAMILY,
        "birth_date": "1999-04-03",
        "place_of_birth": "Fictional Town",
        "documents": [IdentityDocument(kind="passport", number="ZZ000123")],
        "phones": ["+44 7700 900123"],
        "addresses": ["1 Fictional Street, Nowhere"],
    }
    values.update(overrides)
    return PersonIdentity(**values)


def open_case(
    actor: User,
    *,
    languages: tuple[str, ...] = ("ro",),
    with_records: bool = True,
    recipient: Organisation | None = None,
    **identity_overrides: Any,
) -> Case:
    """Open a case for a fictional person; add a note, a legal note, a consent and
    a track move with a sealed reason when ``with_records``."""
    case = cases.case_open(
        actor=actor,
        identity=identity(**identity_overrides),
        gender=Gender.FEMININE,
        citizenships=["RO"],
        languages=list(languages),
    )
    if with_records:
        cases.case_note_add(actor=actor, case_id=case.pk, text=NOTE_TEXT)
        cases.case_note_add(
            actor=actor, case_id=case.pk, text=LEGAL_NOTE_TEXT, visibility="legal"
        )
        assistance_start(
            actor=actor,
            case_id=case.pk,
            basis="emergency",
            reason="Fictional reason: arrived at the shelter.",
        )
        consent.consent_record(
            actor=actor,
            case_id=case.pk,
            purpose="referral",
            categories=["identity", "contact"],
            given_by="person",
            language="ro",
            recipient_organisation_id=(recipient or actor.organisation).pk,  # type: ignore[union-attr]
            declaration=DECLARATION,
        )
    case.refresh_from_db()
    return case


def add_to_team(case: Case, user: User, role: str) -> None:
    CaseTeamMember.objects.create(case=case, user=user, role=role)


def prosecutor_on(case: Case, organisation: Organisation) -> User:
    user = UserFactory(
        username="prosecutor-fictiv", organisation=organisation, roles=[Role.PROSECUTOR]
    )
    add_to_team(case, user, Role.PROSECUTOR)
    return user


def consents_of(case: Case) -> list[Consent]:
    return list(Consent.objects.filter(person=case.person))
