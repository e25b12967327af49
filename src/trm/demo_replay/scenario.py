"""What one node does in the guided scenario (``trm demo scenario``): one
adult and one child case through the five TRM Standard Operating Procedures,
each step through the services the UI and the API call (one write path), as
the node's own people found by role (:func:`trm.demo_replay.steps.user_with`).

Run inside a node by ``trm replay scenario_*``
(:mod:`trm.demo_replay.management.commands.replay`); the orchestrator without
Django is :mod:`trm.demo.scenario`. The waiting steps of the return (link,
joint assessment, plan, journey, arrival) are those of the replay
(:mod:`trm.demo_replay.steps`).

Every step answers ``lines``: ``[sop, text]`` pairs the orchestrator prints,
one per step, naming the user and role who acted — never personal data
beyond the fictional names (every family name ends in "(fictional)").

Dates: the destination's SOP 1–3 steps are recorded as they would have
happened over the months before the return (``time_machine``, as the replay
does): day 0 the first contact, day 2 the identification, day 10 the rights
in proceedings, day 45 long-term assistance; the reflection and recovery
period (at most 90 days in every variant) has ended when the return is
decided. Everything that crosses a border happens now.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.utils import timezone

from trm.accounts.models import Role, User
from trm.demo_replay import steps
from trm.demo_replay.steps import LANGUAGES, user_with

#: The two cases: key → what the fictional person is like.
PEOPLE: dict[str, dict[str, Any]] = {
    "adult": {
        "suffix": "A",
        "gender": "Feminine",
        "age_band": "24--26",
        "exploitation": ["sexual"],
        "child": False,
    },
    "child": {
        "suffix": "C",
        "gender": "Masculine",
        "age_band": "14--17",
        "exploitation": ["labour"],
        "child": True,
    },
}
#: Days after the first contact at which the backdated steps happen.
DAY_IDENTIFIED, DAY_PROCEEDINGS, DAY_LONG_TERM = 2, 10, 45
LAWYER = "Demo Legal Aid Centre (fictional)"
COURT = "Demo Higher Court (fictional)"
RECEIVER = "Demo Reception Centre (fictional)"


def _who(user: User) -> str:
    return f"{Role(_role_of(user)).label.lower()} {user.username}"


def _role_of(user: User) -> str:
    from trm.demo.names import USERS

    for role, (suffix, _kind, _what) in USERS.items():
        if user.username.endswith(f"-{suffix}"):
            return role
    codes = sorted(user.role_codes())
    return codes[0] if codes else Role.CASE_MANAGER


def _case(case_id: str) -> Any:
    from trm.cases.models import Case

    return Case.objects.select_related("person").get(pk=case_id)


def _age(born: date | None, on: date) -> str:
    if born is None:
        return "age unknown"
    years = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    return str(years)


def _identity(key: str, seed: str, on: date, citizenship: str) -> Any:
    record = {
        "key": f"scenario-{key}",
        "citizenship": citizenship,
        "gender": PEOPLE[key]["gender"],
        "age_band": PEOPLE[key]["age_band"],
    }
    return steps.identity(record, on, int(seed) if seed.isdigit() else 0)


# --- destination: SOP 1, 2, 3 and 5 (backdated), then the alert ---------------------


def open_cases(
    *, tag: str, peer_node: str, citizenship: str, backdate_days: int
) -> dict[str, Any]:
    """Destination: open, identify, assist and start proceedings for the adult
    and the child, then alert ``peer_node`` (``case.alert``).

    Returns:
        ``{"cases": {key: {"case", "number", "ref", "name"}}, "lines": [[key,
        sop, text]]}``;
        a case of ``tag`` already open is returned as it is, without lines.
    """
    from trm.cases.models import Case

    result: dict[str, Any] = {"cases": {}, "lines": []}
    for key in PEOPLE:
        number = f"{settings.TRM_COUNTRY}-SCN-{tag}-{PEOPLE[key]['suffix']}"
        found = Case.objects.filter(number=number).first()
        if found is None:
            found, lines = _open_one(
                key,
                number=number,
                tag=tag,
                peer_node=peer_node,
                citizenship=citizenship,
                backdate_days=backdate_days,
            )
            result["lines"] += [[key, *line] for line in lines]
        # The same fictional name again: the identity is seeded by the tag.
        person = _identity(key, tag, timezone.localdate(), citizenship)
        result["cases"][key] = {
            "case": str(found.pk),
            "number": found.number,
            "ref": found.trm_case_ref,
            "name": _name(person),
        }
    return result


def _name(identity: Any) -> str:
    if identity is None:
        return ""
    return f"{identity.given_names} {identity.family_names}"


def _open_one(
    key: str,
    *,
    number: str,
    tag: str,
    peer_node: str,
    citizenship: str,
    backdate_days: int,
) -> tuple[Any, list[list[str]]]:
    import time_machine

    from trm.cases import services as cases
    from trm.consent.services import consent_record
    from trm.identification import reflection
    from trm.identification.services import presume
    from trm.proceedings import services as proceedings
    from trm.screening.services import screening_record

    who = PEOPLE[key]
    child = bool(who["child"])
    kinds = list(who["exploitation"])
    language = LANGUAGES.get(citizenship, "en")
    given_by = "both" if child else "person"
    fcp = user_with(Role.FIRST_CONTACT_POINT)
    cm = user_with(Role.CASE_MANAGER)
    ncp = user_with(Role.NATIONAL_CONTACT_POINT)
    ca = steps.deciding_authority()
    prosecutor = user_with(Role.PROSECUTOR)
    lines: list[list[str]] = []
    start = timezone.now() - timedelta(days=backdate_days)

    def on(day: int) -> Any:
        return time_machine.travel(start + timedelta(days=day), tick=False)

    with on(0):
        identity = _identity(key, tag, timezone.localdate(), citizenship)
        case = cases.case_open(
            actor=fcp,
            identity=identity,
            gender=who["gender"],
            citizenships=[citizenship],
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
            (prosecutor, Role.PROSECUTOR),
        ):
            cases.case_team_add(actor=cm, case_id=case.pk, user_id=user.pk, role=role)
        answers = steps._screening_answers(child, kinds)
        screening_record(
            actor=fcp,
            case_id=case.pk,
            exploitation=kinds,
            responses=answers,
            note="Guided demo scenario (fictional)",
        )
        age = _age(identity.birth_date, timezone.localdate())
        lines.append(
            [
                "1",
                f"{_who(fcp)} opened the case for {_name(identity)}, "
                f"{age}{', presumed a child' if child else ''} (screening: "
                f"{len(answers)} {'child ' if child else ''}indicators of "
                f"{' and '.join(kinds)} exploitation)",
            ]
        )
        lines.append(
            [
                "1",
                f"case team: {_who(cm)}, {_who(ncp)}, {_who(ca)}, {_who(prosecutor)}",
            ]
        )
        presume(
            actor=cm,
            case_id=case.pk,
            reason="Guided demo scenario: strong indicators of "
            + " and ".join(kinds)
            + " exploitation",
        )
        lines.append(
            ["1", f"{_who(cm)}: presumed trafficked person ({_reflection(case.pk)})"]
        )
        if child:
            guardian = steps.child_safeguards(case.pk, actor=cm)
            lines.append(
                [
                    "1",
                    f"{_who(cm)}: guardian {guardian.username} appointed, "
                    "child-protection authority notified",
                ]
            )
        steps.risk_review(case.pk, actor=cm, risk_type="initial")
        lines.append(["1", f"{_who(cm)}: first risk assessment (low, no threat found)"])
    with on(DAY_IDENTIFIED):
        steps.identify(
            case.pk,
            actor=ca,
            reasons="Guided demo scenario: identified on the indicators found",
            language=language,
        )
        lines.append(
            [
                "1",
                f"{_who(ca)}: formally identified as a trafficked person; told the "
                f"decision and their rights with an interpreter ({language}); "
                f"{_reflection(case.pk)}",
            ]
        )
        consent_record(
            actor=cm,
            case_id=case.pk,
            purpose="assistance",
            categories=["case_summary", "health"],
            given_by=given_by,
            language=language,
            recipient_organisation_id=case.lead_organisation_id,
            declaration="Guided demo scenario (fictional)",
        )
        given = steps.first_assistance(
            case.pk,
            actor=cm,
            language=language,
            person=_name(identity),
            child=child,
        )
        lines.append(
            [
                "2",
                f"{_who(cm)}: consent to assistance "
                f"({'child and guardian' if child else 'the person'}), immediate "
                f"needs assessed, first assistance started ({_services(given)}: "
                "in the services log); support and safety plan signed with the "
                f"{'child and the guardian' if child else 'person'}",
            ]
        )
    with on(DAY_PROCEEDINGS):
        proceedings.rights_inform(
            actor=prosecutor,
            case_id=case.pk,
            informed_on=timezone.localdate(),
            language=language,
            interpreter=True,
            has_lawyer=True,
            lawyer=LAWYER,
        )
        kind = "anonymous_testimony" if child else "no_contact"
        measure = proceedings.protection_assess(
            actor=prosecutor,
            case_id=case.pk,
            kind=kind,
            assessed_on=timezone.localdate(),
        )
        proceedings.protection_order(
            actor=prosecutor,
            case_id=case.pk,
            measure_id=measure.pk,
            ordering_authority=COURT,
            ordered_on=timezone.localdate(),
        )
        proceedings.hearing_record(
            actor=prosecutor,
            case_id=case.pk,
            at=timezone.now() + timedelta(days=5),
            court=COURT,
            kind="interview",
            interpreter_needed=True,
        )
        for target in ("deciding", "cooperating", "statement_given"):
            cases.case_move(
                actor=prosecutor, case_id=case.pk, track="legal", target=target
            )
        lines.append(
            [
                "5",
                f"{_who(prosecutor)}: informed of rights as a victim and witness "
                f"(lawyer: {LAWYER}); protection measure "
                f"'{kind.replace('_', ' ')}' ordered; decides to cooperate, "
                "statement given at the interview",
            ]
        )
        if not child:
            charge = proceedings.charge_flag(
                actor=cm,
                case_id=case.pk,
                offence="irregular_stay",
                flagged_on=timezone.localdate(),
            )
            proceedings.non_punishment_request(
                actor=cm,
                case_id=case.pk,
                record_id=charge.pk,
                requested_on=timezone.localdate(),
            )
            proceedings.non_punishment_decide(
                actor=prosecutor,
                case_id=case.pk,
                record_id=charge.pk,
                outcome="not_prosecuted",
                decided_on=timezone.localdate(),
                legal_reference="Demo Criminal Code art. 1 (fictional)",
            )
            proceedings.compensation_file(
                actor=cm,
                case_id=case.pk,
                route="criminal",
                filed_on=timezone.localdate(),
            )
            lines.append(
                [
                    "5",
                    f"non-punishment: irregular stay flagged by {_who(cm)}, "
                    f"not prosecuted ({_who(prosecutor)}); compensation claim "
                    "filed in the criminal case",
                ]
            )
    with on(DAY_LONG_TERM):
        planned = steps.long_term_assistance(
            case.pk, actor=cm, language=language, child=child
        )
        lines.append(
            [
                "3",
                f"{_who(cm)}: long-term needs assessed; long-term assistance "
                f"and social inclusion: individual care plan agreed "
                f"({_services(planned)})",
            ]
        )
    reflection.expire_reflection_periods()
    lines.append(["1", f"today: {_reflection(case.pk)}"])
    # Today, before the return is decided, the case manager reviews the risks
    # with the person (the first assessment is months old).
    steps.risk_review(case.pk, actor=cm, risk_type="ongoing")
    lines.append(["1", f"{_who(cm)}: risks reviewed with the person (low)"])
    cases.case_alert_send(
        actor=ncp,
        case_id=case.pk,
        peer_node=peer_node,
        urgency="normal",
        requests=["return_planning"],
    )
    case.refresh_from_db()
    return case, lines


def _services(codes: list[str]) -> str:
    """Service codes as words: ``vocational training, psychological``."""
    return ", ".join(code.replace("_", " ") for code in codes)


def _reflection(case_id: UUID | str) -> str:
    from trm.cases.tracks import Reflection

    case = _case(str(case_id))
    if case.reflection == Reflection.REFLECTION_PERIOD:
        return "reflection and recovery period running"
    if case.reflection == Reflection.NOT_APPLICABLE:
        return "no reflection and recovery period yet"
    return str(case.get_reflection_display()).lower()


# --- origin: the linked case ---------------------------------------------------------


def link(refs: Mapping[str, str], timeout: float) -> dict[str, Any]:
    """Origin: wait for each alert's linked case; the national contact point
    puts the case manager (and for a child, the guardian, appointed here too)
    on its team.

    Returns:
        ``{"done": {key: {"case", "number"}}, "waiting": [...], "lines": [...]}``.
    """
    from trm.identification import children

    found = steps.linked(refs, timeout)
    ncp = user_with(Role.NATIONAL_CONTACT_POINT)
    cm = user_with(Role.CASE_MANAGER)
    done: dict[str, Any] = {}
    lines: list[list[str]] = []
    for key, case_id in found["done"].items():
        case = _case(case_id)
        steps.take_on(case)
        text = f"{_who(ncp)}: {_who(cm)} takes the case on"
        if case.person.presumed_child and case.child_protection == "guardian_requested":
            guardian = user_with(Role.GUARDIAN)
            children.guardian_appoint(
                actor=cm, case_id=case.pk, guardian_user_id=guardian.pk
            )
            text += f"; guardian {guardian.username} appointed for the child"
        done[key] = {"case": str(case.pk), "number": case.number}
        lines.append([key, "1", text])
    return {"done": done, "waiting": found["waiting"], "lines": lines}


def acked(cases_: Mapping[str, str], timeout: float) -> dict[str, Any]:
    """Destination: wait until the origin's ``case.alert.ack`` linked each
    case here (``transnational`` ``linked``; only reads: safe to repeat).

    Returns:
        ``{"done": {key: case id}, "waiting": [keys]}``.
    """
    return steps.when_ready(
        cases_,
        lambda case_id: _case(case_id).transnational == "linked",
        lambda case_id: case_id,
        timeout=timeout,
    )


def ratings_back(cases_: Mapping[str, str], timeout: float) -> dict[str, Any]:
    """Destination: wait until the origin's ratings of the joint risk
    assessment are on this node's assessment (the return guard
    ``joint_risk_origin_missing`` no longer applies; only reads).

    Returns:
        ``{"done": {key: case id}, "waiting": [keys]}``.
    """
    return steps.when_ready(
        cases_,
        lambda case_id: "joint_risk_origin_missing" not in steps.blockers(case_id),
        lambda case_id: case_id,
        timeout=timeout,
    )


# --- destination: the return decision ------------------------------------------------


def decide_return(cases_: Mapping[str, str], citizenship: str) -> dict[str, Any]:
    """Destination: for the child, the best-interests determination comes
    first (guardian on the panel), then the guardian's and child's consents,
    the family assessment asked of the origin (``family.assessment.request``)
    and the child-and-family risk assessment; for the adult, the consents.
    Both then consent to the transfer of what the return needs and return
    preparation starts (SOP 4 steps 1–2).

    Returns:
        ``{"done": {key: {"case", "transfer"}}, "lines": [[key, sop, text]]}``.
    """
    from trm.assessments.services import risk_assessment_record
    from trm.assistance.services import return_preparation_start
    from trm.returns.services import bid_record
    from trm.returns.services.across.family import family_request_send

    cm = user_with(Role.CASE_MANAGER)
    language = LANGUAGES.get(citizenship, "en")
    done: dict[str, Any] = {}
    lines: list[list[str]] = []
    for key, case_id in cases_.items():
        case = _case(case_id)
        child = case.person.presumed_child
        given_by = "both" if child else "person"
        if child:
            guardian = user_with(Role.GUARDIAN)
            bid_record(
                actor=guardian,
                case_id=case.pk,
                determined_on=timezone.localdate(),
                panel=["guardian", "child_protection_authority", "psychologist"],
                outcome="return_to_family",
                guardian_opinion="agrees",
                child_views="Wants to go back to his mother and school (fictional).",
            )
            lines.append(
                [
                    key,
                    "4",
                    f"guardian {guardian.username}: best-interests determination "
                    "(panel: guardian, child-protection authority, psychologist) "
                    "decides a return to the family, the child heard — before any "
                    "return decision",
                ]
            )
        transfer = steps.return_consents(
            case,
            actor=cm,
            given_by=given_by,
            language=language,
            country=citizenship,
            declaration="Guided demo scenario (fictional)",
        )
        lines.append(
            [
                key,
                "4",
                f"{_who(cm)}: consent to return and to the transfer of case "
                f"summary, health, legal and family data to {citizenship} "
                f"({'guardian and child' if child else 'the person'})",
            ]
        )
        if child:
            family_request_send(
                actor=cm,
                case_id=case.pk,
                kind="assessment",
                questions="Can the mother care for the child safely? (fictional)",
                consent_id=transfer.pk,
            )
            risk_assessment_record(
                actor=cm,
                case_id=case.pk,
                risk_type="child_family",
                level="low",
                factors=[],
                no_risk_factor=True,
                involvement="involved",
                judgement="No risk factor found in the family (fictional).",
            )
            lines.append(
                [
                    key,
                    "4",
                    f"{_who(cm)}: child-and-family risk assessment: low; "
                    "family assessment asked of the country of origin",
                ]
            )
        return_preparation_start(actor=cm, case_id=case.pk)
        lines.append([key, "4", f"{_who(cm)}: return preparation started"])
        done[key] = {"case": str(case.pk), "transfer": str(transfer.pk)}
    return {"done": done, "lines": lines}


# --- origin: the family assessment ---------------------------------------------------


def family_report(refs: Mapping[str, str], timeout: float) -> dict[str, Any]:
    """Origin: once a family assessment request arrived, the case manager
    sends the report (``family.assessment.report``) under the
    child-protection authority's legal obligation."""
    from trm.returns.models import FamilyExchange
    from trm.returns.services.across.family import family_report_send

    cm = user_with(Role.CASE_MANAGER)

    def ready(ref: str) -> bool:
        case = steps._linked_case(ref)
        return bool(
            case and FamilyExchange.objects.filter(case=case, direction="in").exists()
        )

    def act(ref: str) -> str:
        case = steps._linked_case(ref)
        family_report_send(
            actor=cm,
            case_id=case.pk,
            legal_basis="legal_obligation:Demo Child Protection Act art. 1 (fictional)",
            reported_on=timezone.localdate(),
            assessor_function="Social worker",
            recommendation="return_with_support",
            findings="The mother is able and willing to care (fictional).",
        )
        return str(case.pk)

    found = steps.when_ready(refs, ready, act, timeout=timeout)
    found["lines"] = [
        [
            key,
            "4",
            f"{_who(cm)}: family assessed at home (return with support); report sent "
            "(the child-protection authority's legal obligation)",
        ]
        for key in found["done"]
    ]
    return found


