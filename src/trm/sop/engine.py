"""The deadline engine: where a case stands in the five SOPs, computed from events.

Nothing here is stored by hand. From a case's timeline (event kind, time,
track move, outcome code — never the sealed details), the person's
non-identifying attributes and the node's SOP variant
(:func:`trm.sop.loader.get_definition`), :func:`case_sop_status` derives every
step's state and due date:

* **done** — an event of ``done_when`` happened (for a step that ``repeats``,
  at or after it last started; for any other step, at any time — work done
  before the step fell due counts);
* **not applicable** — an ``applies_when`` condition does not hold;
* **not started** — the trigger has not happened yet;
* **blocked** — started, but a guard fails (the explanation says why);
* **due** / **overdue** — started, not done, before / after its due date.

A step starts at the latest occurrence of its trigger (the first, for steps
marked ``once`` such as the reflection and recovery period), so a step that
``repeats`` (risk review after every contact, SOPS §6.5 rule 8) is due again
after every new trigger. Dates are the node's local dates (``TIME_ZONE``).

Source: ARCHITECTURE §5, SOPS §2 and §6.2–6.3.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from uuid import UUID

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from trm.accounts.node_users import is_local_user
from trm.cases.models import Case, CaseEvent
from trm.cases.tracks import Identification, Legal, Reflection
from trm.sop.types import Definition, Step
from trm.sop.vocabulary import (
    BLOCK_EXPLANATIONS,
    CONDITIONS,
    NOT_APPLICABLE_EXPLANATIONS,
    PLANNED_EVENTS,
    REFLECTION_STARTS,
)


class StepState(models.TextChoices):
    """The state of one SOP step on one case."""

    DONE = "done", _("Done")
    NOT_RECORDED = "not_recorded", _("Not recorded in TRM yet")
    DUE = "due", _("Due")
    OVERDUE = "overdue", _("Overdue")
    NOT_STARTED = "not_started", _("Not started")
    NOT_APPLICABLE = "not_applicable", _("Not applicable")
    BLOCKED = "blocked", _("Blocked")


class SopSummary(models.TextChoices):
    """One SOP's state on one case, in a word (:attr:`SopStatus.summary`)."""

    OVERDUE = StepState.OVERDUE.value, StepState.OVERDUE.label
    BLOCKED = StepState.BLOCKED.value, StepState.BLOCKED.label
    DUE = StepState.DUE.value, StepState.DUE.label
    DONE = StepState.DONE.value, StepState.DONE.label
    #: Some steps done, none due: the others wait for their trigger (e.g.
    #: "tell the person the outcome" before the proceedings end).
    IN_PROGRESS = "in_progress", _("In progress")
    NOT_STARTED = StepState.NOT_STARTED.value, StepState.NOT_STARTED.label


#: States a person still has to act on (the "My tasks" list).
OPEN_STATES = frozenset({StepState.DUE, StepState.OVERDUE})


@dataclass(frozen=True)
class EventFact:
    """What the engine reads of one case event (nothing personal)."""

    kind: str
    at: datetime
    track: str = ""
    to_state: str = ""
    code: str = ""
    #: Who on the case sees the event (:class:`~trm.cases.models.Visibility`).
    visibility: str = ""


@dataclass(frozen=True)
class StepStatus:
    """One step's derived state on one case.

    Attributes:
        step: the step definition.
        state: a :class:`StepState` value.
        started_at: when its trigger happened (``None`` if not yet).
        due_on: local date it is due (``None``: no deadline or not started).
        done_at: when it was completed.
        remind_on: local date from which a reminder is due (``None``: none).
        explanation: why it is blocked or not applicable (translated text).
    """

    step: Step
    state: str
    started_at: datetime | None = None
    due_on: date | None = None
    done_at: datetime | None = None
    remind_on: date | None = None
    explanation: str = ""

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


@dataclass(frozen=True)
class SopStatus:
    """One SOP's steps on one case, with a one-word summary."""

    number: int
    key: str
    title: str
    steps: tuple[StepStatus, ...]

    @property
    def summary(self) -> str:
        """A :class:`SopSummary` value: ``overdue`` > ``blocked`` > ``due`` >
        ``done`` (every applicable step done) > ``in_progress`` (some steps
        done, the others not started yet) > ``not_started`` (none done)."""
        states = {s.state for s in self.steps}
        for state in (StepState.OVERDUE, StepState.BLOCKED, StepState.DUE):
            if state in states:
                return str(state)
        applicable = states - {StepState.NOT_APPLICABLE, StepState.NOT_RECORDED}
        if applicable and applicable <= {StepState.DONE}:
            return str(StepState.DONE)
        if StepState.DONE in applicable:
            return str(SopSummary.IN_PROGRESS)
        return str(StepState.NOT_STARTED)


