"""The only readers of needs assessments, risk assessments and support plans.

Reads of content take the acting user and go through
:func:`trm.assessments.common.reader_access`: no access to the case answers
404 (as for no case); a user whose roles on the case are legal-track only gets
403 (the content is assistance material). Every read that decrypts is audited
(``assessments.needs_read``, ``assessments.risk_read``,
``assessments.plan_read``); after erasure the sealed text reads as ``None``
("can no longer be read").

Rule 8 (SOPS §6.5 [BG 1.2] step 3): :func:`risk_review_due` and
:func:`risk_review_overdue` answer from event timestamps and dates in clear,
without decrypting anything; :func:`has_needs_assessment` likewise (for the
assistance pathway's guard on long-term assistance).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import User
from trm.audit import services as audit
from trm.cases.models import Case, CaseEvent
from trm.dataprotection import crypto

from .common import reader_access
from .errors import PlanVersionNotFound
from .models import (
    DOMAINS,
    NeedsAssessment,
    PlanStatus,
    RiskAssessment,
    SupportPlanVersion,
)
from .plans import PlanContent, missing_fields

CONTACT_EVENT = "sop1.contact_recorded"
REVIEW_EVENT = "sop1.risk_assessment_reviewed"


def _audit(user: User, action: str, case: Case, ids: list[str]) -> None:
    with transaction.atomic():
        audit.record(actor=user, action=action, target=case, data={"records": ids})


def _unseal(case: Case, blob: bytes | memoryview | None, context: bytes) -> Any:
    """Return the decoded JSON of a sealed blob; None once the person is erased."""
    if case.person.is_erased:
        return None
    raw = crypto.open_for(case.person.data_key_id, blob, context=context)
    return None if raw is None else json.loads(raw)


@dataclass(frozen=True)
class Page:
    """One page of a history list, newest first."""

    items: list[Any]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def _bounds(page: int, page_size: int) -> tuple[int, int, int]:
    page = max(1, page)
    page_size = max(1, min(page_size, 100))
    return page, page_size, (page - 1) * page_size


# --- needs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NeedsView:
    """A needs assessment as shown to a user.

    Attributes:
        rows: ``(domain code, status code, note)`` in the order of the domains;
            a note is ``""`` if none, None when it can no longer be read.
        readable: False when the notes can no longer be read (erased person).
    """

    assessment: NeedsAssessment
    rows: list[tuple[str, str, str | None]]
    readable: bool = True


def needs_view(case: Case, assessment: NeedsAssessment) -> NeedsView:
    """Return ``assessment`` decrypted, for the answer to the one who just wrote it
    (the write is audited); everyone else reads through the audited lists."""
    notes: dict[str, str] | None = {}
    readable = True
    if assessment.sealed_notes:
        data = _unseal(case, assessment.sealed_notes, assessment.notes_context())
        notes = data.get("notes", {}) if data is not None else None
        readable = data is not None
    rows = [
        (
            domain,
            str(assessment.statuses.get(domain, "")),
            None if notes is None else notes.get(domain, ""),
        )
        for domain in DOMAINS.get(assessment.kind, {})
    ]
    return NeedsView(assessment=assessment, rows=rows, readable=readable)


def needs_assessments_for_user(
    *, user: User, case: Case, page: int = 1, page_size: int = 20
) -> Page:
    """Return a page of the case's needs assessments (:class:`NeedsView`), newest
    first, notes decrypted. Audited as ``assessments.needs_read``.

    Raises:
        CaseNotFound, AssistanceContentHidden.
    """
    reader_access(user, case)
    page, page_size, offset = _bounds(page, page_size)
    qs = NeedsAssessment.objects.filter(case=case).select_related("assessor")
    total = qs.count()
    rows = list(qs.order_by("-at", "-pk")[offset : offset + page_size])
    if rows:
        _audit(user, "assessments.needs_read", case, [str(r.pk) for r in rows])
    return Page([needs_view(case, r) for r in rows], total, page, page_size)


def has_needs_assessment(case: Case, *, kind: str | None = None) -> bool:
    """Return True if the case has a needs assessment (of ``kind`` if given).

    Reads no personal data (not audited): for guards such as entering
    long-term assistance (SOPS §6.2 region B).
    """
    qs = NeedsAssessment.objects.filter(case=case)
    if kind is not None:
        qs = qs.filter(kind=kind)
    return qs.exists()


# --- risk ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RiskView:
    """A risk assessment as shown to a user; ``text`` is None once erased."""

    assessment: RiskAssessment
    person_concerns: str | None
    judgement: str | None
    safety_measures: str | None

    @property
    def readable(self) -> bool:
        return self.judgement is not None


def risk_view(case: Case, assessment: RiskAssessment) -> RiskView:
    """Return ``assessment`` decrypted, as :func:`needs_view`."""
    data = _unseal(case, assessment.sealed_text, assessment.text_context())
    if data is None:
        return RiskView(assessment, None, None, None)
    return RiskView(
        assessment,
        data.get("person_concerns", ""),
        data.get("judgement", ""),
        data.get("safety_measures", ""),
    )


def risk_assessments_for_user(
    *, user: User, case: Case, page: int = 1, page_size: int = 20
) -> Page:
    """Return a page of the case's risk assessments (:class:`RiskView`), newest
    first, text decrypted. Audited as ``assessments.risk_read``.

    Raises:
        CaseNotFound, AssistanceContentHidden.
    """
    reader_access(user, case)
    page, page_size, offset = _bounds(page, page_size)
    qs = RiskAssessment.objects.filter(case=case).select_related("assessor")
    total = qs.count()
    rows = list(qs.order_by("-at", "-pk")[offset : offset + page_size])
    if rows:
        _audit(user, "assessments.risk_read", case, [str(r.pk) for r in rows])
    return Page([risk_view(case, r) for r in rows], total, page, page_size)


def _latest_at(case: Case, kind: str) -> datetime | None:
    return (
        CaseEvent.objects.filter(case=case, kind=kind)
        .order_by("-at")
        .values_list("at", flat=True)
        .first()
    )


def risk_review_due(case: Case) -> bool:
    """Return True if a contact was recorded after the latest risk assessment.

    SOPS §6.5 rule 8 [BG 1.2 step 3]: after every recorded contact
    (``sop1.contact_recorded``) the risk assessment is due until one is
    recorded (``sop1.risk_assessment_reviewed``) at or after it. Reads event
    timestamps only.
    """
    contact = _latest_at(case, CONTACT_EVENT)
    if contact is None:
        return False
    review = _latest_at(case, REVIEW_EVENT)
    return review is None or review < contact


def risk_review_overdue(case: Case, *, today: date | None = None) -> bool:
    """Return True if the latest risk assessment's next review date has passed."""
    due = (
        RiskAssessment.objects.filter(case=case)
        .order_by("-at")
        .values_list("next_review_due", flat=True)
        .first()
    )
    return due is not None and due < (today or timezone.localdate())


