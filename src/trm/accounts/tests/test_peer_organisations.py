"""The one writer of peer organisations' rows (trm.accounts.peer_organisations).

All names are fictional.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import transaction

from trm.accounts.errors import PeerOrganisationRefused
from trm.accounts.models import Organisation
from trm.accounts.peer_organisations import (
    CREATED,
    UNCHANGED,
    UPDATED,
    candidate_names,
    record_peer_organisation,
)
from trm.accounts.tests.factories import OrganisationFactory
from trm.audit.models import AuditEntry

pytestmark = pytest.mark.django_db

NODE = "fictional-md"
NAME = "Fictional Chisinau Shelter"


def record(**overrides: Any) -> Any:
    values: dict[str, Any] = {
        "node_id": NODE,
        "remote_id": uuid.UUID("00000000-0000-4000-8000-0000000000a1"),
        "name": NAME,
        "country": "MD",
    }
    values.update(overrides)
    with transaction.atomic():
        return record_peer_organisation(**values)


def refusal(**overrides: Any) -> str:
    with pytest.raises(PeerOrganisationRefused) as caught:
        record(**overrides)
    return str(caught.value.details["reason"])


def test_first_contact_creates_the_row_with_node_and_remote_id():
    organisation, change = record(functions=["SP", "NoSuchFunction"])

    assert change == CREATED
    assert organisation.home_node == NODE
    assert organisation.remote_id == uuid.UUID("00000000-0000-4000-8000-0000000000a1")
    assert (organisation.name, organisation.country.code) == (NAME, "MD")
    # No type stated: NGO, as the directory import; unknown functions dropped.
    assert organisation.org_type == "NGO"
    assert organisation.functions == ["SP"]
    assert AuditEntry.objects.filter(
        action="accounts.organisation_mirrored", target_id=str(organisation.pk)
    ).exists()


def test_a_known_organisation_is_found_by_its_remote_id_never_by_name():
    first, _change = record(org_type="LegalService")

    again, change = record(name="Fictional Other Name", org_type="NoSuchType")

    assert change == UNCHANGED and again.pk == first.pk
    assert again.name == NAME and again.org_type == "LegalService"
    assert Organisation.objects.filter(home_node=NODE).count() == 1


def test_a_name_taken_here_gets_the_node_id_then_the_short_remote_id():
    OrganisationFactory(name=NAME.upper())
    suffixed, _change = record()
    assert suffixed.name == f"{NAME} ({NODE})"

    same_name, _change = record(remote_id=uuid.UUID(int=0xBEEF, version=4))
    assert same_name.name == f"{NAME} ({NODE} {same_name.remote_id.hex[:8]})"


def test_the_same_name_on_two_peers_is_told_apart_by_the_node():
    record()
    other, _change = record(node_id="fictional-ro", country="RO")
    assert other.name == f"{NAME} (fictional-ro)"


def test_every_name_taken_is_refused_and_nothing_is_recorded():
    remote_id = uuid.uuid4()
    for name in candidate_names(NAME, node_id=NODE, remote_id=remote_id):
        OrganisationFactory(name=name)

    assert refusal(remote_id=remote_id) == "name_taken"
    assert not Organisation.objects.filter(home_node=NODE).exists()


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"org_type": "NoSuchType"}, "org_type"),
        ({"country": "ZZ"}, "country"),
        ({"country": ""}, "country"),
        ({"name": "   "}, "name"),
        ({"name": "Fictional\u202eShelter"}, "name"),
        ({"name": "F" * 201}, "name"),
    ],
)
def test_what_this_node_does_not_know_is_refused_never_guessed(overrides, reason):
    assert refusal(**overrides) == reason
    assert not Organisation.objects.filter(home_node=NODE).exists()


def test_an_update_follows_the_peer_and_reactivates_the_row():
    organisation, _change = record(org_type="NGO", functions=["SP"])
    Organisation.objects.filter(pk=organisation.pk).update(is_active=False)

    updated, change = record(
        name="Fictional Chisinau Shelter Renamed",
        country="md",
        org_type="HealthServiceOrganisation",
        functions=["SP", "SS"],
        update=True,
    )

    assert change == UPDATED and updated.pk == organisation.pk
    updated.refresh_from_db()
    assert updated.name == "Fictional Chisinau Shelter Renamed"
    assert updated.org_type == "HealthServiceOrganisation"
    assert updated.functions == ["SP", "SS"] and updated.is_active


def test_an_update_without_a_type_or_functions_keeps_the_rows():
    record(org_type="LawEnforcement", functions=["PROS"])

    updated, change = record(name="Fictional Renamed Office", update=True)

    assert change == UPDATED
    assert updated.org_type == "LawEnforcement" and updated.functions == ["PROS"]


def test_an_update_keeps_a_suffixed_name_that_still_stands_for_the_peers():
    clash = OrganisationFactory(name=NAME)
    first, _change = record(functions=[])
    clash.delete()

    again, change = record(functions=[], update=True)

    assert change == UNCHANGED
    assert again.name == first.name == f"{NAME} ({NODE})"


def test_this_nodes_own_organisations_are_not_written_here():
    with pytest.raises(ValueError):
        record(node_id="")
