"""The production password hasher (the suite itself hashes with MD5 for speed)."""

import importlib

import pytest
from django.contrib.auth.hashers import (
    Argon2PasswordHasher,
    check_password,
    make_password,
)

from trm.accounts.hashers import TRMArgon2PasswordHasher

PRODUCTION_HASHER = "trm.accounts.hashers.TRMArgon2PasswordHasher"


@pytest.fixture
def production_hashers(settings):
    production = importlib.import_module("trm.settings")
    settings.PASSWORD_HASHERS = production.PASSWORD_HASHERS
    return production.PASSWORD_HASHERS


def test_production_settings_hash_new_passwords_with_trm_argon2(production_hashers):
    assert production_hashers[0] == PRODUCTION_HASHER


def test_test_settings_do_not_leak_into_production_settings(settings):
    production = importlib.import_module("trm.settings")
    assert settings.PASSWORD_HASHERS != production.PASSWORD_HASHERS
    assert all("MD5" not in h for h in production.PASSWORD_HASHERS)


def test_trm_argon2_parameters():
    hasher = TRMArgon2PasswordHasher()
    assert (
        hasher.algorithm,
        hasher.memory_cost,
        hasher.time_cost,
        hasher.parallelism,
    ) == ("argon2", 64 * 1024, 3, 2)


def test_password_hashed_with_production_settings_is_argon2id_at_trm_cost(
    production_hashers,
):
    encoded = make_password("violet-lantern-orbit-42")
    assert encoded.startswith("argon2$argon2id$v=19$m=65536,t=3,p=2$")
    assert check_password("violet-lantern-orbit-42", encoded)
    assert not check_password("violet-lantern-orbit-43", encoded)


def test_trm_argon2_hash_is_not_rehashed_at_every_check(production_hashers):
    hasher = TRMArgon2PasswordHasher()
    encoded = hasher.encode("violet-lantern-orbit-42", hasher.salt())
    rehashed: list[str] = []
    assert check_password("violet-lantern-orbit-42", encoded, setter=rehashed.append)
    assert rehashed == []


def test_argon2_hash_at_other_cost_is_upgraded_at_next_check(production_hashers):
    old = Argon2PasswordHasher().encode("violet-lantern-orbit-42", "syntheticsalt123")
    upgraded: list[str] = []
    assert check_password("violet-lantern-orbit-42", old, setter=upgraded.append)
    assert upgraded == ["violet-lantern-orbit-42"]
