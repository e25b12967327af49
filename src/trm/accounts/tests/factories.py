"""Factories for accounts. All data is synthetic (Faker) and clearly fictional."""

from __future__ import annotations

from typing import Any

import factory
from django_otp.oath import totp

from trm.accounts.models import Membership, Organisation, TOTPDevice, TrmFunction, User
from trm.common.htcds import OrgType
from trm.common.text import fold_key


class OrganisationFactory(factory.django.DjangoModelFactory[Organisation]):
    class Meta:
        model = Organisation
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Fictional Org {n}")
    name_key = factory.LazyAttribute(lambda o: fold_key(o.name))
    country = "BG"
    org_type = OrgType.NGO
    functions = factory.LazyFunction(lambda: [TrmFunction.SERVICE_PROVIDER])


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"test-user-{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.invalid")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    organisation = factory.SubFactory(OrganisationFactory)
    password = factory.django.Password("correct-horse-battery-staple")
    search_key = factory.LazyAttribute(
        lambda u: fold_key(
            " ".join(p for p in (u.username, u.first_name, u.last_name, u.email) if p)
        )
    )

    @factory.post_generation
    def roles(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        if not create or not extracted:
            return
        for role in extracted:
            Membership.objects.get_or_create(user=self, role=role)
        self.forget_roles()


class TOTPDeviceFactory(factory.django.DjangoModelFactory[TOTPDevice]):
    class Meta:
        model = TOTPDevice

    user = factory.SubFactory(UserFactory)
    name = "Test authenticator"
    confirmed = True

    @classmethod
    def _create(cls, model_class: type[TOTPDevice], *args: Any, **kwargs: Any) -> Any:
        device = model_class(**kwargs)
        device.set_secret()
        device.save()
        return device


def current_code(device: TOTPDevice, *, offset_steps: int = 0) -> str:
    """Return the TOTP code the device's app would show now (zero-padded)."""
    value = totp(
        device.bin_key,
        step=device.step,
        t0=device.t0 - offset_steps * device.step,
        digits=device.digits,
    )
    return f"{value:0{device.digits}d}"
