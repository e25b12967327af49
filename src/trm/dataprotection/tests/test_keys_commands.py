import base64
import os
import stat
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from trm.cases import selectors
from trm.cases.tests.factories import open_case
from trm.common import keys
from trm.dataprotection import crypto
from trm.dataprotection.models import NodeKey
from trm.dataprotection.router import KEYSTORE
from trm.dataprotection.tests.node import COUNT_KEYS, OPEN_CASE, READ_CASE, Node

# `keys init` looks into the keystore: it never creates a key over existing keys.
pytestmark = pytest.mark.django_db


@pytest.fixture
def kek_file(settings, monkeypatch, tmp_path: Path) -> Path:
    """No TRM_KEK in the environment; the key file is a fresh temporary path."""
    monkeypatch.delenv("TRM_KEK", raising=False)
    path = tmp_path / "keys" / "kek.b64"
    settings.TRM_KEK_FILE = path
    return path


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


# --- trm keys init ------------------------------------------------------------------


def test_init_creates_a_private_32_byte_key_file(kek_file):
    out = StringIO()

    call_command("keys", "init", stdout=out)

    assert stat.S_IMODE(kek_file.stat().st_mode) == 0o600
    assert len(base64.b64decode(kek_file.read_text())) == 32
    assert str(kek_file) in out.getvalue()


def test_init_never_overwrites_an_existing_key(kek_file):
    call_command("keys", "init", stdout=StringIO())
    before = kek_file.read_bytes()

    with pytest.raises(CommandError, match="never replaced"):
        call_command("keys", "init", stdout=StringIO())

    assert kek_file.read_bytes() == before


def test_init_if_missing_keeps_the_existing_key(kek_file):
    call_command("keys", "init", stdout=StringIO())
    before = kek_file.read_bytes()

    call_command("keys", "init", "--if-missing", stdout=StringIO())

    assert kek_file.read_bytes() == before


def test_init_does_not_overwrite_an_unusable_key_file(kek_file):
    kek_file.parent.mkdir(parents=True)
    kek_file.write_text("not a key\n")

    with pytest.raises(CommandError, match="not overwritten"):
        call_command("keys", "init", "--if-missing", stdout=StringIO())

    assert kek_file.read_text() == "not a key\n"


def test_init_refuses_when_the_key_comes_from_the_environment(kek_file, monkeypatch):
    monkeypatch.setenv("TRM_KEK", _b64(os.urandom(32)))

    with pytest.raises(CommandError, match="TRM_KEK"):
        call_command("keys", "init", stdout=StringIO())

    assert not kek_file.exists()


def test_show_names_the_source_and_fingerprint_never_the_key(kek_file):
    call_command("keys", "init", stdout=StringIO())
    out = StringIO()

    call_command("keys", "show", stdout=out)

    kek = keys.load_kek()
    assert keys.kek_fingerprint(kek) in out.getvalue()
    assert str(kek_file) in out.getvalue()
    assert kek_file.read_text().strip() not in out.getvalue()


# --- trm keys rotate-kek (in process) -------------------------------------------------


def test_rotate_with_key_from_environment_needs_a_new_key_file(
    monkeypatch, tmp_path, caseworker_a
):
    monkeypatch.setenv("TRM_KEK", _b64(os.urandom(32)))

    with pytest.raises(CommandError, match="--new-key-file"):
        call_command("keys", "rotate-kek", stdout=StringIO())


def test_rotate_with_key_from_environment_writes_the_new_key_file(
    monkeypatch, tmp_path, caseworker_a
):
    monkeypatch.setenv("TRM_KEK", _b64(os.urandom(32)))
    crypto.forget_cached_keys()
    case = open_case(caseworker_a, given_names="Rotana", family_names="Envova-Fictiv")
    new_file = tmp_path / "new-kek.b64"

    call_command(
        "keys", "rotate-kek", "--new-key-file", str(new_file), stdout=StringIO()
    )

    monkeypatch.setenv("TRM_KEK", new_file.read_text().strip())
    crypto.forget_cached_keys()
    identity = selectors.person_identity_for_user(user=caseworker_a, case=case)
    assert identity is not None
    assert identity.family_names == "Envova-Fictiv"
    found = selectors.case_search(user=caseworker_a, name="Rotana Envova-Fictiv")
    assert list(found) == [case]


