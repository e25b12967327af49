"""Issue 7's "done when": a return across two real nodes, adult and child.

Serbia (node "node-rs") is the country of destination: a person is identified
there, assisted, and decides to return to Moldova (node "node-md"), the country
of origin. Each node runs its own server, worker, database and keys
(:mod:`tests.federation`); they become peers through ``trm peers add``. Set-up
(organisations, users, team membership) uses the test factories inside each
node; every step under test calls the services a person would use, and every
message crosses over real HTTP.

Every guard is tried too early first: the journey ("in transit") is refused
at each stage with the blockers still open, an arrival cannot be confirmed
before a handover was announced, a follow-up report cannot be sent before (or
after withdrawing) the person's consent. The adult and the child walk the same
road; the child's adds the guardian, the best-interests determination, the
family assessment from the country of origin, the carer and the escort.

The messages the test exchanges, with their direction, are listed by
:func:`exchanged` and asserted at the end.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.federation import Node, peer, sqlite_pass_only, wait_for

pytestmark = [pytest.mark.slow, sqlite_pass_only]


def run(node: Node, code: str, **values: Any) -> Any:
    """Run ``code`` in ``node`` with ``values`` bound to upper-case names."""
    head = "".join(f"{name} = {value!r}\n" for name, value in values.items())
    return node.python(head + textwrap.dedent(code))


SETUP = """
from trm.accounts.models import Role
from trm.accounts.tests.factories import OrganisationFactory, UserFactory
lead = OrganisationFactory(name=f"Fictional NCP {COUNTRY}", country=COUNTRY,
                           functions=["NCP", "SP"])
authority = OrganisationFactory(name=f"Fictional social work centre {COUNTRY}",
                                country=COUNTRY, functions=["SS", "CA"])
for username, org, role in [
    ("fcp", lead, Role.FIRST_CONTACT_POINT),
    ("cm", lead, Role.CASE_MANAGER),
    ("sp", lead, Role.SERVICE_PROVIDER),
    ("ncp", lead, Role.NATIONAL_CONTACT_POINT),
    ("ca", authority, Role.COMPETENT_AUTHORITY),
    ("guardian", authority, Role.GUARDIAN),
]:
    UserFactory(username=username, organisation=org, roles=[role])
result = str(lead.pk)
"""

# Destination: a first contact point meets the person 100 days ago; she is
# presumed and then identified; her reflection period (90 days in
# the Serbian variant) ran out; she gets first
# assistance under her consent. A child gets a guardian.
IDENTIFY = """
from datetime import timedelta
import time_machine
from django.utils import timezone
from trm.accounts.models import Role, User
from trm.assistance.services import assistance_start
from trm.cases import services as cases
from trm.cases.tests.factories import adult_birth_date, open_case
from trm.consent.services import consent_record
from trm.identification import children, reflection
from trm.identification.services import decide, presume

u = {n: User.objects.get(username=n)
     for n in ("fcp", "cm", "sp", "ncp", "ca", "guardian")}
start = timezone.now() - timedelta(days=100)
given_by = "both" if CHILD else "person"
with time_machine.travel(start, tick=False):
    if CHILD:
        case = open_case(u["fcp"], may_be_child=True, citizenships=["MD"],
                         given_names="Fictiona Junior",
                         family_names="Testova (fictional)")
    else:
        case = open_case(u["fcp"], birth_date=adult_birth_date(), citizenships=["MD"],
                         given_names="Fictiona", family_names="Testova (fictional)")
    for name, role in [("cm", Role.CASE_MANAGER), ("sp", Role.SERVICE_PROVIDER),
                       ("ncp", Role.NATIONAL_CONTACT_POINT),
                       ("ca", Role.COMPETENT_AUTHORITY)]:
        cases.case_team_add(actor=u["fcp"] if name == "cm" else u["cm"],
                            case_id=case.pk, user_id=u[name].pk, role=role)
    presume(actor=u["cm"], case_id=case.pk,
            reason="Fictional: indicators of labour exploitation")
    if CHILD:
        children.guardian_appoint(actor=u["cm"], case_id=case.pk,
                                  guardian_user_id=u["guardian"].pk)
with time_machine.travel(start + timedelta(days=2), tick=False):
    decide(actor=u["ca"], case_id=case.pk, outcome="identified",
           reasons="Fictional reasons", language="ro", interpreter=True,
           informed=["decision_and_reasons", "reflection_period",
                     "assistance_unconditional", "legal_counselling"])
    consent_record(actor=u["cm"], case_id=case.pk, purpose="assistance",
                   categories=["case_summary"], given_by=given_by, language="ro",
                   recipient_organisation_id=case.lead_organisation_id,
                   declaration="Fictional declaration")
    assistance_start(actor=u["cm"], case_id=case.pk, basis="consent")
