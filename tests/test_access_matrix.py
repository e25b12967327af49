"""The access matrix: every case, consent and data-protection page and API endpoint
× every role × (own case, other case), with the expected answer.

Endpoints are enumerated from the URL resolver and the OpenAPI description, so a
new page or endpoint without an entry in ``MATRIX`` fails
``test_every_endpoint_has_a_matrix_entry`` until someone decides who may use it.

Outcomes: ``ok`` (the request reached the logic: any answer but 401/403/404/5xx),
``forbidden`` (403: the user may know the case but their role may not do this),
``hidden`` (404: no access looks exactly like no such case — ARCHITECTURE §4).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from trm.accounts.models import Role, User
from trm.accounts.tests.factories import OrganisationFactory, UserFactory
from trm.cases import services as cases
from trm.cases.tests.factories import open_case
from trm.consent import services as consent
from trm.dataprotection import services as dataprotection

pytestmark = pytest.mark.django_db
R = Role
TEAM_ROLES = frozenset(
    {
        R.FIRST_CONTACT_POINT,
        R.CASE_MANAGER,
        R.COMPETENT_AUTHORITY,
        R.NATIONAL_CONTACT_POINT,
        R.SERVICE_PROVIDER,
        R.PROSECUTOR,
        R.GUARDIAN,
    }
)
OPENING_ROLES = frozenset(
    {
        R.FIRST_CONTACT_POINT,
        R.CASE_MANAGER,
        R.COMPETENT_AUTHORITY,
        R.SERVICE_PROVIDER,
        R.NATIONAL_CONTACT_POINT,
    }
)
MANAGERS = frozenset({R.CASE_MANAGER, R.NATIONAL_CONTACT_POINT})
DPO = R.AUDITOR
PDF = b"%PDF-1.4\n% fictional consent form\n"
#: A 1×1 PNG (signature, IHDR, IDAT, IEND), so that reading a photo can succeed.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/q842iQAAAABJRU5ErkJggg=="
)
NAMESPACES = (
    "assessments",
    "assistance",
    "care",
    "returns",
    "reintegration",
    "handover",
    "proceedings",
    "referrals",
    "cases",
    "consent",
    "dataprotection",
    "directory",
    # The guidance library: everyone signed in reads it; editors keep it.
    "guidance",
    "identification",
    # Identity checks asked by counterpart nodes (trm.identification.node_urls).
    "identity_checks",
    "sop",
    "screening",
    # The node-to-node protocol: no session; peers authenticate by signature.
    "exchange_protocol",
    # The exchange's pages: peers and the operator view.
    "exchange",
    # The statistics dashboard: disclosure-controlled figures only.
    "statistics",
    # Regional statistics (trm.statistics.regional_urls).
    "regional_statistics",
    # Statistics: the node administrator's exact figures (quality control).
    "statistics_qc",
)
API_PREFIXES = (
    "/api/v1/cases",
    "/api/v1/consent",
    "/api/v1/data-protection",
    "/api/v1/directory",
    "/api/v1/exchange",
    "/api/v1/guidance",
    "/api/v1/referrals",
    "/api/v1/tasks",
    "/api/v1/statistics",
)
# SOP 1 (trm.identification.services): who may take each action on a case.
PRESUMERS = frozenset(
    {R.FIRST_CONTACT_POINT, R.CASE_MANAGER, R.COMPETENT_AUTHORITY, R.SERVICE_PROVIDER}
)
EARLY_ENDERS = frozenset({R.COMPETENT_AUTHORITY, R.NATIONAL_CONTACT_POINT})
REFLECTION_ENDERS = EARLY_ENDERS | {R.CASE_MANAGER, R.PROSECUTOR}
CHILD_ACTORS = frozenset(
    {
        R.CASE_MANAGER,
        R.GUARDIAN,
        R.COMPETENT_AUTHORITY,
        R.SERVICE_PROVIDER,
        R.FIRST_CONTACT_POINT,
    }
)
ASYLUM = PRESUMERS | {R.NATIONAL_CONTACT_POINT}
VERIFIERS = frozenset({R.NATIONAL_CONTACT_POINT, R.CASE_MANAGER, R.COMPETENT_AUTHORITY})
#: Who lists the identity checks counterpart nodes asked
#: (trm.identification.verification.RECEIVER_ROLES); answering is VERIFIERS'.
CHECK_RECEIVERS = frozenset({R.NATIONAL_CONTACT_POINT, R.COMPETENT_AUTHORITY})
CONTACT_RECORDERS = TEAM_ROLES - {R.PROSECUTOR}
REMOVAL_RECORDERS = VERIFIERS
#: The matrix's organisations do not perform the CA function, so no one there
#: takes the formal identification decision (the view tests cover who does).
NO_ONE: frozenset[str] = frozenset()

Outcome = str
Rule = Callable[[str, str], Outcome]


# --- rules: (role, "own" | "other") -> expected outcome ------------------------------


def team_read(role: str, which: str) -> Outcome:
    return "ok" if which == "own" and role in TEAM_ROLES else "hidden"


def team_roles(allowed: frozenset[str]) -> Rule:
    def rule(role: str, which: str) -> Outcome:
        if which != "own" or role not in TEAM_ROLES:
            return "hidden"
        return "ok" if role in allowed else "forbidden"

    return rule


def consent_read(role: str, which: str) -> Outcome:
    # A prosecutor sees only consents to take part in proceedings; the consent
    # here is to a referral, so for them it does not exist.
    if which != "own" or role not in TEAM_ROLES or role == R.PROSECUTOR:
        return "hidden"
    return "ok"


def dpo_or_team_manager(role: str, which: str) -> Outcome:
    if role == DPO:
        return "ok"
    if which != "own" or role not in TEAM_ROLES:
        return "hidden"
    return "ok" if role == R.CASE_MANAGER else "forbidden"


def any_signed_in(role: str, which: str) -> Outcome:
    return "ok"


def check_receivers(role: str, which: str) -> Outcome:
    return "ok" if role in CHECK_RECEIVERS else "forbidden"


def case_workers(role: str, which: str) -> Outcome:
    return "ok" if role in TEAM_ROLES else "forbidden"


def openers(role: str, which: str) -> Outcome:
    return "ok" if role in OPENING_ROLES else "forbidden"


def dpo_or_admin(role: str, which: str) -> Outcome:
    return "ok" if role in {DPO, R.NODE_ADMINISTRATOR} else "forbidden"


# The assistance pathway (trm.assistance): moved by these roles on the team; the
# legal track's roles do not see it at all.
PATHWAY_MOVERS = frozenset(
    {R.CASE_MANAGER, R.SERVICE_PROVIDER, R.NATIONAL_CONTACT_POINT}
)


def assistance_read(role: str, which: str) -> Outcome:
    if which != "own" or role not in TEAM_ROLES or role == R.PROSECUTOR:
        return "hidden"
    return "ok"


# The return record (trm.returns): assistance content, so a prosecutor reads none
# of it; the determination is the case manager's and the guardian's, the
# planning the pathway's movers', the journey the national contact point's.
RETURN_READERS = TEAM_ROLES - {R.PROSECUTOR}
BID_WRITERS = frozenset({R.CASE_MANAGER, R.GUARDIAN})
TRANSIT_STARTERS = frozenset({R.NATIONAL_CONTACT_POINT})
#: Who asks the country of origin for a family assessment or tracing.
FAMILY_ASKERS = PATHWAY_MOVERS | {R.GUARDIAN}
#: Any assessment id: the case's role check answers before the record is looked up.
SOME_ASSESSMENT = "7d0c6d6e-0000-4000-8000-000000000001"


def return_data(body: dict[str, Any]) -> Callable[[Any, str], dict[str, Any]]:
    """A body that passes the schema, so the role check decides."""
    return lambda w, which: body


# The handover on arrival (trm.handover): assistance content like the return
# record; the arrival is confirmed by the origin case team's assistance roles.
ARRIVAL_CONFIRMERS = frozenset(
    {R.NATIONAL_CONTACT_POINT, R.CASE_MANAGER, R.SERVICE_PROVIDER}
)


def handover_url(suffix: str, prefix: str = "") -> Callable[[Any, str], str]:
    """An origin handover announced on the world's case (set-up written
    directly); the URL of ``suffix`` on it."""

    def build(w: Any, which: str) -> str:
        import uuid
        from datetime import timedelta

        from django.utils import timezone

        from trm.handover.models import ReturnHandover, Side

        case = w.obj(which, "case")
        row = ReturnHandover.objects.create(
            handover_ref=uuid.uuid4(),
            case=case,
            side=Side.ORIGIN,
            peer_node="peer-matrix",
            departure_at=timezone.now() - timedelta(hours=2),
            expected_arrival_at=timezone.now() + timedelta(hours=2),
            created_at=timezone.now(),
        )
        return f"{prefix}/cases/{case.pk}/handover/{row.pk}/{suffix}"

    return build


# The service directory (trm.directory): organisations' details, no personal data.
CAPACITY_REPORTERS = frozenset({R.SERVICE_PROVIDER, R.CASE_MANAGER})


def directory_readers(role: str, which: str) -> Outcome:
    return "ok" if role in TEAM_ROLES | {R.NODE_ADMINISTRATOR} else "forbidden"


def node_admin(role: str, which: str) -> Outcome:
    return "ok" if role == R.NODE_ADMINISTRATOR else "forbidden"


def htcds_exporters(role: str, which: str) -> Outcome:
    # trm.statistics.htcds_io.EXPORT_ROLES: rows per case, the NCP only (over
    # the cases they may see).
    return "ok" if role == R.NATIONAL_CONTACT_POINT else "forbidden"


def capacity_reporters(role: str, which: str) -> Outcome:
    # Staff of the organisation report its own places; an administrator, any.
    if role == R.NODE_ADMINISTRATOR:
        return "ok"
    return "ok" if which == "own" and role in CAPACITY_REPORTERS else "forbidden"


# The statistics dashboard (trm.statistics.services.DASHBOARD_ROLES): aggregates
# only, for the national coordinator, the auditor and the node administrator.
STATISTICS_READERS = frozenset({R.NATIONAL_CONTACT_POINT, DPO, R.NODE_ADMINISTRATOR})


def statistics_readers(role: str, which: str) -> Outcome:
    return "ok" if role in STATISTICS_READERS else "forbidden"


def dpo_or_admin_else_hidden(role: str, which: str) -> Outcome:
    # Only the requester (not the actor here) may also cancel a request.
    return "ok" if role in {DPO, R.NODE_ADMINISTRATOR} else "hidden"


# Long-term care (trm.care): assistance content, so a prosecutor reads none of it.
CARE_READERS = TEAM_ROLES - {R.PROSECUTOR}
CARE_WRITERS = frozenset({R.CASE_MANAGER, R.SERVICE_PROVIDER})
RESIDENCE_WRITERS = frozenset(
    {
        R.CASE_MANAGER,
        R.NATIONAL_CONTACT_POINT,
        R.COMPETENT_AUTHORITY,
        R.SERVICE_PROVIDER,
    }
)


def care_episode_url(suffix: str, prefix: str = "") -> Callable[[Any, str], str]:
    """Record a service given on the world's case (as its case manager); its URL."""

    def build(w: Any, which: str) -> str:
        from django.utils import timezone

        from trm.care.episodes import service_episode_record

        case = w.obj(which, "case")
        manager = User.objects.get(username=f"matrix-cm-{which}")
        episode = service_episode_record(
            actor=manager,
            case_id=case.pk,
            service_type="shelter",
            started_on=timezone.localdate(),
        )
        return f"{prefix}/cases/{case.pk}/care/services/{episode.pk}/{suffix}"

    return build


