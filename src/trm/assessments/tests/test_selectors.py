"""The readers: access, audit, erasure, pages."""

from __future__ import annotations

import pytest

from trm.accounts.models import Role
from trm.accounts.tests.factories import UserFactory
from trm.assessments import plans, selectors
from trm.assessments.errors import AssistanceContentHidden, PlanVersionNotFound
from trm.audit.models import AuditEntry
from trm.cases.errors import CaseNotFound
from trm.cases.tests.factories import set_states, team_member

from .conftest import erase
from .factories import complete_plan, record_needs, record_risk, save_plan

pytestmark = pytest.mark.django_db


def actions() -> list[str]:
    return list(
        AuditEntry.objects.filter(action__startswith="assessments.")
        .order_by("seq")
        .values_list("action", flat=True)
    )


def test_reads_are_audited(case, caseworker_a):
    record_needs(case, caseworker_a)
    record_risk(case, caseworker_a)
    save_plan(case, caseworker_a)
    before = len(actions())
    page = selectors.needs_assessments_for_user(user=caseworker_a, case=case)
    assert page.total == 1
    selectors.risk_assessments_for_user(user=caseworker_a, case=case)
    selectors.plan_for_user(user=caseworker_a, case=case)
    selectors.plan_version_for_user(user=caseworker_a, case=case, number=1)
    selectors.risk_status_for_user(user=caseworker_a, case=case)
    selectors.summary_for_user(user=caseworker_a, case=case)
    assert actions()[before:] == [
        "assessments.needs_read",
        "assessments.risk_read",
        "assessments.plan_read",
        "assessments.plan_read",
        "assessments.risk_status_read",
        "assessments.summary_read",
    ]


def test_empty_lists_read_nothing_and_audit_nothing(case, caseworker_a):
    assert (
        selectors.needs_assessments_for_user(user=caseworker_a, case=case).items == []
    )
    assert selectors.risk_assessments_for_user(user=caseworker_a, case=case).total == 0
    overview = selectors.plan_for_user(user=caseworker_a, case=case)
    assert overview.current is None and overview.versions == []
    summary = selectors.summary_for_user(user=caseworker_a, case=case)
    assert summary.needs is None and summary.plan is None
    assert actions() == []


def test_the_legal_track_reads_nothing_of_it(case, caseworker_a, prosecutor):
    record_needs(case, caseworker_a)
    save_plan(case, caseworker_a)
    for read in (
        lambda: selectors.needs_assessments_for_user(user=prosecutor, case=case),
        lambda: selectors.risk_assessments_for_user(user=prosecutor, case=case),
        lambda: selectors.plan_for_user(user=prosecutor, case=case),
        lambda: selectors.plan_version_for_user(user=prosecutor, case=case, number=1),
        lambda: selectors.risk_status_for_user(user=prosecutor, case=case),
        lambda: selectors.summary_for_user(user=prosecutor, case=case),
    ):
        with pytest.raises(AssistanceContentHidden):
            read()


def test_a_prosecutor_who_also_works_on_assistance_reads_it(case, caseworker_a):
    both = UserFactory(
        organisation=case.lead_organisation,
        roles=[Role.PROSECUTOR, Role.SERVICE_PROVIDER],
    )
    from trm.cases.models import CaseTeamMember

    CaseTeamMember.objects.create(case=case, user=both, role=Role.SERVICE_PROVIDER)
    record_needs(case, caseworker_a)
    assert selectors.needs_assessments_for_user(user=both, case=case).total == 1


def test_no_access_is_not_found(case, caseworker_a, caseworker_b):
    record_needs(case, caseworker_a)
    with pytest.raises(CaseNotFound):
        selectors.needs_assessments_for_user(user=caseworker_b, case=case)
    with pytest.raises(CaseNotFound):
        selectors.plan_for_user(user=caseworker_b, case=case)


def test_a_national_contact_point_reads_a_transnational_case_through_policy(
    case, caseworker_a
):
    ncp = UserFactory(roles=[Role.NATIONAL_CONTACT_POINT])
    record_risk(case, caseworker_a)
    with pytest.raises(CaseNotFound):
        selectors.risk_assessments_for_user(user=ncp, case=case)
    set_states(case, transnational="ncp_notified")
    assert selectors.risk_assessments_for_user(user=ncp, case=case).total == 1


def test_after_erasure_the_text_can_no_longer_be_read(case, caseworker_a):
    record_needs(case, caseworker_a)
    record_risk(case, caseworker_a)
    save_plan(case, caseworker_a)
    erase(case)
    needs = selectors.needs_assessments_for_user(user=caseworker_a, case=case).items[0]
    assert not needs.readable
    assert all(note is None for _d, _s, note in needs.rows)
    assert needs.rows[0][1] == "urgent"  # the statuses stay, in clear
    risk = selectors.risk_assessments_for_user(user=caseworker_a, case=case).items[0]
    assert not risk.readable and risk.judgement is None
    assert risk.assessment.level == "low"
    plan = selectors.plan_for_user(user=caseworker_a, case=case)
    assert plan.current is not None and plan.current.content is None


def test_a_draft_shows_what_rule_9_still_needs(case, caseworker_a):
    save_plan(case, caseworker_a, complete_plan(place=""))
    view = selectors.plan_version_for_user(user=caseworker_a, case=case, number=1)
    assert view.missing == ["place"]
    save_plan(case, caseworker_a)
    plans.plan_sign(actor=caseworker_a, case_id=case.pk)
    assert (
        selectors.plan_version_for_user(user=caseworker_a, case=case, number=1).missing
        == []
    )


def test_an_unknown_version_is_not_found(case, caseworker_a):
    with pytest.raises(PlanVersionNotFound):
        selectors.plan_version_for_user(user=caseworker_a, case=case, number=3)


def test_history_is_paged_newest_first(case, caseworker_a):
    first = record_risk(case, caseworker_a, level="low")
    second = record_risk(case, caseworker_a, level="medium")
    page = selectors.risk_assessments_for_user(
        user=caseworker_a, case=case, page=1, page_size=1
    )
    assert page.total == 2 and page.pages == 2 and page.has_next
    assert [v.assessment.pk for v in page.items] == [second.pk]
    page2 = selectors.risk_assessments_for_user(
        user=caseworker_a, case=case, page=2, page_size=1
    )
    assert [v.assessment.pk for v in page2.items] == [first.pk]
    assert page2.has_previous and not page2.has_next


def test_the_summary_reads_no_sealed_data(case, caseworker_a):
    record_needs(case, caseworker_a)
    save_plan(case, caseworker_a)
    plans.plan_sign(actor=caseworker_a, case_id=case.pk)
    save_plan(case, caseworker_a)
    erase(case)  # nothing sealed could be read now
    summary = selectors.summary_for_user(user=caseworker_a, case=case)
    assert summary.needs is not None and summary.needs.statuses["safety"] == "urgent"
    assert summary.plan is not None and summary.plan.number == 2
    assert summary.signed is not None and summary.signed.number == 1


def test_a_guardian_of_a_child_reads(child_case, caseworker_a):
    guardian = team_member(child_case, Role.GUARDIAN)
    record_needs(child_case, caseworker_a)
    assert selectors.needs_assessments_for_user(user=guardian, case=child_case).total
