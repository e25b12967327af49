"""Typed environment readers: values, defaults and refusals (no real environment)."""

from __future__ import annotations

import os

import pytest
from django.core.exceptions import ImproperlyConfigured

from trm.common.env import (
    env_bool,
    env_choice,
    env_file,
    env_float,
    env_int,
    env_list,
    env_secret,
    env_str,
    validate_country,
    validate_node_id,
)

SECRET = "synthetic-secret-value-7f3a9c"


# --- env_str --------------------------------------------------------------------


def test_str_strips_blanks():
    assert env_str("X", environ={"X": "  value \n"}) == "value"


@pytest.mark.parametrize("environ", [{}, {"X": ""}, {"X": "   "}])
def test_str_missing_or_blank_gives_default(environ):
    assert env_str("X", "fallback", environ=environ) == "fallback"


def test_str_readers_use_the_given_mapping_not_the_process_environment(monkeypatch):
    monkeypatch.setenv("TRM_TEST_ONLY_VAR", "from-process")

    assert env_str("TRM_TEST_ONLY_VAR", "default", environ={}) == "default"
    assert env_str("TRM_TEST_ONLY_VAR") == "from-process"


# --- env_bool -------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", "Yes", "on", " on "])
def test_bool_accepts_true_spellings(raw):
    assert env_bool("X", default=False, environ={"X": raw}) is True


@pytest.mark.parametrize("raw", ["0", "false", "False", "NO", "off"])
def test_bool_accepts_false_spellings(raw):
    assert env_bool("X", default=True, environ={"X": raw}) is False


@pytest.mark.parametrize("default", [True, False])
def test_bool_missing_gives_default(default):
    assert env_bool("X", default=default, environ={}) is default


@pytest.mark.parametrize("raw", ["", "  "])
def test_bool_blank_gives_default_so_a_protection_stays_on(raw):
    assert env_bool("TRM_HTTPS", default=True, environ={"TRM_HTTPS": raw}) is True


@pytest.mark.parametrize("raw", ["2", "y", "enabled", "truthy"])
def test_bool_refuses_other_values_naming_the_variable(raw):
    with pytest.raises(ImproperlyConfigured, match=r"^TRM_DEBUG must be one of") as e:
        env_bool("TRM_DEBUG", environ={"TRM_DEBUG": raw})
    assert repr(raw) in str(e.value)


# --- env_float ------------------------------------------------------------------


def test_env_float_reads_a_decimal_within_bounds():
    assert env_float("X", 24.0, minimum=0.0, maximum=720.0, environ={"X": "1.5"}) == 1.5
    assert env_float("X", 24.0, minimum=0.0, maximum=720.0, environ={}) == 24.0


@pytest.mark.parametrize("raw", ["soon", "nan", "inf", "-1", "721"])
def test_env_float_refuses_what_is_not_a_number_in_range(raw):
    with pytest.raises(ImproperlyConfigured, match="X must be a number"):
        env_float("X", 24.0, minimum=0.0, maximum=720.0, environ={"X": raw})


# --- env_int --------------------------------------------------------------------


def test_int_reads_a_whole_number():
    assert env_int("X", 5, minimum=1, maximum=100, environ={"X": " 42 "}) == 42


@pytest.mark.parametrize("environ", [{}, {"X": ""}])
def test_int_missing_or_blank_gives_default(environ):
    assert env_int("X", 5, minimum=1, maximum=100, environ=environ) == 5


@pytest.mark.parametrize("raw", ["abc", "4.5", "1e3", "ten"])
def test_int_refuses_non_numbers_naming_variable_and_range(raw):
    with pytest.raises(
        ImproperlyConfigured,
        match=r"^TRM_LOCKOUT_FAILURES must be a whole number between 1 and 100; got",
    ):
        env_int(
            "TRM_LOCKOUT_FAILURES",
            5,
            minimum=1,
            maximum=100,
            environ={"TRM_LOCKOUT_FAILURES": raw},
        )


@pytest.mark.parametrize(("raw", "shown"), [("0", "got 0"), ("101", "got 101")])
def test_int_refuses_values_out_of_range(raw, shown):
    with pytest.raises(ImproperlyConfigured, match=f"between 1 and 100; {shown}"):
        env_int("X", 5, minimum=1, maximum=100, environ={"X": raw})


@pytest.mark.parametrize("raw", ["1", "100"])
def test_int_range_bounds_are_inclusive(raw):
    assert env_int("X", 5, minimum=1, maximum=100, environ={"X": raw}) == int(raw)


