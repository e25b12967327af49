"""Two real node processes talking over HTTP on 127.0.0.1.

Node "node-md" (Moldova) and node "node-rs" (Serbia) each run their own server,
worker, SQLite databases and keys (:mod:`tests.federation`); they become peers
through ``trm peers add URL --fingerprint F``. Setting up organisations and
users uses the test factories inside each node; everything under test goes
through the services a person would use and the real exchange:

* a case manager in Moldova refers a person to a Serbian shelter: the
  ``referral.request`` crosses, Serbia opens a linked case with the shared case
  reference and the referral waits in the shelter's inbox;
* the Moldovan node goes down; the shelter accepts meanwhile: the
  ``referral.response`` waits in Serbia's outbox and is retried, and once
  Moldova is back it arrives and the referral is accepted there — delivered
  once, nothing lost;
* the person withdraws the consent in Moldova: ``consent.withdrawn`` reaches
  Serbia, whose copy of the referral is revoked (shared content destroyed),
  and ``consent.withdrawn.done`` comes back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.federation import Node, peer, wait_for

pytestmark = [pytest.mark.slow]

SETUP_MD = """
from trm.accounts.models import Organisation, Role
from trm.accounts.tests.factories import OrganisationFactory, UserFactory
org = OrganisationFactory(name="Fictional NGO Moldova", country="MD",
                          functions=["SP", "NCP"])
UserFactory(username="cm-md", organisation=org, roles=[Role.CASE_MANAGER])
result = str(org.pk)
"""

SETUP_RS = """
from trm.accounts.models import Role
from trm.referrals.tests.factories import receiver_org, receiver_user
org = receiver_org("Fictional Shelter Serbia")
org.country = "RS"
org.save(update_fields=["country"])
receiver_user(org, username="sp-rs")
result = str(org.pk)
"""

# After `peers add`, Moldova knows the Serbian shelter as a mirror organisation;
# it needs a directory profile to be chosen as a receiver.
REFER = """
from trm.accounts.models import Organisation, User
from trm.cases.tests.factories import open_case
from datetime import timedelta
from django.utils import timezone
from trm.directory.tests.factories import ServiceProfileFactory
from trm.referrals import services
from trm.referrals.tests.factories import consent_for
cm = User.objects.get(username="cm-md")
shelter = Organisation.objects.get(home_node="node-rs")
ServiceProfileFactory(organisation=shelter, accepts_referrals=True,
                      places_total=10, places_free=3,
                      capacity_updated_at=timezone.now() - timedelta(days=1))
case = open_case(cm, given_names="Fictiona", family_names="Testova (fictional)",
                 citizenships=["MD"])
consent = consent_for(cm, case, shelter, categories=("identity", "case_summary"))
referral = services.referral_create(
    actor=cm, case_id=case.pk, to_organisation_id=shelter.pk,
    services=["shelter"], categories=["identity", "case_summary"],
    texts={"case_summary": "Needs a safe place (fictional).",
           "risk": "Fictional risk note."})
services.referral_send(actor=cm, referral_id=referral.pk)
result = {"referral": str(referral.pk), "case": str(case.pk),
          "consent": str(consent.pk)}
"""

RECEIVED = """
from trm.referrals.models import Referral
r = Referral.objects.filter(from_organisation__home_node="node-md").first()
result = r and {"id": str(r.pk), "status": r.status,
                "case_ref": r.case.trm_case_ref, "case": str(r.case_id),
                "transnational": r.case.transnational}
