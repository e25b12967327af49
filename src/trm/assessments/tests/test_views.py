"""Pages: the case page's section, the forms and their errors, the plan, the print."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from tests.test_accessibility import assert_invalid_fields_described, assert_page_basics

from trm.accounts.models import Role
from trm.accounts.tests.factories import OrganisationFactory
from trm.assessments import plans, selectors
from trm.assessments.models import (
    IMMEDIATE_DOMAINS,
    NeedsAssessment,
    PlanStatus,
    RiskAssessment,
    SupportPlanVersion,
)
from trm.assessments.views import label_language
from trm.cases.services import case_close
from trm.cases.tests.factories import adult_birth_date, open_case, team_member
from trm.identification import contacts

from .conftest import FAMILY_NAME, erase
from .factories import complete_plan, record_needs, record_risk, save_plan

pytestmark = pytest.mark.django_db


def html(response) -> str:
    return str(response.content.decode())


def url(name: str, case, *args: Any) -> str:
    return reverse(f"assessments:{name}", args=[case.pk, *args])


def case_page(client, case) -> str:
    return html(client.get(reverse("cases:detail", args=[case.pk])))


def needs_form(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": "immediate",
        "willing_participation": "yes",
        "in_private": "yes",
        "language": "ro",
        **{f"status_{d}": "met" for d in IMMEDIATE_DOMAINS},
        "note_safety": "Fictional note about a fictional threat",
    }
    data.update(overrides)
    return data


def risk_form(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "risk_type": "initial",
        "involvement": "involved",
        "factors": ["trafficker_threat", "debt"],
        "level": "medium",
        "person_concerns": "Fictional worry",
        "judgement": "Fictional judgement",
        "safety_measures": "",
    }
    data.update(overrides)
    return data


def plan_form(rows: int = 3, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "step_rows": str(rows),
        "language": "ro",
        "immediate_needs": "Fictional needs",
        "risk_summary": "Fictional risks",
        "step_0_what": "Fictional check-up",
        "step_0_who": "Fictional clinic",
        "step_0_by": (timezone.localdate() + timedelta(days=45)).isoformat(),
        "other_organisations": "Fictional Shelter Zeta\nFictional Legal Aid Eta",
        "safety_plan": "Fictional safety plan",
        "timeframe": "Fictional: 3 months",
        "person_name": "Fictiv Person",
        "person_acknowledged": "on",
        "interviewer_name": "Fictiv Interviewer",
        "interviewer_acknowledged": "on",
        "plan_date": timezone.localdate().isoformat(),
        "place": "Fictional Town",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# --- the case page --------------------------------------------------------------------


def test_the_case_page_shows_the_section_with_its_anchor(signed_in, caseworker_a, case):
    page = case_page(signed_in(caseworker_a), case)
    assert 'id="assessments"' in page
    assert "No needs assessment recorded yet." in page
    assert "No risk assessment recorded yet." in page
    assert "No support and safety plan yet." in page
    assert url("needs_new", case) + "?kind=immediate" in page
    assert_page_basics(page)


def test_the_case_page_summarises_needs_risk_and_plan(signed_in, caseworker_a, case):
    record_needs(case, caseworker_a)
    record_risk(case, caseworker_a, level="high")
    save_plan(case, caseworker_a)
    plans.plan_sign(actor=caseworker_a, case_id=case.pk)
    save_plan(case, caseworker_a)
    page = case_page(signed_in(caseworker_a), case)
    assert "Safety" in page and "Urgent" in page  # the need that is urgent
    assert "High" in page
    assert "Draft, version 2" in page
    assert "applies until the draft is signed" in page
    assert "recruiter" not in page  # notes only on the list page


def test_rule_8_the_case_page_says_risk_assessment_due_after_a_contact(
    signed_in, caseworker_a, case
):
    client = signed_in(caseworker_a)
    assert "Risk assessment due" not in case_page(client, case)
    contacts.contact_record(actor=caseworker_a, case_id=case.pk, kind="in_person")
    assert "Risk assessment due" in case_page(client, case)
    record_risk(case, caseworker_a)
    assert "Risk assessment due" not in case_page(client, case)
    contacts.contact_record(actor=caseworker_a, case_id=case.pk, kind="phone")
    assert "Risk assessment due" in case_page(client, case)


def test_rule_8_the_case_page_says_when_the_review_is_overdue(
    signed_in, caseworker_a, case
):
    assessment = record_risk(case, caseworker_a, next_review_due=timezone.localdate())
    client = signed_in(caseworker_a)
    assert "Risk review overdue" not in case_page(client, case)
    # Set-up: the review date has passed (as if recorded weeks ago).
    RiskAssessment.objects.filter(pk=assessment.pk).update(
        next_review_due=timezone.localdate() - timedelta(days=1)
    )
    assert "Risk review overdue" in case_page(client, case)


def test_the_legal_track_sees_nothing_of_the_section(case, caseworker_a, signed_in):
    prosecutor = team_member(case, Role.PROSECUTOR)
    record_needs(case, caseworker_a)
    client = signed_in(prosecutor)
    page = case_page(client, case)
    assert 'id="assessments"' not in page
    assert "Needs, risks and the support plan" not in page
    for name in ("needs_list", "risk_list", "plan", "needs_new", "plan_edit"):
        assert client.get(url(name, case)).status_code == 403


def test_actions_a_role_may_not_take_are_shown_disabled_with_the_reason(
    signed_in, case
):
    ncp = team_member(case, Role.NATIONAL_CONTACT_POINT)
    page = case_page(signed_in(ncp), case)
    assert url("needs_new", case) in page  # the national contact point assesses
    assert url("plan_edit", case) not in page
    assert 'aria-disabled="true">Write the support and safety plan' in page
    assert "Only these roles on the case may do this:" in page
    assert "There is no draft to sign." not in page  # the role is the reason


def test_a_closed_case_shows_every_action_disabled(signed_in, caseworker_a, case):
    case_close(actor=caseworker_a, case_id=case.pk, reason="goals_met")
    client = signed_in(caseworker_a)
    page = case_page(client, case)
    assert "The case is closed." in page
    assert url("risk_new", case) not in page
    assert client.get(url("risk_new", case)).status_code == 409


def test_sign_is_disabled_until_there_is_a_draft(signed_in, caseworker_a, case):
    client = signed_in(caseworker_a)
    assert "There is no draft to sign." in case_page(client, case)
    save_plan(case, caseworker_a)
    page = case_page(client, case)
    assert url("plan_sign", case) in page


# --- needs ----------------------------------------------------------------------------


def test_the_needs_form_records_an_assessment(signed_in, caseworker_a, case):
    client = signed_in(caseworker_a)
    page = client.get(url("needs_new", case))
    assert page.status_code == 200
    tree = assert_page_basics(html(page))
    assert len(tree.find_all("fieldset")) >= len(IMMEDIATE_DOMAINS)
    response = client.post(url("needs_new", case), needs_form())
    assert response.status_code == 302
    assert response["Location"].endswith("#assessments")
    assessment = NeedsAssessment.objects.get(case=case)
    assert assessment.statuses["safety"] == "met"


def test_the_long_term_form_has_the_long_term_domains(signed_in, caseworker_a, case):
    page = html(signed_in(caseworker_a).get(url("needs_new", case) + "?kind=long_term"))
    assert 'name="status_employment"' in page
    assert 'name="kind" value="long_term"' in page


def test_no_willing_participation_re_displays_the_form_and_keeps_the_notes(
    signed_in, caseworker_a, case
):
    response = signed_in(caseworker_a).post(
        url("needs_new", case), needs_form(willing_participation="no")
    )
    assert response.status_code == 400
    page = html(response)
    assert "Fictional note about a fictional threat" in page
    assert "only with the person" in page
    invalid = assert_invalid_fields_described(assert_page_basics(page))
    assert {e.attrs["name"] for e in invalid} == {"willing_participation"}
    assert not NeedsAssessment.objects.exists()


def test_each_need_without_status_is_marked(signed_in, caseworker_a, case):
    response = signed_in(caseworker_a).post(
        url("needs_new", case), needs_form(status_sleep="", status_food="")
    )
    assert response.status_code == 400
    invalid = assert_invalid_fields_described(assert_page_basics(html(response)))
    assert {e.attrs["name"] for e in invalid} == {"status_sleep", "status_food"}


def test_the_needs_list_shows_notes_and_an_empty_state(signed_in, caseworker_a, case):
    client = signed_in(caseworker_a)
    assert "No needs assessment recorded yet." in html(
        client.get(url("needs_list", case))
    )
    record_needs(case, caseworker_a)
    page = html(client.get(url("needs_list", case)))
    assert "afraid of a fictional recruiter" in page
    assert_page_basics(page)
    erase(case)
    page = html(client.get(url("needs_list", case)))
    assert "can no longer be read" in page
    assert "recruiter" not in page


# --- risk -----------------------------------------------------------------------------


def test_the_risk_form_records_an_assessment(signed_in, caseworker_a, case):
    client = signed_in(caseworker_a)
    page = client.get(url("risk_new", case))
    assert page.status_code == 200
    assert 'value="child_family"' not in html(page)  # an adult
    assert_page_basics(html(page))
    assert client.post(url("risk_new", case), risk_form()).status_code == 302
    assessment = RiskAssessment.objects.get(case=case)
    assert assessment.factors == ["trafficker_threat", "debt"]


def test_the_child_form_offers_the_child_and_family_type(
    signed_in, caseworker_a, child_case
):
    page = html(signed_in(caseworker_a).get(url("risk_new", child_case)))
    assert 'value="child_family"' in page


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"factors": []}, "factors"),
        ({"level": "critical"}, "safety_measures"),
        ({"judgement": ""}, "judgement"),
        ({"next_review_due": "2001-01-01"}, "next_review_due"),
    ],
)
def test_a_refused_risk_assessment_re_displays_with_the_error_on_its_field(
    signed_in, caseworker_a, case, overrides, field
):
    response = signed_in(caseworker_a).post(
        url("risk_new", case), risk_form(**overrides)
    )
    assert response.status_code == 400
    page = html(response)
    assert "Fictional worry" in page
    invalid = assert_invalid_fields_described(assert_page_basics(page))
    assert field in {e.attrs["name"] for e in invalid}
    assert not RiskAssessment.objects.exists()


def test_the_risk_list_shows_the_assessments(signed_in, caseworker_a, case):
    record_risk(case, caseworker_a, level="critical")
    contacts.contact_record(actor=caseworker_a, case_id=case.pk, kind="in_person")
    page = html(signed_in(caseworker_a).get(url("risk_list", case)))
    assert "Critical: danger now" in page
    assert "Fictional judgement of the assessor." in page
    assert "Risk assessment due" in page
    assert_page_basics(page)


def test_forms_refuse_roles_no_access_and_erased_persons(
    signed_in, caseworker_a, caseworker_b, case
):
    assert signed_in(caseworker_b).get(url("risk_new", case)).status_code == 404
    guardian = team_member(case, Role.GUARDIAN)
    assert signed_in(guardian).get(url("needs_new", case)).status_code == 403
    erase(case)
    assert signed_in(caseworker_a).get(url("needs_new", case)).status_code == 409


# --- the plan -------------------------------------------------------------------------


def test_the_plan_form_starts_with_the_interviewers_defaults(
    signed_in, caseworker_a, case
):
    response = signed_in(caseworker_a).get(url("plan_edit", case))
    assert response.status_code == 200
    page = html(response)
    assert_page_basics(page)
    form = response.context["form"]
    assert form["interviewer_organisation"].value() == str(caseworker_a.organisation_id)
    assert form["language"].value() == "ro"
    assert form["interviewer_name"].value()
    assert "guardian_name" not in form.fields  # an adult


def test_writing_saving_and_signing_a_plan(signed_in, caseworker_a, case):
    client = signed_in(caseworker_a)
    response = client.post(url("plan_edit", case), plan_form())
    assert response.status_code == 302
    assert response["Location"] == url("plan", case)
    page = html(client.get(url("plan", case)))
    assert "Fictional Legal Aid Eta" in page
    assert "Version 1: draft, not signed" in page
    assert_page_basics(page)

    sign_page = client.get(url("plan_sign", case))
    assert sign_page.status_code == 200
    assert 'name="number" value="1"' in html(sign_page)
    assert client.post(url("plan_sign", case), {"number": "1"}).status_code == 302
    assert SupportPlanVersion.objects.get(case=case).status == PlanStatus.SIGNED


def test_rule_9_signing_an_incomplete_plan_marks_each_missing_field(
    signed_in, caseworker_a, case
):
    client = signed_in(caseworker_a)
    client.post(
        url("plan_edit", case),
        plan_form(safety_plan="", place="", person_acknowledged=None, step_0_who=""),
    )
    sign_page = html(client.get(url("plan_sign", case)))
    assert "The plan cannot be signed yet" in sign_page
    assert "Safety plan" in sign_page and "Place" in sign_page
    assert 'name="number"' not in sign_page  # no button while fields are missing

    response = client.post(url("plan_sign", case), {"number": "1"})
    assert response.status_code == 409
    page = html(response)
    assert "Fictional needs" in page  # the plan is shown as it is
    invalid = assert_invalid_fields_described(assert_page_basics(page))
    assert {e.attrs["name"] for e in invalid} == {
        "safety_plan",
        "place",
        "person_acknowledged",
        "step_0_who",
    }
    assert SupportPlanVersion.objects.get(case=case).status == PlanStatus.DRAFT


def test_editing_a_signed_plan_starts_a_new_version_without_the_signatures(
    signed_in, caseworker_a, case
):
    save_plan(case, caseworker_a)
    plans.plan_sign(actor=caseworker_a, case_id=case.pk)
    client = signed_in(caseworker_a)
    response = client.get(url("plan_edit", case))
    page = html(response)
    assert "Saving starts version 2" in page
    form = response.context["form"]
    assert form["safety_plan"].value().startswith("Fictional safety plan")
    assert not form["person_acknowledged"].value()
    assert client.post(url("plan_edit", case), plan_form()).status_code == 302
    assert list(
        SupportPlanVersion.objects.filter(case=case)
        .order_by("number")
        .values_list("status", flat=True)
    ) == ["signed", "draft"]
    versions = html(client.get(url("plan_version", case, 1)))
    assert "Version 1: signed on" in versions
    assert url("plan_print", case, 2) in versions


def test_a_bad_plan_is_re_displayed_with_the_error(signed_in, caseworker_a, case):
    response = signed_in(caseworker_a).post(
        url("plan_edit", case), plan_form(person_name="Fictiv\u200bPerson")
    )
    assert response.status_code == 400
    invalid = assert_invalid_fields_described(assert_page_basics(html(response)))
    assert {e.attrs["name"] for e in invalid} == {"person_name"}
    assert not SupportPlanVersion.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"plan_date": "2099-12-31"}, "plan_date"),
        ({"step_0_by": "1900-01-01"}, "step_0_by"),
    ],
)
def test_an_implausible_date_is_shown_next_to_its_field(
    signed_in, caseworker_a, case, change, field
):
    response = signed_in(caseworker_a).post(url("plan_edit", case), plan_form(**change))
    assert response.status_code == 400
    invalid = assert_invalid_fields_described(assert_page_basics(html(response)))
    assert {e.attrs["name"] for e in invalid} == {field}
    assert not SupportPlanVersion.objects.exists()


def test_the_interviewer_organisation_offers_the_team_organisations(
    signed_in, caseworker_a, case, org_b
):
    office = OrganisationFactory(name="Fictional Prosecution Office")
    team_member(case, Role.PROSECUTOR, organisation=office)
    team_member(case, Role.SERVICE_PROVIDER, organisation=org_b)
    response = signed_in(caseworker_a).get(url("plan_edit", case))
    offered = {
        value
        for value, _label in response.context["form"]
        .fields["interviewer_organisation"]
        .choices
    }
    assert offered == {"", str(caseworker_a.organisation_id), str(org_b.pk)}
    assert str(office.pk) in {
        value
        for value, _label in response.context["form"].fields["organisations"].choices
    }


def test_signing_a_draft_with_an_implausible_date_marks_the_field(
    signed_in, caseworker_a, case
):
    save_plan(case, caseworker_a)
    draft = SupportPlanVersion.objects.get(case=case)
    content = selectors.plan_view(case, draft).content
    assert content is not None
    content.plan_date = date(2099, 12, 31)  # as an older draft may hold
    draft.sealed_content = plans._seal(case, draft, content)
    draft.save(update_fields=["sealed_content"])

    response = signed_in(caseworker_a).post(url("plan_sign", case), {"number": "1"})
    assert response.status_code == 409
    page = html(response)
    assert "The date of the plan cannot be in the future." in page
    invalid = assert_invalid_fields_described(assert_page_basics(page))
    assert {e.attrs["name"] for e in invalid} == {"plan_date"}
    assert SupportPlanVersion.objects.get(case=case).status == PlanStatus.DRAFT


def test_the_guardian_fields_appear_for_a_child(signed_in, caseworker_a, child_case):
    response = signed_in(caseworker_a).get(url("plan_edit", child_case))
    assert "guardian_acknowledged" in response.context["form"].fields


def test_an_unknown_version_is_404(signed_in, caseworker_a, case):
    assert signed_in(caseworker_a).get(url("plan_version", case, 7)).status_code == 404


def test_a_plan_of_an_erased_person_can_no_longer_be_read(
    signed_in, caseworker_a, case
):
    save_plan(case, caseworker_a)
    erase(case)
    client = signed_in(caseworker_a)
    page = html(client.get(url("plan", case)))
    assert "can no longer be read" in page
    assert "Fictiv Person" not in page
    assert client.get(url("plan_edit", case)).status_code == 409


# --- printing -------------------------------------------------------------------------


def test_the_printed_plan_has_bulgarian_labels_for_a_bulgarian_speaker(
    signed_in, caseworker_a
):
    case = open_case(
        caseworker_a,
        birth_date=adult_birth_date(),
        family_names=FAMILY_NAME,
        languages=["bg"],
    )
    save_plan(case, caseworker_a)
    assert SupportPlanVersion.objects.get(case=case).language == "bg"
    response = signed_in(caseworker_a).get(url("plan_print", case, 1))
    assert response.status_code == 200
    page = html(response)
    assert '<html lang="bg">' in page
    assert "Организация" in page  # "Organisation"
    assert "Какво" in page  # "What", the planned steps' column
    assert "Fictional safety plan" in page  # typed content as typed
    assert "site-header" not in page and "<nav" not in page
    assert "Draft: not signed" in page or "Чернова" in page
    # The rest of the site stays in the user's language.
    assert '<html lang="en">' in case_page(signed_in(caseworker_a), case)


def test_a_language_without_interface_prints_english_labels_and_says_so(
    signed_in, caseworker_a, case
):
    save_plan(case, caseworker_a, language="sq")
    page = html(signed_in(caseworker_a).get(url("plan_print", case, 1)))
    assert '<html lang="en">' in page
    assert "The labels are in English" in page
    assert "(sq)" in page


def test_label_language_maps_three_letter_codes():
    assert label_language("bul") == "bg"
    assert label_language("ron") == "ro"
    assert label_language("bg") == "bg"
    assert label_language("sqi") is None
    assert label_language("") is None


def test_printing_is_refused_to_the_legal_track(case, caseworker_a, signed_in):
    save_plan(case, caseworker_a, complete_plan())
    prosecutor = team_member(case, Role.PROSECUTOR)
    assert signed_in(prosecutor).get(url("plan_print", case, 1)).status_code == 403


def test_a_deactivated_organisation_stays_in_the_plan_when_edited(
    signed_in, caseworker_a, case, org_b
):
    save_plan(case, caseworker_a, complete_plan(organisation_ids=[org_b.pk]))
    type(org_b).objects.filter(pk=org_b.pk).update(is_active=False)
    client = signed_in(caseworker_a)
    response = client.get(url("plan_edit", case))
    assert response.context["form"]["organisations"].value() == [str(org_b.pk)]
    assert f'value="{org_b.pk}" selected' in html(response)
    saved = client.post(
        url("plan_edit", case), plan_form(organisations=[str(org_b.pk)])
    )
    assert saved.status_code == 302
