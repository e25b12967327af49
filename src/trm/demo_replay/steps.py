"""What one node does in the replay, each step through the services the UI
and API call (one write path). Run inside a node by ``trm replay ACTION``
(:mod:`trm.demo_replay.management.commands.replay`).

The node's people are its users found by role (the first active user holding
it, by username, among this node's own people: never a *node user* standing
for a peer node's organisation, which the exchange creates with the role of
the peer's sender, e.g. ``node.demo-md.….national_contact_point``): a first
contact point opens the case and screens; a case
manager leads it; the competent authority — of an organisation acting as the
variant's deciding body — identifies; the national contact point alerts the
counterpart and speaks for the node across the border.

Dates: the CTDC records are past cases, so the SOP 1 steps of a case
(opening, screening, presumption, identification, first assistance) are
recorded :data:`BACKDATE_DAYS` days ago (``time_machine``, a development
dependency: the replay is a development tool), so the reflection period has
ended when the return is prepared, as it would have. Everything that crosses
the border happens now (a receiver refuses messages from another time).

Waiting steps (``*_when_ready``) poll this node's database for what the other
node sent, act on each case as soon as it is ready, and return what is still
waiting after ``timeout`` seconds.

Running again: every step is idempotent, so a replay interrupted or failed
at any point can be run again with the same seed. Whether a case is already
past a step is read from the case's own state on this node (the joint
assessment and the messages queued for the case, the origin's rating, the
answer to the plan, the handover and its arrival) — never from a side file;
such a case is reported done without acting again (no record twice, no
message twice). A case whose opening stopped half-way is completed when only
the alert is missing, and refused (:class:`HalfOpened`) otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from trm.accounts.models import Organisation, Role, User
from trm.common.errors import DomainError

#: How long before now the SOP 1 steps of a replayed case are recorded.
BACKDATE_DAYS = 120
#: Language spoken with a person of each demo citizenship (ISO 639-1).
LANGUAGES = {"MD": "ro", "RO": "ro", "RS": "sr", "MK": "mk", "BG": "bg", "UA": "uk"}
#: Faker locales for names that fit the citizenship (still fictional).
#: Citizenship → Faker locale for the fictional names (only locales Faker
#: has: it has no Serbian-in-Serbia locale, ``sr_BA`` gives Serbian names).
LOCALES = {"MD": "ro_RO", "RO": "ro_RO", "RS": "sr_BA", "MK": "mk_MK"}
FALLBACK_LOCALE = "en_US"
FICTIONAL = "(fictional)"
POLL_SECONDS = 0.4


class ReplayError(DomainError):
    """The node cannot play its part (e.g. no user with a needed role)."""

    code = "demo_replay.cannot_play"


class HalfOpened(DomainError):
    """A record's case exists but an interrupted replay left its opening
    (SOP 1) unfinished before the alert: it is not completed again."""

    code = "demo_replay.half_opened"


# --- people ------------------------------------------------------------------


def user_with(role: str, *, functions: frozenset[str] = frozenset()) -> User:
    """Return the first active person of this node holding ``role`` (of an
    active organisation performing one of ``functions``, when given).

    Node users (:mod:`trm.accounts.node_users`: a peer node's organisation in
    a role, created when its first message is applied) and users of a peer
    node's organisation are never picked: they hold the role too, and one of
    them sorting first (``node.…`` before ``rs-ncp``) would act for this node
    — on a case whose team it is not on.

    Raises:
        ReplayError: nobody holds it.
    """
    from trm.accounts.node_users import NODE_USER_PREFIX

    users = (
        User.objects.filter(is_active=True, memberships__role=role)
        .filter(Q(organisation__isnull=True) | Q(organisation__home_node=""))
        .exclude(username__startswith=NODE_USER_PREFIX)
        .order_by("username")
    )
    for user in users.select_related("organisation"):
        org: Organisation | None = user.organisation
        if not functions or (
            org is not None and org.is_active and functions & set(org.functions)
        ):
            return user
    raise ReplayError(
        f"No active user with the role {role}"
        + (f" at an organisation acting as {sorted(functions)}" if functions else "")
        + " on this node: run the demo seed first."
    )


def deciding_authority() -> User:
    """The competent authority whose organisation the variant lets decide."""
    from trm.identification.common import node_definition

    value = node_definition().setting("formal_identification.authority_functions")
    functions = frozenset(str(v) for v in value) if isinstance(value, list) else None
    return user_with(Role.COMPETENT_AUTHORITY, functions=functions or frozenset())


# --- fictional identities ----------------------------------------------------


def _birth_date(band: str, on: date, rng: Any) -> date | None:
    """A birth date making the person's age fall in the CTDC ``band`` on ``on``."""
    if not band:
        return None
    low, _sep, high = band.replace("+", "--70").partition("--")
    years = rng.random_int(int(low), int(high or low))
    return on - timedelta(days=365 * years + rng.random_int(30, 330))