reflection.expire_reflection_periods()
case.refresh_from_db()
result = {"case": str(case.pk), "identification": case.identification,
          "reflection": case.reflection, "assistance": case.assistance,
          "child_protection": case.child_protection}
"""

# The national contact point tries the journey: the blockers still open (the
# refusal lists every one).
TRY_TRANSIT = """
from datetime import timedelta
from django.utils import timezone
from trm.accounts.models import User
from trm.common.errors import DomainError
from trm.returns.services import return_in_transit
try:
    return_in_transit(actor=User.objects.get(username="ncp"), case_id=CASE,
                      expected_arrival_at=timezone.now() + timedelta(hours=20),
                      legal_basis=LEGAL_BASIS)
    result = {"moved": True}
except DomainError as refused:
    result = {"code": refused.code,
              "blockers": sorted(b["code"]
                                 for b in refused.details.get("blockers", []))}
"""

DECIDE_RETURN = """
from trm.accounts.models import User
from trm.assistance.services import return_preparation_start
from trm.cases.models import Case
from trm.consent.services import consent_record
cm = User.objects.get(username="cm")
case = Case.objects.get(pk=CASE)
given_by = "both" if CHILD else "person"
consent_record(actor=cm, case_id=case.pk, purpose="return", categories=["case_summary"],
               given_by=given_by, language="ro",
               recipient_organisation_id=case.lead_organisation_id,
               declaration="Fictional: wants to go home after counselling")
# The transfer to the country of origin of what the return needs.
transfer = consent_record(
    actor=cm, case_id=case.pk, purpose="cross_border_transfer",
    categories=["case_summary", "health", "legal", "family"], given_by=given_by,
    language="ro", recipient_country="MD", declaration="Fictional declaration")
return_preparation_start(actor=cm, case_id=case.pk)
case.refresh_from_db()
result = {"assistance": case.assistance, "transfer": str(transfer.pk)}
"""

ALERT = """
from trm.accounts.models import User
from trm.cases.services import case_alert_send
case = case_alert_send(actor=User.objects.get(username="ncp"), case_id=CASE,
                       peer_node=PEER, urgency="normal", requests=["return_planning"])
result = case.trm_case_ref
"""

LINKED = """
from trm.cases.models import Case
case = Case.objects.filter(trm_case_ref=REF).first()
result = case and {"case": str(case.pk), "transnational": case.transnational,
                   "assistance": case.assistance}
"""

# Destination: the joint pre-return risk assessment, shared with the origin.
JOINT = """
from datetime import timedelta
from django.utils import timezone
from trm.accounts.models import User
from trm.returns.models import MATRIX_ITEMS
from trm.returns.services import joint_risk_record
from trm.returns.services.across import joint_risk_share
cm = User.objects.get(username="cm")
today = timezone.localdate()
joint_risk_record(actor=cm, case_id=CASE, assessed_on=today,
                  valid_until=today + timedelta(days=30),
                  ratings=dict.fromkeys(MATRIX_ITEMS, "low"), overall_level="low",
                  first_needs=["housing"], origin_organisation="Fictional NCP MD")
joint_risk_share(actor=cm, case_id=CASE)
result = True
"""

ORIGIN_JOINT = """
from trm.returns.models import JointRiskAssessment
j = JointRiskAssessment.objects.filter(case_id=CASE).first()
result = j and {"missing": j.origin_missing()}
"""

ORIGIN_RATE = """
from trm.accounts.models import User
from trm.returns.models import MATRIX_ITEMS
from trm.returns.services.across import joint_risk_origin_rate
joint_risk_origin_rate(actor=User.objects.get(username="ncp"), case_id=CASE,
                       ratings=dict.fromkeys(MATRIX_ITEMS, "low"))
result = True
"""

BLOCKERS = """
from django.utils import timezone
from trm.cases.models import Case
from trm.returns.guards import gather, return_blockers
case = Case.objects.get(pk=CASE)
today = timezone.localdate()
result = sorted(b.code for b in return_blockers(case, gather(case), today=today))
"""

# Destination, a child: ask the origin's social services for a family
# assessment (under the guardian's consent to the transfer).
FAMILY_REQUEST = """
from trm.accounts.models import User
from trm.returns.services.across import family_request_send
family_request_send(actor=User.objects.get(username="cm"), case_id=CASE,
                    kind="assessment", consent_id=CONSENT,
                    questions="Fictional: can the grandmother care for her?")
