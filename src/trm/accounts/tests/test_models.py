import base64
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from trm.accounts.models import (
    PERSONAL_DATA_ROLES,
    APIToken,
    Role,
    TOTPDevice,
    hash_token,
)
from trm.accounts.tests.factories import (
    TOTPDeviceFactory,
    UserFactory,
    current_code,
)
from trm.accounts.tests.helpers import wrong_code
from trm.common.keys import DecryptionFailed

pytestmark = pytest.mark.django_db


# --- Roles and the second-factor rule ------------------------------------------


def test_every_role_counts_as_a_personal_data_role():
    assert set(Role.values) == PERSONAL_DATA_ROLES


@pytest.mark.parametrize("role", Role.values)
def test_user_with_any_single_role_requires_two_factor(role):
    user = UserFactory(roles=[role])
    assert user.requires_two_factor()


def test_user_without_role_does_not_require_two_factor():
    assert not UserFactory().requires_two_factor()


def test_superuser_without_role_requires_two_factor():
    assert UserFactory(is_superuser=True).requires_two_factor()


def test_has_role_matches_any_of_the_given_roles():
    user = UserFactory(roles=[Role.AUDITOR])
    assert user.has_role(Role.CASE_MANAGER, Role.AUDITOR)
    assert not user.has_role(Role.CASE_MANAGER, Role.NODE_ADMINISTRATOR)


# --- TOTP secret at rest -----------------------------------------------------------


def _stored_sealed_key(device: TOTPDevice) -> bytes:
    raw = TOTPDevice.objects.values_list("sealed_key", flat=True).get(pk=device.pk)
    return bytes(raw)


def _new_device_with_known_secret() -> tuple[TOTPDevice, str]:
    device = TOTPDevice(user=UserFactory(), name="Phone", confirmed=True)
    secret_hex = device.set_secret()
    device.save()
    return device, secret_hex


def test_totp_secret_round_trips_through_the_database():
    device, secret_hex = _new_device_with_known_secret()
    assert TOTPDevice.objects.get(pk=device.pk).bin_key == bytes.fromhex(secret_hex)


def test_totp_secret_is_not_stored_in_plaintext():
    device, secret_hex = _new_device_with_known_secret()
    stored = _stored_sealed_key(device)
    secret = bytes.fromhex(secret_hex)
    assert len(stored) > len(secret)
    assert secret not in stored
    assert secret_hex.encode() not in stored.lower()
    assert base64.b32encode(secret) not in stored
    assert base64.b64encode(secret) not in stored


def test_same_secret_sealed_twice_gives_different_ciphertexts():
    first, secret_hex = _new_device_with_known_secret()
    second = TOTPDevice(user=first.user, name="Tablet", confirmed=True)
    second.set_secret(secret_hex)
    second.save()
    assert _stored_sealed_key(first) != _stored_sealed_key(second)
    assert second.bin_key == first.bin_key


def test_ciphertext_copied_to_another_device_row_does_not_decrypt():
    source, _secret = _new_device_with_known_secret()
    other = TOTPDeviceFactory()
    TOTPDevice.objects.filter(pk=other.pk).update(sealed_key=_stored_sealed_key(source))
    other.refresh_from_db()
    with pytest.raises(DecryptionFailed):
        _ = other.bin_key


def test_altered_ciphertext_does_not_decrypt():
    device, _secret = _new_device_with_known_secret()
    stored = bytearray(_stored_sealed_key(device))
    stored[-1] ^= 0x01
    TOTPDevice.objects.filter(pk=device.pk).update(sealed_key=bytes(stored))
    device.refresh_from_db()
    with pytest.raises(DecryptionFailed):
        _ = device.bin_key


def test_config_url_carries_base32_secret_and_issuer():
    device, secret_hex = _new_device_with_known_secret()
    url = device.config_url(issuer="TRM test-node")
    secret_b32 = base64.b32encode(bytes.fromhex(secret_hex)).decode()
    assert url.startswith("otpauth://totp/TRM%20test-node%3A")
    assert f"secret={secret_b32}" in url
    assert "issuer=TRM+test-node" in url


# --- TOTP verification ----------------------------------------------------------


def test_current_code_is_accepted():
    device = TOTPDeviceFactory()
    assert device.verify_token(current_code(device))


def test_code_is_not_accepted_twice():
    device = TOTPDeviceFactory()
    code = current_code(device)
    assert device.verify_token(code)
    assert not device.verify_token(code)


@pytest.mark.parametrize("offset", [-1, 1])
def test_code_one_step_off_is_accepted(offset):
    device = TOTPDeviceFactory()
    assert device.verify_token(current_code(device, offset_steps=offset))


@pytest.mark.parametrize("offset", [-3, 3])
def test_code_several_steps_off_is_refused(offset):
    device = TOTPDeviceFactory()
    assert not device.verify_token(current_code(device, offset_steps=offset))


def test_non_numeric_code_is_refused_and_counts_as_failure():
    device = TOTPDeviceFactory()
    assert not device.verify_token("abcdef")
    device.refresh_from_db()
    assert device.throttling_failure_count == 1


def test_right_code_is_refused_while_throttled_and_accepted_after_the_delay():
    device = TOTPDeviceFactory()
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        assert not device.verify_token(wrong_code(device))
        assert not device.verify_token(current_code(device))
        traveller.shift(timedelta(seconds=2))
        assert device.verify_token(current_code(device))
    device.refresh_from_db()
    assert device.throttling_failure_count == 0


# --- API tokens -------------------------------------------------------------------


def _token(**fields) -> APIToken:
    defaults = {
        "user": UserFactory(),
        "name": "statistics export",
        "prefix": "trm_abcdef",
        "token_hash": hash_token("trm_abcdef-synthetic"),
        "expires_at": timezone.now() + timedelta(days=1),
    }
    return APIToken.objects.create(**(defaults | fields))


def test_token_is_usable_until_it_expires():
    token = _token()
    assert token.is_usable()
    assert not token.is_usable(token.expires_at + timedelta(seconds=1))


def test_revoked_token_is_not_usable():
    assert not _token(revoked_at=timezone.now()).is_usable()


def test_token_hash_is_sha256_hex_and_not_the_raw_value():
    digest = hash_token("trm_synthetic-value")
    assert len(digest) == 64
    assert "trm_synthetic" not in digest
    assert digest == hash_token("trm_synthetic-value")
    assert digest != hash_token("trm_synthetic-valuf")