def faker_locale(citizenship: str) -> str:
    """The Faker locale for ``citizenship`` (ISO 3166 alpha-2), or
    :data:`FALLBACK_LOCALE` when Faker does not have the mapped one."""
    from faker.config import AVAILABLE_LOCALES

    locale = LOCALES.get(str(citizenship).upper(), FALLBACK_LOCALE)
    return locale if locale in AVAILABLE_LOCALES else FALLBACK_LOCALE


def identity(record: Mapping[str, Any], on: date, seed: int) -> Any:
    """A clearly fictional identity for ``record`` (reproducible per record)."""
    from faker import Faker  # a development dependency, like the replay

    from trm.cases.identity import PersonIdentity

    fake = Faker(faker_locale(record["citizenship"]))
    fake.seed_instance(f"{seed}-{record['key']}")
    female = record["gender"] == "Feminine"
    given = fake.first_name_female() if female else fake.first_name_male()
    return PersonIdentity.model_validate(
        {
            "given_names": given,
            "family_names": f"{fake.last_name()} {FICTIONAL}",
            "birth_date": _birth_date(record["age_band"], on, fake),
            "place_of_birth": f"{fake.city()} {FICTIONAL}",
        }
    )


# --- destination: open, identify, assist, alert ---------------------------------


def _screening_answers(child: bool, kinds: list[str]) -> dict[str, dict[str, str]]:
    """Mark the strong indicators of each list present (self-reported)."""
    from trm.screening.instrument import lists_for, load_instrument

    instrument = load_instrument()
    answers: dict[str, dict[str, str]] = {}
    for indicator_list in lists_for(instrument, child=child, exploitation=kinds):
        for indicator in indicator_list.indicators[:6]:
            answers[indicator.id] = {"value": "present", "evidence": "self_reported"}
    return answers


def _needs(kind: str) -> dict[str, str]:
    from trm.assessments.models import DOMAINS

    return dict.fromkeys(DOMAINS[kind], "met")


def return_consents(
    case: Any,
    *,
    actor: User,
    given_by: str,
    language: str,
    country: str,
    declaration: str,
) -> Any:
    """The person's (or the child's and guardian's) consent to return, and to
    the transfer of the case summary, health, legal and family data — never
    identity — to ``country`` (ISO alpha-2) for it (SOP 4 step 1;
    :func:`trm.consent.services.consent_record`). Returns the transfer consent.
    """
    from trm.consent.services import consent_record

    consent_record(
        actor=actor,
        case_id=case.pk,
        purpose="return",
        categories=["case_summary"],
        given_by=given_by,
        language=language,
        recipient_organisation_id=case.lead_organisation_id,
        declaration=f"{declaration}: wants to go home",
    )
    return consent_record(
        actor=actor,
        case_id=case.pk,
        purpose="cross_border_transfer",
        categories=["case_summary", "health", "legal", "family"],
        given_by=given_by,
        language=language,
        recipient_country=country,
        declaration=declaration,
    )


def identify(case_id: UUID, *, actor: User, reasons: str, language: str) -> None:
    """The competent authority's formal decision: identified trafficked person,
    the person told the decision and their rights in ``language`` with an
    interpreter (SOP 1 step 6; :func:`trm.identification.services.decide`)."""
    from trm.identification.services import decide

    decide(
        actor=actor,
        case_id=case_id,
        outcome="identified",
        reasons=reasons,
        language=language,
        interpreter=True,
        informed=[
            "decision_and_reasons",
            "reflection_period",
            "assistance_unconditional",
            "legal_counselling",
        ],
    )


def risk_review(case_id: UUID, *, actor: User, risk_type: str) -> None:
    """The case manager's risk assessment (``initial`` at first contact, SOP 1
    step 4) or review (``ongoing``), low, no risk factor found, the person
    involved (:func:`trm.assessments.services.risk_assessment_record`)."""
    from trm.assessments.services import risk_assessment_record

    risk_assessment_record(
        actor=actor,
        case_id=case_id,
        risk_type=risk_type,
        level="low",
        factors=[],
        no_risk_factor=True,
        involvement="involved",
        judgement="Demo (fictional): no threat found; safety plan agreed.",
    )


