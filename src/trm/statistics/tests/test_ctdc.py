"""CTDC import (issue 8, item 2): mapping, idempotency, bad input, layouts.

Samples are constructed here (synthetic rows in the CTDC layouts); only the
slow test reads the real subset from ../shared/data, skipped when absent.
"""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from trm.audit.models import AuditEntry
from trm.statistics import ctdc
from trm.statistics.models import HistoricalRecord

pytestmark = pytest.mark.django_db

SUBSET_HEADER = (
    "yearOfRegistration,gender,ageBroad,citizenship,isForcedLabour,"
    "isSexualExploit,CountryOfExploitation,nacionalidade_lat,nacionalidade_long,"
    "nacionalidade,pais_exploracao_lat,pais_exploracao_long,pais_exploracao,"
    "nacionalidade_alpha3,pais_exploracao_alpha3"
)
TAIL = ",1.0,2.0,Somewhere,,,,AAA,"  # the author's lookup columns, ignored


def subset(*rows: str, header: str = SUBSET_HEADER) -> str:
    return "\n".join([header, *(r + TAIL for r in rows)]) + "\n"


def write(tmp_path: Path, text: str, name: str = "ctdc.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run_import(path: Path, **kwargs) -> ctdc.ImportResult:
    return ctdc.import_ctdc(actor=None, path=path, **kwargs)


def test_subset_special_values_are_mapped(tmp_path):
    path = write(
        tmp_path,
        subset(
            "2016,Female,9--17,MD,0.0,1.0,RU",
            "2017,Male,30--38,0,1.0,0.0,0",  # 0 = CTDC's unknown country
            "2018,Female,,NA,,,NA",  # NA is Namibia; empty = missing
            ",,48+,,1.0,1.0,",
        ),
    )

    result = run_import(path)

    assert result.summary() == "imported 4, already present 0, rejected 0"
    child, man, namibian, unknown = HistoricalRecord.objects.order_by("pk")
    assert (child.source, child.release) == ("ctdc", "2020-04-14")
    assert (child.year_of_registration, child.gender, child.age_group) == (
        2016,
        "Feminine",
        "9--17",
    )
    assert child.is_child is True
    assert (child.citizenship, child.country_of_exploitation) == ("MD", "RU")
    assert child.exploitation_types == ["SexualExploitation"]
    assert (man.gender, man.is_child, man.exploitation_types) == (
        "Masculine",
        False,
        ["ForcedLabour"],
    )
    assert (man.citizenship, man.country_of_exploitation) == ("", "")
    assert (namibian.citizenship, namibian.country_of_exploitation) == ("NA", "NA")
    assert (namibian.age_group, namibian.is_child) == ("", None)
    assert namibian.exploitation_types == []
    assert unknown.year_of_registration is None
    assert unknown.gender == "NonSpecifiedUnknown"
    assert unknown.exploitation_types == ["ForcedLabour", "SexualExploitation"]
    assert unknown.is_child_at_exploitation is None
    assert unknown.data_source == ""


def test_a_second_import_adds_nothing_and_identical_rows_stay_distinct(tmp_path):
    same = "2016,Female,18--20,UA,0.0,1.0,PL"
    path = write(tmp_path, subset(same, same, "2016,Male,21--23,UA,1.0,0.0,PL"))

    first = run_import(path)
    second = run_import(path)

    assert first.summary() == "imported 3, already present 0, rejected 0"
    assert second.summary() == "imported 0, already present 3, rejected 0"
    assert HistoricalRecord.objects.count() == 3
    assert AuditEntry.objects.filter(action="statistics.ctdc_imported").count() == 2


def test_another_release_of_the_same_rows_is_kept_apart(tmp_path):
    path = write(tmp_path, subset("2016,Female,18--20,UA,0.0,1.0,PL"))

    run_import(path)
    later = run_import(path, release="2021-01-01")

    assert later.imported == 1
    assert set(HistoricalRecord.objects.values_list("release", flat=True)) == {
        "2020-04-14",
        "2021-01-01",
    }


def test_a_missing_column_is_named_and_nothing_is_imported(tmp_path):
    header = SUBSET_HEADER.replace("ageBroad,", "")
    path = write(tmp_path, header + "\n2016,Female,MD,0.0,1.0,RU" + TAIL + "\n")

    with pytest.raises(ctdc.CtdcFormatError) as raised:
        run_import(path)

    assert "line 1, column ageBroad: missing column" in raised.value.message
    assert raised.value.details["column"] == "ageBroad"
    assert HistoricalRecord.objects.count() == 0


def test_a_wrong_separator_is_named(tmp_path):
    text = subset("2016,Female,9--17,MD,0.0,1.0,RU").replace(",", ";")
    path = write(tmp_path, text)

    with pytest.raises(ctdc.CtdcFormatError) as raised:
        run_import(path)

    message = raised.value.message
    assert "line 1" in message
    assert "separated by ';'" in message
    assert "separated by ','" in message
    assert HistoricalRecord.objects.count() == 0


def test_a_truncated_last_line_is_rejected_and_nothing_is_imported(tmp_path):
    text = subset("2016,Female,9--17,MD,0.0,1.0,RU") + "2017,Male,30--38,UA,1."
    path = write(tmp_path, text)

    result = run_import(path)

    assert result.summary() == "imported 0, already present 0, rejected 1"
    assert str(result.rejections[0]) == (
        "row 2 (line 3), column isSexualExploit: 5 cells where the header has 15 "
        "(truncated line?)"
    )
    assert HistoricalRecord.objects.count() == 0


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        ("2016,Female,10--12,MD,0.0,1.0,RU", "ageBroad", "unknown age band '10--12'"),
        ("2016,Female,9--17,MD,yes,1.0,RU", "isForcedLabour", "bad flag 'yes'"),
        ("2016,Female,9--17,MDA,0.0,1.0,RU", "citizenship", "bad country code 'MDA'"),
        ("2016,Female,9--17,MD,0.0,1.0,QQ", "CountryOfExploitation", "bad country"),
        ("2016,Woman,9--17,MD,0.0,1.0,RU", "gender", "unknown gender 'Woman'"),
        ("16,Female,9--17,MD,0.0,1.0,RU", "yearOfRegistration", "bad year '16'"),
    ],
)
def test_an_unreadable_value_names_row_and_column(tmp_path, row, column, message):
    path = write(tmp_path, subset("2016,Male,18--20,UA,1.0,0.0,PL", row))

    result = run_import(path)

    assert result.imported == 0
    (rejection,) = result.rejections
    assert (rejection.row, rejection.line, rejection.column) == (2, 3, column)
    assert message in rejection.message
    assert HistoricalRecord.objects.count() == 0
    assert not AuditEntry.objects.filter(action="statistics.ctdc_imported").exists()