def test_init_refuses_a_new_key_over_a_keystore_that_holds_keys(kek_file):
    NodeKey.objects.using(KEYSTORE).create(
        purpose="totp", wrapped=b"x" * 60, kek_fingerprint="f" * 32
    )

    with pytest.raises(CommandError, match="f" * 32):
        call_command("keys", "init", "--if-missing", stdout=StringIO())

    assert not kek_file.exists()


def test_rotate_refuses_when_a_staged_key_exists(kek_file, caseworker_a):
    call_command("keys", "init", stdout=StringIO())
    crypto.node_key("totp")
    staged = kek_file.with_name("kek.b64.new")
    staged.write_text("left over\n")
    before = kek_file.read_bytes()

    with pytest.raises(CommandError, match="interrupted rotation"):
        call_command("keys", "rotate-kek", stdout=StringIO())

    assert kek_file.read_bytes() == before
    assert staged.read_text() == "left over\n"
    assert crypto.stored_kek_fingerprint() == keys.kek_fingerprint(keys.load_kek())


# --- in a fresh process: start-up check and rotation end to end -----------------------


IDENTITY = (
    '{"given_names": "Rotana", "family_names": "Keyova-Fictiv",'
    ' "birth_date": "1990-02-03"}'
)


@pytest.mark.slow
def test_node_started_with_another_kek_fails_its_check_with_e002(tmp_path):
    # A fresh node whose KEK comes from TRM_KEK: `trm migrate` must create the
    # data directory itself (no `trm keys init` ran).
    node = Node(tmp_path / "data", kek=_b64(os.urandom(32)))
    node.start()
    node.python("from trm.dataprotection.crypto import node_key\nnode_key('totp')")
    assert "no issues" in node.ok("check")

    result = node.run("check", TRM_KEK=_b64(os.urandom(32)))

    assert result.returncode != 0
    assert "trm.E002" in result.stderr
    assert "Restore the right key file" in result.stderr


@pytest.mark.slow
def test_rotate_kek_end_to_end_replaces_the_file_and_keeps_data_readable(tmp_path):
    node = Node(tmp_path / "data")
    node.start()
    case_id = node.python(OPEN_CASE, IDENTITY_JSON=IDENTITY).strip()
    old_key = node.kek_file.read_text().strip()

    live_keys = node.python(COUNT_KEYS).strip()

    out = node.ok("keys", "rotate-kek")

    assert f"Re-wrapped {live_keys} keys" in out
    new_key = node.kek_file.read_text().strip()
    assert new_key != old_key
    assert stat.S_IMODE(node.kek_file.stat().st_mode) == 0o600
    retired = list(node.kek_file.parent.glob("kek.b64.retired-*"))
    assert [r.read_text().strip() for r in retired] == [old_key]
    assert not node.kek_file.with_name("kek.b64.new").exists()
    # A restarted node reads the data with the new key …
    assert "no issues" in node.ok("check")
    identity_json, hits = node.python(
        READ_CASE, CASE_ID=case_id, SEARCH_NAME="Keyova-Fictiv Rotana"
    ).splitlines()
    assert '"family_names":"Keyova-Fictiv"' in identity_json
    assert '"birth_date":"1990-02-03"' in identity_json
    assert hits == "1"
    # … and the retired key no longer opens the keystore.
    stale = node.run("check", TRM_KEK=old_key)
    assert stale.returncode != 0
    assert "trm.E002" in stale.stderr
