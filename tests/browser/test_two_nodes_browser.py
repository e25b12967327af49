"""One case across the border, in a real browser signed in on two real nodes.

The session's demo nodes (:mod:`tests.demo_federation`: Serbia, Moldova and
Romania as ``make demo`` runs them, separate server and worker processes)
replay three synthetic CTDC-like records of Moldovan adults exploited in
Serbia (seed 31, its own case numbers ``RPL-31-…``): Serbia opens, identifies
and alerts Moldova, Moldova links each case, and the third returns home
(joint risk assessment, return plan, journey, arrival confirmed in Moldova).

Then people use the pages, each node in a browser context of its own (the
test nodes share a host, so their cookies would otherwise mix):

* Serbia's case manager finds the returned person's case in the case list;
  the page shows the link to Moldova, the shared case reference, the handover
  and Moldova's own case number (from the acknowledgement that came back);
* Moldova's national contact point opens that case number from the case list:
  same shared reference, linked to Serbia, arrived and in reintegration;
* Serbia's node administrator sees the exchange: messages delivered to
  Moldova, none waiting, none dead, the case's conversation listed;
* Serbia's national contact point reads the statistics dashboard over a small
  synthetic CTDC-layout import (rounded counts as the disclosure control
  publishes them).

Screenshots go to ``test-artifacts/``; with ``TRM_SCREENSHOTS_DIR`` set (e.g.
``docs/screenshots``) the four README pictures are written there too:
``destination-case.png``, ``origin-linked-case.png``,
``exchange-operator.png``, ``statistics-dashboard.png`` (the top of each
page), and ``destination-case-link.png``, ``origin-linked-case-link.png``
(each case page at its handover and link abroad).
"""

from __future__ import annotations

import csv
import os
import random
import re
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from tests.demo_federation import (
    DEMO_PASSWORD,
    DEMO_TOTP_SECRET,
    HEADER,
    snippet_handle,
)
from tests.federation import Node, sqlite_pass_only

from trm.demo.federation import current_code
from trm.demo_replay.records import load
from trm.demo_replay.replay import Replay
from trm.statistics.disclosure import round_to_base

pytestmark = [pytest.mark.browser, pytest.mark.slow, sqlite_pass_only]

REPO = Path(__file__).resolve().parents[2]
SEED = 31
#: Moldovan adults exploited in Serbia; every third adult returns (r003).
RECORDS = [
    ("MD", "RS", "Female", "21--23"),
    ("MD", "RS", "Male", "24--26"),
    ("MD", "RS", "Female", "30--38"),
]
RETURNING = f"RPL-{SEED}-r003"
VIEWPORT = {"width": 1200, "height": 900}


# --- set-up ----------------------------------------------------------------------


