import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from trm import cli
from trm.audit.tests import tampering


def test_audit_verify_reports_an_intact_chain(append):
    append(3)
    out = StringIO()

    call_command("audit", "verify", stdout=out)

    assert out.getvalue().strip() == "audit log OK: 3 entries, chain intact"


def test_audit_verify_accepts_an_empty_log(db):
    out = StringIO()

    call_command("audit", "verify", stdout=out)

    assert "audit log OK: 0 entries" in out.getvalue()


@pytest.mark.parametrize("attack", tampering.ATTACKS.values(), ids=tampering.ATTACKS)
def test_audit_verify_fails_naming_the_first_bad_entry(append, attack):
    append(5)
    attack.tamper()

    with pytest.raises(CommandError) as excinfo:
        call_command("audit", "verify", stdout=StringIO())

    message = str(excinfo.value)
    assert message.startswith(f"audit log BROKEN at entry {attack.bad_seq}: ")
    assert attack.reason in message


def test_trm_audit_verify_exits_non_zero_on_a_broken_chain(append, capsys):
    append(3)
    tampering.edit_action(2, "test.innocuous")

    with pytest.raises(SystemExit) as excinfo:
        cli.main(["trm", "audit", "verify"])

    assert excinfo.value.code == 1
    assert re.search(
        r"audit log BROKEN at entry 2: .*\(edited\)", capsys.readouterr().err
    )


def test_trm_audit_verify_exits_zero_on_an_intact_chain(append, capsys):
    append(2)

    cli.main(["trm", "audit", "verify"])

    assert "audit log OK: 2 entries" in capsys.readouterr().out


def test_audit_requires_a_subcommand(db):
    with pytest.raises(CommandError, match="action"):
        call_command("audit")