def support_plan(case_id: UUID, *, actor: User, person: str, child: bool) -> None:
    """The support and safety plan (SOP 2; SOPS §6.5 rule 9), agreed with the
    person (``person``: their fictional name) and signed by the case manager
    (``actor``) — and, for a child, the guardian — on the day first
    assistance starts (:func:`trm.assessments.plans.plan_save`, ``plan_sign``)."""
    from trm.assessments.plans import PlanInput, PlanStep, plan_save, plan_sign

    today = timezone.localdate()
    guardian = user_with(Role.GUARDIAN) if child else None
    plan_save(
        actor=actor,
        case_id=case_id,
        content=PlanInput(
            immediate_needs="Demo (fictional): a safe bed, a doctor, an interpreter.",
            risk_summary="Demo (fictional): low, no threat found.",
            steps=[
                PlanStep(
                    what="Medical check and counselling (fictional)",
                    who="Demo shelter (fictional)",
                    by_when=today + timedelta(days=30),
                )
            ],
            other_organisations=["Demo shelter (fictional)"],
            safety_plan="Demo (fictional): shelter address kept confidential.",
            timeframe="Demo (fictional): 3 months",
            person_name=person,
            person_acknowledged=True,
            interviewer_name=actor.get_full_name() or actor.username,
            interviewer_acknowledged=True,
            guardian_name=(guardian.get_full_name() or guardian.username)
            if guardian
            else "",
            guardian_acknowledged=guardian is not None,
            plan_date=today,
            place=f"Demo shelter {FICTIONAL}",
        ),
    )
    plan_sign(actor=actor, case_id=case_id)


#: The services first assistance starts with (SOP 2), logged as given.
FIRST_SERVICES = ["shelter", "medical", "psychological"]
#: The services of an adult's / a child's individual care plan (SOP 3).
LONG_TERM_SERVICES = {
    False: ["vocational_training", "psychological"],
    True: ["education", "psychological"],
}
DEMO_PROVIDER = f"Demo shelter {FICTIONAL}"


def child_safeguards(case_id: UUID, *, actor: User) -> User:
    """For a presumed child (SOP 1): the case manager (``actor``) appoints
    this node's guardian and notifies the child-protection authority.

    Returns:
        The guardian appointed.
    """
    from trm.identification import children

    guardian = user_with(Role.GUARDIAN)
    children.guardian_appoint(
        actor=actor, case_id=case_id, guardian_user_id=guardian.pk
    )
    children.child_protection_notify(
        actor=actor,
        case_id=case_id,
        authority="Demo Child Protection Authority (fictional)",
    )
    return guardian


def first_assistance(
    case_id: UUID, *, actor: User, language: str, person: str, child: bool
) -> list[str]:
    """SOP 2, once consent to assistance is recorded: the case manager
    (``actor``) assesses the immediate needs, starts first assistance, logs
    each of :data:`FIRST_SERVICES` as given from today (the case's services
    log, :func:`trm.care.episodes.service_episode_record`) and signs the
    support and safety plan with the person (:func:`support_plan`).

    Returns:
        The service codes logged.
    """
    from trm.assessments.services import needs_assessment_record
    from trm.assistance.services import assistance_start
    from trm.care.episodes import service_episode_record

    needs_assessment_record(
        actor=actor,
        case_id=case_id,
        kind="immediate",
        willing_participation=True,
        in_private=True,
        language=language,
        statuses=_needs("immediate"),
        interpreter=True,
    )
    assistance_start(actor=actor, case_id=case_id, basis="consent")
    for service in FIRST_SERVICES:
        service_episode_record(
            actor=actor,
            case_id=case_id,
            service_type=service,
            started_on=timezone.localdate(),
            provider_name=DEMO_PROVIDER,
        )
    support_plan(case_id, actor=actor, person=person, child=child)
    return list(FIRST_SERVICES)


def long_term_assistance(
    case_id: UUID, *, actor: User, language: str, child: bool
) -> list[str]:
    """SOP 3: the case manager (``actor``) assesses the long-term needs,
    starts long-term assistance and agrees the individual care plan with the
    person (:func:`trm.care.services.care_plan_save`, ``care_plan_agree``:
    :data:`LONG_TERM_SERVICES`, up to 6 months; it rests on the consent to
    assistance recorded before).

    Returns:
        The planned service codes.
    """
    from trm.assessments.services import needs_assessment_record
    from trm.assistance.services import long_term_start
    from trm.care.services import (
        PlannedServiceInput,
        care_plan_agree,
        care_plan_save,
    )

    needs_assessment_record(
        actor=actor,
        case_id=case_id,
        kind="long_term",
        willing_participation=True,
        in_private=True,
        language=language,
        statuses=_needs("long_term"),
        interpreter=True,
    )
    long_term_start(actor=actor, case_id=case_id)
    services = LONG_TERM_SERVICES[bool(child)]
    care_plan_save(
        actor=actor,
        case_id=case_id,
        goals="Demo (fictional): safe housing, "
        + ("back at school" if child else "a vocational qualification")
        + ", recovery.",
        duration="short",
        services=[
            PlannedServiceInput(service_type=s, frequency="Weekly") for s in services
        ],
    )
    care_plan_agree(actor=actor, case_id=case_id)
    return list(services)


