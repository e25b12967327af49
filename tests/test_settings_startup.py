"""Start-up with settings from the environment, in a fresh process each time.

Each test runs ``trm`` (or ``python -c "django.setup()"``) in a subprocess with
an environment built from scratch, so nothing leaks in from the test settings
or from the developer's shell. The data directory is a per-test temporary one.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

SYNTHETIC_SECRET = "synthetic-startup-secret-" + "k" * 32
_TRM_SCRIPT = Path(sys.executable).with_name("trm")
TRM = [str(_TRM_SCRIPT)] if _TRM_SCRIPT.exists() else [sys.executable, "-m", "trm.cli"]


def _environment(data_dir: Path, **overrides: str | None) -> dict[str, str]:
    """Return a complete, valid production environment, changed by ``overrides``.

    An override of ``None`` removes the variable.
    """
    env: dict[str, str | None] = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(data_dir.parent),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "DJANGO_SETTINGS_MODULE": "trm.settings",
        "TRM_ENV": "production",
        "TRM_SECRET_KEY": SYNTHETIC_SECRET,
        "TRM_NODE_ID": "startup-test-node",
        "TRM_COUNTRY": "BG",
        "TRM_ALLOWED_HOSTS": "trm.example.invalid",
        "TRM_DATA_DIR": str(data_dir),
        "TRM_KEK": base64.b64encode(os.urandom(32)).decode(),
    }
    env.update(overrides)
    return {name: value for name, value in env.items() if value is not None}


def _run(args: list[str], env: dict[str, str], cwd: Path):
    return subprocess.run(  # noqa: S603 - fixed argv, no shell
        args, env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def trm(*args: str, data_dir: Path, **overrides: str | None):
    return _run([*TRM, *args], _environment(data_dir, **overrides), data_dir.parent)


def setup_django(code: str, *, data_dir: Path, **overrides: str | None):
    script = f"import django\ndjango.setup()\n{code}"
    return _run(
        [sys.executable, "-c", script],
        _environment(data_dir, **overrides),
        data_dir.parent,
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def _assert_configuration_error(result, *needles: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert result.stderr.startswith("trm: configuration error: "), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr
    return result.stderr


# --- A complete configuration starts ----------------------------------------------


def test_complete_production_environment_passes_check(data_dir):
    result = trm("check", data_dir=data_dir)

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_development_needs_no_secret_and_keeps_a_generated_one(data_dir):
    env = {"TRM_ENV": "development", "TRM_SECRET_KEY": None, "TRM_NODE_ID": None}
    code = "from django.conf import settings; print(settings.TRM_NODE_ID)"

    first = setup_django(code, data_dir=data_dir, **env)
    key_file = data_dir / "secret_key"
    stored = key_file.read_text()
    second = setup_django(code, data_dir=data_dir, **env)

    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.strip() == "dev-node"
    assert len(stored.strip()) >= 50
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.read_text() == stored


# --- Malformed or missing settings stop the start with a named variable ---------------


def test_production_without_secret_key_names_it(data_dir):
    result = trm("check", data_dir=data_dir, TRM_SECRET_KEY=None)

    _assert_configuration_error(result, "TRM_SECRET_KEY")


def test_django_setup_without_secret_key_raises_improperly_configured(data_dir):
    result = setup_django("", data_dir=data_dir, TRM_SECRET_KEY=None)

    assert result.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured: TRM_SECRET_KEY" in (
        result.stderr
    )


def test_short_secret_key_is_refused_without_echoing_it(data_dir):
    short = "synthetic-short-secret"

    result = trm("check", data_dir=data_dir, TRM_SECRET_KEY=short)

    stderr = _assert_configuration_error(result, "TRM_SECRET_KEY", "32")
    assert short not in stderr


def test_secret_key_and_secret_key_file_both_set_is_refused(data_dir, tmp_path):
    key_file = tmp_path / "secret_key_file"
    key_file.write_text("synthetic-file-secret-" + "f" * 32)

    result = trm("check", data_dir=data_dir, TRM_SECRET_KEY_FILE=str(key_file))

    stderr = _assert_configuration_error(result, "TRM_SECRET_KEY_FILE", "not both")
    assert SYNTHETIC_SECRET not in stderr
    assert "synthetic-file-secret" not in stderr


def test_secret_key_from_file_starts(data_dir, tmp_path):
    key_file = tmp_path / "secret_key_file"
    key_file.write_text(SYNTHETIC_SECRET + "\n")

    result = setup_django(
        "from django.conf import settings\n"
        f"assert settings.SECRET_KEY == {SYNTHETIC_SECRET!r}",
        data_dir=data_dir,
        TRM_SECRET_KEY=None,
        TRM_SECRET_KEY_FILE=str(key_file),
    )

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("overrides", "needles"),
    [
        ({"TRM_LOCKOUT_FAILURES": "abc"}, ["TRM_LOCKOUT_FAILURES", "'abc'"]),
        ({"TRM_LOCKOUT_FAILURES": "0"}, ["TRM_LOCKOUT_FAILURES", "between 1 and 100"]),
        ({"TRM_SESSION_IDLE_MINUTES": "-5"}, ["TRM_SESSION_IDLE_MINUTES"]),
        ({"TRM_COUNTRY": "XX"}, ["TRM_COUNTRY", "ISO 3166-1", "'XX'"]),
        ({"TRM_COUNTRY": None}, ["TRM_COUNTRY"]),
        ({"TRM_NODE_ID": "Bad_Node"}, ["TRM_NODE_ID", "'Bad_Node'"]),
        ({"TRM_NODE_ID": None}, ["TRM_NODE_ID"]),
        ({"TRM_ALLOWED_HOSTS": None}, ["TRM_ALLOWED_HOSTS"]),
        ({"TRM_ALLOWED_HOSTS": " , "}, ["TRM_ALLOWED_HOSTS"]),
        ({"TRM_ENV": "staging"}, ["TRM_ENV", "production, development"]),
        ({"TRM_DEBUG": "1"}, ["TRM_DEBUG", "TRM_ENV=development"]),
        ({"TRM_DEMO": "1"}, ["TRM_DEMO", "TRM_ENV=development"]),
        ({"TRM_DEBUG": "maybe"}, ["TRM_DEBUG"]),
        ({"TRM_HTTPS": "sometimes"}, ["TRM_HTTPS"]),
        ({"TRM_LOG_LEVEL": "verbose"}, ["TRM_LOG_LEVEL", "INFO"]),
        ({"TRM_TIME_ZONE": "Mars/Olympus_Mons"}, ["TRM_TIME_ZONE"]),
        ({"DATABASE_URL": "mysql://trm@db.example.invalid/trm"}, ["DATABASE_URL"]),
        ({"DATABASE_URL": "nosuchdb://db.example.invalid/trm"}, ["DATABASE_URL"]),
    ],
    ids=lambda value: (
        "-".join(f"{k}={v}" for k, v in value.items())
        if isinstance(value, dict)
        else None
    ),
)
def test_malformed_setting_stops_start_naming_the_variable(
    data_dir, overrides, needles
):
    result = trm("check", data_dir=data_dir, **overrides)

    _assert_configuration_error(result, *needles)


def test_mysql_database_url_is_refused_without_echoing_its_password(data_dir):
    password = "synthetic-db-password"

    result = trm(
        "check",
        data_dir=data_dir,
        DATABASE_URL=f"mysql://trm:{password}@db.example.invalid:3306/trm",
    )

    stderr = _assert_configuration_error(result, "DATABASE_URL", "postgres://")
    assert password not in stderr


def test_blank_https_setting_keeps_secure_cookies_in_production(data_dir):
    result = setup_django(
        "from django.conf import settings\n"
        "print(settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE)",
        data_dir=data_dir,
        TRM_HTTPS="",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]


# --- Mutual TLS with the peers' proxies (trm.common.tls) ---------------------------


@pytest.fixture
def authority(tmp_path: Path):
    from trm.exchange.tests.pki import Authority

    return Authority(tmp_path / "pki")


def test_client_certificate_key_and_ca_files_start(data_dir, authority):
    issued = authority.client()

    result = setup_django(
        "from django.conf import settings\n"
        "print(settings.TRM_EXCHANGE_CLIENT_CERT_FILE.name, "
        "settings.TRM_EXCHANGE_CLIENT_KEY_FILE.name, "
        "settings.TRM_EXCHANGE_CA_FILE.name)",
        data_dir=data_dir,
        TRM_EXCHANGE_CLIENT_CERT_FILE=str(issued.cert),
        TRM_EXCHANGE_CLIENT_KEY_FILE=str(issued.key),
        TRM_EXCHANGE_CA_FILE=str(authority.cert),
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["client.crt", "client.key", "ca.crt"]


def test_client_certificate_without_its_key_names_both_variables(data_dir, authority):
    issued = authority.client()

    result = trm(
        "check", data_dir=data_dir, TRM_EXCHANGE_CLIENT_CERT_FILE=str(issued.cert)
    )

    _assert_configuration_error(
        result, "TRM_EXCHANGE_CLIENT_CERT_FILE", "TRM_EXCHANGE_CLIENT_KEY_FILE"
    )


def test_missing_tls_file_names_the_variable_and_the_path(data_dir, tmp_path):
    missing = tmp_path / "no-such-ca.pem"

    result = trm("check", data_dir=data_dir, TRM_EXCHANGE_CA_FILE=str(missing))

    _assert_configuration_error(result, "TRM_EXCHANGE_CA_FILE", str(missing))


def test_mismatched_client_key_is_refused_without_echoing_it(data_dir, authority):
    issued = authority.client()
    other = authority.client("other", name="other-node")

    result = trm(
        "check",
        data_dir=data_dir,
        TRM_EXCHANGE_CLIENT_CERT_FILE=str(issued.cert),
        TRM_EXCHANGE_CLIENT_KEY_FILE=str(other.key),
    )

    stderr = _assert_configuration_error(
        result, "TRM_EXCHANGE_CLIENT_KEY_FILE", str(other.key)
    )
    assert "PRIVATE KEY" not in stderr
    assert other.key.read_text().splitlines()[1] not in stderr


def test_server_only_client_certificate_is_refused_naming_client_auth(
    data_dir, authority
):
    server_only = authority.server("server-only")

    result = trm(
        "check",
        data_dir=data_dir,
        TRM_EXCHANGE_CLIENT_CERT_FILE=str(server_only.cert),
        TRM_EXCHANGE_CLIENT_KEY_FILE=str(server_only.key),
    )

    _assert_configuration_error(
        result, "TRM_EXCHANGE_CLIENT_CERT_FILE", str(server_only.cert), "clientAuth"
    )


def test_relative_tls_path_is_refused_as_not_absolute(data_dir, authority):
    # Run from the PKI's directory: the file exists there, relative to it.
    env = _environment(data_dir, TRM_EXCHANGE_CA_FILE="ca.crt")
    result = _run([*TRM, "check"], env, authority.directory)

    _assert_configuration_error(
        result, "TRM_EXCHANGE_CA_FILE must be an absolute path", "'ca.crt'"
    )


def test_client_key_readable_by_others_starts_with_a_warning(data_dir, authority):
    issued = authority.client()
    issued.key.chmod(0o644)

    result = trm(
        "check",
        data_dir=data_dir,
        TRM_EXCHANGE_CLIENT_CERT_FILE=str(issued.cert),
        TRM_EXCHANGE_CLIENT_KEY_FILE=str(issued.key),
    )

    assert result.returncode == 0, result.stderr
    assert f"TRM_EXCHANGE_CLIENT_KEY_FILE names {issued.key}, with mode 0644" in (
        result.stderr
    )
    assert issued.key.read_text().splitlines()[1] not in result.stderr


# --- The key-encryption key -----------------------------------------------------------


def test_check_without_key_encryption_key_fails_naming_keys_init(data_dir):
    result = trm("check", data_dir=data_dir, TRM_KEK=None)

    assert result.returncode != 0
    assert "trm.E001" in result.stderr
    assert "trm keys init" in result.stderr
    assert not (data_dir / "keys" / "kek.b64").exists()


def test_keys_init_creates_a_private_key_file_that_check_accepts(data_dir):
    created = trm("keys", "init", data_dir=data_dir, TRM_KEK=None)
    check = trm("check", data_dir=data_dir, TRM_KEK=None)

    assert created.returncode == 0, created.stderr
    key_file = data_dir / "keys" / "kek.b64"
    assert len(base64.b64decode(key_file.read_text().strip(), validate=True)) == 32
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert check.returncode == 0, check.stderr


def test_keys_init_twice_refuses_and_leaves_the_key_unchanged(data_dir):
    first = trm("keys", "init", data_dir=data_dir, TRM_KEK=None)
    key_file = data_dir / "keys" / "kek.b64"
    original = key_file.read_bytes()

    second = trm("keys", "init", data_dir=data_dir, TRM_KEK=None)

    assert first.returncode == 0, first.stderr
    assert second.returncode != 0
    assert "already configured" in second.stderr
    assert key_file.read_bytes() == original


def test_keys_init_if_missing_is_a_quiet_no_op_when_a_key_exists(data_dir):
    trm("keys", "init", data_dir=data_dir, TRM_KEK=None)
    key_file = data_dir / "keys" / "kek.b64"
    original = key_file.read_bytes()

    again = trm("keys", "init", "--if-missing", data_dir=data_dir, TRM_KEK=None)

    assert again.returncode == 0, again.stderr
    assert key_file.read_bytes() == original


def test_keys_init_never_overwrites_an_unusable_key_file(data_dir):
    key_file = data_dir / "keys" / "kek.b64"
    key_file.parent.mkdir(parents=True)
    key_file.write_text("not-a-key\n")

    result = trm("keys", "init", data_dir=data_dir, TRM_KEK=None)

    assert result.returncode != 0
    assert "not overwritten" in result.stderr
    assert key_file.read_text() == "not-a-key\n"
