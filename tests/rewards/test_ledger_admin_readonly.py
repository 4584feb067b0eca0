"""The ledger and the lots are written only by services with a reason: the admin cannot add,
change or delete them, not even for a superuser."""

import pytest

from rewards.models import LedgerEntry, PointLot
from tests.conftest import client_for, earn, staff_user_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(db):
    return client_for(staff_user_in(None, "root", superuser=True))


@pytest.mark.parametrize("model", ["ledgerentry", "pointlot"])
def test_entries_and_lots_cannot_be_added_changed_or_deleted(superuser_client, shop, member, model):
    earn(shop, member, "10.00")
    row = (LedgerEntry if model == "ledgerentry" else PointLot).objects.get()
    base = f"/admin/rewards/{model}/"
    assert superuser_client.get(f"{base}add/").status_code == 403
    assert superuser_client.post(f"{base}add/", {"points": 5}).status_code == 403
    assert superuser_client.post(f"{base}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    superuser_client.post(f"{base}{row.pk}/change/", {"points": 999, "remaining": 999})
    page = superuser_client.get(f"{base}{row.pk}/change/").content.decode()
    assert 'name="points"' not in page and 'name="_save"' not in page
    changelist = superuser_client.get(base).content.decode()
    assert "delete_selected" not in changelist
    assert LedgerEntry.objects.get().points == 10 and PointLot.objects.get().remaining == 10
