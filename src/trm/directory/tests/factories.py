"""Factories for the service directory. All data is fictional."""

from __future__ import annotations

import factory

from trm.accounts.tests.factories import OrganisationFactory
from trm.common.text import fold_key
from trm.directory.models import ServiceProfile, ServiceType


class ServiceProfileFactory(factory.django.DjangoModelFactory[ServiceProfile]):
    class Meta:
        model = ServiceProfile

    organisation = factory.SubFactory(OrganisationFactory)
    service_types = factory.LazyFunction(lambda: [ServiceType.SHELTER])
    region = "Fictional Region"
    search_key = factory.LazyAttribute(
        lambda p: fold_key(f"{p.organisation.name} {p.region}")
    )
    region_key = factory.LazyAttribute(lambda p: fold_key(p.region))