# SOP 5 proceedings (trm.proceedings): legal-track records for the prosecutor,
# the case manager and the competent authority; notices also for the NCP.
PROCEEDINGS_READERS = frozenset({R.PROSECUTOR, R.CASE_MANAGER, R.COMPETENT_AUTHORITY})
NOTICE_READERS = PROCEEDINGS_READERS | {R.NATIONAL_CONTACT_POINT}
RIGHTS_RECORDERS = PROCEEDINGS_READERS
PROTECTION_RECORDERS = PROCEEDINGS_READERS
COMPENSATION_RECORDERS = frozenset({R.CASE_MANAGER, R.PROSECUTOR})
CHARGE_RECORDERS = PROCEEDINGS_READERS
NON_PUNISHMENT_DECIDERS = frozenset({R.PROSECUTOR, R.COMPETENT_AUTHORITY})
HEARING_RECORDERS = PROCEEDINGS_READERS
PROCEEDINGS_API = "POST /api/v1/cases/{case_id}/proceedings"
NOTICE_SENDERS = frozenset({R.NATIONAL_CONTACT_POINT, R.PROSECUTOR, R.CASE_MANAGER})


def proceedings_record_url(
    kind: str, suffix: str, prefix: str = ""
) -> Callable[[Any, str], str]:
    """Record a protection measure, a claim or a charge on the world's case (as
    its case manager); the URL of ``suffix`` on it."""

    def build(w: Any, which: str) -> str:
        from django.utils import timezone

        from trm.proceedings import services as proceedings

        case = w.obj(which, "case")
        manager = User.objects.get(username=f"matrix-cm-{which}")
        today = timezone.localdate()
        if kind == "protection":
            record: Any = proceedings.protection_assess(
                actor=manager, case_id=case.pk, kind="physical", assessed_on=today
            )
        elif kind == "compensation":
            record = proceedings.compensation_file(
                actor=manager, case_id=case.pk, route="state", filed_on=today
            )
        else:
            record = proceedings.charge_flag(
                actor=manager, case_id=case.pk, offence="other", flagged_on=today
            )
        return f"{prefix}/cases/{case.pk}/proceedings/{kind}/{record.pk}/{suffix}"

    return build


# The exchange with peer nodes (trm.exchange): routing data, never a payload
# (that only for the case team, tested in src/trm/exchange/tests). Node
# administrators and national contact points operate it; only administrators
# manage the peers.
EXCHANGE_OPERATORS = frozenset({R.NODE_ADMINISTRATOR, R.NATIONAL_CONTACT_POINT})


def exchange_operators(role: str, which: str) -> Outcome:
    return "ok" if role in EXCHANGE_OPERATORS else "forbidden"


def exchange_url(path: str) -> Callable[[Any, str], str]:
    """Add a fictional peer per side and a dead message about the world's case
    to it; ``path`` with ``{node}`` and ``{msg_id}`` filled in."""

    def build(w: Any, which: str) -> str:
        from trm.exchange.tests.remote_nodes import make_peer, outgoing

        peer = make_peer(f"matrix-{which}")
        message = outgoing(peer, "dead", case_id=w.obj(which, "case").pk)
        return path.format(node=peer.node_id, msg_id=message.msg_id)

    return build


# Regional statistics (trm.statistics.regional): aggregates only, asked for and
# read by the national coordinator (national contact points).
def coordinators(role: str, which: str) -> Outcome:
    return "ok" if role == R.NATIONAL_CONTACT_POINT else "forbidden"


def regional_request_url(w: Any, which: str) -> str:
    """A regional table request stored directly; its page."""
    import uuid

    from django.utils import timezone

    from trm.statistics.models import AggregateRequest

    sent = AggregateRequest.objects.create(
        id=uuid.uuid4(),
        rows="year",
        sources=["historical"],
        requested_at=timezone.now(),
    )
    return f"/statistics/regional/{sent.pk}/"


# --- the world each test acts in -----------------------------------------------------


@dataclass
class World:
    actor: User
    own_case: Any
    other_case: Any
    own_consent: Any
    other_consent: Any
    own_request: Any
    other_request: Any
    own_member: User
    other_member: User

    def obj(self, which: str, kind: str) -> Any:
        return getattr(self, f"{which}_{kind}")


def build_world(role: str) -> World:
    org_a = OrganisationFactory(name="Fictional Matrix Org A", country="BG")
    org_b = OrganisationFactory(name="Fictional Matrix Org B", country="BG")
    dpo = UserFactory(username="matrix-dpo", organisation=org_a, roles=[DPO])
    actor = UserFactory(username="matrix-actor", organisation=org_a, roles=[role])
    worlds = {}
    for which, org in (("own", org_a), ("other", org_b)):
        manager = UserFactory(
            username=f"matrix-cm-{which}", organisation=org, roles=[R.CASE_MANAGER]
        )
        member = UserFactory(
            username=f"matrix-sp-{which}",
            organisation=org,
            roles=[R.SERVICE_PROVIDER],
        )
        case = open_case(manager)
        cases.case_team_add(
            actor=manager, case_id=case.pk, user_id=member.pk, role=R.SERVICE_PROVIDER
        )
        if which == "own" and role in TEAM_ROLES:
            cases.case_team_add(
                actor=manager, case_id=case.pk, user_id=actor.pk, role=role
            )
        cases.person_set_photo(
            actor=manager, case_id=case.pk, content=PNG, content_type="image/png"
        )
        record = consent.consent_record(
            actor=manager,
            case_id=case.pk,
            purpose="referral",
            categories=["identity"],
            given_by="person",
            language="ro",
            recipient_organisation_id=org_b.pk,
            declaration="Fictional declaration",
            evidence=PDF,
            evidence_content_type="application/pdf",
        )
        request = dataprotection.erasure_request(
            actor=dpo if role != DPO else manager,
            case_id=case.pk,
            reason="recorded_in_error",
        )
        worlds[which] = (case, record, request, member)
    return World(
        actor=actor,
        own_case=worlds["own"][0],
        other_case=worlds["other"][0],
        own_consent=worlds["own"][1],
        other_consent=worlds["other"][1],
        own_request=worlds["own"][2],
        other_request=worlds["other"][2],
        own_member=worlds["own"][3],
        other_member=worlds["other"][3],
    )


# --- the matrix ----------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """How to call one endpoint and who may."""

    method: str
    url: Callable[[World, str], str]
    rule: Rule
    data: Callable[[World, str], dict[str, Any]] | None = None
    api: bool = False


def case_url(suffix: str = "", prefix: str = "/cases/") -> Callable[[World, str], str]:
    return lambda w, which: f"{prefix}{w.obj(which, 'case').pk}/{suffix}"


def consent_url(
    suffix: str = "", prefix: str = "/consent/"
) -> Callable[[World, str], str]:
    return lambda w, which: f"{prefix}{w.obj(which, 'consent').pk}/{suffix}"


def fixed(url: str) -> Callable[[World, str], str]:
    return lambda w, which: url


def with_node_keys(url: str) -> Callable[[World, str], str]:
    """``url`` on a node that has exchange keys (created inside the endpoint's
    savepoint, so rolled back with it)."""

    def build(w: World, which: str) -> str:
        from trm.exchange import nodekeys

        nodekeys.init_keys()
        return url

    return build


def anyone(role: str, which: str) -> Outcome:
    """A public endpoint: answered alike for every role (and for no session)."""
    return "ok"


def api(path: str) -> Callable[[World, str], str]:
    def build(w: World, which: str) -> str:
        return "/api/v1" + path.format(
            case_id=w.obj(which, "case").pk,
            consent_id=w.obj(which, "consent").pk,
            user_id=w.obj(which, "member").pk,
            request_id=w.obj(which, "request").pk,
        )

    return build


def move_data(w: World, which: str) -> dict[str, Any]:
    return {"track": "transnational", "target": "ncp_notified", "reason": ""}


def consent_data(w: World, which: str) -> dict[str, Any]:
    return {
        "purpose": "referral",
        "categories": ["identity"],
        "given_by": "person",
        "language": "ro",
        "recipient_country": "RO",
        "declaration": "Fictional declaration",
    }


# Screening (trm.screening): the case team reads; these case roles screen.
SCREENERS = frozenset(
    {R.FIRST_CONTACT_POINT, R.CASE_MANAGER, R.SERVICE_PROVIDER, R.COMPETENT_AUTHORITY}
)


def screening_url(api_prefix: str = "") -> Callable[[World, str], str]:
    """Record a screening on the world's case (as its case manager); its URL."""

    def build(w: World, which: str) -> str:
        from trm.screening.services import screening_record

        case = w.obj(which, "case")
        manager = User.objects.get(username=f"matrix-cm-{which}")
        screening = screening_record(
            actor=manager, case_id=case.pk, exploitation=["labour"], responses={}
        )
        if api_prefix:
            return f"{api_prefix}/cases/{case.pk}/screening/{screening.pk}"
        return f"/cases/{case.pk}/screening/{screening.pk}/"

    return build