def take_on(case: Any) -> bool:
    """Origin, on a linked case: the national contact point puts this node's
    case manager on the case team ("the case manager takes the case on").
    Idempotent: nothing is done when they are on it already.

    Returns:
        True when the case manager was added now.
    """
    from trm.cases import services as cases

    cm = user_with(Role.CASE_MANAGER)
    if case.team.filter(user=cm, role=Role.CASE_MANAGER).exists():
        return False
    cases.case_team_add(
        actor=user_with(Role.NATIONAL_CONTACT_POINT),
        case_id=case.pk,
        user_id=cm.pk,
        role=Role.CASE_MANAGER,
    )
    return True


def reintegration_plan(case: Any, services: list[str], goals: str) -> bool:
    """Origin, after the arrival: the case manager records the reintegration
    plan (SOP 4 step 9), which schedules the follow-ups from the variant
    (``follow_up.months_after_return``). Idempotent: a case holding a plan is
    left as it is.

    Returns:
        True when the plan was recorded now.
    """
    from trm.reintegration.models import ReintegrationPlan
    from trm.reintegration.services import reintegration_plan_record

    if ReintegrationPlan.objects.filter(case=case).exists():
        return False
    reintegration_plan_record(
        actor=user_with(Role.CASE_MANAGER),
        case_id=case.pk,
        starts_on=timezone.localdate(),
        services=services,
        goals=goals,
        case_manager_function="Social worker",
    )
    return True


def open_case(
    record: Mapping[str, Any], *, peer_node: str, seed: int, backdate_days: int
) -> dict[str, Any]:
    """Replay one record on the country of exploitation's node.

    SOP 1–2 (backdated): open the case with a fictional identity, screen it,
    the first risk assessment, presumed → identified, the immediate needs
    assessment, first assistance under the person's consent with its services
    logged and the signed support and safety plan (:func:`first_assistance`;
    a child gets a guardian first and the
    child-protection authority is notified). Now: the reflection period
    ended and the case manager reviews the risks; a
    returning adult consents to return and to the transfer of what the return
    needs, and return preparation starts; the others get a long-term needs
    assessment, long-term assistance and an agreed individual care plan
    (:func:`long_term_assistance`). Last, the national contact point
    alerts the citizenship country's node.

    Returns:
        ``{"case": id, "ref": trm_case_ref, "transfer": consent id or ""}``.
        A record whose case exists already (same number) is not replayed
        again (:func:`_resume_open`): its case is returned, its alert sent
        if an interrupted replay stopped just before it.

    Raises:
        DomainError: from the services; HalfOpened: the case exists, stopped
            before its assistance state; ReplayError: a role missing.
    """
    import time_machine

    from trm.assistance.services import return_preparation_start
    from trm.cases import services as cases
    from trm.cases.models import Case
    from trm.consent.services import consent_record
    from trm.identification import reflection
    from trm.identification.services import presume
    from trm.screening.services import screening_record

    number = f"RPL-{seed}-{record['key']}"
    existing = Case.objects.filter(number=number).first()
    if existing is not None:
        return _resume_open(existing, record, peer_node=peer_node)
    fcp = user_with(Role.FIRST_CONTACT_POINT)
    cm = user_with(Role.CASE_MANAGER)
    ncp = user_with(Role.NATIONAL_CONTACT_POINT)
    ca = deciding_authority()
    child = record["age_band"] in {"0--8", "9--17"}
    language = LANGUAGES.get(record["citizenship"], "en")
    given_by = "both" if child else "person"
    kinds = list(record["exploitation"])
    start = timezone.now() - timedelta(
        days=backdate_days, hours=int(record["row"]) % 48
    )
    with time_machine.travel(start, tick=False):
        person = identity(record, timezone.localdate(), seed)
        who = f"{person.given_names} {person.family_names}"
        case = cases.case_open(
            actor=fcp,
            identity=person,
            gender=record["gender"],
            citizenships=[record["citizenship"]],
            languages=[language],
            may_be_child=child,
            number=number,
        )
        cases.case_team_add(
            actor=fcp, case_id=case.pk, user_id=cm.pk, role=Role.CASE_MANAGER
        )
        for user, role in (
            (ncp, Role.NATIONAL_CONTACT_POINT),
            (ca, Role.COMPETENT_AUTHORITY),
        ):
            cases.case_team_add(actor=cm, case_id=case.pk, user_id=user.pk, role=role)
        screening_record(
            actor=fcp,
            case_id=case.pk,
            exploitation=kinds,
            responses=_screening_answers(child, kinds),
            note=f"Demo replay of CTDC record (row {record['row']}, {record['year']})",
        )
        presume(
            actor=cm,
            case_id=case.pk,
            reason="Demo replay: indicators of "
            + " and ".join(kinds)
            + " exploitation (CTDC record)",
        )
        if child:
            child_safeguards(case.pk, actor=cm)
        risk_review(case.pk, actor=cm, risk_type="initial")
    with time_machine.travel(start + timedelta(days=2), tick=False):
        identify(
            case.pk,
            actor=ca,
            reasons="Demo replay: identified as in the CTDC record",
            language=language,
        )
        consent_record(
            actor=cm,
            case_id=case.pk,
            purpose="assistance",
            categories=["case_summary"],
            given_by=given_by,
            language=language,
            recipient_organisation_id=case.lead_organisation_id,
            declaration="Demo replay (fictional)",
        )
        first_assistance(case.pk, actor=cm, language=language, person=who, child=child)
    reflection.expire_reflection_periods()
    # Now, before deciding what comes next, the case manager reviews the
    # risks with the person (the first assessment is months old).
    risk_review(case.pk, actor=cm, risk_type="ongoing")
    transfer = ""
    if record["returns"]:
        transfer = str(
            return_consents(
                case,
                actor=cm,
                given_by=given_by,
                language=language,
                country=record["citizenship"],
                declaration="Demo replay (fictional)",
            ).pk
        )
        return_preparation_start(actor=cm, case_id=case.pk)
    else:
        long_term_assistance(case.pk, actor=cm, language=language, child=child)
    alerted = _alert(case.pk, record, peer_node=peer_node, ncp=ncp)
    return {"case": str(case.pk), "ref": alerted.trm_case_ref, "transfer": transfer}


