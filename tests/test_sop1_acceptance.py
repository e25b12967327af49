"""The issue's "done when", end to end through the API and the case page.

An adult screened on the labour list with, in D1, one strong and one medium
indicator, in D4 one strong and one medium, and in D5 two strong gets "refer";
the same answers without D4 do not. A case taken through screening →
presumed → identified shows the reflection period's last day on its SOP panel
according to the node's variant (reasonable grounds in the baseline, formal
identification in Bulgaria).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from conftest import sign_in_verified
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from trm.accounts.models import Role, TrmFunction
from trm.accounts.tests.factories import OrganisationFactory, UserFactory
from trm.cases.tests.factories import adult_birth_date, open_case, team_member
from trm.sop import loader

pytestmark = pytest.mark.django_db

ANSWERS = {
    "al.d1.deceived_nature_of_job": "S",
    "al.d1.deceived_wages": "M",
    "al.d4.excessive_working_hours": "S",
    "al.d4.low_or_no_salary": "M",
    "al.d5.confiscation_of_documents": "S",
    "al.d5.debt_bondage": "S",
}
RIGHTS = [
    "decision_and_reasons",
    "reflection_period",
    "assistance_unconditional",
    "legal_counselling",
]


@pytest.fixture(autouse=True)
def _fresh_definitions():
    loader.clear_cache()
    yield
    loader.clear_cache()


class Api:
    def __init__(self, user: Any) -> None:
        self.client = Client()
        sign_in_verified(self.client, user)

    def get(self, path: str) -> Any:
        return self.client.get(f"/api/v1{path}")

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(f"/api/v1{path}", body, content_type="application/json")


def responses(ids: list[str]) -> dict[str, dict[str, str]]:
    return {i: {"value": "present", "evidence": "observed"} for i in ids}


@pytest.fixture
def fcp():
    org = OrganisationFactory(name="Fictional Police FCP", functions=["FCP"])
    return UserFactory(organisation=org, roles=[Role.FIRST_CONTACT_POINT])


def test_the_issues_screening_example_refers_and_without_d4_does_not(fcp):
    case = open_case(fcp, birth_date=adult_birth_date())
    api = Api(fcp)
    with_d4 = api.post(
        f"/cases/{case.pk}/screening",
        {"exploitation": ["labour"], "responses": responses(list(ANSWERS))},
    )
    assert with_d4.status_code == 201, with_d4.content
    assert with_d4.json()["result"] == "refer"
    assert "victim" not in with_d4.json()["result_text"].lower()

    other = open_case(fcp, birth_date=adult_birth_date())
    without_d4 = api.post(
        f"/cases/{other.pk}/screening",
        {
            "exploitation": ["labour"],
            "responses": responses([i for i in ANSWERS if ".d4." not in i]),
        },
    )
    assert without_d4.status_code == 201, without_d4.content
    assert without_d4.json()["result"] != "refer"


def _walk_to_identified(fcp, authority_functions: list[str]):
    """Screen on day 0 (refer), presume on day 0, identify on day 10."""
    case = open_case(fcp, birth_date=adult_birth_date())
    api = Api(fcp)
    assert (
        api.post(
            f"/cases/{case.pk}/screening",
            {"exploitation": ["labour"], "responses": responses(list(ANSWERS))},
        ).status_code
        == 201
    )
    presumed = api.post(f"/cases/{case.pk}/identification/presume", {})
    assert presumed.status_code == 200, presumed.content
    authority = team_member(
        case,
        Role.COMPETENT_AUTHORITY,
        organisation=OrganisationFactory(functions=authority_functions),
    )
    with time_machine.travel(timezone.now() + timedelta(days=10), tick=False):
        decided = Api(authority).post(
            f"/cases/{case.pk}/identification/decision",
            {
                "outcome": "identified",
                "reasons": "Fictional reasons",
                "informed": RIGHTS,
                "language": "ro",
                "interpreter": True,
            },
        )
        assert decided.status_code == 200, decided.content
    return case


def _reflection(fcp, case) -> tuple[str, str]:
    body = Api(fcp).get(f"/cases/{case.pk}/sop").json()
    step = next(
        s
        for sop in body["sops"]
        for s in sop["steps"]
        if s["id"] == "sop1.reflection_period"
    )
    return step["due_on"], body["variant"]


def test_the_sop_panel_shows_the_reflection_period_under_two_variants(fcp, signed_in):
    today = timezone.localdate()
    # Baseline: the period starts at reasonable grounds (presumed, day 0).
    case = _walk_to_identified(fcp, [TrmFunction.COMPETENT_AUTHORITY])
    due, variant = _reflection(fcp, case)
    assert (variant, due) == ("baseline", (today + timedelta(days=30)).isoformat())
    page = signed_in(fcp).get(reverse("cases:detail", args=[case.pk]))
    assert (
        date_format(today + timedelta(days=30), "DATE_FORMAT") in page.content.decode()
    )

    # Bulgaria: the prosecution service identifies, and the 30 days start at
    # formal identification (day 10).
    with override_settings(TRM_SOP_VARIANT="bg"):
        loader.clear_cache()
        bg_case = _walk_to_identified(fcp, [TrmFunction.PROSECUTION])
        due, variant = _reflection(fcp, bg_case)
        assert (variant, due) == ("bg", (today + timedelta(days=40)).isoformat())
        page = signed_in(fcp).get(reverse("cases:detail", args=[bg_case.pk]))
        html = page.content.decode()
        assert date_format(today + timedelta(days=40), "DATE_FORMAT") in html
        assert "Bulgaria" in html


def test_an_example_variant_says_so_on_the_panel(fcp, signed_in):
    with override_settings(TRM_SOP_VARIANT="md"):
        loader.clear_cache()
        case = open_case(fcp, birth_date=adult_birth_date())
        html = signed_in(fcp).get(reverse("cases:detail", args=[case.pk])).content
        assert b"have not been verified" in html