def test_skip_invalid_imports_the_good_rows_and_reports_the_bad(tmp_path):
    path = write(
        tmp_path,
        subset(
            "2016,Female,9--17,MD,0.0,1.0,RU",
            "2016,Female,7--9,MD,0.0,1.0,RU",
            "2017,Male,30--38,UA,1.0,0.0,PL",
        ),
    )

    result = run_import(path, skip_invalid=True)

    assert result.summary() == "imported 2, already present 0, rejected 1"
    assert str(result.rejections[0]) == (
        "row 2 (line 3), column ageBroad: unknown age band '7--9'"
    )
    assert HistoricalRecord.objects.count() == 2


def test_row_keys_are_those_of_row_key_over_the_raw_cells(tmp_path):
    quoted = '2016,Female,9--17,MD,0.0,1.0,RU,1.0,2.0,"Moldova, Rep.",,,,AAA,'
    # A blank line is not a row; a quoted cell may hold the separator.
    text = "\n".join(
        [SUBSET_HEADER, "2017,Male,30--38,UA,1.0,0.0,PL" + TAIL, "", quoted]
    )
    path = write(tmp_path, text + "\n")

    run_import(path, release="2021-02-03")

    first = ["2017", "Male", "30--38", "UA", "1.0", "0.0", "PL", *TAIL[1:].split(",")]
    second = quoted.replace('"Moldova, Rep."', "M").split(",")
    second[9] = "Moldova, Rep."
    assert list(HistoricalRecord.objects.order_by("pk").values_list("row_key")) == [
        (ctdc.row_key(release="2021-02-03", row=1, cells=first),),
        (ctdc.row_key(release="2021-02-03", row=2, cells=second),),
    ]