def _alert(
    case_id: UUID, record: Mapping[str, Any], *, peer_node: str, ncp: User
) -> Any:
    """The national contact point alerts the citizenship country's node (M1)."""
    from trm.cases import services as cases

    return cases.case_alert_send(
        actor=ncp,
        case_id=case_id,
        peer_node=peer_node,
        urgency="normal",
        requests=["return_planning"] if record["returns"] else ["services"],
    )


def _opened_state(record: Mapping[str, Any]) -> str:
    """The assistance state a replayed case reaches just before its alert."""
    return "return_preparation" if record["returns"] else "long_term"


def _resume_open(
    case: Any, record: Mapping[str, Any], *, peer_node: str
) -> dict[str, Any]:
    """A record whose case a replay opened already, as :func:`open_case`
    returns it.

    Alerted (a ``case.alert`` to ``peer_node`` queued or delivered): nothing
    is done again, whatever state the case reached since. Not alerted but in
    the assistance state the opening ends in (``return_preparation`` /
    ``long_term``): the replay stopped between the last SOP 1 step and the
    alert, so the alert is sent now. Anything earlier is refused: the
    opening's steps are backdated and chained, and completing some of them a
    second time is not what happened to anyone.

    Raises:
        HalfOpened: stopped before its assistance state (``details``: the
            case's identification and assistance states).
    """
    from trm.cases import messages

    if not messages.alerted(case, peer_node):
        if case.assistance != _opened_state(record) or case.is_closed:
            raise HalfOpened(
                "An interrupted replay left this record's case half-opened "
                f"(identification {case.identification}, assistance "
                f"{case.assistance}): it is not completed again. Replay with "
                "another seed; the case may be closed as opened in error.",
                details={
                    "identification": case.identification,
                    "assistance": case.assistance,
                },
            )
        case = _alert(
            case.pk,
            record,
            peer_node=peer_node,
            ncp=user_with(Role.NATIONAL_CONTACT_POINT),
        )
    return {
        "case": str(case.pk),
        "ref": case.trm_case_ref,
        "transfer": _transfer_consent(case, record),
    }


def _transfer_consent(case: Any, record: Mapping[str, Any]) -> str:
    """The id of the person's newest consent to the transfer of the return's
    data to the citizenship country ("" for a record that stays)."""
    from trm.consent.models import Consent

    if not record["returns"]:
        return ""
    consent = (
        Consent.objects.filter(
            person_id=case.person_id,
            purpose="cross_border_transfer",
            recipient_country=record["citizenship"],
            withdrawn_at__isnull=True,
        )
        .order_by("-given_at")
        .first()
    )
    return str(consent.pk) if consent else ""


# --- waiting for the other node ------------------------------------------------


