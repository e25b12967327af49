"""Monitoring indicators of the SOPs (SOPS §4; the ``indicators:`` list of the
SOP definition, e.g. ``sop/definitions/baseline.yaml``), computed from clear,
non-identifying columns: case timestamps, track moves (``CaseEvent`` of kind
``case.track_moved`` with ``track`` / ``to_state``), screenings, and the
exchange's message envelopes. Nothing is decrypted.

Each :class:`Indicator` carries its value, numerator, denominator, period and
a source note; ``small`` flags a denominator below the suppression threshold
(:func:`~trm.statistics.disclosure.suppression_threshold`): show such a figure
only to roles with case access, and pass the counts through
:func:`Indicator.protected` (:func:`~trm.statistics.disclosure.protect_counts`)
for anyone else.

The cohort of every case-based indicator is the cases OPENED in the period
(years, :class:`~trm.statistics.tables.Period`); "first contact" is the
opening of the case (``Case.opened_at``). Indicators of the definition that
cannot be computed honestly yet are listed in :data:`NOT_COMPUTABLE` with the
reason.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from django.db.models import F, Min, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from trm.cases.models import Case, CaseEvent
from trm.cases.tracks import Assistance, ChildProtection, Identification
from trm.exchange.models import InboxMessage, OutboxMessage
from trm.identification.common import node_definition
from trm.statistics.disclosure import ProtectedCounts, protect_counts
from trm.statistics.disclosure import suppression_threshold as _threshold
from trm.statistics.tables import Period

TRACK_MOVED = "case.track_moved"
#: SLA of an answer to a ``case.alert`` (SOPS §6.3: "24 h urgent / 72 h normal";
#: the urgency is inside the sealed payload, so the longer one is used).
ALERT_ACK_HOURS = 72


@dataclass(frozen=True)
class Indicator:
    """One indicator's figure over a period.

    Attributes:
        id: the indicator's id in the SOP definition (``sop1.days_to_decision``).
        value: the figure (a share in [0, 1], or a median in days/hours — see
            ``unit``); ``None`` when the denominator is 0.
        numerator, denominator: the persons / cases / messages counted.
        unit: ``"share"``, ``"days"`` (median) or ``"hours"`` (median).
        small: the denominator is below the suppression threshold.
        note: where the figure comes from and what it approximates.
    """

    id: str
    sop: int | None
    title: str
    value: float | None
    numerator: int
    denominator: int
    unit: str
    period: Period
    note: str
    small: bool

    def protected(self) -> ProtectedCounts:
        """Numerator and the rest of the denominator after disclosure control."""
        return protect_counts(
            {"yes": self.numerator, "no": self.denominator - self.numerator}
        )


def _opened(period: Period) -> QuerySet[Case]:
    return Case.objects.filter(_in_period("opened_at", period))


def _in_period(field: str, period: Period) -> Q:
    """``field`` (a datetime) within the period's years, counted in UTC like
    the count tables (:mod:`trm.statistics.tables`), so "2024" means the same
    cases in every chart whatever the node's time zone."""
    q = Q()
    if period.first_year is not None:
        q &= Q(**{f"{field}__gte": datetime(period.first_year, 1, 1, tzinfo=UTC)})
    if period.last_year is not None:
        q &= Q(**{f"{field}__lt": datetime(period.last_year + 1, 1, 1, tzinfo=UTC)})
    return q


def _first_move(
    cases: QuerySet[Case], track: str, states: Iterable[str]
) -> dict[UUID, tuple[datetime, datetime]]:
    """case id → (opened_at, time of the first move of ``track`` into ``states``)."""
    rows = (
        CaseEvent.objects.filter(
            case__in=cases, kind=TRACK_MOVED, track=track, to_state__in=list(states)
        )
        .values("case_id", "case__opened_at")
        .annotate(first=Min("at"))
    )
    return {r["case_id"]: (r["case__opened_at"], r["first"]) for r in rows}


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _make(
    id: str,
    sop: int | None,
    title: str,
    *,
    value: float | None,
    numerator: int,
    denominator: int,
    unit: str,
    period: Period,
    note: str,
) -> Indicator:
    return Indicator(
        id=id,
        sop=sop,
        title=title,
        value=value,
        numerator=numerator,
        denominator=denominator,
        unit=unit,
        period=period,
        note=note,
        small=denominator < _threshold(),
    )


