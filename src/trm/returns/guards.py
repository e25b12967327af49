"""The guard of the journey: what still stops "in transit" (SOPS §6.5 rules 4, 5).

:func:`return_blockers` is pure: it reads the case's own fields (assistance,
child protection, whether the person is or may be a child — never the legal
track, SOPS §6.5 rule 1) and the records it is given, and returns EVERY unmet
condition, so a refusal names all of them at once and the case page lists
what is still missing. :func:`gather` reads those records from the database.

Conditions (SOPS §6.2 region B ``RETURN_PREPARATION -> IN_TRANSIT``; §6.3):

* every return: assistance is in return preparation; a valid consent to return
  (CETS Art. 16(2): preferably voluntary; rule 5); no removal block — the
  identification decision pending or the reflection period running (CETS Art.
  10(2), 13(1); rule 2, :func:`trm.identification.reflection.removal_block`);
  a joint pre-return risk assessment rated by both sides, valid today, not
  critical and not high without written mitigations (TACT; rule 5); the
  receiving organisation accepted (M7); the travel document issued and valid
  (CETS Art. 16(3)-(4)); the person not found unfit to travel;
* a child (rule 4; CETS Art. 16(7); UNICEF ch. 10) additionally: a guardian
  appointed; a best-interests determination whose outcome is a return; a carer
  confirmed; a family assessment report from the country of origin (EXCHANGE
  §3 "always before a child's return"); an escort assigned; a positive risk
  and security assessment — the newest child-and-family risk assessment of
  :mod:`trm.assessments`, still within its review date and rated low or medium.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from django.utils.translation import gettext as _

from trm.assessments.models import RiskAssessment, RiskLevel, RiskType
from trm.cases.models import Case
from trm.cases.tracks import Assistance, ChildProtection
from trm.returns.models import (
    BestInterestsDetermination,
    FamilyDirection,
    FamilyExchange,
    FamilyKind,
    FamilyStatus,
    JointRiskAssessment,
    MedicalFitness,
    ReceiverDecision,
    ReturnPlan,
)

#: Levels of the child's risk and security assessment that allow a return.
POSITIVE_CHILD_LEVELS = frozenset({RiskLevel.LOW, RiskLevel.MEDIUM})


@dataclass(frozen=True)
class Blocker:
    """One unmet condition of the journey.

    Attributes:
        code: stable, e.g. ``joint_risk_expired`` (API clients match on it).
        message: translated sentence saying what is missing and its source.
        part: which part of the return record fixes it (``assistance``,
            ``consent``, ``identification``, ``best_interests``, ``joint_risk``,
            ``logistics``, ``receiver``, ``child_security``, ``family``).
    """

    code: str
    message: str
    part: str


@dataclass(frozen=True)
class ReturnFacts:
    """What the guard reads besides the case (see :func:`gather`).

    Attributes:
        consent_problem: the refusal message of the consent check, or ``""``
            when a valid consent to return exists.
        removal_reasons: the removal block's reasons (empty: none).
    """

    consent_problem: str = ""
    removal_reasons: Sequence[str] = ()
    bid: BestInterestsDetermination | None = None
    joint: JointRiskAssessment | None = None
    plan: ReturnPlan | None = None
    child_security: RiskAssessment | None = None
    #: A family assessment report received from (or recorded about) the
    #: country of origin (``family.assessment.report``).
    family_report: FamilyExchange | None = None


def _joint_blockers(joint: JointRiskAssessment | None, today: date) -> list[Blocker]:
    part = "joint_risk"
    if joint is None:
        return [
            Blocker(
                "joint_risk_missing",
                _(
                    "Record the joint pre-return risk and needs assessment with the "
                    "partner in the country of origin (SOP 4 step 2)."
                ),
                part,
            )
        ]
    found = []
    if not joint.is_valid_on(today):
        found.append(
            Blocker(
                "joint_risk_expired",
                _("The joint risk assessment is no longer valid: assess again."),
                part,
            )
        )
    if joint.origin_missing():
        found.append(
            Blocker(
                "joint_risk_origin_missing",
                _(
                    "The country of origin has not rated every item of the joint "
                    "risk assessment yet."
                ),
                part,
            )
        )
    level = joint.effective_level()
    if level == RiskLevel.CRITICAL:
        found.append(
            Blocker(
                "joint_risk_critical",
                _("The joint risk assessment finds danger now: no return."),
                part,
            )
        )
    elif level == RiskLevel.HIGH and not joint.has_mitigations:
        found.append(
            Blocker(
                "joint_risk_high_unmitigated",
                _(
                    "The joint risk assessment rates a risk high and names no "
                    "mitigation: write down the measures that make return safe."
                ),
                part,
            )
        )
    return found


def _plan_blockers(plan: ReturnPlan | None, today: date) -> list[Blocker]:
    found = []
    decision = plan.receiver_decision if plan else ReceiverDecision.PENDING
    if decision != ReceiverDecision.ACCEPTED:
        found.append(
            Blocker(
                "receiver_declined"
                if decision == ReceiverDecision.DECLINED
                else "receiver_not_accepted",
                _("The receiving organisation declined: find another one.")
                if decision == ReceiverDecision.DECLINED
                else _(
                    "The receiving organisation in the country of origin has not "
                    "accepted yet."
                ),
                "receiver",
            )
        )
    if plan is None or not plan.documents_ready(today):
        issued = plan is not None and plan.travel_document_issued_on is not None
        found.append(
            Blocker(
                "travel_document_expired" if issued else "travel_document_missing",
                _("The travel document is no longer valid on the day of travel.")
                if issued
                else _("The travel document has not been issued yet."),
                "logistics",
            )
        )
    if plan is not None and plan.medical_fitness == MedicalFitness.NOT_FIT:
        found.append(
            Blocker(
                "not_fit_to_travel",
                _("The person was found not fit to travel."),
                "logistics",
            )
        )
    return found


def _child_blockers(case: Case, facts: ReturnFacts, today: date) -> list[Blocker]:
    found = []
    if case.child_protection != ChildProtection.GUARDIAN_APPOINTED:
        found.append(
            Blocker(
                "guardian_not_appointed",
                _("The person is or may be a child: a guardian must be appointed."),
                "best_interests",
            )
        )
    if facts.bid is None:
        found.append(
            Blocker(
                "bid_missing",
                _("Record the best-interests determination for the child."),
                "best_interests",
            )
        )
    elif not facts.bid.is_return:
        found.append(
            Blocker(
                "bid_not_return",
                _(
                    "The best-interests determination did not decide a return "
                    "(%(outcome)s)."
                )
                % {"outcome": facts.bid.get_outcome_display()},
                "best_interests",
            )
        )
    if facts.family_report is None:
        found.append(
            Blocker(
                "family_assessment_missing",
                _(
                    "No family assessment report from the country of origin: it "
                    "is always needed before a child's return (SOPS §6.4 M3)."
                ),
                "family",
            )
        )
    plan = facts.plan
    if plan is None or not plan.carer_confirmed:
        found.append(
            Blocker(
                "carer_not_confirmed",
                _(
                    "No carer in the country of origin has confirmed they agree "
                    "and are able to care for the child."
                ),
                "receiver",
            )
        )
    if plan is None or not plan.escort_function:
        found.append(
            Blocker(
                "escort_not_assigned",
                _("A child always travels with an escort: assign one."),
                "logistics",
            )
        )
    security = facts.child_security
    if security is None:
        found.append(
            Blocker(
                "child_security_missing",
                _(
                    "Record a child-and-family risk assessment: a child is not "
                    "returned unless the risk and security assessment shows it is "
                    "in their best interests (CETS Art. 16(7))."
                ),
                "child_security",
            )
        )
    elif security.level not in POSITIVE_CHILD_LEVELS:
        found.append(
            Blocker(
                "child_security_not_positive",
                _(
                    "The child's risk and security assessment rates the risk "
                    "%(level)s: no return (CETS Art. 16(7))."
                )
                % {"level": security.get_level_display()},
                "child_security",
            )
        )
    elif security.next_review_due < today:
        found.append(
            Blocker(
                "child_security_expired",
                _("The child's risk and security assessment is due for review."),
                "child_security",
            )
        )
    return found


def return_blockers(case: Case, facts: ReturnFacts, *, today: date) -> list[Blocker]:
    """Return every unmet condition of the move to "in transit" (empty: go).

    Pure: reads ``case.assistance``, ``case.child_protection`` and
    ``case.person.presumed_child`` and the records in ``facts`` — never
    ``case.legal`` (SOPS §6.5 rule 1). Order: the state, the decision, the
    removal block, the joint assessment, the receiver and documents, then the
    child's conditions.
    """
    found: list[Blocker] = []
    if case.assistance != Assistance.RETURN_PREPARATION:
        found.append(
            Blocker(
                "not_in_return_preparation",
                _("The journey starts from return preparation."),
                "assistance",
            )
        )
    if facts.consent_problem:
        found.append(Blocker("return_consent", facts.consent_problem, "consent"))
    found.extend(
        Blocker("removal_blocked", reason, "identification")
        for reason in facts.removal_reasons
    )
    found.extend(_joint_blockers(facts.joint, today))
    found.extend(_plan_blockers(facts.plan, today))
    if case.person.presumed_child:
        found.extend(_child_blockers(case, facts, today))
    return found


def gather(case: Case) -> ReturnFacts:
    """Read what :func:`return_blockers` needs for ``case`` (no sealed text)."""
    from trm.consent.errors import ConsentMissing
    from trm.consent.models import Purpose
    from trm.consent.services import valid_consent
    from trm.identification.reflection import removal_block

    try:
        valid_consent(person=case.person, purpose=Purpose.RETURN)
        consent_problem = ""
    except ConsentMissing as exc:
        consent_problem = exc.message
    block = removal_block(case)
    return ReturnFacts(
        consent_problem=consent_problem,
        removal_reasons=block.reasons if block else (),
        bid=BestInterestsDetermination.objects.filter(case=case).first(),
        joint=JointRiskAssessment.objects.filter(case=case).first(),
        plan=ReturnPlan.objects.filter(case=case).first(),
        child_security=RiskAssessment.objects.filter(
            case=case, type=RiskType.CHILD_FAMILY
        ).first(),
        family_report=FamilyExchange.objects.filter(
            case=case,
            kind=FamilyKind.ASSESSMENT,
            direction=FamilyDirection.OUT,
            status=FamilyStatus.REPORTED,
        ).first(),
    )
