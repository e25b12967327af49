"""What the handover services share: input cleaning and sealing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.translation import gettext as _

from trm.accounts.models import Role
from trm.care.common import Sealer
from trm.cases.access import CaseAccess
from trm.cases.errors import CaseInvalidInput
from trm.cases.models import Case
from trm.common.text import clean_text, has_visible_text
from trm.handover.models import ReturnHandover

#: Who confirms an arrival on the origin node (on the case team; the national
#: contact point also through node policy, as it leads a linked case).
CONFIRM_ROLES = frozenset(
    {Role.NATIONAL_CONTACT_POINT, Role.CASE_MANAGER, Role.SERVICE_PROVIDER}
)
#: The data category of the arrival point and the itinerary on the wire.
TEXT_CATEGORY = "case_summary"
#: How far ahead of this node's clock an arrival time may be (clock skew).
FUTURE_SKEW = timedelta(minutes=5)
#: How far from now a journey's times may be: a journey is announced as it
#: starts, so its departure and expected arrival are within this of now (and
#: the alert time computed from them always exists).
PLAUSIBLE_SPAN = timedelta(days=366)
#: The node user's access when a message moves a track (the message's own
#: checks — reference, party, handover — stand for the role check).
NODE_ACCESS = CaseAccess(roles=frozenset({Role.NATIONAL_CONTACT_POINT}))
ALERT_ACTIONS = ["locate_person", "contact_us"]


def _invalid(message: str, field: str, **details: object) -> CaseInvalidInput:
    return CaseInvalidInput(message, details={"field": field, **details})


def _aware(value: object, field: str) -> datetime:
    if not isinstance(value, datetime) or timezone.is_naive(value):
        raise _invalid(
            _("Give a date and time with its time zone."), field, reason="naive"
        )
    return value


def _line(value: str, field: str, max_length: int) -> str:
    text = clean_text(value or "", field=field, max_length=max_length)
    return text if has_visible_text(text) else ""


def _seal_texts(case: Case, row: ReturnHandover, texts: dict[str, str]) -> None:
    if case.person.is_erased or not any(texts.values()):
        row.sealed_text = None
        return
    row.sealed_text = Sealer(case).seal(
        json.dumps(texts, sort_keys=True, ensure_ascii=False),
        context=row.text_context(),
    )