def directory_url(
    suffix: str = "", prefix: str = "/directory/"
) -> Callable[[World, str], str]:
    """Give the world's organisation a directory profile; its URL."""

    def build(w: World, which: str) -> str:
        from trm.directory.services import profile_save

        organisation = w.obj(which, "member").organisation
        admin = User.objects.filter(username="matrix-admin").first() or UserFactory(
            username="matrix-admin",
            organisation=organisation,
            roles=[R.NODE_ADMINISTRATOR],
        )
        profile_save(
            actor=admin,
            organisation_id=organisation.pk,
            service_types=["shelter"],
            region="Fictional Region",
        )
        return f"{prefix}{organisation.pk}{suffix}"

    return build


# The guidance library (trm.guidance): no personal data; everyone signed in reads
# it, national contact points and node administrators keep it.
GUIDANCE_EDITORS = frozenset({R.NATIONAL_CONTACT_POINT, R.NODE_ADMINISTRATOR})


def guidance_editors(role: str, which: str) -> Outcome:
    return "ok" if role in GUIDANCE_EDITORS else "forbidden"


def guidance_url(
    suffix: str = "", prefix: str = "/guidance/"
) -> Callable[[World, str], str]:
    """A resource with an uploaded PDF (set-up written directly); its URL."""

    def build(w: World, which: str) -> str:
        from django.core.files.base import ContentFile

        from trm.guidance.models import Resource

        resource = Resource(
            slug=f"matrix-{which}",
            title=f"Fictional matrix guide {which}",
            category="guidance",
            link="https://example.org/guide",
            file_name="guide.pdf",
            file_type="application/pdf",
        )
        resource.file.save(f"matrix-{which}.pdf", ContentFile(PDF), save=False)
        resource.save()
        return f"{prefix}{resource.slug}{suffix}"

    return build


def guidance_body(w: World, which: str) -> dict[str, Any]:
    return {
        "title": f"Fictional guide {which}",
        "category": "tools",
        "link": "https://example.org/tool",
    }


# Needs, risks and the support plan (trm.assessments): assistance material, so
# the legal track sees none of it; the matrix's case is an adult's, so a
# guardian does not assess there.
ASSESSMENT_READERS = TEAM_ROLES - {R.PROSECUTOR}
ASSESSORS = CONTACT_RECORDERS - {R.GUARDIAN}
PLAN_WRITERS = frozenset({R.CASE_MANAGER, R.SERVICE_PROVIDER, R.FIRST_CONTACT_POINT})


def plan_url(suffix: str = "", api_prefix: str = "") -> Callable[[World, str], str]:
    """Save a draft support plan on the world's case (as its case manager); its URL."""

    def build(w: World, which: str) -> str:
        from trm.assessments.plans import PlanInput, plan_save

        case = w.obj(which, "case")
        manager = User.objects.get(username=f"matrix-cm-{which}")
        version, _created = plan_save(
            actor=manager, case_id=case.pk, content=PlanInput()
        )
        if api_prefix:
            return (
                f"{api_prefix}/cases/{case.pk}/assessments/plan/versions/"
                f"{version.number}{suffix}"
            )
        return f"/cases/{case.pk}/assessments/plan/versions/{version.number}/{suffix}"

    return build


def needs_data(w: World, which: str) -> dict[str, Any]:
    from trm.assessments.models import IMMEDIATE_DOMAINS

    return {
        "kind": "immediate",
        "willing_participation": True,
        "in_private": True,
        "language": "ro",
        "needs": {domain: {"status": "met"} for domain in IMMEDIATE_DOMAINS},
    }


# Referrals (trm.referrals): the case team refers the person (legal-track roles
# see none of it); the receiving organisation's service providers and case
# managers answer, seeing only what was shared (never the case).
REFERRERS = frozenset({R.CASE_MANAGER, R.FIRST_CONTACT_POINT, R.SERVICE_PROVIDER})
REFERRAL_RECEIVERS = frozenset({R.SERVICE_PROVIDER, R.CASE_MANAGER})


def referral_team(allowed: frozenset[str]) -> Rule:
    def rule(role: str, which: str) -> Outcome:
        if which != "own" or role not in TEAM_ROLES or role == R.PROSECUTOR:
            return "hidden"
        return "ok" if role in allowed else "forbidden"

    return rule


def referral_receivers(role: str, which: str) -> Outcome:
    # "own": a referral sent to the actor's organisation; "other": to another.
    return "ok" if which == "own" and role in REFERRAL_RECEIVERS else "hidden"


def referral_inbox(role: str, which: str) -> Outcome:
    return "ok" if role in REFERRAL_RECEIVERS else "forbidden"


def _accepting_referrals(organisation: Any) -> None:
    from trm.directory.models import ServiceProfile
    from trm.directory.tests.factories import ServiceProfileFactory

    if not ServiceProfile.objects.filter(organisation=organisation).exists():
        ServiceProfileFactory(organisation=organisation)


def team_referral_url(
    suffix: str = "", prefix: str = "/referrals/"
) -> Callable[[World, str], str]:
    """Draft a referral on the world's case to org B (its consent names B); its URL."""

    def build(w: World, which: str) -> str:
        from trm.referrals.services import referral_create

        receiver = w.other_member.organisation
        _accepting_referrals(receiver)
        referral = referral_create(
            actor=User.objects.get(username=f"matrix-cm-{which}"),
            case_id=w.obj(which, "case").pk,
            to_organisation_id=receiver.pk,
            services=["shelter"],
            categories=["identity"],
        )
        return f"{prefix}{referral.pk}{suffix}"

    return build


def received_referral_url(
    suffix: str = "", prefix: str = "/referrals/inbox/"
) -> Callable[[World, str], str]:
    """Send a referral from the other case to the actor's organisation ("own")
    or to org B ("other"); its URL."""

    def build(w: World, which: str) -> str:
        from trm.referrals.services import referral_create, referral_send

        manager = User.objects.get(username="matrix-cm-other")
        case = w.other_case
        receiver = (
            w.actor.organisation if which == "own" else w.other_member.organisation
        )
        _accepting_referrals(receiver)
        if which == "own":
            consent.consent_record(
                actor=manager,
                case_id=case.pk,
                purpose="referral",
                categories=["identity"],
                given_by="person",
                language="ro",
                recipient_organisation_id=receiver.pk,
                declaration="Fictional declaration",
            )
        referral = referral_create(
            actor=manager,
            case_id=case.pk,
            to_organisation_id=receiver.pk,
            services=["shelter"],
            categories=["identity"],
        )
        referral_send(actor=manager, referral_id=referral.pk)
        return f"{prefix}{referral.pk}{suffix}"

    return build


def referral_data(w: World, which: str) -> dict[str, Any]:
    return {
        "case_id": str(w.obj(which, "case").pk),
        "to_organisation_id": str(w.other_member.organisation_id),
        "services": ["shelter"],
        "categories": ["identity"],
    }


