"""The statistics dashboard: pages, charts, table views and downloads of
disclosure-controlled figures only (synthetic records)."""

from __future__ import annotations

import csv
import io
import itertools
import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from trm.accounts.models import Role
from trm.accounts.tests.factories import UserFactory
from trm.audit.models import AuditEntry
from trm.statistics import dashboard
from trm.statistics.charts import bar_chart
from trm.statistics.models import HistoricalRecord
from trm.statistics.tables import Period

pytestmark = pytest.mark.django_db

DASHBOARD = "/statistics/"


_KEYS = itertools.count()


def records(n: int, **fields: object) -> None:
    for _i in range(n):
        HistoricalRecord.objects.create(
            source="ctdc", release="test", row_key=f"dash-{next(_KEYS)}", **fields
        )


@pytest.fixture
def crafted(db):
    """3 boys in 2017 (the small cell), 40 women in 2018, 30 in 2019; 25 men and
    35 women in 2020."""
    records(
        40,
        year_of_registration=2018,
        gender="Feminine",
        is_child=False,
        citizenship="MD",
        country_of_exploitation="RO",
        exploitation_types=["SexualExploitation"],
    )
    records(
        30,
        year_of_registration=2019,
        gender="Feminine",
        is_child=False,
        citizenship="MD",
        country_of_exploitation="IT",
        exploitation_types=["SexualExploitation"],
    )
    records(
        3,
        year_of_registration=2017,
        gender="Masculine",
        is_child=True,
        citizenship="UA",
        country_of_exploitation="RO",
        exploitation_types=["ForcedBegging"],
    )
    records(
        25,
        year_of_registration=2020,
        gender="Masculine",
        is_child=False,
        citizenship="MD",
        country_of_exploitation="DE",
        exploitation_types=["ForcedLabour"],
    )
    records(
        35,
        year_of_registration=2020,
        gender="Feminine",
        is_child=False,
        citizenship="UA",
        country_of_exploitation="DE",
        exploitation_types=["ForcedLabour"],
    )


@pytest.fixture
def coordinator(org_a):
    return UserFactory(
        username="stats-ncp", organisation=org_a, roles=[Role.NATIONAL_CONTACT_POINT]
    )


