"""The instrument file and the pure scoring rules (no database).

The acceptance case of the issue: an adult screened on the labour list with,
in D1, one strong and one medium indicator, in D4 one strong and one medium,
and in D5 two strong, is referred; without the D4 indicators, not.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from trm.common.yamldata import DataFileError
from trm.screening.instrument import (
    DEFAULT_PATH,
    DimensionRule,
    ScreeningInputError,
    describe_term,
    lists_for,
    load_instrument,
    read_instrument,
    translatable_texts,
)
from trm.screening.scoring import (
    ACTION_LABELS,
    REASON_LABELS,
    RULE_LABELS,
    Action,
    Reason,
    Response,
    RuleResult,
    parse_responses,
    score,
    score_lists,
)

I = load_instrument()  # noqa: E741 - the instrument, everywhere below

# The acceptance case (SOPS §5.4 grades).
D1_STRONG = "al.d1.deceived_nature_of_job"
D1_MEDIUM = "al.d1.deceived_wages"
D4_STRONG = "al.d4.excessive_working_hours"
D4_MEDIUM = "al.d4.low_or_no_salary"
D5_STRONG = ("al.d5.debt_bondage", "al.d5.confiscation_of_documents")


def present(*ids: str, evidence: str = "observed") -> dict[str, Response]:
    return {i: Response("present", evidence) for i in ids}


def absent_everywhere(list_id: str, *, but: Iterable[str] = ()) -> dict[str, Response]:
    """Answer every indicator of the list absent except ``but`` (left out)."""
    skip = set(but)
    return {
        i.id: Response("absent")
        for i in I.get_list(list_id).indicators
        if i.id not in skip
    }


# --- the file -----------------------------------------------------------------


def test_adult_labour_has_the_counts_of_sops_5_4():
    counts = [len(I.get_list("adult_labour").in_dimension(d.id)) for d in I.dimensions]
    assert counts == [10, 10, 16, 9, 15, 7]


def test_adult_labour_grades_per_dimension_follow_sops_5_4():
    entry = I.get_list("adult_labour")
    grades = {
        d.id: "".join(sorted(i.grade for i in entry.in_dimension(d.id)))
        for d in I.dimensions
    }
    assert grades == {
        "D1": "M" * 8 + "S" + "W",
        "D2": "M" * 9 + "S",
        "D3": "M" * 12 + "W" * 4,
        "D4": "M" * 7 + "S" + "W",
        "D5": "M" * 10 + "S" * 4 + "W",
        "D6": "M" * 5 + "W" * 2,
    }


def test_disputed_d3_grades_are_flagged_with_a_note():
    for list_id in ("adult_labour", "child_labour"):
        entry = I.get_list(list_id)
        for key in ("difficulties_in_the_past", "difficulty_organising_travel"):
            indicator = next(i for i in entry.in_dimension("D3") if key in i.id)
            assert not indicator.verified
            assert "disputed" in indicator.note


def test_child_labour_applies_the_upgrades_and_omissions_of_sops_5_5():
    entry = I.get_list("child_labour")
    grade = {i.id: i.grade for i in entry.indicators}
    assert "W" not in grade.values()
    assert entry.grades == ("S", "M")
    assert grade["cl.d1.deceived_education"] == "S"
    assert grade["cl.d2.debt_bondage"] == "S"
    assert grade["cl.d5.forced_tasks_or_clients"] == "S"
    assert grade["cl.d4.no_access_to_education"] == "M"
    assert grade["cl.d6.personal_characteristics"] == "M"
    assert "cl.d3.false_information_law_authorities" not in grade
    assert "cl.d4.no_social_protection" not in grade


def test_everything_is_marked_unverified():
    assert not I.verified
    assert not I.dimension_rule.verified
    assert not I.combination_rule.verified
    for entry in I.lists:
        assert not entry.verified
        assert not entry.is_verified
        assert all(not i.verified and i.source for i in entry.indicators)


def test_sexual_lists_are_checklists_without_scoring():
    for list_id in ("adult_sexual", "child_sexual"):
        entry = I.get_list(list_id)
        assert not entry.scoring
        ids = {i.id for i in entry.indicators}
        prefix = list_id[0] + "s"
        assert f"{prefix}.d1.deceived_conditions_of_prostitution" in ids
        forced = next(i for i in entry.indicators if "forced_tasks" in i.id)
        assert forced.grade == "S"


def test_rules_read_as_in_sops_5_7():
    assert I.dimension_rule.describe() == "2S | 1S+1(M|W) | 3M | 2M+1W"
    assert describe_term(I.combination_rule.by_population["adult"]) == (
        "(D1 | D2 | D3) & D4 & (D5 | D6)"
    )
    assert describe_term(I.combination_rule.by_population["child"]) == (
        "recruitment_act & D4"
    )


def test_no_text_shown_says_victim():
    texts = [*translatable_texts(I)]
    texts += [str(t) for t in ACTION_LABELS.values()]
    texts += [str(t) for t in RULE_LABELS.values()]
    texts += [str(t) for t in REASON_LABELS.values()]
    assert not [t for t in texts if "victim" in t.lower()]


def test_load_instrument_is_cached():
    assert load_instrument() is load_instrument(DEFAULT_PATH)


# --- loader errors ------------------------------------------------------------


def _broken(old: str, new: str, count: int = 1) -> tuple[str, int]:
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    assert old in text
    line = text[: text.index(old)].count("\n") + 1
    return text.replace(old, new, count), line


def _problems(text: str) -> list[str]:
    with pytest.raises(DataFileError) as info:
        read_instrument("ilo.yaml", text=text)
    return [str(p) for p in info.value.problems]


def test_duplicate_indicator_id_is_reported_with_its_line():
    text, line = _broken(
        "id: al.d1.deceived_wages,", "id: al.d1.deceived_conditions_of_work,"
    )
    problems = _problems(text)
    assert any(
        p.startswith(f"ilo.yaml:{line}: lists.0.indicators.7.id") and "already" in p
        for p in problems
    ), problems


def test_unknown_dimension_is_reported():
    text, line = _broken(
        "{id: al.d1.deceived_wages, dimension: D1,",
        "{id: al.d1.deceived_wages, dimension: D9,",
    )
    assert any(
        f":{line}: lists.0.indicators.7.dimension: unknown dimension" in p
        for p in _problems(text)
    )


def test_rule_reference_must_exist():
    text, line = _broken(
        "child: {all_of: [recruitment_act, D4]}", "child: {all_of: [recruited, D4]}"
    )
    assert any(
        f":{line}: combination_rule.child.all_of.0:" in p and "recruited" in p
        for p in _problems(text)
    )


def test_grade_not_allowed_in_list_is_reported():
    text, line = _broken(
        "{id: cl.d1.deceived_wages, dimension: D1, title: "
        '"Deceived about wages or earnings", grade: M,',
        "{id: cl.d1.deceived_wages, dimension: D1, title: "
        '"Deceived about wages or earnings", grade: W,',
    )
    assert any(
        f":{line}: lists.1.indicators.7.grade:" in p and "not allowed" in p
        for p in _problems(text)
    )


def test_dimension_rule_grade_must_exist():
    text, line = _broken('- {S: 1, "M|W": 1}', '- {S: 1, "M|X": 1}')
    assert any(
        f":{line}: dimension_rule.any_of.1.M|X: unknown grade" in p
        for p in _problems(text)
    )


def test_schema_rejects_unknown_fields_and_bad_values():
    text, line = _broken("scoring: true", "scoring: yes please")
    problems = _problems(text)
    assert any(f":{line}: lists.0.scoring:" in p for p in problems), problems
    text, line = _broken("population: adult", "population: adult\n    colour: red")
    assert any(
        f":{line + 1}: lists.0.colour: unknown field" in p for p in _problems(text)
    )


def test_id_must_match_its_dimension():
    text, line = _broken(
        "{id: al.d1.deceived_wages, dimension: D1,",
        "{id: al.d2.deceived_wages, dimension: D1,",
    )
    assert any(
        f":{line}: lists.0.indicators.7.id: the id says d2" in p
        for p in _problems(text)
    )


# --- the dimension rule -------------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({"S": 2}, True),
        ({"S": 1, "M": 1}, True),
        ({"S": 1, "W": 1}, True),
        ({"M": 3}, True),
        ({"M": 2, "W": 1}, True),
        ({"S": 1}, False),
        ({"M": 1}, False),
        ({"M": 2}, False),
        ({"W": 3}, False),
        ({"M": 1, "W": 2}, False),
        ({}, False),
    ],
)
def test_dimension_rule_alternatives(counts, expected):
    assert I.dimension_rule.met(counts) is expected


def test_dimension_rule_counts_each_indicator_once():
    rule = DimensionRule(
        alternatives=((((frozenset({"S", "M"})), 1), (frozenset({"M"}), 1)),),
        source="test",
        verified=False,
    )
    assert not rule.met({"M": 1})
    assert rule.met({"M": 2})
    assert rule.met({"S": 1, "M": 1})
    assert not rule.met({"S": 2})


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        (["al.d5.debt_bondage", "al.d5.violence"], True),  # 2S
        (["al.d5.debt_bondage", "al.d5.forced_to_lie"], True),  # 1S+1M
        (["al.d5.debt_bondage", "al.d5.threat_to_inform_family"], True),  # 1S+1W
        (
            [
                "al.d5.forced_to_lie",
                "al.d5.under_strong_influence",
                "al.d5.forced_tasks_or_clients",
            ],
            True,
        ),  # 3M
        (
            [
                "al.d5.forced_to_lie",
                "al.d5.under_strong_influence",
                "al.d5.threat_to_inform_family",
            ],
            True,
        ),  # 2M+1W
        (["al.d5.debt_bondage"], False),  # 1S
        (["al.d5.forced_to_lie"], False),  # 1M
        (["al.d5.forced_to_lie", "al.d5.under_strong_influence"], False),  # 2M
        (["al.d6.difficulties_in_the_past", "al.d6.personal_characteristics"], False),
    ],
)
def test_dimension_present_from_answers(ids, expected):
    responses = absent_everywhere("adult_labour", but=ids) | present(*ids)
    result = score(I, "adult_labour", responses)
    dimension = ids[0].split(".")[1].upper()
    found = next(d for d in result.dimensions if d.dimension == dimension)
    assert found.present is expected
    assert found.could_be_present is expected
    assert found.present_total == len(ids)


def test_three_weak_never_make_a_dimension():
    weak = [
        i.id for i in I.get_list("adult_labour").in_dimension("D3") if i.grade == "W"
    ][:3]
    responses = absent_everywhere("adult_labour", but=weak) | present(*weak)
    d3 = score(I, "adult_labour", responses).dimensions[2]
    assert d3.counts["W"] == 3
    assert not d3.present


def test_a_dimension_could_be_present_when_items_are_not_assessed():
    result = score(I, "adult_labour", present("al.d5.debt_bondage"))
    d5 = next(d for d in result.dimensions if d.dimension == "D5")
    assert not d5.present
    assert d5.could_be_present
    assert d5.not_assessed == 14


# --- the acceptance case ------------------------------------------------------


def test_acceptance_case_is_referred():
    responses = present(D1_STRONG, D1_MEDIUM, D4_STRONG, D4_MEDIUM, *D5_STRONG)
    result = score(I, "adult_labour", responses)
    assert result.action is Action.REFER
    assert result.rule_result is RuleResult.INDICATIVE_POSITIVE
    assert result.action_text == (
        "Indicators suggest a presumed trafficked person — refer to the "
        "competent authority"
    )
    assert [d.present for d in result.dimensions] == [
        True,
        False,
        False,
        True,
        True,
        False,
    ]


def test_acceptance_case_without_d4_is_not_referred():
    responses = present(D1_STRONG, D1_MEDIUM, *D5_STRONG)
    result = score(I, "adult_labour", responses)
    assert result.action is not Action.REFER
    # D4 was not assessed, so it could still be present: keep assessing.
    assert result.action is Action.CONTINUE_ASSESSMENT
    assert result.rule_result is RuleResult.INSUFFICIENT_DATA
    assert result.reason is Reason.RULE_COULD_HOLD


def test_acceptance_case_without_d4_and_d4_absent_is_negative_but_continues():
    answered = [D1_STRONG, D1_MEDIUM, *D5_STRONG]
    responses = absent_everywhere("adult_labour", but=answered) | present(*answered)
    result = score(I, "adult_labour", responses)
    assert result.rule_result is RuleResult.INDICATIVE_NEGATIVE
    assert result.action is Action.CONTINUE_ASSESSMENT
    assert result.reason is Reason.INDICATORS_PRESENT


def test_adult_needs_a_means_at_destination():
    answered = [D1_STRONG, D1_MEDIUM, D4_STRONG, D4_MEDIUM]
    responses = absent_everywhere("adult_labour", but=answered) | present(*answered)
    assert score(I, "adult_labour", responses).action is Action.CONTINUE_ASSESSMENT


def test_nothing_present_and_everything_absent_is_no_indication():
    result = score(I, "adult_labour", absent_everywhere("adult_labour"))
    assert result.action is Action.NO_INDICATION
    assert result.rule_result is RuleResult.INDICATIVE_NEGATIVE
    assert "do not rule trafficking out" in result.action_text
    assert "do not rule trafficking out" in result.explanation


def test_nothing_answered_is_insufficient_data():
    result = score(I, "adult_labour", {})
    assert result.rule_result is RuleResult.INSUFFICIENT_DATA
    assert result.action is Action.CONTINUE_ASSESSMENT


# --- children -----------------------------------------------------------------


CHILD_D4 = ("cl.d4.excessive_working_hours", "cl.d4.hazardous_work")


def test_child_rule_needs_only_the_act_and_exploitation():
    responses = absent_everywhere("child_labour", but=CHILD_D4) | present(*CHILD_D4)
    result = score(I, "child_labour", responses, facts={"recruitment_act": "present"})
    assert result.action is Action.REFER
    assert not any(d.present for d in result.dimensions if d.dimension != "D4")
    assert result.facts == {"recruitment_act": "present"}


def test_child_without_the_act_assessed_continues():
    responses = absent_everywhere("child_labour", but=CHILD_D4) | present(*CHILD_D4)
    result = score(I, "child_labour", responses)
    assert result.rule_result is RuleResult.INSUFFICIENT_DATA
    assert result.facts == {"recruitment_act": "not_assessed"}


def test_child_with_the_act_absent_is_negative():
    responses = absent_everywhere("child_labour", but=CHILD_D4) | present(*CHILD_D4)
    result = score(I, "child_labour", responses, facts={"recruitment_act": "absent"})
    assert result.rule_result is RuleResult.INDICATIVE_NEGATIVE
    assert result.action is Action.CONTINUE_ASSESSMENT


def test_lists_for_picks_child_lists_for_a_child():
    assert [e.id for e in lists_for(I, child=True, exploitation=["labour"])] == [
        "child_labour"
    ]
    assert [
        e.id for e in lists_for(I, child=False, exploitation=["sexual", "labour"])
    ] == ["adult_labour", "adult_sexual"]


def test_lists_for_refuses_no_or_unknown_exploitation():
    with pytest.raises(ScreeningInputError) as info:
        lists_for(I, child=False, exploitation=[])
    assert info.value.field == "exploitation"
    with pytest.raises(ScreeningInputError) as info:
        lists_for(I, child=False, exploitation=["organ_removal"])
    assert info.value.ids == ("organ_removal",)


# --- unknown ids and bad answers ----------------------------------------------


def test_unknown_indicator_ids_are_all_listed():
    responses = present("al.d1.made_up", "cl.d4.hazardous_work", D1_STRONG)
    with pytest.raises(ScreeningInputError) as info:
        score(I, "adult_labour", responses)
    assert info.value.field == "responses"
    assert info.value.ids == ("al.d1.made_up", "cl.d4.hazardous_work")
    assert "al.d1.made_up" in str(info.value)
    assert "“Hazardous work” (D4)" in str(info.value)  # known, on another list


def test_unknown_list_is_refused():
    with pytest.raises(ScreeningInputError) as info:
        score(I, "adult_organs", {})
    assert info.value.field == "lists"


def test_fact_for_another_population_is_refused():
    with pytest.raises(ScreeningInputError) as info:
        score(I, "adult_labour", {}, facts={"recruitment_act": "present"})
    assert info.value.field == "facts"


def test_fact_value_must_be_known():
    with pytest.raises(ScreeningInputError) as info:
        score(I, "child_labour", {}, facts={"recruitment_act": "yes"})
    assert info.value.ids == ("recruitment_act",)


def test_present_needs_evidence():
    with pytest.raises(ScreeningInputError) as info:
        parse_responses({D1_STRONG: {"value": "present"}})
    assert info.value.ids == (D1_STRONG,)
    with pytest.raises(ScreeningInputError):
        score(I, "adult_labour", {D1_STRONG: Response("present")})


@pytest.mark.parametrize(
    "answer",
    [
        {"value": "maybe"},
        {"value": "present", "evidence": "rumour"},
        {"value": "not_assessed", "evidence": "observed"},
        {"value": "absent", "colour": "red"},
        {"value": 1},
        "present",
    ],
)
def test_bad_answers_are_refused(answer):
    with pytest.raises(ScreeningInputError) as info:
        parse_responses({D1_STRONG: answer})
    assert info.value.ids == (D1_STRONG,)


def test_bad_answers_are_named_by_title_with_the_ids_kept_apart():
    with pytest.raises(ScreeningInputError) as info:
        parse_responses(
            {
                D1_STRONG: {"value": "present"},
                D1_MEDIUM: {"value": "not_assessed", "evidence": "observed"},
            },
            instrument=I,
        )
    message = info.value.message
    strong = "Deceived about the nature of the job, the location or the employer"
    assert f"“{strong}” (D1)" in message
    assert "“Deceived about wages or earnings” (D1)" in message
    assert "al.d1." not in message
    assert info.value.ids == (D1_STRONG, D1_MEDIUM)
    assert info.value.reasons == {
        D1_STRONG: "Say how a present indicator was learned (observed, "
        "self-reported or documented).",
        D1_MEDIUM: "Leave the evidence empty for an indicator not assessed.",
    }


def test_bad_answers_without_the_instrument_are_named_by_id():
    with pytest.raises(ScreeningInputError) as info:
        parse_responses({D1_STRONG: {"value": "maybe"}})
    assert D1_STRONG in info.value.message


def test_indicators_of_another_list_are_named_by_title_unknown_ones_by_id():
    responses = present("al.d1.made_up", "cl.d4.hazardous_work", D1_STRONG)
    with pytest.raises(ScreeningInputError) as info:
        score(I, "adult_labour", responses)
    title = I.title_of("cl.d4.hazardous_work")
    assert title
    assert f"“{title}” (D4)" in info.value.message
    assert "cl.d4.hazardous_work" not in info.value.message
    assert "al.d1.made_up" in info.value.message  # nothing else to call it
    assert set(info.value.reasons) == {"al.d1.made_up", "cl.d4.hazardous_work"}


def test_facts_are_named_by_title():
    with pytest.raises(ScreeningInputError) as info:
        score(I, "child_labour", {}, facts={"recruitment_act": "yes"})
    assert "recruitment_act" not in info.value.message
    assert I.title_of("recruitment_act") in info.value.message
    assert info.value.ids == ("recruitment_act",)


def test_title_of_an_unknown_id_is_empty():
    assert I.title_of("al.d1.made_up") == ""
    assert I.title_of(D1_MEDIUM) == "Deceived about wages or earnings"


def test_absent_may_carry_evidence():
    parsed = parse_responses({D1_STRONG: {"value": "absent", "evidence": "documented"}})
    assert parsed[D1_STRONG] == Response("absent", "documented")


# --- lists without scoring, and several lists ---------------------------------


def test_list_without_scoring_always_continues_the_assessment():
    entry = I.get_list("adult_sexual")
    responses = present(*(i.id for i in entry.indicators))
    result = score(I, "adult_sexual", responses)
    assert not result.scored
    assert result.action is Action.CONTINUE_ASSESSMENT
    assert result.rule_result is RuleResult.INSUFFICIENT_DATA
    assert result.reason is Reason.NOT_SCORED
    assert "not available until the ILO tables are transcribed" in result.explanation
    assert not any(d.present for d in result.dimensions)
    assert result.dimensions[0].present_total == len(entry.in_dimension("D1"))


def test_several_lists_give_the_strongest_result():
    labour = present(D1_STRONG, D1_MEDIUM, D4_STRONG, D4_MEDIUM, *D5_STRONG)
    lists = lists_for(I, child=False, exploitation=["labour", "sexual"])
    combined = score_lists(I, lists, labour)
    assert [r.action for r in combined.results] == [
        Action.REFER,
        Action.CONTINUE_ASSESSMENT,
    ]
    assert combined.action is Action.REFER
    assert combined.rule_result is RuleResult.INDICATIVE_POSITIVE


def test_no_indication_on_labour_but_sexual_unscored_continues():
    lists = lists_for(I, child=False, exploitation=["labour", "sexual"])
    combined = score_lists(I, lists, absent_everywhere("adult_labour"))
    assert combined.action is Action.CONTINUE_ASSESSMENT
    assert combined.rule_result is RuleResult.INSUFFICIENT_DATA


def test_summary_holds_no_answers():
    responses = present(D1_STRONG, evidence="self_reported")
    lists = lists_for(I, child=False, exploitation=["labour"])
    summary = score_lists(I, lists, responses).summary()
    d1 = summary["lists"]["adult_labour"]["dimensions"]["D1"]
    assert d1 == {
        "present": False,
        "could_be_present": True,
        "counts": {"S": 1, "M": 0, "W": 0},
        "absent": 0,
        "not_assessed": 9,
    }
    assert D1_STRONG not in str(summary)
    assert "self_reported" not in str(summary)