MATRIX: dict[str, Entry] = {
    # Web pages.
    # Listing and searching show only visible cases: empty for roles without any.
    "cases:list": Entry("GET", fixed("/cases/"), any_signed_in),
    "cases:search": Entry(
        "POST",
        fixed("/cases/search/"),
        any_signed_in,
        lambda w, _: {"name": "Fictional Nobody"},
    ),
    "cases:open": Entry("GET", fixed("/cases/open/"), openers),
    "cases:detail": Entry("GET", case_url(), team_read),
    # Web forms answer a role refusal with a message on the case page (the
    # service tests check the refusal itself); what matters here is who sees it.
    "cases:move": Entry("POST", case_url("move/"), team_read, move_data),
    "cases:close": Entry("GET", case_url("close/"), team_roles(MANAGERS)),
    "cases:team_add": Entry(
        "POST", case_url("team/add/"), team_read, lambda w, _: {"user": "", "role": ""}
    ),
    "cases:team_remove": Entry(
        "GET",
        lambda w, which: (
            f"/cases/{w.obj(which, 'case').pk}/team/{w.obj(which, 'member').pk}/remove/"
        ),
        team_roles(MANAGERS),
    ),
    "cases:note_add": Entry(
        "POST",
        case_url("notes/add/"),
        team_read,
        lambda w, _: {"text": "Fictional note", "visibility": "team"},
    ),
    "cases:edit_identity": Entry(
        "GET", case_url("identity/"), team_roles(TEAM_ROLES - {R.PROSECUTOR})
    ),
    # A prosecutor on the team sees the identity, so the photo too.
    "cases:photo": Entry("GET", case_url("photo/"), team_read),
    # The transnational channel (trm.cases.messages): the national contact
    # point alerts a counterpart node; those who meet the person (and the NCP)
    # send an urgent safety alert.
    "cases:alert": Entry(
        "GET", case_url("alert/"), team_roles(frozenset({R.NATIONAL_CONTACT_POINT}))
    ),
    "cases:safety_alert": Entry(
        "GET",
        case_url("safety-alert/"),
        team_roles(
            frozenset(
                {
                    R.NATIONAL_CONTACT_POINT,
                    R.CASE_MANAGER,
                    R.SERVICE_PROVIDER,
                    R.GUARDIAN,
                    R.FIRST_CONTACT_POINT,
                }
            )
        ),
    ),
    "consent:record": Entry(
        "GET", case_url("record/", prefix="/consent/case/"), team_read
    ),
    "consent:detail": Entry("GET", consent_url(), consent_read),
    "consent:evidence": Entry("GET", consent_url("evidence/"), consent_read),
    "consent:withdraw": Entry("GET", consent_url("withdraw/"), consent_read),
    "dataprotection:requests": Entry("GET", fixed("/data-protection/"), dpo_or_admin),
    "dataprotection:request_confirm": Entry(
        "GET",
        lambda w, which: (
            f"/data-protection/requests/{w.obj(which, 'request').pk}/confirm/"
        ),
        dpo_or_admin,
    ),
    "dataprotection:request_cancel": Entry(
        "GET",
        lambda w, which: (
            f"/data-protection/requests/{w.obj(which, 'request').pk}/cancel/"
        ),
        dpo_or_admin_else_hidden,
    ),
    "dataprotection:person": Entry(
        "GET", case_url(prefix="/data-protection/cases/"), dpo_or_team_manager
    ),
    "dataprotection:erasure_request": Entry(
        "POST",
        case_url("erasure/", prefix="/data-protection/cases/"),
        dpo_or_team_manager,
        lambda w, _: {"reason": "recorded_in_error"},
    ),
    "dataprotection:export": Entry(
        "GET",
        lambda w, which: (
            f"/data-protection/cases/{w.obj(which, 'case').pk}/export/?format=json"
        ),
        dpo_or_team_manager,
    ),
    # SOP 1 pages: the role decides (403); the case's state only changes the
    # answer among "ok" ones (a form, or 409 with the reason).
    "identification:presume": Entry(
        "GET", case_url("identification/presume/"), team_roles(PRESUMERS)
    ),
    "identification:decide": Entry(
        "GET", case_url("identification/decision/"), team_roles(NO_ONE)
    ),
    # Like the decision: the matrix's organisations are not the body the
    # variant names (tested with a real competent authority in the app tests).
    "identification:reopen": Entry(
        "GET", case_url("identification/reopen/"), team_roles(NO_ONE)
    ),
    "identification:no_indication": Entry(
        "GET", case_url("identification/no-indication/"), team_roles(PRESUMERS)
    ),
    "identification:rights": Entry(
        "GET",
        case_url("identification/rights-information/"),
        team_roles(TEAM_ROLES - {R.PROSECUTOR}),
    ),
    "identification:reflection_end": Entry(
        "GET",
        case_url("identification/reflection-end/"),
        team_roles(REFLECTION_ENDERS),
    ),
    "identification:possible_child": Entry(
        "GET", case_url("identification/possible-child/"), team_roles(CHILD_ACTORS)
    ),
    "identification:asylum": Entry(
        "GET", case_url("identification/asylum-application/"), team_roles(ASYLUM)
    ),
    "identification:age_assessment": Entry(
        "GET", case_url("identification/age-assessment/"), team_roles(CHILD_ACTORS)
    ),
    "identification:guardian": Entry(
        "GET", case_url("identification/guardian/"), team_roles(CHILD_ACTORS)
    ),
    "identification:child_protection_notice": Entry(
        "GET",
        case_url("identification/child-protection-notice/"),
        team_roles(CHILD_ACTORS),
    ),
    "identification:identity_verification": Entry(
        "GET",
        case_url("identification/identity-verification/"),
        team_roles(VERIFIERS),
    ),
    # No check awaits an answer in the world: a verifier gets the 409 saying so.
    "identification:identity_verification_answer": Entry(
        "GET",
        case_url("identification/identity-verification/answer/"),
        team_roles(VERIFIERS),
    ),
    "statistics_qc:unrounded": Entry(
        "GET", fixed("/statistics/qc/unrounded/"), node_admin
    ),
    "identity_checks:received": Entry(
        "GET", fixed("/identity-checks/"), check_receivers
    ),
    "identification:contact": Entry(
        "GET", case_url("identification/contact/"), team_roles(CONTACT_RECORDERS)
    ),
    "identification:enforced_removal": Entry(
        "GET",
        case_url("identification/enforced-removal/"),
        team_roles(REMOVAL_RECORDERS),
    ),
    # --- trm.assistance (pages and API): entries below this line ---
    "assistance:start": Entry(
        "GET", case_url("assistance/start/"), team_roles(PATHWAY_MOVERS)
    ),
    "assistance:decline": Entry(
        "GET", case_url("assistance/decline/"), team_roles(PATHWAY_MOVERS)
    ),
    # From "no assistance yet" these two answer 409 to those who may move.
    "assistance:long_term": Entry(
        "GET", case_url("assistance/long-term/"), team_roles(PATHWAY_MOVERS)
    ),
    "assistance:return_preparation": Entry(
        "GET", case_url("assistance/return-preparation/"), team_roles(PATHWAY_MOVERS)
    ),
    "assistance:close": Entry(
        "GET", case_url("assistance/close/"), team_roles(PATHWAY_MOVERS)
    ),
    "GET /api/v1/cases/{case_id}/assistance": Entry(
        "GET", api("/cases/{case_id}/assistance"), assistance_read, api=True
    ),
    "POST /api/v1/cases/{case_id}/assistance/start": Entry(
        "POST",
        api("/cases/{case_id}/assistance/start"),
        team_roles(PATHWAY_MOVERS),
        lambda w, _: {"basis": "emergency", "reason": "Fictional emergency"},
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/assistance/decline": Entry(
        "POST",
        api("/cases/{case_id}/assistance/decline"),
        team_roles(PATHWAY_MOVERS),
        lambda w, _: {"information_given": True},
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/assistance/long-term": Entry(
        "POST",
        api("/cases/{case_id}/assistance/long-term"),
        team_roles(PATHWAY_MOVERS),
        lambda w, _: {},
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/assistance/return-preparation": Entry(
        "POST",
        api("/cases/{case_id}/assistance/return-preparation"),
        team_roles(PATHWAY_MOVERS),
        lambda w, _: {},
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/assistance/close": Entry(
        "POST",
        api("/cases/{case_id}/assistance/close"),
        team_roles(PATHWAY_MOVERS),
        lambda w, _: {"closure": "goals_met"},
        api=True,
    ),
    # --- trm.returns (pages and API): entries below this line ---
    # The world's case is not in return preparation: those who may act get 409.
    "returns:detail": Entry("GET", case_url("return/"), team_roles(RETURN_READERS)),
    "returns:bid": Entry(
        "GET", case_url("return/best-interests/"), team_roles(BID_WRITERS)
    ),
    "returns:joint_risk": Entry(
        "GET", case_url("return/joint-risk/"), team_roles(PATHWAY_MOVERS)
    ),
    "returns:joint_risk_origin": Entry(
        "GET", case_url("return/joint-risk/origin/"), team_roles(PATHWAY_MOVERS)
    ),
    "returns:logistics": Entry(
        "GET", case_url("return/logistics/"), team_roles(PATHWAY_MOVERS)
    ),
    "returns:receiver": Entry(
        "GET", case_url("return/receiver/"), team_roles(PATHWAY_MOVERS)
    ),
    "returns:in_transit": Entry(
        "GET", case_url("return/in-transit/"), team_roles(TRANSIT_STARTERS)
    ),
    # --- trm.reintegration (pages and API) ---
    # The world's case is not in reintegration: those who may act get 409.
    "reintegration:detail": Entry(
        "GET", case_url("reintegration/"), team_roles(RETURN_READERS)
    ),
    "reintegration:plan": Entry(
        "GET", case_url("reintegration/plan/"), team_roles(PATHWAY_MOVERS)
    ),
    "reintegration:report": Entry(
        "GET",
        case_url(f"reintegration/follow-ups/{SOME_ASSESSMENT}/report/"),
        team_roles(PATHWAY_MOVERS),
    ),
    "GET /api/v1/cases/{case_id}/reintegration": Entry(
        "GET",
        api("/cases/{case_id}/reintegration"),
        team_roles(RETURN_READERS),
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/reintegration/plan": Entry(
        "POST",
        api("/cases/{case_id}/reintegration/plan"),
        team_roles(PATHWAY_MOVERS),
        return_data(
            {
                "starts_on": "2024-01-02",
                "services": ["shelter"],
                "goals": "Fictional goals",
                "case_manager_function": "Fictional social worker",
            }
        ),
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/reintegration/follow-ups/{follow_up_id}/report": (
        Entry(
            "POST",
            api(
                f"/cases/{{case_id}}/reintegration/follow-ups/{SOME_ASSESSMENT}/report"
            ),
            team_roles(PATHWAY_MOVERS),
            return_data({"reported_on": "2024-02-02", "risk_level": "low"}),
            api=True,
        )
    ),
    "GET /api/v1/cases/{case_id}/return": Entry(
        "GET", api("/cases/{case_id}/return"), team_roles(RETURN_READERS), api=True
    ),
    "POST /api/v1/cases/{case_id}/return/best-interests": Entry(
        "POST",
        api("/cases/{case_id}/return/best-interests"),
        team_roles(BID_WRITERS),
        return_data(
            {
                "determined_on": "2024-01-02",
                "panel": ["guardian", "social_services"],
                "outcome": "return_to_family",
                "guardian_opinion": "agrees",
                "child_views": "Fictional views",
            }
        ),
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/return/joint-risk": Entry(
        "POST",
        api("/cases/{case_id}/return/joint-risk"),
        team_roles(PATHWAY_MOVERS),
        return_data(
            {
                "assessed_on": "2024-01-02",
                "valid_until": "2024-01-20",
                "ratings": {"health": "low"},
                "overall_level": "low",
            }
        ),
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/return/joint-risk/{assessment_id}/origin": Entry(
        "POST",
        api(f"/cases/{{case_id}}/return/joint-risk/{SOME_ASSESSMENT}/origin"),
        team_roles(PATHWAY_MOVERS),
        return_data(
            {
                "ratings": {"health": "low"},
                "origin_organisation": "Fictiv Centre",
                "rated_on": "2024-01-02",
            }
        ),
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/return/logistics": Entry(
        "POST",
        api("/cases/{case_id}/return/logistics"),
        team_roles(PATHWAY_MOVERS),
        return_data({}),
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/return/receiver": Entry(
        "POST",
        api("/cases/{case_id}/return/receiver"),
        team_roles(PATHWAY_MOVERS),
        return_data(
            {
                "decision": "accepted",
                "organisation": "Fictiv Centre",
                "decided_on": "2024-01-02",
            }
        ),
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/return/in-transit": Entry(
        "POST",
        api("/cases/{case_id}/return/in-transit"),
        team_roles(TRANSIT_STARTERS),
        return_data({}),
        api=True,
    ),
    # Across nodes (trm.returns.services.across): the world's case is linked
    # with no peer and nothing arrived, so those who may act get 409 (or, for
    # a family report recorded by hand, 200).
    "returns:across": Entry(
        "GET", case_url("return/across/"), team_roles(RETURN_READERS)
    ),
    "returns:joint_risk_share": Entry(
        "GET", case_url("return/across/joint-risk/share/"), team_roles(PATHWAY_MOVERS)
    ),
    "returns:joint_risk_rate": Entry(
        "GET", case_url("return/across/joint-risk/rate/"), team_roles(PATHWAY_MOVERS)
    ),
    "returns:plan_send": Entry(
        "GET", case_url("return/across/plan/send/"), team_roles(TRANSIT_STARTERS)
    ),
    "returns:plan_answer": Entry(
        "GET", case_url("return/across/plan/answer/"), team_roles(PATHWAY_MOVERS)
    ),
    "returns:family_request": Entry(
        "GET", case_url("return/across/family/request/"), team_roles(FAMILY_ASKERS)
    ),
    "returns:family_report": Entry(
        "GET", case_url("return/across/family/report/"), team_roles(PATHWAY_MOVERS)
    ),
    "returns:family_record": Entry(
        "GET", case_url("return/across/family/record/"), team_roles(FAMILY_ASKERS)
    ),
    "GET /api/v1/cases/{case_id}/return/across": Entry(
        "GET",
        api("/cases/{case_id}/return/across"),
        team_roles(RETURN_READERS),
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/return/across/joint-risk/share": Entry(
        "POST",
        api("/cases/{case_id}/return/across/joint-risk/share"),
        team_roles(PATHWAY_MOVERS),
        return_data({}),
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/return/across/joint-risk/rate": Entry(
        "POST",
        api("/cases/{case_id}/return/across/joint-risk/rate"),
        team_roles(PATHWAY_MOVERS),
        return_data({"ratings": {"health": "low"}}),
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/return/across/plan/send": Entry(
        "POST",
        api("/cases/{case_id}/return/across/plan/send"),
        team_roles(TRANSIT_STARTERS),
        return_data({}),
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/return/across/plan/answer": Entry(
        "POST",
        api("/cases/{case_id}/return/across/plan/answer"),
        team_roles(PATHWAY_MOVERS),
        return_data(
            {"decision": "accepted", "receiving_organisation": "Fictiv Centre"}
        ),
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/return/across/family/request": Entry(
        "POST",
        api("/cases/{case_id}/return/across/family/request"),
        team_roles(FAMILY_ASKERS),
        return_data(
            {
                "kind": "assessment",
                "questions": "Fictional questions",
                "consent_id": SOME_ASSESSMENT,
            }
        ),
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/return/across/family/report": Entry(
        "POST",
        api("/cases/{case_id}/return/across/family/report"),
        team_roles(PATHWAY_MOVERS),
        return_data(
            {
                "legal_basis": "legal_obligation:Fictional Act",
                "reported_on": "2024-01-02",
                "assessor_function": "Social worker",
                "recommendation": "no_return",
            }
        ),
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/return/across/family/record": Entry(
        "POST",
        api("/cases/{case_id}/return/across/family/record"),
        team_roles(FAMILY_ASKERS),
        return_data(
            {
                "kind": "assessment",
                "reported_on": "2024-01-02",
                "assessor_function": "Social worker",
                "recommendation": "no_return",
            }
        ),
        api=True,
    ),
    # --- trm.handover (pages and API): entries below this line ---
    "handover:page": Entry("GET", case_url("handover/"), team_roles(RETURN_READERS)),
    "handover:arrival": Entry(
        "GET", handover_url("arrival/"), team_roles(ARRIVAL_CONFIRMERS)
    ),
    "GET /api/v1/cases/{case_id}/handover": Entry(
        "GET", api("/cases/{case_id}/handover"), team_roles(RETURN_READERS), api=True
    ),
    "POST /api/v1/cases/{case_id}/handover/{handover_id}/arrival": Entry(
        "POST",
        handover_url("arrival", prefix="/api/v1"),
        team_roles(ARRIVAL_CONFIRMERS),
        return_data({"arrived": False, "at": "2024-01-02T10:00:00+00:00"}),
        api=True,
    ),
    # --- trm.assessments (pages and API): entries below this line ---
    "assessments:needs_list": Entry(
        "GET", case_url("assessments/needs/"), team_roles(ASSESSMENT_READERS)
    ),
    "assessments:needs_new": Entry(
        "GET", case_url("assessments/needs/new/"), team_roles(ASSESSORS)
    ),
    "assessments:risk_list": Entry(
        "GET", case_url("assessments/risk/"), team_roles(ASSESSMENT_READERS)
    ),
    "assessments:risk_new": Entry(
        "GET", case_url("assessments/risk/new/"), team_roles(ASSESSORS)
    ),
    "assessments:plan": Entry(
        "GET", case_url("assessments/plan/"), team_roles(ASSESSMENT_READERS)
    ),
    "assessments:plan_edit": Entry(
        "GET", case_url("assessments/plan/edit/"), team_roles(PLAN_WRITERS)
    ),
    # No draft to sign: 409 for those who may sign.
    "assessments:plan_sign": Entry(
        "GET", case_url("assessments/plan/sign/"), team_roles(PLAN_WRITERS)
    ),
    "assessments:plan_version": Entry(
        "GET", plan_url(), team_roles(ASSESSMENT_READERS)
    ),
    "assessments:plan_print": Entry(
        "GET", plan_url("print/"), team_roles(ASSESSMENT_READERS)
    ),
    "GET /api/v1/cases/{case_id}/assessments/needs": Entry(
        "GET",
        api("/cases/{case_id}/assessments/needs"),
        team_roles(ASSESSMENT_READERS),
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/assessments/needs": Entry(
        "POST",
        api("/cases/{case_id}/assessments/needs"),
        team_roles(ASSESSORS),
        needs_data,
        api=True,
    ),
    "GET /api/v1/cases/{case_id}/assessments/risk": Entry(
        "GET",
        api("/cases/{case_id}/assessments/risk"),
        team_roles(ASSESSMENT_READERS),
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/assessments/risk": Entry(
        "POST",
        api("/cases/{case_id}/assessments/risk"),
        team_roles(ASSESSORS),
        lambda w, _: {
            "type": "initial",
            "level": "low",
            "no_risk_factor": True,
            "involvement": "involved",
            "judgement": "Fictional judgement",
        },
        api=True,
    ),
    "GET /api/v1/cases/{case_id}/assessments/risk/status": Entry(
        "GET",
        api("/cases/{case_id}/assessments/risk/status"),
        team_roles(ASSESSMENT_READERS),
        api=True,
    ),
    "GET /api/v1/cases/{case_id}/assessments/plan": Entry(
        "GET",
        api("/cases/{case_id}/assessments/plan"),
        team_roles(ASSESSMENT_READERS),
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/assessments/plan": Entry(
        "POST",
        api("/cases/{case_id}/assessments/plan"),
        team_roles(PLAN_WRITERS),
        lambda w, _: {},
        api=True,
    ),
    # No draft to sign: 409 for those who may sign.
    "POST /api/v1/cases/{case_id}/assessments/plan/sign": Entry(
        "POST",
        api("/cases/{case_id}/assessments/plan/sign"),
        team_roles(PLAN_WRITERS),
        lambda w, _: {},
        api=True,
    ),
    "GET /api/v1/cases/{case_id}/assessments/plan/versions/{number}": Entry(
        "GET",
        plan_url(api_prefix="/api/v1"),
        team_roles(ASSESSMENT_READERS),
        api=True,
    ),
    # --- trm.care (pages and API): entries below this line ---
    "care:plan": Entry("GET", case_url("care/plan/"), team_roles(CARE_READERS)),
    "care:plan_edit": Entry(
        "GET", case_url("care/plan/edit/"), team_roles(CARE_WRITERS)
    ),
    # No plan yet: the roles that may agree or review get 409 (the reason).
    "care:plan_agree": Entry(
        "GET", case_url("care/plan/agree/"), team_roles(CARE_WRITERS)
    ),
    "care:plan_review": Entry(
        "GET", case_url("care/plan/review/"), team_roles(CARE_WRITERS)
    ),
    "care:residence": Entry(
        "GET", case_url("care/residence/"), team_roles(CARE_READERS)
    ),
    "care:residence_add": Entry(
        "GET", case_url("care/residence/add/"), team_roles(RESIDENCE_WRITERS)
    ),
    "care:services": Entry("GET", case_url("care/services/"), team_roles(CARE_READERS)),
    "care:service_add": Entry(
        "GET", case_url("care/services/add/"), team_roles(CARE_WRITERS)
    ),
    "care:service_end": Entry(
        "GET", care_episode_url("end/"), team_roles(CARE_WRITERS)
    ),
    "GET /api/v1/cases/{case_id}/care/plan": Entry(
        "GET", api("/cases/{case_id}/care/plan"), team_roles(CARE_READERS), api=True
    ),
    "POST /api/v1/cases/{case_id}/care/plan": Entry(
        "POST",
        api("/cases/{case_id}/care/plan"),
        team_roles(CARE_WRITERS),
        lambda w, _: {"goals": "Fictional goals", "duration": "short"},
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/care/plan/agree": Entry(
        "POST",
        api("/cases/{case_id}/care/plan/agree"),
        team_roles(CARE_WRITERS),
        lambda w, _: {},
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/care/plan/reviews": Entry(
        "POST",
        api("/cases/{case_id}/care/plan/reviews"),
        team_roles(CARE_WRITERS),
        lambda w, _: {"reviewed_on": "2026-01-01", "outcome": "continue"},
        api=True,
    ),
    "GET /api/v1/cases/{case_id}/care/residence": Entry(
        "GET",
        api("/cases/{case_id}/care/residence"),
        team_roles(CARE_READERS),
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/care/residence": Entry(
        "POST",
        api("/cases/{case_id}/care/residence"),
        team_roles(RESIDENCE_WRITERS),
        lambda w, _: {"residence_type": "", "valid_from": "2026-01-01"},
        api=True,
    ),
    "GET /api/v1/cases/{case_id}/care/services": Entry(
        "GET",
        api("/cases/{case_id}/care/services"),
        team_roles(CARE_READERS),
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/care/services": Entry(
        "POST",
        api("/cases/{case_id}/care/services"),
        team_roles(CARE_WRITERS),
        lambda w, _: {"service_type": "", "started_on": "2026-01-01"},
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/care/services/{episode_id}/end": Entry(
        "POST",
        care_episode_url("end", prefix="/api/v1"),
        team_roles(CARE_WRITERS),
        lambda w, _: {"outcome": "completed"},
        api=True,
    ),
    # --- trm.proceedings (pages and API): entries below this line ---
    "proceedings:page": Entry(
        "GET", case_url("proceedings/"), team_roles(NOTICE_READERS)
    ),
    "proceedings:rights": Entry(
        "GET", case_url("proceedings/rights/"), team_roles(RIGHTS_RECORDERS)
    ),
    "proceedings:lawyer": Entry(
        "GET", case_url("proceedings/rights/lawyer/"), team_roles(RIGHTS_RECORDERS)
    ),
    "proceedings:protection_assess": Entry(
        "GET",
        case_url("proceedings/protection/add/"),
        team_roles(PROTECTION_RECORDERS),
    ),
    "proceedings:protection_order": Entry(
        "GET",
        proceedings_record_url("protection", "order/"),
        team_roles(PROTECTION_RECORDERS),
    ),
    "proceedings:protection_lift": Entry(
        "GET",
        proceedings_record_url("protection", "lift/"),
        team_roles(PROTECTION_RECORDERS),
    ),
    "proceedings:compensation_file": Entry(
        "GET",
        case_url("proceedings/compensation/add/"),
        team_roles(COMPENSATION_RECORDERS),
    ),
    **{
        f"proceedings:compensation_{verb}": Entry(
            "GET",
            proceedings_record_url("compensation", f"{verb}/"),
            team_roles(COMPENSATION_RECORDERS),
        )
        for verb in ("award", "reject", "paid", "unpaid")
    },
    "proceedings:charge_flag": Entry(
        "GET", case_url("proceedings/charges/add/"), team_roles(CHARGE_RECORDERS)
    ),
    "proceedings:non_punishment_request": Entry(
        "GET",
        proceedings_record_url("charges", "assessment/"),
        team_roles(CHARGE_RECORDERS),
    ),
    "proceedings:non_punishment_decide": Entry(
        "GET",
        proceedings_record_url("charges", "decision/"),
        team_roles(NON_PUNISHMENT_DECIDERS),
    ),
    "proceedings:hearing_add": Entry(
        "GET", case_url("proceedings/hearings/add/"), team_roles(HEARING_RECORDERS)
    ),
    "proceedings:notice_send": Entry(
        "GET", case_url("proceedings/notices/send/"), team_roles(NOTICE_SENDERS)
    ),
    "GET /api/v1/cases/{case_id}/proceedings": Entry(
        "GET",
        api("/cases/{case_id}/proceedings"),
        team_roles(PROCEEDINGS_READERS),
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/proceedings/rights": Entry(
        "POST",
        api("/cases/{case_id}/proceedings/rights"),
        team_roles(RIGHTS_RECORDERS),
        lambda w, _: {},
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/proceedings/rights/lawyer": Entry(
        "POST",
        api("/cases/{case_id}/proceedings/rights/lawyer"),
        team_roles(RIGHTS_RECORDERS),
        lambda w, _: {"lawyer": ""},
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/proceedings/protection": Entry(
        "POST",
        api("/cases/{case_id}/proceedings/protection"),
        team_roles(PROTECTION_RECORDERS),
        lambda w, _: {"kind": ""},
        api=True,
    ),
    **{
        f"{PROCEEDINGS_API}/protection/{{measure_id}}/{verb}": Entry(
            "POST",
            proceedings_record_url("protection", verb, prefix="/api/v1"),
            team_roles(PROTECTION_RECORDERS),
            lambda w, _: {},
            api=True,
        )
        for verb in ("order", "lift")
    },
    "POST /api/v1/cases/{case_id}/proceedings/compensation": Entry(
        "POST",
        api("/cases/{case_id}/proceedings/compensation"),
        team_roles(COMPENSATION_RECORDERS),
        lambda w, _: {"route": ""},
        api=True,
    ),
    **{
        f"{PROCEEDINGS_API}/compensation/{{claim_id}}/{verb}": Entry(
            "POST",
            proceedings_record_url("compensation", verb, prefix="/api/v1"),
            team_roles(COMPENSATION_RECORDERS),
            lambda w, _: {},
            api=True,
        )
        for verb in ("award", "reject", "paid", "unpaid")
    },
    "POST /api/v1/cases/{case_id}/proceedings/charges": Entry(
        "POST",
        api("/cases/{case_id}/proceedings/charges"),
        team_roles(CHARGE_RECORDERS),
        lambda w, _: {"offence": ""},
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/proceedings/charges/{record_id}/assessment": Entry(
        "POST",
        proceedings_record_url("charges", "assessment", prefix="/api/v1"),
        team_roles(CHARGE_RECORDERS),
        lambda w, _: {},
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/proceedings/charges/{record_id}/decision": Entry(
        "POST",
        proceedings_record_url("charges", "decision", prefix="/api/v1"),
        team_roles(NON_PUNISHMENT_DECIDERS),
        lambda w, _: {"outcome": ""},
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/proceedings/hearings": Entry(
        "POST",
        api("/cases/{case_id}/proceedings/hearings"),
        team_roles(HEARING_RECORDERS),
        lambda w, _: {"at": "2026-01-01T10:00:00Z", "court": "", "kind": ""},
        api=True,
    ),
    "GET /api/v1/cases/{case_id}/proceedings/notices": Entry(
        "GET",
        api("/cases/{case_id}/proceedings/notices"),
        team_roles(NOTICE_READERS),
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/proceedings/notices": Entry(
        "POST",
        api("/cases/{case_id}/proceedings/notices"),
        team_roles(NOTICE_SENDERS),
        lambda w, _: {"peer_node": "", "kind": "", "legal_basis": ""},
        api=True,
    ),
    # --- trm.referrals (pages and API): entries below this line ---
    "referrals:new": Entry(
        "GET", case_url("new/", prefix="/referrals/case/"), referral_team(REFERRERS)
    ),
    "referrals:case_not_possible": Entry(
        "GET",
        case_url("not-possible/", prefix="/referrals/case/"),
        referral_team(REFERRERS),
    ),
    "referrals:detail": Entry("GET", team_referral_url("/"), referral_team(TEAM_ROLES)),
    "referrals:edit": Entry(
        "GET", team_referral_url("/edit/"), referral_team(REFERRERS)
    ),
    "referrals:cancel": Entry(
        "GET", team_referral_url("/cancel/"), referral_team(REFERRERS)
    ),
    "referrals:not_possible": Entry(
        "GET", team_referral_url("/not-possible/"), referral_team(REFERRERS)
    ),
    "referrals:feedback": Entry(
        "GET", team_referral_url("/feedback/"), referral_team(REFERRERS)
    ),
    "referrals:inbox": Entry("GET", fixed("/referrals/inbox/"), referral_inbox),
    "referrals:inbox_detail": Entry(
        "GET", received_referral_url("/"), referral_receivers
    ),
    "referrals:accept": Entry(
        "POST", received_referral_url("/accept/"), referral_receivers
    ),
    "referrals:decline": Entry(
        "GET", received_referral_url("/decline/"), referral_receivers
    ),
    "referrals:start": Entry(
        "POST", received_referral_url("/start/"), referral_receivers
    ),
    "referrals:complete": Entry(
        "POST", received_referral_url("/complete/"), referral_receivers
    ),
    "referrals:inbox_feedback": Entry(
        "GET", received_referral_url("/feedback/"), referral_receivers
    ),
    "POST /api/v1/referrals": Entry(
        "POST",
        fixed("/api/v1/referrals"),
        referral_team(REFERRERS),
        referral_data,
        api=True,
    ),
    # A prosecutor on the team gets an empty list.
    "GET /api/v1/referrals/cases/{case_id}": Entry(
        "GET", api("/referrals/cases/{case_id}"), team_read, api=True
    ),
    "POST /api/v1/referrals/cases/{case_id}/not-possible": Entry(
        "POST",
        api("/referrals/cases/{case_id}/not-possible"),
        referral_team(REFERRERS),
        lambda w, _: {"reason": "person_refused"},
        api=True,
    ),
    "GET /api/v1/referrals/inbox": Entry(
        "GET", fixed("/api/v1/referrals/inbox"), referral_inbox, api=True
    ),
    "GET /api/v1/referrals/inbox/{referral_id}": Entry(
        "GET",
        received_referral_url(prefix="/api/v1/referrals/inbox/"),
        referral_receivers,
        api=True,
    ),
    "GET /api/v1/referrals/{referral_id}": Entry(
        "GET",
        team_referral_url(prefix="/api/v1/referrals/"),
        referral_team(TEAM_ROLES),
        api=True,
    ),
    "PUT /api/v1/referrals/{referral_id}": Entry(
        "PUT",
        team_referral_url(prefix="/api/v1/referrals/"),
        referral_team(REFERRERS),
        lambda w, which: {
            k: v for k, v in referral_data(w, which).items() if k != "case_id"
        },
        api=True,
    ),
    "POST /api/v1/referrals/{referral_id}/send": Entry(
        "POST",
        team_referral_url("/send", prefix="/api/v1/referrals/"),
        referral_team(REFERRERS),
        api=True,
    ),
    "POST /api/v1/referrals/{referral_id}/cancel": Entry(
        "POST",
        team_referral_url("/cancel", prefix="/api/v1/referrals/"),
        referral_team(REFERRERS),
        lambda w, _: {"reason": "sent_in_error"},
        api=True,
    ),
    "POST /api/v1/referrals/{referral_id}/not-possible": Entry(
        "POST",
        team_referral_url("/not-possible", prefix="/api/v1/referrals/"),
        referral_team(REFERRERS),
        lambda w, _: {"reason": "person_refused"},
        api=True,
    ),
    # On a draft: refused by its state (409) for those who may give feedback.
    "POST /api/v1/referrals/{referral_id}/feedback": Entry(
        "POST",
        team_referral_url("/feedback", prefix="/api/v1/referrals/"),
        referral_team(REFERRERS),
        lambda w, _: {"outcome": "arrived"},
        api=True,
    ),
    "POST /api/v1/referrals/{referral_id}/accept": Entry(
        "POST",
        received_referral_url("/accept", prefix="/api/v1/referrals/"),
        referral_receivers,
        api=True,
    ),
    "POST /api/v1/referrals/{referral_id}/decline": Entry(
        "POST",
        received_referral_url("/decline", prefix="/api/v1/referrals/"),
        referral_receivers,
        lambda w, _: {"reason": "no_capacity"},
        api=True,
    ),
    "POST /api/v1/referrals/{referral_id}/start": Entry(
        "POST",
        received_referral_url("/start", prefix="/api/v1/referrals/"),
        referral_receivers,
        api=True,
    ),
    "POST /api/v1/referrals/{referral_id}/complete": Entry(
        "POST",
        received_referral_url("/complete", prefix="/api/v1/referrals/"),
        referral_receivers,
        api=True,
    ),
    # "My tasks" lists only the user's own cases: empty for roles without any.
    "sop:tasks": Entry("GET", fixed("/tasks/"), any_signed_in),
    "sop:reminders_read": Entry("POST", fixed("/tasks/reminders/read/"), any_signed_in),
    "sop:case_panel": Entry("GET", case_url("sop/"), team_read),
    # JSON API.
    "GET /api/v1/cases": Entry("GET", api("/cases"), any_signed_in, api=True),
    "POST /api/v1/cases": Entry(
        "POST", api("/cases"), openers, lambda w, _: {"identity": {}}, api=True
    ),
    "POST /api/v1/cases/search": Entry(
        "POST",
        api("/cases/search"),
        any_signed_in,
        lambda w, _: {"name": "Fictional Nobody"},
        api=True,
    ),
    "GET /api/v1/cases/{case_id}": Entry(
        "GET", api("/cases/{case_id}"), team_read, api=True
    ),
    "GET /api/v1/cases/{case_id}/person": Entry(
        "GET", api("/cases/{case_id}/person"), team_read, api=True
    ),
    "PUT /api/v1/cases/{case_id}/person": Entry(
        "PUT",
        api("/cases/{case_id}/person"),
        team_roles(TEAM_ROLES - {R.PROSECUTOR}),
        lambda w, _: {"given_names": "Fictional"},
        api=True,
    ),
    "GET /api/v1/cases/{case_id}/photo": Entry(
        "GET", api("/cases/{case_id}/photo"), team_read, api=True
    ),
    "PUT /api/v1/cases/{case_id}/photo": Entry(
        "PUT",
        api("/cases/{case_id}/photo"),
        team_roles(TEAM_ROLES - {R.PROSECUTOR}),
        lambda w, _: {
            "content_type": "image/png",
            "data": base64.b64encode(PNG).decode(),
        },
        api=True,
    ),
    "DELETE /api/v1/cases/{case_id}/photo": Entry(
        "DELETE",
        api("/cases/{case_id}/photo"),
        team_roles(TEAM_ROLES - {R.PROSECUTOR}),
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/moves": Entry(
        "POST",
        api("/cases/{case_id}/moves"),
        # The transnational track: the case manager and the national contact point.
        team_roles(frozenset({R.CASE_MANAGER, R.NATIONAL_CONTACT_POINT})),
        move_data,
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/close": Entry(
        "POST",
        api("/cases/{case_id}/close"),
        team_roles(MANAGERS),
        lambda w, _: {"reason": "goals_met"},
        api=True,
    ),
    "GET /api/v1/cases/{case_id}/timeline": Entry(
        "GET", api("/cases/{case_id}/timeline"), team_read, api=True
    ),
    "GET /api/v1/cases/{case_id}/notes": Entry(
        "GET", api("/cases/{case_id}/notes"), team_read, api=True
    ),
    "POST /api/v1/cases/{case_id}/notes": Entry(
        "POST",
        api("/cases/{case_id}/notes"),
        team_read,
        lambda w, _: {"text": "Fictional note", "visibility": "team"},
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/team": Entry(
        "POST",
        api("/cases/{case_id}/team"),
        team_roles(MANAGERS),
        lambda w, which: {
            "user_id": w.obj(which, "member").pk,
            "role": R.SERVICE_PROVIDER,
        },
        api=True,
    ),
    "DELETE /api/v1/cases/{case_id}/team/{user_id}": Entry(
        "DELETE", api("/cases/{case_id}/team/{user_id}"), team_roles(MANAGERS), api=True
    ),
    "GET /api/v1/cases/{case_id}/sop": Entry(
        "GET", api("/cases/{case_id}/sop"), team_read, api=True
    ),
    "GET /api/v1/tasks": Entry("GET", api("/tasks"), any_signed_in, api=True),
    # SOP 1: bodies that the service refuses after its role check (400/409),
    # except "possible child", which a permitted role records.
    "POST /api/v1/cases/{case_id}/identification/presume": Entry(
        "POST",
        api("/cases/{case_id}/identification/presume"),
        team_roles(PRESUMERS),
        lambda w, _: {"reason": ""},
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/identification/decision": Entry(
        "POST",
        api("/cases/{case_id}/identification/decision"),
        team_roles(NO_ONE),
        lambda w, _: {
            "outcome": "identified",
            "reasons": "",
            "informed": [],
            "language": "ro",
        },
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/identification/reopen": Entry(
        "POST",
        api("/cases/{case_id}/identification/reopen"),
        team_roles(NO_ONE),
        lambda w, _: {"reason": "Fictional evidence"},
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/identification/no-indication": Entry(
        "POST",
        api("/cases/{case_id}/identification/no-indication"),
        team_roles(PRESUMERS),
        lambda w, _: {"information_given": True},
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/identification/rights-information": Entry(
        "POST",
        api("/cases/{case_id}/identification/rights-information"),
        team_roles(TEAM_ROLES - {R.PROSECUTOR}),
        lambda w, _: {"informed": [], "language": "ro"},
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/identification/reflection-end": Entry(
        "POST",
        api("/cases/{case_id}/identification/reflection-end"),
        team_roles(EARLY_ENDERS),
        lambda w, _: {"reason": "public_order", "detail": "Fictional reasons"},
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/identification/asylum-application": Entry(
        "POST",
        api("/cases/{case_id}/identification/asylum-application"),
        team_roles(ASYLUM),
        lambda w, _: {"note": ""},
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/identification/possible-child": Entry(
        "POST",
        api("/cases/{case_id}/identification/possible-child"),
        team_roles(CHILD_ACTORS),
        lambda w, _: {"reason": ""},
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/identification/age-assessment": Entry(
        "POST",
        api("/cases/{case_id}/identification/age-assessment"),
        team_roles(CHILD_ACTORS),
        lambda w, _: {"outcome": "", "method": ""},
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/identification/guardian": Entry(
        "POST",
        api("/cases/{case_id}/identification/guardian"),
        team_roles(CHILD_ACTORS),
        lambda w, _: {},
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/identification/child-protection-notice": Entry(
        "POST",
        api("/cases/{case_id}/identification/child-protection-notice"),
        team_roles(CHILD_ACTORS),
        lambda w, _: {"authority": "Fictional Child Agency"},
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/identification/identity-verification": Entry(
        "POST",
        api("/cases/{case_id}/identification/identity-verification"),
        team_roles(VERIFIERS),
        lambda w, _: {"channel": ""},
        api=True,
    ),
    "GET /api/v1/cases/{case_id}/identification/identity-checks": Entry(
        "GET",
        api("/cases/{case_id}/identification/identity-checks"),
        team_read,
        api=True,
    ),
    # No peer in the world: a verifier's request is refused as bad input (400).
    "POST /api/v1/cases/{case_id}/identification/identity-verification/exchange": (
        Entry(
            "POST",
            api("/cases/{case_id}/identification/identity-verification/exchange"),
            team_roles(VERIFIERS),
            lambda w, _: {"peer_node": "", "legal_basis": ""},
            api=True,
        )
    ),
    "POST /api/v1/cases/{case_id}/identification/identity-verification/answer": (
        Entry(
            "POST",
            api("/cases/{case_id}/identification/identity-verification/answer"),
            team_roles(VERIFIERS),
            lambda w, _: {"outcome": ""},
            api=True,
        )
    ),
    "GET /api/v1/cases/identity-checks/received": Entry(
        "GET",
        fixed("/api/v1/cases/identity-checks/received"),
        check_receivers,
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/identification/contacts": Entry(
        "POST",
        api("/cases/{case_id}/identification/contacts"),
        team_roles(CONTACT_RECORDERS),
        lambda w, _: {"kind": ""},
        api=True,
    ),
    "POST /api/v1/cases/{case_id}/identification/enforced-removal": Entry(
        "POST",
        api("/cases/{case_id}/identification/enforced-removal"),
        team_roles(REMOVAL_RECORDERS),
        lambda w, _: {"legal_basis": ""},
        api=True,
    ),
    "GET /api/v1/consent/cases/{case_id}": Entry(
        "GET", api("/consent/cases/{case_id}"), team_read, api=True
    ),
    "POST /api/v1/consent/cases/{case_id}": Entry(
        "POST", api("/consent/cases/{case_id}"), team_read, consent_data, api=True
    ),
    "GET /api/v1/consent/{consent_id}": Entry(
        "GET", api("/consent/{consent_id}"), consent_read, api=True
    ),
    "GET /api/v1/consent/{consent_id}/evidence": Entry(
        "GET", api("/consent/{consent_id}/evidence"), consent_read, api=True
    ),
    "POST /api/v1/consent/{consent_id}/withdraw": Entry(
        "POST", api("/consent/{consent_id}/withdraw"), consent_read, api=True
    ),
    "POST /api/v1/data-protection/cases/{case_id}/erasure-requests": Entry(
        "POST",
        api("/data-protection/cases/{case_id}/erasure-requests"),
        dpo_or_team_manager,
        lambda w, _: {"reason": "recorded_in_error"},
        api=True,
    ),
    "GET /api/v1/data-protection/erasure-requests": Entry(
        "GET", api("/data-protection/erasure-requests"), dpo_or_admin, api=True
    ),
    "POST /api/v1/data-protection/erasure-requests/{request_id}/confirm": Entry(
        "POST",
        api("/data-protection/erasure-requests/{request_id}/confirm"),
        dpo_or_admin,
        api=True,
    ),
    "POST /api/v1/data-protection/erasure-requests/{request_id}/cancel": Entry(
        "POST",
        api("/data-protection/erasure-requests/{request_id}/cancel"),
        dpo_or_admin_else_hidden,
        api=True,
    ),
    "GET /api/v1/data-protection/cases/{case_id}/export": Entry(
        "GET",
        api("/data-protection/cases/{case_id}/export"),
        dpo_or_team_manager,
        api=True,
    ),
    # The service directory: anyone who works on cases reads it; an organisation's
    # staff report its capacity; node administrators keep it.
    "directory:list": Entry("GET", fixed("/directory/"), directory_readers),
    "statistics:dashboard": Entry("GET", fixed("/statistics/"), statistics_readers),
    "statistics:download": Entry(
        "GET", fixed("/statistics/trend.csv"), statistics_readers
    ),
    "directory:export": Entry("GET", fixed("/directory/export.csv"), node_admin),
    "directory:detail": Entry("GET", directory_url("/"), directory_readers),
    "directory:capacity": Entry("GET", directory_url("/capacity/"), capacity_reporters),
    "directory:edit": Entry("GET", directory_url("/edit/"), node_admin),
    # The HTCDS export of the node's cases (statistical, or personal with purpose).
    "statistics:htcds_export": Entry(
        "GET", fixed("/statistics/htcds/export/"), htcds_exporters
    ),
    "POST /api/v1/statistics/htcds/export": Entry(
        "POST",
        fixed("/api/v1/statistics/htcds/export"),
        htcds_exporters,
        lambda w, _: {"format": "csv", "purpose": "Annual report"},
        api=True,
    ),
    # The guidance library (trm.guidance).
    "guidance:list": Entry("GET", fixed("/guidance/"), any_signed_in),
    "guidance:detail": Entry("GET", guidance_url("/"), any_signed_in),
    "guidance:download": Entry("GET", guidance_url("/file"), any_signed_in),
    "guidance:create": Entry("GET", fixed("/guidance/new/"), guidance_editors),
    "guidance:edit": Entry("GET", guidance_url("/edit/"), guidance_editors),
    "guidance:delete": Entry("GET", guidance_url("/delete/"), guidance_editors),
    "GET /api/v1/guidance": Entry(
        "GET", fixed("/api/v1/guidance"), any_signed_in, api=True
    ),
    "GET /api/v1/guidance/{slug}": Entry(
        "GET", guidance_url(prefix="/api/v1/guidance/"), any_signed_in, api=True
    ),
    "POST /api/v1/guidance": Entry(
        "POST", fixed("/api/v1/guidance"), guidance_editors, guidance_body, api=True
    ),
    "PUT /api/v1/guidance/{slug}": Entry(
        "PUT",
        guidance_url(prefix="/api/v1/guidance/"),
        guidance_editors,
        guidance_body,
        api=True,
    ),
    # Multipart in real use; the matrix's JSON call reaches the role check
    # (an editor is then told to send the file: 400, "ok").
    "POST /api/v1/guidance/{slug}/file": Entry(
        "POST",
        guidance_url("/file", prefix="/api/v1/guidance/"),
        guidance_editors,
        api=True,
    ),
    "DELETE /api/v1/guidance/{slug}": Entry(
        "DELETE",
        guidance_url(prefix="/api/v1/guidance/"),
        guidance_editors,
        api=True,
    ),
    "GET /api/v1/directory": Entry(
        "GET", fixed("/api/v1/directory"), directory_readers, api=True
    ),
    "GET /api/v1/directory/{organisation_id}": Entry(
        "GET",
        directory_url(prefix="/api/v1/directory/"),
        directory_readers,
        api=True,
    ),
    "POST /api/v1/directory/{organisation_id}/capacity": Entry(
        "POST",
        directory_url("/capacity", prefix="/api/v1/directory/"),
        capacity_reporters,
        lambda w, _: {"places_total": 5, "places_free": 2},
        api=True,
    ),
    "PUT /api/v1/directory/{organisation_id}": Entry(
        "PUT",
        directory_url(prefix="/api/v1/directory/"),
        node_admin,
        lambda w, _: {"service_types": ["shelter"], "region": "Fictional Region"},
        api=True,
    ),
    # The node-to-node protocol (trm.exchange.protocol_urls): public, no session
    # or CSRF; a peer is authenticated by the signature inside what it sends
    # (src/trm/exchange/tests/test_inbox.py covers the anonymous calls). An
    # empty JSON body reaches the inbox's logic and is refused as malformed.
    "exchange_protocol:inbox": Entry(
        "POST", with_node_keys("/exchange/v1/messages"), anyone, api=True
    ),
    "exchange_protocol:batch": Entry(
        "POST", with_node_keys("/exchange/v1/batch"), anyone, api=True
    ),
    "exchange_protocol:well_known": Entry(
        "GET", with_node_keys("/.well-known/trm-node.json"), anyone
    ),
    # The exchange's pages and API (trm.exchange.views, trm.exchange.api).
    "regional_statistics:list": Entry(
        "GET", fixed("/statistics/regional/"), coordinators
    ),
    "regional_statistics:new": Entry(
        "GET", fixed("/statistics/regional/new/"), coordinators
    ),
    "regional_statistics:detail": Entry("GET", regional_request_url, coordinators),
    "exchange:peers": Entry("GET", fixed("/exchange/"), exchange_operators),
    "exchange:peer_add": Entry("GET", fixed("/exchange/add/"), node_admin),
    "exchange:peer_detail": Entry(
        "GET", exchange_url("/exchange/peers/{node}/"), exchange_operators
    ),
    "exchange:peer_disable": Entry(
        "GET", exchange_url("/exchange/peers/{node}/disable/"), node_admin
    ),
    "exchange:peer_enable": Entry(
        "GET", exchange_url("/exchange/peers/{node}/enable/"), node_admin
    ),
    "exchange:peer_refresh": Entry(
        "GET", exchange_url("/exchange/peers/{node}/refresh/"), node_admin
    ),
    "exchange:peer_remove": Entry(
        "GET", exchange_url("/exchange/peers/{node}/remove/"), node_admin
    ),
    "exchange:messages": Entry(
        "GET",
        exchange_url("/exchange/peers/{node}/messages/?status=dead"),
        exchange_operators,
    ),
    "exchange:message_detail": Entry(
        "GET",
        exchange_url("/exchange/peers/{node}/messages/out/{msg_id}/"),
        exchange_operators,
    ),
    "exchange:message_retry": Entry(
        "POST",
        exchange_url("/exchange/peers/{node}/messages/out/{msg_id}/retry/"),
        exchange_operators,
    ),
    "GET /api/v1/exchange/peers": Entry(
        "GET", fixed("/api/v1/exchange/peers"), exchange_operators, api=True
    ),
    "GET /api/v1/exchange/peers/{node_id}/messages": Entry(
        "GET",
        exchange_url("/api/v1/exchange/peers/{node}/messages?status=dead"),
        exchange_operators,
        api=True,
    ),
    "GET /api/v1/exchange/messages/{msg_id}": Entry(
        "GET",
        exchange_url("/api/v1/exchange/messages/{msg_id}"),
        exchange_operators,
        api=True,
    ),
    "POST /api/v1/exchange/messages/{msg_id}/retry": Entry(
        "POST",
        exchange_url("/api/v1/exchange/messages/{msg_id}/retry"),
        exchange_operators,
        api=True,
    ),
    # Screening pages and API (trm.screening).
    "screening:list": Entry("GET", case_url("screening/"), team_read),
    "screening:new": Entry("GET", case_url("screening/new/"), team_roles(SCREENERS)),
    "screening:detail": Entry("GET", screening_url(), team_read),
    "GET /api/v1/cases/{case_id}/screening/lists": Entry(
        "GET", api("/cases/{case_id}/screening/lists"), team_read, api=True
    ),
    "GET /api/v1/cases/{case_id}/screening": Entry(
        "GET", api("/cases/{case_id}/screening"), team_read, api=True
    ),
    "POST /api/v1/cases/{case_id}/screening": Entry(
        "POST",
        api("/cases/{case_id}/screening"),
        team_roles(SCREENERS),
        lambda w, _: {"exploitation": ["labour"], "responses": {}},
        api=True,
    ),
    "GET /api/v1/cases/{case_id}/screening/{screening_id}": Entry(
        "GET", screening_url(api_prefix="/api/v1"), team_read, api=True
    ),
}


