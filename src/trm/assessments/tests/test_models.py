"""Pure rules on the models and the plan content (no database)."""

from __future__ import annotations

from datetime import date

from trm.assessments.models import PlanStatus, SupportPlanVersion
from trm.assessments.plans import (
    OrganisationRef,
    PlanContent,
    PlanStep,
    missing_fields,
)


def test_a_draft_is_signed_and_a_signed_version_superseded_never_back():
    version = SupportPlanVersion(status=PlanStatus.DRAFT)
    assert version.can_transition_to(PlanStatus.SIGNED)
    assert not version.can_transition_to(PlanStatus.SUPERSEDED)
    version.status = PlanStatus.SIGNED
    assert version.can_transition_to(PlanStatus.SUPERSEDED)
    assert not version.can_transition_to(PlanStatus.DRAFT)
    version.status = PlanStatus.SUPERSEDED
    assert not any(version.can_transition_to(s) for s in PlanStatus.values)


def test_plan_content_survives_its_json_form():
    content = PlanContent(
        immediate_needs="Fictional",
        steps=[PlanStep("Fictional step", "Someone", date(2031, 1, 2))],
        organisations=[OrganisationRef(id="x", name="Fictional Org")],
        interviewer_organisation=OrganisationRef(id="y", name="Fictional Org Y"),
        person_acknowledged=True,
        plan_date=date(2030, 1, 1),
    )
    assert PlanContent.from_json(content.to_json()) == content


def test_an_empty_plan_misses_every_field_and_a_child_also_the_guardian():
    adult = missing_fields(PlanContent(), child=False)
    assert len(adult) == 13 and adult[0] == "immediate_needs"
    child = missing_fields(PlanContent(), child=True)
    assert child[-2:] == ["guardian_name", "guardian_acknowledged"]
