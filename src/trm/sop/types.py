"""The loaded shape of an SOP definition (baseline merged with a national variant).

:mod:`trm.sop.loader` builds these from YAML; :mod:`trm.sop.engine` reads
them. They are frozen: a definition is loaded once per process and shared.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Deadline:
    """When a step is due.

    Attributes:
        days: days after the base event; ``None`` means "same day".
        setting: instead of ``days``, a dotted path into the variant's settings
            holding the number of days (e.g. ``reflection_period.days``).
        base: an event reference the days count from; empty means the step's
            trigger.
    """

    days: int | None = None
    setting: str = ""
    base: str = ""


@dataclass(frozen=True)
class Step:
    """One step of an SOP.

    Attributes:
        id: stable id, ``sop<N>.<name>`` (e.g. ``sop1.screening``).
        sop: 1–5.
        title: short English label (translated through gettext).
        description: one or two plain sentences for the practitioner.
        roles: case-team roles responsible (codes of ``accounts.Role``).
        trigger: event references; the step starts at their latest occurrence
            (``first`` occurrence if ``once``). Empty: starts when the case opens.
        done_when: event references; any one at or after the start completes it.
        deadline: when it is due after the start; ``None``: no deadline.
        remind_days_before: send a reminder this many days before the due date.
        applies_when: condition names (``not `` prefix negates); all must hold,
            else the step is not applicable.
        guards: condition names that must hold for the step to be done; when
            one fails the step is blocked (the explanation is shown).
        messages: exchange message codes (M1–M15) this step may send.
        period: the deadline is the end of a period that runs (the reflection
            and recovery period), not a task to finish: shown as "runs until".
        repeats: the step restarts at every new trigger (e.g. risk review after
            every contact) instead of once.
        once: the step starts at the *first* occurrence of its trigger, not the
            latest (e.g. the reflection and recovery period, which a later
            decision does not restart).
        source: where the step comes from (SOPS section, [BG], CETS article).
        guidance: slugs of the guidance library's resources for this step
            (:mod:`trm.guidance`); a slug the library does not hold shows
            nothing (``trm sop validate`` warns).
    """

    id: str
    sop: int
    title: str
    description: str = ""
    roles: tuple[str, ...] = ()
    trigger: tuple[str, ...] = ()
    done_when: tuple[str, ...] = ()
    deadline: Deadline | None = None
    remind_days_before: int | None = None
    applies_when: tuple[str, ...] = ()
    guards: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()
    repeats: bool = False
    source: str = ""
    once: bool = False
    period: bool = False
    guidance: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sop:
    """One of the five SOPs with its steps in order."""

    number: int
    key: str
    title: str
    purpose: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class MonitoringIndicator:
    """A monitoring indicator of SOPS §4 (computed by the statistics capability)."""

    id: str
    sop: int | None
    title: str
    source: str = ""
    verified: bool = False


@dataclass(frozen=True)
class Definition:
    """A national SOP variant merged over the baseline.

    Attributes:
        variant: the variant code (``baseline``, ``bg``, ``md``…).
        title: e.g. "Bulgaria (national referral mechanism)".
        country: ISO 3166-1 alpha-2, empty for the baseline.
        example: True where the national rules are not verified (an example
            for the demo); the UI says so.
        settings: the merged ``settings`` mapping (see baseline.yaml).
        sops: the five SOPs.
        indicators: the monitoring indicators.
        files: the files merged, baseline first.
        note: for an example variant, why its values are examples (shown with
            the variant); empty otherwise.
    """

    variant: str
    title: str
    country: str
    example: bool
    source: str
    settings: dict[str, object]
    sops: tuple[Sop, ...]
    indicators: tuple[MonitoringIndicator, ...] = ()
    files: tuple[str, ...] = field(default=())
    note: str = ""

    def setting(self, path: str) -> object:
        """Return the setting at a dotted ``path`` (``KeyError`` if absent)."""
        value: object = self.settings
        for part in path.split("."):
            if not isinstance(value, dict):
                raise KeyError(path)
            value = value[part]
        return value

    def steps(self) -> tuple[Step, ...]:
        """Every step of every SOP, in order."""
        return tuple(step for sop in self.sops for step in sop.steps)

    def step(self, step_id: str) -> Step:
        """Return the step with ``step_id`` (``KeyError`` if absent)."""
        for candidate in self.steps():
            if candidate.id == step_id:
                return candidate
        raise KeyError(step_id)
