"""SOP 1 pages: each form, refusals next to their field, the case page's box."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings
from django.urls import reverse
from tests.test_accessibility import assert_invalid_fields_described, assert_page_basics

from trm.accounts.models import Role, TrmFunction
from trm.accounts.tests.factories import OrganisationFactory, UserFactory
from trm.accounts.tests.helpers import message_texts
from trm.cases.models import Case, CaseEvent, CaseTeamMember
from trm.cases.tests.factories import (
    adult_birth_date,
    open_case,
    set_states,
    team_member,
)
from trm.cases.tracks import ChildProtection, Identification, Reflection
from trm.identification import services
from trm.identification.models import RightsInformation, RightsItem
from trm.screening.services import screening_record
from trm.sop import engine, loader

pytestmark = pytest.mark.django_db

FAMILY_NAME = "Vantrelli-Fictiv"
IDENTIFIED_ITEMS = [
    RightsItem.DECISION_AND_REASONS,
    RightsItem.REFLECTION_PERIOD,
    RightsItem.ASSISTANCE_UNCONDITIONAL,
    RightsItem.LEGAL_COUNSELLING,
]


@pytest.fixture(autouse=True)
def _fresh_definitions():
    loader.clear_cache()
    yield
    loader.clear_cache()


@pytest.fixture
def case(caseworker_a):
    return open_case(
        caseworker_a, birth_date=adult_birth_date(), family_names=FAMILY_NAME
    )


@pytest.fixture
def child_case(caseworker_a):
    return open_case(caseworker_a, birth_date=None, may_be_child=True)


def authority(case: Case):
    """A competent-authority user of an organisation performing the CA function."""
    org = OrganisationFactory(functions=[TrmFunction.COMPETENT_AUTHORITY])
    return team_member(case, Role.COMPETENT_AUTHORITY, organisation=org)


def presumed(case: Case, actor) -> Case:
    return services.presume(actor=actor, case_id=case.pk, reason="Fictional grounds")


def url(name: str, case: Case) -> str:
    return reverse(f"identification:{name}", args=[case.pk])


def html(response) -> str:
    return str(response.content.decode())


def decision_form(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "outcome": Identification.IDENTIFIED,
        "reasons": "Fictional reasons for the decision",
        "informed": [str(i) for i in IDENTIFIED_ITEMS],
        "language": "ro",
        "interpreter": "on",
    }
    data.update(overrides)
    return data


# --- every form renders for a role that may use it ----------------------------------


def _setup(name: str, case: Case, child_case: Case, caseworker_a):
    """Return (actor, case) with the case in a state where ``name`` is possible."""
    if name == "decide":
        presumed(case, caseworker_a)
        return authority(case), case
    if name == "reopen":
        presumed(case, caseworker_a)
        ca = authority(case)
        services.decide(
            actor=ca,
            case_id=case.pk,
            outcome=Identification.NOT_IDENTIFIED,
            reasons="Fictional reasons",
            informed=[
                RightsItem.DECISION_AND_REASONS,
                RightsItem.REVIEW,
                RightsItem.OTHER_SERVICES,
            ],
            language="ro",
        )
        return ca, case
    if name == "no_indication":
        return caseworker_a, set_states(case, identification=Identification.SCREENING)
    if name == "reflection_end":
        presumed(case, caseworker_a)
        return caseworker_a, case
    if name in {"guardian", "child_protection_notice", "age_assessment"}:
        return caseworker_a, child_case
    return caseworker_a, case


@pytest.mark.parametrize(
    "name",
    [
        "presume",
        "decide",
        "reopen",
        "no_indication",
        "rights",
        "reflection_end",
        "possible_child",
        "age_assessment",
        "guardian",
        "child_protection_notice",
        "identity_verification",
        "contact",
        "enforced_removal",
    ],
)
def test_each_form_renders_for_a_role_that_may_use_it(
    name, signed_in, caseworker_a, case, child_case
):
    actor, target = _setup(name, case, child_case, caseworker_a)
    response = signed_in(actor).get(url(name, target))
    assert response.status_code == 200, html(response)
    tree = assert_page_basics(html(response))
    assert tree.find_all("form", method="post")
    assert 'name="csrfmiddlewaretoken"' in html(response)
    assert FAMILY_NAME not in html(response)


def test_a_form_the_state_does_not_allow_says_why(signed_in, caseworker_a, case):
    response = signed_in(caseworker_a).get(url("reflection_end", case))
    assert response.status_code == 409
    assert "No reflection and recovery period is running." in html(response)


def test_a_role_that_may_not_act_gets_403(signed_in, case):
    prosecutor = team_member(case, Role.PROSECUTOR)
    response = signed_in(prosecutor).get(url("presume", case))
    assert response.status_code == 403


def test_a_case_the_user_may_not_see_is_404(signed_in, caseworker_b, case):
    assert signed_in(caseworker_b).get(url("presume", case)).status_code == 404


# --- presume ------------------------------------------------------------------------


def test_presume_page_says_reasons_are_needed_without_a_positive_screening(
    signed_in, caseworker_a, case
):
    page = html(signed_in(caseworker_a).get(url("presume", case)))
    assert "No screening of this case suggests referral yet" in page


def test_a_screening_suggesting_referral_makes_the_reasons_optional(
    signed_in, caseworker_a, case
):
    present = {"value": "present", "evidence": "observed"}
    screening = screening_record(
        actor=caseworker_a,
        case_id=case.pk,
        exploitation=["labour"],
        responses=dict.fromkeys(
            (
                "al.d1.deceived_nature_of_job",
                "al.d1.deceived_wages",
                "al.d4.excessive_working_hours",
                "al.d4.low_or_no_salary",
                "al.d5.debt_bondage",
                "al.d5.confiscation_of_documents",
            ),
            present,
        ),
    )
    assert screening.result == "refer"
    client = signed_in(caseworker_a)
    page = html(client.get(url("presume", case)))
    assert "The latest screening of this case suggests referral" in page
    assert client.post(url("presume", case), {"reason": ""}).status_code == 302
    case.refresh_from_db()
    assert case.identification == Identification.PRESUMED


def test_presume_without_reasons_redisplays_with_the_message_at_the_field(
    signed_in, caseworker_a, case
):
    response = signed_in(caseworker_a).post(url("presume", case), {"reason": "  "})
    assert response.status_code == 400
    tree = assert_page_basics(html(response))
    invalid = assert_invalid_fields_described(tree)
    assert {e.attrs["name"] for e in invalid} == {"reason"}
    assert "give the reasons for your professional judgement" in html(response)
    case.refresh_from_db()
    assert case.identification == Identification.SIGNAL_RECEIVED


def test_presume_redirects_and_the_case_page_shows_it_with_the_removal_block(
    signed_in, caseworker_a, case
):
    client = signed_in(caseworker_a)
    response = client.post(url("presume", case), {"reason": "Fictional grounds"})
    assert response.status_code == 302
    assert response["Location"] == (
        reverse("cases:detail", args=[case.pk]) + "#identification"
    )
    case.refresh_from_db()
    assert case.identification == Identification.PRESUMED
    page = client.get(response["Location"])
    assert "The person is recorded as a presumed trafficked person." in (
        message_texts(page)
    )
    text = html(page)
    assert 'id="removal-block"' in text
    assert "Do not remove this person from the country." in text
    assert "The formal identification decision is pending" in text
    assert "The reflection and recovery period runs until" in text
    # The decision is not this case manager's to take.
    assert url("decide", case) not in text


# --- the formal decision -------------------------------------------------------------


def test_a_caseworker_who_is_not_competent_authority_gets_403_and_nothing_is_recorded(
    signed_in, caseworker_a, case
):
    presumed(case, caseworker_a)
    # On the team as competent authority, but their organisation is not a CA body.
    other = team_member(case, Role.COMPETENT_AUTHORITY)
    for user in (caseworker_a, other):
        client = signed_in(user)
        assert client.get(url("decide", case)).status_code == 403
        response = client.post(url("decide", case), decision_form())
        assert response.status_code == 403
        assert "competent authority" in html(response)
    case.refresh_from_db()
    assert case.identification == Identification.PRESUMED
    assert not RightsInformation.objects.filter(case=case).exists()


def test_decision_form_marks_required_items_and_offers_the_persons_language_first(
    signed_in, caseworker_a, case
):
    presumed(case, caseworker_a)
    page = html(signed_in(authority(case)).get(url("decide", case)))
    assert "(required for both decisions)" in page
    assert "(required if identified)" in page
    assert "(required if not identified)" in page
    options = page.split('id="id_language"')[1]
    assert options.index('value="ro"') < options.index('value="en"')


def test_decision_missing_checklist_items_keeps_what_was_typed(
    signed_in, caseworker_a, case
):
    presumed(case, caseworker_a)
    response = signed_in(authority(case)).post(
        url("decide", case),
        decision_form(
            informed=[RightsItem.DECISION_AND_REASONS],
            reasons="Fictional typed reasons",
        ),
    )
    assert response.status_code == 400
    text = html(response)
    assert "The person must be told" in text
    assert "Fictional typed reasons" in text
    invalid = assert_invalid_fields_described(assert_page_basics(text))
    assert {e.attrs["name"] for e in invalid} == {"informed"}
    case.refresh_from_db()
    assert case.identification == Identification.PRESUMED


def test_the_competent_authority_records_the_decision(signed_in, caseworker_a, case):
    presumed(case, caseworker_a)
    ca = authority(case)
    client = signed_in(ca)
    response = client.post(url("decide", case), decision_form())
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.identification == Identification.IDENTIFIED
    info = RightsInformation.objects.get(case=case)
    assert info.language == "ro" and info.interpreter
    page = html(client.get(reverse("cases:detail", args=[case.pk])))
    assert "Identified trafficked person" in page
    assert "The identification decision is recorded." in page


# --- other actions -------------------------------------------------------------------


def test_early_end_of_reflection_needs_written_reasons(signed_in, caseworker_a, case):
    presumed(case, caseworker_a)
    ca = authority(case)
    client = signed_in(ca)
    page = html(client.get(url("reflection_end", case)))
    assert 'value="public_order"' in page
    assert 'value="expired"' not in page  # the last day has not passed
    response = client.post(
        url("reflection_end", case), {"reason": "public_order", "detail": ""}
    )
    assert response.status_code == 400
    invalid = assert_invalid_fields_described(assert_page_basics(html(response)))
    assert {e.attrs["name"] for e in invalid} == {"detail"}
    assert "An early end needs written reasons." in html(response)
    response = client.post(
        url("reflection_end", case),
        {"reason": "public_order", "detail": "Fictional written reasons"},
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.reflection == Reflection.ENDED_EARLY


def test_case_manager_is_offered_only_the_persons_decision_as_end_reasons(
    signed_in, caseworker_a, case
):
    presumed(case, caseworker_a)
    page = html(signed_in(caseworker_a).get(url("reflection_end", case)))
    assert 'value="decided_to_cooperate"' in page
    assert 'value="public_order"' not in page


def test_rights_information_is_recorded(signed_in, caseworker_a, case):
    response = signed_in(caseworker_a).post(
        url("rights", case),
        {
            "context": "reflection_period",
            "informed": [
                RightsItem.REFLECTION_PERIOD,
                RightsItem.ASSISTANCE_UNCONDITIONAL,
            ],
            "language": "ro",
        },
    )
    assert response.status_code == 302
    assert RightsInformation.objects.get(case=case).context == "reflection_period"


def test_rights_information_without_language_points_at_the_language(
    signed_in, caseworker_a, case
):
    response = signed_in(caseworker_a).post(
        url("rights", case),
        {
            "context": "reflection_period",
            "informed": [
                RightsItem.REFLECTION_PERIOD,
                RightsItem.ASSISTANCE_UNCONDITIONAL,
            ],
            "language": "",
        },
    )
    assert response.status_code == 400
    tree = assert_page_basics(html(response))
    invalid = assert_invalid_fields_described(tree)
    assert {e.attrs["name"] for e in invalid} == {"language"}
    ticked = [
        e.attrs["value"]
        for e in tree.find_all("input", name="informed")
        if "checked" in e.attrs
    ]
    assert sorted(ticked) == ["assistance_unconditional", "reflection_period"]


def test_mark_possible_child_then_appoint_a_guardian_who_joins_the_team(
    signed_in, caseworker_a, case
):
    client = signed_in(caseworker_a)
    assert client.post(url("possible_child", case), {"reason": ""}).status_code == 302
    case.refresh_from_db()
    assert case.person.presumed_child
    assert case.child_protection == ChildProtection.GUARDIAN_REQUESTED
    guardian = UserFactory(
        organisation=case.lead_organisation,
        roles=[Role.GUARDIAN],
        last_name="Guardianova",
    )
    page = html(client.get(url("guardian", case)))
    assert "Guardianova" in page
    response = client.post(url("guardian", case), {"guardian": str(guardian.pk)})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.child_protection == ChildProtection.GUARDIAN_APPOINTED
    assert CaseTeamMember.objects.filter(
        case=case, user=guardian, role=Role.GUARDIAN
    ).exists()


def test_age_assessment_needs_a_method(signed_in, caseworker_a, child_case):
    client = signed_in(caseworker_a)
    response = client.post(
        url("age_assessment", child_case), {"outcome": "adult", "method": ""}
    )
    assert response.status_code == 400
    assert "Say how age was assessed." in html(response)
    assert "checked" in html(response)  # the chosen outcome is kept
    response = client.post(
        url("age_assessment", child_case),
        {"outcome": "adult", "method": "Fictional documents"},
    )
    assert response.status_code == 302
    child_case.refresh_from_db()
    assert not child_case.person.presumed_child


def test_child_protection_notice_needs_the_authority(
    signed_in, caseworker_a, child_case
):
    client = signed_in(caseworker_a)
    response = client.post(url("child_protection_notice", child_case), {})
    assert response.status_code == 400
    assert "Name the child-protection authority notified." in html(response)
    response = client.post(
        url("child_protection_notice", child_case),
        {"authority": "Fictional Child Agency"},
    )
    assert response.status_code == 302
    assert CaseEvent.objects.filter(
        case=child_case, kind="sop1.child_protection_notified"
    ).exists()


def test_asylum_applicant_origin_channels_are_disabled_and_refused(
    signed_in, caseworker_a
):
    case = open_case(caseworker_a, asylum_applicant=True)
    client = signed_in(caseworker_a)
    page = html(client.get(url("identity_verification", case)))
    assert "applied for international protection" in page
    assert page.count("disabled") == 3
    response = client.post(url("identity_verification", case), {"channel": "consulate"})
    assert response.status_code == 400
    invalid = assert_invalid_fields_described(assert_page_basics(html(response)))
    assert {e.attrs["name"] for e in invalid} == {"channel"}
    assert not CaseEvent.objects.filter(
        case=case, kind="sop1.identity_verification_requested"
    ).exists()
    response = client.post(url("identity_verification", case), {"channel": "domestic"})
    assert response.status_code == 302


def test_contact_then_risk_review(signed_in, caseworker_a, case):
    client = signed_in(caseworker_a)
    assert client.post(url("contact", case), {"kind": "phone"}).status_code == 302
    risk = reverse("assessments:risk_new", args=[case.pk])
    form = {
        "risk_type": "ongoing",
        "involvement": "involved",
        "no_risk_factor": "on",
        "judgement": "Fictional judgement",
    }
    bad = client.post(risk, {**form, "level": "extreme"})
    assert bad.status_code == 400
    good = client.post(risk, {**form, "level": "low"})
    assert good.status_code == 302
    kinds = list(
        CaseEvent.objects.filter(case=case, kind__startswith="sop1.").values_list(
            "kind", flat=True
        )
    )
    assert "sop1.contact_recorded" in kinds
    assert "sop1.risk_assessment_reviewed" in kinds


def test_no_indication_needs_the_information_given(signed_in, caseworker_a, case):
    set_states(case, identification=Identification.SCREENING)
    client = signed_in(caseworker_a)
    response = client.post(url("no_indication", case), {"note": "Fictional note"})
    assert response.status_code == 400
    assert "Fictional note" in html(response)
    invalid = assert_invalid_fields_described(assert_page_basics(html(response)))
    assert {e.attrs["name"] for e in invalid} == {"information_given"}
    response = client.post(url("no_indication", case), {"information_given": "on"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.identification == Identification.NO_INDICATION


def test_reopen_on_new_evidence(signed_in, caseworker_a, case):
    ca, case = _setup("reopen", case, case, caseworker_a)
    response = signed_in(ca).post(url("reopen", case), {"reason": "Fictional evidence"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.identification == Identification.PRESUMED


def test_enforced_removal_is_refused_with_the_block_reasons(
    signed_in, caseworker_a, case
):
    presumed(case, caseworker_a)
    client = signed_in(caseworker_a)
    page = html(client.get(url("enforced_removal", case)))
    assert "The formal identification decision is pending" in page
    assert 'name="legal_basis"' not in page  # nothing to submit while blocked
    response = client.post(
        url("enforced_removal", case), {"legal_basis": "Fictional order"}
    )
    assert response.status_code == 400
    assert "CETS Art. 10(2)" in html(response)
    assert not CaseEvent.objects.filter(
        case=case, kind="sop1.enforced_removal_recorded"
    ).exists()


def test_enforced_removal_is_recorded_when_nothing_blocks_it(
    signed_in, caseworker_a, case
):
    response = signed_in(caseworker_a).post(
        url("enforced_removal", case), {"legal_basis": "Fictional order"}
    )
    assert response.status_code == 302
    assert CaseEvent.objects.filter(
        case=case, kind="sop1.enforced_removal_recorded"
    ).exists()


# --- the case page ------------------------------------------------------------------


def test_case_page_lists_only_the_actions_the_user_may_take_now(
    signed_in, caseworker_a, case
):
    page = html(signed_in(caseworker_a).get(reverse("cases:detail", args=[case.pk])))
    assert url("presume", case) in page
    assert url("decide", case) not in page
    assert url("reflection_end", case) not in page
    assert url("guardian", case) not in page
    assert "removal-block" not in page
    presumed(case, caseworker_a)
    ca_page = html(
        signed_in(authority(case)).get(reverse("cases:detail", args=[case.pk]))
    )
    assert url("decide", case) in ca_page
    assert url("presume", case) not in ca_page
    # Blocked: the action is shown with why instead of a link.
    assert url("enforced_removal", case) not in ca_page
    assert "Not possible now:" in ca_page


def test_case_page_explains_the_verification_limit_for_an_asylum_applicant(
    signed_in, caseworker_a
):
    case = open_case(caseworker_a, asylum_applicant=True)
    page = html(signed_in(caseworker_a).get(reverse("cases:detail", args=[case.pk])))
    assert url("identity_verification", case) in page
    assert "Only domestic registers can be used." in page


def test_sop_panel_on_the_case_page_shows_the_reflection_periods_last_day(
    signed_in, caseworker_a, case
):
    presumed(case, caseworker_a)
    events = engine.events_for_cases([case.pk])[case.pk]
    window = engine.reflection_window(case, events, loader.get_definition())
    assert window is not None
    last_day = window.ends_on.isoformat()
    page = html(signed_in(caseworker_a).get(reverse("cases:detail", args=[case.pk])))
    assert 'id="sop"' in page
    assert page.count(f'<time datetime="{last_day}">') >= 2  # box and panel
    assert "Reflection and recovery period" in page
    for number in range(1, 6):
        assert f"SOP {number}:" in page
    assert_page_basics(page)


def test_an_example_variant_is_marked_as_such(signed_in, caseworker_a, case):
    with override_settings(TRM_SOP_VARIANT="ro"):
        loader.clear_cache()
        page = html(
            signed_in(caseworker_a).get(reverse("cases:detail", args=[case.pk]))
        )
    assert "Romania — example variant (not verified)" in page
    assert "have not been verified" in page


def test_the_reflection_box_counts_the_days_left(signed_in, caseworker_a, case):
    presumed(case, caseworker_a)
    page = html(signed_in(caseworker_a).get(reverse("cases:detail", args=[case.pk])))
    days = loader.get_definition().setting("reflection_period.days")
    assert f"Running: {days} days left" in page
