"""The log of services given (SOPS §6.1 ServiceEpisode; SOP 2 "service logs").

Each episode is one service given to the person: its kind (a service type of
the directory, :class:`trm.directory.models.ServiceType`), who gave it (an
organisation of the node, or a name typed by hand, sealed), when it started
and ended, and how it ended. Recording and ending an episode each write
``sop3.service_recorded`` (code: the service type). Same conventions as
:mod:`trm.care.services`.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import User
from trm.care.common import CARE_ROLES, Sealer, check_date
from trm.care.errors import CareRecordNotFound
from trm.care.models import NEEDS_END_DATE, EpisodeOutcome, ServiceEpisode
from trm.care.services import clean_provider, clean_service_type
from trm.cases.errors import CaseInvalidInput, TransitionNotAllowed
from trm.cases.models import Case, Visibility
from trm.cases.services import lock_case, record_case_event, require_live_person
from trm.common.text import clean_text
from trm.identification.common import (
    audit_case,
    optional_text,
    require_open,
    require_roles,
)

MAX_PROVIDER_NAME_CHARS = 200


def _check_end(
    *, outcome: str, started_on: date, ended_on: date | None, ending: bool
) -> date | None:
    """Check an outcome and end date together; return the end date."""
    allowed = set(EpisodeOutcome.values) - (
        {EpisodeOutcome.ONGOING} if ending else set()
    )
    if outcome not in allowed:
        raise CaseInvalidInput(
            _("Choose how the service ended.")
            if ending
            else _("Choose whether the service goes on or how it ended."),
            details={"field": "outcome"},
        )
    if outcome == EpisodeOutcome.ONGOING:
        if ended_on is not None:
            raise CaseInvalidInput(
                _("A service that goes on has no end date: choose how it ended."),
                details={"field": "outcome"},
            )
        return None
    return check_date(
        ended_on,
        field="ended_on",
        required=outcome in NEEDS_END_DATE,
        not_future=True,
        not_before=started_on,
        message=_(
            "Give the date the service ended (not before it started, not in "
            "the future)."
        ),
    )


@transaction.atomic(durable=True)
def service_episode_record(
    *,
    actor: User,
    case_id: UUID,
    service_type: str,
    started_on: date | None,
    provider_id: UUID | None = None,
    provider_name: str = "",
    ended_on: date | None = None,
    outcome: str = EpisodeOutcome.ONGOING,
    note: str = "",
) -> ServiceEpisode:
    """Record a service given to the person.

    The provider is an active organisation of the node (``provider_id``) or a
    name typed by hand (``provider_name``, sealed), not both; either may be
    left out. ``started_on`` may not be in the future. An ongoing service has
    no end date; a completed or interrupted one needs it (not before the start,
    not in the future); for "refused by the person" and "not available" it is
    optional.

    Raises:
        CaseNotFound, CaseRoleRequired, PersonErased,
        TransitionNotAllowed (closed case),
        CaseInvalidInput / InvalidText (type, provider, dates, outcome, text).
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    require_open(case)
    require_roles(access, CARE_ROLES)
    require_live_person(case)
    service_type = clean_service_type(service_type, field="service_type")
    provider = clean_provider(provider_id, field="provider")
    provider_name = clean_text(
        provider_name, field="provider_name", max_length=MAX_PROVIDER_NAME_CHARS
    )
    if provider is not None and provider_name:
        raise CaseInvalidInput(
            _("Choose an organisation or type the provider's name, not both."),
            details={"field": "provider_name"},
        )
    started_on = check_date(
        started_on,
        field="started_on",
        not_future=True,
        message=_("Give the date the service started."),
    )
    assert started_on is not None  # noqa: S101 - required above
    ended_on = _check_end(
        outcome=outcome, started_on=started_on, ended_on=ended_on, ending=False
    )
    note = optional_text(case, note, field="note")
    episode = ServiceEpisode(
        case=case,
        service_type=service_type,
        provider=provider,
        started_on=started_on,
        ended_on=ended_on,
        outcome=outcome,
        recorded_by=actor,
    )
    if outcome != EpisodeOutcome.ONGOING:
        episode.ended_by = actor
        episode.ended_recorded_at = timezone.now()
    sealer = Sealer(case)
    episode.sealed_provider_name = sealer.seal(
        provider_name, context=episode.provider_name_context()
    )
    episode.sealed_note = sealer.seal(note, context=episode.note_context())
    episode.save(force_insert=True)
    record_case_event(
        case=case,
        actor=actor,
        kind="sop3.service_recorded",
        code=service_type,
        visibility=Visibility.ASSISTANCE_ONLY,
    )
    audit_case(
        actor,
        "care.service_recorded",
        case,
        episode=str(episode.pk),
        service_type=service_type,
        outcome=outcome,
    )
    return episode


def _episode(case: Case, episode_id: UUID) -> ServiceEpisode:
    episode = (
        ServiceEpisode.objects.select_for_update()
        .filter(case=case, pk=episode_id)
        .first()
    )
    if episode is None:
        raise CareRecordNotFound(_("No such service on this case."))
    return episode


@transaction.atomic(durable=True)
def service_episode_end(
    *,
    actor: User,
    case_id: UUID,
    episode_id: UUID,
    ended_on: date | None,
    outcome: str,
    note: str = "",
) -> ServiceEpisode:
    """End an ongoing service: how it ended and when (rules as on recording).

    Writes ``sop3.service_recorded`` (code: the service type); the note is
    sealed on the episode.

    Raises:
        CaseNotFound, CareRecordNotFound, CaseRoleRequired, PersonErased,
        TransitionNotAllowed (closed case; the service has ended already),
        CaseInvalidInput (outcome, date, note).
    """
    case, access = lock_case(actor=actor, case_id=case_id)
    require_open(case)
    require_roles(access, CARE_ROLES)
    episode = _episode(case, episode_id)
    require_live_person(case)
    if not episode.is_ongoing:
        raise TransitionNotAllowed(_("This service has ended already."))
    ended_on = _check_end(
        outcome=outcome, started_on=episode.started_on, ended_on=ended_on, ending=True
    )
    note = optional_text(case, note, field="note")
    episode.outcome = outcome
    episode.ended_on = ended_on
    episode.ended_by = actor
    episode.ended_recorded_at = timezone.now()
    episode.sealed_end_note = Sealer(case).seal(
        note, context=episode.end_note_context()
    )
    episode.save(
        update_fields=[
            "outcome",
            "ended_on",
            "ended_by",
            "ended_recorded_at",
            "sealed_end_note",
        ]
    )
    record_case_event(
        case=case,
        actor=actor,
        kind="sop3.service_recorded",
        code=episode.service_type,
        visibility=Visibility.ASSISTANCE_ONLY,
    )
    audit_case(
        actor,
        "care.service_ended",
        case,
        episode=str(episode.pk),
        service_type=episode.service_type,
        outcome=outcome,
    )
    return episode
