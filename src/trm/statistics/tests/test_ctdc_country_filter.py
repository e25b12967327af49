"""CTDC import restricted to a node's countries (issue 10: each demo node
imports the records where it is the country of citizenship or exploitation)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from trm.statistics import ctdc
from trm.statistics.models import HistoricalRecord
from trm.statistics.tests.test_ctdc import subset, write

pytestmark = pytest.mark.django_db

ROWS = (
    "2016,Female,9--17,MD,0.0,1.0,RU",  # citizen of MD
    "2017,Male,18--20,UA,1.0,0.0,MD",  # exploited in MD
    "2018,Female,18--20,MD,0.0,1.0,MD",  # both
    "2018,Female,18--20,RO,0.0,1.0,RS",  # neither
    "2019,Male,30--38,,1.0,0.0,",  # unknown countries
    "2019,Female,21--23,RO,0.0,1.0,MK",  # neither
)


def pairs() -> set[tuple[str, str]]:
    return set(
        HistoricalRecord.objects.values_list("citizenship", "country_of_exploitation")
    )


def test_the_country_filter_keeps_exactly_that_countrys_rows(tmp_path):
    path = write(tmp_path, subset(*ROWS))

    result = ctdc.import_ctdc(actor=None, path=path, keep=ctdc.of_countries(["md"]))

    assert (result.imported, result.left_out, result.rejected) == (3, 3, 0)
    assert pairs() == {("MD", "RU"), ("UA", "MD"), ("MD", "MD")}


def test_the_command_takes_several_countries_and_counts_the_rest(tmp_path):
    path = write(tmp_path, subset(*ROWS))
    out, err = StringIO(), StringIO()

    call_command(
        "import",
        "ctdc",
        str(path),
        "--country",
        "RS",
        "--country",
        "mk",
        stdout=out,
        stderr=err,
    )

    assert (
        out.getvalue().splitlines()[-1] == "imported 2, already present 0, rejected 0"
    )
    assert "left out 4 rows" in err.getvalue()
    assert pairs() == {("RO", "RS"), ("RO", "MK")}


def test_a_second_country_import_of_the_same_file_adds_only_its_own_rows(tmp_path):
    path = write(tmp_path, subset(*ROWS))
    ctdc.import_ctdc(actor=None, path=path, keep=ctdc.of_countries(["MD"]))

    again = ctdc.import_ctdc(actor=None, path=path, keep=ctdc.of_countries(["MD"]))
    everything = ctdc.import_ctdc(actor=None, path=path)

    assert (again.imported, again.already_present) == (0, 3)
    assert (everything.imported, everything.already_present) == (3, 3)


def test_a_malformed_country_is_refused(tmp_path):
    path = write(tmp_path, subset(*ROWS))
    with pytest.raises(CommandError, match="alpha-2"):
        call_command("import", "ctdc", str(path), "--country", "Moldova")
    assert not HistoricalRecord.objects.exists()
