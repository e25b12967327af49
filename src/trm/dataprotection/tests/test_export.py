import io
import json
import logging
from datetime import UTC, datetime

import pytest
import time_machine
from django.utils import translation
from pypdf import PdfReader

from trm.audit.models import AuditEntry
from trm.cases.errors import CaseNotFound
from trm.dataprotection import export, selectors, services
from trm.dataprotection.errors import (
    DataProtectionInvalidInput,
    DataProtectionRoleRequired,
)
from trm.dataprotection.tests import people
from trm.identification.services import rights_inform
from trm.screening.services import screening_record

APRIL = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)


@pytest.fixture
def case(caseworker_a, org_b):
    return people.open_case(caseworker_a, recipient=org_b)


def _export(user, case, fmt="json"):
    return selectors.subject_access_export(user=user, case_id=case.pk, fmt=fmt)


def test_dpo_json_export_holds_identity_notes_consents_and_audit(case, auditor):
    result = _export(auditor, case)

    data = json.loads(export.render_json(result))
    assert data["schema"] == "trm.subject-access.v1"
    assert data["scope"]["code"] == "all"
    identity = data["person"]["identity"]
    assert identity["given_names"] == people.GIVEN
    assert identity["family_names"] == people.FAMILY
    assert identity["documents"][0]["number"] == "ZZ000123"
    (exported_case,) = data["cases"]
    assert exported_case["number"] == case.number
    assert {n["text"] for n in exported_case["notes"]} == {
        people.NOTE_TEXT,
        people.LEGAL_NOTE_TEXT,
    }
    assert "Fictional reason: arrived at the shelter." in [
        e["detail"] for e in exported_case["timeline"]
    ]
    tracks = {t["track"]: t["state"] for t in exported_case["tracks"]}
    assert tracks["assistance"] == "first_assistance"
    (consent,) = data["consents"]
    assert consent["declaration"] == people.DECLARATION
    assert consent["recipient_organisation"] == "Fictional Shelter B"
    actions = {e["action"] for e in data["audit"]}
    assert {"cases.case_opened", "cases.note_added", "consent.recorded"} <= actions
    assert all("actor_id" not in e for e in data["audit"])


def test_export_is_audited(case, auditor):
    _export(auditor, case, fmt="html")

    entry = AuditEntry.objects.get(action="dataprotection.subject_access_exported")
    assert entry.actor_id == auditor.pk
    assert entry.target_type == "cases.person"
    assert entry.target_id == str(case.person_id)


def test_case_manager_on_the_team_may_export_their_view(case, caseworker_a):
    data = _export(caseworker_a, case).data

    assert data["scope"]["code"] == "case_team"
    assert data["person"]["identity"]["given_names"] == people.GIVEN
    assert len(data["cases"][0]["notes"]) == 2


def test_export_is_refused_to_everyone_else(case, caseworker_b, admin_user, org_a):
    for outsider in (caseworker_b, admin_user):
        with pytest.raises(CaseNotFound):
            _export(outsider, case)
    prosecutor = people.prosecutor_on(case, org_a)
    with pytest.raises(DataProtectionRoleRequired):
        _export(prosecutor, case)
    assert not AuditEntry.objects.filter(
        action="dataprotection.subject_access_exported"
    ).exists()


def test_unknown_format_is_refused(case, auditor):
    with pytest.raises(DataProtectionInvalidInput):
        _export(auditor, case, fmt="xml")


@time_machine.travel(APRIL, tick=False)
def test_html_export_is_in_romanian_for_a_romanian_speaker(case, auditor):
    with translation.override("en"):
        result = _export(auditor, case, fmt="html")
        html = export.render_html(result)

    assert result.language == "ro"
    assert '<html lang="ro">' in html
    assert "Manager de caz" in html  # the role on the case team
    assert "3 Aprilie 2026" in html  # Django's Romanian month name (export date)
    assert people.FAMILY in html
    assert "@media print" in html


@pytest.mark.parametrize(
    ("languages", "expected"),
    [(("ro",), "ro"), (("tr", "bg"), "bg"), (("ron",), "ro"), (("tr",), "en")],
)
def test_export_language_is_the_first_the_node_speaks(
    caseworker_a, languages, expected
):
    case = people.open_case(caseworker_a, languages=languages, with_records=False)

    with translation.override("en"):
        assert export.export_language(case.person) == expected


def test_export_after_erasure_says_erased_and_holds_no_plaintext(
    case, caseworker_a, auditor, admin_user
):
    request = services.erasure_request(
        actor=caseworker_a, case_id=case.pk, reason="gdpr_art17"
    )
    services.erasure_confirm(actor=admin_user, request_id=request.pk)

    result = _export(auditor, case)

    data = result.data
    assert data["person"]["erased"] is True
    assert data["person"]["identity"] is None
    assert all(n["text"] is None for n in data["cases"][0]["notes"])
    assert data["consents"][0]["declaration"] is None
    assert data["erasure_requests"][0]["status"]["code"] == "confirmed"
    body = export.render_json(result).decode()
    assert people.GIVEN not in body
    assert people.NOTE_TEXT not in body