# --- SOP 5 across the border ---------------------------------------------------------


def remote_testimony(cases_: Mapping[str, Any], origin_country: str) -> dict[str, Any]:
    """Destination, after the return: the person becomes a witness (legal
    track); the prosecutor records the trial hearing, the person testifying
    remotely from the country of origin, and sends the notice
    (``proceedings.notice``) under the transfer consent.
    ``cases_``: key → ``{"case", "transfer"}``."""
    from trm.cases import services as cases
    from trm.proceedings.notices import notice_peers, proceedings_notice_send
    from trm.proceedings.services import hearing_record

    prosecutor = user_with(Role.PROSECUTOR)
    lines = []
    for key, item in cases_.items():
        case = _case(item["case"])
        at = (timezone.now() + timedelta(days=30)).replace(
            hour=10, minute=0, second=0, microsecond=0
        )
        hearing_record(
            actor=prosecutor,
            case_id=case.pk,
            at=at,
            court=COURT,
            kind="trial",
            remote_country=origin_country,
            interpreter_needed=True,
        )
        cases.case_move(
            actor=prosecutor, case_id=case.pk, track="legal", target="witness"
        )
        peer = notice_peers(case)[0]
        proceedings_notice_send(
            actor=prosecutor,
            case_id=case.pk,
            peer_node=peer,
            kind="remote_testimony",
            legal_basis=f"consent:{item['transfer']}",
            hearing_at=at,
            support_needed=["interpretation", "accompaniment"],
        )
        lines.append(
            [
                key,
                "5",
                f"{_who(prosecutor)}: witness at the trial on {at:%Y-%m-%d}, "
                f"testifying remotely from {origin_country} with an interpreter",
            ]
        )
    return {"done": dict(cases_), "lines": lines}


