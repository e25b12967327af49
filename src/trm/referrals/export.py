"""What trm.referrals holds about a person, for the subject-access export.

:func:`export_for_person` is called by the data-protection export (GDPR
Art. 15 and 20), which checks access and writes the audit entry; this module
only collects and decrypts.
"""

from __future__ import annotations

from typing import Any

from trm.cases.models import Person
from trm.consent.models import DataCategory
from trm.referrals.content import Meeting, open_json, open_text
from trm.referrals.models import (
    FeedbackOutcome,
    Referral,
    ReferralFeedback,
    ReferralTransition,
    Status,
    Urgency,
)


def _label(choices: Any, code: str) -> str:
    labels = dict(choices.choices)
    return str(labels.get(code, code)) if code else ""


def export_for_person(person: Person) -> list[dict[str, object]]:
    """Return every referral of the person's cases, decrypted, oldest first.

    Each item: ``reference``, ``case_number``, ``status`` (label), ``from`` and
    ``to`` (organisation names), ``referred_by``, ``reason``, ``services``,
    ``urgency``, ``categories`` (labels), ``consent_id``,
    ``risk_shared_without_consent``, the dates of each step, ``reason_given``
    and ``explanation``, ``texts`` (what the referrer wrote), ``meeting``,
    ``shared`` (the snapshot the receiver saw), ``risk``, ``feedback`` and
    ``history``. A sealed value that can no longer be read (erased) is None.
    """
    key = person.data_key_id
    referrals = (
        Referral.objects.filter(case__person=person)
        .select_related(
            "case",
            "from_organisation",
            "to_organisation",
            "referred_by__organisation",
        )
        .order_by("created_at", "pk")
    )
    category_labels = dict(DataCategory.choices)
    out: list[dict[str, object]] = []
    for referral in referrals:
        texts = open_json(key, referral.sealed_texts, context=referral.texts_context())
        meeting_raw = open_json(
            key, referral.sealed_meeting, context=referral.meeting_context()
        )
        meeting = Meeting.from_json(meeting_raw) if meeting_raw else None
        feedback = [
            {
                "at": entry.at,
                "by": entry.get_side_display(),
                "outcome": _label(FeedbackOutcome, entry.outcome),
                "text": open_text(key, entry.sealed_text, context=entry.text_context()),
            }
            for entry in ReferralFeedback.objects.filter(referral=referral).order_by(
                "at", "pk"
            )
        ]
        history = [
            {
                "at": step.at,
                "by": step.get_side_display(),
                "status": _label(Status, step.to_status),
            }
            for step in ReferralTransition.objects.filter(referral=referral).order_by(
                "at", "pk"
            )
        ]
        out.append(
            {
                "reference": referral.reference,
                "case_number": referral.case.number,
                "status": _label(Status, referral.status),
                "from": referral.from_organisation.name,
                "to": referral.to_organisation.name if referral.to_organisation else "",
                # The organisation, not the staff member (as the rest of the
                # subject-access export).
                "referred_by": (
                    referral.referred_by.organisation.name
                    if referral.referred_by and referral.referred_by.organisation
                    else ""
                ),
                "reason": referral.get_reason_display(),
                "services": referral.service_labels(),
                "urgency": _label(Urgency, referral.urgency),
                "categories": [
                    str(category_labels.get(c, c)) for c in referral.categories
                ],
                "consent_id": str(referral.consent_id) if referral.consent_id else "",
                "risk_shared_without_consent": referral.risk_shared_without_consent,
                "created_at": referral.created_at,
                "sent_at": referral.sent_at,
                "reply_by": referral.reply_by,
                "responded_at": referral.responded_at,
                "started_at": referral.started_at,
                "completed_at": referral.completed_at,
                "ended_at": referral.ended_at,
                "reason_given": referral.outcome_label(),
                "explanation": open_text(
                    key,
                    referral.sealed_outcome_text,
                    context=referral.outcome_context(),
                ),
                "texts": texts
                if texts is not None or not referral.sealed_texts
                else None,
                "meeting": (
                    {
                        "who": meeting.who,
                        "where": meeting.where,
                        "at": meeting.at,
                    }
                    if meeting is not None
                    else None
                ),
                "shared": open_json(
                    key, referral.sealed_shared, context=referral.shared_context()
                ),
                "shared_content_destroyed_at": referral.content_destroyed_at,
                "risk": open_text(
                    key, referral.sealed_risk, context=referral.risk_context()
                ),
                "feedback": feedback,
                "history": history,
            }
        )
    return out