@dataclass(frozen=True)
class RiskStatus:
    """Where the risk assessment of a case stands (no personal text).

    Attributes:
        level: the latest level (``""`` if none).
        assessed_at: when the latest assessment was recorded.
        next_review_due: the latest assessment's next review date.
        last_contact_at: the latest recorded contact.
        due: rule 8 — a contact since the latest assessment.
        overdue: the next review date has passed.
    """

    level: str = ""
    assessed_at: datetime | None = None
    next_review_due: date | None = None
    last_contact_at: datetime | None = None
    due: bool = False
    overdue: bool = False


def risk_status(case: Case, *, today: date | None = None) -> RiskStatus:
    """Return the case's :class:`RiskStatus` (rule 8), reading no sealed data."""
    latest = (
        RiskAssessment.objects.filter(case=case)
        .order_by("-at")
        .values_list("level", "at", "next_review_due")
        .first()
    )
    today = today or timezone.localdate()
    level, at, due_on = latest if latest is not None else ("", None, None)
    return RiskStatus(
        level=level,
        assessed_at=at,
        next_review_due=due_on,
        last_contact_at=_latest_at(case, CONTACT_EVENT),
        due=risk_review_due(case),
        overdue=due_on is not None and due_on < today,
    )


def risk_status_for_user(
    *, user: User, case: Case, today: date | None = None
) -> RiskStatus:
    """Return :func:`risk_status` for a user who may read assessments.

    The risk level is about the person: audited as ``assessments.risk_status_read``.

    Raises:
        CaseNotFound, AssistanceContentHidden.
    """
    reader_access(user, case)
    with transaction.atomic():
        audit.record(actor=user, action="assessments.risk_status_read", target=case)
    return risk_status(case, today=today)


# --- the support and safety plan ------------------------------------------------------


