"""The screening pages: the form (kept on errors, child lists, flags), the result,
the list, and the block on the case page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import NoReverseMatch, reverse
from tests.test_accessibility import assert_invalid_fields_described, assert_page_basics

from trm.accounts.models import Role
from trm.accounts.tests.factories import UserFactory
from trm.accounts.tests.helpers import message_texts
from trm.audit.models import AuditEntry
from trm.cases.tests.factories import open_case, set_states, team_member
from trm.cases.tracks import Identification
from trm.screening import views
from trm.screening.instrument import load_instrument
from trm.screening.models import Screening
from trm.screening.services import screening_record

pytestmark = pytest.mark.django_db

REFER = {
    "al.d1.deceived_nature_of_job": "observed",
    "al.d1.deceived_wages": "self_reported",
    "al.d4.excessive_working_hours": "observed",
    "al.d4.low_or_no_salary": "documented",
    "al.d5.debt_bondage": "observed",
    "al.d5.confiscation_of_documents": "observed",
}


@pytest.fixture
def fcp(org_a):
    return UserFactory(
        username="fcp-a", organisation=org_a, roles=[Role.FIRST_CONTACT_POINT]
    )


@pytest.fixture
def case(fcp):
    return open_case(fcp)


def new_url(case: Any, *kinds: str) -> str:
    query = "&".join(f"exploitation={k}" for k in kinds)
    return reverse("screening:new", args=[case.pk]) + (f"?{query}" if query else "")


def post_data(
    answers: dict[str, str],
    *,
    kinds: tuple[str, ...] = ("labour",),
    extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"exploitation": list(kinds), "note": ""}
    for indicator_id, evidence in answers.items():
        data[f"i-{indicator_id}"] = "present"
        data[f"e-{indicator_id}"] = evidence
    data.update(extra or {})
    return data


def checked(html: str, name: str) -> str | None:
    """Return the value of the checked radio button called ``name``."""
    for tag in re.findall(r"<input [^>]*>", html):
        if f'name="{name}"' in tag and " checked" in tag:
            match = re.search(r'value="([^"]*)"', tag)
            return match.group(1) if match else None
    return None


def selected(html: str, name: str) -> str | None:
    """Return the selected option of the select called ``name``."""
    block = html.split(f'<select name="{name}"')[1].split("</select>")[0]
    match = re.search(r'<option value="([^"]*)" selected>', block)
    return match.group(1) if match else None


def _descendants(element: Any, tag: str) -> list[Any]:
    found = []
    for child in element.children:
        if child.tag == tag:
            found.append(child)
        found += _descendants(child, tag)
    return found


def test_form_has_jump_links_to_each_list_and_dimension(signed_in, fcp, case):
    html = signed_in(fcp).get(new_url(case, "labour", "sexual")).content.decode()
    tree = assert_page_basics(html)
    ids = tree.by_id()
    nav = ids["form-sections"]
    hrefs = [a.attrs["href"] for a in _descendants(nav, "a")]
    assert "#list-adult_labour" in hrefs
    assert "#list-adult_sexual" in hrefs
    assert "#adult_labour-D1" in hrefs and "#adult_labour-D6" in hrefs
    assert "#screening-note" in hrefs
    for href in hrefs:
        assert href[1:] in ids, f"{href} points nowhere"
    assert html.index('id="form-sections"') < html.index('id="list-adult_labour"')
    assert 'href="#form-sections"' in html  # and back, after each list


def test_form_keeps_the_session_alive_while_answering(signed_in, fcp, case):
    html = signed_in(fcp).get(new_url(case)).content.decode()
    assert f'data-keep-alive="{reverse("accounts:keep_alive")}"' in html


def test_form_shows_the_adult_labour_list_with_flags(signed_in, fcp, case):
    response = signed_in(fcp).get(new_url(case))
    assert response.status_code == 200
    html = response.content.decode()
    assert_page_basics(html)
    instrument = load_instrument()
    for indicator in instrument.get_list("adult_labour").indicators:
        assert f'name="i-{indicator.id}"' in html
        assert f'name="e-{indicator.id}"' in html
    assert 'name="i-cl.' not in html
    assert 'name="i-as.' not in html
    assert "not verified" in html
    assert "Not verified against the ILO source" in html
    assert "The adult lists are used" in html
    assert "Grade disputed" in html
    for indicator in instrument.get_list("adult_labour").indicators:
        assert checked(html, f"i-{indicator.id}") == "not_assessed"
        assert selected(html, f"e-{indicator.id}") == ""


def test_form_for_a_presumed_child_uses_and_says_child_lists(signed_in, fcp):
    child_case = open_case(fcp, may_be_child=True)
    response = signed_in(fcp).get(new_url(child_case, "labour", "sexual"))
    html = response.content.decode()
    assert_page_basics(html)
    assert "The person is or may be a child, so the child lists are used." in html
    assert 'name="i-cl.d4.hazardous_work"' in html
    assert 'name="i-cs.d1.deceived_conditions_of_prostitution"' in html
    assert 'name="i-al.' not in html
    assert 'name="f-recruitment_act"' in html


def test_sexual_list_is_flagged_without_scoring(signed_in, fcp, case):
    html = signed_in(fcp).get(new_url(case, "sexual")).content.decode()
    assert 'name="i-as.d5.forced_tasks_or_clients"' in html
    assert 'name="i-al.' not in html
    assert "no automatic scoring" in html


def test_recording_redirects_to_the_result(signed_in, fcp, case):
    client = signed_in(fcp)
    response = client.post(
        new_url(case), post_data(REFER, extra={"note": "Fictiv note"})
    )
    screening = Screening.objects.get(case=case)
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "screening:detail", args=[case.pk, screening.pk]
    )
    assert screening.result == "refer"
    page = client.get(response["Location"])
    html = page.content.decode()
    assert_page_basics(html)
    assert (
        "Indicators suggest a presumed trafficked person — refer to the competent "
        "authority"
    ) in html
    assert "Deceived about wages or earnings" in html
    assert "Self-reported" in html
    assert "Fictiv note" in html
    assert "not verified" in html
    assert "victim" not in html.lower()


def test_error_redisplays_the_form_keeping_every_answer(signed_in, fcp, case):
    answers = dict(REFER)
    answers["al.d1.deceived_wages"] = ""  # present without evidence
    data = post_data(
        answers,
        extra={
            "i-al.d2.debt_bondage": "absent",
            "e-al.d2.debt_bondage": "documented",
            # Not assessed, yet with evidence.
            "i-al.d6.dependency_on_exploiters": "not_assessed",
            "e-al.d6.dependency_on_exploiters": "observed",
            "note": "Fictiv kept note",
        },
    )
    response = signed_in(fcp).post(new_url(case), data)
    assert response.status_code == 400
    assert not Screening.objects.exists()
    html = response.content.decode()
    tree = assert_page_basics(html)
    assert assert_invalid_fields_described(tree)
    assert "The screening was not recorded" in " ".join(message_texts(response))
    summary = tree.by_id()["form-errors"]
    links = {a.attrs["href"]: a.all_text() for a in _descendants(summary, "a")}
    assert links == {
        "#row-al.d1.deceived_wages": "Deceived about wages or earnings (D1)",
        "#row-al.d6.dependency_on_exploiters": "Dependency on exploiters (D6)",
    }
    assert list(links) == sorted(links)  # in the form's order (D1 before D6)
    for anchor in links:
        assert anchor[1:] in tree.by_id()
    # Beside each answer, what is wrong with it; no internal ids anywhere.
    errors = tree.by_id()["id_e-al.d1.deceived_wages_error"].all_text()
    assert errors.startswith("Say how a present indicator was learned")
    assert "Leave the evidence empty" in summary.all_text()
    assert "al.d" not in summary.all_text()
    assert not re.search(r'class="error">[^<]*al\.d', html)
    for indicator_id, evidence in answers.items():
        assert checked(html, f"i-{indicator_id}") == "present"
        assert selected(html, f"e-{indicator_id}") == evidence
    assert checked(html, "i-al.d2.debt_bondage") == "absent"
    assert selected(html, "e-al.d2.debt_bondage") == "documented"
    assert checked(html, "i-al.d3.general_context") == "not_assessed"
    assert "Fictiv kept note" in html


def test_error_summary_links_to_a_fact_and_the_note_in_error(signed_in, fcp):
    child_case = open_case(fcp, may_be_child=True)
    data = post_data({}, extra={"f-recruitment_act": "perhaps", "note": "x" * 5001})
    response = signed_in(fcp).post(new_url(child_case), data)
    assert response.status_code == 400
    tree = assert_page_basics(response.content.decode())
    ids = tree.by_id()
    hrefs = [a.attrs["href"] for a in _descendants(ids["form-errors"], "a")]
    assert hrefs == ["#fact-recruitment_act", "#id_note"]
    assert all(href[1:] in ids for href in hrefs)


def test_unknown_indicator_posted_is_ignored_by_the_form_not_scored(
    signed_in, fcp, case
):
    # Field names outside the lists are not part of the form: only the lists'
    # indicators reach the service.
    data = post_data(REFER, extra={"i-al.d1.made_up": "present"})
    response = signed_in(fcp).post(new_url(case), data)
    assert response.status_code == 302


def test_role_that_does_not_screen_gets_403(signed_in, case):
    prosecutor = team_member(case, Role.PROSECUTOR)
    response = signed_in(prosecutor).get(new_url(case))
    assert response.status_code == 403


def test_other_users_case_is_404(signed_in, caseworker_b, case):
    client = signed_in(caseworker_b)
    assert client.get(new_url(case)).status_code == 404
    assert client.get(reverse("screening:list", args=[case.pk])).status_code == 404


def test_list_and_case_page_show_the_latest_result(signed_in, fcp, case):
    screening_record(
        actor=fcp,
        case_id=case.pk,
        exploitation=["labour"],
        responses={},
    )
    client = signed_in(fcp)
    listing = client.get(reverse("screening:list", args=[case.pk]))
    assert listing.status_code == 200
    assert_page_basics(listing.content.decode())
    assert "Continue the assessment" in listing.content.decode()
    page = client.get(reverse("cases:detail", args=[case.pk]))
    html = page.content.decode()
    assert 'id="screening"' in html
    assert 'id="latest-screening"' in html
    assert "Continue the assessment" in html
    assert reverse("screening:new", args=[case.pk]) in html


def test_detail_page_for_a_prosecutor_shows_the_result_without_the_answers(
    signed_in, fcp, case
):
    screening = screening_record(
        actor=fcp,
        case_id=case.pk,
        exploitation=["labour"],
        responses={k: {"value": "present", "evidence": v} for k, v in REFER.items()},
        note="Fictiv note of the assessor",
    )
    prosecutor = team_member(case, Role.PROSECUTOR)
    url = reverse("screening:detail", args=[case.pk, screening.pk])
    response = signed_in(prosecutor).get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert_page_basics(html)
    assert 'id="recommended-action"' in html
    assert 'id="answers-withheld"' in html
    assert "Fictiv note of the assessor" not in html
    assert "Debt bondage" not in html
    assert "How it was learned" not in html
    assert not AuditEntry.objects.filter(action="screening.read").exists()
    # The same page for the first contact point who screened shows everything.
    own = signed_in(fcp).get(url).content.decode()
    assert "Fictiv note of the assessor" in own
    assert 'id="answers-withheld"' not in own


def test_case_page_without_screening_offers_a_new_one(signed_in, fcp, case):
    html = signed_in(fcp).get(reverse("cases:detail", args=[case.pk])).content.decode()
    assert "No screening recorded yet." in html
    assert reverse("screening:new", args=[case.pk]) in html


def test_case_page_hides_new_screening_from_roles_that_do_not_screen(signed_in, case):
    guardian = team_member(case, Role.GUARDIAN)
    html = (
        signed_in(guardian)
        .get(reverse("cases:detail", args=[case.pk]))
        .content.decode()
    )
    assert 'id="screening"' in html
    assert reverse("screening:new", args=[case.pk]) not in html


def test_presume_link_is_left_out_while_the_url_does_not_exist(
    signed_in, fcp, case, monkeypatch
):
    screening = screening_record(
        actor=fcp, case_id=case.pk, exploitation=["labour"], responses={}
    )

    def without_identification(name: str, *args: Any, **kwargs: Any) -> str:
        if name.startswith("identification:"):
            raise NoReverseMatch(name)
        return reverse(name, *args, **kwargs)

    monkeypatch.setattr("trm.screening.views.reverse", without_identification)
    client = signed_in(fcp)
    detail = client.get(reverse("screening:detail", args=[case.pk, screening.pk]))
    assert detail.status_code == 200
    assert "Record as presumed trafficked person" not in detail.content.decode()
    page = client.get(reverse("cases:detail", args=[case.pk]))
    assert page.status_code == 200
    section = page.content.decode().split('id="screening"')[1].split("</section>")[0]
    assert "Record as presumed trafficked person" not in section


def test_presume_link_is_offered_when_the_url_exists(case, fcp):
    set_states(case, identification=Identification.SCREENING)
    try:
        expected = reverse("identification:presume", args=[case.pk])
    except NoReverseMatch:
        assert views.presume_url(case) is None
    else:
        assert views.presume_url(case) == expected
    set_states(case, identification=Identification.PRESUMED)
    assert views.presume_url(case) is None


def test_closed_case_form_is_refused(signed_in, fcp, case, caseworker_a):
    from trm.cases import services as cases

    cases.case_team_add(
        actor=fcp, case_id=case.pk, user_id=caseworker_a.pk, role=Role.CASE_MANAGER
    )
    cases.case_close(actor=caseworker_a, case_id=case.pk, reason="goals_met")
    assert signed_in(fcp).get(new_url(case)).status_code == 409