def notice_received(refs: Mapping[str, str], timeout: float) -> dict[str, Any]:
    """Origin: wait until the proceedings notice arrived on each linked case."""
    from trm.proceedings.models import ProceedingsNotice

    def ready(ref: str) -> bool:
        case = steps._linked_case(ref)
        return bool(
            case
            and ProceedingsNotice.objects.filter(case=case, direction="in").exists()
        )

    return steps.when_ready(
        refs,
        ready,
        lambda ref: str(steps._linked_case(ref).pk),
        timeout=timeout,
    )


# --- origin: reintegration and follow-up ---------------------------------------------


def reintegrate(cases_: Mapping[str, str], destination_country: str) -> dict[str, Any]:
    """Origin, after the arrival: the case manager records the reintegration
    plan (SOP 4 steps 9–10, social inclusion at home), the person's consent
    to report back, and the first follow-up, sent to the destination
    (``followup.report``)."""
    from trm.consent.services import consent_record
    from trm.reintegration.models import FollowUp
    from trm.reintegration.services import followup_report_record

    cm = user_with(Role.CASE_MANAGER)
    language = LANGUAGES.get(str(settings.TRM_COUNTRY), "en")
    lines = []
    for key, case_id in cases_.items():
        case = _case(case_id)
        child = case.person.presumed_child
        services = steps.REINTEGRATION_SERVICES[bool(child)]
        steps.reintegration_plan(case, services, steps.REINTEGRATION_GOALS)
        consent = consent_record(
            actor=cm,
            case_id=case.pk,
            purpose="cross_border_transfer",
            categories=["case_summary"],
            given_by="both" if child else "person",
            language=language,
            recipient_country=destination_country,
            declaration="Guided demo scenario (fictional): report back",
        )
        first = FollowUp.objects.filter(case=case).order_by("sequence")[0]
        followup_report_record(
            actor=cm,
            case_id=case.pk,
            follow_up_id=first.pk,
            reported_on=timezone.localdate(),
            services_given=services[:1],
            status={"housing": "stable", "education": "stable"}
            if child
            else {"housing": "stable", "income": "at_risk"},
            risk_level="low",
            consent_id=consent.pk,
        )
        offered = ", ".join(services).replace("_", " ")
        lines.append(
            [
                key,
                "4",
                f"{_who(cm)}: reintegration plan ({offered}), "
                f"{FollowUp.objects.filter(case=case).count()} follow-ups "
                "scheduled; first follow-up reported back",
            ]
        )
    return {"done": dict(cases_), "lines": lines}