result = True
"""

ORIGIN_FAMILY = """
from trm.returns.models import FamilyExchange
result = FamilyExchange.objects.filter(case_id=CASE).count()
"""

FAMILY_REPORT = """
from django.utils import timezone
from trm.accounts.models import User
from trm.returns.services.across import family_report_send
family_report_send(actor=User.objects.get(username="ncp"), case_id=CASE,
                   legal_basis="legal_obligation:Fictional Child Protection Act art. 5",
                   reported_on=timezone.localdate(), assessor_function="Social worker",
                   recommendation="return_with_support",
                   findings="Fictional: the grandmother is able and willing")
result = True
"""

# Destination, a child: the best-interests determination and the child's risk
# and security assessment.
CHILD_RECORDS = """
from django.utils import timezone
from trm.accounts.models import User
from trm.assessments.services import risk_assessment_record
from trm.returns.services import bid_record
bid_record(actor=User.objects.get(username="guardian"), case_id=CASE,
           determined_on=timezone.localdate(),
           panel=["guardian", "child_protection_authority", "social_services"],
           outcome="return_to_family", guardian_opinion="agrees",
           child_views="Fictional: wants to live with her grandmother")
risk_assessment_record(actor=User.objects.get(username="cm"), case_id=CASE,
                       risk_type="child_family", level="low",
                       factors=["family_involved"], involvement="involved",
                       judgement="Fictional judgement: the family is safe",
                       safety_measures="")
result = True
"""

PLAN_SEND = """
from trm.accounts.models import User
from trm.returns.services.across import return_plan_send
return_plan_send(actor=User.objects.get(username="ncp"), case_id=CASE,
                 consent_id=CONSENT, medical_needs="Fictional: asthma inhaler")
result = True
"""

ORIGIN_PLAN = """
from trm.returns.models import IncomingReturn
result = IncomingReturn.objects.filter(case_id=CASE).count()
"""

# Origin: confirming an arrival before any handover was announced is refused.
TRY_ARRIVAL = """
import uuid
from django.utils import timezone
from trm.accounts.models import User
from trm.common.errors import DomainError
from trm.handover.services import return_arrival_confirm
try:
    return_arrival_confirm(actor=User.objects.get(username="ncp"), case_id=CASE,
                           handover_id=uuid.uuid4(), arrived=True, at=timezone.now())
    result = {"confirmed": True}
except DomainError as refused:
    result = {"code": refused.code}
"""

PLAN_ANSWER = """
from django.utils import timezone
from trm.accounts.models import User
from trm.returns.services.across import return_plan_answer
extra = {}
if CHILD:
    extra = {"carer_kind": "relative", "carer_confirmed_on": timezone.localdate()}
return_plan_answer(actor=User.objects.get(username="ncp"), case_id=CASE,
                   decision="accepted",
                   receiving_organisation="Fictional Reception Centre Chisinau",
                   case_manager_function="Social worker", services=["shelter"], **extra)
result = True
"""

DOCUMENTS = """
from datetime import timedelta
from django.utils import timezone
from trm.accounts.models import User
from trm.returns.services import return_plan_update
today = timezone.localdate()
return_plan_update(
    actor=User.objects.get(username="cm"), case_id=CASE,
    travel_document_requested_on=today - timedelta(days=5),
    travel_document_issued_on=today if ISSUED else None,
    travel_document_valid_until=today + timedelta(days=60) if ISSUED else None,
    departure_on=today, itinerary="Fictional coach Belgrade - Chisinau",
    escort_function="Social worker of the guardianship" if CHILD else "",
    medical_fitness="fit", medical_fitness_on=today,
    meeting_person_function="Social worker", meeting_point="Fictional bus station",
    legal_contact_needs="Fictional: remote hearing by video")
result = True
"""

ORIGIN_HANDOVER = """
from trm.handover.models import ReturnHandover
h = ReturnHandover.objects.filter(case_id=CASE, side="origin").first()
result = h and {"id": str(h.pk), "status": h.status}
"""

ARRIVAL = """
from django.utils import timezone
from trm.accounts.models import User
from trm.cases.models import Case
from trm.handover.services import return_arrival_confirm
return_arrival_confirm(actor=User.objects.get(username="ncp"), case_id=CASE,
                       handover_id=HANDOVER, arrived=True, at=timezone.now())