"""

ACCEPT = """
from trm.accounts.models import User
from trm.referrals.receiving import referral_accept
referral_accept(actor=User.objects.get(username="sp-rs"), referral_id=REFERRAL)
result = True
"""

STATUS = """
from trm.referrals.models import Referral
r = Referral.objects.get(pk=REFERRAL)
result = {"status": r.status, "case_ref": r.case.trm_case_ref}
"""

WITHDRAW = """
from trm.accounts.models import User
from trm.consent.services import consent_withdraw
consent_withdraw(actor=User.objects.get(username="cm-md"), consent_id=CONSENT)
result = True
"""

RESTRICTED = """
from trm.exchange.models import InboxMessage
from trm.referrals.models import Referral
r = Referral.objects.get(pk=REFERRAL)
result = r.status == "revoked" and {
    "shared_left": bool(r.sealed_shared),
    "withdrawn": list(InboxMessage.objects.filter(type="consent.withdrawn")
                      .values_list("status", flat=True)),
}
"""

CONFIRMED = """
from trm.exchange.models import InboxMessage
result = list(InboxMessage.objects.filter(type="consent.withdrawn.done")
              .values_list("status", flat=True))
"""

OUTBOX = """
from trm.exchange.models import OutboxMessage
result = sorted((m.type, m.status, m.attempts) for m in OutboxMessage.objects.all())
"""


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    extra = {
        # Retry fast so "receiver down, then back" takes seconds.
        "TRM_EXCHANGE_RETRY_BASE_SECONDS": "1",
        "TRM_EXCHANGE_RETRY_CAP_SECONDS": "2",
    }
    md = Node("node-md", "MD", tmp_path, extra_env=extra, sop_variant="md")
    rs = Node("node-rs", "RS", tmp_path, extra_env=extra, sop_variant="rs")
    try:
        for node in (md, rs):
            node.setup()
        md.python(SETUP_MD)
        rs.python(SETUP_RS)
        md.start()
        rs.start()
        peer(md, rs)
        yield md, rs
    finally:
        md.destroy()
        rs.destroy()


def test_a_referral_crosses_the_border_and_its_answer_comes_back(nodes):
    md, rs = nodes
    sent = md.python(REFER)

    received = wait_for(lambda: rs.python(RECEIVED), timeout=60)
    assert received["status"] == "sent"
    md_case = md.python(STATUS.replace("REFERRAL", repr(sent["referral"])))
    # The linked case on the receiving node carries the shared case reference.
    assert received["case_ref"] and received["case_ref"] == md_case["case_ref"]
    assert received["transnational"] == "linked"

    # The referring node goes down; the shelter accepts meanwhile: the answer
    # waits in the receiving node's outbox, retried, and nothing is lost.
    md.stop()
    rs.python(ACCEPT.replace("REFERRAL", repr(received["id"])))
    wait_for(
        lambda: any(
            t == "referral.response" and attempts >= 2
            for t, _status, attempts in rs.python(OUTBOX)
        ),
        timeout=60,
    )
    md.start()
    status = wait_for(
        lambda: (
            (s := md.python(STATUS.replace("REFERRAL", repr(sent["referral"]))))[
                "status"
            ]
            == "accepted"
            and s
        ),
        timeout=60,
    )
    assert status["status"] == "accepted"
    # Each side holds exactly one delivered message of each kind: the
    # retries did not deliver anything twice.
    # (The sender marks its message sent once the receiver's answer is back,
    # a moment after the receiver applied it: wait for that, then compare.)
    for node, kind in ((md, "referral.request"), (rs, "referral.response")):
        delivered = wait_for(
            lambda n=node: (
                (box := [(t, s) for t, s, _ in n.python(OUTBOX)])
                and all(s == "sent" for _t, s in box)
                and box
            ),
            timeout=60,
        )
        assert delivered == [(kind, "sent")]

    # The person withdraws the consent in Moldova: the restriction reaches
    # Serbia, which revokes its copy (shared content gone, risk kept) and
    # confirms; Moldova holds the confirmation.
    md.python(WITHDRAW.replace("CONSENT", repr(sent["consent"])))
    restricted = wait_for(
        lambda: rs.python(RESTRICTED.replace("REFERRAL", repr(received["id"]))),
        timeout=60,
    )
    assert restricted["withdrawn"] == ["applied"]
    assert not restricted["shared_left"]
    assert wait_for(lambda: md.python(CONFIRMED), timeout=60) == ["applied"]