def when_ready(
    items: Mapping[str, Any],
    ready: Callable[[Any], bool],
    act: Callable[[Any], Any],
    *,
    timeout: float,
    already: Callable[[Any], Any] | None = None,
) -> dict[str, Any]:
    """Act on each item as soon as ``ready(item)``; give up after ``timeout``.

    ``already(item)``: what ``act`` would have returned when the case is past
    this step already (an earlier, interrupted replay did it), else None;
    such an item is done at once, without acting again.

    Returns:
        ``{"done": {key: act's result}, "waiting": [keys]}``.
    """
    waiting = dict(items)
    done: dict[str, Any] = {}
    if already is not None:
        for key, item in list(waiting.items()):
            found = already(item)
            if found is not None:
                done[key] = found
                del waiting[key]
    deadline = time.monotonic() + timeout
    while waiting:
        for key, item in list(waiting.items()):
            if ready(item):
                done[key] = act(item)
                del waiting[key]
        if not waiting or time.monotonic() > deadline:
            break
        time.sleep(POLL_SECONDS)
    return {"done": done, "waiting": sorted(waiting)}


def _linked_case(ref: str) -> Any:
    from trm.cases.models import Case

    return Case.objects.filter(trm_case_ref=ref).first()


def blockers(case_id: str) -> list[str]:
    """The codes of what still blocks the return of the case (sorted)."""
    from trm.cases.models import Case
    from trm.returns.guards import gather, return_blockers

    case = Case.objects.select_related("person").get(pk=case_id)
    today = timezone.localdate()
    return sorted(b.code for b in return_blockers(case, gather(case), today=today))


def _sent(case_id: Any, message_type: str) -> bool:
    """Whether a message of ``message_type`` about the case was queued here
    (waiting, delivered or given up; not refused nor cancelled): the step
    that sends it ran, in this replay or an earlier one."""
    from trm.exchange.models import OutboxMessage, OutboxStatus

    return (
        OutboxMessage.objects.filter(type=message_type, case_id=case_id)
        .exclude(status__in=[OutboxStatus.REJECTED, OutboxStatus.CANCELLED])
        .exists()
    )


def linked(refs: Mapping[str, str], timeout: float) -> dict[str, Any]:
    """Origin: wait until this node holds a linked case for each shared
    reference; the national contact point puts the case manager on its team
    (:func:`take_on`). Done already: linked, the case manager on the team."""
    cm = user_with(Role.CASE_MANAGER)

    def ready(ref: str) -> bool:
        case = _linked_case(ref)
        return case is not None and case.transnational == "linked"

    def already(ref: str) -> str | None:
        case = _linked_case(ref)
        on_team = (
            case is not None
            and ready(ref)
            and case.team.filter(user=cm, role=Role.CASE_MANAGER).exists()
        )
        return str(case.pk) if on_team else None

    def act(ref: str) -> str:
        case = _linked_case(ref)
        take_on(case)
        return str(case.pk)

    return when_ready(refs, ready, act, timeout=timeout, already=already)


def joint_share(cases: Mapping[str, str]) -> dict[str, Any]:
    """Destination: record the joint pre-return risk assessment; share it.

    Idempotent: a case holding an assessment already is not assessed again,
    one whose assessment went (``risk.assessment.joint`` queued) is not
    shared again; such a case is done as it is.
    """
    from trm.returns import wire
    from trm.returns.models import MATRIX_ITEMS, JointRiskAssessment
    from trm.returns.services import joint_risk_record
    from trm.returns.services.across import joint_risk_share

    cm = user_with(Role.CASE_MANAGER)
    today = timezone.localdate()
    for case_id in cases.values():
        if not JointRiskAssessment.objects.filter(case_id=case_id).exists():
            joint_risk_record(
                actor=cm,
                case_id=UUID(case_id),
                assessed_on=today,
                valid_until=today + timedelta(days=30),
                ratings=dict.fromkeys(MATRIX_ITEMS, "low"),
                overall_level="low",
                first_needs=["housing"],
                origin_organisation="Counterpart national contact point",
            )
        if not _sent(case_id, wire.RISK_JOINT):
            joint_risk_share(actor=cm, case_id=UUID(case_id))
    return {"done": dict(cases), "waiting": []}


def _origin_assessment(case: Any) -> Any:
    """The newest joint assessment that arrived on the origin's ``case``."""
    from trm.returns.models import JointRiskAssessment

    return JointRiskAssessment.objects.filter(
        case=case, remote_ref__isnull=False
    ).first()


def origin_rate(refs: Mapping[str, str], timeout: float) -> dict[str, Any]:
    """Origin: once the joint assessment arrived, rate the origin's side.
    Done already: the assessment that arrived is rated (``origin_rated_on``)."""
    from trm.returns.models import MATRIX_ITEMS
    from trm.returns.services.across import joint_risk_origin_rate

    ncp = user_with(Role.NATIONAL_CONTACT_POINT)

    def already(ref: str) -> str | None:
        case = _linked_case(ref)
        found = case and _origin_assessment(case)
        return str(case.pk) if found and found.origin_rated_on else None

    def ready(ref: str) -> bool:
        case = _linked_case(ref)
        return bool(case and _origin_assessment(case))

    def act(ref: str) -> str:
        case = _linked_case(ref)
        joint_risk_origin_rate(
            actor=ncp, case_id=case.pk, ratings=dict.fromkeys(MATRIX_ITEMS, "low")
        )
        return str(case.pk)

    return when_ready(refs, ready, act, timeout=timeout, already=already)