def local_date(moment: datetime) -> date:
    """Return the node's local calendar date of an aware datetime."""
    return timezone.localtime(moment).date()


def events_for_cases(
    case_ids: Iterable[UUID], *, visibility: Collection[str] | None = None
) -> dict[UUID, list[EventFact]]:
    """Load the engine's view of the timelines of several cases in one query.

    Returns case id → events oldest first. Only non-personal columns are read.

    Args:
        visibility: keep only events with one of these visibility levels
            (:meth:`trm.cases.access.CaseAccess.visible_levels`), so a panel
            shows a user only what their timeline shows; every event if None.
    """
    ids = list(case_ids)
    result: dict[UUID, list[EventFact]] = defaultdict(list)
    if not ids:
        return result
    events = CaseEvent.objects.filter(case_id__in=ids)
    if visibility is not None:
        events = events.filter(visibility__in=list(visibility))
    rows = events.order_by("at").values_list(
        "case_id", "kind", "at", "track", "to_state", "code", "visibility"
    )
    for case_id, kind, at, track, to_state, code, seen_by in rows.iterator(
        chunk_size=2000
    ):
        result[case_id].append(EventFact(kind, at, track, to_state, code, seen_by))
    return result


def _resolve(reference: str, definition: Definition) -> str:
    if reference == "@reflection_start":
        start = str(definition.setting("reflection_period.starts_at"))
        return REFLECTION_STARTS[start]
    return reference


@lru_cache(maxsize=1024)
def _pattern(reference: str) -> tuple[str, str, str, str]:
    """Return ``(kind, track, to_state, code)`` an event must have ("" = any)."""
    if reference.startswith("track:"):
        track, _sep, state = reference[len("track:") :].partition("->")
        return ("case.track_moved", track, state, "")
    kind, _sep, code = reference.partition("=")
    return (kind, "", "", code)


def matches(reference: str, event: EventFact, definition: Definition) -> bool:
    """Return True if ``event`` is what the event ``reference`` names.

    References: ``kind``, ``kind=code``, ``track:<track>-><state>`` and
    ``@reflection_start`` (see :mod:`trm.sop.vocabulary`).
    """
    kind, track, state, code = _pattern(_resolve(reference, definition))
    return (
        event.kind == kind
        and (not track or event.track == track)
        and (not state or event.to_state == state)
        and (not code or event.code == code)
    )


def conditions(
    case: Case, events: Sequence[EventFact], definition: Definition
) -> dict[str, bool]:
    """Return the value of every condition of :data:`~trm.sop.vocabulary.CONDITIONS`.

    Computed from the case and person rows and the events; nothing decrypted.
    ``reflection_running`` is computed by :func:`reflection_window`.
    """
    person = case.person
    country = str(settings.TRM_COUNTRY).upper()
    citizenships = {str(c).upper() for c in (person.citizenships or [])}
    window = reflection_window(case, events, definition)
    today = timezone.localdate()
    values = {
        "presumed_child": bool(person.presumed_child),
        # The case does not yet record who accompanies a child; until it does,
        # every presumed child is treated as unaccompanied (the safer reading).
        "unaccompanied_child": bool(person.presumed_child),
        "foreign_national": bool(citizenships) and country not in citizenships,
        "asylum_applicant": is_asylum_applicant(case),
        "identification_pending": case.identification == Identification.PRESUMED,
        "identified": case.identification == Identification.IDENTIFIED,
        "reflection_running": window is not None
        and window.ended_at is None
        and today <= window.ends_on,
        "case_open": not case.is_closed,
        "identified_abroad": opened_from_abroad(case),
        "in_proceedings": case.legal in IN_PROCEEDINGS,
    }
    missing = set(CONDITIONS) - set(values)
    if missing:  # pragma: no cover - a vocabulary entry without a computation
        raise KeyError(f"conditions without a computation: {sorted(missing)}")
    return values


