import pytest
from django.contrib.auth.models import User

from rewards.models import LedgerEntry
from tests.conftest import earn

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    User.objects.create_superuser("boss", "boss@example.com", "a-long-password-1")
    client.login(username="boss", password="a-long-password-1")
    return client


def test_program_settings_are_editable_in_admin(staff_client, program):
    page = staff_client.get(f"/admin/rewards/program/{program.pk}/change/")
    assert page.status_code == 200
    assert b"points_per_unit" in page.content


def test_ledger_entries_cannot_be_changed_or_deleted_in_admin(staff_client, shop, member):
    earn(shop, member, "10.00")
    entry = LedgerEntry.objects.get()
    assert staff_client.get("/admin/rewards/ledgerentry/add/").status_code == 403
    assert (
        staff_client.post(
            f"/admin/rewards/ledgerentry/{entry.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    staff_client.post(f"/admin/rewards/ledgerentry/{entry.pk}/change/", {"points": 999})
    assert LedgerEntry.objects.get().points == 10
    assert staff_client.get("/admin/rewards/ledgerentry/").status_code == 200
