"""SOP steps naming guidance: the schema, variants, warnings, and the panel map."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command

from trm.common.yamldata import DataFileError
from trm.guidance import selectors, services
from trm.sop.loader import get_definition, load_definition

OVERLAY = """\
schema_version: 1
variant: test-guidance
extends: baseline
title: "Fictional variant"
country: BG
example: true
note: "A fictional variant for a test."
source: "test"
steps:
  sop1.screening:
    guidance: [fictional-national-indicators, ilo-ec-operational-indicators-2009]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "variant.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_baseline_steps_name_seed_resources():
    definition = get_definition("baseline")
    assert definition.step("sop1.screening").guidance == (
        "ilo-ec-operational-indicators-2009",
    )
    seeded = {values.slug for values in services.load_seed()}
    named = {slug for step in definition.steps() for slug in step.guidance}
    assert named <= seeded


def test_a_variant_replaces_a_steps_guidance(tmp_path):
    definition = load_definition(str(write(tmp_path, OVERLAY)))
    assert definition.step("sop1.screening").guidance == (
        "fictional-national-indicators",
        "ilo-ec-operational-indicators-2009",
    )


def test_schema_refuses_a_guidance_name_that_is_not_a_slug(tmp_path):
    bad = OVERLAY.replace("fictional-national-indicators", "Not A Slug")
    with pytest.raises(DataFileError, match="guidance"):
        load_definition(str(write(tmp_path, bad)))


def test_validate_warns_about_unknown_slugs_without_failing(tmp_path):
    out = io.StringIO()
    call_command("sop", "validate", str(write(tmp_path, OVERLAY)), stdout=out)
    text = out.getvalue()
    assert "valid" in text
    assert "warning: sop1.screening: guidance 'fictional-national-indicators'" in text
    assert "ilo-ec-operational" not in text


@pytest.mark.django_db
def test_guidance_check_command_lists_what_the_library_lacks():
    out = io.StringIO()
    call_command("guidance", "check", stdout=out)
    assert "cets-197" in out.getvalue()
    services.seed_catalogue()
    out = io.StringIO()
    call_command("guidance", "check", stdout=out)
    assert "Every guidance resource" in out.getvalue()


@pytest.mark.django_db
def test_seed_and_reindex_commands():
    out = io.StringIO()
    call_command("guidance", "seed", stdout=out)
    assert "0 already present" in out.getvalue()
    call_command("guidance", "seed", stdout=out)
    assert "0 added" in out.getvalue()
    call_command("guidance", "reindex", stdout=out)
    found = selectors.search_resources(selectors.Filters(q="convention trafficking"))
    assert [r.slug for r in found][:1] == ["cets-197"]


@pytest.mark.django_db
def test_guidance_map_uses_one_query(django_assert_num_queries):
    services.seed_catalogue()
    steps = [s.id for s in get_definition().steps()]
    with django_assert_num_queries(1):
        by_step = selectors.guidance_for_steps(steps)
    assert [r.slug for r in by_step["sop1.screening"]] == [
        "ilo-ec-operational-indicators-2009"
    ]
    assert by_step["sop2.support_plan"] == []