#: Legal-track states in which proceedings involving the person are under way.
IN_PROCEEDINGS = frozenset(
    {
        Legal.INFORMED_OF_RIGHTS,
        Legal.DECIDING,
        Legal.COOPERATING,
        Legal.STATEMENT_GIVEN,
        Legal.WITNESS,
    }
)


def opened_from_abroad(case: Case) -> bool:
    """Return True if the case was opened here from a counterpart node's message.

    Such a case (:func:`trm.cases.services.case_open_linked`: a case alert, an
    identity verification request, a referral from abroad) is opened by the
    user standing for the peer node: the person was met and identified in the
    other country, whose SOP 1 steps this node does not repeat.
    """
    opener = case.opened_by
    return opener is not None and not is_local_user(opener)


def is_asylum_applicant(case: Case) -> bool:
    """Return True if the person applied for international protection.

    Recorded on the person, or shown by the reflection and residence track being
    in the international protection procedure (SOPS §6.5 rule 6).
    """
    return bool(case.person.asylum_applicant) or (
        case.reflection == Reflection.INTERNATIONAL_PROTECTION
    )


def _holds(name: str, values: Mapping[str, bool]) -> bool:
    if name.startswith("not "):
        return not values[name[4:]]
    return values[name]


@dataclass(frozen=True)
class ReflectionWindow:
    """The reflection and recovery period of a case (CETS 197 Art. 13).

    Attributes:
        started_at: the event the variant names as its start.
        ends_on: last local date of the period (start date + ``days``).
        days: its length under the variant.
        ended_at: when an end was recorded (``None`` while it runs).
        end_reason: the recorded end reason code.
    """

    started_at: datetime
    ends_on: date
    days: int
    ended_at: datetime | None
    end_reason: str


def reflection_window(
    case: Case, events: Sequence[EventFact], definition: Definition
) -> ReflectionWindow | None:
    """Return the case's reflection and recovery period under ``definition``.

    It starts at the first ``sop1.reflection_started`` event — written by the
    identification services at the event the variant names
    (``settings.reflection_period.starts_at``) — and lasts
    ``settings.reflection_period.days``; ``None`` if it has not started.
    """
    start = next((e for e in events if e.kind == "sop1.reflection_started"), None)
    if start is None:
        return None
    days = int(str(definition.setting("reflection_period.days")))
    ended = next(
        (e for e in events if e.kind == "sop1.reflection_ended" and e.at >= start.at),
        None,
    )
    return ReflectionWindow(
        started_at=start.at,
        ends_on=local_date(start.at) + timedelta(days=days),
        days=days,
        ended_at=ended.at if ended else None,
        end_reason=ended.code if ended else "",
    )


def _deadline_days(step: Step, definition: Definition) -> int | None:
    deadline = step.deadline
    if deadline is None:
        return None
    if deadline.setting:
        value = definition.setting(deadline.setting)
        return None if value is None else int(str(value))
    return deadline.days if deadline.days is not None else 0


class EventIndex(Sequence[EventFact]):
    """A case's events (oldest first) with an index by kind, for the engine."""

    def __init__(self, events: Sequence[EventFact]) -> None:
        self._events = list(events)
        self._by_kind: dict[str, list[EventFact]] = defaultdict(list)
        for event in self._events:
            self._by_kind[event.kind].append(event)

    def __len__(self) -> int:
        return len(self._events)

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        return self._events[i]

    def candidates(
        self, references: Sequence[str], definition: Definition
    ) -> list[EventFact]:
        """Events whose kind one of ``references`` names, oldest first."""
        kinds = {_pattern(_resolve(r, definition))[0] for r in references}
        if len(kinds) == 1:
            return self._by_kind.get(next(iter(kinds)), [])
        found = [e for k in kinds for e in self._by_kind.get(k, [])]
        return sorted(found, key=lambda e: e.at)