@dataclass(frozen=True)
class PlanVersionView:
    """One version of the plan as shown to a user.

    Attributes:
        content: the decrypted content; None when it can no longer be read.
        missing: codes of the fields rule 9 still needs (for a draft).
    """

    version: SupportPlanVersion
    content: PlanContent | None
    missing: list[str] = field(default_factory=list)


def plan_view(case: Case, version: SupportPlanVersion) -> PlanVersionView:
    """Return ``version`` decrypted (no access check, not audited: callers are
    the audited selectors below and the subject-access export)."""
    raw = (
        None
        if case.person.is_erased
        else crypto.open_for(
            case.person.data_key_id,
            version.sealed_content,
            context=version.content_context(),
        )
    )
    content = None if raw is None else PlanContent.from_json(raw)
    missing = (
        missing_fields(content, child=case.person.presumed_child)
        if content is not None and version.is_draft
        else []
    )
    return PlanVersionView(version=version, content=content, missing=missing)


def plan_versions(case: Case) -> list[SupportPlanVersion]:
    """Return the versions of the case's plan, newest first (no content read)."""
    return list(
        SupportPlanVersion.objects.filter(case=case)
        .select_related("created_by", "updated_by", "signed_by")
        .order_by("-number")
    )


def latest_plan_version(case: Case) -> SupportPlanVersion | None:
    """Return the newest version of the case's plan (no content read)."""
    return SupportPlanVersion.objects.filter(case=case).order_by("-number").first()


@dataclass(frozen=True)
class PlanOverview:
    """The case's plan: the current version decrypted and every version listed."""

    current: PlanVersionView | None
    versions: list[SupportPlanVersion]


def plan_for_user(*, user: User, case: Case) -> PlanOverview:
    """Return the case's plan: its newest version decrypted and the version list.

    Audited as ``assessments.plan_read`` when there is a plan.

    Raises:
        CaseNotFound, AssistanceContentHidden.
    """
    reader_access(user, case)
    versions = plan_versions(case)
    if not versions:
        return PlanOverview(current=None, versions=[])
    _audit(user, "assessments.plan_read", case, [str(versions[0].pk)])
    return PlanOverview(current=plan_view(case, versions[0]), versions=versions)


def plan_version_for_user(*, user: User, case: Case, number: int) -> PlanVersionView:
    """Return version ``number`` of the case's plan, decrypted.

    Audited as ``assessments.plan_read``.

    Raises:
        CaseNotFound, AssistanceContentHidden, PlanVersionNotFound.
    """
    reader_access(user, case)
    version = (
        SupportPlanVersion.objects.filter(case=case, number=number)
        .select_related("created_by", "updated_by", "signed_by")
        .first()
    )
    if version is None:
        raise PlanVersionNotFound(
            _("No such version of the plan."), details={"number": number}
        )
    _audit(user, "assessments.plan_read", case, [str(version.pk)])
    return plan_view(case, version)


# --- the case page's section ----------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """What the case page shows of needs, risks and the plan (nothing decrypted).

    Attributes:
        needs: the latest needs assessment (statuses in clear), or None.
        risk: :class:`RiskStatus`.
        plan: the newest plan version, or None.
        signed: the newest signed version (the one in force), or None.
    """

    needs: NeedsAssessment | None
    risk: RiskStatus
    plan: SupportPlanVersion | None
    signed: SupportPlanVersion | None


def summary_for_user(*, user: User, case: Case, today: date | None = None) -> Summary:
    """Return the :class:`Summary` of ``case`` for the case page.

    Need statuses and the risk level are about the person: audited as
    ``assessments.summary_read`` when there is anything to show.

    Raises:
        CaseNotFound, AssistanceContentHidden.
    """
    reader_access(user, case)
    needs = (
        NeedsAssessment.objects.filter(case=case)
        .select_related("assessor")
        .order_by("-at", "-pk")
        .first()
    )
    risk = risk_status(case, today=today)
    plan = latest_plan_version(case)
    signed = (
        SupportPlanVersion.objects.filter(case=case, status=PlanStatus.SIGNED)
        .order_by("-number")
        .first()
    )
    if needs is not None or risk.assessed_at is not None or plan is not None:
        with transaction.atomic():
            audit.record(actor=user, action="assessments.summary_read", target=case)
    return Summary(needs=needs, risk=risk, plan=plan, signed=signed)
