"""The only readers of consent records. Every read is access-checked and audited.

A consent belongs to a case's person; a user sees it only when they may see the
case (:mod:`trm.cases.access`), and "no access" answers like "no such consent".
A user whose only roles on the case are legal-track roles sees only consents to
take part in proceedings: the others (medical care, family contact…) tell
about assistance, which the legal track never sees (SOPS §3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import User
from trm.audit import services as audit
from trm.cases.access import CaseAccess, case_access
from trm.cases.errors import CaseNotFound
from trm.cases.models import Case
from trm.consent.models import Consent, Purpose
from trm.consent.services import EVIDENCE_TYPES
from trm.dataprotection import crypto

VALID, EXPIRED, WITHDRAWN = "valid", "expired", "withdrawn"


def consent_state(consent: Consent, moment: datetime | None = None) -> str:
    """Return ``"valid"``, ``"expired"`` or ``"withdrawn"`` at ``moment`` (now)."""
    if consent.withdrawn_at is not None:
        return WITHDRAWN
    return VALID if consent.is_valid_at(moment or timezone.now()) else EXPIRED


def _visible(qs: QuerySet[Consent], access: CaseAccess) -> QuerySet[Consent]:
    if access.legal_only:
        return qs.filter(purpose=Purpose.PROCEEDINGS)
    return qs


@dataclass(frozen=True)
class ConsentRow:
    """A consent in a list: the record and its state now."""

    consent: Consent
    state: str


def consent_list_for_case(*, user: User, case: Case) -> list[ConsentRow]:
    """Return the consents recorded on ``case`` the user may see, newest first.

    Audited as ``consent.list_read`` when there is any.

    Raises:
        CaseNotFound: the user may not see the case.
    """
    access = case_access(user, case)
    if access is None:
        raise CaseNotFound(_("No such case."))
    consents = list(
        _visible(Consent.objects.filter(case=case), access)
        .select_related("recipient_organisation")
        .order_by("-given_at", "-pk")
    )
    if consents:
        with transaction.atomic():
            audit.record(
                actor=user,
                action="consent.list_read",
                target=case,
                data={"consents": [str(c.pk) for c in consents]},
            )
    now = timezone.now()
    return [ConsentRow(consent=c, state=consent_state(c, now)) for c in consents]


@dataclass(frozen=True)
class ConsentDetail:
    """One consent as shown to a user.

    Attributes:
        declaration: the decrypted typed declaration; ``""`` when none was
            typed, None when it can no longer be read (the person was erased).
    """

    consent: Consent
    case: Case
    access: CaseAccess
    state: str
    declaration: str | None
    has_evidence: bool


def _get(user: User, consent_id: UUID) -> tuple[Consent, Case, CaseAccess]:
    consent = (
        Consent.objects.select_related(
            "case",
            "case__person",
            "case__lead_organisation",
            "person",
            "recipient_organisation",
            "recorded_by",
            "withdrawn_by",
        )
        .filter(pk=consent_id)
        .first()
    )
    case = consent.case if consent is not None else None
    access = case_access(user, case) if case is not None else None
    if consent is None or case is None or access is None:
        raise CaseNotFound(_("No such consent."))
    if not _visible(Consent.objects.filter(pk=consent.pk), access).exists():
        raise CaseNotFound(_("No such consent."))
    return consent, case, access


def consent_get_for_user(*, user: User, consent_id: UUID) -> ConsentDetail:
    """Return one consent with its declaration decrypted.

    Audited as ``consent.read``.

    Raises:
        CaseNotFound: no such consent, or the user may not see it.
    """
    consent, case, access = _get(user, consent_id)
    with transaction.atomic():
        audit.record(actor=user, action="consent.read", target=consent)
    declaration: str | None = ""
    if consent.sealed_declaration:
        try:
            declaration = crypto.unseal_for(
                consent.person.data_key_id,
                bytes(consent.sealed_declaration),
                context=consent.declaration_context(),
            ).decode()
        except crypto.KeyDestroyed:
            declaration = None
    return ConsentDetail(
        consent=consent,
        case=case,
        access=access,
        state=consent_state(consent),
        declaration=declaration,
        has_evidence=bool(consent.sealed_evidence),
    )


@dataclass(frozen=True)
class EvidenceFile:
    """A decrypted evidence scan and its (checked) content type."""

    consent: Consent
    content: bytes
    content_type: str


def consent_evidence_for_user(*, user: User, consent_id: UUID) -> EvidenceFile:
    """Return the decrypted evidence scan of a consent.

    The content type is one of :data:`~trm.consent.services.EVIDENCE_TYPES`
    (checked when recorded); anything else is answered as
    ``application/octet-stream``. Audited as ``consent.evidence_read``.

    Raises:
        CaseNotFound: no such consent or evidence, the user may not see it, or
            it can no longer be read (the person was erased).
    """
    consent, _case, _access = _get(user, consent_id)
    if not consent.sealed_evidence:
        raise CaseNotFound(_("This consent has no evidence file."))
    with transaction.atomic():
        audit.record(actor=user, action="consent.evidence_read", target=consent)
    try:
        content = crypto.unseal_for(
            consent.person.data_key_id,
            bytes(consent.sealed_evidence),
            context=consent.evidence_context(),
        )
    except crypto.KeyDestroyed:
        raise CaseNotFound(_("The evidence file can no longer be read.")) from None
    content_type = consent.evidence_content_type
    if content_type not in EVIDENCE_TYPES:
        content_type = "application/octet-stream"
    return EvidenceFile(consent=consent, content=content, content_type=content_type)
