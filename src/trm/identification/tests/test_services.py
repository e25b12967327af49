"""SOP 1 services and the rules of SOPS §6.5 they carry (2, 3, 6, 8, 10).

Each refusal is checked to write nothing: no track move, no event, no audit.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from trm.accounts.models import Role, TrmFunction
from trm.accounts.tests.factories import OrganisationFactory, UserFactory
from trm.assessments.errors import AssessmentInvalidInput
from trm.assessments.tests.factories import record_needs, record_risk
from trm.audit.models import AuditEntry
from trm.cases.errors import (
    CaseInvalidInput,
    CaseNotFound,
    CaseRoleRequired,
    NotALocalUser,
    TransitionNotAllowed,
)
from trm.cases.models import Case, CaseEvent
from trm.cases.services import case_move, person_update_identity
from trm.cases.tests.factories import (
    adult_birth_date,
    fictional_identity,
    open_case,
    team_member,
)
from trm.cases.tracks import ChildProtection, Identification, Reflection
from trm.identification import children, contacts, reflection, services
from trm.identification.errors import (
    ConsularCheckBlocked,
    NotCompetentAuthority,
    RemovalBlocked,
)
from trm.identification.forms import guardian_candidates
from trm.identification.models import RightsInformation, RightsItem
from trm.sop import engine, loader
from trm.sop.engine import StepState

IDENTIFIED_ITEMS = [
    RightsItem.DECISION_AND_REASONS,
    RightsItem.REFLECTION_PERIOD,
    RightsItem.ASSISTANCE_UNCONDITIONAL,
    RightsItem.LEGAL_COUNSELLING,
]
NOT_IDENTIFIED_ITEMS = [
    RightsItem.DECISION_AND_REASONS,
    RightsItem.REVIEW,
    RightsItem.OTHER_SERVICES,
]


@pytest.fixture(autouse=True)
def _fresh_definitions():
    loader.clear_cache()
    yield
    loader.clear_cache()


@pytest.fixture
def case(caseworker_a):
    return open_case(caseworker_a, birth_date=adult_birth_date())


def authority(case: Case, *functions: str):
    """A competent-authority user of an organisation performing ``functions``."""
    org = OrganisationFactory(
        functions=list(functions) or [TrmFunction.COMPETENT_AUTHORITY]
    )
    return team_member(case, Role.COMPETENT_AUTHORITY, organisation=org)


def counts(case: Case) -> tuple[int, int]:
    return (
        CaseEvent.objects.filter(case=case).count(),
        AuditEntry.objects.count(),
    )


def presumed(case: Case, actor) -> Case:
    return services.presume(actor=actor, case_id=case.pk, reason="Fictional grounds")


# --- presumed trafficked person ------------------------------------------------------


def test_presuming_needs_a_positive_screening_or_reasons(case, caseworker_a):
    before = counts(case)
    with pytest.raises(CaseInvalidInput) as refused:
        services.presume(actor=caseworker_a, case_id=case.pk, reason="  ")
    assert refused.value.details["field"] == "reason"
    assert counts(case) == before
    case.refresh_from_db()
    assert case.identification == Identification.SIGNAL_RECEIVED


def test_a_positive_screening_is_enough_to_presume(case, caseworker_a):
    from trm.screening.models import Screening

    Screening.objects.create(
        case=case,
        assessor=caseworker_a,
        at=timezone.now(),
        instrument="ILO-EC-2009",
        instrument_version="test",
        list_ids=["adult_labour"],
        exploitation=["labour"],
        result="refer",
        rule_result="indicative_positive",
        dimension_summary={},
        sealed_responses=b"",
    )
    services.presume(actor=caseworker_a, case_id=case.pk)
    case.refresh_from_db()
    assert case.identification == Identification.PRESUMED


def test_the_generic_track_move_cannot_identify(case, caseworker_a):
    """Rule 10: identification moves only through their own services."""
    ca = authority(case)
    presumed(case, caseworker_a)
    with pytest.raises(TransitionNotAllowed):
        case_move(
            actor=ca,
            case_id=case.pk,
            track="identification",
            target=Identification.IDENTIFIED,
        )
    case.refresh_from_db()
    assert case.identification == Identification.PRESUMED


# --- rule 10: only the competent authority of the configured body --------------------


def test_rule_10_a_caseworker_cannot_decide_identification(case, caseworker_a):
    presumed(case, caseworker_a)
    before = counts(case)
    with pytest.raises(NotCompetentAuthority):
        services.decide(
            actor=caseworker_a,
            case_id=case.pk,
            outcome=Identification.IDENTIFIED,
            reasons="Fictional reasons",
            informed=IDENTIFIED_ITEMS,
            language="ro",
        )
    assert counts(case) == before


def test_rule_10_the_competent_authority_decides_with_reasons_and_information(
    case, caseworker_a
):
    ca = authority(case)
    presumed(case, caseworker_a)
    services.decide(
        actor=ca,
        case_id=case.pk,
        outcome=Identification.IDENTIFIED,
        reasons="Fictional reasons",
        informed=IDENTIFIED_ITEMS,
        language="ro",
        interpreter=True,
    )
    case.refresh_from_db()
    assert case.identification == Identification.IDENTIFIED
    info = RightsInformation.objects.get(case=case)
    assert (info.context, info.language, info.interpreter) == ("identified", "ro", True)
    assert set(info.items) == set(IDENTIFIED_ITEMS)


@override_settings(TRM_SOP_VARIANT="bg")
def test_in_bulgaria_only_the_prosecution_service_decides(case, caseworker_a):
    """[BG]: the prosecution service is the formal identifying authority."""
    police_ca = authority(case, TrmFunction.COMPETENT_AUTHORITY)
    prosecution = authority(case, TrmFunction.PROSECUTION)
    presumed(case, caseworker_a)
    with pytest.raises(NotCompetentAuthority):
        services.decide(
            actor=police_ca,
            case_id=case.pk,
            outcome=Identification.IDENTIFIED,
            reasons="Fictional reasons",
            informed=IDENTIFIED_ITEMS,
            language="bg",
        )
    services.decide(
        actor=prosecution,
        case_id=case.pk,
        outcome=Identification.IDENTIFIED,
        reasons="Fictional reasons",
        informed=IDENTIFIED_ITEMS,
        language="bg",
    )
    case.refresh_from_db()
    assert case.identification == Identification.IDENTIFIED


@pytest.mark.parametrize(
    ("reasons", "informed", "language", "field"),
    [
        ("", IDENTIFIED_ITEMS, "ro", "reasons"),
        ("Fictional reasons", IDENTIFIED_ITEMS[:2], "ro", "informed"),
        ("Fictional reasons", [*IDENTIFIED_ITEMS, "made_up"], "ro", "informed"),
        ("Fictional reasons", IDENTIFIED_ITEMS, "xx-not", "language"),
    ],
)
def test_a_decision_without_reasons_or_information_is_refused(
    case, caseworker_a, reasons, informed, language, field
):
    ca = authority(case)
    presumed(case, caseworker_a)
    before = counts(case)
    with pytest.raises(CaseInvalidInput) as refused:
        services.decide(
            actor=ca,
            case_id=case.pk,
            outcome=Identification.IDENTIFIED,
            reasons=reasons,
            informed=informed,
            language=language,
        )
    assert refused.value.details["field"] == field
    assert counts(case) == before
    assert not RightsInformation.objects.exists()


def test_not_identified_then_reopened_on_new_evidence(case, caseworker_a):
    ca = authority(case)
    presumed(case, caseworker_a)
    services.decide(
        actor=ca,
        case_id=case.pk,
        outcome=Identification.NOT_IDENTIFIED,
        reasons="Fictional reasons",
        informed=NOT_IDENTIFIED_ITEMS,
        language="en",
    )
    with pytest.raises(NotCompetentAuthority):
        services.reopen(actor=caseworker_a, case_id=case.pk, reason="New evidence")
    with pytest.raises(CaseInvalidInput):
        services.reopen(actor=ca, case_id=case.pk, reason="")
    services.reopen(actor=ca, case_id=case.pk, reason="Fictional new evidence")
    case.refresh_from_db()
    assert case.identification == Identification.PRESUMED


def test_no_indication_needs_information_given(case, caseworker_a):
    from trm.screening.services import screening_record

    # A screening with nothing assessed moves identification to "screening".
    screening_record(
        actor=caseworker_a, case_id=case.pk, exploitation=["labour"], responses={}
    )
    with pytest.raises(CaseInvalidInput):
        services.close_no_indication(
            actor=caseworker_a, case_id=case.pk, information_given=False
        )
    services.close_no_indication(
        actor=caseworker_a, case_id=case.pk, information_given=True
    )
    case.refresh_from_db()
    assert case.identification == Identification.NO_INDICATION


# --- rule 2: no removal while identification pending or reflection period runs -------


def test_rule_2_no_removal_while_identification_is_pending(case, caseworker_a):
    presumed(case, caseworker_a)
    case.refresh_from_db()
    block = reflection.removal_block(case)
    assert block is not None
    before = counts(case)
    with pytest.raises(RemovalBlocked):
        reflection.enforced_removal_record(
            actor=caseworker_a, case_id=case.pk, legal_basis="Fictional order"
        )
    assert counts(case) == before


def test_rule_2_no_removal_during_the_reflection_period_then_allowed(
    case, caseworker_a
):
    ca = authority(case)
    presumed(case, caseworker_a)  # baseline: the period starts at reasonable grounds
    services.decide(
        actor=ca,
        case_id=case.pk,
        outcome=Identification.NOT_IDENTIFIED,
        reasons="Fictional reasons",
        informed=NOT_IDENTIFIED_ITEMS,
        language="en",
    )
    case.refresh_from_db()
    block = reflection.removal_block(case)
    assert block is not None and block.until is not None
    with pytest.raises(RemovalBlocked):
        reflection.enforced_removal_record(
            actor=caseworker_a, case_id=case.pk, legal_basis="Fictional order"
        )
    with time_machine.travel(timezone.now() + timedelta(days=32), tick=False):
        assert reflection.removal_block(case) is None
        reflection.enforced_removal_record(
            actor=caseworker_a, case_id=case.pk, legal_basis="Fictional order"
        )
    assert CaseEvent.objects.filter(
        case=case, kind="sop1.enforced_removal_recorded"
    ).exists()


# --- reflection and recovery period ---------------------------------------------------


def test_the_reflection_period_starts_at_reasonable_grounds_in_the_baseline(
    case, caseworker_a
):
    presumed(case, caseworker_a)
    case.refresh_from_db()
    assert case.reflection == Reflection.REFLECTION_PERIOD
    (sop1, *_rest) = engine.case_sop_status(case)
    step = next(s for s in sop1.steps if s.step.id == "sop1.reflection_period")
    assert step.state == StepState.DUE
    assert step.due_on == timezone.localdate() + timedelta(days=30)


@override_settings(TRM_SOP_VARIANT="bg")
def test_in_bulgaria_the_reflection_period_waits_for_formal_identification(
    case, caseworker_a
):
    presumed(case, caseworker_a)
    case.refresh_from_db()
    assert case.reflection == Reflection.NOT_APPLICABLE
    prosecution = authority(case, TrmFunction.PROSECUTION)
    with time_machine.travel(timezone.now() + timedelta(days=10), tick=False):
        services.decide(
            actor=prosecution,
            case_id=case.pk,
            outcome=Identification.IDENTIFIED,
            reasons="Fictional reasons",
            informed=IDENTIFIED_ITEMS,
            language="bg",
        )
        case.refresh_from_db()
        assert case.reflection == Reflection.REFLECTION_PERIOD
        (sop1, *_rest) = engine.case_sop_status(case)
        steps = {s.step.id: s for s in sop1.steps}
        step = steps["sop1.reflection_period"]
        assert step.due_on == timezone.localdate() + timedelta(days=30)
        # The decision's rights information told the person about the period.
        assert steps["sop1.inform_reflection"].state == StepState.DONE


def test_an_early_end_needs_the_authority_and_written_reasons(case, caseworker_a):
    presumed(case, caseworker_a)
    with pytest.raises(CaseRoleRequired):
        reflection.reflection_end(
            actor=caseworker_a, case_id=case.pk, reason="public_order", detail="x"
        )
    ca = authority(case)
    with pytest.raises(CaseInvalidInput) as refused:
        reflection.reflection_end(actor=ca, case_id=case.pk, reason="public_order")
    assert refused.value.details["field"] == "detail"
    reflection.reflection_end(
        actor=ca, case_id=case.pk, reason="improper_claim", detail="Fictional reasons"
    )
    case.refresh_from_db()
    assert case.reflection == Reflection.ENDED_EARLY


def test_expiry_is_refused_before_the_last_day_and_recorded_after_it(
    case, caseworker_a
):
    presumed(case, caseworker_a)
    with pytest.raises(TransitionNotAllowed):
        reflection.reflection_end(actor=caseworker_a, case_id=case.pk, reason="expired")
    with time_machine.travel(timezone.now() + timedelta(days=31), tick=False):
        assert reflection.expire_reflection_periods() == 1
        assert reflection.expire_reflection_periods() == 0
    case.refresh_from_db()
    assert case.reflection == Reflection.REFLECTION_ENDED
    assert CaseEvent.objects.get(case=case, kind="sop1.reflection_ended").code == (
        "expired"
    )


def test_the_reflection_end_reminder_is_sent_seven_days_before(case, caseworker_a):
    from trm.sop.jobs import send_reminders
    from trm.sop.models import Reminder

    caseworker_a.email = "caseworker@example.invalid"
    caseworker_a.save()
    presumed(case, caseworker_a)
    last_day = timezone.localdate() + timedelta(days=30)
    send_reminders(today=last_day - timedelta(days=8))
    assert not Reminder.objects.filter(step_id="sop1.reflection_period").exists()
    mail.outbox.clear()
    send_reminders(today=last_day - timedelta(days=7))
    reminder = Reminder.objects.get(step_id="sop1.reflection_period")
    assert reminder.due_on == last_day and reminder.user == caseworker_a
    (sent,) = mail.outbox  # one e-mail per user and run
    assert case.number in sent.body
    assert "Reflection and recovery period" in sent.body
    # No personal data in the e-mail: the case number, the step, the date.
    identity = case.person
    assert str(identity.subject_ref) not in sent.body
    send_reminders(today=last_day - timedelta(days=6))
    assert Reminder.objects.filter(step_id="sop1.reflection_period").count() == 1


# --- rule 3: presumption of minority --------------------------------------------------


def test_rule_3_a_possible_child_stays_a_child_until_an_age_assessment(caseworker_a):
    case = open_case(
        caseworker_a, birth_date=None, may_be_child=True, age_uncertain=True
    )
    assert case.person.presumed_child
    assert case.child_protection == ChildProtection.GUARDIAN_REQUESTED
    # An adult birth date entered later does not lift the presumption.
    person_update_identity(
        actor=caseworker_a,
        case_id=case.pk,
        identity=fictional_identity(birth_date=adult_birth_date()),
    )
    case.refresh_from_db()
    assert case.person.presumed_child
    # Nor does the generic track move.
    with pytest.raises(TransitionNotAllowed):
        case_move(
            actor=caseworker_a,
            case_id=case.pk,
            track="child_protection",
            target=ChildProtection.ENDED,
        )
    # An inconclusive assessment keeps it.
    children.age_assessment_record(
        actor=caseworker_a, case_id=case.pk, outcome="inconclusive", method="Interview"
    )
    case.refresh_from_db()
    assert case.person.presumed_child
    children.age_assessment_record(
        actor=caseworker_a, case_id=case.pk, outcome="adult", method="Documents"
    )
    case.refresh_from_db()
    assert not case.person.presumed_child
    assert case.child_protection == ChildProtection.ENDED


def test_marking_a_possible_child_requests_a_guardian_with_a_deadline(
    case, caseworker_a
):
    children.mark_possible_child(actor=caseworker_a, case_id=case.pk)
    case.refresh_from_db()
    assert case.person.presumed_child and case.person.age_uncertain
    assert case.child_protection == ChildProtection.GUARDIAN_REQUESTED
    (sop1, *_rest) = engine.case_sop_status(case)
    steps = {s.step.id: s for s in sop1.steps}
    assert steps["sop1.guardian"].state == StepState.DUE
    assert steps["sop1.guardian"].due_on is not None
    assert steps["sop1.child_protection_notified"].state == StepState.DUE
    guardian = UserFactory(organisation=case.lead_organisation, roles=[Role.GUARDIAN])
    children.guardian_appoint(
        actor=caseworker_a, case_id=case.pk, guardian_user_id=guardian.pk
    )
    children.child_protection_notify(
        actor=caseworker_a, case_id=case.pk, authority="Fictional Child Agency"
    )
    case.refresh_from_db()
    assert case.child_protection == ChildProtection.GUARDIAN_APPOINTED
    (sop1, *_rest) = engine.case_sop_status(case)
    steps = {s.step.id: s for s in sop1.steps}
    assert steps["sop1.guardian"].state == StepState.DONE
    assert steps["sop1.child_protection_notified"].state == StepState.DONE


def test_a_guardian_must_hold_the_guardian_role(case, caseworker_a):
    children.mark_possible_child(actor=caseworker_a, case_id=case.pk)
    other = UserFactory(organisation=case.lead_organisation, roles=[Role.CASE_MANAGER])
    with pytest.raises(CaseInvalidInput):
        children.guardian_appoint(
            actor=caseworker_a, case_id=case.pk, guardian_user_id=other.pk
        )


def test_a_peer_organisations_guardian_is_neither_offered_nor_appointed(
    case, caseworker_a
):
    children.mark_possible_child(actor=caseworker_a, case_id=case.pk)
    peer = OrganisationFactory(
        name="Demo Guardianship Office Serbia (fictional)", home_node="demo-rs"
    )
    peer_guardian = UserFactory(organisation=peer, roles=[Role.GUARDIAN])
    local = UserFactory(organisation=case.lead_organisation, roles=[Role.GUARDIAN])

    assert guardian_candidates() == [local]
    with pytest.raises(NotALocalUser):
        children.guardian_appoint(
            actor=caseworker_a, case_id=case.pk, guardian_user_id=peer_guardian.pk
        )
    assert not case.team.filter(user=peer_guardian).exists()


# --- rule 6: no consular check for asylum applicants ----------------------------------


@pytest.mark.parametrize("channel", ["consulate", "police", "ncp"])
def test_rule_6_no_origin_country_check_for_an_asylum_applicant(caseworker_a, channel):
    case = open_case(caseworker_a, asylum_applicant=True)
    before = counts(case)
    with pytest.raises(ConsularCheckBlocked):
        contacts.identity_verification_request(
            actor=caseworker_a, case_id=case.pk, channel=channel
        )
    assert counts(case) == before


def test_rule_6_domestic_checks_stay_open_and_others_may_use_the_consulate(
    caseworker_a,
):
    asylum = open_case(caseworker_a, asylum_applicant=True)
    contacts.identity_verification_request(
        actor=caseworker_a, case_id=asylum.pk, channel="domestic"
    )
    other = open_case(caseworker_a)
    contacts.identity_verification_request(
        actor=caseworker_a, case_id=other.pk, channel="consulate"
    )
    assert CaseEvent.objects.get(
        case=other, kind="sop1.identity_verification_requested"
    ).code == ("consulate")


# --- rule 8: the risk review falls due after each contact -----------------------------


def test_rule_8_a_contact_makes_the_risk_review_due_until_reviewed(case, caseworker_a):
    def review_state():
        case.refresh_from_db()
        (sop1, *_rest) = engine.case_sop_status(case)
        return next(s for s in sop1.steps if s.step.id == "sop1.risk_review").state

    assert review_state() == StepState.NOT_STARTED
    contacts.contact_record(actor=caseworker_a, case_id=case.pk, kind="in_person")
    assert review_state() == StepState.DUE
    record_risk(case, caseworker_a, level="medium")
    assert review_state() == StepState.DONE
    contacts.contact_record(actor=caseworker_a, case_id=case.pk, kind="phone")
    assert review_state() == StepState.DUE


def test_unknown_contact_kinds_and_levels_are_refused(case, caseworker_a):
    with pytest.raises(CaseInvalidInput):
        contacts.contact_record(actor=caseworker_a, case_id=case.pk, kind="telepathy")
    with pytest.raises(AssessmentInvalidInput):
        record_risk(case, caseworker_a, level="none")


# --- found in review ------------------------------------------------------------------


def test_a_withdrawn_competent_authority_role_decides_nothing(case, caseworker_a):
    """Rule 10: the role must be held now, not only when the user joined the team."""
    from trm.accounts.models import Membership

    ca = authority(case)
    presumed(case, caseworker_a)
    Membership.objects.filter(user=ca).update(role=Role.SERVICE_PROVIDER)
    ca = type(ca).objects.get(pk=ca.pk)  # a fresh user: no cached roles
    # The team role no longer counts: the case is not theirs to see any more.
    with pytest.raises(CaseNotFound):
        services.decide(
            actor=ca,
            case_id=case.pk,
            outcome=Identification.IDENTIFIED,
            reasons="Fictional reasons",
            informed=IDENTIFIED_ITEMS,
            language="ro",
        )


def test_an_authority_of_another_country_decides_nothing(case, caseworker_a):
    org = OrganisationFactory(functions=[TrmFunction.COMPETENT_AUTHORITY], country="MD")
    foreign = team_member(case, Role.COMPETENT_AUTHORITY, organisation=org)
    presumed(case, caseworker_a)
    with pytest.raises(NotCompetentAuthority):
        services.decide(
            actor=foreign,
            case_id=case.pk,
            outcome=Identification.IDENTIFIED,
            reasons="Fictional reasons",
            informed=IDENTIFIED_ITEMS,
            language="ro",
        )


@pytest.mark.parametrize("reason", ["decided_to_cooperate", "decided_not_to_cooperate"])
def test_rule_2_the_persons_decision_does_not_lift_the_removal_block(
    case, caseworker_a, reason
):
    ca = authority(case)
    presumed(case, caseworker_a)
    services.decide(
        actor=ca,
        case_id=case.pk,
        outcome=Identification.IDENTIFIED,
        reasons="Fictional reasons",
        informed=IDENTIFIED_ITEMS,
        language="ro",
    )
    reflection.reflection_end(actor=caseworker_a, case_id=case.pk, reason=reason)
    case.refresh_from_db()
    block = reflection.removal_block(case)
    assert block is not None
    assert block.until == timezone.localdate() + timedelta(days=30)
    with pytest.raises(RemovalBlocked):
        reflection.enforced_removal_record(
            actor=caseworker_a, case_id=case.pk, legal_basis="Fictional order"
        )


def test_rule_2_an_early_end_for_public_order_lifts_the_block(case, caseworker_a):
    ca = authority(case)
    presumed(case, caseworker_a)
    services.decide(
        actor=ca,
        case_id=case.pk,
        outcome=Identification.NOT_IDENTIFIED,
        reasons="Fictional reasons",
        informed=NOT_IDENTIFIED_ITEMS,
        language="en",
    )
    reflection.reflection_end(
        actor=ca, case_id=case.pk, reason="public_order", detail="Fictional reasons"
    )
    case.refresh_from_db()
    assert reflection.removal_block(case) is None


def test_a_prosecutor_records_the_persons_decision(case, caseworker_a):
    presumed(case, caseworker_a)
    prosecutor = team_member(case, Role.PROSECUTOR)
    reflection.reflection_end(
        actor=prosecutor, case_id=case.pk, reason="decided_to_cooperate"
    )
    case.refresh_from_db()
    assert case.reflection == Reflection.REFLECTION_ENDED


@pytest.mark.parametrize("how", ["recorded", "procedure"])
def test_rule_6_an_asylum_application_after_opening_blocks_the_consulate(
    case, caseworker_a, how
):
    from trm.cases.tests.factories import set_states

    if how == "recorded":
        contacts.asylum_application_record(actor=caseworker_a, case_id=case.pk)
        case.refresh_from_db()
        assert case.person.asylum_applicant
        with pytest.raises(TransitionNotAllowed):
            contacts.asylum_application_record(actor=caseworker_a, case_id=case.pk)
    else:
        set_states(case, reflection=Reflection.INTERNATIONAL_PROTECTION)
    with pytest.raises(ConsularCheckBlocked):
        contacts.identity_verification_request(
            actor=caseworker_a, case_id=case.pk, channel="consulate"
        )


def test_marking_a_possible_child_does_not_complete_the_age_assessment(
    case, caseworker_a
):
    children.mark_possible_child(actor=caseworker_a, case_id=case.pk)
    case.refresh_from_db()
    (sop1, *_rest) = engine.case_sop_status(case)
    step = next(s for s in sop1.steps if s.step.id == "sop1.age_assessment")
    assert step.state == StepState.DUE


def test_only_telling_the_reflection_period_completes_that_step(case, caseworker_a):
    presumed(case, caseworker_a)

    def state():
        case.refresh_from_db()
        (sop1, *_rest) = engine.case_sop_status(case)
        return next(
            s for s in sop1.steps if s.step.id == "sop1.inform_reflection"
        ).state

    with pytest.raises(CaseInvalidInput):
        services.rights_inform(
            actor=caseworker_a,
            case_id=case.pk,
            context="other",
            informed=[],
            language="en",
        )
    services.rights_inform(
        actor=caseworker_a,
        case_id=case.pk,
        context="other",
        informed=[RightsItem.DATA_PROTECTION],
        language="en",
    )
    assert state() == StepState.DUE
    services.rights_inform(
        actor=caseworker_a,
        case_id=case.pk,
        context="reflection_period",
        informed=[RightsItem.REFLECTION_PERIOD, RightsItem.ASSISTANCE_UNCONDITIONAL],
        language="en",
    )
    assert state() == StepState.DONE


def test_a_national_contact_point_by_policy_reads_but_does_not_act(case, caseworker_a):
    from trm.cases.tests.factories import set_states

    ncp = UserFactory(roles=[Role.NATIONAL_CONTACT_POINT])
    set_states(case, transnational="ncp_notified")
    with pytest.raises(CaseRoleRequired):
        contacts.contact_record(actor=ncp, case_id=case.pk, kind="phone")


def test_a_failed_reminder_e_mail_is_retried_on_the_next_run(
    case, caseworker_a, settings
):
    from trm.sop.jobs import send_reminders
    from trm.sop.models import Reminder

    caseworker_a.email = "caseworker@example.invalid"
    caseworker_a.save()
    presumed(case, caseworker_a)
    settings.EMAIL_BACKEND = "trm.sop.tests.failing_mail.Backend"
    first = send_reminders()
    assert first.created and not first.emailed
    assert Reminder.objects.filter(emailed_at__isnull=True).exists()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox.clear()
    second = send_reminders()
    assert second.created == 0 and second.emailed == first.created
    assert not Reminder.objects.filter(
        user=caseworker_a, emailed_at__isnull=True
    ).exists()
    third = send_reminders()
    assert third.emailed == 0


def test_one_failing_case_does_not_stop_the_expiry_job(case, caseworker_a, monkeypatch):
    presumed(case, caseworker_a)
    other = open_case(caseworker_a, birth_date=adult_birth_date())
    presumed(other, caseworker_a)
    real_end = reflection.reflection_end
    calls = []

    def flaky(*, actor, case_id, reason, detail=""):
        calls.append(case_id)
        if len(calls) == 1:
            raise TransitionNotAllowed("ended meanwhile")
        return real_end(actor=actor, case_id=case_id, reason=reason, detail=detail)

    monkeypatch.setattr(reflection, "reflection_end", flaky)
    with time_machine.travel(timezone.now() + timedelta(days=31), tick=False):
        assert reflection.expire_reflection_periods() == 1
    assert len(calls) == 2


@pytest.mark.parametrize(
    "blank", ["\u200b", "\u200b\u2060", "\u3164", "\u00ad", " \u2800 "]
)
def test_invisible_text_is_no_reason(case, caseworker_a, blank):
    before = counts(case)
    with pytest.raises(CaseInvalidInput) as refused:
        services.presume(actor=caseworker_a, case_id=case.pk, reason=blank)
    assert refused.value.details["field"] == "reason"
    assert counts(case) == before


def test_rule_6_a_former_asylum_applicant_stays_closed_to_the_consulate(
    case, caseworker_a
):
    from trm.cases.services import case_move

    case_move(
        actor=caseworker_a,
        case_id=case.pk,
        track="reflection",
        target=Reflection.INTERNATIONAL_PROTECTION,
    )
    case_move(
        actor=caseworker_a,
        case_id=case.pk,
        track="reflection",
        target=Reflection.PERMIT_PERSONAL,
    )
    case.refresh_from_db()
    assert case.person.asylum_applicant
    with pytest.raises(ConsularCheckBlocked):
        contacts.identity_verification_request(
            actor=caseworker_a, case_id=case.pk, channel="consulate"
        )


def test_rule_10_no_indication_is_refused_after_a_screening_that_refers(
    case, caseworker_a
):
    from trm.screening.services import screening_record

    refer = {
        i: {"value": "present", "evidence": "observed"}
        for i in [
            "al.d1.deceived_nature_of_job",
            "al.d1.deceived_wages",
            "al.d4.excessive_working_hours",
            "al.d4.low_or_no_salary",
            "al.d5.confiscation_of_documents",
            "al.d5.debt_bondage",
        ]
    }
    screening = screening_record(
        actor=caseworker_a, case_id=case.pk, exploitation=["labour"], responses=refer
    )
    assert screening.result == "refer"
    with pytest.raises(TransitionNotAllowed) as refused:
        services.close_no_indication(
            actor=caseworker_a, case_id=case.pk, information_given=True
        )
    assert refused.value.details["reason"] == "screening_suggests_referral"
    case.refresh_from_db()
    assert case.identification == Identification.SCREENING


def test_rule_3_a_birth_date_that_makes_a_child_presumes_a_child(caseworker_a):
    from trm.cases.models import AgeBand
    from trm.cases.services import case_open

    born = adult_birth_date(12)
    with pytest.raises(CaseInvalidInput) as refused:
        case_open(
            actor=caseworker_a,
            identity=fictional_identity(birth_date=born),
            age_band=AgeBand.AGE_30_38,
        )
    assert refused.value.details["field"] == "age_band"
    estimated = case_open(
        actor=caseworker_a,
        identity=fictional_identity(birth_date=born, birth_date_is_estimate=True),
        age_band=AgeBand.AGE_30_38,
    )
    assert estimated.person.presumed_child


def test_the_needs_assessment_step_falls_due_and_an_assessment_completes_it(
    case, caseworker_a
):
    # Once "not recorded here yet"; trm.assessments now records it (BG 1.3).
    from trm.sop.selectors import tasks_for_user

    presumed(case, caseworker_a)
    later = timezone.localdate() + timedelta(days=60)

    def needs_step():
        case.refresh_from_db()
        (sop1, *_rest) = engine.case_sop_status(case, today=later)
        return next(s for s in sop1.steps if s.step.id == "sop1.needs_assessment")

    assert needs_step().state == StepState.OVERDUE
    tasks, _truncated = tasks_for_user(user=caseworker_a, today=later)
    assert "sop1.needs_assessment" in {t.status.step.id for t in tasks}
    record_needs(case, caseworker_a)
    assert needs_step().state == StepState.DONE
