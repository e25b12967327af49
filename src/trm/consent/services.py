"""Recording, checking and withdrawing consent; the one check other services call.

``require(...)`` is how every share of personal data asks for permission
(STYLE.md: consent is a check that services call, not a flag that views read).
Withdrawal runs the hooks other apps register (e.g. the exchange sends
restriction messages to every node that received data under the consent).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_countries.data import COUNTRIES

from trm.accounts.models import Organisation, User
from trm.audit import services as audit
from trm.cases.access import CaseAccess, case_access
from trm.cases.errors import CaseNotFound, CaseRoleRequired, PersonErased
from trm.cases.models import Case, Person
from trm.cases.tracks import ChildProtection
from trm.common.languages import is_language_code
from trm.consent.errors import (
    ConsentAlreadyWithdrawn,
    ConsentInvalidInput,
    ConsentMissing,
    GuardianRequired,
)
from trm.consent.models import Consent, DataCategory, GivenBy, Purpose
from trm.dataprotection import crypto

#: Evidence scans accepted: PDF or image, up to this many bytes.
EVIDENCE_TYPES = {
    "application/pdf": b"%PDF-",
    "image/png": b"\x89PNG",
    "image/jpeg": b"\xff\xd8\xff",
}
MAX_EVIDENCE_BYTES = 10 * 1024 * 1024
#: How far ahead of this server's clock a giving time may be (clock skew).
MAX_CLOCK_SKEW = timedelta(minutes=5)

WithdrawalHook = Callable[[Consent, User], None]
_withdrawal_hooks: list[WithdrawalHook] = []


def register_withdrawal_hook(hook: WithdrawalHook) -> None:
    """Call ``hook(consent, actor)`` inside the withdrawal transaction.

    Apps register at start-up (``AppConfig.ready``); e.g. the exchange enqueues
    ``consent.withdrawn`` messages for every node that received data under it.
    """
    if hook not in _withdrawal_hooks:
        _withdrawal_hooks.append(hook)


def unregister_withdrawal_hook(hook: WithdrawalHook) -> None:
    """Stop calling ``hook`` on withdrawal (tests; apps that are switched off)."""
    if hook in _withdrawal_hooks:
        _withdrawal_hooks.remove(hook)


def _clean_categories(categories: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(categories))
    if not chosen:
        raise ConsentInvalidInput(
            _("Choose at least one category of data the consent covers."),
            details={"field": "categories"},
        )
    unknown = sorted(set(chosen) - set(DataCategory.values))
    if unknown:
        raise ConsentInvalidInput(
            _("Unknown data categories: %(c)s.") % {"c": ", ".join(unknown)},
            details={"field": "categories", "allowed": list(DataCategory.values)},
        )
    return chosen


def _require_on_team(access: CaseAccess) -> None:
    """Refuse a user who sees the case only through node policy (a national
    contact point on a transnational case): they read, but recording or
    withdrawing the person's consent is the case team's."""
    if access.via_policy:
        raise CaseRoleRequired(
            _("Join the case team to do this."), details={"reason": "not_on_team"}
        )


@transaction.atomic(durable=True)
def consent_record(
    *,
    actor: User,
    case_id: UUID,
    purpose: str,
    categories: Iterable[str],
    given_by: str,
    language: str,
    recipient_organisation_id: UUID | None = None,
    recipient_country: str = "",
    interpreter_used: bool = False,
    declaration: str = "",
    evidence: bytes | None = None,
    evidence_content_type: str = "",
    given_at: datetime | None = None,
    expires_at: datetime | None = None,
) -> Consent:
    """Record an informed consent of the case's person.

    Either a typed ``declaration`` or an ``evidence`` scan (PDF, PNG or JPEG,
    ≤ 10 MiB, checked by content, not by name) is required. For a person who is
    or may be a child the guardian must take part (``given_by`` guardian or both).

    Raises:
        CaseNotFound: the actor may not see the case.
        ConsentInvalidInput: missing purpose, recipient or categories, unknown
            codes, bad evidence, expiry not after the giving time.
        CaseRoleRequired: the actor sees the case only through node policy.
        GuardianRequired: a child's consent given by the child alone, or before
            a guardian is appointed on the case.
        PersonErased: the person's data was erased.
    """
    case = Case.objects.select_related("person").filter(pk=case_id).first()
    access = case_access(actor, case) if case else None
    if case is None or access is None:
        raise CaseNotFound(_("No such case."))
    _require_on_team(access)
    person = case.person
    if person.is_erased:
        raise PersonErased(_("The person's data was erased."))
    if purpose not in Purpose.values:
        raise ConsentInvalidInput(
            _("Choose the purpose of the consent."), details={"field": "purpose"}
        )
    if access.legal_only and purpose != Purpose.PROCEEDINGS:
        raise ConsentInvalidInput(
            _("Your role on this case records only consent to proceedings."),
            details={"field": "purpose"},
        )
    chosen = _clean_categories(categories)
    organisation = None
    if recipient_organisation_id is not None:
        organisation = Organisation.objects.filter(pk=recipient_organisation_id).first()
        if organisation is None:
            raise ConsentInvalidInput(
                _("No such recipient organisation."),
                details={"field": "recipient_organisation"},
            )
    country = recipient_country.strip().upper()
    if country and country not in COUNTRIES:
        raise ConsentInvalidInput(
            _("Unknown recipient country."), details={"field": "recipient_country"}
        )
    if organisation is None and not country:
        raise ConsentInvalidInput(
            _("Name the recipient: an organisation or a country."),
            details={"field": "recipient_organisation"},
        )
    if given_by not in GivenBy.values:
        raise ConsentInvalidInput(
            _("Say who gave the consent."), details={"field": "given_by"}
        )
    if person.presumed_child and given_by == GivenBy.PERSON:
        raise GuardianRequired(
            _("The person is or may be a child: the guardian must take part."),
            details={"field": "given_by"},
        )
    if (
        person.presumed_child
        and case.child_protection != ChildProtection.GUARDIAN_APPOINTED
    ):
        # A "guardian's" consent before a guardian is appointed would let a
        # referral or a transfer go ahead without one (SOPS §6.2 region E).
        raise GuardianRequired(
            _(
                "The person is or may be a child and no guardian is appointed yet: "
                "record the guardian's appointment first. Help in an emergency and "
                "sharing a risk to life or safety do not wait for it."
            ),
            details={"field": "given_by", "reason": "guardian_not_appointed"},
        )
    if not language.strip():
        raise ConsentInvalidInput(
            _("Record the language the information was given in."),
            details={"field": "language"},
        )
    if not is_language_code(language):
        raise ConsentInvalidInput(
            _("Unknown language code(s): %(codes)s (use ISO 639).")
            % {"codes": language.strip()},
            details={"field": "language"},
        )
    if not declaration.strip() and not evidence:
        raise ConsentInvalidInput(
            _("Attach the signed form or type the person's declaration."),
            details={"field": "declaration"},
        )
    if evidence:
        expected = EVIDENCE_TYPES.get(evidence_content_type)
        if expected is None or not evidence.startswith(expected):
            raise ConsentInvalidInput(
                _("The evidence must be a PDF, PNG or JPEG file."),
                details={"field": "evidence"},
            )
        if len(evidence) > MAX_EVIDENCE_BYTES:
            raise ConsentInvalidInput(
                _("The evidence file is larger than 10 MiB."),
                details={"field": "evidence"},
            )
    now = timezone.now()
    given = given_at or now
    if given > now + MAX_CLOCK_SKEW:
        raise ConsentInvalidInput(
            _("The consent cannot have been given in the future."),
            details={"field": "given_at"},
        )
    if expires_at is not None and expires_at <= given:
        raise ConsentInvalidInput(
            _("The expiry must be after the time the consent was given."),
            details={"field": "expires_at"},
        )
    consent = Consent(
        person=person,
        case=case,
        purpose=purpose,
        recipient_organisation=organisation,
        recipient_country=country,
        categories=chosen,
        given_by=given_by,
        language=language.strip().lower()[:3],
        interpreter_used=interpreter_used,
        given_at=given,
        expires_at=expires_at,
        recorded_by=actor,
        evidence_content_type=evidence_content_type if evidence else "",
    )
    if declaration.strip():
        consent.sealed_declaration = crypto.seal_for(
            person.data_key_id,
            declaration.strip().encode(),
            context=consent.declaration_context(),
        )
    if evidence:
        consent.sealed_evidence = crypto.seal_for(
            person.data_key_id, evidence, context=consent.evidence_context()
        )
    consent.save(force_insert=True)
    from trm.cases.services import record_case_event

    record_case_event(case=case, actor=actor, kind="consent.recorded")
    audit.record(
        actor=actor,
        action="consent.recorded",
        target=consent,
        data={
            "purpose": purpose,
            "categories": chosen,
            "organisation": str(organisation.pk) if organisation else "",
            "country": country,
        },
    )
    return consent


def valid_consent(
    *, person: Person, purpose: str, at: datetime | None = None
) -> Consent:
    """Return the newest valid consent of ``purpose`` the person gave, or refuse.

    For consents that share no data with a recipient — accepting assistance and
    the service agreement (``assistance``), the decision to return (``return``)
    — where :func:`require` (recipient × categories) does not apply. For a
    person who is or may be a child only a consent given by the guardian, or by
    the child and the guardian together, counts (SOPS §6.2 region E: no
    decision limiting rights without the guardian).

    Raises:
        ConsentMissing: with ``details["state"]`` ``missing``, ``withdrawn``,
            ``expired`` or ``guardian_required`` and ``details["purpose"]``.
    """
    moment = at or timezone.now()
    consents = list(
        Consent.objects.filter(person=person, purpose=purpose).order_by("-given_at")
    )
    valid = [c for c in consents if c.is_valid_at(moment)]
    label = Purpose(purpose).label if purpose in Purpose.values else purpose
    details: dict[str, object] = {"purpose": purpose}
    if person.presumed_child:
        by_guardian = [
            c for c in valid if c.given_by in {GivenBy.GUARDIAN, GivenBy.BOTH}
        ]
        if valid and not by_guardian:
            details["state"] = "guardian_required"
            raise ConsentMissing(
                _(
                    "The person is or may be a child: the consent (%(purpose)s) "
                    "must be given by the guardian, or by the child and the "
                    "guardian together."
                )
                % {"purpose": label},
                details=details,
            )
        valid = by_guardian
    if valid:
        return valid[0]
    if not consents:
        details["state"] = "missing"
        message = _("No valid consent is recorded for: %(purpose)s.") % {
            "purpose": label
        }
    elif consents[0].withdrawn_at is not None:
        details["state"] = "withdrawn"
        message = _(
            "The person withdrew their consent (%(purpose)s). Record a new consent "
            "if they agree again."
        ) % {"purpose": label}
    else:
        details["state"] = "expired"
        message = _(
            "The person's consent (%(purpose)s) has expired. Record a new consent."
        ) % {"purpose": label}
    raise ConsentMissing(message, details=details)


def require(
    *,
    person: Person,
    purpose: str,
    categories: Iterable[str],
    organisation: Organisation | None = None,
    country: str = "",
    at: datetime | None = None,
    organisation_named: bool = False,
) -> Consent | None:
    """Return the valid consent that covers sharing ``categories`` for ``purpose``.

    The recipient is an organisation (its country counts too) or a country: a
    consent naming only a country covers every organisation of that country.
    With ``organisation_named`` only a consent naming ``organisation`` itself
    counts, never a country-wide one: a referral needs "consent naming the
    recipient" (SOPS §6.3 "Domestic referral to named organisation").
    Risk information to protect life or safety needs no consent (SOPS §3; BG
    1.3): when ``categories`` hold only ``risk``, None is returned.

    Raises:
        ConsentMissing: no valid consent covers it. The message and ``details``
            name what is missing: the purpose, the recipient, categories (also
            unknown ones), or that the matching consent expired or was withdrawn.
            With ``organisation_named``, ``details["organisation_named"]`` is
            True, and when only a consent naming the country exists the message
            says it is not enough and ``details["country_consent_only"]`` is True.
        ValueError: neither ``organisation`` nor ``country`` was given, or
            ``organisation_named`` without ``organisation`` (programming errors:
            every share has a recipient).
    """
    if organisation is None and not country:
        raise ValueError("a recipient organisation or country is required")
    if organisation_named and organisation is None:
        raise ValueError("organisation_named needs the recipient organisation")
    needed = set(categories) - {DataCategory.RISK}
    unknown = sorted(needed - set(DataCategory.values))
    if unknown:
        raise ConsentMissing(
            _("No consent covers unknown data categories: %(c)s.")
            % {"c": ", ".join(unknown)},
            details={
                "purpose": purpose,
                "categories": sorted(needed),
                "unknown_categories": unknown,
            },
        )
    if not needed:
        return None
    if organisation is not None and not country:
        country = organisation.country.code
    moment = at or timezone.now()
    named = [
        c
        for c in Consent.objects.filter(person=person, purpose=purpose).order_by(
            "-given_at"
        )
        if c.names_recipient(organisation, country)
    ]
    candidates = (
        [c for c in named if c.recipient_organisation_id is not None]
        if organisation_named
        else named
    )
    for consent in candidates:
        if consent.is_valid_at(moment) and needed <= set(consent.categories):
            return consent
    recipient = organisation.name if organisation else country
    purpose_label = Purpose(purpose).label if purpose in Purpose.values else purpose
    details: dict[str, object] = {
        "purpose": purpose,
        "recipient": recipient,
        "categories": sorted(needed),
    }
    if organisation_named:
        details["organisation_named"] = True
    if not candidates and organisation_named and named:
        details["country_consent_only"] = True
        message = _(
            "The person's consent names only the country, not %(recipient)s: "
            "that is not enough for a referral. Record a consent to %(purpose)s "
            "that names %(recipient)s."
        ) % {"purpose": purpose_label, "recipient": recipient}
    elif not candidates:
        message = _("No consent for %(purpose)s naming %(recipient)s.") % {
            "purpose": purpose_label,
            "recipient": recipient,
        }
    else:
        valid = [c for c in candidates if c.is_valid_at(moment)]
        if not valid:
            latest = candidates[0]
            state = _("withdrawn") if latest.withdrawn_at else _("expired")
            details["state"] = "withdrawn" if latest.withdrawn_at else "expired"
            message = _("The consent naming %(recipient)s was %(state)s.") % {
                "recipient": recipient,
                "state": state,
            }
        else:
            covered = set().union(*(set(c.categories) for c in valid))
            missing = sorted(needed - covered) or sorted(needed)
            details["missing_categories"] = missing
            message = _("The consent does not cover: %(missing)s.") % {
                "missing": ", ".join(str(DataCategory(m).label) for m in missing)
            }
    raise ConsentMissing(message, details=details)


@transaction.atomic(durable=True)
def consent_withdraw(*, actor: User, consent_id: UUID) -> Consent:
    """Withdraw a consent now; run the registered withdrawal hooks.

    Raises:
        CaseNotFound: the actor may not see the consent's case.
        CaseRoleRequired: the actor sees the case only through node policy.
        ConsentAlreadyWithdrawn: it was withdrawn before.
    """
    consent = (
        # of=("self",): the case is a nullable FK (an outer join), which
        # PostgreSQL refuses to lock; only the consent row needs the lock.
        Consent.objects.select_for_update(no_key=True, of=("self",))
        .select_related("case", "person")
        .filter(pk=consent_id)
        .first()
    )
    access = (
        case_access(actor, consent.case)
        if consent is not None and consent.case is not None
        else None
    )
    # A legal-track-only role sees only consents to take part in proceedings
    # (consent.selectors); the others do not exist for them.
    if (
        consent is None
        or consent.case is None
        or access is None
        or (access.legal_only and consent.purpose != Purpose.PROCEEDINGS)
    ):
        raise CaseNotFound(_("No such consent."))
    _require_on_team(access)
    if consent.withdrawn_at is not None:
        raise ConsentAlreadyWithdrawn(_("This consent was already withdrawn."))
    consent.withdrawn_at = timezone.now()
    consent.withdrawn_by = actor
    consent.save(update_fields=["withdrawn_at", "withdrawn_by"])
    from trm.cases.services import record_case_event

    record_case_event(case=consent.case, actor=actor, kind="consent.withdrawn")
    audit.record(actor=actor, action="consent.withdrawn", target=consent)
    for hook in list(_withdrawal_hooks):
        hook(consent, actor)
    return consent
