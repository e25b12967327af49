"""The assistance pathway's services: guards, refusals, and rule 1."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from trm.accounts.models import Role, User
from trm.assistance import services
from trm.assistance.services import Closure, StartBasis
from trm.cases.models import Case, CaseEvent, Person
from trm.cases.tests.factories import open_case, set_states, team_member
from trm.cases.tracks import TRACKS, Assistance, ChildProtection, Legal
from trm.common.errors import DomainError
from trm.consent import services as consent
from trm.dataprotection import crypto

pytestmark = pytest.mark.django_db


def _consent(actor: User, case: Case, purpose: str, given_by: str = "person") -> Any:
    return consent.consent_record(
        actor=actor,
        case_id=case.pk,
        purpose=purpose,
        categories=["case_summary"],
        given_by=given_by,
        language="ro",
        recipient_organisation_id=case.lead_organisation_id,
        declaration="Fictional declaration",
    )


@pytest.fixture
def needs_assessed(monkeypatch: pytest.MonkeyPatch) -> Callable[[bool], None]:
    """Say whether the case has a needs assessment (trm.assessments' selector)."""

    def set_to(value: bool) -> None:
        monkeypatch.setattr(
            "trm.assessments.selectors.has_needs_assessment", lambda case: value
        )

    set_to(False)
    return set_to


def _moves(case: Case) -> list[CaseEvent]:
    return list(case.events.filter(kind="case.track_moved", track="assistance"))


def _refused(code: str, call: Callable[[], object]) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call()
    assert caught.value.code == code, caught.value.message
    return caught.value


# --- first assistance ------------------------------------------------------------


def test_start_needs_consent_or_emergency(caseworker_a):
    case = open_case(caseworker_a)
    error = _refused(
        "consent.missing",
        lambda: services.assistance_start(
            actor=caseworker_a, case_id=case.pk, basis=StartBasis.CONSENT
        ),
    )
    assert error.details["state"] == "missing"
    assert _moves(case) == []
    _consent(caseworker_a, case, "assistance")
    services.assistance_start(
        actor=caseworker_a, case_id=case.pk, basis=StartBasis.CONSENT
    )
    case.refresh_from_db()
    assert case.assistance == Assistance.FIRST_ASSISTANCE
    (event,) = _moves(case)
    assert event.code == "consent"
    assert event.to_state == Assistance.FIRST_ASSISTANCE


def test_emergency_start_needs_a_reason(caseworker_a):
    case = open_case(caseworker_a)
    _refused(
        "cases.invalid_input",
        lambda: services.assistance_start(
            actor=caseworker_a, case_id=case.pk, basis="emergency", reason="  "
        ),
    )
    assert _moves(case) == []
    services.assistance_start(
        actor=caseworker_a,
        case_id=case.pk,
        basis="emergency",
        reason="Fictional: urgent medical care at night",
    )
    (event,) = _moves(case)
    assert event.code == "emergency"
    assert event.sealed_detail  # the reason is sealed, not in clear


def test_withdrawn_consent_no_longer_starts_assistance(caseworker_a):
    case = open_case(caseworker_a)
    given = _consent(caseworker_a, case, "assistance")
    consent.consent_withdraw(actor=caseworker_a, consent_id=given.pk)
    _refused(
        "consent.missing",
        lambda: services.assistance_start(
            actor=caseworker_a, case_id=case.pk, basis="consent"
        ),
    )


def test_unknown_basis_is_refused(caseworker_a):
    case = open_case(caseworker_a)
    _refused(
        "cases.invalid_input",
        lambda: services.assistance_start(
            actor=caseworker_a, case_id=case.pk, basis="because"
        ),
    )


def test_a_childs_assistance_needs_the_guardians_consent(caseworker_a):
    case = open_case(caseworker_a, may_be_child=True)
    _refused(
        "consent.guardian_required",
        lambda: _consent(caseworker_a, case, "assistance", given_by="both"),
    )
    set_states(case, child_protection=ChildProtection.GUARDIAN_APPOINTED)
    _consent(caseworker_a, case, "assistance", given_by="both")
    services.assistance_start(actor=caseworker_a, case_id=case.pk, basis="consent")
    case.refresh_from_db()
    assert case.assistance == Assistance.FIRST_ASSISTANCE


def test_a_child_consent_given_before_the_presumption_does_not_count(caseworker_a):
    case = open_case(caseworker_a)
    _consent(caseworker_a, case, "assistance", given_by="person")
    case.person.presumed_child = True
    case.person.save(update_fields=["presumed_child"])
    error = _refused(
        "consent.missing",
        lambda: services.assistance_start(
            actor=caseworker_a, case_id=case.pk, basis="consent"
        ),
    )
    assert "guardian" in error.message


def test_wrong_role_hidden_case_and_closed_case_are_refused(caseworker_a, caseworker_b):
    case = open_case(caseworker_a)
    prosecutor = team_member(case, Role.PROSECUTOR)
    _refused(
        "cases.role_required",
        lambda: services.assistance_start(
            actor=prosecutor, case_id=case.pk, basis="emergency", reason="Fictional"
        ),
    )
    _refused(
        "cases.not_found",
        lambda: services.assistance_start(
            actor=caseworker_b, case_id=case.pk, basis="emergency", reason="Fictional"
        ),
    )
    from trm.cases.services import case_close

    case_close(actor=caseworker_a, case_id=case.pk, reason="goals_met")
    _refused(
        "cases.transition_not_allowed",
        lambda: services.assistance_start(
            actor=caseworker_a, case_id=case.pk, basis="emergency", reason="Fictional"
        ),
    )


def test_a_service_provider_on_the_team_may_start(caseworker_a):
    case = open_case(caseworker_a)
    provider = team_member(case, Role.SERVICE_PROVIDER)
    services.assistance_start(
        actor=provider, case_id=case.pk, basis="emergency", reason="Fictional"
    )
    case.refresh_from_db()
    assert case.assistance == Assistance.FIRST_ASSISTANCE


def test_the_generic_move_cannot_start_assistance(caseworker_a):
    from trm.cases.services import case_move

    case = open_case(caseworker_a)
    error = _refused(
        "cases.transition_not_allowed",
        lambda: case_move(
            actor=caseworker_a,
            case_id=case.pk,
            track="assistance",
            target=Assistance.FIRST_ASSISTANCE,
        ),
    )
    assert error.details["reason"] == "dedicated_service"


# --- declining and re-entry ---------------------------------------------------------


def test_decline_needs_information_given_and_allows_reentry(caseworker_a):
    case = open_case(caseworker_a)
    _refused(
        "cases.invalid_input",
        lambda: services.assistance_decline(
            actor=caseworker_a,
            case_id=case.pk,
            information_given=False,
            contact_details_given=True,
        ),
    )
    assert _moves(case) == []
    services.assistance_decline(
        actor=caseworker_a,
        case_id=case.pk,
        information_given=True,
        contact_details_given=True,
        reason="Fictional: wants to think about it",
    )
    case.refresh_from_db()
    assert case.assistance == Assistance.DECLINED
    assert _moves(case)[0].code == "info_and_contact"
    # Re-entry: the person comes back.
    services.assistance_start(
        actor=caseworker_a, case_id=case.pk, basis="emergency", reason="Fictional"
    )
    case.refresh_from_db()
    assert case.assistance == Assistance.FIRST_ASSISTANCE


def test_decline_twice_is_refused(caseworker_a):
    case = open_case(caseworker_a)
    services.assistance_decline(
        actor=caseworker_a,
        case_id=case.pk,
        information_given=True,
        contact_details_given=False,
    )
    _refused(
        "cases.transition_not_allowed",
        lambda: services.assistance_decline(
            actor=caseworker_a,
            case_id=case.pk,
            information_given=True,
            contact_details_given=False,
        ),
    )
    assert _moves(case)[0].code == "info_only"


# --- long-term assistance and return preparation ------------------------------------


def test_long_term_needs_a_needs_assessment_and_a_service_agreement(
    caseworker_a, needs_assessed
):
    case = open_case(caseworker_a)
    services.assistance_start(
        actor=caseworker_a, case_id=case.pk, basis="emergency", reason="Fictional"
    )
    error = _refused(
        "cases.transition_not_allowed",
        lambda: services.long_term_start(actor=caseworker_a, case_id=case.pk),
    )
    assert "needs assessment" in error.message
    needs_assessed(True)
    _refused(
        "consent.missing",
        lambda: services.long_term_start(actor=caseworker_a, case_id=case.pk),
    )
    _consent(caseworker_a, case, "assistance")
    services.long_term_start(actor=caseworker_a, case_id=case.pk)
    case.refresh_from_db()
    assert case.assistance == Assistance.LONG_TERM


def test_long_term_only_from_first_assistance(caseworker_a, needs_assessed):
    needs_assessed(True)
    case = open_case(caseworker_a)
    _refused(
        "cases.transition_not_allowed",
        lambda: services.long_term_start(actor=caseworker_a, case_id=case.pk),
    )


def test_return_preparation_needs_the_adults_return_consent(caseworker_a):
    case = open_case(caseworker_a)
    set_states(case, assistance=Assistance.FIRST_ASSISTANCE)
    _refused(
        "consent.missing",
        lambda: services.return_preparation_start(actor=caseworker_a, case_id=case.pk),
    )
    _consent(caseworker_a, case, "return")
    services.return_preparation_start(actor=caseworker_a, case_id=case.pk)
    case.refresh_from_db()
    assert case.assistance == Assistance.RETURN_PREPARATION


def test_return_preparation_for_a_child_needs_an_appointed_guardian(caseworker_a):
    case = open_case(caseworker_a, may_be_child=True)
    set_states(case, assistance=Assistance.FIRST_ASSISTANCE)
    error = _refused(
        "consent.missing",
        lambda: services.return_preparation_start(actor=caseworker_a, case_id=case.pk),
    )
    assert "guardian must be appointed" in error.message
    set_states(case, child_protection=ChildProtection.GUARDIAN_APPOINTED)
    _refused(
        "consent.missing",
        lambda: services.return_preparation_start(actor=caseworker_a, case_id=case.pk),
    )
    _consent(caseworker_a, case, "return", given_by="guardian")
    services.return_preparation_start(actor=caseworker_a, case_id=case.pk)
    case.refresh_from_db()
    assert case.assistance == Assistance.RETURN_PREPARATION


# --- closing ------------------------------------------------------------------------


def test_close_needs_a_reason_and_keeps_the_case_open(caseworker_a):
    case = open_case(caseworker_a)
    set_states(case, assistance=Assistance.FIRST_ASSISTANCE)
    _refused(
        "cases.invalid_input",
        lambda: services.assistance_close(
            actor=caseworker_a, case_id=case.pk, closure=""
        ),
    )
    _refused(
        "cases.invalid_input",
        lambda: services.assistance_close(
            actor=caseworker_a, case_id=case.pk, closure=Closure.OTHER
        ),
    )
    services.assistance_close(
        actor=caseworker_a, case_id=case.pk, closure=Closure.GOALS_MET
    )
    case.refresh_from_db()
    assert case.assistance == Assistance.CLOSED
    assert not case.is_closed
    assert _moves(case)[0].code == "goals_met"
    _refused(
        "cases.transition_not_allowed",
        lambda: services.assistance_close(
            actor=caseworker_a, case_id=case.pk, closure=Closure.GOALS_MET
        ),
    )


def test_erased_person_cannot_move_the_pathway(caseworker_a):
    case = open_case(caseworker_a)
    crypto.destroy_data_key(case.person.data_key_id)
    Person.objects.filter(pk=case.person_id).update(
        erased_at=timezone.now(), sealed_identity=None
    )
    _refused(
        "cases.person_erased",
        lambda: services.assistance_start(
            actor=caseworker_a, case_id=case.pk, basis="emergency", reason="Fictional"
        ),
    )


# --- rule 1: assistance never depends on the legal track ----------------------------

MOVE_CALLS: dict[str, Callable[[User, Case], object]] = {
    "start": lambda u, c: services.assistance_start(
        actor=u, case_id=c.pk, basis="consent"
    ),
    "decline": lambda u, c: services.assistance_decline(
        actor=u, case_id=c.pk, information_given=True, contact_details_given=True
    ),
    "long_term": lambda u, c: services.long_term_start(actor=u, case_id=c.pk),
    "return_preparation": lambda u, c: services.return_preparation_start(
        actor=u, case_id=c.pk
    ),
    "close": lambda u, c: services.assistance_close(
        actor=u, case_id=c.pk, closure="goals_met"
    ),
}


def _outcome(actor: User, case: Case, move: str) -> str:
    try:
        MOVE_CALLS[move](actor, case)
    except DomainError as exc:
        return f"refused:{exc.code}"
    case.refresh_from_db()
    return f"moved:{case.assistance}"


@pytest.mark.parametrize("with_consents", [True, False])
def test_rule_1_assistance_moves_do_not_depend_on_the_legal_track(
    caseworker_a, needs_assessed, with_consents
):
    """SOPS §6.5 rule 1 (CETS Art. 12(6); Directive 2011/36/EU Art. 11(3)).

    Walk the legal track through every state; from every assistance state, each
    pathway move gives the same outcome (moved, or refused for the same reason)
    as with the legal track at its start. Run with the consents and needs
    assessment the guards want, and without them.
    """
    needs_assessed(with_consents)
    case = open_case(caseworker_a)
    if with_consents:
        _consent(caseworker_a, case, "assistance")
        _consent(caseworker_a, case, "return")
    baseline: dict[tuple[str, str], str] = {}
    for legal in Legal.values:
        for start in Assistance.values:
            for move in MOVE_CALLS:
                set_states(case, assistance=start, legal=legal)
                outcome = _outcome(caseworker_a, case, move)
                key = (start, move)
                if legal == Legal.NOT_INFORMED:
                    baseline[key] = outcome
                else:
                    assert outcome == baseline[key], (legal, start, move)
    # The walk met both kinds of outcome, so it compared something.
    assert any(o.startswith("moved") for o in baseline.values())
    assert any(o.startswith("refused") for o in baseline.values())
    # Each allowed move of the track's table either moved or was refused by a
    # guard (never by the state), whatever the legal track.
    track = TRACKS["assistance"]
    for (start, move), outcome in baseline.items():
        from trm.assistance.selectors import MOVES

        target = MOVES[move][1]
        if not track.allowed(start, target):
            assert outcome == "refused:cases.transition_not_allowed"


@pytest.mark.parametrize(
    "text", ["Declined \x1b[31m\x07 ok", "Declined \u202eKCOLB\u202c ok", "a\u200bb"]
)
def test_control_and_direction_characters_in_a_reason_are_refused(caseworker_a, text):
    case = open_case(caseworker_a)
    _refused(
        "invalid_text",
        lambda: services.assistance_decline(
            actor=caseworker_a,
            case_id=case.pk,
            information_given=True,
            contact_details_given=False,
            reason=text,
        ),
    )
    assert _moves(case) == []


def test_a_reason_of_several_lines_is_kept(caseworker_a):
    case = open_case(caseworker_a)
    services.assistance_start(
        actor=caseworker_a,
        case_id=case.pk,
        basis="emergency",
        reason="Fictional first line\r\n\tsecond line",
    )
    case.refresh_from_db()
    assert case.assistance == Assistance.FIRST_ASSISTANCE


def _open_referral(actor: User, case: Case) -> Any:
    from trm.referrals.tests.factories import receiver_org, sent

    shelter = receiver_org()
    return sent(actor, case, shelter)


@pytest.mark.parametrize(
    ("end", "cancelled"),
    [
        ("decline", True),
        ("goals_met", True),
        ("person_disengaged", True),
        ("referred", False),
        ("transferred", False),
    ],
)
def test_ending_assistance_cancels_the_open_referrals(caseworker_a, end, cancelled):
    from trm.referrals.models import Status

    case = open_case(caseworker_a)
    set_states(case, assistance=Assistance.FIRST_ASSISTANCE)
    referral = _open_referral(caseworker_a, case)
    if end == "decline":
        services.assistance_decline(
            actor=caseworker_a,
            case_id=case.pk,
            information_given=True,
            contact_details_given=True,
        )
    else:
        services.assistance_close(actor=caseworker_a, case_id=case.pk, closure=end)
    referral.refresh_from_db()
    assert (referral.status == Status.CANCELLED) is cancelled
