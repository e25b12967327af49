"""The replay's parts that need no node: records, summary, progress, output."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from trm.demo_replay.records import load
from trm.demo_replay.replay import Progress, ReplayFailed, Summary, parse_output

REAL = (
    Path(__file__).resolve().parents[5]
    / "shared"
    / "data"
    / "ctdc-global-2020-subset"
    / "dados_app.csv"
)
HEADER = [
    "yearOfRegistration",
    "gender",
    "ageBroad",
    "citizenship",
    "isForcedLabour",
    "isSexualExploit",
    "CountryOfExploitation",
    "nacionalidade",
]


def write(path: Path, rows: list[tuple[str, str, str, str, str, str]]) -> Path:
    """``(citizenship, exploitation country, gender, band, labour, sexual)``."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(HEADER)
        for origin, where, gender, band, labour, sexual in rows:
            out.writerow(["2016", gender, band, origin, labour, sexual, where, ""])
    return path


def test_only_rows_between_two_different_replayed_countries(tmp_path):
    path = write(
        tmp_path / "d.csv",
        [
            ("MD", "RS", "Female", "21--23", "0.0", "1.0"),
            ("MD", "RS", "Male", "30--38", "1.0", ""),
            ("RO", "RS", "Female", "9--17", "", ""),
            ("RS", "RS", "Female", "18--20", "0.0", "1.0"),  # not cross-border
            ("0", "RS", "Male", "", "1.0", "0.0"),  # unknown citizenship
            ("UA", "RS", "Male", "", "1.0", "0.0"),  # not a replayed country
        ],
    )
    records = load(path, ["RS", "MD", "RO"], 50, seed=1)
    assert [(r.citizenship, r.exploitation_country) for r in records] == [
        ("MD", "RS"),
        ("MD", "RS"),
        ("RO", "RS"),
    ]
    assert [r.key for r in records] == ["r001", "r002", "r003"]
    assert [r.exploitation for r in records] == [("sexual",), ("labour",), ("labour",)]
    assert [r.gender for r in records] == ["Feminine", "Masculine", "Feminine"]
    assert records[2].child and not records[2].returns


def test_every_third_adult_returns_and_the_sample_is_reproducible(tmp_path):
    rows = [("MD", "RS", "Female", "24--26", "0.0", "1.0")] * 9 + [
        ("RO", "RS", "Female", "9--17", "0.0", "1.0")
    ] * 3
    path = write(tmp_path / "d.csv", rows)
    records = load(path, ["RS", "MD", "RO"], 50, seed=1)
    assert sum(r.returns for r in records) == 3
    assert not any(r.returns for r in records if r.child)
    assert load(path, ["RS", "MD", "RO"], 5, seed=4) == load(
        path, ["RS", "MD", "RO"], 5, seed=4
    )
    assert len(load(path, ["RS", "MD", "RO"], 5, seed=4)) == 5


@pytest.mark.skipif(not REAL.exists(), reason="the CTDC subset is not beside the clone")
def test_the_real_subset_has_the_three_demo_flows():
    records = load(REAL, ["MD", "RO", "RS", "MK"], 10_000, seed=0)
    flows = {(r.citizenship, r.exploitation_country) for r in records}
    assert flows == {("MD", "RS"), ("RO", "MK"), ("RO", "RS")}
    assert any(r.child for r in records)


def node(name: str, **counts: int) -> dict[str, int | str]:
    base: dict[str, int | str] = {
        "node": name,
        "cases_opened": 0,
        "cases_linked": 0,
        "long_term": 0,
        "follow_up": 0,
        "reintegration": 0,
        "returns_completed": 0,
        "sent": 0,
        "received": 0,
        "waiting": 0,
        "dead": 0,
    }
    return {**base, **counts}


def test_the_summary_names_what_is_missing_from_the_end_state():
    expected = {
        "rs": {"cases_opened": 3, "long_term": 2, "follow_up": 1},
        "md": {"cases_linked": 3, "returns_completed": 1},
    }
    good = Summary(
        records=3,
        returning=1,
        nodes=[
            node("rs", cases_opened=3, long_term=2, follow_up=1, sent=6),
            node("md", cases_linked=4, returns_completed=1, received=6),
        ],
        expected=expected,
    )
    assert good.ok and good.problems() == []
    assert "End state as expected" in good.table()
    bad = Summary(
        records=3,
        returning=1,
        nodes=[
            node("rs", cases_opened=3, long_term=2, follow_up=0, dead=1),
            node("md", cases_linked=3, returns_completed=0, waiting=2),
        ],
        errors={"r002": "[rs] cases.invalid_input: ..."},
        waiting={"arrival": ["r003"]},
        expected=expected,
    )
    assert not bad.ok
    assert bad.problems() == [
        "record r002 refused: [rs] cases.invalid_input: ...",
        "still waiting at arrival: r003",
        "rs: 1 dead messages",
        "rs: follow_up 0, expected 1",
        "md: 2 messages not delivered",
        "md: returns_completed 0, expected 1",
    ]
    assert bad.as_json()["ok"] is False


def test_the_headline_counts_the_returns_completed_not_the_planned_ones():
    """13 records were to return home, 3 arrivals were confirmed: the headline
    says both (it said "13 returned home")."""
    summary = Summary(
        records=40,
        returning=13,
        nodes=[
            node("rs", cases_opened=40, long_term=27),
            node("md", cases_linked=20, returns_completed=2),
            node("ro", cases_linked=20, returns_completed=1),
        ],
        waiting={"arrival": ["r004"]},
    )
    lines = summary.table().splitlines()
    assert lines[0] == (
        "Replayed 40 CTDC records: 13 to return home (3 returns completed), "
        "27 in long-term assistance."
    )
    assert lines[-1] == "still waiting at arrival: r004"  # the problems once
    assert summary.table().count("r004") == 1
    # Returns of an earlier replay on a node are not counted beyond the plan.
    summary.nodes[1]["returns_completed"] = 30
    assert "(13 returns completed)" in summary.table().splitlines()[0]


def test_the_progress_bar_counts_steps():
    out = io.StringIO()
    bar = Progress(4, out, width=8)
    bar.advance(2, "open")
    bar.advance(5, "link")
    assert out.getvalue().splitlines() == [
        "replay [####....] 2/4 open",
        "replay [########] 4/4 link",
    ]


def test_a_node_command_answers_one_marked_line():
    assert parse_output("n", "summary", 0, 'noise\n__REPLAY__{"a": 1}\n', "") == {
        "a": 1
    }
    with pytest.raises(ReplayFailed, match=r"\[node-x\] trm replay open failed"):
        parse_output("node-x", "open", 1, "", "CommandError: no first contact point")
    with pytest.raises(ReplayFailed):
        parse_output("node-x", "open", 0, "no result line", "")