def test_filename_is_the_case_number_only(case, auditor):
    result = _export(auditor, case)

    name = export.filename(result, "pdf")
    assert name == f"subject-access-{case.number}.pdf"
    assert people.GIVEN not in name


def _pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


@pytest.mark.skipif(
    not (export.FONT_DIR / "DejaVuSans.ttf").is_file(),
    reason="fonts-dejavu-core is not installed",
)
def test_pdf_export_embeds_a_font_for_cyrillic(caseworker_a, auditor):
    case = people.open_case(
        caseworker_a, family_names=people.CYRILLIC_FAMILY, with_records=False
    )

    pdf = export.render_pdf(_export(auditor, case, fmt="pdf"))

    assert pdf.startswith(b"%PDF-")
    text = _pdf_text(pdf)
    assert people.CYRILLIC_FAMILY in text
    assert "DejaVu Sans is not installed" not in text


def test_pdf_export_without_the_font_says_so_in_the_footer(case, auditor, tmp_path):
    pdf = export.render_pdf(_export(auditor, case, fmt="pdf"), font_dir=tmp_path)

    assert pdf.startswith(b"%PDF-")
    text = " ".join(_pdf_text(pdf).split())
    assert "DejaVu Sans" in text
    assert people.FAMILY in text


def test_pdf_rendering_logs_no_personal_data(case, auditor, tmp_path, caplog):
    with caplog.at_level(logging.DEBUG):
        export.render_pdf(_export(auditor, case, fmt="pdf"), font_dir=tmp_path)

    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert people.FAMILY not in logged
    assert people.GIVEN not in logged
    # xhtml2pdf quotes document fragments in its warnings; settings mute it.
    renderer_log = logging.getLogger("xhtml2pdf")
    assert not renderer_log.propagate
    assert not renderer_log.isEnabledFor(logging.ERROR)


def test_html_export_names_timeline_events_in_words_not_codes():
    from django.utils import translation

    from trm.cases.labels import event_kind_label

    with translation.override("ro"):
        assert event_kind_label("case.opened") != "case.opened"
    assert event_kind_label("unknown.kind") == "unknown.kind"


# --- SOP 1 records: screenings and rights information ------------------------------

SCREENING_ANSWERS = {
    "al.d1.deceived_nature_of_job": {"value": "present", "evidence": "observed"},
    "al.d1.deceived_wages": {"value": "present", "evidence": "self_reported"},
    "al.d4.excessive_working_hours": {"value": "present", "evidence": "observed"},
    "al.d4.low_or_no_salary": {"value": "present", "evidence": "documented"},
    "al.d5.debt_bondage": {"value": "present", "evidence": "observed"},
    "al.d5.confiscation_of_documents": {"value": "present", "evidence": "observed"},
    "al.d2.violence": {"value": "absent", "evidence": ""},
}
SCREENING_NOTE = "Fictional screening note: met at the Quorrin bus station."


@pytest.fixture
def screened_case(caseworker_a):
    # A language the node has no catalogue for: the export is in English.
    case = people.open_case(caseworker_a, languages=("tr",), with_records=False)
    screening_record(
        actor=caseworker_a,
        case_id=case.pk,
        exploitation=["labour"],
        responses=SCREENING_ANSWERS,
        note=SCREENING_NOTE,
    )
    rights_inform(
        actor=caseworker_a,
        case_id=case.pk,
        context="reflection_period",
        informed=["reflection_period", "assistance_unconditional"],
        language="ro",
        interpreter=True,
    )
    return case


def _export_en(user, case, fmt="json"):
    with translation.override("en"):
        return _export(user, case, fmt=fmt)


