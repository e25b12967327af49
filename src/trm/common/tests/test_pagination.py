import pytest

from trm.accounts.models import Organisation
from trm.accounts.tests.factories import OrganisationFactory
from trm.common.pagination import CappedPaginator, capped_count

pytestmark = pytest.mark.django_db


def test_counts_exactly_below_the_cap():
    OrganisationFactory.create_batch(2)
    paginator = CappedPaginator(Organisation.objects.order_by("name"), 1, cap=3)
    assert (paginator.count, paginator.capped, paginator.num_pages) == (2, False, 2)
    assert capped_count(Organisation.objects.all(), cap=3) == (2, False)


def test_stops_counting_above_the_cap_and_says_so():
    OrganisationFactory.create_batch(6)
    paginator = CappedPaginator(Organisation.objects.order_by("name"), 2, cap=3)
    assert paginator.capped
    assert paginator.count == 4  # cap + 1: enough to know there are more
    assert capped_count(Organisation.objects.all(), cap=3) == (3, True)
    assert len(paginator.page(2).object_list) == 2