def test_int_with_only_a_minimum_says_so():
    with pytest.raises(
        ImproperlyConfigured, match=r"^X must be a whole number of at le"
    ):
        env_int("X", 5, minimum=1, environ={"X": "0"})


def test_int_with_only_a_maximum_enforces_it():
    with pytest.raises(
        ImproperlyConfigured, match=r"^X must be a whole number of at mo"
    ):
        env_int("X", 5, maximum=10, environ={"X": "11"})


def test_int_without_bounds_accepts_negative_numbers():
    assert env_int("X", 5, environ={"X": "-3"}) == -3


# --- env_choice -----------------------------------------------------------------


def test_choice_returns_an_allowed_value():
    choices = ("production", "development")
    assert env_choice("E", "production", choices, environ={"E": "development"}) == (
        "development"
    )


def test_choice_missing_gives_default():
    assert env_choice("E", "production", ("production",), environ={}) == "production"


def test_choice_refuses_others_listing_the_allowed_values():
    with pytest.raises(
        ImproperlyConfigured,
        match=r"^TRM_ENV must be one of production, development; got 'staging'\.$",
    ):
        env_choice(
            "TRM_ENV",
            "production",
            ("production", "development"),
            environ={"TRM_ENV": "staging"},
        )


def test_choice_is_case_sensitive():
    with pytest.raises(ImproperlyConfigured, match="TRM_ENV"):
        env_choice(
            "TRM_ENV", "production", ("production",), environ={"TRM_ENV": "PROD"}
        )


# --- env_list -------------------------------------------------------------------


def test_list_splits_on_commas_and_drops_blanks():
    environ = {"H": " a.example.invalid, ,b.example.invalid,, "}
    assert env_list("H", [], environ=environ) == [
        "a.example.invalid",
        "b.example.invalid",
    ]


@pytest.mark.parametrize("environ", [{}, {"H": ""}, {"H": "  "}])
def test_list_missing_or_blank_gives_a_copy_of_default(environ):
    default = ["localhost"]
    result = env_list("H", default, environ=environ)

    assert result == ["localhost"]
    assert result is not default


def test_list_of_only_commas_is_empty():
    assert env_list("H", ["localhost"], environ={"H": ", ,"}) == []


# --- env_secret -----------------------------------------------------------------


def test_secret_from_the_variable():
    assert env_secret("S", environ={"S": f" {SECRET} "}) == SECRET


def test_secret_missing_is_none():
    assert env_secret("S", environ={}) is None
    assert env_secret("S", environ={"S": ""}) is None


def test_secret_from_file_is_stripped(tmp_path):
    path = tmp_path / "secret"
    path.write_text(f"{SECRET}\n", encoding="utf-8")

    assert env_secret("S", environ={"S_FILE": str(path)}) == SECRET


def test_secret_file_wins_over_a_blank_variable(tmp_path):
    path = tmp_path / "secret"
    path.write_text(SECRET, encoding="utf-8")

    assert env_secret("S", environ={"S": "", "S_FILE": str(path)}) == SECRET


def test_secret_and_secret_file_both_set_is_refused(tmp_path):
    path = tmp_path / "secret"
    path.write_text("other-synthetic-secret", encoding="utf-8")

    with pytest.raises(
        ImproperlyConfigured, match=r"^Set S or S_FILE, not both\.$"
    ) as e:
        env_secret("S", environ={"S": SECRET, "S_FILE": str(path)})
    assert SECRET not in str(e.value)
    assert "other-synthetic-secret" not in str(e.value)


def test_secret_file_missing_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "absent"

    with pytest.raises(ImproperlyConfigured, match=r"S_FILE names .*absent.*cannot be"):
        env_secret("S", environ={"S_FILE": str(path)})


def test_secret_file_that_is_a_directory_is_refused(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        env_secret("S", environ={"S_FILE": str(tmp_path)})


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="root reads files regardless of mode",
)
def test_secret_file_without_read_permission_is_refused(tmp_path):
    path = tmp_path / "secret"
    path.write_text(SECRET, encoding="utf-8")
    path.chmod(0o000)

    with pytest.raises(ImproperlyConfigured, match="cannot be read") as e:
        env_secret("S", environ={"S_FILE": str(path)})
    assert SECRET not in str(e.value)