def plan_send(cases: Mapping[str, Any], timeout: float) -> dict[str, Any]:
    """Destination: once the origin rated, plan the journey (travel document
    issued; an escort for a child) and send the return plan. ``cases``: key →
    ``{"case", "transfer"}``. Done already: a ``return.plan`` about the case
    was queued."""
    from trm.returns import wire
    from trm.returns.services import return_plan_update
    from trm.returns.services.across import return_plan_send

    cm = user_with(Role.CASE_MANAGER)
    ncp = user_with(Role.NATIONAL_CONTACT_POINT)

    def already(item: Mapping[str, str]) -> str | None:
        return item["case"] if _sent(item["case"], wire.RETURN_PLAN) else None

    def ready(item: Mapping[str, str]) -> bool:
        return "joint_risk_origin_missing" not in blockers(item["case"])

    def act(item: Mapping[str, str]) -> str:
        from trm.cases.models import Case

        today = timezone.localdate()
        child = Case.objects.get(pk=item["case"]).person.presumed_child
        return_plan_update(
            actor=cm,
            case_id=UUID(item["case"]),
            # A child always travels with an escort (the journey's guard).
            escort_function="Social worker (escort)" if child else "",
            travel_document_requested_on=today - timedelta(days=5),
            travel_document_issued_on=today,
            travel_document_valid_until=today + timedelta(days=60),
            departure_on=today,
            itinerary="Demo replay: coach (fictional)",
            medical_fitness="fit",
            medical_fitness_on=today,
            meeting_person_function="Social worker",
            meeting_point="Bus station (fictional)",
        )
        return_plan_send(
            actor=ncp, case_id=UUID(item["case"]), consent_id=UUID(item["transfer"])
        )
        return item["case"]

    return when_ready(cases, ready, act, timeout=timeout, already=already)


def plan_accept(refs: Mapping[str, str], timeout: float) -> dict[str, Any]:
    """Origin: once the return plan arrived, the receiving organisation accepts
    (for a child, with the carer who confirmed). Done already: the newest plan
    that arrived is answered."""
    from trm.returns.models import IncomingReturn
    from trm.returns.services.across import return_plan_answer

    ncp = user_with(Role.NATIONAL_CONTACT_POINT)

    def incoming(ref: str) -> Any:
        case = _linked_case(ref)
        return case and IncomingReturn.objects.filter(case=case).first()

    def already(ref: str) -> str | None:
        found = incoming(ref)
        return str(found.case_id) if found and found.answered else None

    def act(ref: str) -> str:
        case = _linked_case(ref)
        child = IncomingReturn.objects.filter(case=case)[0].child
        return_plan_answer(
            actor=ncp,
            case_id=case.pk,
            decision="accepted",
            receiving_organisation="Reception centre (fictional)",
            case_manager_function="Social worker",
            services=["shelter"],
            # A child is received only with a carer who agreed (UNICEF ch. 10).
            carer_kind="parent" if child else "",
            carer_confirmed_on=timezone.localdate() if child else None,
        )
        return str(case.pk)

    return when_ready(
        refs, lambda ref: bool(incoming(ref)), act, timeout=timeout, already=already
    )


def depart(cases: Mapping[str, Any], timeout: float) -> dict[str, Any]:
    """Destination: once nothing blocks the journey, the person travels.
    Done already: the case's handover (destination side) exists."""
    from trm.handover.models import ReturnHandover
    from trm.returns.services import return_in_transit

    ncp = user_with(Role.NATIONAL_CONTACT_POINT)

    def already(item: Mapping[str, str]) -> str | None:
        gone = ReturnHandover.objects.filter(
            case_id=item["case"], side="destination"
        ).exists()
        return item["case"] if gone else None

    def act(item: Mapping[str, str]) -> str:
        return_in_transit(
            actor=ncp,
            case_id=UUID(item["case"]),
            expected_arrival_at=timezone.now() + timedelta(hours=20),
            legal_basis=f"consent:{item['transfer']}",
        )
        return item["case"]

    return when_ready(
        cases,
        lambda item: not blockers(item["case"]),
        act,
        timeout=timeout,
        already=already,
    )