result = Case.objects.get(pk=CASE).assistance
"""

STATE = """
from trm.cases.models import Case
case = Case.objects.get(pk=CASE)
result = {"assistance": case.assistance, "closed": case.is_closed,
          "events": sorted(set(case.events.values_list("kind", flat=True)))}
"""

# Origin: the reintegration plan (its case manager joins the team), which
# schedules the follow-ups of the variant.
REINTEGRATION = """
from django.utils import timezone
from trm.accounts.models import Role, User
from trm.cases.services import case_team_add
from trm.reintegration.models import FollowUp
from trm.reintegration.services import reintegration_plan_record
cm = User.objects.get(username="cm")
case_team_add(actor=User.objects.get(username="ncp"), case_id=CASE, user_id=cm.pk,
              role=Role.CASE_MANAGER)
reintegration_plan_record(actor=cm, case_id=CASE, starts_on=timezone.localdate(),
                          services=["shelter", "psychological"],
                          goals="Fictional goals: housing, work, school",
                          case_manager_function="Social worker")
result = [str(f) for f in FollowUp.objects.filter(case_id=CASE)
          .order_by("sequence").values_list("pk", flat=True)]
"""

REPORT = """
from django.utils import timezone
from trm.accounts.models import User
from trm.common.errors import DomainError
from trm.reintegration.services import followup_report_record
try:
    followup_report_record(
        actor=User.objects.get(username="cm"), case_id=CASE, follow_up_id=FOLLOW_UP,
        reported_on=timezone.localdate(), services_given=["shelter"],
        status={"housing": "stable", "health": "stable", "income": "at_risk",
                "education": "not_applicable"},
        risk_level="low", risk_note="Fictional: no contact from the traffickers",
        consent_id=CONSENT)
    result = {"sent": True}
except DomainError as refused:
    result = {"code": refused.code, "state": refused.details.get("state")}
"""

ORIGIN_CONSENT = """
from trm.accounts.models import User
from trm.consent.services import consent_record
from trm.identification.children import guardian_appoint
if CHILD:  # Moldova's guardian for the child, before her consent is asked.
    guardian_appoint(actor=User.objects.get(username="cm"), case_id=CASE,
                     guardian_user_id=User.objects.get(username="guardian").pk)
consent = consent_record(
    actor=User.objects.get(username="cm"), case_id=CASE,
    purpose="cross_border_transfer", categories=["case_summary", "health"],
    given_by="both" if CHILD else "person", language="ro", recipient_country="RS",
    declaration="Fictional: may tell Serbia how I am doing")
