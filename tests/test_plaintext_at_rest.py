"""Done when: a database dump holds no plaintext personal data (ARCHITECTURE §4).

A person with unique synthetic values is written through ``services.case_open``
(plus a note and a consent declaration); then the stored bytes are searched:

* the raw SQLite files of a real node in a subprocess (main database, keystore,
  their write-ahead logs), which also holds pages SQLite has freed;
* the test databases themselves: ``VACUUM INTO`` copies on SQLite, ``pg_dump``
  on PostgreSQL.

A positive control (a non-personal value that must be found) proves each search
really reads the data.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from datetime import date
from pathlib import Path

import pytest
from django.db import connections

from trm.cases import services
from trm.cases.identity import IdentityDocument, PersonIdentity
from trm.consent import services as consent
from trm.dataprotection.tests.node import Node

BIRTH = date(1987, 3, 14)


def _identity(tag: str) -> PersonIdentity:
    return PersonIdentity(
        given_names=f"Zorvika{tag}",
        family_names=f"Quendrel{tag}-Fictiv",
        aliases=[f"Zorka{tag}"],
        birth_date=BIRTH,
        place_of_birth=f"Vellin{tag}",
        documents=[IdentityDocument(kind="passport", number=f"ZZ7{tag[:5]}")],
        phones=["+44 7700 900417"],
        addresses=[f"12 Quorrin{tag} Lane, Fictiv"],
    )


def _needles(identity: PersonIdentity) -> list[bytes]:
    values = [
        identity.given_names,
        identity.family_names,
        identity.family_names.split("-")[0],
        *identity.aliases,
        identity.place_of_birth,
        *(d.number for d in identity.documents),
        *identity.phones,
        "7700900417",
        "7700 900417",
        *identity.addresses,
        BIRTH.isoformat(),
        BIRTH.strftime("%d.%m.%Y"),
        BIRTH.strftime("%Y%m%d"),
    ]
    forms = {v for value in values for v in (value, value.lower(), value.upper())}
    return sorted(form.encode() for form in forms)


def _assert_no_plaintext(blob: bytes, identity: PersonIdentity, where: str) -> None:
    found = [n.decode() for n in _needles(identity) if n in blob]
    assert found == [], f"plaintext in {where}: {found}"
    # UTF-16 too, in case a driver or dump stores text that way.
    name16 = identity.family_names.encode("utf-16-le")
    assert name16 not in blob, where


def _tag() -> str:
    return uuid.uuid4().hex[:8].upper()


# --- a real node's SQLite files -------------------------------------------------------

WRITE_PERSON = """
from trm.accounts.models import Membership, Organisation, Role, User
from trm.cases import services
from trm.cases.identity import PersonIdentity
from trm.consent import services as consent
org = Organisation.objects.create(
    name=ORG_NAME, country="BG", org_type="NGO", functions=["SP"]
)
user = User.objects.create(username="plaintext-test", organisation=org)
Membership.objects.create(user=user, role=Role.CASE_MANAGER)
identity = PersonIdentity.model_validate_json(IDENTITY_JSON)
case = services.case_open(actor=user, identity=identity)
services.case_note_add(actor=user, case_id=case.pk, text=NOTE)
consent.consent_record(
    actor=user, case_id=case.pk, purpose="referral", categories=["identity"],
    given_by="person", language="ro", recipient_country="BG", declaration=NOTE,
)
services.person_update_identity(actor=user, case_id=case.pk, identity=identity)
"""


@pytest.mark.slow
def test_sqlite_files_of_a_node_hold_no_plaintext(tmp_path):
    tag = _tag()
    identity = _identity(tag)
    org_name = f"Fictional Control Org {tag}"
    node = Node(tmp_path / "data")
    node.start()

    node.python(
        WRITE_PERSON,
        ORG_NAME=org_name,
        IDENTITY_JSON=identity.model_dump_json(),
        NOTE=f"Met {identity.given_names} at 12 Quorrin{tag} Lane",
    )

    files = sorted(p for p in node.data_dir.rglob("*.sqlite3*") if p.is_file())
    names = {p.name for p in files}
    assert {"trm.sqlite3", "keystore.sqlite3"} <= names, names
    everything = b""
    for path in files:
        blob = path.read_bytes()
        _assert_no_plaintext(blob, identity, str(path.relative_to(tmp_path)))
        everything += blob
    assert org_name.encode() in everything  # positive control


# --- the test databases ---------------------------------------------------------------


def _write_person(user, tag: str) -> PersonIdentity:
    identity = _identity(tag)
    case = services.case_open(actor=user, identity=identity)
    note = f"Met {identity.given_names} at 12 Quorrin{tag} Lane"
    services.case_note_add(actor=user, case_id=case.pk, text=note)
    consent.consent_record(
        actor=user,
        case_id=case.pk,
        purpose="referral",
        categories=["identity"],
        given_by="person",
        language="ro",
        recipient_country="BG",
        declaration=note,
    )
    return identity


def _sqlite_copy(alias: str, target: Path) -> bytes:
    with connections[alias].cursor() as cursor:
        cursor.execute("VACUUM INTO %s", [str(target)])
    return target.read_bytes()


def _pg_dump(alias: str) -> bytes:
    settings = connections[alias].settings_dict
    env = {**os.environ}
    if settings.get("PASSWORD"):
        env["PGPASSWORD"] = str(settings["PASSWORD"])
    args = ["pg_dump", "--no-owner", "--dbname", str(settings["NAME"])]
    for flag, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if settings.get(key):
            args += [flag, str(settings[key])]
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        args, env=env, capture_output=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


@pytest.mark.django_db(transaction=True)
def test_database_dump_holds_no_plaintext(tmp_path, caseworker_a):
    tag = _tag()
    identity = _write_person(caseworker_a, tag)
    vendor = connections["default"].vendor
    if vendor == "postgresql" and shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")

    dumps: dict[str, bytes] = {}
    for alias in ("default", "keystore"):
        if connections[alias].vendor == "sqlite":
            dumps[alias] = _sqlite_copy(alias, tmp_path / f"{alias}.sqlite3")
        elif connections[alias].vendor == "postgresql":
            dumps[alias] = _pg_dump(alias)
        else:  # pragma: no cover
            pytest.fail(f"no dump for {connections[alias].vendor}")

    for alias, blob in dumps.items():
        _assert_no_plaintext(blob, identity, f"{vendor} dump of {alias}")
    assert caseworker_a.organisation.name.encode() in dumps["default"]
    assert b"blind-index" in dumps["keystore"]  # positive control: the keystore
