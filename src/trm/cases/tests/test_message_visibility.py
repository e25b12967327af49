"""Messages about assistance stay off the legal track's timeline (SOPS §3)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from trm.accounts.models import Role
from trm.cases.messages import message_visibility, timeline_observer
from trm.cases.models import Visibility
from trm.cases.selectors import case_timeline_for_user
from trm.cases.tests.factories import open_case, team_member

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("message_type", "visibility"),
    [
        ("return.plan", Visibility.ASSISTANCE_ONLY),
        ("return.handover.arrival", Visibility.ASSISTANCE_ONLY),
        ("followup.report", Visibility.ASSISTANCE_ONLY),
        ("family.tracing.result", Visibility.ASSISTANCE_ONLY),
        ("risk.assessment.joint", Visibility.ASSISTANCE_ONLY),
        ("referral.request", Visibility.ASSISTANCE_ONLY),
        ("proceedings.notice", Visibility.TEAM),
        ("case.alert", Visibility.TEAM),
        ("safety.alert", Visibility.TEAM),
    ],
)
def test_each_message_type_has_its_timeline_visibility(message_type, visibility):
    assert message_visibility(message_type) == visibility


def test_the_prosecutor_sees_the_notice_but_not_the_return_messages(caseworker_a):
    case = open_case(caseworker_a)
    prosecutor = team_member(case, Role.PROSECUTOR)
    for direction, kind in [
        ("in", "followup.report"),
        ("out", "return.plan"),
        ("out", "proceedings.notice"),
    ]:
        timeline_observer(direction, SimpleNamespace(case_id=case.pk, type=kind))

    def codes(user):
        return sorted(
            view.event.code
            for view in case_timeline_for_user(user=user, case=case)
            if view.event.kind.startswith("exchange.")
        )

    assert codes(prosecutor) == ["proceedings.notice"]
    assert codes(caseworker_a) == [
        "followup.report",
        "proceedings.notice",
        "return.plan",
    ]
