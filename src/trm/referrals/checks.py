"""Checks of a referral's input: what it shares, with whom, and when they meet.

Internal to :mod:`trm.referrals.services`. Each check raises a
:class:`~trm.common.errors.DomainError` naming the field
(``details["field"]``), so the form shows the message next to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import Organisation
from trm.cases.errors import CaseInvalidInput, PersonErased
from trm.cases.models import Case
from trm.common.htcds import ReasonForOutgoingReferral
from trm.common.text import clean_text
from trm.consent.models import Consent, DataCategory, GivenBy
from trm.directory.models import ServiceProfile, ServiceType
from trm.referrals.content import Meeting, seal_json
from trm.referrals.errors import GuardianConsentRequired, NotAcceptingReferrals
from trm.referrals.machine import long_text
from trm.referrals.models import TEXT_CATEGORIES, Referral, Urgency

#: Longest meeting "who" / "where".
MAX_MEETING_CHARS = 300


def codes(
    values: Iterable[str], allowed: Iterable[str], *, field: str, message: str
) -> list[str]:
    chosen = list(dict.fromkeys(v.strip() for v in values if v and v.strip()))
    unknown = sorted(set(chosen) - set(allowed))
    if unknown:
        raise CaseInvalidInput(message, details={"field": field, "unknown": unknown})
    return chosen


def clean_meeting(who: str, where: str, at: datetime | None) -> Meeting:
    meeting = Meeting(
        who=clean_text(who or "", field="meeting_who", max_length=MAX_MEETING_CHARS),
        where=clean_text(
            where or "", field="meeting_where", max_length=MAX_MEETING_CHARS
        ),
        at=at,
    )
    check_meeting_time(meeting)
    return meeting


def check_meeting_time(meeting: Meeting) -> None:
    if meeting.at is None:
        return
    if timezone.is_naive(meeting.at):
        raise CaseInvalidInput(
            _("Give the meeting time with its time zone."),
            details={"field": "meeting_at"},
        )
    if meeting.at <= timezone.now():
        raise CaseInvalidInput(
            _("The meeting time is in the past: agree a new time with the receiver."),
            details={"field": "meeting_at"},
        )


def accepting_profile(organisation: Organisation | None) -> ServiceProfile:
    """Return the receiver's directory profile, or refuse naming why."""
    if organisation is None:
        raise CaseInvalidInput(
            _("Choose the organisation to refer the person to."),
            details={"field": "to_organisation"},
        )
    if not organisation.is_active:
        raise NotAcceptingReferrals(
            _("%(org)s is deactivated on this node: it cannot receive referrals.")
            % {"org": organisation.name},
            details={"field": "to_organisation", "reason": "inactive"},
        )
    profile = ServiceProfile.objects.filter(organisation=organisation).first()
    if profile is None:
        raise NotAcceptingReferrals(
            _(
                "%(org)s is not in the service directory, so it does not receive "
                "referrals here."
            )
            % {"org": organisation.name},
            details={"field": "to_organisation", "reason": "no_profile"},
        )
    if not profile.accepts_referrals:
        raise NotAcceptingReferrals(
            _("%(org)s does not accept referrals now (see the service directory).")
            % {"org": organisation.name},
            details={"field": "to_organisation", "reason": "not_accepting"},
        )
    return profile


def organisation_or_none(organisation_id: UUID | None) -> Organisation | None:
    if organisation_id is None:
        return None
    organisation = Organisation.objects.filter(pk=organisation_id).first()
    if organisation is None:
        raise CaseInvalidInput(
            _("No such organisation."), details={"field": "to_organisation"}
        )
    return organisation


def referral_codes(
    *,
    reason: str,
    services: Iterable[str],
    urgency: str,
    categories: Iterable[str],
) -> tuple[list[str], list[str]]:
    """Check a referral's codes — made here or received from a peer node —
    and return the chosen (services, data categories).

    Raises:
        CaseInvalidInput: an unknown reason, service type, urgency or data
            category, or no service (``details["field"]`` names it).
    """
    if reason not in ReasonForOutgoingReferral.values:
        raise CaseInvalidInput(
            _("Choose why the person is referred."), details={"field": "reason"}
        )
    chosen_services = codes(
        services,
        ServiceType.values,
        field="services",
        message=_("Unknown service type."),
    )
    if not chosen_services:
        raise CaseInvalidInput(
            _("Choose at least one service the person needs."),
            details={"field": "services"},
        )
    if urgency not in Urgency.values:
        raise CaseInvalidInput(
            _("Choose how urgent the referral is."), details={"field": "urgency"}
        )
    chosen_categories = codes(
        categories,
        DataCategory.values,
        field="categories",
        message=_("Unknown data category."),
    )
    return chosen_services, chosen_categories


