"""E-mails about referrals: that one awaits a reply, that it was answered.

Sent after the transaction commits (``transaction.on_commit`` in the services),
through Django's mail API from ``DEFAULT_FROM_EMAIL``, in each recipient's
language. They carry no personal data (SOPS §3 confidentiality; ARCHITECTURE
§4): organisation names, the referral's short reference, a date, and a link
(``settings.TRM_BASE_URL``) to the page where a signed-in user reads the rest.
A failed e-mail is logged without details and does not undo the change.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Callable, Iterable
from datetime import datetime
from uuid import UUID

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import translation
from django.utils.timezone import localtime
from django.utils.translation import gettext as _

from trm.accounts.models import User
from trm.referrals.models import Referral

logger = logging.getLogger(__name__)


def receiver_users(referral: Referral) -> QuerySet[User]:
    """Return the users who read the receiving organisation's referral inbox."""
    from trm.referrals.selectors import RECEIVER_ROLES

    if referral.to_organisation_id is None:
        return User.objects.none()
    return (
        User.objects.filter(
            organisation_id=referral.to_organisation_id,
            organisation__is_active=True,
            is_active=True,
            memberships__role__in=sorted(RECEIVER_ROLES),
        )
        .exclude(email="")
        .distinct()
        .order_by("pk")
    )


def _send(users: Iterable[User], build: Callable[[User], tuple[str, str]]) -> int:
    sent = 0
    for user in users:
        language = user.preferred_language or settings.LANGUAGE_CODE
        with translation.override(language):
            subject, body = build(user)
        try:
            send_mail(subject, body, None, [user.email], fail_silently=False)
        except Exception:
            logger.warning("referral e-mail failed")
            continue
        sent += 1
    return sent


def deadline_text(moment: datetime | None) -> str:
    """Return a time as the e-mails write it: in the node's time zone
    (``settings.TIME_ZONE``, set by ``TRM_TIME_ZONE``), in one order for every
    language, with the zone named, e.g. ``2026-12-02 23:41 (Europe/Sofia)``.

    Recipients read it away from the page and maybe in another country, so
    neither a locale's day/month order nor a silent zone is used; it never
    ends with a full stop of its own.
    """
    if moment is None:
        return "—"
    zone = settings.TIME_ZONE
    local = localtime(moment, zoneinfo.ZoneInfo(zone))
    return f"{local:%Y-%m-%d %H:%M} ({zone})"


def _load(referral_id: UUID) -> Referral | None:
    return (
        Referral.objects.select_related(
            "from_organisation", "to_organisation", "referred_by", "case"
        )
        .filter(pk=referral_id)
        .first()
    )


def notify_sent(referral_id: UUID) -> int:
    """Tell the receiving organisation's inbox users that a referral awaits them."""
    referral = _load(referral_id)
    if referral is None or referral.to_organisation_id is None:
        return 0
    link = settings.TRM_BASE_URL + reverse("referrals:inbox_detail", args=[referral.pk])

    def build(user: User) -> tuple[str, str]:
        values = {
            "org": referral.from_organisation.name,
            "ref": referral.reference,
            "date": deadline_text(referral.reply_by),
        }
        subject = _("TRM: a referral awaits your reply (%(ref)s)") % values
        body = "\n\n".join(
            [
                _(
                    "%(org)s referred a person to your organisation. Please "
                    "accept or decline by %(date)s."
                )
                % values,
                _("Open the referral: %(link)s") % {"link": link},
                _(
                    "You receive this because you handle referrals to your "
                    "organisation in TRM."
                ),
            ]
        )
        return subject, body

    return _send(receiver_users(referral), build)


#: What the referring user is told, by event.
_REFERRER_EVENTS = ("accepted", "declined", "feedback")


def notify_referrer(referral_id: UUID, event: str) -> int:
    """Tell the user who made the referral that it was accepted, declined, or
    that the receiver gave feedback."""
    referral = _load(referral_id)
    if referral is None or event not in _REFERRER_EVENTS:
        return 0
    user = referral.referred_by
    if user is None or not user.email or not user.may_use_account():
        return 0
    link = settings.TRM_BASE_URL + reverse("referrals:detail", args=[referral.pk])

    def build(user: User) -> tuple[str, str]:
        values = {
            "org": referral.to_organisation.name if referral.to_organisation else "",
            "ref": referral.reference,
            "number": referral.case.number,
        }
        if event == "accepted":
            subject = _("TRM: referral %(ref)s accepted") % values
            first = _("%(org)s accepted referral %(ref)s (case %(number)s).") % values
        elif event == "declined":
            subject = _("TRM: referral %(ref)s declined") % values
            first = (
                _(
                    "%(org)s declined referral %(ref)s (case %(number)s). Find "
                    "another way, or record that a referral is not possible."
                )
                % values
            )
        else:
            subject = _("TRM: feedback on referral %(ref)s") % values
            first = (
                _("%(org)s gave feedback on referral %(ref)s (case %(number)s).")
                % values
            )
        body = "\n\n".join(
            [
                first,
                _("Open the referral: %(link)s") % {"link": link},
                _("You receive this because you made this referral."),
            ]
        )
        return subject, body

    return _send([user], build)


def notify_receivers_ended(referral_id: UUID) -> int:
    """Tell the receiver's inbox users that a referral was cancelled or revoked."""
    referral = _load(referral_id)
    if referral is None or referral.to_organisation_id is None:
        return 0
    link = settings.TRM_BASE_URL + reverse("referrals:inbox_detail", args=[referral.pk])

    def build(user: User) -> tuple[str, str]:
        values = {"org": referral.from_organisation.name, "ref": referral.reference}
        if referral.status == "revoked":
            subject = _("TRM: referral %(ref)s revoked") % values
            first = (
                _(
                    "Referral %(ref)s from %(org)s is revoked: the person withdrew "
                    "their consent. Its content is no longer available; delete "
                    "any copies you made."
                )
                % values
            )
        else:
            subject = _("TRM: referral %(ref)s cancelled") % values
            first = _("%(org)s cancelled referral %(ref)s.") % values
        body = "\n\n".join(
            [
                first,
                _("Open the referral: %(link)s") % {"link": link},
                _(
                    "You receive this because you handle referrals to your "
                    "organisation in TRM."
                ),
            ]
        )
        return subject, body

    return _send(receiver_users(referral), build)
