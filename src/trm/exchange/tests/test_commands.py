"""``trm keys init | show | rotate`` (exchange keys) and ``trm peers``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from trm.audit.models import AuditEntry
from trm.exchange import nodekeys, peers
from trm.exchange.models import ExchangeKey, KeyUse, Peer, PeerStatus
from trm.exchange.tests.remote_nodes import (
    DocumentServer,
    RemoteNode,
    new_key,
    outgoing,
)

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def fresh_keys() -> Iterator[None]:
    nodekeys.forget_cached_keys()
    yield
    nodekeys.forget_cached_keys()


@pytest.fixture
def own_keys(fresh_keys: None) -> None:
    nodekeys.init_keys()


@pytest.fixture
def remote() -> RemoteNode:
    return RemoteNode()


@pytest.fixture
def served(remote: RemoteNode) -> Iterator[DocumentServer]:
    server = DocumentServer(remote.document)
    yield server
    server.close()


# --- trm keys ---------------------------------------------------------------------


def test_keys_init_if_missing_creates_the_exchange_keys_once(fresh_keys):
    first = run("keys", "init", "--if-missing")
    second = run("keys", "init", "--if-missing")

    assert nodekeys.has_keys()
    fingerprint = nodekeys.fingerprint()
    assert f"Fingerprint to give to peers: {fingerprint}" in first
    assert second == ""
    assert ExchangeKey.objects.count() == 2
    assert AuditEntry.objects.filter(action="exchange.keys_created").count() == 1


def test_keys_init_never_replaces_the_kek_and_names_the_missing_exchange_keys(
    fresh_keys,
):
    with pytest.raises(CommandError, match="--if-missing` creates them"):
        run("keys", "init")

    assert not ExchangeKey.objects.exists()


def test_keys_show_gives_the_node_id_the_kids_and_the_fingerprint(own_keys):
    out = run("keys", "show")

    sig = nodekeys.current(KeyUse.SIGNING).kid
    enc = nodekeys.current(KeyUse.ENCRYPTION).kid
    lines = out.splitlines()
    assert lines[0].startswith("key-encryption key from the TRM_KEK environment")
    assert "node id: test-node (country BG)" in lines
    assert f"exchange signing key: {sig}" in lines
    assert f"exchange encryption key: {enc}" in lines
    assert f"fingerprint to give to peers: {sig}" in lines


def test_keys_show_without_exchange_keys_says_how_to_make_them(fresh_keys):
    out = run("keys", "show")

    assert "exchange keys: none yet" in out
    assert "trm keys init --if-missing" in out


def test_keys_rotate_replaces_the_keys_and_reminds_of_peers_refresh(own_keys):
    old = nodekeys.current(KeyUse.SIGNING)

    out = run("keys", "rotate")

    new = nodekeys.fingerprint()
    assert new != old.kid
    assert f"New fingerprint to give to peers: {new} (was {old.kid})" in out
    assert "trm peers refresh test-node" in out
    old.refresh_from_db()
    assert old.retired_at is not None  # kept to verify old receipts
    assert ExchangeKey.objects.filter(retired_at__isnull=True).count() == 2
    assert AuditEntry.objects.filter(action="exchange.keys_rotated").count() == 1
    # A peer that trusts only the old key accepts the new document (continuity).
    document = nodekeys.published()
    assert document["fingerprint"] == new
    assert peers.verified_signers(document, {old.kid: old.public_jwk}) == {old.kid}


def test_keys_rotate_without_keys_refuses(fresh_keys):
    with pytest.raises(CommandError, match="no exchange keys"):
        run("keys", "rotate")


def test_keys_rotate_kek_is_still_a_separate_action(own_keys, tmp_path):
    # `rotate` is not taken for a prefix of `rotate-kek` (nor the reverse).
    with pytest.raises(CommandError, match="TRM_KEK"):
        run("keys", "rotate-kek")


# --- a fresh node, in its own processes --------------------------------------------

_TRM_SCRIPT = Path(sys.executable).with_name("trm")
TRM = [str(_TRM_SCRIPT)] if _TRM_SCRIPT.exists() else [sys.executable, "-m", "trm.cli"]


def _trm(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(data_dir.parent),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "DJANGO_SETTINGS_MODULE": "trm.settings",
        "TRM_ENV": "production",
        "TRM_SECRET_KEY": "fictional-keys-test-secret-" + "k" * 32,
        "TRM_NODE_ID": "fictional-keys-node",
        "TRM_COUNTRY": "BG",
        "TRM_ALLOWED_HOSTS": "trm.example.invalid",
        "TRM_DATA_DIR": str(data_dir),
    }
    return subprocess.run(  # noqa: S603 - fixed argv, no shell
        [*TRM, *args],
        env=env,
        cwd=data_dir.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_a_new_node_gets_its_exchange_keys_from_migrate(tmp_path):
    data_dir = tmp_path / "data"

    init = _trm(data_dir, "keys", "init", "--if-missing")
    migrate = _trm(data_dir, "migrate", "--noinput")
    again = _trm(data_dir, "keys", "init", "--if-missing")
    show = _trm(data_dir, "keys", "show")

    assert init.returncode == 0, init.stderr
    assert "not migrated yet" in init.stdout
    assert migrate.returncode == 0, migrate.stderr
    assert "Fingerprint to give to peers: " in migrate.stdout
    fingerprint = migrate.stdout.split("Fingerprint to give to peers: ")[1].split()[0]
    assert again.returncode == 0, again.stderr
    assert again.stdout == ""
    assert show.returncode == 0, show.stderr
    assert f"fingerprint to give to peers: {fingerprint}" in show.stdout
    assert "node id: fictional-keys-node" in show.stdout


# --- trm peers --------------------------------------------------------------------


def test_peers_add_trusts_the_node_after_the_fingerprint_check(
    own_keys, remote, served
):
    out = run("peers", "add", served.url + "/", f"--fingerprint={remote.fingerprint}")

    peer = Peer.objects.get()
    assert peer.node_id == "fictional-md"
    assert peer.base_url == served.url
    assert f"Added peer fictional-md (Fictional Moldovan node, MD) at {served.url}" in (
        out
    )
    assert "organisations: 2 new" in out


def test_peers_add_refuses_a_wrong_fingerprint(own_keys, remote, served):
    wrong = new_key("sig")[1]["kid"]

    with pytest.raises(CommandError) as caught:
        run("peers", "add", served.url, f"--fingerprint={wrong}")

    assert wrong in str(caught.value)
    assert remote.fingerprint in str(caught.value)
    assert not Peer.objects.exists()


def test_peers_add_takes_a_fingerprint_that_begins_with_a_dash():
    from trm.exchange.management.commands.peers import Command, bind_fingerprint

    url = "http://127.0.0.1:9"
    wrong = "-Fictional0fingerprint0beginning0with0a0dash00"
    argv = ["trm", "peers", "add", url, "--fingerprint", wrong]

    bound = bind_fingerprint(argv)
    options = Command().create_parser("trm", "peers").parse_args(bound[2:])

    # Written as two words, as the README says, it is the flag's value.
    assert bound[-1] == f"--fingerprint={wrong}"
    assert (options.action, options.url, options.fingerprint) == ("add", url, wrong)
    with pytest.raises(CommandError, match="expected one argument"):
        # What argparse alone makes of it.
        Command().create_parser("trm", "peers").parse_args(argv[2:])


def test_peers_add_says_when_nothing_answers(own_keys, remote, served):
    url = served.url
    served.close()

    with pytest.raises(CommandError, match="could not be reached"):
        run("peers", "add", url, f"--fingerprint={remote.fingerprint}")


def test_peers_list_and_show(own_keys, remote, served):
    assert "No peers yet" in run("peers", "list")
    run("peers", "add", served.url, f"--fingerprint={remote.fingerprint}")

    listed = run("peers", "list")
    shown = run("peers", "show", "fictional-md")

    assert listed.split("\t") == [
        "fictional-md",
        "active",
        "MD",
        served.url,
        remote.fingerprint + "\n",
    ]
    assert f"fingerprint: {remote.fingerprint}" in shown
    assert f"  sig {remote.fingerprint} current" in shown
    assert "organisations: 2 active, 0 inactive" in shown


def test_peers_disable_and_enable(own_keys, remote, served):
    run("peers", "add", served.url, f"--fingerprint={remote.fingerprint}")

    disabled = run("peers", "disable", "fictional-md")
    assert Peer.objects.get().status == PeerStatus.DISABLED
    again = run("peers", "disable", "fictional-md")
    enabled = run("peers", "enable", "fictional-md")

    assert "Disabled peer fictional-md" in disabled
    assert "already disabled" in again
    assert "Enabled peer fictional-md" in enabled
    assert Peer.objects.get().status == PeerStatus.ACTIVE


def test_peers_remove_is_refused_while_messages_exist(own_keys, remote, served):
    run("peers", "add", served.url, f"--fingerprint={remote.fingerprint}")
    outgoing(Peer.objects.get())

    with pytest.raises(CommandError, match="Disable it instead"):
        run("peers", "remove", "fictional-md")

    assert Peer.objects.exists()


def test_peers_remove(own_keys, remote, served):
    run("peers", "add", served.url, f"--fingerprint={remote.fingerprint}")

    out = run("peers", "remove", "fictional-md")

    assert "Removed peer fictional-md" in out
    assert not Peer.objects.exists()


def test_peers_refresh_takes_rotated_keys(own_keys, remote, served):
    run("peers", "add", served.url, f"--fingerprint={remote.fingerprint}")
    new = remote.rotate()

    out = run("peers", "refresh", "fictional-md")

    assert (
        f"Refreshed peer fictional-md (Fictional Moldovan node, MD): fingerprint "
        f"{new}; new keys:"
    ) in out
    assert "retired:" in out
    assert Peer.objects.get().fingerprint == new


def test_peers_refresh_after_a_broken_chain_needs_the_new_fingerprint(
    own_keys, remote, served
):
    run("peers", "add", served.url, f"--fingerprint={remote.fingerprint}")
    remote.rotate()
    new = remote.rotate()

    with pytest.raises(CommandError, match="not signed by any key"):
        run("peers", "refresh", "fictional-md")
    run("peers", "refresh", "fictional-md", f"--fingerprint={new}")

    assert Peer.objects.get().fingerprint == new


def test_peers_refresh_refuses_a_new_country_until_confirmed(own_keys, remote, served):
    run("peers", "add", served.url, f"--fingerprint={remote.fingerprint}")
    remote.country = "RO"

    with pytest.raises(CommandError, match="--country RO"):
        run("peers", "refresh", "fictional-md")
    assert Peer.objects.get().country == "MD"
    out = run("peers", "refresh", "fictional-md", "--country", "RO")

    assert "Refreshed peer fictional-md (Fictional Moldovan node, RO)" in out
    assert Peer.objects.get().country == "RO"


@pytest.mark.parametrize("action", ["show", "disable", "enable", "remove", "refresh"])
def test_peers_actions_on_an_unknown_node(own_keys, action: str):
    with pytest.raises(CommandError, match="No peer fictional-none"):
        run("peers", action, "fictional-none")