class _Tables(HTMLParser):
    """Collect the rows of every <table> in each chart section, as text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.section = ""
        self.tables: dict[str, list[list[str]]] = {}
        self.svg_texts: list[str] = []
        self.cell: list[str] | None = None
        self.row: list[str] | None = None
        self.hidden = 0
        self.in_svg_text = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "section" and (attributes.get("id") or "").startswith("chart-"):
            self.section = attributes["id"].removeprefix("chart-")
            self.tables[self.section] = []
        elif tag == "tr":
            self.row = []
        elif tag in {"td", "th"}:
            self.cell = []
        elif tag == "span" and self.cell is not None:
            if "aria-hidden" in attributes:
                self.hidden += 1
        elif tag == "text":
            self.in_svg_text = True
            self.svg_texts.append("")

    def handle_endtag(self, tag):
        if tag in {"td", "th"} and self.cell is not None and self.row is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tr" and self.row is not None and self.section:
            self.tables[self.section].append(self.row)
            self.row = None
        elif tag == "span" and self.hidden:
            self.hidden -= 1
        elif tag == "text":
            self.in_svg_text = False

    def handle_data(self, data):
        if self.cell is not None and self.hidden:
            self.cell.append(data)  # the visible "–"
        elif self.cell is not None and not self.hidden:
            # The visually hidden "not shown" is read as the dash's meaning.
            self.cell.append("" if data.strip() == "not shown" else data)
        if self.in_svg_text:
            self.svg_texts[-1] += data


def _parse(html: str) -> _Tables:
    parser = _Tables()
    parser.feed(html)
    return parser


def _csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode())))


def _as_text(value: object) -> str:
    return "–" if value is None else str(value)


def test_the_dashboard_shows_every_chart_with_its_table(
    crafted, coordinator, signed_in
):
    response = signed_in(coordinator).get(DASHBOARD)

    assert response.status_code == 200
    html = response.content.decode()
    parsed = _parse(html)
    assert set(parsed.tables) == set(dashboard.CHARTS)
    # Every chart but SOP compliance (this node's cases; there are none here).
    assert html.count("<svg") == len(dashboard.CHARTS) - 1
    assert parsed.tables["compliance"] == []
    assert 'role="img"' in html and "<title" in html and "<desc" in html
    assert "Figures are rounded to the nearest multiple of 5" in html
    # The trend: 2017 (3) and its complement (2019, the smallest) are not shown.
    trend = parsed.tables["trend"]
    assert trend == [
        ["Year", "People"],
        ["2017", "–"],
        ["2018", "40"],
        ["2019", "–"],
        ["2020", "60"],
        ["Total", "135"],
    ]
    assert "not shown" in html
    # No CDN, no script of its own.
    assert "cdn" not in html.lower()
    assert "<script" not in html.split("<main", 1)[1]


def test_a_small_count_never_appears_anywhere(crafted, coordinator, signed_in):
    client = signed_in(coordinator)
    html = client.get(DASHBOARD).content.decode()
    parsed = _parse(html)
    figures = [
        cell
        for rows in parsed.tables.values()
        for row in rows[1:]
        for cell in row
        if re.fullmatch(r"[\d\u202f]+", cell)
    ]
    figures += [t for t in parsed.svg_texts if re.fullmatch(r"[\d\u202f]+", t)]
    figures = [f for f in figures if f not in {"2017", "2018", "2019", "2020"}]
    assert figures
    assert all(int(f.replace("\u202f", "")) % 5 == 0 for f in figures)
    assert "3" not in figures
    for code in dashboard.CHARTS:
        rows = _csv_rows(client.get(f"{DASHBOARD}{code}.csv").content)
        assert all(v != "3" for row in rows for v in row)
        sheet = dashboard.read_xlsx(client.get(f"{DASHBOARD}{code}.xlsx").content)
        numbers = [v for row in sheet for v in row if isinstance(v, int)]
        assert 3 not in numbers
        assert all(n % 5 == 0 for n in numbers)


# (compliance: this node's cases, none in ``crafted``; its own test below.)
@pytest.mark.parametrize("code", sorted(set(dashboard.CHARTS) - {"compliance"}))
def test_downloads_hold_exactly_the_table_shown(crafted, coordinator, signed_in, code):
    client = signed_in(coordinator)
    query = "?first_year=2018&last_year=2020&source=historical"
    shown = _parse(client.get(DASHBOARD + query).content.decode()).tables[code]

    csv_response = client.get(f"{DASHBOARD}{code}.csv{query}")
    xlsx_response = client.get(f"{DASHBOARD}{code}.xlsx{query}")

    assert csv_response["Content-Type"].startswith("text/csv")
    assert "attachment" in csv_response["Content-Disposition"]
    csv_rows = _csv_rows(csv_response.content)
    # The table, a blank line, the disclosure note.
    assert csv_rows[-1][0].startswith("Figures are rounded")
    table_rows = csv_rows[:-2]
    assert [[v or "–" for v in row] for row in table_rows] == shown
    sheet = dashboard.read_xlsx(xlsx_response.content)
    assert [[_as_text(v) for v in row] for row in sheet[: len(shown)]] == shown
    assert str(sheet[-1][0]).startswith("Figures are rounded")


def test_every_download_is_audited_with_the_table_spec_only(
    crafted, coordinator, signed_in
):
    signed_in(coordinator).get(f"{DASHBOARD}flows.xlsx?first_year=2019")

    entry = AuditEntry.objects.get(action="statistics.downloaded")
    assert entry.actor_id == coordinator.pk
    assert entry.target_id == "flows"
    assert entry.data_digest


def test_the_flows_chart_lists_the_largest_published_pairs(crafted):
    table = dashboard.published("flows", period=Period(), sources=["historical"])

    assert table.header == ("Citizenship", "Country of exploitation", "People")
    # UA → RO (3) is not shown, nor are its complements (MD → IT, MD → DE,
    # UA → DE), so they are not among the pairs.
    assert table.rows == (("Moldova", "Romania", 40),)


def test_sex_by_child_or_adult(crafted):
    table = dashboard.published("sex_age", period=Period(), sources=["historical"])

    assert table.header == ("Sex", "Adults", "Children", "Total")
    assert table.rows[0] == ("Feminine", 105, 0, 105)
    assert table.rows[1] == ("Masculine", None, None, 30)  # 3 boys, 25 men
    assert table.total == ("Total", None, None, 135)


def test_the_period_filter_narrows_every_chart(crafted, coordinator, signed_in):
    html = signed_in(coordinator).get(DASHBOARD + "?first_year=2020").content.decode()
    trend = _parse(html).tables["trend"]

    assert trend[1:] == [["2020", "60"], ["Total", "60"]]


def test_an_invalid_filter_shows_the_form_again_with_a_message(
    crafted, coordinator, signed_in
):
    client = signed_in(coordinator)
    response = client.get(DASHBOARD + "?first_year=2020&last_year=2018")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Some filters are not valid" in html
    assert "The last year must not be before the first year." in html
    assert "<svg" not in html
    assert client.get(DASHBOARD + "?first_year=soon&source=rumours").status_code == 200
    assert client.get(f"{DASHBOARD}trend.csv?first_year=soon").status_code == 400


def test_no_records_shows_how_to_import(coordinator, signed_in):
    html = signed_in(coordinator).get(DASHBOARD).content.decode()

    assert "trm import ctdc PATH" in html
    assert "<svg" not in html


def test_no_records_in_the_period(crafted, coordinator, signed_in):
    html = signed_in(coordinator).get(DASHBOARD + "?first_year=2030").content.decode()

    assert "No records match these filters" in html


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (Role.NATIONAL_CONTACT_POINT, 200),
        (Role.AUDITOR, 200),
        (Role.NODE_ADMINISTRATOR, 200),
        (Role.CASE_MANAGER, 403),
        (Role.SERVICE_PROVIDER, 403),
        (Role.PROSECUTOR, 403),
    ],
)
def test_who_may_see_the_dashboard(crafted, org_a, signed_in, role, status):
    user = UserFactory(username=f"stats-{role}", organisation=org_a, roles=[role])
    client = signed_in(user)

    assert client.get(DASHBOARD).status_code == status
    assert client.get(f"{DASHBOARD}trend.csv").status_code == status
    nav = client.get(reverse("home")).content.decode()
    assert (f'href="{DASHBOARD}"' in nav) == (status == 200)


def test_signed_out_users_are_sent_to_sign_in(client):
    response = client.get(DASHBOARD)

    assert response.status_code == 302
    assert "login" in response["Location"]


def test_an_unknown_chart_or_format_is_not_found(coordinator, signed_in):
    client = signed_in(coordinator)

    assert client.get(f"{DASHBOARD}nothing.csv").status_code == 404
    assert client.get(f"{DASHBOARD}trend.pdf").status_code == 404


def test_a_chart_draws_suppressed_bars_hatched_and_labelled():
    table = dashboard.Published(
        code="demo",
        title="Demo <chart>",
        description="A demo.",
        header=("Thing", "People"),
        label_columns=1,
        rows=(("A", 20), ("B", None)),
        total=("Total", 25),
        series=("People",),
        note="",
        suppressed_any=True,
    )

    svg = str(bar_chart(table))

    assert 'aria-labelledby="demo-svg-title demo-svg-desc"' in svg
    assert "Demo &lt;chart&gt;" in svg
    assert 'fill="url(#demo-hatch)"' in svg
    assert "B: not shown" in svg
    assert ">20<" in svg
    assert str(bar_chart(table, vertical=True)).count("<rect") >= 3


def test_when_every_count_is_small_nothing_but_not_shown_is_published(
    coordinator, signed_in
):
    records(3, year_of_registration=2021, gender="Masculine", citizenship="UA")
    client = signed_in(coordinator)

    html = client.get(DASHBOARD).content.decode()

    assert "No records match" not in html
    assert _parse(html).tables["trend"][1:] == [["2021", "–"], ["Total", "–"]]
    rows = _csv_rows(client.get(f"{DASHBOARD}trend.csv").content)
    assert rows[1:3] == [["2021", ""], ["Total", ""]]


def test_unknown_values_come_last_and_long_labels_are_shortened(coordinator):
    records(20, year_of_registration=2019, gender="Feminine", citizenship="US")
    records(20, gender="Feminine", citizenship="US", country_of_exploitation="US")

    trend = dashboard.published("trend", period=Period(), sources=["historical"])
    flows = dashboard.published("flows", period=Period(), sources=["historical"])

    assert [row[0] for row in trend.rows] == ["2019", "Unknown"]
    svg = str(bar_chart(flows))
    assert "United States of America → Un…" in svg
    assert "United States of America → United States of America: 20" in svg


@pytest.mark.parametrize(
    ("role", "regional", "htcds"),
    [
        (Role.NATIONAL_CONTACT_POINT, True, True),
        (Role.NODE_ADMINISTRATOR, False, False),
        (Role.AUDITOR, False, False),
    ],
)
def test_the_dashboard_links_what_the_role_may_do(
    crafted, org_a, signed_in, role, regional, htcds
):
    user = UserFactory(username=f"links-{role}", organisation=org_a, roles=[role])
    html = signed_in(user).get(DASHBOARD).content.decode()

    assert (f'href="{reverse("regional_statistics:list")}"' in html) == regional
    assert (f'href="{reverse("statistics:htcds_export")}"' in html) == htcds


def test_the_sop_compliance_chart_shows_shares_from_published_counts(
    caseworker_a, coordinator, signed_in
):
    from trm.statistics.tests.test_tables import live_case

    for _ in range(15):
        live_case(caseworker_a, opened=2025, screenings=[("labour",)])
    for _ in range(10):
        live_case(caseworker_a, opened=2025)
    client = signed_in(coordinator)

    table = _parse(client.get(DASHBOARD).content.decode()).tables["compliance"]

    assert table[0] == ["Indicator", "Share met (%)", "Met", "Not met"]
    assert ["Share screened with the standard instrument", "60", "15", "10"] in table
    # Only the cases of this node: nothing for the historical records alone.
    historical = client.get(DASHBOARD + "?source=historical").content.decode()
    assert _parse(historical).tables.get("compliance", []) == []
    rows = _csv_rows(client.get(f"{DASHBOARD}compliance.csv").content)
    # The table, a blank line, the disclosure note.
    assert [[v or "–" for v in row] for row in rows[:-2]] == table
    assert rows[-1][0].startswith("Figures are rounded")


def test_a_compliance_share_is_not_shown_when_its_counts_are_not():
    from trm.statistics.indicators import Indicator

    small = Indicator(
        id="sop1.screened_share",
        sop=1,
        title="t",
        value=0.9,
        numerator=12,
        denominator=13,
        unit="share",
        period=Period(),
        note="",
        small=False,
    )
    yes, no = small.protected().figures
    assert no.suppressed and yes.suppressed  # 1 not screened, and its complement
