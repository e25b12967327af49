"""The support and safety plan: its content, drafts, versions and signing.

The plan is an informal agreement between the person and the service (SOPS §2
SOP 1 "Documents" [BG]; SOP 2 step 5: kept up to date). Its content is sealed
under the person's data key. It is versioned: saving edits the current draft;
saving after signing starts a new draft version (the signed version stays as it
was, and is marked superseded when the new one is signed). Signing is refused
unless every field Bulgaria requires is present (SOPS §6.5 rule 9), and for a
person presumed a child also the guardian's acknowledgement (SOPS §3: the
guardian takes part in every decision).

Plausibility (checked on saving and again on signing, see :func:`check_content`):
the plan's date is not after today (the node's local date) and not more than
:data:`MAX_PLAN_AGE_DAYS` before it — the date is when the plan is agreed and
signed, so a draft left longer gets today's date when it is signed; a step's
"by when" is not before the plan's date and not more than
:data:`MAX_STEP_YEARS` after it (the longest care plan, BG 3.1); the
interviewer's organisation is the actor's or that of a member of the case
team who draws up plans (:func:`interviewer_organisation_ids`).

Who: case manager, service provider and first contact point on the case team.
Closed cases and erased persons are refused.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_stubs_ext import StrOrPromise

from trm.accounts.models import Organisation, User
from trm.cases.models import Case, CaseTeamMember, Visibility
from trm.cases.services import lock_case, record_case_event, require_live_person
from trm.common.languages import is_language_code
from trm.dataprotection import crypto
from trm.identification.common import audit_case, require_open

from .common import PLAN_ROLES, clean_line, clean_long_text, require_actor
from .errors import (
    AssessmentInvalidInput,
    NoDraftToSign,
    PlanIncomplete,
    PlanVersionChanged,
)
from .models import PlanStatus, SupportPlanVersion

#: At most this many planned steps, organisations and other organisations.
MAX_STEPS = 40
MAX_ORGANISATIONS = 40
#: The plan's date may be at most this many days before today (one year): it
#: is the date the plan is agreed and signed, not when the draft was begun.
MAX_PLAN_AGE_DAYS = 365
#: A planned step is due at most this many years after the plan's date (the
#: longest planned services last 3 years, BG 3.1).
MAX_STEP_YEARS = 3


@dataclass
class PlanStep:
    """One planned step: what is done, by whom, by when."""

    what: str = ""
    who: str = ""
    by_when: date | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.what or self.who or self.by_when)

    @property
    def is_complete(self) -> bool:
        return bool(self.what and self.who and self.by_when)


@dataclass
class OrganisationRef:
    """An organisation of this node, with its name when the plan was saved."""

    id: str
    name: str


@dataclass
class PlanContent:
    """What a support and safety plan holds (sealed as one JSON document).

    The fields follow the Bulgarian documentation page (SOPS §2 SOP 1
    "Documents"): immediate needs; risk assessment; planned steps;
    organisations contacted or referred to; safety plan; timeframe; names and
    signatures of the person and the interviewer, the interviewer's
    organisation; date and place. The guardian's name and acknowledgement are
    for a person presumed a child.
    """

    immediate_needs: str = ""
    risk_summary: str = ""
    steps: list[PlanStep] = field(default_factory=list)
    organisations: list[OrganisationRef] = field(default_factory=list)
    other_organisations: list[str] = field(default_factory=list)
    safety_plan: str = ""
    timeframe: str = ""
    person_name: str = ""
    person_acknowledged: bool = False
    interviewer_name: str = ""
    interviewer_acknowledged: bool = False
    interviewer_organisation: OrganisationRef | None = None
    guardian_name: str = ""
    guardian_acknowledged: bool = False
    plan_date: date | None = None
    place: str = ""

    def to_json(self) -> bytes:
        data = asdict(self)
        data["plan_date"] = self.plan_date.isoformat() if self.plan_date else None
        data["steps"] = [
            {**asdict(s), "by_when": s.by_when.isoformat() if s.by_when else None}
            for s in self.steps
        ]
        return json.dumps(data, sort_keys=True, ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> PlanContent:
        data: dict[str, Any] = json.loads(raw)
        org = data.get("interviewer_organisation")
        return cls(
            immediate_needs=data.get("immediate_needs", ""),
            risk_summary=data.get("risk_summary", ""),
            steps=[
                PlanStep(
                    what=s.get("what", ""),
                    who=s.get("who", ""),
                    by_when=_date(s.get("by_when")),
                )
                for s in data.get("steps", [])
            ],
            organisations=[OrganisationRef(**o) for o in data.get("organisations", [])],
            other_organisations=list(data.get("other_organisations", [])),
            safety_plan=data.get("safety_plan", ""),
            timeframe=data.get("timeframe", ""),
            person_name=data.get("person_name", ""),
            person_acknowledged=bool(data.get("person_acknowledged")),
            interviewer_name=data.get("interviewer_name", ""),
            interviewer_acknowledged=bool(data.get("interviewer_acknowledged")),
            interviewer_organisation=OrganisationRef(**org) if org else None,
            guardian_name=data.get("guardian_name", ""),
            guardian_acknowledged=bool(data.get("guardian_acknowledged")),
            plan_date=_date(data.get("plan_date")),
            place=data.get("place", ""),
        )


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


#: The fields rule 9 requires, by code (API ``details.missing``, form fields).
REQUIRED_FIELDS: dict[str, StrOrPromise] = {
    "immediate_needs": gettext_lazy("Immediate needs"),
    "risk_summary": gettext_lazy("Risk assessment"),
    "steps": gettext_lazy("Planned steps"),
    "organisations": gettext_lazy("Organisations contacted or referred to"),
    "safety_plan": gettext_lazy("Safety plan"),
    "timeframe": gettext_lazy("Timeframe"),
    "person_name": gettext_lazy("Name of the person"),
    "person_acknowledged": gettext_lazy("Signature of the person"),
    "interviewer_name": gettext_lazy("Name of the interviewer"),
    "interviewer_acknowledged": gettext_lazy("Signature of the interviewer"),
    "interviewer_organisation": gettext_lazy("Organisation of the interviewer"),
    "plan_date": gettext_lazy("Date"),
    "place": gettext_lazy("Place"),
}
#: Also required for a person presumed a child.
CHILD_REQUIRED_FIELDS: dict[str, StrOrPromise] = {
    "guardian_name": gettext_lazy("Name of the guardian"),
    "guardian_acknowledged": gettext_lazy("Signature of the guardian"),
}


def missing_fields(content: PlanContent, *, child: bool) -> list[str]:
    """Return the codes of the required fields ``content`` lacks (rule 9).

    Every planned step must say what, who and by when; the organisations are
    present when at least one is chosen or named.
    """
    present = {
        "immediate_needs": bool(content.immediate_needs),
        "risk_summary": bool(content.risk_summary),
        "steps": bool(content.steps) and all(s.is_complete for s in content.steps),
        "organisations": bool(content.organisations or content.other_organisations),
        "safety_plan": bool(content.safety_plan),
        "timeframe": bool(content.timeframe),
        "person_name": bool(content.person_name),
        "person_acknowledged": content.person_acknowledged,
        "interviewer_name": bool(content.interviewer_name),
        "interviewer_acknowledged": content.interviewer_acknowledged,
        "interviewer_organisation": content.interviewer_organisation is not None,
        "plan_date": content.plan_date is not None,
        "place": bool(content.place),
        "guardian_name": bool(content.guardian_name),
        "guardian_acknowledged": content.guardian_acknowledged,
    }
    required = [*REQUIRED_FIELDS, *(CHILD_REQUIRED_FIELDS if child else {})]
    return [code for code in required if not present[code]]


def field_label(code: str) -> str:
    """Return the label of a required field code."""
    return str({**REQUIRED_FIELDS, **CHILD_REQUIRED_FIELDS}.get(code, code))


# --- plausibility -------------------------------------------------------------------


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def check_plan_date(plan_date: date | None, *, today: date) -> None:
    """Refuse a plan date after ``today`` or more than a year before it.

    Raises:
        AssessmentInvalidInput: ``details["field"] == "plan_date"``.
    """
    if plan_date is None:
        return
    if plan_date > today:
        raise AssessmentInvalidInput(
            _("The date of the plan cannot be in the future."),
            details={"field": "plan_date"},
        )
    if plan_date < today - timedelta(days=MAX_PLAN_AGE_DAYS):
        raise AssessmentInvalidInput(
            _(
                "The date of the plan cannot be more than a year ago: give the "
                "date the plan is agreed and signed."
            ),
            details={"field": "plan_date"},
        )


def check_step_date(
    by_when: date | None, *, row: int, plan_date: date | None, today: date
) -> None:
    """Refuse a step due before the plan's date or more than 3 years after it.

    Without a plan date, the bounds are those a plan date could have (a year
    before today) and today.

    Raises:
        AssessmentInvalidInput: ``details["field"] == "step_<row>_by"`` and
            ``details["row"] == row`` (counted from 0).
    """
    if by_when is None:
        return
    details = {"field": f"step_{row}_by", "row": row}
    earliest = plan_date or today - timedelta(days=MAX_PLAN_AGE_DAYS)
    if by_when < earliest:
        raise AssessmentInvalidInput(
            _("Step %(n)d: “by when” cannot be before the date of the plan.")
            % {"n": row + 1},
            details=details,
        )
    if by_when > _years_after(plan_date or today, MAX_STEP_YEARS):
        raise AssessmentInvalidInput(
            _(
                "Step %(n)d: “by when” cannot be more than %(years)d years after "
                "the date of the plan."
            )
            % {"n": row + 1, "years": MAX_STEP_YEARS},
            details=details,
        )


def interviewer_organisation_ids(
    case: Case, actor: User, *, also: tuple[User | None, ...] = ()
) -> set[str]:
    """Return the ids of the organisations an interviewer of ``case`` may be from.

    They are the actor's, those of the members of the case team in a role that
    draws up the plan (:data:`PLAN_ROLES`: a prosecutor's office on the team is
    not an interviewer's organisation — the legal track does not see the plan)
    and those of ``also`` (whoever saved the draft being signed).
    """
    ids = {
        str(org_id)
        for org_id in CaseTeamMember.objects.filter(
            case=case, role__in=PLAN_ROLES
        ).values_list("user__organisation_id", flat=True)
        if org_id is not None
    }
    for user in (actor, *also):
        if user is not None and user.organisation_id is not None:
            ids.add(str(user.organisation_id))
    return ids


def check_interviewer_organisation(
    organisation: OrganisationRef | None, *, allowed: set[str]
) -> None:
    """Refuse an interviewer's organisation that is not in ``allowed``.

    Raises:
        AssessmentInvalidInput: ``details["field"] == "interviewer_organisation"``.
    """
    if organisation is not None and organisation.id not in allowed:
        raise AssessmentInvalidInput(
            _(
                "The organisation of the interviewer is yours or that of a case "
                "manager, service provider or first contact point on the case "
                "team."
            ),
            details={"field": "interviewer_organisation"},
        )


def check_content(
    content: PlanContent,
    *,
    case: Case,
    actor: User,
    also: tuple[User | None, ...] = (),
    today: date | None = None,
) -> None:
    """Refuse implausible dates and an interviewer's organisation unrelated to
    the case (see the module's description); step rows are those of
    ``content.steps``.

    Raises:
        AssessmentInvalidInput: with ``details["field"]`` (and ``"row"`` for a
            step).
    """
    today = today or timezone.localdate()
    check_plan_date(content.plan_date, today=today)
    for row, step in enumerate(content.steps):
        check_step_date(step.by_when, row=row, plan_date=content.plan_date, today=today)
    check_interviewer_organisation(
        content.interviewer_organisation,
        allowed=interviewer_organisation_ids(case, actor, also=also),
    )


# --- cleaning -----------------------------------------------------------------------


def _organisation(org_id: UUID | str, field_name: str) -> OrganisationRef:
    # A deactivated organisation stays valid: a plan may have named it before.
    try:
        org = Organisation.objects.filter(pk=org_id).first()
    except (ValueError, TypeError, ValidationError):
        org = None
    if org is None:
        raise AssessmentInvalidInput(
            _("Choose organisations of this node."), details={"field": field_name}
        )
    return OrganisationRef(id=str(org.pk), name=org.name)


@dataclass
class PlanInput:
    """A plan as typed (form or API), before :func:`clean_content` checks it.

    Organisations are given by id (organisations of this node) and, for
    others, by name. Without ``interviewer_organisation_id`` the interviewer's
    organisation is the actor's.
    """

    immediate_needs: str = ""
    risk_summary: str = ""
    steps: list[PlanStep] = field(default_factory=list)
    organisation_ids: list[UUID] = field(default_factory=list)
    other_organisations: list[str] = field(default_factory=list)
    safety_plan: str = ""
    timeframe: str = ""
    person_name: str = ""
    person_acknowledged: bool = False
    interviewer_name: str = ""
    interviewer_acknowledged: bool = False
    interviewer_organisation_id: UUID | None = None
    guardian_name: str = ""
    guardian_acknowledged: bool = False
    plan_date: date | None = None
    place: str = ""


def clean_content(data: PlanInput, *, actor: User, case: Case) -> PlanContent:
    """Return the plan content checked and cleaned (a draft may be incomplete).

    Empty step rows are dropped. The dates and the interviewer's organisation
    must be plausible (:func:`check_content`): the plan's date not in the
    future nor more than a year ago; a step's "by when" not before the plan's
    date nor more than 3 years after it; the interviewer's organisation the
    actor's or that of a member of the case team who draws up plans.

    Raises:
        AssessmentInvalidInput, trm.common.text.InvalidText: with
            ``details["field"]`` (a step's field is ``step_<n>_<what|who|by>``
            and ``details["row"]`` is ``n``, counted from 0 as typed).
    """
    rows = list(data.steps)
    if len(rows) > MAX_STEPS:
        raise AssessmentInvalidInput(
            _("At most %(n)d steps.") % {"n": MAX_STEPS}, details={"field": "steps"}
        )
    today = timezone.localdate()
    check_plan_date(data.plan_date, today=today)
    clean_steps = []
    for index, step in enumerate(rows):
        cleaned = PlanStep(
            what=clean_line(step.what, field=f"step_{index}_what", max_length=500),
            who=clean_line(step.who, field=f"step_{index}_who"),
            by_when=step.by_when,
        )
        check_step_date(
            cleaned.by_when, row=index, plan_date=data.plan_date, today=today
        )
        if not cleaned.is_empty:
            clean_steps.append(cleaned)
    ids = list(dict.fromkeys(data.organisation_ids))
    others = [
        clean_line(name, field="other_organisations")
        for name in data.other_organisations
    ]
    others = list(dict.fromkeys(name for name in others if name))
    if len(ids) > MAX_ORGANISATIONS or len(others) > MAX_ORGANISATIONS:
        raise AssessmentInvalidInput(
            _("At most %(n)d organisations.") % {"n": MAX_ORGANISATIONS},
            details={"field": "organisations"},
        )
    if data.interviewer_organisation_id is not None:
        interviewer_org: OrganisationRef | None = _organisation(
            data.interviewer_organisation_id, "interviewer_organisation"
        )
    elif actor.organisation is not None:
        interviewer_org = OrganisationRef(
            id=str(actor.organisation.pk), name=actor.organisation.name
        )
    else:
        interviewer_org = None
    check_interviewer_organisation(
        interviewer_org, allowed=interviewer_organisation_ids(case, actor)
    )
    return PlanContent(
        immediate_needs=clean_long_text(data.immediate_needs, field="immediate_needs"),
        risk_summary=clean_long_text(data.risk_summary, field="risk_summary"),
        steps=clean_steps,
        organisations=[_organisation(i, "organisations") for i in ids],
        other_organisations=others,
        safety_plan=clean_long_text(data.safety_plan, field="safety_plan"),
        timeframe=clean_line(data.timeframe, field="timeframe"),
        person_name=clean_line(data.person_name, field="person_name"),
        person_acknowledged=bool(data.person_acknowledged),
        interviewer_name=clean_line(data.interviewer_name, field="interviewer_name"),
        interviewer_acknowledged=bool(data.interviewer_acknowledged),
        interviewer_organisation=interviewer_org,
        guardian_name=clean_line(data.guardian_name, field="guardian_name"),
        guardian_acknowledged=bool(data.guardian_acknowledged),
        plan_date=data.plan_date,
        place=clean_line(data.place, field="place"),
    )


def default_language(case: Case) -> str:
    """Return the person's first language (ISO 639), or ``""``."""
    for code in case.person.languages:
        if is_language_code(str(code)):
            return str(code).strip().lower()
    return ""


def _latest(case: Case) -> SupportPlanVersion | None:
    return SupportPlanVersion.objects.filter(case=case).order_by("-number").first()


def _seal(case: Case, version: SupportPlanVersion, content: PlanContent) -> bytes:
    return crypto.seal_for(
        case.person.data_key_id, content.to_json(), context=version.content_context()
    )


# --- services -----------------------------------------------------------------------


@transaction.atomic(durable=True)
def plan_save(
    *, actor: User, case_id: UUID, content: PlanInput, language: str = ""
) -> tuple[SupportPlanVersion, bool]:
    """Save the support and safety plan as a draft; return it and whether it is new.

    With a draft, replace its content. With no plan, or when the latest version
    is signed, start a new draft version (numbered from 1); the first save of
    each version writes the event ``sop2.support_plan_drafted`` (code ``v<n>``,
    assistance only). A draft may be incomplete: rule 9 applies at signing;
    :func:`clean_content` says what is checked now. Audited as
    ``assessments.plan_drafted`` or ``assessments.plan_saved``.

    Who: case manager, service provider or first contact point on the case
    team.

    Args:
        content: the whole plan as typed; it replaces the draft's content.
        language: ISO 639 code of the language the plan is printed in; empty:
            the person's first language.

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed (closed case),
        PersonErased, AssessmentInvalidInput or InvalidText (with
        ``details["field"]``). Nothing is written on refusal.
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    require_open(case)
    require_actor(access, case, PLAN_ROLES)
    require_live_person(case)
    clean = clean_content(content, actor=actor, case=case)
    language = (language or "").strip().lower() or default_language(case)
    if language and not is_language_code(language):
        raise AssessmentInvalidInput(
            _("Choose the language the plan is printed in."),
            details={"field": "language"},
        )
    now = timezone.now()
    latest = _latest(case)
    if latest is not None and latest.is_draft:
        latest.language = language
        latest.sealed_content = _seal(case, latest, clean)
        latest.updated_at = now
        latest.updated_by = actor
        latest.save(
            update_fields=["language", "sealed_content", "updated_at", "updated_by"]
        )
        audit_case(
            actor,
            "assessments.plan_saved",
            case,
            plan_version=str(latest.pk),
            number=latest.number,
        )
        return latest, False
    version = SupportPlanVersion(
        case=case,
        number=(latest.number + 1) if latest is not None else 1,
        status=PlanStatus.DRAFT,
        language=language,
        created_at=now,
        created_by=actor,
        updated_at=now,
        updated_by=actor,
    )
    version.sealed_content = _seal(case, version, clean)
    version.save(force_insert=True)
    record_case_event(
        case=case,
        actor=actor,
        kind="sop2.support_plan_drafted",
        code=f"v{version.number}",
        visibility=Visibility.ASSISTANCE_ONLY,
    )
    audit_case(
        actor,
        "assessments.plan_drafted",
        case,
        plan_version=str(version.pk),
        number=version.number,
    )
    return version, True


@transaction.atomic(durable=True)
def plan_sign(
    *, actor: User, case_id: UUID, number: int | None = None
) -> SupportPlanVersion:
    """Sign the current draft of the support and safety plan (SOPS §6.5 rule 9).

    Refused unless the draft holds every required field
    (:data:`REQUIRED_FIELDS`, and :data:`CHILD_REQUIRED_FIELDS` for a person
    presumed a child). The version signed before becomes ``superseded``.
    Writes the event ``sop2.support_plan_signed`` (code ``v<n>``, assistance
    only; it completes the SOP step ``sop2.support_plan``) and the audit entry
    ``assessments.plan_signed``.

    Who: as :func:`plan_save`. The person and the interviewer (and, for a
    child, the guardian) sign the printed plan first; their acknowledgements
    are fields of the draft.

    Args:
        number: the version the signer saw; refused if the draft is another.

    Raises:
        CaseNotFound, CaseRoleRequired, TransitionNotAllowed (closed case),
        PersonErased, NoDraftToSign, PlanVersionChanged, PlanIncomplete
        (``details["missing"]``: the codes of the missing fields, in the
        plan's order), AssessmentInvalidInput (``details["field"]``, and
        ``details["row"]`` for a step: a date or the interviewer's
        organisation is no longer plausible, :func:`check_content`; the
        organisation of whoever last saved the draft still counts). Nothing
        changes on refusal.
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    require_open(case)
    require_actor(access, case, PLAN_ROLES)
    require_live_person(case)
    draft = SupportPlanVersion.objects.filter(
        case=case, status=PlanStatus.DRAFT
    ).first()
    if draft is None or not draft.can_transition_to(PlanStatus.SIGNED):
        raise NoDraftToSign(_("There is no draft of the plan to sign."))
    if number is not None and number != draft.number:
        raise PlanVersionChanged(
            _("The draft is now version %(n)d: read it again before signing.")
            % {"n": draft.number},
            details={"current": draft.number},
        )
    content = PlanContent.from_json(
        crypto.unseal_for(
            case.person.data_key_id,
            draft.sealed_content,
            context=draft.content_context(),
        )
    )
    missing = missing_fields(content, child=case.person.presumed_child)
    if missing:
        raise PlanIncomplete(
            _("The plan cannot be signed yet. Missing: %(fields)s.")
            % {"fields": ", ".join(field_label(code) for code in missing)},
            details={"missing": missing},
        )
    check_content(content, case=case, actor=actor, also=(draft.updated_by,))
    now = timezone.now()
    for previous in SupportPlanVersion.objects.filter(
        case=case, status=PlanStatus.SIGNED
    ):
        previous.status = PlanStatus.SUPERSEDED
        previous.superseded_at = now
        previous.save(update_fields=["status", "superseded_at"])
    draft.status = PlanStatus.SIGNED
    draft.signed_at = now
    draft.signed_by = actor
    draft.save(update_fields=["status", "signed_at", "signed_by"])
    record_case_event(
        case=case,
        actor=actor,
        kind="sop2.support_plan_signed",
        code=f"v{draft.number}",
        visibility=Visibility.ASSISTANCE_ONLY,
    )
    audit_case(
        actor,
        "assessments.plan_signed",
        case,
        plan_version=str(draft.pk),
        number=draft.number,
    )
    return draft