@pytest.mark.parametrize("content", ["", "\n", "   \n\t"])
def test_secret_file_empty_is_refused(tmp_path, content):
    path = tmp_path / "secret"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(ImproperlyConfigured, match=r"S_FILE names .*, which is empty"):
        env_secret("S", environ={"S_FILE": str(path)})


def test_secret_file_not_utf8_is_refused_without_echoing_it(tmp_path):
    path = tmp_path / "secret"
    path.write_bytes(b"\xff\xfe" + SECRET.encode())

    with pytest.raises(ImproperlyConfigured, match="which is not UTF-8 text") as e:
        env_secret("S", environ={"S_FILE": str(path)})
    assert SECRET not in str(e.value)


# --- validate_node_id -------------------------------------------------------------


@pytest.mark.parametrize("value", ["a", "bg-node", "md1", "x" * 63, "0-9"])
def test_node_id_accepts_dns_labels(value):
    assert validate_node_id("TRM_NODE_ID", value) == value


@pytest.mark.parametrize(
    "value",
    ["", "-bg", "bg-", "BG", "bg_node", "bg.node", "bg node", "x" * 64, "bg-node\n"],
)
def test_node_id_refuses_other_values_naming_the_variable(value):
    with pytest.raises(ImproperlyConfigured, match=r"^TRM_NODE_ID must be 1-63"):
        validate_node_id("TRM_NODE_ID", value)


# --- validate_country -------------------------------------------------------------


@pytest.mark.parametrize(("value", "code"), [("BG", "BG"), ("md", "MD"), ("Rs", "RS")])
def test_country_accepts_alpha2_codes_upper_cased(value, code):
    assert validate_country("TRM_COUNTRY", value) == code


@pytest.mark.parametrize("value", ["", "XX", "ZZ", "BGR", "B", "Bulgaria"])
def test_country_refuses_unassigned_codes_naming_the_variable(value):
    with pytest.raises(
        ImproperlyConfigured, match=r"^TRM_COUNTRY must be an ISO 3166-1 alpha-2"
    ) as e:
        validate_country("TRM_COUNTRY", value)
    assert repr(value) in str(e.value)


# --- env_file (paths of PEM files: TRM_EXCHANGE_CLIENT_CERT_FILE, ...) -----------


def test_file_unset_or_blank_is_none():
    assert env_file("F", environ={}) is None
    assert env_file("F", environ={"F": "  "}) is None


def test_file_is_returned_as_an_absolute_path(tmp_path):
    path = tmp_path / "bundle.pem"
    path.write_text("synthetic", encoding="utf-8")

    assert env_file("F", environ={"F": f" {path} "}) == path.resolve()


@pytest.mark.parametrize("kind", ["absent", "directory"])
def test_file_absent_or_a_directory_is_refused_naming_variable_and_path(tmp_path, kind):
    path = tmp_path / "absent" if kind == "absent" else tmp_path

    with pytest.raises(ImproperlyConfigured) as caught:
        env_file("F", environ={"F": str(path)})

    assert str(caught.value).startswith(f"F names {path}, which does not exist")


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="root reads files regardless of mode",
)
def test_file_without_read_permission_is_refused(tmp_path):
    path = tmp_path / "client.key"
    path.write_text(SECRET, encoding="utf-8")
    path.chmod(0o000)

    with pytest.raises(ImproperlyConfigured, match=r"F names .* cannot be read") as e:
        env_file("F", environ={"F": str(path)})
    assert SECRET not in str(e.value)


@pytest.mark.parametrize("value", ["client.pem", "./tls/client.pem", "../client.pem"])
def test_file_relative_path_is_refused_as_depending_on_the_directory(
    tmp_path, monkeypatch, value
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "client.pem").write_text("synthetic", encoding="utf-8")

    with pytest.raises(ImproperlyConfigured) as caught:
        env_file("F", environ={"F": value})

    assert str(caught.value).startswith("F must be an absolute path")
    assert repr(value) in str(caught.value)


@pytest.mark.parametrize("quote", ['"', "'"])
def test_file_in_quotes_says_to_remove_the_quotes(tmp_path, quote):
    path = tmp_path / "client.pem"
    path.write_text("synthetic", encoding="utf-8")

    with pytest.raises(ImproperlyConfigured) as caught:
        env_file("F", environ={"F": f"{quote}{path}{quote}"})

    message = str(caught.value)
    assert message.startswith("F must be an absolute path")
    assert "taken literally" in message
    assert "Remove the quotes." in message
