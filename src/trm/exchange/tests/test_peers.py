"""Peers: adding only after the fingerprint check, key continuity on refresh,
mirrored organisations, disable/enable/remove (trm.exchange.peers)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.utils import timezone

from trm.accounts.errors import NotNodeAdministrator
from trm.accounts.models import Organisation
from trm.accounts.tests.factories import OrganisationFactory
from trm.audit.models import AuditEntry
from trm.exchange import nodekeys, peers
from trm.exchange.errors import (
    FingerprintMismatch,
    KeyContinuityBroken,
    PeerCountryChanged,
    PeerDocumentInvalid,
    PeerExists,
    PeerInputInvalid,
    PeerInUse,
    PeerIsThisNode,
    PeerNotFound,
    PeerUnreachable,
)
from trm.exchange.models import (
    InboxMessage,
    InboxStatus,
    KeyUse,
    OutboxMessage,
    Peer,
    PeerStatus,
)
from trm.exchange.tests.remote_nodes import RemoteNode, new_key

pytestmark = pytest.mark.django_db
URL = "https://md.trm.example.invalid"


@pytest.fixture
def own_keys(db: Any) -> Iterator[None]:
    nodekeys.forget_cached_keys()
    nodekeys.init_keys()
    yield
    nodekeys.forget_cached_keys()


@pytest.fixture
def remote() -> RemoteNode:
    return RemoteNode()


def add(remote: RemoteNode, **kwargs: Any) -> peers.PeerChange:
    kwargs.setdefault("url", URL)
    kwargs.setdefault("fingerprint", remote.fingerprint)
    return peers.peer_add(client=remote.client(), **kwargs)


def refresh(remote: RemoteNode, **kwargs: Any) -> peers.PeerChange:
    return peers.peer_refresh(node_id=remote.node_id, client=remote.client(), **kwargs)


# --- adding -----------------------------------------------------------------------


def test_add_stores_the_peer_with_its_public_keys(own_keys, remote):
    change = add(remote, url=URL + "/")

    peer = Peer.objects.get(node_id="fictional-md")
    assert change.peer == peer
    assert peer.base_url == URL  # normalised: no trailing slash
    assert peer.country == "MD"
    assert peer.name == "Fictional Moldovan node"
    assert peer.fingerprint == remote.fingerprint
    assert peer.status == PeerStatus.ACTIVE
    assert {(k["use"], k["kid"]) for k in peer.keys} == {
        ("sig", remote.public_jwk("sig")["kid"]),
        ("enc", remote.public_jwk("enc")["kid"]),
    }
    assert all("d" not in k for k in peer.keys)  # public members only
    entry = AuditEntry.objects.get(action="exchange.peer_added")
    assert entry.target_id == "fictional-md"


def test_add_refuses_a_fingerprint_mismatch_naming_expected_and_found(own_keys, remote):
    wrong = new_key("sig")[1]["kid"]

    with pytest.raises(FingerprintMismatch) as caught:
        add(remote, fingerprint=wrong)

    assert caught.value.code == "exchange.fingerprint_mismatch"
    assert wrong in caught.value.message
    assert remote.fingerprint in caught.value.message
    assert caught.value.details == {"expected": wrong, "found": remote.fingerprint}
    assert not Peer.objects.exists()
    assert not Organisation.objects.filter(home_node="fictional-md").exists()


def test_add_never_trusts_a_document_that_only_claims_the_fingerprint(own_keys, remote):
    # An impostor publishes the real node's fingerprint with its own keys.
    real = RemoteNode()
    remote.fingerprint_override = real.fingerprint

    with pytest.raises(FingerprintMismatch, match="no current signing key"):
        add(remote, fingerprint=real.fingerprint)

    assert not Peer.objects.exists()


def test_add_refuses_the_real_keys_signed_by_anothernew_key(own_keys, remote):
    # An impostor copies the real node's public keys but cannot sign with them.
    impostor_key = new_key("sig")[0]
    remote.signers = [impostor_key]

    with pytest.raises(PeerDocumentInvalid) as caught:
        add(remote)

    assert caught.value.details["reason"] == "bad_signature"
    assert not Peer.objects.exists()


def test_add_refuses_a_document_altered_after_signing(own_keys, remote):
    def alter(document: dict[str, Any]) -> None:
        document["organisations"][0]["name"] = "Fictional Substituted Office"

    remote.after_signing = alter

    with pytest.raises(PeerDocumentInvalid):
        add(remote)

    assert not Peer.objects.exists()


def test_add_refuses_a_retired_signing_key_as_fingerprint(own_keys, remote):
    old = remote.fingerprint
    remote.rotate()
    remote.fingerprint_override = old  # the document names the retired key

    with pytest.raises(FingerprintMismatch):
        add(remote, fingerprint=old)


def test_add_refuses_this_node_itself(own_keys):
    document = nodekeys.published()
    client = httpx.Client(
        transport=httpx.MockTransport(
            lambda request: httpx.Response(200, json=document)
        )
    )

    with pytest.raises(PeerIsThisNode):
        peers.peer_add(url=URL, fingerprint=document["fingerprint"], client=client)

    assert not Peer.objects.exists()


def test_add_refuses_a_node_already_added(own_keys, remote):
    add(remote)

    with pytest.raises(PeerExists):
        add(remote, url="https://other-address.example.invalid")

    assert Peer.objects.count() == 1


def test_add_refuses_a_key_already_trusted_for_another_node(own_keys, remote):
    add(remote)
    remote.node_id = "fictional-md-2"

    with pytest.raises(PeerExists, match="fictional-md"):
        add(remote)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://md.example.invalid",
        "md.example.invalid",
        "https://user:pw@md.example.invalid",
        "https://md.example.invalid/?x=1",
        "",
    ],
)
def test_add_refuses_a_malformed_address(own_keys, remote, url):
    with pytest.raises(PeerInputInvalid) as caught:
        add(remote, url=url)

    assert caught.value.details == {"field": "url"}


def test_add_refuses_a_malformed_fingerprint(own_keys, remote):
    with pytest.raises(PeerInputInvalid) as caught:
        add(remote, fingerprint="not a fingerprint")

    assert caught.value.details == {"field": "fingerprint"}


def test_add_accepts_a_fingerprint_read_out_with_spaces(own_keys, remote):
    spaced = " ".join(
        remote.fingerprint[i : i + 4] for i in range(0, len(remote.fingerprint), 4)
    )

    add(remote, fingerprint=spaced)

    assert Peer.objects.get().fingerprint == remote.fingerprint


def test_add_says_when_the_peer_cannot_be_reached(own_keys, remote):
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = httpx.Client(transport=httpx.MockTransport(down))

    with pytest.raises(PeerUnreachable) as caught:
        peers.peer_add(url=URL, fingerprint=remote.fingerprint, client=client)

    assert caught.value.details == {"reason": "ConnectError"}


def test_add_says_when_the_peer_answers_an_error(own_keys, remote):
    client = httpx.Client(
        transport=httpx.MockTransport(lambda request: httpx.Response(503))
    )

    with pytest.raises(PeerUnreachable, match="503"):
        peers.peer_add(url=URL, fingerprint=remote.fingerprint, client=client)


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"node_id": "x"}'])
def test_add_refuses_a_malformed_document(own_keys, remote, body):
    client = httpx.Client(
        transport=httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    )

    with pytest.raises(PeerDocumentInvalid):
        peers.peer_add(url=URL, fingerprint=remote.fingerprint, client=client)


def test_add_refuses_a_published_privatenew_key(own_keys, remote):
    def leak(document: dict[str, Any]) -> None:
        document["keys"][0]["d"] = "AAAA"

    remote.after_signing = leak

    with pytest.raises(PeerDocumentInvalid, match="private_key_published"):
        add(remote)


def test_only_a_node_administrator_adds_a_peer(own_keys, remote, caseworker_a):
    with pytest.raises(NotNodeAdministrator):
        add(remote, actor=caseworker_a)

    assert not Peer.objects.exists()


def test_a_node_administrator_adds_a_peer(own_keys, remote, admin_user):
    add(remote, actor=admin_user)

    entry = AuditEntry.objects.get(action="exchange.peer_added")
    assert entry.actor_id == admin_user.pk


# --- organisations ----------------------------------------------------------------


def test_add_mirrors_the_peers_organisations_with_their_remote_ids(own_keys, remote):
    change = add(remote)

    mirrored = Organisation.objects.filter(home_node="fictional-md").order_by("name")
    assert [
        (o.name, str(o.remote_id), o.country.code, o.functions) for o in mirrored
    ] == [
        (e["name"], e["id"], "MD", e["functions"])
        for e in sorted(remote.organisations, key=lambda e: e["name"])
    ]
    assert change.organisations.created == 2


def test_a_mirrored_name_taken_here_gets_the_node_id(own_keys, remote):
    OrganisationFactory(name="Fictional Chisinau Shelter")

    add(remote)

    shelter = Organisation.objects.get(
        home_node="fictional-md", remote_id=remote.organisations[0]["id"]
    )
    assert shelter.name == "Fictional Chisinau Shelter (fictional-md)"


def test_invalid_organisation_entries_are_skipped(own_keys, remote):
    remote.organisations.append({"id": "not-a-uuid", "name": "Fictional X"})
    remote.organisations.append(
        {
            "id": str(uuid.uuid4()),
            "name": "Fictional Y",
            "country": "MD",
            "org_type": "NoSuchType",
            "functions": [],
        }
    )

    change = add(remote)

    assert change.organisations.created == 2
    assert change.organisations.skipped == 2


def test_published_document_lists_this_nodes_active_organisations_only(own_keys):
    local = OrganisationFactory(name="Fictional Local Shelter", functions=["SP"])
    OrganisationFactory(name="Fictional Closed Office", is_active=False)
    OrganisationFactory(
        name="Fictional Mirrored Office",
        home_node="fictional-md",
        remote_id=uuid.uuid4(),
    )

    document = nodekeys.published()

    assert document["organisations"] == [
        {
            "id": str(local.pk),
            "name": "Fictional Local Shelter",
            "country": "BG",
            "org_type": "NGO",
            "functions": ["SP"],
        }
    ]
    own = nodekeys.current(KeyUse.SIGNING).public_jwk
    assert peers.verified_signers(document, {own["kid"]: own}) == {own["kid"]}


# --- refreshing -------------------------------------------------------------------


def test_refresh_accepts_rotated_keys_signed_by_a_trustednew_key(own_keys, remote):
    add(remote)
    old_sig = remote.fingerprint
    old_enc = remote.public_jwk("enc")["kid"]
    new_sig = remote.rotate()

    change = refresh(remote)

    peer = Peer.objects.get()
    assert peer.fingerprint == new_sig
    assert change.fingerprint_changed
    keys = {k["kid"]: k for k in peer.keys}
    assert set(change.new_keys) == {new_sig, remote.public_jwk("enc")["kid"]}
    assert "retired_at" not in keys[new_sig]
    assert keys[old_sig]["retired_at"]  # kept, to verify old receipts
    assert keys[old_enc]["retired_at"]
    assert AuditEntry.objects.filter(action="exchange.peer_refreshed").count() == 1


def test_refresh_refuses_a_document_signed_only_by_unknown_keys(own_keys, remote):
    add(remote)
    before = Peer.objects.get().keys
    remote.rotate()
    remote.rotate()  # two rotations: no key this node trusts signs any more

    with pytest.raises(KeyContinuityBroken) as caught:
        refresh(remote)

    assert caught.value.details["found"] == remote.fingerprint
    peer = Peer.objects.get()
    assert peer.keys == before
    assert peer.fingerprint != remote.fingerprint


def test_refresh_refuses_keys_swapped_by_an_impostor(own_keys, remote):
    add(remote)
    impostor = RemoteNode()  # same node id, its own keys, served at the address

    with pytest.raises(KeyContinuityBroken):
        refresh(impostor)

    assert Peer.objects.get().fingerprint == remote.fingerprint


def test_refresh_with_a_fingerprint_checked_out_of_band_restores_trust(
    own_keys, remote
):
    add(remote)
    remote.rotate()
    new = remote.rotate()

    refresh(remote, fingerprint=new)

    assert Peer.objects.get().fingerprint == new


def test_refresh_with_a_wrong_fingerprint_changes_nothing(own_keys, remote):
    add(remote)
    remote.rotate()
    remote.rotate()

    with pytest.raises(FingerprintMismatch):
        refresh(remote, fingerprint=new_key("sig")[1]["kid"])

    assert Peer.objects.get().fingerprint != remote.fingerprint


def test_refresh_refuses_another_node_at_the_address(own_keys, remote):
    add(remote)
    remote.node_id = "fictional-ro"

    with pytest.raises(PeerDocumentInvalid, match="fictional-ro"):
        peers.peer_refresh(node_id="fictional-md", client=remote.client())


def test_refresh_updates_and_deactivates_organisations(own_keys, remote):
    add(remote)
    dropped = remote.organisations.pop()
    remote.organisations[0]["name"] = "Fictional Chisinau Shelter Renamed"

    change = refresh(remote)

    assert change.organisations.updated == 1
    assert change.organisations.deactivated == 1
    assert not Organisation.objects.get(remote_id=dropped["id"]).is_active
    assert (
        Organisation.objects.get(remote_id=remote.organisations[0]["id"]).name
        == "Fictional Chisinau Shelter Renamed"
    )


def test_refresh_refuses_a_change_of_country_and_audits_it(own_keys, remote):
    """Consents name the recipient country: a peer cannot change it silently."""
    add(remote)
    new_sig = remote.rotate()
    remote.country = "RO"

    with pytest.raises(PeerCountryChanged) as caught:
        refresh(remote)

    assert caught.value.details == {
        "node": "fictional-md",
        "country": "MD",
        "found": "RO",
    }
    assert "--country RO" in caught.value.message
    assert "channel you trust" in caught.value.message
    peer = Peer.objects.get()
    assert peer.country == "MD"
    assert peer.fingerprint != new_sig  # nothing else was taken either
    assert not AuditEntry.objects.filter(action="exchange.peer_refreshed").exists()
    assert AuditEntry.objects.filter(
        action="exchange.peer_country_change_refused", target_id="fictional-md"
    ).exists()


def test_refresh_takes_a_new_country_confirmed_out_of_band(own_keys, remote):
    add(remote)
    remote.country = "RO"

    with pytest.raises(PeerCountryChanged):
        refresh(remote, country="BG")  # not the one it declares
    refresh(remote, country=" ro ")

    assert Peer.objects.get().country == "RO"


def test_refresh_refuses_a_malformed_country(own_keys, remote):
    add(remote)

    with pytest.raises(PeerInputInvalid) as caught:
        refresh(remote, country="Moldova")

    assert caught.value.details == {"field": "country"}


def test_a_refresh_that_keeps_the_country_needs_no_confirmation(own_keys, remote):
    add(remote)
    remote.name = "Fictional Moldovan node, renamed"

    refresh(remote)

    peer = Peer.objects.get()
    assert (peer.name, peer.country) == ("Fictional Moldovan node, renamed", "MD")


def test_an_automatic_refresh_never_changes_the_country(own_keys, remote):
    from datetime import timedelta

    from trm.exchange import delivery

    add(remote)
    remote.country = "RO"
    Peer.objects.update(
        refresh_requested_at=timezone.now(),
        updated_at=timezone.now() - timedelta(hours=1),
    )

    counts = delivery.refresh_requested_peers(client=remote.client())

    assert counts == {"refreshed": 0, "failed": 1}
    assert Peer.objects.get().country == "MD"
    assert AuditEntry.objects.filter(action="exchange.peer_refresh_failed").exists()


def test_refresh_of_an_unknown_peer(own_keys, remote):
    with pytest.raises(PeerNotFound):
        refresh(remote)


# --- disable, enable, remove ----------------------------------------------------


def _outgoing(peer: Peer) -> OutboxMessage:
    now = timezone.now()
    return OutboxMessage.objects.create(
        peer=peer,
        type="fictional.note",
        legal_basis="pseudonymous",
        payload_sealed=b"x",
        payload_digest="0" * 64,
        next_attempt_at=now,
        created_at=now,
    )


def test_disable_and_enable_are_audited(own_keys, remote):
    add(remote)

    peers.peer_disable(node_id="fictional-md")
    assert Peer.objects.get().status == PeerStatus.DISABLED
    peers.peer_disable(node_id="fictional-md")  # again: nothing to record
    peers.peer_enable(node_id="fictional-md")

    assert Peer.objects.get().status == PeerStatus.ACTIVE
    actions = list(
        AuditEntry.objects.filter(target_type="exchange.peer")
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == [
        "exchange.peer_added",
        "exchange.peer_disabled",
        "exchange.peer_enabled",
    ]


def test_remove_is_refused_while_the_peer_has_messages(own_keys, remote):
    peer = add(remote).peer
    _outgoing(peer)

    with pytest.raises(PeerInUse, match="Disable it instead"):
        peers.peer_remove(node_id="fictional-md")

    assert Peer.objects.filter(node_id="fictional-md").exists()


def test_remove_is_refused_with_received_messages_too(own_keys, remote):
    peer = add(remote).peer
    InboxMessage.objects.create(
        peer=peer,
        msg_id=uuid.uuid4(),
        type="fictional.note",
        legal_basis="pseudonymous",
        envelope_digest="0" * 64,
        status=InboxStatus.APPLIED,
        received_at=timezone.now(),
        receipt="x",
    )

    with pytest.raises(PeerInUse):
        peers.peer_remove(node_id="fictional-md")


def test_remove_forgets_the_peer_and_deactivates_its_organisations(own_keys, remote):
    add(remote)

    peers.peer_remove(node_id="fictional-md")

    assert not Peer.objects.exists()
    assert not Organisation.objects.filter(
        home_node="fictional-md", is_active=True
    ).exists()
    assert AuditEntry.objects.filter(action="exchange.peer_removed").exists()


def test_remove_of_an_unknown_peer(own_keys):
    with pytest.raises(PeerNotFound):
        peers.peer_remove(node_id="fictional-none")