def _share(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def days_to_decision(period: Period) -> Indicator:
    """sop1.days_to_decision: median days from opening to the formal decision."""
    cases = _opened(period)
    decided = _first_move(
        cases,
        "identification",
        [Identification.IDENTIFIED, Identification.NOT_IDENTIFIED],
    )
    days = [(at - opened) / timedelta(days=1) for opened, at in decided.values()]
    return _make(
        "sop1.days_to_decision",
        1,
        str(_("Median days from first contact to the formal identification decision")),
        value=_median(days),
        numerator=len(decided),
        denominator=cases.count(),
        unit="days",
        period=period,
        note=str(
            _(
                "Cases opened in the period; median over those with a decision "
                "(identification track moved to identified or not identified); "
                "first contact = opening of the case."
            )
        ),
    )


def screened_share(period: Period) -> Indicator:
    """sop1.screened_share: cases screened with the standard instrument."""
    cases = _opened(period)
    screened = cases.filter(screenings__isnull=False).distinct().count()
    total = cases.count()
    return _make(
        "sop1.screened_share",
        1,
        str(_("Share screened with the standard instrument")),
        value=_share(screened, total),
        numerator=screened,
        denominator=total,
        unit="share",
        period=period,
        note=str(_("Cases opened in the period with at least one screening.")),
    )


def guardian_share(period: Period) -> Indicator:
    """sop1.guardian_share: children with a guardian appointed within the
    variant's deadline (``guardian.appoint_within_days``) of the opening."""
    days = int(str(node_definition().setting("guardian.appoint_within_days")))
    children = _opened(period).filter(person__presumed_child=True)
    appointed = _first_move(
        children, "child_protection", [ChildProtection.GUARDIAN_APPOINTED]
    )
    limit = timedelta(days=days)
    on_time = sum(1 for opened, at in appointed.values() if at - opened <= limit)
    total = children.count()
    return _make(
        "sop1.guardian_share",
        1,
        str(_("Share of children with a guardian appointed within the time limit")),
        value=_share(on_time, total),
        numerator=on_time,
        denominator=total,
        unit="share",
        period=period,
        note=str(
            _(
                "Presumed children among the cases opened in the period; "
                "guardian appointed within %(days)s days of the opening."
            )
            % {"days": days}
        ),
    )


def case_duration(period: Period) -> Indicator:
    """sop3.case_duration: median days from opening to closure."""
    cases = _opened(period)
    closed = list(
        cases.filter(closed_at__isnull=False).values_list("opened_at", "closed_at")
    )
    days = [(c - o) / timedelta(days=1) for o, c in closed if c is not None]
    return _make(
        "sop3.case_duration",
        3,
        str(_("Case duration")),
        value=_median(days),
        numerator=len(closed),
        denominator=cases.count(),
        unit="days",
        period=period,
        note=str(_("Median over the cases opened in the period and closed since.")),
    )


def alerts_acknowledged(period: Period) -> Indicator:
    """transnational.response_time (part): ``case.alert`` sent by this node and
    acknowledged (``case.alert.ack`` received in the same conversation) within
    :data:`ALERT_ACK_HOURS`; the value is the share, the note gives the median."""
    sent = list(
        OutboxMessage.objects.filter(
            _in_period("created_at", period), type="case.alert"
        ).values_list("conversation", "created_at")
    )
    conversations = [c for c, _at in sent if c]
    acks: dict[str, datetime] = {
        r["conversation"]: r["first"]
        for r in InboxMessage.objects.filter(
            type="case.alert.ack", conversation__in=conversations
        )
        .values("conversation")
        .annotate(first=Min("received_at"))
    }
    hours = [(acks[c] - at) / timedelta(hours=1) for c, at in sent if c and c in acks]
    on_time = sum(1 for h in hours if h <= ALERT_ACK_HOURS)
    median = _median(hours)
    return _make(
        "transnational.response_time",
        None,
        str(_("Alerts acknowledged within the time limit")),
        value=_share(on_time, len(sent)),
        numerator=on_time,
        denominator=len(sent),
        unit="share",
        period=period,
        note=str(
            _(
                "case.alert sent in the period, acknowledged by case.alert.ack "
                "within %(hours)s h; median hours to acknowledge: %(median)s."
            )
            % {
                "hours": ALERT_ACK_HOURS,
                "median": "—" if median is None else f"{median:.1f}",
            }
        ),
    )


def _departures(cases: QuerySet[Case]) -> dict[UUID, datetime]:
    """case id → time of the first move of the assistance track to in transit
    (the person left with the return: :func:`trm.handover` ``return_in_transit``)."""
    return {
        case_id: at
        for case_id, (_opened_at, at) in _first_move(
            cases, "assistance", [Assistance.IN_TRANSIT]
        ).items()
    }


def joint_risk_assessment_share(period: Period) -> Indicator:
    """sop4.joint_risk_assessment_share: returns with a documented joint risk
    assessment (SOPS §2 SOP 4 step 2): departed cases (assistance track moved
    to in transit) with a :class:`~trm.returns.models.JointRiskAssessment`
    rated by both sides (``origin_rated_on`` set) on or before the day of
    departure."""
    from trm.returns.models import JointRiskAssessment

    departed = _departures(_opened(period))
    joint = JointRiskAssessment.objects.filter(
        case_id__in=list(departed), origin_rated_on__isnull=False
    ).values_list("case_id", "assessed_on", "origin_rated_on")
    documented = {
        case_id
        for case_id, assessed_on, origin_on in joint
        if origin_on is not None
        and max(assessed_on, origin_on) <= departed[case_id].date()
    }
    return _make(
        "sop4.joint_risk_assessment_share",
        4,
        str(_("Returns with a documented joint risk assessment")),
        value=_share(len(documented), len(departed)),
        numerator=len(documented),
        denominator=len(departed),
        unit="share",
        period=period,
        note=str(
            _(
                "Cases opened in the period whose person left on a return "
                "(assistance track moved to in transit); documented = a joint "
                "risk assessment rated by both countries on or before the day "
                "of departure."
            )
        ),
    )


def followed_up_share(period: Period) -> Indicator:
    """sop4.followed_up_share: returned persons followed up on time (SOPS §6.3
    "1/3/6/12 months"; the node's ``follow_up.months_after_return``): among
    the cases opened in the period with at least one
    :class:`~trm.reintegration.models.FollowUp` due by today, those whose
    every due follow-up was reported on or before its due date. Counted in
    persons (cases), not follow-ups: the suppression threshold protects
    counts of persons."""
    from trm.reintegration.models import FollowUp

    due = FollowUp.objects.filter(
        case__in=_opened(period), due_on__lte=timezone.localdate()
    )
    persons = set(due.values_list("case_id", flat=True))
    late = set(
        due.exclude(
            reported_on__isnull=False, reported_on__lte=F("due_on")
        ).values_list("case_id", flat=True)
    )
    on_time = len(persons - late)
    return _make(
        "sop4.followed_up_share",
        4,
        str(_("Returned persons followed up on time")),
        value=_share(on_time, len(persons)),
        numerator=on_time,
        denominator=len(persons),
        unit="share",
        period=period,
        note=str(
            _(
                "Cases opened in the period with a follow-up after return due "
                "by today (months after the reintegration plan starts, from the "
                "national SOP variant); on time = every due follow-up reported "
                "on or before its due date."
            )
        ),
    )


#: Indicator id → how it is computed.
COMPUTABLE: dict[str, Callable[[Period], Indicator]] = {
    "sop1.days_to_decision": days_to_decision,
    "sop1.screened_share": screened_share,
    "sop1.guardian_share": guardian_share,
    "sop3.case_duration": case_duration,
    "transnational.response_time": alerts_acknowledged,
    "sop4.joint_risk_assessment_share": joint_risk_assessment_share,
    "sop4.followed_up_share": followed_up_share,
}

#: Indicators of the definition not computed yet, with the reason.
NOT_COMPUTABLE: dict[str, str] = {
    "sop1.presumed_by_referrer": "the type of first contact point is not "
    "recorded in clear",
    "sop1.reflection_informed_share": "needs the rights-information items "
    "(trm.identification.RightsInformation), not yet mapped",
    "transnational.messages_by_type": "simple counts: left to the dashboard",
}


def compute(period: Period | None = None) -> list[Indicator]:
    """Every computable indicator over ``period`` (default: all years)."""
    period = period or Period()
    return [fn(period) for fn in COMPUTABLE.values()]