def test_lists_are_stored_as_the_json_field_stores_them(tmp_path):
    from django.db import connection

    path = write(tmp_path, subset("2016,Female,9--17,MD,1.0,1.0,RU"))
    run_import(path)
    HistoricalRecord.objects.create(
        source="orm",
        release="x",
        row_key="orm",
        exploitation_types=["ForcedLabour", "SexualExploitation"],
    )

    as_text = "::text" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT exploitation_types{as_text}, means_of_control{as_text} "  # noqa: S608
            f"FROM {HistoricalRecord._meta.db_table} ORDER BY id"
        )
        imported, created = cursor.fetchall()
    assert imported == created


def test_batches_count_new_and_present_rows_and_report_progress(tmp_path):
    first = ["2016,Female,18--20,UA,0.0,1.0,PL", "2016,Male,21--23,UA,1.0,0.0,PL"]
    more = [*first, "2017,Female,9--17,MD,0.0,1.0,RU", "2018,Male,48+,UA,1.0,0.0,"]
    run_import(write(tmp_path, subset(*first), "first.csv"))
    path = write(tmp_path, subset(*more, more[0]))
    calls = []

    result = run_import(path, batch_size=2, progress=lambda *args: calls.append(args))

    assert result.summary() == "imported 3, already present 2, rejected 0"
    size = path.stat().st_size
    assert [rows for rows, _, _ in calls] == [2, 4, 5]
    assert calls[-1] == (5, size, size)
    assert list(
        HistoricalRecord.objects.order_by("pk").values_list(
            "year_of_registration", flat=True
        )
    ) == [2016, 2016, 2017, 2018, 2016]


def test_a_rejected_row_keeps_the_counts_of_present_rows_and_imports_nothing(
    tmp_path,
):
    rows = ["2016,Female,18--20,UA,0.0,1.0,PL", "2016,Male,21--23,UA,1.0,0.0,PL"]
    run_import(write(tmp_path, subset(*rows), "first.csv"))
    path = write(tmp_path, subset(*rows, "2017,Female,9--17,MD,0.0,1.0,RU", "x"))

    result = run_import(path, batch_size=1)

    assert result.summary() == "imported 0, already present 2, rejected 1"
    assert HistoricalRecord.objects.count() == 2


def test_broken_quoting_after_inserted_batches_imports_nothing(tmp_path):
    good = "2016,Female,18--20,UA,0.0,1.0,PL"
    text = subset(*[good] * 5) + '"2016"x,Female,18--20,UA,0.0,1.0,PL' + TAIL + "\n"
    path = write(tmp_path, text)

    with pytest.raises(ctdc.CtdcFormatError, match="line 7"):
        run_import(path, batch_size=2)

    assert HistoricalRecord.objects.count() == 0
    assert run_import(write(tmp_path, subset(good), "good.csv")).imported == 1


def test_a_database_error_of_the_insert_thread_is_raised_as_django_s():
    from django.db import DatabaseError, connection, transaction

    from trm.statistics.bulk import _SQLiteInserter

    if connection.vendor != "sqlite":
        pytest.skip("the insert thread is SQLite's")
    with transaction.atomic():
        connection.ensure_connection()
        inserter = _SQLiteInserter(connection.connection)
        inserter.put("INSERT INTO no_such_table VALUES (?)", [1], counted=True)
        with pytest.raises(DatabaseError):
            inserter.finish(raise_error=True)


