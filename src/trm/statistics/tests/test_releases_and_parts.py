"""A corrected dataset release replaces the old one in every table; several
sources are protected part by part (issue 8 items 2–4). Synthetic data."""

from __future__ import annotations

from pathlib import Path

import pytest

from trm.statistics import ctdc, releases
from trm.statistics.disclosure import Reason, Table, protect, protect_parts
from trm.statistics.models import HistoricalRelease
from trm.statistics.tables import count_table

HEADER = (
    "yearOfRegistration,gender,ageBroad,citizenship,isForcedLabour,isSexualExploit,"
    "CountryOfExploitation,nacionalidade_lat,nacionalidade_long,nacionalidade,"
    "pais_exploracao_lat,pais_exploracao_long,pais_exploracao,nacionalidade_alpha3,"
    "pais_exploracao_alpha3"
)
ROW = "{year},Female,9--17,MD,1.0,0.0,RU,,,Moldova,,,Russia,MDA,RUS"


def _file(tmp_path: Path, name: str, year: int, n: int) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *[ROW.format(year=year)] * n]) + "\n")
    return path


@pytest.mark.django_db
def test_the_newest_release_is_counted_and_an_old_one_does_not_come_back(tmp_path):
    ctdc.import_ctdc(
        actor=None, path=_file(tmp_path, "a.csv", 2016, 12), release="2020-01-01"
    )
    assert count_table(rows="year").cells == ((12,),)
    ctdc.import_ctdc(
        actor=None, path=_file(tmp_path, "b.csv", 2017, 15), release="2020-02-01"
    )
    table = count_table(rows="year")
    assert table.rows == ("2017",) and table.grand_total == 15
    # Importing the old file again adds nothing and does not make it current.
    again = ctdc.import_ctdc(
        actor=None, path=_file(tmp_path, "a.csv", 2016, 12), release="2020-01-01"
    )
    assert again.imported == 0 and again.already_present == 12
    assert count_table(rows="year").grand_total == 15
    assert [(r.source, r.release) for r in releases.current()] == [
        ("ctdc", "2020-02-01")
    ]
    assert releases.superseded() == [("ctdc", "2020-01-01")]


@pytest.mark.django_db
def test_a_rejected_import_registers_no_release(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        HEADER + "\n" + ROW.format(year=2016).replace("9--17", "9--99") + "\n"
    )
    result = ctdc.import_ctdc(actor=None, path=bad, release="2020-03-01")
    assert result.rejected == 1
    assert not HistoricalRelease.objects.exists()


def test_parts_are_protected_each_on_its_own():
    public = Table(
        rows=["F", "M"], columns=["child", "adult"], cells=[[20, 30], [20, 40]]
    )
    live = Table(rows=["F", "M"], columns=["child", "adult"], cells=[[12, 15], [3, 11]])
    combined = protect_parts([public, live])
    own = protect(live)
    for i in range(2):
        for j in range(2):
            figure = combined.cells[i][j]
            if own.cells[i][j].suppressed:
                assert figure.suppressed  # nothing to subtract the public part from
            else:
                public_value = protect(public).cells[i][j].value
                own_value = own.cells[i][j].value
                assert public_value is not None and own_value is not None
                assert figure.value == public_value + own_value
    # The small live count (3 boys) is primary-suppressed in the sum too.
    assert combined.cells[1][0].reason == Reason.SUPPRESSED
    assert combined.grand_total.value == 150


def test_parts_must_have_the_same_labels():
    with pytest.raises(ValueError):
        protect_parts([Table(["a"], ["x"], [[1]]), Table(["b"], ["x"], [[1]])])
    with pytest.raises(ValueError):
        protect_parts([])


@pytest.mark.django_db
def test_the_dashboard_names_the_release_it_counts(tmp_path, signed_in, org_a):
    from trm.accounts.models import Role
    from trm.accounts.tests.factories import UserFactory

    ctdc.import_ctdc(
        actor=None, path=_file(tmp_path, "a.csv", 2016, 12), release="2020-01-01"
    )
    ctdc.import_ctdc(
        actor=None, path=_file(tmp_path, "b.csv", 2017, 15), release="2020-02-01"
    )
    ncp = UserFactory(organisation=org_a, roles=[Role.NATIONAL_CONTACT_POINT])
    html = signed_in(ncp).get("/statistics/").content.decode()
    assert "CTDC release 2020-02-01" in html
    assert "2020-01-01" not in html
