"""The case pages: list, search, open, the case page and its actions.

All names are fictional. Every case URL answers 404 to a user not on the team.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from tests.test_accessibility import assert_invalid_fields_described, assert_page_basics

from trm.accounts.models import Role
from trm.accounts.node_users import node_user
from trm.accounts.tests.factories import OrganisationFactory, UserFactory
from trm.accounts.tests.helpers import message_texts
from trm.audit.models import AuditEntry
from trm.cases import selectors, services, views
from trm.cases.identity import IdentityDocument, PersonIdentity
from trm.cases.models import Case, CaseEvent, CaseNote, CaseTeamMember, Person
from trm.cases.tests.factories import set_states
from trm.dataprotection import crypto

pytestmark = pytest.mark.django_db

CYRILLIC_GIVEN, CYRILLIC_FAMILY = "Иоана", "Фиктивова"
LATIN_NAME = "Ioana Fiktivova"


def open_case(actor, **identity):
    values = {
        "given_names": CYRILLIC_GIVEN,
        "family_names": CYRILLIC_FAMILY,
        "birth_date": "1999-04-03",
        "documents": [IdentityDocument(kind="passport", number="ZZ 000 111")],
        "phones": ["+40 700 000 001"],
    }
    values.update(identity)
    return services.case_open(
        actor=actor,
        identity=PersonIdentity(**values),
        citizenships=["RO"],
        languages=["ro"],
    )


@pytest.fixture
def case(caseworker_a):
    return open_case(caseworker_a)


@pytest.fixture
def prosecutor(org_b):
    return UserFactory(
        username="prosecutor-b", organisation=org_b, roles=[Role.PROSECUTOR]
    )


def html(response) -> str:
    return str(response.content.decode())


def open_form(**overrides):
    data = {
        "given_names": "Fictional Maria",
        "family_names": "Testerova",
        "aliases": "\n".join(["Mimi", "Мария Тестерова"]),
        "birth_date": "2001-02-03",
        "place_of_birth": "Fictional Town",
        "documents-TOTAL_FORMS": "2",
        "documents-INITIAL_FORMS": "0",
        "documents-MIN_NUM_FORMS": "0",
        "documents-MAX_NUM_FORMS": "10",
        "documents-0-kind": "passport",
        "documents-0-number": "XX 999 001",
        "documents-0-issuing_country": "MD",
        "documents-1-kind": "",
        "documents-1-number": "",
        "documents-1-issuing_country": "",
        "phones": "+373 600 00 000",
        "addresses": "1 Fictional Street",
        "gender": "Feminine",
        "age_band": "",
        "citizenships": ["MD", "RO"],
        "languages": "ro, ru",
        "number": "",
    }
    data.update(overrides)
    return data


def counts() -> tuple[int, int, int]:
    return Case.objects.count(), Person.objects.count(), AuditEntry.objects.count()


# --- pages render -------------------------------------------------------------------


def test_every_case_page_renders_for_a_team_member(signed_in, caseworker_a, case):
    services.case_team_add(
        actor=caseworker_a,
        case_id=case.pk,
        user_id=UserFactory(roles=[Role.SERVICE_PROVIDER]).pk,
        role=Role.SERVICE_PROVIDER,
    )
    member = CaseTeamMember.objects.exclude(user=caseworker_a).get(case=case)
    client = signed_in(caseworker_a)
    pages = [
        reverse("cases:list"),
        reverse("cases:list") + "?status=closed",
        reverse("cases:list") + "?status=all",
        reverse("cases:search"),
        reverse("cases:open"),
        reverse("cases:detail", args=[case.pk]),
        reverse("cases:close", args=[case.pk]),
        reverse("cases:team_remove", args=[case.pk, member.user_id]),
        reverse("cases:edit_identity", args=[case.pk]),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_page_basics(html(response))


def test_case_page_shows_tracks_person_timeline_team_and_moves(
    signed_in, caseworker_a, case
):
    set_states(case, identification="presumed")
    response = signed_in(caseworker_a).get(reverse("cases:detail", args=[case.pk]))
    page = html(response)
    for label in [
        "Identification",
        "Assistance",
        "Reflection and residence",
        "Criminal and civil proceedings",
        "Child protection",
        "Transnational link",
    ]:
        assert label in page
    assert f"{CYRILLIC_GIVEN} {CYRILLIC_FAMILY}" in page
    assert "ZZ 000 111" in page
    assert "Case opened" in page
    assert caseworker_a.get_full_name() in page
    # A case manager may notify the national contact point; identification and
    # first assistance have their own forms (trm.identification,
    # trm.assistance), never the generic move.
    assert 'value="ncp_notified"' in page
    assert 'value="first_assistance"' not in page
    assert 'value="identified"' not in page
    assert response["Cache-Control"].startswith("max-age=0")
    assert "no-store" in response["Cache-Control"]
    # The page title carries the case number, never the name.
    title = page.split("<title>")[1].split("</title>")[0]
    assert case.number in title and CYRILLIC_FAMILY not in title


def test_reading_the_case_page_is_audited(signed_in, caseworker_a, case):
    signed_in(caseworker_a).get(reverse("cases:detail", args=[case.pk]))
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"cases.person_read"} <= actions


def test_case_page_of_an_erased_person_says_so(signed_in, caseworker_a, case):
    crypto.destroy_data_key(case.person.data_key_id)
    Person.objects.filter(pk=case.person_id).update(erased_at=timezone.now())
    client = signed_in(caseworker_a)
    page = html(client.get(reverse("cases:detail", args=[case.pk])))
    assert "Personal data erased" in page
    assert CYRILLIC_FAMILY not in page
    assert reverse("cases:edit_identity", args=[case.pk]) not in page
    listing = html(client.get(reverse("cases:list")))
    assert "data erased" in listing
    assert client.get(reverse("cases:edit_identity", args=[case.pk])).status_code == (
        409
    )


# --- list ---------------------------------------------------------------------------


def test_list_shows_number_name_tracks_lead_org_and_date(signed_in, caseworker_a, case):
    page = html(signed_in(caseworker_a).get(reverse("cases:list")))
    assert case.number in page
    assert f"{CYRILLIC_GIVEN} {CYRILLIC_FAMILY}" in page
    assert "Signal received" in page
    assert case.lead_organisation.name in page
    assert reverse("cases:detail", args=[case.pk]) in page


def test_list_has_open_and_closed_tabs(signed_in, caseworker_a, case):
    services.case_close(actor=caseworker_a, case_id=case.pk, reason="goals_met")
    client = signed_in(caseworker_a)
    assert case.number not in html(client.get(reverse("cases:list")))
    assert "You have no open cases." in html(client.get(reverse("cases:list")))
    closed = html(client.get(reverse("cases:list") + "?status=closed"))
    assert case.number in closed
    assert case.number in html(client.get(reverse("cases:list") + "?status=all"))


def test_list_is_paginated_and_keeps_the_tab(signed_in, caseworker_a, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    for n in range(3):
        open_case(caseworker_a, family_names=f"Fictional{n}", documents=[])
    client = signed_in(caseworker_a)
    first = html(client.get(reverse("cases:list") + "?status=all"))
    assert "Page 1 of 2" in first
    assert "?status=all&amp;page=2" in first
    second = html(client.get(reverse("cases:list") + "?status=all&page=2"))
    assert second.count("/cases/") >= 1 and "Page 2 of 2" in second


def test_list_is_empty_for_a_user_on_no_team(signed_in, caseworker_b, case):
    page = html(signed_in(caseworker_b).get(reverse("cases:list")))
    assert case.number not in page
    assert "You have no open cases." in page


def test_cases_menu_item_only_for_case_roles(signed_in, caseworker_a, auditor):
    cases_url = reverse("cases:list")
    assert f'href="{cases_url}"' in html(signed_in(caseworker_a).get("/"))
    assert f'href="{cases_url}"' not in html(signed_in(auditor).get("/"))


# --- search -------------------------------------------------------------------------


def test_search_by_latin_name_finds_case_registered_in_cyrillic(
    signed_in, caseworker_a, case
):
    response = signed_in(caseworker_a).post(
        reverse("cases:search"), {"name": LATIN_NAME}
    )
    assert response.status_code == 200
    page = html(response)
    assert case.number in page
    assert reverse("cases:detail", args=[case.pk]) in page


def test_search_by_name_and_birth_year_and_by_document(signed_in, caseworker_a, case):
    client = signed_in(caseworker_a)
    url = reverse("cases:search")
    assert case.number in html(
        client.post(url, {"name": LATIN_NAME, "birth_year": 1999})
    )
    miss = html(client.post(url, {"name": LATIN_NAME, "birth_year": 1998}))
    assert case.number not in miss and "No case you may see matches." in miss
    assert case.number in html(client.post(url, {"document_number": "zz-000111"}))


def test_search_never_puts_the_name_in_the_url(signed_in, caseworker_a, case):
    client = signed_in(caseworker_a)
    form_page = html(client.get(reverse("cases:search")))
    assert 'method="post"' in form_page
    assert f'action="{reverse("cases:search")}"' in form_page
    response = client.post(reverse("cases:search"), {"name": LATIN_NAME})
    assert response.status_code == 200  # rendered, not redirected to a URL
    assert response.request["PATH_INFO"] == reverse("cases:search")
    assert not response.request.get("QUERY_STRING")
    page = html(response)
    for href in page.split('href="')[1:]:
        link = href.split('"')[0].lower()
        assert "ioana" not in link and "fiktiv" not in link
    # A name in the query string is ignored: GET never searches.
    ignored = client.get(reverse("cases:search"), {"name": LATIN_NAME})
    assert case.number not in html(ignored)
    assert AuditEntry.objects.filter(action="cases.person_searched").count() == 1


def test_search_with_empty_name_shows_the_service_message(signed_in, caseworker_a):
    response = signed_in(caseworker_a).post(reverse("cases:search"), {"name": "  "})
    assert response.status_code == 400
    page = html(response)
    assert "Enter a name or a document number to search." in page
    assert_invalid_fields_described(assert_page_basics(page))


# --- open a case ---------------------------------------------------------------------


def test_open_case_registers_the_person_and_shows_the_case(signed_in, caseworker_a):
    client = signed_in(caseworker_a)
    response = client.post(reverse("cases:open"), open_form())
    case = Case.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("cases:detail", args=[case.pk])
    identity = selectors.person_identity_for_user(user=caseworker_a, case=case)
    assert identity is not None
    assert identity.full_name() == "Fictional Maria Testerova"
    assert identity.aliases == ["Mimi", "Мария Тестерова"]
    assert [(d.kind, d.number, d.issuing_country) for d in identity.documents] == [
        ("passport", "XX 999 001", "MD")
    ]
    assert case.person.citizenships == ["MD", "RO"]
    assert case.person.languages == ["ro", "ru"]
    assert case.person.gender == "Feminine"
    assert CaseTeamMember.objects.get(case=case).user == caseworker_a
    page = html(client.get(response["Location"]))
    assert f"Case {case.number} is open." in page
    assert "Fictional Maria Testerova" in page


def test_open_case_with_may_be_child_requests_a_guardian(signed_in, caseworker_a):
    client = signed_in(caseworker_a)
    client.post(reverse("cases:open"), open_form(may_be_child="on", birth_date=""))
    case = Case.objects.get()
    assert case.person.presumed_child
    assert case.child_protection == "guardian_requested"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"birth_date": (timezone.now().date() + timedelta(days=3)).isoformat()},
            "birth_date",
            "The birth date is in the future.",
        ),
        (
            {"languages": "ro, xx"},
            "languages",
            "Unknown language code(s): xx (use ISO 639).",
        ),
        ({"number": "TAKEN-1"}, "number", "Case number TAKEN-1 is already used"),
    ],
    ids=["future-birth-date", "unknown-language", "duplicate-number"],
)
def test_open_case_bad_input_redisplays_everything_and_saves_nothing(
    signed_in, caseworker_a, overrides, field, message
):
    if field == "number":
        services.case_open(
            actor=caseworker_a,
            identity=PersonIdentity(given_names="Fictional Other"),
            number="TAKEN-1",
        )
    before = counts()
    response = signed_in(caseworker_a).post(
        reverse("cases:open"), open_form(**overrides)
    )
    assert response.status_code == 400
    assert counts() == before
    page = html(response)
    tree = assert_page_basics(page)
    invalid = assert_invalid_fields_described(tree)
    assert [e.attrs["name"] for e in invalid] == [field]
    assert message in page
    # Nothing typed is lost.
    assert 'value="Fictional Maria"' in page
    assert "Мария Тестерова" in page
    assert 'value="XX 999 001"' in page
    assert '<option value="MD" selected>' in page
    assert '<option value="RO" selected>' in page
    assert 'value="ro, ' in page


def test_add_document_row_keeps_input_and_saves_nothing(signed_in, caseworker_a):
    before = counts()
    response = signed_in(caseworker_a).post(
        reverse("cases:open"), open_form(add_document_row="1")
    )
    assert response.status_code == 200
    assert counts() == before
    page = html(response)
    assert 'name="documents-2-number"' in page
    assert 'value="XX 999 001"' in page
    assert 'value="Fictional Maria"' in page


def test_open_form_has_two_document_rows(signed_in, caseworker_a):
    page = html(signed_in(caseworker_a).get(reverse("cases:open")))
    assert 'name="documents-0-number"' in page
    assert 'name="documents-1-number"' in page
    assert 'autocomplete="off"' in page


def test_open_case_refused_to_a_role_that_cannot_open(signed_in, auditor):
    client = signed_in(auditor)
    assert client.get(reverse("cases:open")).status_code == 403
    assert client.post(reverse("cases:open"), open_form()).status_code == 403
    assert not Case.objects.exists()


# --- access: 404 for everyone not on the team ----------------------------------------


def test_user_not_on_the_team_gets_404_on_every_case_url(
    signed_in, caseworker_a, caseworker_b, case
):
    client = signed_in(caseworker_b)
    before = counts()
    gets = [
        reverse("cases:detail", args=[case.pk]),
        reverse("cases:close", args=[case.pk]),
        reverse("cases:team_remove", args=[case.pk, caseworker_a.pk]),
        reverse("cases:edit_identity", args=[case.pk]),
    ]
    posts = [
        (
            reverse("cases:move", args=[case.pk]),
            {"track": "transnational", "target": "ncp_notified"},
        ),
        (reverse("cases:close", args=[case.pk]), {"reason": "goals_met"}),
        (
            reverse("cases:team_add", args=[case.pk]),
            {"member": f"{caseworker_b.pk}:case_manager"},
        ),
        (reverse("cases:team_remove", args=[case.pk, caseworker_a.pk]), {}),
        (
            reverse("cases:note_add", args=[case.pk]),
            {"text": "x", "visibility": "team"},
        ),
        (reverse("cases:edit_identity", args=[case.pk]), open_form()),
    ]
    for url in gets:
        response = client.get(url)
        assert response.status_code == 404, url
        assert CYRILLIC_FAMILY not in html(response)
    for url, data in posts:
        assert client.post(url, data).status_code == 404, url
    case.refresh_from_db()
    assert case.assistance == "none" and not case.is_closed
    assert not CaseNote.objects.exists()
    assert counts()[:2] == before[:2]
    assert client.get(reverse("cases:detail", args=[Case().pk])).status_code == 404


def test_post_only_urls_refuse_get(signed_in, caseworker_a, case):
    client = signed_in(caseworker_a)
    for name in ["cases:move", "cases:team_add", "cases:note_add"]:
        assert client.get(reverse(name, args=[case.pk])).status_code == 405


# --- notes and visibility -------------------------------------------------------------


def test_prosecutor_on_the_team_does_not_see_assistance_only_notes(
    signed_in, caseworker_a, prosecutor, case
):
    services.case_team_add(
        actor=caseworker_a, case_id=case.pk, user_id=prosecutor.pk, role="prosecutor"
    )
    services.case_note_add(
        actor=caseworker_a,
        case_id=case.pk,
        text="Fictional shelter address note",
        visibility="assistance_only",
    )
    services.case_note_add(
        actor=caseworker_a, case_id=case.pk, text="Fictional team note"
    )
    page = html(signed_in(prosecutor).get(reverse("cases:detail", args=[case.pk])))
    assert "Fictional team note" in page
    assert "Fictional shelter address note" not in page
    assert 'value="assistance_only"' not in page  # cannot write one either
    assert f"{CYRILLIC_GIVEN} {CYRILLIC_FAMILY}" in page
    manager_page = html(
        signed_in(caseworker_a).get(reverse("cases:detail", args=[case.pk]))
    )
    assert "Fictional shelter address note" in manager_page


def test_add_note_and_empty_note_error(signed_in, caseworker_a, case):
    client = signed_in(caseworker_a)
    url = reverse("cases:note_add", args=[case.pk])
    bad = client.post(url, {"text": "", "visibility": "team"})
    assert bad.status_code == 400
    assert_invalid_fields_described(assert_page_basics(html(bad)))
    assert not CaseNote.objects.exists()
    good = client.post(url, {"text": "Fictional visit went well", "visibility": "team"})
    assert good.status_code == 302 and good["Location"].endswith("#notes")
    assert "Fictional visit went well" in html(client.get(good["Location"]))


# --- moves ---------------------------------------------------------------------------


def test_allowed_move_changes_the_track_and_shows_on_the_timeline(
    signed_in, caseworker_a, case
):
    client = signed_in(caseworker_a)
    response = client.post(
        reverse("cases:move", args=[case.pk]),
        {
            "track": "transnational",
            "target": "ncp_notified",
            "reason": "Fictional: the person is a foreign national",
        },
        follow=True,
    )
    case.refresh_from_db()
    assert case.transnational == "ncp_notified"
    expected = "Transnational link is now “National contact point notified”."
    assert expected in message_texts(response)
    page = html(response)
    assert (
        "Transnational link: “No link abroad” → “National contact point notified”"
        in page
    )
    assert "Fictional: the person is a foreign national" in page


def test_move_not_allowed_for_the_role_is_refused_with_the_message(
    signed_in, caseworker_a, case
):
    set_states(case, identification="presumed")
    response = signed_in(caseworker_a).post(
        reverse("cases:move", args=[case.pk]),
        {"track": "identification", "target": "identified"},
        follow=True,
    )
    assert response.status_code == 200
    assert message_texts(response) == [
        "Only these roles on the case may do this: Competent authority."
    ]
    case.refresh_from_db()
    assert case.identification == "presumed"


def test_move_not_reachable_is_refused_with_the_message(signed_in, caseworker_a, case):
    response = signed_in(caseworker_a).post(
        reverse("cases:move", args=[case.pk]),
        {"track": "legal", "target": "witness"},
        follow=True,
    )
    assert message_texts(response) == [
        "Criminal and civil proceedings cannot move from “Not yet informed of "
        "rights” to “Witness in proceedings”."
    ]
    case.refresh_from_db()
    assert case.legal == "not_informed"


# --- close, team, identity -----------------------------------------------------------


def test_close_case_with_reason(signed_in, caseworker_a, case):
    client = signed_in(caseworker_a)
    url = reverse("cases:close", args=[case.pk])
    missing = client.post(url, {"reason": ""})
    assert missing.status_code == 400
    response = client.post(url, {"reason": "goals_met", "note": "Fictional: done"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.is_closed and case.closure_reason == "goals_met"
    page = html(client.get(reverse("cases:detail", args=[case.pk])))
    assert "Closed: Goals of the support plan met" in page
    assert 'name="target"' not in page  # no moves on a closed case
    again = client.get(url, follow=True)
    assert "The case is already closed." in message_texts(again)


def test_only_managers_may_close(signed_in, caseworker_a, prosecutor, case):
    services.case_team_add(
        actor=caseworker_a, case_id=case.pk, user_id=prosecutor.pk, role="prosecutor"
    )
    client = signed_in(prosecutor)
    assert client.get(reverse("cases:close", args=[case.pk])).status_code == 403
    page = html(client.get(reverse("cases:detail", args=[case.pk])))
    assert reverse("cases:close", args=[case.pk]) not in page


def test_team_add_and_remove(signed_in, caseworker_a, prosecutor, case):
    client = signed_in(caseworker_a)
    page = html(client.get(reverse("cases:detail", args=[case.pk])))
    assert f'value="{prosecutor.pk}:prosecutor"' in page
    response = client.post(
        reverse("cases:team_add", args=[case.pk]),
        {"member": f"{prosecutor.pk}:prosecutor"},
        follow=True,
    )
    assert "Added to the case team." in message_texts(response)
    assert CaseTeamMember.objects.filter(case=case, user=prosecutor).exists()
    remove = reverse("cases:team_remove", args=[case.pk, prosecutor.pk])
    confirm = html(client.get(remove))
    assert prosecutor.get_full_name() in confirm
    response = client.post(remove, follow=True)
    assert "Removed from the case team." in message_texts(response)
    assert not CaseTeamMember.objects.filter(case=case, user=prosecutor).exists()


def test_team_picker_offers_no_peer_node_user_and_posting_one_is_refused(
    signed_in, caseworker_a, case
):
    peer = OrganisationFactory(
        name="Demo National Coordination Office Serbia (fictional)",
        home_node="demo-rs",
        remote_id=uuid.uuid4(),
    )
    node = node_user(organisation=peer, role=Role.NATIONAL_CONTACT_POINT)
    peer_cm = UserFactory(organisation=peer, roles=[Role.CASE_MANAGER])
    local = UserFactory(roles=[Role.NATIONAL_CONTACT_POINT])
    client = signed_in(caseworker_a)

    page = html(client.get(reverse("cases:detail", args=[case.pk])))

    assert f'value="{local.pk}:national_contact_point"' in page
    assert f'value="{node.pk}:' not in page
    assert f'value="{peer_cm.pk}:' not in page
    assert "demo-rs" not in page
    for member in (f"{node.pk}:national_contact_point", f"{peer_cm.pk}:case_manager"):
        response = client.post(
            reverse("cases:team_add", args=[case.pk]), {"member": member}, follow=True
        )
        assert message_texts(response) == [
            "Only people working on this node can join a case team; a peer "
            "node's organisation works on its own linked case."
        ]
        assert 'name="member"' in html(response)
    assert not case.team.filter(user__in=[node, peer_cm]).exists()


def _timeline(page: str) -> str:
    return page.split('id="timeline"', 1)[1].split("</section>", 1)[0]


def test_timeline_names_node_users_the_system_and_deleted_accounts(
    signed_in, caseworker_a, case
):
    peer = OrganisationFactory(
        name="Demo National Coordination Office Romania (fictional)",
        home_node="demo-ro",
        remote_id=uuid.uuid4(),
    )
    node = node_user(organisation=peer, role=Role.NATIONAL_CONTACT_POINT)
    gone = UserFactory(first_name="Fictiva", last_name="Plecata")
    with transaction.atomic():
        services.record_case_event(case=case, actor=node, kind="case.linked")
        services.record_case_event(
            case=case, actor=None, kind="sop1.reflection_ended", code="expired"
        )
        services.record_case_event(case=case, actor=gone, kind="case.note_added")
        services.record_case_event(case=case, actor=None, kind="exchange.sent")
    gone.delete()

    timeline = _timeline(
        html(signed_in(caseworker_a).get(reverse("cases:detail", args=[case.pk])))
    )

    assert (
        "Demo National Coordination Office Romania (fictional) — node demo-ro"
        in timeline
    )
    assert node.username not in timeline
    assert timeline.count("TRM (automatic)") == 1
    assert timeline.count("the transnational channel") == 1
    assert timeline.count("someone no longer on this node") == 1


def test_a_long_timeline_links_to_all_its_events(signed_in, caseworker_a, case):
    with transaction.atomic():
        for _n in range(views.TIMELINE_LIMIT + 5):
            services.record_case_event(
                case=case, actor=caseworker_a, kind="case.note_added"
            )
    total = CaseEvent.objects.filter(case=case).count()
    url = reverse("cases:detail", args=[case.pk])
    client = signed_in(caseworker_a)

    latest = _timeline(html(client.get(url)))
    assert latest.count("<li>") == views.TIMELINE_LIMIT
    link = f'href="?timeline=all#timeline">Show all {total} events</a>'
    assert link in latest
    # The first event (the case opened) is only on the whole timeline.
    assert "Case opened" not in latest

    whole = _timeline(html(client.get(url, {"timeline": "all"})))
    assert whole.count("<li>") == total
    assert "Case opened" in whole
    assert "Show all" not in whole
    assert f'href="{url}#timeline"' in whole


#: What a ``<time>`` on the case page reads in each language: the long date
#: (DATE_FORMAT), with the time after a comma for a moment (DATETIME_FORMAT).
LONG_DATE = {
    "en": re.compile(r"[A-Z][a-z]+\.? \d{1,2}, \d{4}(, .+)?"),
    "bg": re.compile(r"\d{1,2} \w+ \d{4}(, \d{2}:\d{2})?"),
    "ro": re.compile(r"\d{1,2} \w+ \d{4}(, \d{2}:\d{2})?"),
}


@pytest.mark.parametrize("lang", sorted(LONG_DATE))
def test_case_page_dates_and_moments_share_one_form_per_language(
    signed_in, caseworker_a, lang
):
    case = open_case(caseworker_a)
    services.case_note_add(actor=caseworker_a, case_id=case.pk, text="Fictional")
    client = signed_in(caseworker_a)
    client.post(reverse("set_language"), {"language": lang, "next": "/"})

    page = html(client.get(reverse("cases:detail", args=[case.pk])))

    shown = re.findall(r"<time datetime=\"([^\"]+)\">([^<]+)</time>", page)
    moments = [text for value, text in shown if "T" in value]
    days = [text for value, text in shown if "T" not in value]
    assert moments, "the timeline and notes show moments"
    assert days, "the SOP panel shows due dates"
    for text in moments + days:
        assert LONG_DATE[lang].fullmatch(text), (lang, text)
    assert not [t for t in moments + days if re.search(r"\d/\d|\d\.\d{2}\.", t)]


def test_team_add_without_a_choice_asks_for_one(signed_in, caseworker_a, case):
    response = signed_in(caseworker_a).post(
        reverse("cases:team_add", args=[case.pk]), {"member": "nobody"}, follow=True
    )
    assert message_texts(response) == ["Choose who to add to the case team."]


def test_removing_the_last_case_manager_is_refused_with_the_message(
    signed_in, caseworker_a, case
):
    response = signed_in(caseworker_a).post(
        reverse("cases:team_remove", args=[case.pk, caseworker_a.pk]), follow=True
    )
    assert message_texts(response) == [
        "Add another case manager before removing the last one."
    ]
    assert CaseTeamMember.objects.filter(case=case, user=caseworker_a).exists()


def test_edit_identity_round_trip(signed_in, caseworker_a, case):
    client = signed_in(caseworker_a)
    url = reverse("cases:edit_identity", args=[case.pk])
    page = html(client.get(url))
    assert f'value="{CYRILLIC_FAMILY}"' in page
    assert 'value="ZZ 000 111"' in page
    data = open_form(given_names="Ioana", family_names="Fictiv-Noua")
    response = client.post(url, data)
    assert response.status_code == 302
    fresh = Case.objects.get(pk=case.pk)
    identity = selectors.person_identity_for_user(user=caseworker_a, case=fresh)
    assert identity is not None and identity.full_name() == "Ioana Fictiv-Noua"
    found = client.post(reverse("cases:search"), {"name": "Fictiv-Noua Ioana"})
    assert case.number in html(found)


def test_edit_identity_refused_to_legal_track_only_roles(
    signed_in, caseworker_a, prosecutor, case
):
    services.case_team_add(
        actor=caseworker_a, case_id=case.pk, user_id=prosecutor.pk, role="prosecutor"
    )
    client = signed_in(prosecutor)
    url = reverse("cases:edit_identity", args=[case.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, open_form()).status_code == 403


def test_case_manager_finds_the_data_protection_page_from_the_case(org_a, signed_in):
    from trm.accounts.models import Role
    from trm.accounts.tests.factories import UserFactory
    from trm.cases.tests.factories import open_case

    manager = UserFactory(organisation=org_a, roles=[Role.CASE_MANAGER])
    case = open_case(manager)
    page = signed_in(manager).get(f"/cases/{case.pk}/").content.decode()
    assert f"/data-protection/cases/{case.pk}/" in page


def test_ncp_moving_to_no_link_goes_back_to_the_list(signed_in, case):
    from trm.cases.tests.factories import set_states

    ncp = UserFactory(roles=[Role.NATIONAL_CONTACT_POINT])
    set_states(case, transnational="ncp_notified")
    client = signed_in(ncp)
    response = client.post(
        reverse("cases:move", args=[case.pk]),
        {"track": "transnational", "target": "no_link", "reason": ""},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("cases:list")
    case.refresh_from_db()
    assert case.transnational == "no_link"
    listing = client.get(response["Location"])
    assert "Done; this case is no longer visible to you." in message_texts(listing)


def test_first_contact_point_hands_over_in_the_page(signed_in, caseworker_a):
    fcp = UserFactory(roles=[Role.FIRST_CONTACT_POINT])
    fcp_case = open_case(fcp)
    client = signed_in(fcp)
    page = client.get(reverse("cases:detail", args=[fcp_case.pk]))
    assert f'value="{caseworker_a.pk}:{Role.CASE_MANAGER}"' in page.content.decode()
    response = client.post(
        reverse("cases:team_add", args=[fcp_case.pk]),
        {"member": f"{caseworker_a.pk}:{Role.CASE_MANAGER}"},
        follow=True,
    )
    assert "Added to the case team." in message_texts(response)
    assert fcp_case.team.filter(user=caseworker_a, role=Role.CASE_MANAGER).exists()