# --- enumeration -------------------------------------------------------------


def _web_names() -> set[str]:
    names: set[str] = set()

    def walk(patterns: list[Any], namespace: str | None) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and namespace in NAMESPACES:
                names.add(f"{namespace}:{pattern.name}")

    walk(get_resolver().url_patterns, None)
    return names


def _api_operations() -> set[str]:
    from trm.api import api as ninja_api

    paths = ninja_api.get_openapi_schema()["paths"]
    return {
        f"{method.upper()} {path}"
        for path, operations in paths.items()
        if path.startswith(API_PREFIXES)
        for method in operations
    }


def test_every_endpoint_has_a_matrix_entry():
    endpoints = _web_names() | _api_operations()
    missing = sorted(endpoints - set(MATRIX))
    assert not missing, (
        "Pages or API operations without an access-matrix entry (add one to "
        f"tests/test_access_matrix.py saying who may use them): {missing}"
    )
    stale = sorted(set(MATRIX) - endpoints)
    assert not stale, f"Matrix entries for endpoints that no longer exist: {stale}"


def _call(client: Client, entry: Entry, world: World, which: str) -> int:
    url = entry.url(world, which)
    data = entry.data(world, which) if entry.data else {}
    method = entry.method.lower()
    if entry.api:
        kwargs: dict[str, Any] = {"content_type": "application/json"}
        if method in {"post", "put", "patch"}:
            kwargs["data"] = json.dumps(data)
        response = getattr(client, method)(url, **kwargs)
    elif method == "get":
        # Follow redirects: a page that redirects to one the user may not see
        # must end in the same refusal.
        response = client.get(url, follow=True)
    else:
        response = getattr(client, method)(url, data)
    return int(response.status_code)


