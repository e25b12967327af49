import pytest
from django.contrib.auth.password_validation import (
    password_validators_help_texts,
    validate_password,
)
from django.core.exceptions import ValidationError

from trm.accounts.validators import PasswordVarietyValidator, username_problem


@pytest.mark.parametrize(
    "password",
    [
        "passwordpassword",
        "PasswordPASSWORD",
        "abcabcabcabc",
        "orbit-42-orbit-42-",
        "zzzzzzzzzzzzzzzz",
        "aaaaaaaaaaaa1",
        "abcdeabcdeabcde",
        "12121212121212",
    ],
)
def test_variety_validator_refuses_repeated_or_uniform_passwords(password):
    with pytest.raises(ValidationError):
        PasswordVarietyValidator().validate(password)


@pytest.mark.parametrize(
    "password",
    ["violet-lantern-orbit-42", "correct-horse-battery-staple", "abcdefabcdefX"],
)
def test_variety_validator_accepts_varied_passwords(password):
    PasswordVarietyValidator().validate(password)


def test_variety_validator_counts_distinct_characters():
    validator = PasswordVarietyValidator(min_distinct=6)
    validator.validate("abcdef-abcdef")  # 7 different characters, not a repetition
    with pytest.raises(ValidationError, match="at least 6 different"):
        validator.validate("aabbccddee")


def test_variety_validator_is_part_of_the_password_policy():
    with pytest.raises(ValidationError) as info:
        validate_password("flowerpotflowerpot")
    assert any("repeated" in message for message in info.value.messages)
    assert any("different characters" in t for t in password_validators_help_texts())


@pytest.mark.parametrize(
    "username", ["admin", "i.petrov", "ncp+bg@x", "a_b-c", "UPPER", "x1"]
)
def test_ascii_usernames_are_allowed(username):
    assert username_problem(username) is None


@pytest.mark.parametrize(
    "username",
    ["\u0430dmin", "ad\u043cin", "jos\u00e9", "ivan petrov", "ivan!", "", "a\nb"],
)
def test_other_usernames_are_refused_with_a_reason(username):
    assert "Enter a valid username" in (username_problem(username) or "")