result = str(consent.pk)
"""

WITHDRAW = """
from trm.accounts.models import User
from trm.consent.services import consent_withdraw
consent_withdraw(actor=User.objects.get(username="cm"), consent_id=CONSENT)
result = True
"""

RECEIVED_REPORTS = """
from trm.reintegration.models import FollowUpReport
result = FollowUpReport.objects.filter(case_id=CASE).count()
"""

CLOSE = """
from trm.accounts.models import User
from trm.cases.services import case_close
case_close(actor=User.objects.get(username="ncp"), case_id=CASE, reason=REASON)
result = True
"""

EXCHANGED = """
from trm.exchange.models import InboxMessage, OutboxMessage
from django.conf import settings
me = settings.TRM_NODE_ID
result = {
    "out": [(m.type, me, m.peer.node_id, m.status, m.created_at.isoformat())
            for m in OutboxMessage.objects.filter(conversation=REF)
            .select_related("peer").order_by("created_at")],
    "in": [(m.type, m.status) for m in InboxMessage.objects.filter(conversation=REF)],
}
"""


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    rs = Node("node-rs", "RS", tmp_path, sop_variant="rs")
    md = Node("node-md", "MD", tmp_path, sop_variant="md")
    try:
        for node, country in ((rs, "RS"), (md, "MD")):
            node.setup()
            run(node, SETUP, COUNTRY=country)
        rs.start()
        md.start()
        peer(rs, md)
        yield rs, md
    finally:
        rs.destroy()
        md.destroy()


def linked(node: Node, reference: str) -> dict[str, str]:
    """Wait until ``node`` holds the case linked under ``reference``."""
    return wait_for(
        lambda: (
            (c := run(node, LINKED, REF=reference))
            and c["transnational"] == "linked"
            and c
        ),
        timeout=60,
    )


def transit(rs: Node, case: str, legal_basis: str = "") -> dict[str, Any]:
    return run(rs, TRY_TRANSIT, CASE=case, LEGAL_BASIS=legal_basis)


def blockers(rs: Node, case: str) -> list[str]:
    return run(rs, BLOCKERS, CASE=case)


def walk(rs: Node, md: Node, *, child: bool) -> dict[str, Any]:
    """Take one case from identification in Serbia to follow-up in Moldova,
    trying each guarded move too early first. Returns the references."""
    dest = run(rs, IDENTIFY, CHILD=child)
    assert dest["identification"] == "identified"
    assert dest["reflection"] == "reflection_ended"
    assert dest["assistance"] == "first_assistance"
    case = dest["case"]
    child_codes = {
        "bid_missing",
        "family_assessment_missing",
        "carer_not_confirmed",
        "escort_not_assigned",
        "child_security_missing",
    }

    # Too early: no return decided yet.
    early = transit(rs, case)
    assert early["code"] == "returns.blocked"
    assert {"not_in_return_preparation", "return_consent", "joint_risk_missing"} <= set(
        early["blockers"]
    )
    if child:
        assert child_codes <= set(early["blockers"])

    decided = run(rs, DECIDE_RETURN, CASE=case, CHILD=child)
    assert decided["assistance"] == "return_preparation"
    transfer = decided["transfer"]
    # Decided, but not linked with the country of origin: the blockers left
    # are the records, and the journey still cannot start.
    still = transit(rs, case)
    assert "not_in_return_preparation" not in still["blockers"]
    assert "return_consent" not in still["blockers"]
    assert {"joint_risk_missing", "receiver_not_accepted"} <= set(still["blockers"])

    reference = run(rs, ALERT, CASE=case, PEER="node-md")
    origin = linked(md, reference)["case"]
    linked(rs, reference)

    # The joint risk assessment: Serbia rates and shares; Moldova rates its
    # side and sends it back.
    run(rs, JOINT, CASE=case)
    assert "joint_risk_origin_missing" in transit(rs, case)["blockers"]
    arrived = wait_for(lambda: run(md, ORIGIN_JOINT, CASE=origin), timeout=60)
    assert len(arrived["missing"]) == 7
    run(md, ORIGIN_RATE, CASE=origin)
    wait_for(lambda: "joint_risk_origin_missing" not in blockers(rs, case), timeout=60)

    if child:
        # The family assessment from the country of origin.
        run(rs, FAMILY_REQUEST, CASE=case, CONSENT=transfer)
        wait_for(lambda: run(md, ORIGIN_FAMILY, CASE=origin), timeout=60)
        assert "family_assessment_missing" in blockers(rs, case)
        run(md, FAMILY_REPORT, CASE=origin)
        wait_for(
            lambda: "family_assessment_missing" not in blockers(rs, case), timeout=60
        )
        assert "bid_missing" in transit(rs, case)["blockers"]
        run(rs, CHILD_RECORDS, CASE=case)
        assert not {"bid_missing", "child_security_missing"} & set(blockers(rs, case))

    # The journey is planned (the travel document asked for, not issued).
    run(rs, DOCUMENTS, CASE=case, CHILD=child, ISSUED=False)
    # The return plan goes to Moldova; an arrival cannot be confirmed before
    # any handover; Moldova's receiving organisation accepts.
    run(rs, PLAN_SEND, CASE=case, CONSENT=transfer)
    wait_for(lambda: run(md, ORIGIN_PLAN, CASE=origin), timeout=60)
    assert run(md, TRY_ARRIVAL, CASE=origin) == {"code": "handover.not_found"}
    assert "receiver_not_accepted" in transit(rs, case)["blockers"]
    run(md, PLAN_ANSWER, CASE=origin, CHILD=child)
    wait_for(lambda: "receiver_not_accepted" not in blockers(rs, case), timeout=60)

    # The travel document: the last blocker.
    assert transit(rs, case)["blockers"] == ["travel_document_missing"]
    run(rs, DOCUMENTS, CASE=case, CHILD=child, ISSUED=True)
    assert blockers(rs, case) == []

    # The journey starts: the handover is announced to Moldova, which
    # confirms the arrival; Moldova's case leads (reintegration), Serbia's
    # moves to follow-up.
    assert transit(rs, case, f"consent:{transfer}") == {"moved": True}
    handover = wait_for(lambda: run(md, ORIGIN_HANDOVER, CASE=origin), timeout=60)
    assert handover["status"] == "announced"
    assert run(md, ARRIVAL, CASE=origin, HANDOVER=handover["id"]) == "reintegration"
    wait_for(lambda: run(rs, STATE, CASE=case)["assistance"] == "follow_up", timeout=60)

    # Reintegration and follow-up in Moldova: no report travels without the
    # person's consent naming Serbia, nor after she withdraws it.
    follow_ups = run(md, REINTEGRATION, CASE=origin)
    assert len(follow_ups) == 4  # 1, 3, 6 and 12 months (baseline)
    refused = run(md, REPORT, CASE=origin, FOLLOW_UP=follow_ups[0], CONSENT=None)
    assert refused["code"] == "consent.missing"
    consent = run(md, ORIGIN_CONSENT, CASE=origin, CHILD=child)
    assert run(md, REPORT, CASE=origin, FOLLOW_UP=follow_ups[0], CONSENT=consent) == {
        "sent": True
    }
    wait_for(lambda: run(rs, RECEIVED_REPORTS, CASE=case), timeout=60)
    assert "sop4.follow_up_reported" in run(rs, STATE, CASE=case)["events"]
    run(md, WITHDRAW, CONSENT=consent)
    after = run(md, REPORT, CASE=origin, FOLLOW_UP=follow_ups[1], CONSENT=consent)
    assert after["code"] == "consent.missing"
    # Serbia erases the reports that came under the withdrawn consent.
    wait_for(lambda: run(rs, RECEIVED_REPORTS, CASE=case) == 0, timeout=60)

    # Closure on both nodes, each told of the other's.
    run(rs, CLOSE, CASE=case, REASON="transferred")
    run(md, CLOSE, CASE=origin, REASON="goals_met")
    for node, local in ((rs, case), (md, origin)):
        state = wait_for(
            lambda n=node, c=local: (
                (st := run(n, STATE, CASE=c))
                and "case.closure_received" in st["events"]
                and st
            ),
            timeout=60,
        )
        assert state["closed"]
    return {"dest": case, "origin": origin, "reference": reference}


def _conversation(
    rs: Node, md: Node, reference: str
) -> tuple[list[tuple[str, str, str, str, str]], list[tuple[str, str]]]:
    out: list[tuple[str, str, str, str, str]] = []
    applied: list[tuple[str, str]] = []
    for node in (rs, md):
        both = run(node, EXCHANGED, REF=reference)
        out.extend(tuple(m) for m in both["out"])
        applied.extend(tuple(m) for m in both["in"])
    out.sort(key=lambda m: m[4])
    return out, applied


def exchanged(rs: Node, md: Node, reference: str) -> list[tuple[str, str, str]]:
    """Every message of the case's conversation: ``(type, from, to)`` in the
    order sent, each delivered (``sent``) and applied by its receiver. (A
    sender marks a message sent once the receiver's answer is back, a moment
    after the receiver applied it: wait for every one.)"""
    out, applied = wait_for(
        lambda: (
            (both := _conversation(rs, md, reference))
            and {m[3] for m in both[0]} == {"sent"}
            and both
        ),
        timeout=60,
    )
    assert {s for _t, s in applied} == {"applied"}, applied
    assert sorted(t for t, _s in applied) == sorted(m[0] for m in out)
    return [(t, a, b) for t, a, b, _s, _at in out]


RS, MD = "node-rs", "node-md"


def expected(*, child: bool) -> list[tuple[str, str, str]]:
    """The conversation of one return, in order: ``(type, from, to)``."""
    family = [
        ("family.assessment.request", RS, MD),
        ("family.assessment.report", MD, RS),
    ]
    return [
        ("case.alert", RS, MD),
        ("case.alert.ack", MD, RS),
        ("risk.assessment.joint", RS, MD),
        ("risk.assessment.joint", MD, RS),
        *(family if child else []),
        ("return.plan", RS, MD),
        ("return.plan.response", MD, RS),
        ("return.handover", RS, MD),
        ("return.handover.arrival", MD, RS),
        ("followup.report", MD, RS),
        ("consent.withdrawn", MD, RS),
        ("consent.withdrawn.done", RS, MD),
        ("case.closure", RS, MD),
        ("case.closure", MD, RS),
    ]


def test_an_adult_and_a_child_return_from_serbia_to_moldova(nodes):
    rs, md = nodes
    for child in (False, True):
        walked = walk(rs, md, child=child)
        assert exchanged(rs, md, walked["reference"]) == expected(child=child)