def _records_csv(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    """Rows in the CTDC subset's layout (synthetic)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(HEADER)
        for origin, where, gender, band in rows:
            out.writerow(
                ["2016", gender, band, origin, "1.0", "0.0", where]
                + [""] * (len(HEADER) - 7)
            )
    return path


def _sent_to(node: Node, peer: str) -> int:
    return int(
        node.python(
            "from trm.exchange.models import OutboxMessage\n"
            f"result = OutboxMessage.objects.filter(peer__node_id={peer!r}, "
            "status='sent').count()"
        )
    )


@pytest.fixture(scope="module")
def crossed(
    demo_federation: dict[str, Node], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Replay :data:`RECORDS` between Serbia and Moldova; return the nodes and
    how many messages Serbia had delivered to Moldova before."""
    rs, md = demo_federation["RS"], demo_federation["MD"]
    path = _records_csv(tmp_path_factory.mktemp("two-nodes") / "records.csv", RECORDS)
    records = load(path, ["RS", "MD"], 10, SEED)
    assert [r.returns for r in records] == [False, False, True]
    sent_before = _sent_to(rs, md.node_id)
    summary = Replay(
        [snippet_handle(rs), snippet_handle(md)], records, seed=SEED, timeout=60
    ).run()
    assert summary.ok, summary.table()
    return {"rs": rs, "md": md, "sent_before": sent_before}


# --- browser helpers -----------------------------------------------------------------


def sign_in(browser: Any, node: Node, username: str) -> Any:
    """A new browser context signed in on ``node`` as ``username`` (password,
    then the demo authenticator's code); returns its page on the home page."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(f"{node.url}/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/accounts/login/verify/**")
    for attempt in range(2):
        page.get_by_label("6-digit code from your authenticator app").fill(
            current_code(DEMO_TOTP_SECRET)
        )
        page.get_by_role("button", name="Verify").click()
        page.wait_for_load_state()
        if "/accounts/login/verify/" not in page.url:
            break
        # A code is good once per 30-s step: wait for the next one.
        assert attempt == 0, "the authenticator code was refused twice"
        time.sleep(31 - time.time() % 30)
    assert page.url == f"{node.url}/"
    assert page.get_by_role("heading", level=1).inner_text().startswith("Welcome")
    assert page.locator("header").get_by_text(username).is_visible()
    return page


def shot(page: Any, artifacts: Path, name: str) -> None:
    """Screenshot the viewport to ``test-artifacts/`` and, with
    ``TRM_SCREENSHOTS_DIR``, to that directory under the same name."""
    path = artifacts / name
    page.screenshot(path=str(path))
    target = os.environ.get("TRM_SCREENSHOTS_DIR")
    if target:
        folder = Path(target) if Path(target).is_absolute() else REPO / target
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, folder / name)


def main_menu(page: Any, item: str) -> None:
    """Follow ``item`` of the main menu."""
    menu = page.get_by_role("navigation", name="Main")
    menu.get_by_role("link", name=item, exact=True).click()


def open_from_case_list(page: Any, node: Node, number: str) -> None:
    """Open case ``number`` from the case list (following its pages)."""
    page.goto(f"{node.url}/")
    main_menu(page, "Cases")
    page.wait_for_url(f"{node.url}/cases/")
    while True:
        link = page.locator("main table").get_by_role("link", name=number, exact=True)
        if link.count():
            link.click()
            break
        page.get_by_role("link", name="Next").click()  # fails on the last page
        page.wait_for_load_state()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == f"Case {number}"


def facts(section: Any) -> dict[str, str]:
    """A ``<dl class="facts">``'s terms → descriptions (first of each)."""
    found: dict[str, str] = {}
    for term in section.locator("dl.facts > dt").all():
        label = term.inner_text().strip()
        found.setdefault(
            label, term.locator("xpath=following-sibling::dd[1]").inner_text()
        )
    return found


def track(page: Any, key: str) -> str:
    return page.locator(f"#track-{key} .state").inner_text().strip()


def scroll_to(page: Any, selector: str) -> None:
    page.locator(selector).evaluate("element => element.scrollIntoView()")


# --- the tests -----------------------------------------------------------------------


def test_one_case_followed_across_the_border(browser, artifacts, crossed):
    rs, md = crossed["rs"], crossed["md"]

    # Serbia, country of destination: the case manager finds the case.
    serbia = sign_in(browser, rs, "rs-cm")
    open_from_case_list(serbia, rs, RETURNING)
    assert "Case manager" in serbia.locator(".case-head").inner_text()
    assert track(serbia, "transnational") == "Linked with a case abroad"
    # Moldova confirmed the arrival: Serbia's assistance moved to follow-up.
    assert track(serbia, "assistance") == "Follow-up"
    link = facts(serbia.locator("#transnational"))
    shared = link["Shared case reference"].strip()
    assert shared.startswith(f"{rs.node_id}-")
    assert md.node_id in link["Counterpart nodes"]
    assert "Acknowledged" in link
    handover = facts(serbia.locator("#handover"))
    assert handover["This node"] == "Sending side (country of destination)"
    assert handover["Counterpart node"] == md.node_id
    assert handover["Status"].startswith("Arrived and handed over")
    assert handover["Leads the case now"] == "Receiving side (country of origin)"
    # Moldova's acknowledgement brought back its own case number.
    timeline = serbia.locator("#timeline").inner_text()
    assert "Arrival confirmation received" in timeline
    found = re.search(
        r"Their case (\S+); contact: Demo National Coordination", timeline
    )
    assert found, timeline
    md_number = found.group(1)
    assert md_number.startswith("MD-")
    shot(serbia, artifacts, "destination-case.png")
    scroll_to(serbia, "#handover")
    shot(serbia, artifacts, "destination-case-link.png")

    # Moldova, country of origin: its national contact point, in a context of
    # its own, opens the case under the number Serbia was told.
    moldova = sign_in(browser, md, "md-ncp")
    open_from_case_list(moldova, md, md_number)
    head = moldova.locator(".case-head").inner_text()
    assert "National contact point" in head
    assert "you see this case because it has a link abroad" in head
    assert track(moldova, "transnational") == "Linked with a case abroad"
    assert track(moldova, "assistance") == "Reintegration"
    link = facts(moldova.locator("#transnational"))
    assert link["Shared case reference"].strip() == shared
    assert rs.node_id in link["Counterpart nodes"]
    handover = facts(moldova.locator("#handover"))
    assert handover["This node"] == "Receiving side (country of origin)"
    assert handover["Counterpart node"] == rs.node_id
    assert handover["Status"].startswith("Arrived and handed over")
    timeline = moldova.locator("#timeline").inner_text()
    for event in (
        "Alert received from a counterpart node",
        "Journey and handover announced by the sending country",
        "Arrival in the country of origin recorded",
    ):
        assert event in timeline
    shot(moldova, artifacts, "origin-linked-case.png")
    scroll_to(moldova, "#handover")
    shot(moldova, artifacts, "origin-linked-case-link.png")

    # Both sessions hold: signing in on Moldova did not sign Serbia out.
    serbia.reload()
    assert serbia.get_by_role("heading", level=1).inner_text() == f"Case {RETURNING}"
    assert serbia.locator("header").get_by_text("rs-cm").is_visible()
    serbia.context.close()
    moldova.context.close()


def test_the_exchange_operator_sees_the_messages_delivered(browser, artifacts, crossed):
    rs, md = crossed["rs"], crossed["md"]
    shared = rs.python(
        "from trm.cases.models import Case\n"
        f"result = Case.objects.get(number={RETURNING!r}).trm_case_ref"
    )
    page = sign_in(browser, rs, "rs-admin")
    main_menu(page, "Exchange")
    page.wait_for_url(f"{rs.url}/exchange/")
    row = page.locator("main table tbody tr").filter(has_text=md.node_id)
    cells = {
        name: row.locator(f"td[data-label='{name}']").inner_text().strip()
        for name in ("Status", "Waiting", "Retrying", "Dead", "Rejected", "Delivered")
    }
    assert cells["Status"] == "Active"
    assert cells["Waiting"] == cells["Retrying"] == "0"
    assert cells["Dead"] == cells["Rejected"] == "0"
    # The replay's three alerts, joint assessment, return plan and handover.
    assert int(cells["Delivered"]) >= crossed["sent_before"] + 6
    shot(page, artifacts, "exchange-operator.png")

    row.locator("td[data-label='Delivered'] a").click()
    page.wait_for_load_state()
    listed = page.locator("main table tbody tr").filter(has_text=shared)
    types = {
        t.strip() for t in listed.locator("td[data-label='Type'] a").all_inner_texts()
    }
    assert {
        "case.alert",
        "risk.assessment.joint",
        "return.plan",
        "return.handover",
    } <= types
    page.screenshot(path=str(artifacts / "exchange-messages.png"))
    page.context.close()


def _historical_csv(path: Path, rows: int) -> Counter[str]:
    """Write ``rows`` synthetic records touching Serbia; return the count per
    year of registration."""
    rng = random.Random(SEED)  # synthetic data, not a secret
    pairs = [("RS", "RS")] * 4 + [("MD", "RS")] * 3 + [("RO", "RS")] * 2
    pairs += [("RS", "MK"), ("UA", "RS"), ("RS", "DE")]
    kinds = [("1.0", "0.0")] * 3 + [("0.0", "1.0")] * 4 + [("1.0", "1.0")]
    bands = ["9--17", "18--20", "21--23", "24--26", "27--29", "30--38", "39--47"]
    years: Counter[str] = Counter()
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(HEADER)
        for _ in range(rows):
            origin, where = rng.choice(pairs)
            labour, sexual = rng.choice(kinds)
            year = str(rng.randrange(2014, 2020))
            gender = rng.choice(["Female"] * 7 + ["Male"] * 3)
            out.writerow(
                [year, gender, rng.choice(bands), origin, labour, sexual, where]
                + [""] * (len(HEADER) - 7)
            )
            years[year] += 1
    return years


def test_the_statistics_dashboard_over_imported_records(
    browser, artifacts, demo_federation, tmp_path
):
    rs = demo_federation["RS"]
    years = _historical_csv(tmp_path / "ctdc.csv", 400)
    done = rs.trm(
        "import",
        "ctdc",
        str(tmp_path / "ctdc.csv"),
        "--country",
        "RS",
        "--skip-invalid",
    )
    assert "imported 400," in done.stdout

    page = sign_in(browser, rs, "rs-ncp")
    main_menu(page, "Statistics")
    page.wait_for_url(f"{rs.url}/statistics/")
    flows = page.locator("#chart-flows")
    for flow in ("Serbia → Serbia", "Moldova → Serbia", "Romania → Serbia"):
        assert flows.get_by_text(flow).first.is_visible()
    scroll_to(page, "#chart-trend")
    shot(page, artifacts, "statistics-dashboard.png")

    # The imported records alone: each year's figure is its count, rounded.
    page.get_by_label("Source").select_option("historical")
    page.get_by_role("button", name="Show").click()
    page.wait_for_load_state()
    trend = page.locator("#chart-trend")
    trend.get_by_text("Table view").click()
    shown = {
        r.locator("th").inner_text().strip(): r.locator("td").first.inner_text().strip()
        for r in trend.locator("table tbody tr").all()
    }
    expected = {year: str(round_to_base(n)) for year, n in years.items()}
    assert {year: shown.get(year) for year in expected} == expected
    page.screenshot(path=str(artifacts / "statistics-historical.png"))
    page.context.close()