def test_json_export_holds_screenings_with_answers_and_rights_information(
    screened_case, caseworker_a
):
    result = _export_en(caseworker_a, screened_case)

    data = json.loads(export.render_json(result))
    (exported_case,) = data["cases"]
    (screening,) = exported_case["screenings"]
    assert screening["instrument"] == {
        "code": "ILO-EC-2009",
        "version": "2009-09 (revised)",
    }
    assert screening["lists"] == [
        {"id": "adult_labour", "title": "Adults — labour exploitation"}
    ]
    assert screening["result"]["code"] == "refer"
    assert screening["result"]["label"].startswith("Indicators suggest")
    assert screening["by_organisation"] == "Fictional Ministry A"
    answers = {a["indicator"]: a for a in screening["answers"]}
    assert set(answers) == set(SCREENING_ANSWERS)
    assert answers["al.d5.debt_bondage"]["title"] == "Debt bondage"
    assert answers["al.d5.debt_bondage"]["value"] == {
        "code": "present",
        "label": "Present",
    }
    assert answers["al.d1.deceived_wages"]["evidence"]["label"] == "Self-reported"
    assert answers["al.d2.violence"]["evidence"] is None
    assert screening["facts"] == []
    assert screening["note"] == SCREENING_NOTE
    (informed,) = exported_case["rights_information"]
    assert informed["context"]["code"] == "reflection_period"
    assert informed["context"]["label"] == "Start of the reflection period"
    assert [i["code"] for i in informed["items"]] == [
        "assistance_unconditional",
        "reflection_period",
    ]
    assert informed["items"][0]["label"].startswith("Assistance does not depend")
    assert informed["language"] == {"code": "ro", "label": "Romanian"}
    assert informed["interpreter"] is True
    codes = {e["kind"]: e["code"] for e in exported_case["timeline"]}
    assert codes["sop1.screening_recorded"] == "refer"
    assert codes["sop1.person_informed"] == "reflection_period"
    assert codes["case.opened"] == ""
    assert "screening.recorded" in {e["action"] for e in data["audit"]}


def test_export_after_erasure_keeps_the_screening_result_not_the_answers(
    screened_case, caseworker_a, auditor, admin_user
):
    request = services.erasure_request(
        actor=caseworker_a, case_id=screened_case.pk, reason="gdpr_art17"
    )
    services.erasure_confirm(actor=admin_user, request_id=request.pk)

    result = _export_en(auditor, screened_case)

    (screening,) = result.data["cases"][0]["screenings"]
    assert screening["answers"] is None
    assert screening["facts"] is None
    assert screening["note"] is None
    assert screening["result"]["code"] == "refer"
    assert screening["rule_result"]["code"] == "indicative_positive"
    (informed,) = result.data["cases"][0]["rights_information"]
    assert informed["context"]["code"] == "reflection_period"
    body = export.render_json(result).decode()
    assert SCREENING_NOTE not in body
    html = export.render_html(result)
    assert "The answers, facts and note were erased" in html
    assert SCREENING_NOTE not in html


def test_html_export_shows_screenings_and_rights_information(
    screened_case, caseworker_a
):
    html = export.render_html(_export_en(caseworker_a, screened_case, fmt="html"))

    assert "Screenings for indicators of trafficking" in html
    assert "Adults — labour exploitation" in html
    assert "Debt bondage" in html
    assert "Self-reported" in html
    assert SCREENING_NOTE in html
    assert "What the person was told about their rights" in html
    assert "Start of the reflection period" in html
    assert "Romanian (with an interpreter)" in html


def test_html_export_says_when_there_is_no_screening_or_rights_information(
    caseworker_a,
):
    case = people.open_case(caseworker_a, languages=("tr",), with_records=False)

    html = export.render_html(_export_en(caseworker_a, case, fmt="html"))

    assert "No screening." in html
    assert "No record that the person was informed of their rights." in html


def test_export_holds_assessments_care_and_referrals(caseworker_a, auditor):
    """SOP 2/3 records are part of the subject-access export (GDPR Art. 15), in
    JSON and in the HTML, with staff named by organisation only."""
    from trm.assessments.tests.factories import record_risk
    from trm.care.tests.helpers import agreed

    case = people.open_case(caseworker_a, with_records=False)
    record_risk(case, caseworker_a, level="high")
    agreed(case, caseworker_a)

    data = json.loads(export.render_json(_export(auditor, case)))
    (risk,) = data["assistance"]["assessments"]
    assert risk["type"] == "risk_assessment"
    assert risk["person_concerns"] == "Fictional worry about a fictional debt."
    assert risk["assessed_by"] == caseworker_a.organisation.name
    assert caseworker_a.get_username() not in json.dumps(data["assistance"])
    assert [r["record"] for r in data["assistance"]["care"]] == ["care_plan"]
    assert data["assistance"]["referrals"] == []

    html = export.render_html(_export_en(auditor, case, fmt="html"))
    with translation.override("ro"):  # the person's language
        assert translation.gettext("Assistance records") in html
    assert "Fictional worry about a fictional debt." in html


def test_assistance_records_are_limited_to_the_included_cases(caseworker_a):
    """The case-team export holds the records of the cases it includes only."""
    from trm.assessments.tests.factories import record_risk

    case = people.open_case(caseworker_a, with_records=False)
    record_risk(case, caseworker_a)
    records = export._assistance_records(case.person, {case.number})
    assert len(records["assessments"]) == 1
    assert export._assistance_records(case.person, set()) == {
        "assessments": [],
        "referrals": [],
        "care": [],
    }
