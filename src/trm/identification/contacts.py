"""SOP 1: identity verification, contacts with the person, asylum applications.

An identity check through the country of origin is refused for an asylum
applicant (SOPS §2 SOP 1 step 2 [BG]; §6.5 rule 6). Every recorded contact
makes the risk assessment due until one is recorded ([BG 1.2]; SOPS §6.5 rule
8): risk assessments are written by
:func:`trm.assessments.services.risk_assessment_record`, their one write path.
Same conventions as :mod:`trm.identification.services`.
"""

from __future__ import annotations

from uuid import UUID

from django.db import transaction
from django.utils.translation import gettext as _

from trm.accounts.models import Role, User
from trm.cases.access import CaseAccess
from trm.cases.errors import CaseInvalidInput, TransitionNotAllowed
from trm.cases.models import Case, Person, Visibility
from trm.cases.services import (
    lock_case,
    record_case_event,
)
from trm.identification.common import (
    audit_case,
    optional_text,
    require_open,
    require_roles,
)
from trm.identification.errors import (
    ConsularCheckBlocked,
)
from trm.sop import engine

#: Roles that ask for an identity and nationality verification (SOPS §6.3).
VERIFICATION_ROLES = frozenset(
    {Role.NATIONAL_CONTACT_POINT, Role.CASE_MANAGER, Role.COMPETENT_AUTHORITY}
)


#: Roles that record contacts (everyone who meets the person except the legal
#: track, which has its own protection assessment); also the base of who records
#: needs and risk assessments (:mod:`trm.assessments`).
CONTACT_ROLES = frozenset(
    {
        Role.FIRST_CONTACT_POINT,
        Role.CASE_MANAGER,
        Role.SERVICE_PROVIDER,
        Role.GUARDIAN,
        Role.COMPETENT_AUTHORITY,
        Role.NATIONAL_CONTACT_POINT,
    }
)


class VerificationChannel:
    """How identity and nationality are verified (SOPS §2 SOP 1 step 2)."""

    #: The diplomatic mission or consulate of the country of origin.
    CONSULATE = "consulate"
    #: Police cooperation with the country of origin.
    POLICE = "police"
    #: The counterpart national contact point (exchange message M2).
    NATIONAL_CONTACT_POINT = "ncp"
    #: Domestic registers only (the origin country is not contacted).
    DOMESTIC = "domestic"
    ALL = (CONSULATE, POLICE, NATIONAL_CONTACT_POINT, DOMESTIC)
    #: Channels that contact the country of origin: closed to asylum applicants.
    ORIGIN_COUNTRY = frozenset({CONSULATE, POLICE, NATIONAL_CONTACT_POINT})


CONTACT_KINDS = ("in_person", "phone", "video", "message", "accompanied")


@transaction.atomic(durable=True)
def identity_verification_request(
    *, actor: User, case_id: UUID, channel: str, note: str = ""
) -> Case:
    """Record a request to verify identity and nationality (SOPS §2 SOP 1 step 2).

    Any channel that contacts the country of origin is refused for a person
    who applied for international protection (SOPS §6.5 rule 6 [BG]); the
    message M2 itself goes through the exchange.

    Raises:
        CaseNotFound, CaseRoleRequired, ConsularCheckBlocked, CaseInvalidInput.
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    record_verification_request(
        actor=actor, case=case, access=access, channel=channel, note=note
    )
    return case


def record_verification_request(
    *, actor: User, case: Case, access: CaseAccess, channel: str, note: str = ""
) -> None:
    """Check and record a verification request on a locked ``case`` (inner
    helper: the request of a channel above, and the exchange's
    ``identity.verify.request`` through the national contact point).

    Raises:
        CaseRoleRequired, ConsularCheckBlocked, CaseInvalidInput,
        TransitionNotAllowed.
    """
    require_open(case)
    require_roles(access, VERIFICATION_ROLES)
    if channel not in VerificationChannel.ALL:
        raise CaseInvalidInput(
            _("Choose how identity is verified."), details={"field": "channel"}
        )
    if (
        engine.is_asylum_applicant(case)
        and channel in VerificationChannel.ORIGIN_COUNTRY
    ):
        raise ConsularCheckBlocked(
            _(
                "The person has applied for international protection: the "
                "authorities of their country of origin must not be contacted to "
                "verify their identity. Use domestic registers only."
            ),
            details={"field": "channel"},
        )
    note = optional_text(case, note, field="note")
    record_case_event(
        case=case,
        actor=actor,
        kind="sop1.identity_verification_requested",
        code=channel,
        detail=note,
    )
    audit_case(actor, "identification.verification_requested", case, channel=channel)


@transaction.atomic(durable=True)
def contact_record(*, actor: User, case_id: UUID, kind: str, note: str = "") -> Case:
    """Record a contact with the person; a risk assessment falls due (rule 8, [BG 1.2]).

    Raises:
        CaseNotFound, CaseRoleRequired, CaseInvalidInput (unknown kind).
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    require_open(case)
    require_roles(access, CONTACT_ROLES)
    if kind not in CONTACT_KINDS:
        raise CaseInvalidInput(
            _("Choose the kind of contact."), details={"field": "kind"}
        )
    note = optional_text(case, note, field="note")
    record_case_event(
        case=case,
        actor=actor,
        kind="sop1.contact_recorded",
        code=kind,
        detail=note,
        visibility=Visibility.ASSISTANCE_ONLY,
    )
    audit_case(actor, "identification.contact_recorded", case, kind=kind)
    return case


#: Roles that record an application for international protection.
ASYLUM_ROLES = frozenset(
    {
        Role.FIRST_CONTACT_POINT,
        Role.CASE_MANAGER,
        Role.COMPETENT_AUTHORITY,
        Role.NATIONAL_CONTACT_POINT,
        Role.SERVICE_PROVIDER,
    }
)


@transaction.atomic(durable=True)
def asylum_application_record(*, actor: User, case_id: UUID, note: str = "") -> Case:
    """Record that the person applied for international protection.

    From then on no identity check may go through the country of origin
    (SOPS §2 SOP 1 step 2 [BG]; §6.5 rule 6) and the SOP panel shows that step
    blocked. The flag is never cleared here: a decision on the application
    does not reopen the origin country's channel.

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed (closed case, or
        already recorded), PersonErased.
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    require_open(case)
    require_roles(access, ASYLUM_ROLES)
    person = Person.objects.select_for_update().get(pk=case.person_id)
    if person.asylum_applicant:
        raise TransitionNotAllowed(
            _("The application for international protection is already recorded.")
        )
    note = optional_text(case, note, field="note")
    person.asylum_applicant = True
    person.save(update_fields=["asylum_applicant", "updated_at"])
    record_case_event(
        case=case,
        actor=actor,
        kind="sop1.asylum_application_recorded",
        detail=note,
    )
    audit_case(actor, "identification.asylum_application_recorded", case)
    return case