def followup_received(cases_: Mapping[str, str], timeout: float) -> dict[str, Any]:
    """Destination: wait until the origin's follow-up report arrived."""
    from trm.reintegration.models import FollowUpReport

    return steps.when_ready(
        cases_,
        lambda case_id: FollowUpReport.objects.filter(case_id=case_id).exists(),
        lambda case_id: case_id,
        timeout=timeout,
    )


# --- what the visitor sees -----------------------------------------------------------


def describe(cases_: Mapping[str, str]) -> dict[str, Any]:
    """The end state of each case on this node, as the case page shows it.

    Returns:
        key → ``{"number", "identification", "assistance", "legal",
        "child_protection", "transnational", "reflection", "proceedings"
        (records: rights, protection, hearings, notices), "returned"
        (an arrival confirmed here), "follow_ups_received",
        "reintegration_plan", "risk_assessments" (risk types, sorted),
        "support_plan_signed", "services_given" (service codes logged,
        sorted), "care_plan_agreed"}``.
    """
    from trm.assessments.models import RiskAssessment, SupportPlanVersion
    from trm.care.models import CarePlan, ServiceEpisode
    from trm.handover.models import ReturnHandover
    from trm.proceedings.models import Hearing, ProceedingsNotice, RightsInformation
    from trm.reintegration.models import FollowUpReport, ReintegrationPlan
    from trm.returns.models import BestInterestsDetermination

    out: dict[str, Any] = {}
    for key, case_id in cases_.items():
        case = _case(case_id)
        out[key] = {
            "number": case.number,
            "identification": case.identification,
            "assistance": case.assistance,
            "legal": case.legal,
            "child_protection": case.child_protection,
            "transnational": case.transnational,
            "reflection": case.reflection,
            "rights_informed": RightsInformation.objects.filter(case=case).exists(),
            "hearings": Hearing.objects.filter(case=case).count(),
            "notices_in": ProceedingsNotice.objects.filter(
                case=case, direction="in"
            ).count(),
            "bid": BestInterestsDetermination.objects.filter(case=case).exists(),
            "returned": ReturnHandover.objects.filter(
                case=case, side="origin", status="arrived"
            ).exists(),
            "follow_ups_received": FollowUpReport.objects.filter(case=case).count(),
            "reintegration_plan": ReintegrationPlan.objects.filter(case=case).exists(),
            "risk_assessments": sorted(
                RiskAssessment.objects.filter(case=case).values_list("type", flat=True)
            ),
            "support_plan_signed": SupportPlanVersion.objects.filter(
                case=case, status="signed"
            ).exists(),
            "services_given": sorted(
                ServiceEpisode.objects.filter(case=case).values_list(
                    "service_type", flat=True
                )
            ),
            "care_plan_agreed": CarePlan.objects.filter(
                case=case, status="agreed"
            ).exists(),
        }
    return out