def test_a_byte_order_mark_is_ignored_and_counted_in_the_progress(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(
        b"\xef\xbb\xbf" + subset("2016,Female,9--17,MD,0.0,1.0,RU").encode()
    )
    calls = []

    result = run_import(path, progress=lambda *args: calls.append(args))

    assert result.summary() == "imported 1, already present 0, rejected 0"
    size = path.stat().st_size
    assert calls[-1] == (1, size, size)


# --- the full 63-column layout ----------------------------------------------------

TERMS = (
    "By using this data you agree to the Terms of Use: "
    "https://www.ctdatacollaborative.org/terms-use"
)
# The codebook's list of variables (CTDC Data Codebook v6, section 2), in its
# order and spelling, behind the terms-of-use cell of the published file.
CODEBOOK_VARIABLES = """
yearOfRegistration datasource gender ageBroad majorityStatus majorityStatusAtExploit
majorityEntry citizenship meansOfControlDebtBondage meansOfControlTakesEarnings
meansOfControlRestrictsFinancialAccess meansOfControlThreats
meansOfControlPsychologicalAbuse meansOfControlPhysicalAbuse meansOfControlSexualAbuse
meansOfControlFalsePromises meansOfControlPsychoactiveSubstances
meansOfControlRestrictsMovement meansOfControlRestrictsMedicalCare
meansOfControlExcessiveWorkingHours meansOfControlUsesChildren
meansOfControlThreatOfLawEnforcement meansOfControlWithholdsNecessities
meansOfControlWithholdsDocuments meansOfControlOther meansOfControlNotSpecified
meansOfControlConcatenated isForcedLabour isSexualExploit isOtherExploit isSexAndLabour
isForcedMarriage isForcedMilitary isOrganRemoval typeOfExploitConcatenated
typeOfLabourAgriculture typeOfLabourAquafarming typeOfLabourBegging
typeOfLabourConstruction typeOfLabourDomesticWork typeOfLabourHospitality
typeOfLabourIllicitActivities typeOfLabourManufacturing typeOfLabourMiningOrDrilling
typeOfLabourPeddling typeOfLabourTransportation typeOfLabourOther
typeOfLabourNotSpecified typeOfLabourConcatenated typeOfSexProstitution
typeOfSexPornography typeOfSexRemoteInteractiveServices typeOfSexPrivateSexualServices
typeOfSexConcatenated isAbduction RecruiterRelationship CountryofExploitation
recruiterRelationIntimatePartner recruiterRelationFriend recruiterRelationFamily
recruiterRelationOther recruiterRelationUnknown
""".split()  # noqa: SIM905 - the codebook's list, as printed
FULL_COLUMNS = [TERMS, *CODEBOOK_VARIABLES]


def full_row(columns: list[str] = FULL_COLUMNS, **values: str) -> str:
    cells = dict.fromkeys(columns[1:], "-99")
    cells.update(values)
    return ";".join(["", *(cells[c] for c in columns[1:])])


def full_file(*rows: str, columns: list[str] = FULL_COLUMNS) -> str:
    header = ";".join(f'"{c}"' if c == TERMS else c for c in columns)
    return "\n".join([header, *rows]) + "\n"


def test_the_full_layout_has_63_columns():
    assert len(FULL_COLUMNS) == 63


def test_the_full_layout_is_mapped(tmp_path):
    path = write(
        tmp_path,
        full_file(
            full_row(
                yearOfRegistration="2015",
                datasource="Case management",
                gender="Female",
                ageBroad="18--20",
                majorityStatus="Adult",
                majorityStatusAtExploit="Minor",
                citizenship="UA",
                meansOfControlDebtBondage="1",
                meansOfControlThreats="1",
                meansOfControlThreatOfLawEnforcement="1",
                meansOfControlNotSpecified="0",
                isSexAndLabour="1",
                isForcedMarriage="0",
                typeOfLabourDomesticWork="1",
                typeOfSexProstitution="1",
                isAbduction="0",
                RecruiterRelationship="Friend/Acquaintance",
                recruiterRelationFriend="1",
                recruiterRelationUnknown="0",
                CountryofExploitation="NA",
            ),
            full_row(datasource="Hotline", citizenship="ZZ", ageBroad="0--8"),
            full_row(),  # every cell -99: all missing
        ),
    )

    result = run_import(path)

    assert result.summary() == "imported 3, already present 0, rejected 0"
    first, second, empty = HistoricalRecord.objects.order_by("pk")
    assert (first.year_of_registration, first.data_source) == (2015, "CaseManagement")
    assert (first.gender, first.age_group) == ("Feminine", "18--20")
    assert (first.is_child, first.is_child_at_exploitation) == (False, True)
    assert (first.citizenship, first.country_of_exploitation) == ("UA", "NA")
    assert first.means_of_control == [
        "DebtBondage",
        "Threats",
        "ThreatOfLawEnforcement",
    ]
    assert first.exploitation_types == ["ForcedLabour", "SexualExploitation"]
    assert first.types_of_labour == ["DomesticWork"]
    assert first.types_of_sexual_exploitation == ["Prostitution"]
    assert first.is_abduction is False
    assert first.recruiter_relations == ["Friend"]
    assert (second.data_source, second.citizenship) == ("Hotline", "")
    assert (second.age_group, second.is_child) == ("0--8", True)
    assert empty.year_of_registration is None
    assert (empty.gender, empty.age_group, empty.data_source) == (
        "NonSpecifiedUnknown",
        "",
        "",
    )
    assert (empty.is_child, empty.is_abduction) == (None, None)
    assert empty.exploitation_types == empty.means_of_control == []


def test_a_later_release_may_add_slavery_and_rename_a_column(tmp_path):
    columns = [
        *(
            "meansOfControlThreatOfLawAction"
            if c == "meansOfControlThreatOfLawEnforcement"
            else c
            for c in FULL_COLUMNS
        ),
        "isSlaveryAndPractices",
    ]
    path = write(
        tmp_path,
        full_file(
            full_row(
                columns, meansOfControlThreatOfLawAction="1", isSlaveryAndPractices="1"
            ),
            columns=columns,
        ),
    )

    run_import(path)

    record = HistoricalRecord.objects.get()
    assert record.means_of_control == ["ThreatOfLawEnforcement"]
    assert record.exploitation_types == ["Servitude"]


def test_the_full_layout_names_a_missing_column(tmp_path):
    columns = [c for c in FULL_COLUMNS if c != "isForcedMilitary"]
    path = write(tmp_path, full_file(full_row(columns), columns=columns))

    with pytest.raises(ctdc.CtdcFormatError) as raised:
        run_import(path)

    assert raised.value.message.startswith("line 1, column isForcedMilitary: missing")
    assert HistoricalRecord.objects.count() == 0


def test_the_full_layout_reports_row_and_column(tmp_path):
    path = write(
        tmp_path,
        full_file(full_row(), full_row(meansOfControlThreats="2"), full_row()),
    )

    result = run_import(path)

    assert [str(r) for r in result.rejections] == [
        "row 2 (line 3), column meansOfControlThreats: bad flag '2' "
        "(expected 0, 1 or empty)"
    ]
    assert HistoricalRecord.objects.count() == 0


def test_the_full_layout_written_with_commas_is_refused(tmp_path):
    path = write(tmp_path, full_file(full_row()).replace(";", ","))

    with pytest.raises(ctdc.CtdcFormatError) as raised:
        run_import(path)

    assert "separated by ','" in raised.value.message
    assert "full CTDC layout" in raised.value.message


# --- trm import ctdc --------------------------------------------------------------


def test_the_command_ends_with_the_counts(tmp_path):
    path = write(tmp_path, subset("2016,Female,9--17,MD,0.0,1.0,RU"))
    out = StringIO()

    call_command("import", "ctdc", str(path), stdout=out)
    call_command("import", "ctdc", str(path), stdout=out)

    assert out.getvalue().splitlines() == [
        "imported 1, already present 0, rejected 0",
        "imported 0, already present 1, rejected 0",
    ]


def test_the_command_fails_on_rejected_rows_unless_asked(tmp_path):
    path = write(
        tmp_path,
        subset("2016,Female,9--17,MD,0.0,1.0,RU", "2016,Female,9--17,XX,0.0,1.0,RU"),
    )
    out, err = StringIO(), StringIO()

    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import", "ctdc", str(path), stdout=out, stderr=err)
    assert (
        out.getvalue().splitlines()[-1] == "imported 0, already present 0, rejected 1"
    )
    assert "row 2 (line 3), column citizenship: bad country code 'XX'" in err.getvalue()
    assert HistoricalRecord.objects.count() == 0

    out = StringIO()
    call_command(
        "import", "ctdc", str(path), "--skip-invalid", stdout=out, stderr=StringIO()
    )
    assert (
        out.getvalue().splitlines()[-1] == "imported 1, already present 0, rejected 1"
    )


def test_the_command_refuses_an_unreadable_header(tmp_path):
    path = write(tmp_path, "a\tb\tc\n1\t2\t3\n")

    with pytest.raises(CommandError, match=r"separated by '\\t'.*nothing imported"):
        call_command("import", "ctdc", str(path), stdout=StringIO())


REAL = (
    Path(__file__).resolve().parents[4].parent
    / "shared/data/ctdc-global-2020-subset/dados_app.csv"
)


@pytest.mark.slow
@pytest.mark.skipif(not REAL.exists(), reason="the CTDC subset is not on this machine")
def test_the_real_subset_imports_completely_and_once():
    first = run_import(REAL)
    second = run_import(REAL)

    assert first.summary() == "imported 48773, already present 0, rejected 0"
    assert second.summary() == "imported 0, already present 48773, rejected 0"
    assert HistoricalRecord.objects.filter(country_of_exploitation="").count() == (
        10175 + 844
    )