def draft_values(
    *,
    case: Case,
    to_organisation_id: UUID | None,
    reason: str,
    services: Iterable[str],
    urgency: str,
    categories: Iterable[str],
    texts: Mapping[str, str],
    meeting_who: str,
    meeting_where: str,
    meeting_at: datetime | None,
) -> dict[str, Any]:
    """Check a draft's values; return them cleaned (texts and meeting in clear)."""
    organisation = organisation_or_none(to_organisation_id)
    accepting_profile(organisation)
    chosen_services, chosen_categories = referral_codes(
        reason=reason, services=services, urgency=urgency, categories=categories
    )
    if DataCategory.PHOTO in chosen_categories:
        raise CaseInvalidInput(
            _(
                "A photo is not sent with a referral: show it to the receiver in "
                "person if the person agrees."
            ),
            details={"field": "categories"},
        )
    # Risk is shared through its text, never as a bare category.
    chosen_categories = [c for c in chosen_categories if c != DataCategory.RISK]
    unknown_texts = sorted(set(texts) - set(TEXT_CATEGORIES))
    if unknown_texts:
        raise CaseInvalidInput(_("Unknown text."), details={"field": unknown_texts[0]})
    cleaned_texts = {
        name: long_text(texts.get(name, "") or "", field=name)
        for name in TEXT_CATEGORIES
    }
    cleaned_texts = {k: v for k, v in cleaned_texts.items() if v}
    meeting = clean_meeting(meeting_who, meeting_where, meeting_at)
    if (cleaned_texts or not meeting.is_empty()) and case.person.is_erased:
        raise PersonErased(_("The person's data was erased."))
    return {
        "to_organisation": organisation,
        "reason": reason,
        "services": chosen_services,
        "urgency": urgency,
        "categories": chosen_categories,
        "texts": cleaned_texts,
        "meeting": meeting,
    }


def store_draft(referral: Referral, case: Case, values: Mapping[str, Any]) -> None:
    key = case.person.data_key_id
    referral.to_organisation = values["to_organisation"]
    referral.reason = values["reason"]
    referral.services = values["services"]
    referral.urgency = values["urgency"]
    referral.categories = values["categories"]
    texts = values["texts"]
    referral.sealed_texts = (
        seal_json(key, texts, context=referral.texts_context()) if texts else None
    )
    meeting: Meeting = values["meeting"]
    referral.sealed_meeting = (
        None
        if meeting.is_empty()
        else seal_json(key, meeting.to_json(), context=referral.meeting_context())
    )


def shared_categories(categories: Iterable[str], texts: Mapping[str, str]) -> list[str]:
    """Return the categories a send shares (``risk`` added when its text is
    given), refusing a text category without its text or a text without its
    category: the referrer sees exactly what is shared."""
    chosen = [c for c in categories if c != DataCategory.RISK]
    for name in TEXT_CATEGORIES:
        if name == DataCategory.RISK:
            continue
        if name in chosen and not texts.get(name):
            raise CaseInvalidInput(
                _("You chose to share “%(category)s”: write it, or untick it.")
                % {"category": DataCategory(name).label},
                details={"field": name},
            )
        if texts.get(name) and name not in chosen:
            raise CaseInvalidInput(
                _(
                    "You wrote “%(category)s” but did not choose to share it: "
                    "tick it (if the person agrees), or clear the text."
                )
                % {"category": DataCategory(name).label},
                details={"field": name},
            )
    if texts.get(DataCategory.RISK):
        chosen.append(DataCategory.RISK)
    if not chosen:
        raise CaseInvalidInput(
            _(
                "Choose what to share with the receiver (at least one category), "
                "or describe a risk to life or safety."
            ),
            details={"field": "categories"},
        )
    return chosen


def check_child_consent(case: Case, consent: Consent | None) -> None:
    """A child's referral needs the guardian's part in the consent (SOPS §6.2
    region E; BG 1.4 step 1). Risk information alone needs no consent."""
    if consent is None or not case.person.presumed_child:
        return
    if consent.given_by == GivenBy.PERSON:
        raise GuardianConsentRequired(
            _(
                "The person is or may be a child: the consent to this referral "
                "must be given by the guardian, or by the child and the guardian "
                "together. Record such a consent first."
            ),
            details={"field": "categories", "consent": str(consent.pk)},
        )
