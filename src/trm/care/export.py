"""What trm.care holds about a person, readable, for the subject-access export.

Called by the data-protection export (GDPR Art. 15; ARCHITECTURE §4) after it
has checked who may export and audited the export: this module neither checks
access nor audits. Sealed text is opened under the person's data key; once the
person was erased it is ``None``.
"""

from __future__ import annotations

from trm.care.common import Opener
from trm.care.models import CarePlan, ResidenceStatus, ServiceEpisode
from trm.care.selectors import plan_contents
from trm.cases.models import Case, Person


def _iso(value: object) -> str | None:
    return value.isoformat() if value is not None else None  # type: ignore[attr-defined]


def export_for_person(person: Person) -> list[dict[str, object]]:
    """Return every care plan, residence record and service given of ``person``.

    One dict per record, each with ``"record"`` (``care_plan``,
    ``residence_status`` or ``service_given``), ``"case"`` (the case number),
    codes with their labels, dates (ISO 8601) and the opened text. Staff are
    not named. Oldest case first, each record kind in date order.
    """
    opener = Opener(person)
    cases = {
        c.pk: c.number
        for c in Case.objects.filter(person=person).order_by("opened_at", "pk")
    }
    rows: list[dict[str, object]] = []
    plans = (
        CarePlan.objects.filter(case_id__in=cases)
        .prefetch_related("planned_services__provider", "reviews")
        .order_by("created_at", "pk")
    )
    for plan in plans:
        view = plan_contents(plan, opener)
        rows.append(
            {
                "record": "care_plan",
                "case": cases[plan.case_id],
                "status": plan.status,
                "status_label": str(plan.get_status_display()),
                "duration": plan.duration,
                "duration_label": str(plan.get_duration_display()),
                "goals": view.goals,
                "created_at": _iso(plan.created_at),
                "agreed_at": _iso(plan.agreed_at),
                "closed_at": _iso(plan.closed_at),
                "planned_services": [
                    {
                        "service_type": s.service.service_type,
                        "service_label": str(s.service.get_service_type_display()),
                        "provider": (
                            s.service.provider.name if s.service.provider else ""
                        ),
                        "frequency": s.frequency,
                        "notes": s.notes,
                    }
                    for s in view.services
                ],
                "reviews": [
                    {
                        "reviewed_on": _iso(r.review.reviewed_on),
                        "outcome": r.review.outcome,
                        "outcome_label": str(r.review.get_outcome_display()),
                        "note": r.note,
                    }
                    for r in sorted(view.reviews, key=lambda r: r.review.reviewed_on)
                ],
            }
        )
    for record in ResidenceStatus.objects.filter(case_id__in=cases).order_by(
        "valid_from", "recorded_at"
    ):
        rows.append(
            {
                "record": "residence_status",
                "case": cases[record.case_id],
                "residence_type": record.residence_type,
                "residence_label": str(record.get_residence_type_display()),
                "valid_from": _iso(record.valid_from),
                "valid_until": _iso(record.valid_until),
                "issuing_authority": record.issuing_authority,
                "document_number": opener.open(
                    record.sealed_document_number,
                    context=record.document_number_context(),
                ),
                "current": record.is_current,
            }
        )
    for episode in (
        ServiceEpisode.objects.filter(case_id__in=cases)
        .select_related("provider")
        .order_by("started_on", "recorded_at")
    ):
        rows.append(
            {
                "record": "service_given",
                "case": cases[episode.case_id],
                "service_type": episode.service_type,
                "service_label": str(episode.get_service_type_display()),
                "provider": (
                    episode.provider.name
                    if episode.provider
                    else opener.open(
                        episode.sealed_provider_name,
                        context=episode.provider_name_context(),
                    )
                ),
                "started_on": _iso(episode.started_on),
                "ended_on": _iso(episode.ended_on),
                "outcome": episode.outcome,
                "outcome_label": str(episode.get_outcome_display()),
                "note": opener.open(
                    episode.sealed_note, context=episode.note_context()
                ),
                "end_note": opener.open(
                    episode.sealed_end_note, context=episode.end_note_context()
                ),
            }
        )
    return rows