def step_status(
    step: Step,
    *,
    case: Case,
    events: Sequence[EventFact],
    definition: Definition,
    values: Mapping[str, bool],
    today: date,
) -> StepStatus:
    """Derive one step's state (see the module docstring for the rules).

    ``events`` may be a :class:`EventIndex` (faster for many steps).
    """
    index = events if isinstance(events, EventIndex) else EventIndex(events)

    def occurring(references: Sequence[str]) -> list[EventFact]:
        return [
            e
            for e in index.candidates(references, definition)
            if any(matches(r, e, definition) for r in references)
        ]

    if step.trigger:
        occurrences = occurring(step.trigger)
        if not occurrences:
            started = None
        else:
            started = (occurrences[0] if step.once else occurrences[-1]).at
    else:
        started = case.opened_at
    done_at = None
    if step.repeats:
        # Due again after every new trigger: only what was done since counts.
        if started is not None:
            done_at = next(
                (e.at for e in occurring(step.done_when) if e.at >= started), None
            )
    else:
        # Done once is done, even before the step was due: help and its
        # records never wait for identification (SOPS §2 SOP 1; Directive
        # 2011/36/EU Art. 11(2)).
        done = occurring(step.done_when)
        done_at = done[0].at if done else None
    if done_at is not None:
        return StepStatus(step, StepState.DONE, started, None, done_at)
    for name in step.applies_when:
        if not _holds(name, values):
            reason = NOT_APPLICABLE_EXPLANATIONS.get(name)
            return StepStatus(
                step,
                StepState.NOT_APPLICABLE,
                explanation=str(
                    reason
                    if reason is not None
                    else _("Applies only when %(c)s.") % {"c": _condition_text(name)}
                ),
            )
    if step.done_when and all(
        _pattern(_resolve(r, definition))[0] in PLANNED_EVENTS for r in step.done_when
    ):
        return StepStatus(
            step,
            StepState.NOT_RECORDED,
            started,
            explanation=str(
                _(
                    "TRM cannot record this step yet: keep it in your own records "
                    "until it can."
                )
            ),
        )
    if started is None:
        return StepStatus(step, StepState.NOT_STARTED)
    for name in step.guards:
        if not _holds(name, values):
            explanation = BLOCK_EXPLANATIONS.get(name)
            text = (
                str(explanation)
                if explanation is not None
                else str(_("Blocked: needs %(c)s.") % {"c": _condition_text(name)})
            )
            return StepStatus(step, StepState.BLOCKED, started, explanation=text)
    days = _deadline_days(step, definition)
    if days is None:
        return StepStatus(step, StepState.DUE, started)
    base = started
    if step.deadline is not None and step.deadline.base:
        bases = [e.at for e in occurring((step.deadline.base,))]
        base = bases[-1] if bases else started
    due_on = local_date(base) + timedelta(days=days)
    remind_on = (
        due_on - timedelta(days=step.remind_days_before)
        if step.remind_days_before is not None
        else None
    )
    state = StepState.OVERDUE if today > due_on else StepState.DUE
    return StepStatus(step, state, started, due_on, None, remind_on)


def _condition_text(name: str) -> str:
    if name.startswith("not "):
        return str(_("not: %(c)s") % {"c": CONDITIONS[name[4:]]})
    return str(CONDITIONS[name])


def case_sop_status(
    case: Case,
    *,
    definition: Definition | None = None,
    events: Sequence[EventFact] | None = None,
    today: date | None = None,
) -> tuple[SopStatus, ...]:
    """Return where ``case`` stands in all five SOPs under ``definition``.

    Args:
        case: with ``person`` loaded (``select_related``) to avoid a query.
        definition: the SOP variant; the node's (``TRM_SOP_VARIANT``) if omitted.
        events: the case's events oldest first (:func:`events_for_cases`);
            loaded if omitted.
        today: the local date to judge due / overdue by (default: today).
    """
    if definition is None:
        from trm.sop.loader import get_definition

        definition = get_definition()
    if events is None:
        events = events_for_cases([case.pk]).get(case.pk, [])
    today = today or timezone.localdate()
    events = events if isinstance(events, EventIndex) else EventIndex(events)
    values = conditions(case, events, definition)
    return tuple(
        SopStatus(
            number=sop.number,
            key=sop.key,
            title=sop.title,
            steps=tuple(
                step_status(
                    step,
                    case=case,
                    events=events,
                    definition=definition,
                    values=values,
                    today=today,
                )
                for step in sop.steps
            ),
        )
        for sop in definition.sops
    )


def open_steps(statuses: Iterable[SopStatus]) -> list[StepStatus]:
    """Return the due and overdue steps of a case, earliest due first."""
    found = [s for sop in statuses for s in sop.steps if s.is_open]
    return sorted(found, key=lambda s: (s.due_on or date.max, s.step.id))
