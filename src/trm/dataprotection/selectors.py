"""Readers for data protection: erasure requests and the subject-access export.

Access rules are in :mod:`trm.dataprotection.access`. "No access to the case"
is answered as "no such case" (404), as in :mod:`trm.cases.selectors`; "you
may see the case but not do this" is a 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.db import transaction
from django.db.models import QuerySet
from django.utils import translation
from django.utils.translation import gettext as _

from trm.accounts.models import User
from trm.audit import services as audit
from trm.cases.errors import CaseNotFound
from trm.cases.models import Case, Person
from trm.dataprotection import export
from trm.dataprotection.access import (
    is_dpo,
    knows_case,
    may_decide,
    may_export,
    may_request_erasure,
)
from trm.dataprotection.errors import (
    DataProtectionInvalidInput,
    DataProtectionRoleRequired,
    ErasureRequestNotFound,
)
from trm.dataprotection.models import ErasureRequest


def _case_known_to(user: User, case_id: UUID) -> Case:
    case = (
        Case.objects.select_related("person", "lead_organisation")
        .filter(pk=case_id)
        .first()
    )
    if case is None or not knows_case(user, case):
        raise CaseNotFound(_("No such case."))
    return case


# --- erasure requests ------------------------------------------------------------


@dataclass(frozen=True)
class PersonOverview:
    """The data-protection page of one person (reached through one of their cases).

    Holds no personal data: the case number, whether the person is erased, and
    the erasure requests.
    """

    case: Case
    person: Person
    pending: ErasureRequest | None
    history: list[ErasureRequest]
    may_request: bool
    may_export: bool
    may_decide: bool


def person_overview_for_user(*, user: User, case_id: UUID) -> PersonOverview:
    """Return what the data-protection page of the case's person shows.

    Raises:
        CaseNotFound: the user may not know the case.
        DataProtectionRoleRequired: the user may neither request an erasure nor
            export (e.g. a prosecutor on the team).
    """
    case = _case_known_to(user, case_id)
    requesting = may_request_erasure(user, case)
    exporting = may_export(user, case)
    if not (requesting or exporting):
        raise DataProtectionRoleRequired(
            _(
                "Only the case manager on the case team or the data-protection "
                "officer handles data-protection requests."
            )
        )
    requests = list(
        ErasureRequest.objects.filter(person=case.person)
        .select_related("case", "requested_by", "confirmed_by", "cancelled_by")
        .order_by("-requested_at")
    )
    pending = next((r for r in requests if r.is_pending), None)
    return PersonOverview(
        case=case,
        person=case.person,
        pending=pending,
        history=[r for r in requests if not r.is_pending],
        may_request=requesting and not case.person.is_erased and pending is None,
        may_export=exporting,
        may_decide=may_decide(user),
    )


def pending_requests_for_user(*, user: User) -> QuerySet[ErasureRequest]:
    """Return pending erasure requests, oldest first (DPO and node administrator).

    Raises:
        DataProtectionRoleRequired: the user may not decide on requests.
    """
    require_decider(user)
    return (
        ErasureRequest.objects.filter(status=ErasureRequest.Status.PENDING)
        .select_related("case", "requested_by")
        .order_by("requested_at")
    )


def decided_requests_for_user(
    *, user: User, limit: int = 20
) -> QuerySet[ErasureRequest]:
    """Return the most recently decided erasure requests (the erasure register).

    Raises:
        DataProtectionRoleRequired: the user may not decide on requests.
    """
    require_decider(user)
    return (
        ErasureRequest.objects.exclude(status=ErasureRequest.Status.PENDING)
        .select_related("case", "requested_by", "confirmed_by", "cancelled_by")
        .order_by("-requested_at")[:limit]
    )


#: ``status`` filters of :func:`erasure_requests_for_user`.
REQUEST_FILTERS = ("pending", "decided", "all")


def erasure_requests_for_user(
    *, user: User, status: str = "all"
) -> QuerySet[ErasureRequest]:
    """Return erasure requests for the API's list (DPO and node administrator).

    ``status`` is ``"pending"`` (oldest first, like the page), ``"decided"``
    (the erasure register, newest first) or ``"all"`` (newest first).

    Raises:
        DataProtectionRoleRequired: the user may not decide on requests.
        DataProtectionInvalidInput: unknown ``status``.
    """
    require_decider(user)
    if status not in REQUEST_FILTERS:
        raise DataProtectionInvalidInput(
            _("Unknown status filter."), details={"field": "status"}
        )
    qs = ErasureRequest.objects.select_related(
        "case", "requested_by", "confirmed_by", "cancelled_by"
    )
    if status == "pending":
        return qs.filter(status=ErasureRequest.Status.PENDING).order_by(
            "requested_at", "pk"
        )
    if status == "decided":
        qs = qs.exclude(status=ErasureRequest.Status.PENDING)
    return qs.order_by("-requested_at", "-pk")


def erasure_request_for_user(*, user: User, request_id: UUID) -> ErasureRequest:
    """Return an erasure request to a decider or to its requester.

    Raises:
        ErasureRequestNotFound: no such request, or the user may not see it.
    """
    request = (
        ErasureRequest.objects.select_related("case", "requested_by")
        .filter(pk=request_id)
        .first()
    )
    if request is None or not (may_decide(user) or request.requested_by_id == user.pk):
        raise ErasureRequestNotFound(_("No such erasure request."))
    return request


def case_id_by_number(*, user: User, number: str) -> UUID | None:
    """Return the id of the case numbered ``number`` if the user may handle it.

    For the data-protection officer, who finds cases by number (the number is
    on the subject's request or in the case file), not through the case pages.
    """
    number = number.strip()
    if not number:
        return None
    case = Case.objects.filter(number__iexact=number).first()
    if case is None or not (may_export(user, case) or may_request_erasure(user, case)):
        return None
    return case.pk


def require_decider(user: User) -> None:
    """Raise DataProtectionRoleRequired unless the user may decide on requests."""
    if not may_decide(user):
        raise DataProtectionRoleRequired(
            _(
                "Only the data-protection officer or the node administrator decides "
                "on erasure requests."
            )
        )


# --- subject-access export ---------------------------------------------------------


def subject_access_export(
    *, user: User, case_id: UUID, fmt: str
) -> export.SubjectAccessExport:
    """Collect everything held about the case's person (GDPR Art. 15).

    The data-protection officer's export covers every case of the person, every
    note and timeline entry whatever its visibility, every consent, and the
    metadata of every audit entry about these records. A case manager's export
    covers the person's cases they may see, the notes and events their role may
    read there, and the consents and audit entries of those cases.

    Audit entries are given as metadata (time, action, kind of record, the
    acting organisation), never with staff names. Audited as
    ``dataprotection.subject_access_exported``.

    Raises:
        DataProtectionInvalidInput: unknown format.
        CaseNotFound: the user may not know the case.
        DataProtectionRoleRequired: the user may see the case but not export.
    """
    if fmt not in export.FORMATS:
        raise DataProtectionInvalidInput(
            _("Choose JSON, HTML or PDF."), details={"field": "format"}
        )
    case = _case_known_to(user, case_id)
    if not may_export(user, case):
        raise DataProtectionRoleRequired(
            _(
                "Only the case manager on the case team or the data-protection "
                "officer may export a person's data."
            )
        )
    person = case.person
    full = is_dpo(user)
    with transaction.atomic():
        audit.record(
            actor=user,
            action="dataprotection.subject_access_exported",
            target=person,
            data={
                "case": str(case.pk),
                "format": fmt,
                "scope": "all" if full else "case_team",
            },
        )
    language = export.export_language(person)
    with translation.override(language):
        data = export.collect(user=user, person=person, full=full)
    return export.SubjectAccessExport(
        data=data, language=language, case_number=case.number
    )
