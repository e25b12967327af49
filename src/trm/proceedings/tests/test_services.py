"""The proceedings services: each verb, each refusal (nothing written), rule 1."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from trm.accounts.models import Role, User
from trm.assistance import services as assistance
from trm.cases import services as cases
from trm.cases.models import Case, CaseEvent
from trm.cases.tests.factories import open_case, set_states, team_member
from trm.cases.tracks import TRACKS, Assistance, Legal
from trm.common.errors import DomainError
from trm.proceedings import services
from trm.proceedings.models import (
    CompensationStatus,
    NonPunishmentStatus,
    ProtectionStatus,
    RightsInformation,
)
from trm.proceedings.tests.helpers import (
    LAWYER,
    charge,
    claim,
    close,
    days_ago,
    inform,
    snapshot,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def case(caseworker_a: User) -> Case:
    return open_case(caseworker_a)


@pytest.fixture
def prosecutor(case: Case) -> User:
    return team_member(case, Role.PROSECUTOR)


def _refused(
    code: str, case: Case, call: Callable[[], object], field: str = ""
) -> DomainError:
    before = snapshot(case)
    with pytest.raises(DomainError) as caught:
        call()
    assert caught.value.code == code, caught.value.message
    if field:
        assert caught.value.details.get("field") == field, caught.value.details
    assert snapshot(case) == before
    return caught.value


def _kinds(case: Case) -> list[str]:
    return list(
        CaseEvent.objects.filter(case=case, kind__startswith="sop5.")
        .order_by("at")
        .values_list("kind", flat=True)
    )


# --- rights information ------------------------------------------------------------


def test_informing_of_rights_records_every_field_and_moves_the_track(
    case, caseworker_a
):
    record = inform(case, caseworker_a, language="RO", interpreter=False)
    case.refresh_from_db()
    assert case.legal == Legal.INFORMED_OF_RIGHTS
    assert (record.language, record.interpreter, record.lawyer_organisation) == (
        "ro",
        False,
        LAWYER,
    )
    assert _kinds(case) == ["sop5.rights_informed", "sop5.legal_aid_appointed"]
    move = case.events.get(kind="case.track_moved", track="legal")
    assert (move.to_state, move.code, move.visibility) == (
        Legal.INFORMED_OF_RIGHTS,
        "with_lawyer",
        "legal",
    )


def test_no_lawyer_is_recorded_and_one_can_be_appointed_later(case, caseworker_a):
    record = inform(case, caseworker_a, has_lawyer=False, lawyer="   ")
    assert record.lawyer_organisation == ""
    assert _kinds(case) == ["sop5.rights_informed"]
    move = case.events.get(kind="case.track_moved", track="legal")
    assert move.code == "no_lawyer"
    services.legal_aid_appoint(actor=caseworker_a, case_id=case.pk, lawyer=LAWYER)
    record.refresh_from_db()
    assert record.lawyer_organisation == LAWYER
    assert _kinds(case)[-1] == "sop5.legal_aid_appointed"
    _refused(
        "cases.transition_not_allowed",
        case,
        lambda: services.legal_aid_appoint(
            actor=caseworker_a, case_id=case.pk, lawyer="Another Fictional Bureau"
        ),
    )


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"informed_on": None}, "informed_on"),
        ({"informed_on": timezone.localdate() + timedelta(days=2)}, "informed_on"),
        ({"language": ""}, "language"),
        ({"language": "klingon"}, "language"),
        ({"interpreter": None}, "interpreter"),
        ({"has_lawyer": None}, "has_lawyer"),
        ({"has_lawyer": None, "lawyer": ""}, "has_lawyer"),
        ({"lawyer": ""}, "lawyer"),
        ({"lawyer": "   "}, "lawyer"),
        ({"has_lawyer": False}, "lawyer"),
    ],
)
def test_informing_of_rights_refuses_a_missing_field(
    case, caseworker_a, override, field
):
    error = _refused(
        "cases.invalid_input",
        case,
        lambda: inform(case, caseworker_a, **override),
        field,
    )
    assert error.message
    assert not RightsInformation.objects.filter(case=case).exists()


def test_the_refusals_about_the_lawyer_say_what_to_do(case, caseworker_a):
    missing = _refused(
        "cases.invalid_input",
        case,
        lambda: inform(case, caseworker_a, has_lawyer=None),
        "has_lawyer",
    )
    assert missing.message == "Say whether the person had a lawyer."
    unnamed = _refused(
        "cases.invalid_input",
        case,
        lambda: inform(case, caseworker_a, has_lawyer=True, lawyer=""),
        "lawyer",
    )
    assert unnamed.message == "Name the lawyer's organisation."
    contradicted = _refused(
        "cases.invalid_input",
        case,
        lambda: inform(case, caseworker_a, has_lawyer=False, lawyer=LAWYER),
        "lawyer",
    )
    assert "no lawyer" in contradicted.message
    assert not RightsInformation.objects.filter(case=case).exists()


@pytest.mark.parametrize("word", ["none", "None", "няма"])
def test_no_word_stands_for_no_lawyer_any_more(case, caseworker_a, word):
    """The yes/no answer says whether there is a lawyer; the organisation is
    stored as typed, whatever the language of the user."""
    record = inform(case, caseworker_a, has_lawyer=True, lawyer=word)
    record.refresh_from_db()
    assert (record.lawyer_organisation, record.has_lawyer) == (word, True)
    assert _kinds(case) == ["sop5.rights_informed", "sop5.legal_aid_appointed"]


def test_the_generic_move_cannot_reach_informed_of_rights(case, caseworker_a):
    error = _refused(
        "cases.transition_not_allowed",
        case,
        lambda: cases.case_move(
            actor=caseworker_a,
            case_id=case.pk,
            track="legal",
            target=Legal.INFORMED_OF_RIGHTS,
        ),
    )
    assert error.details["reason"] == "dedicated_service"


def test_informing_twice_or_by_a_service_provider_is_refused(case, caseworker_a):
    provider = team_member(case, Role.SERVICE_PROVIDER)
    _refused("cases.role_required", case, lambda: inform(case, provider))
    inform(case, caseworker_a)
    _refused("cases.transition_not_allowed", case, lambda: inform(case, caseworker_a))


def test_the_competent_authority_and_the_prosecutor_inform(case, prosecutor):
    authority = team_member(case, Role.COMPETENT_AUTHORITY)
    other = open_case(authority)
    inform(other, authority)
    inform(case, prosecutor)
    case.refresh_from_db()
    assert case.legal == Legal.INFORMED_OF_RIGHTS


def test_after_rights_the_rest_of_the_legal_track_moves_generically(
    case, caseworker_a, prosecutor
):
    inform(case, caseworker_a)
    for target in (Legal.DECIDING, Legal.COOPERATING, Legal.STATEMENT_GIVEN):
        cases.case_move(actor=prosecutor, case_id=case.pk, track="legal", target=target)
    case.refresh_from_db()
    assert case.legal == Legal.STATEMENT_GIVEN


def test_nobody_outside_the_team_informs(case, caseworker_b):
    _refused("cases.not_found", case, lambda: inform(case, caseworker_b))


# --- protection measures -----------------------------------------------------------


def test_protection_measure_goes_assessed_ordered_lifted(case, prosecutor):
    measure = services.protection_assess(
        actor=prosecutor, case_id=case.pk, kind="physical", assessed_on=days_ago(10)
    )
    assert measure.status == ProtectionStatus.RISK_ASSESSED
    _refused(
        "cases.transition_not_allowed",
        case,
        lambda: services.protection_lift(
            actor=prosecutor,
            case_id=case.pk,
            measure_id=measure.pk,
            lifted_on=days_ago(1),
        ),
    )
    _refused(
        "cases.invalid_input",
        case,
        lambda: services.protection_order(
            actor=prosecutor,
            case_id=case.pk,
            measure_id=measure.pk,
            ordering_authority="",
            ordered_on=days_ago(5),
        ),
        "ordering_authority",
    )
    _refused(
        "cases.invalid_input",
        case,
        lambda: services.protection_order(
            actor=prosecutor,
            case_id=case.pk,
            measure_id=measure.pk,
            ordering_authority="Fictional District Court",
            ordered_on=days_ago(11),
        ),
        "ordered_on",
    )
    services.protection_order(
        actor=prosecutor,
        case_id=case.pk,
        measure_id=measure.pk,
        ordering_authority="Fictional District Court",
        ordered_on=days_ago(5),
    )
    services.protection_lift(
        actor=prosecutor, case_id=case.pk, measure_id=measure.pk, lifted_on=days_ago(1)
    )
    measure.refresh_from_db()
    assert measure.status == ProtectionStatus.LIFTED
    assert measure.ordering_authority == "Fictional District Court"
    assert _kinds(case) == [
        "sop5.protection_assessed",
        "sop5.protection_ordered",
        "sop5.protection_lifted",
    ]


def test_protection_of_another_case_is_not_found(case, caseworker_a, prosecutor):
    other = open_case(caseworker_a)
    measure = services.protection_assess(
        actor=caseworker_a, case_id=other.pk, kind="relocation", assessed_on=days_ago(3)
    )
    _refused(
        "proceedings.not_found",
        case,
        lambda: services.protection_order(
            actor=prosecutor,
            case_id=case.pk,
            measure_id=measure.pk,
            ordering_authority="Fictional Court",
            ordered_on=days_ago(1),
        ),
    )


def test_a_guardian_records_no_protection_measure(case):
    guardian = team_member(case, Role.GUARDIAN)
    _refused(
        "cases.role_required",
        case,
        lambda: services.protection_assess(
            actor=guardian, case_id=case.pk, kind="physical", assessed_on=days_ago(1)
        ),
    )


# --- compensation ------------------------------------------------------------------


def test_compensation_goes_filed_awarded_unpaid_paid(case, caseworker_a):
    record = claim(case, caseworker_a)
    assert (record.claimed_amount, record.claimed_currency) == (
        Decimal("15000.00"),
        "EUR",
    )
    services.compensation_award(
        actor=caseworker_a,
        case_id=case.pk,
        claim_id=record.pk,
        decided_on=days_ago(10),
        amount=Decimal("9000.5"),
        currency="eur",
    )
    services.compensation_record_unpaid(
        actor=caseworker_a, case_id=case.pk, claim_id=record.pk, settled_on=days_ago(5)
    )
    services.compensation_record_paid(
        actor=caseworker_a,
        case_id=case.pk,
        claim_id=record.pk,
        settled_on=days_ago(1),
        amount=Decimal("9000.50"),
        currency="EUR",
    )
    record.refresh_from_db()
    assert record.status == CompensationStatus.PAID
    assert (record.awarded_amount, record.awarded_currency) == (
        Decimal("9000.5"),
        "EUR",
    )
    assert record.paid_amount == Decimal("9000.50")


def test_a_rejected_claim_is_final(case, caseworker_a):
    record = claim(case, caseworker_a, amount=None, currency="")
    services.compensation_reject(
        actor=caseworker_a, case_id=case.pk, claim_id=record.pk, decided_on=days_ago(2)
    )
    _refused(
        "cases.transition_not_allowed",
        case,
        lambda: services.compensation_award(
            actor=caseworker_a,
            case_id=case.pk,
            claim_id=record.pk,
            decided_on=days_ago(1),
            amount=Decimal(1),
            currency="EUR",
        ),
    )


@pytest.mark.parametrize(
    ("amount", "currency", "field", "reason"),
    [
        (Decimal("100"), "", "currency", None),
        (Decimal("100"), "EURO", "currency", "unknown_currency"),
        (Decimal("100"), "ZZZ", "currency", "unknown_currency"),
        (None, "EUR", "amount", None),
        (Decimal("-5"), "EUR", "amount", None),
        (Decimal("0"), "EUR", "amount", None),
        (Decimal("1.2345"), "EUR", "amount", None),
        (Decimal("NaN"), "EUR", "amount", None),
    ],
)
def test_a_bad_amount_or_currency_is_refused(
    case, caseworker_a, amount, currency, field, reason
):
    error = _refused(
        "cases.invalid_input",
        case,
        lambda: claim(case, caseworker_a, amount=amount, currency=currency),
        field,
    )
    if reason:
        assert error.details["reason"] == reason


@pytest.mark.parametrize(
    ("amount", "currency", "field"),
    [
        (None, "", "amount"),
        (Decimal("10"), "", "currency"),
        (Decimal("10"), "XYZ", "currency"),
    ],
)
def test_an_award_needs_amount_and_currency(
    case, caseworker_a, amount, currency, field
):
    record = claim(case, caseworker_a)
    _refused(
        "cases.invalid_input",
        case,
        lambda: services.compensation_award(
            actor=caseworker_a,
            case_id=case.pk,
            claim_id=record.pk,
            decided_on=days_ago(1),
            amount=amount,
            currency=currency,
        ),
        field,
    )


def test_the_competent_authority_files_no_compensation_claim(case):
    authority = team_member(case, Role.COMPETENT_AUTHORITY)
    _refused("cases.role_required", case, lambda: claim(case, authority))


# --- non-punishment ----------------------------------------------------------------


def test_non_punishment_flag_request_decide(case, caseworker_a, prosecutor):
    record = charge(case, caseworker_a)
    services.non_punishment_request(
        actor=caseworker_a,
        case_id=case.pk,
        record_id=record.pk,
        requested_on=days_ago(10),
    )
    # The decision is the prosecution's, not the case manager's.
    _refused(
        "cases.role_required",
        case,
        lambda: services.non_punishment_decide(
            actor=caseworker_a,
            case_id=case.pk,
            record_id=record.pk,
            outcome="not_prosecuted",
            decided_on=days_ago(1),
            legal_reference="Fictional Criminal Code art. 16",
        ),
    )
    _refused(
        "cases.invalid_input",
        case,
        lambda: services.non_punishment_decide(
            actor=prosecutor,
            case_id=case.pk,
            record_id=record.pk,
            outcome="prosecuted",
            decided_on=days_ago(1),
            legal_reference="  ",
        ),
        "legal_reference",
    )
    _refused(
        "cases.invalid_input",
        case,
        lambda: services.non_punishment_decide(
            actor=prosecutor,
            case_id=case.pk,
            record_id=record.pk,
            outcome="acquitted",
            decided_on=days_ago(1),
            legal_reference="Art. 1",
        ),
        "outcome",
    )
    services.non_punishment_decide(
        actor=prosecutor,
        case_id=case.pk,
        record_id=record.pk,
        outcome="penalty_not_applied",
        decided_on=days_ago(1),
        legal_reference="Fictional Criminal Code art. 16(2)",
    )
    record.refresh_from_db()
    assert record.status == NonPunishmentStatus.PENALTY_NOT_APPLIED
    assert b"16(2)" not in bytes(record.sealed_legal_reference or b"")
    assert b"forged" not in bytes(record.sealed_charge or b"")
    events = CaseEvent.objects.filter(case=case, kind="sop5.non_punishment_assessed")
    assert [(e.code, e.visibility) for e in events] == [
        ("penalty_not_applied", "legal")
    ]


def test_a_decision_before_the_assessment_is_asked_is_refused(case, prosecutor):
    record = charge(case, prosecutor)
    _refused(
        "cases.transition_not_allowed",
        case,
        lambda: services.non_punishment_decide(
            actor=prosecutor,
            case_id=case.pk,
            record_id=record.pk,
            outcome="not_prosecuted",
            decided_on=days_ago(1),
            legal_reference="Fictional art. 1",
        ),
    )


# --- hearings ----------------------------------------------------------------------


def test_a_hearing_with_remote_testimony_from_another_country(case, prosecutor):
    at = timezone.now() + timedelta(days=20)
    hearing = services.hearing_record(
        actor=prosecutor,
        case_id=case.pk,
        at=at,
        court="Fictional Regional Court",
        kind="trial",
        remote_country="ro",
        interpreter_needed=True,
    )
    assert (hearing.remote_country, hearing.interpreter_needed) == ("RO", True)
    assert hearing.is_remote


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"at": None}, "at"),
        ({"court": ""}, "court"),
        ({"kind": "party"}, "kind"),
        ({"remote_country": "XX"}, "remote_country"),
        ({"remote_country": "BG"}, "remote_country"),
    ],
)
def test_a_bad_hearing_is_refused(case, prosecutor, settings, override, field):
    settings.TRM_COUNTRY = "BG"
    values: dict[str, Any] = {
        "at": timezone.now(),
        "court": "Fictional Court",
        "kind": "trial",
    }
    values.update(override)
    _refused(
        "cases.invalid_input",
        case,
        lambda: services.hearing_record(actor=prosecutor, case_id=case.pk, **values),
        field,
    )


def test_nothing_is_recorded_on_a_closed_case(case, caseworker_a, prosecutor):
    close(case)
    for call in (
        lambda: inform(case, caseworker_a),
        lambda: claim(case, caseworker_a),
        lambda: charge(case, prosecutor),
        lambda: services.protection_assess(
            actor=prosecutor, case_id=case.pk, kind="physical", assessed_on=days_ago(1)
        ),
    ):
        _refused("cases.transition_not_allowed", case, call)


# --- SOPS §6.5 rule 1, both directions ---------------------------------------------


def _legal_outcome(actor: User, case: Case, call: Callable[[], object]) -> str:
    try:
        call()
    except DomainError as exc:
        return f"refused:{exc.code}"
    case.refresh_from_db()
    return f"moved:{case.legal}"


def _legal_moves(actor: User, case: Case) -> dict[str, Callable[[], object]]:
    moves: dict[str, Callable[[], object]] = {
        "inform": lambda: inform(case, actor),
    }
    for target in Legal.values:
        if target == Legal.INFORMED_OF_RIGHTS:
            continue
        moves[target] = _generic_move(actor, case, target)
    return moves


def _generic_move(actor: User, case: Case, target: str) -> Callable[[], object]:
    return lambda: cases.case_move(
        actor=actor, case_id=case.pk, track="legal", target=target
    )


def test_rule_1_legal_moves_do_not_depend_on_the_assistance_track(
    caseworker_a,
):
    """SOPS §6.5 rule 1, the other direction (CETS Art. 12(6)): walk the
    assistance track through every state; from every legal state, each legal
    move (the rights information and the generic moves) gives the same outcome
    as with no assistance at all."""
    case = open_case(caseworker_a)
    baseline: dict[tuple[str, str], str] = {}
    for help_state in [Assistance.NONE, *(a for a in Assistance.values if a != "none")]:
        for legal in Legal.values:
            for name, call in _legal_moves(caseworker_a, case).items():
                set_states(case, assistance=help_state, legal=legal)
                RightsInformation.objects.filter(case=case).delete()
                outcome = _legal_outcome(caseworker_a, case, call)
                key = (legal, name)
                if help_state == Assistance.NONE:
                    baseline[key] = outcome
                else:
                    assert outcome == baseline[key], (help_state, legal, name)
    assert any(o.startswith("moved") for o in baseline.values())
    assert any(o.startswith("refused") for o in baseline.values())


def test_rule_1_sub_tracks_do_not_depend_on_the_assistance_track(
    caseworker_a, prosecutor
):
    case = prosecutor.case_teams.get().case
    for help_state in Assistance.values:
        set_states(case, assistance=help_state)
        record = charge(case, prosecutor)
        services.non_punishment_request(
            actor=prosecutor,
            case_id=case.pk,
            record_id=record.pk,
            requested_on=days_ago(1),
        )
        claim(case, caseworker_a)
        services.protection_assess(
            actor=prosecutor, case_id=case.pk, kind="physical", assessed_on=days_ago(1)
        )


def test_rule_1_assistance_moves_ignore_every_legal_record(case, caseworker_a):
    """The assistance pathway gives the same answers with a full legal record
    (rights, a charge, a claim) as without it."""

    def start() -> str:
        set_states(case, assistance=Assistance.NONE)
        try:
            assistance.assistance_start(
                actor=caseworker_a,
                case_id=case.pk,
                basis="emergency",
                reason="Fictional emergency",
            )
        except DomainError as exc:
            return str(exc.code)
        case.refresh_from_db()
        return str(case.assistance)

    before = start()
    inform(case, caseworker_a)
    charge(case, caseworker_a)
    claim(case, caseworker_a)
    for legal in Legal.values:
        set_states(case, legal=legal)
        assert start() == before == Assistance.FIRST_ASSISTANCE
    assert TRACKS["assistance"].guarded.isdisjoint(TRACKS["legal"].guarded)