def _outcome(status: int) -> Outcome:
    if status == 404:
        return "hidden"
    if status == 403:
        return "forbidden"
    if status == 401 or status >= 500:
        return f"error {status}"
    return "ok"


class _RollBack(Exception):
    """Leaves :func:`_each_endpoint_undone`'s savepoints, undoing the endpoint."""


@contextmanager
def _each_endpoint_undone() -> Iterator[None]:
    """Run one endpoint's calls inside savepoints on both databases (the main one
    and the keystore) and roll them back, so every endpoint meets the world as
    it was built. The savepoints count as the test's own (``_from_testcase``),
    so the services' durable transactions may run inside them as they do
    inside the test's transaction."""
    blocks = [transaction.atomic(using=alias) for alias in ("default", "keystore")]
    for block in blocks:
        block._from_testcase = True  # type: ignore[attr-defined]
    try:
        with blocks[0], blocks[1]:
            yield
            raise _RollBack
    except _RollBack:
        pass


@pytest.mark.parametrize("role", sorted(Role.values))
def test_access_matrix(role, signed_in):
    """Every endpoint of MATRIX for one role: the world is built once per role
    and each endpoint's requests are rolled back before the next (building it
    per endpoint and role took most of the suite's time). All differences are
    reported together, each as ``endpoint: observed != expected``."""
    world = build_world(role)
    client = signed_in(world.actor)
    differences = []
    for endpoint in sorted(MATRIX):
        entry = MATRIX[endpoint]
        with _each_endpoint_undone():
            # "other" first: a refused request must change nothing for "own".
            observed = {
                which: _outcome(_call(client, entry, world, which))
                for which in ("other", "own")
            }
        expected = {which: entry.rule(role, which) for which in ("other", "own")}
        if observed != expected:
            differences.append(f"{endpoint}: {observed} != expected {expected}")
    assert not differences, "\n".join(differences)


def test_matrix_pdf_fixture_is_a_pdf():
    assert base64.b64encode(PDF)


def test_matrix_png_fixture_is_a_png():
    assert PNG.startswith(b"\x89PNG\r\n\x1a\n")
    assert PNG.endswith(b"IEND\xaeB`\x82")
