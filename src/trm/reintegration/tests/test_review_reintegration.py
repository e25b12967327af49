"""Review tests (issue 7): bad input to the reintegration plan.
All data is synthetic and fictional."""

from __future__ import annotations

import json
from datetime import date

import pytest

from trm.common.errors import DomainError
from trm.reintegration import services
from trm.reintegration.tests.helpers import origin_case

pytestmark = pytest.mark.django_db


def test_review_a_plan_starting_in_year_9999_is_a_clear_refusal(org_a):
    """check_date has no upper bound; add_months overflows (ValueError) and
    the API answers 500 instead of cases.invalid_input."""
    case, provider = origin_case()
    with pytest.raises(DomainError):
        services.reintegration_plan_record(
            actor=provider,
            case_id=case.pk,
            starts_on=date(9999, 6, 1),
            services=["shelter"],
            goals="Fictional goals",
            case_manager_function="Social worker",
        )


def test_review_the_api_answers_a_structured_error_not_500(org_a, signed_in):
    case, provider = origin_case()
    client = signed_in(provider)
    client.raise_request_exception = False
    answer = client.post(
        f"/api/v1/cases/{case.pk}/reintegration/plan",
        json.dumps(
            {
                "starts_on": "9999-06-01",
                "services": ["shelter"],
                "goals": "Fictional goals",
                "case_manager_function": "Social worker",
            }
        ),
        content_type="application/json",
    )
    assert answer.status_code == 400, answer.status_code