#: What the origin's reintegration plan offers a returned adult / child.
REINTEGRATION_SERVICES = {
    False: ["psychological", "vocational_training", "employment"],
    True: ["psychological", "education"],
}
REINTEGRATION_GOALS = "Safe at home, back at school or work (fictional)."


def arrive(refs: Mapping[str, str], timeout: float) -> dict[str, Any]:
    """Origin: once the handover was announced, confirm the arrival; then the
    case manager (on the team: :func:`take_on`) records the reintegration
    plan, which schedules the follow-ups (:func:`reintegration_plan`).
    Done already: the handover's arrival was recorded (not ``announced``)
    and the case holds a reintegration plan."""
    from trm.handover.models import ReturnHandover
    from trm.handover.services import return_arrival_confirm
    from trm.reintegration.models import ReintegrationPlan

    ncp = user_with(Role.NATIONAL_CONTACT_POINT)

    def handover(ref: str) -> Any:
        case = _linked_case(ref)
        return case and ReturnHandover.objects.filter(case=case, side="origin").first()

    def already(ref: str) -> str | None:
        found = handover(ref)
        done = (
            found
            and found.status != "announced"
            and ReintegrationPlan.objects.filter(case_id=found.case_id).exists()
        )
        return str(found.case_id) if done else None

    def act(ref: str) -> str:
        found = handover(ref)
        if found.status == "announced":
            return_arrival_confirm(
                actor=ncp,
                case_id=found.case_id,
                handover_id=found.pk,
                arrived=True,
                at=timezone.now(),
            )
        case = found.case
        case.refresh_from_db()
        if case.assistance == "reintegration":
            take_on(case)
            reintegration_plan(
                case,
                REINTEGRATION_SERVICES[bool(case.person.presumed_child)],
                REINTEGRATION_GOALS,
            )
        return str(found.case_id)

    return when_ready(
        refs, lambda ref: bool(handover(ref)), act, timeout=timeout, already=already
    )


def followed_up(cases: Mapping[str, str], timeout: float) -> dict[str, Any]:
    """Destination: wait until the origin's arrival confirmation moved each
    case to follow-up (only reads: safe to repeat)."""
    from trm.cases.models import Case

    return when_ready(
        cases,
        lambda case_id: Case.objects.get(pk=case_id).assistance == "follow_up",
        lambda case_id: case_id,
        timeout=timeout,
    )


# --- the end state -------------------------------------------------------------


def outbox_settled(timeout: float) -> dict[str, Any]:
    """Wait until no message of this node waits for delivery (pending or
    retrying); return the outbox counts by status."""
    from trm.exchange.models import OutboxMessage

    deadline = time.monotonic() + timeout
    while True:
        open_ = OutboxMessage.objects.filter(status__in=["pending", "retrying"]).count()
        if not open_ or time.monotonic() > deadline:
            break
        time.sleep(POLL_SECONDS)
    return {"waiting": open_}


def summary() -> dict[str, Any]:
    """This node's part of the replay, as data.

    Returns:
        ``node``, ``country``; ``cases_opened`` (replayed cases opened here),
        ``cases_linked`` (cases opened here from a counterpart's alert),
        ``long_term`` / ``return_preparation`` / ``in_transit`` /
        ``follow_up`` / ``reintegration`` (replayed or linked cases by
        assistance state), ``returns_completed`` (arrivals confirmed here,
        the origin side), ``sent`` / ``received`` (messages delivered out /
        applied in), ``outbox`` (status → count), ``dead`` (messages given up).
    """
    from trm.cases.models import Case
    from trm.exchange.models import InboxMessage, OutboxMessage
    from trm.handover.models import ReturnHandover

    replayed = Case.objects.filter(number__startswith="RPL-")
    linked_here = Case.objects.filter(
        ~Q(number__startswith="RPL-"), transnational="linked", trm_case_ref__gt=""
    ).exclude(pk__in=replayed.values("pk"))
    states = dict(
        Case.objects.filter(Q(pk__in=replayed.values("pk")) | Q(pk__in=linked_here))
        .values_list("assistance")
        .annotate(n=Count("pk"))
    )
    outbox = dict(OutboxMessage.objects.values_list("status").annotate(n=Count("pk")))
    return {
        "node": settings.TRM_NODE_ID,
        "country": settings.TRM_COUNTRY,
        "cases_opened": replayed.count(),
        "cases_linked": linked_here.count(),
        **{
            state: states.get(state, 0)
            for state in (
                "long_term",
                "return_preparation",
                "in_transit",
                "follow_up",
                "reintegration",
            )
        },
        "returns_completed": ReturnHandover.objects.filter(
            side="origin", status="arrived"
        ).count(),
        "sent": outbox.get("sent", 0),
        "received": InboxMessage.objects.filter(status="applied").count(),
        "outbox": outbox,
        "dead": outbox.get("dead", 0),
    }
