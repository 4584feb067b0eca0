"""Expiry running while redemptions hit the same members: real threads, each with its own
PostgreSQL connection, serialized by the member row lock."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Q
from django.utils import timezone

from rewards.errors import InsufficientPoints
from rewards.models import LedgerEntry, LotMovement, PointLot
from rewards.services.nightly import job_run_inline
from tests.factories import MemberFactory
from tests.ledger_checks import assert_reconciles
from tests.nightly_helpers import earn_at, redeem_at
from tests.rewards.test_concurrency import run_concurrently

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_expiry_racing_redemptions_never_spends_an_expired_point_nor_goes_negative(shop):
    members = MemberFactory.create_batch(12)
    for member in members:
        earn_at(shop, member, "50.00", datetime(2025, 1, 10, tzinfo=UTC))  # long past expiry
        earn_at(shop, member, "50.00", timezone.now() - timedelta(days=10))
    due_lots = set(PointLot.objects.filter(expires_at__lte=timezone.now()).values_list("pk"))
    as_of = timezone.now()

    def act(index):
        if index == 0:
            return job_run_inline(job_name="expire", as_of=as_of, chunk_size=4)
        # Each member gets two redemptions of 30: only 50 points are not expired, so at
        # most one can succeed, whichever of expiry and redemption takes the lock first.
        member = members[(index - 1) % len(members)]
        try:
            return redeem_at(shop, member, 30, timezone.now())
        except InsufficientPoints as refused:
            return refused

    results = run_concurrently(1 + 2 * len(members), act)

    assert results[0].status == "succeeded", results[0].error
    redeemed = [r for r in results[1:] if isinstance(r, dict)]
    refused = [r for r in results[1:] if isinstance(r, InsufficientPoints)]
    assert len(redeemed) == len(refused) == len(members), results
    for member in members:
        member.refresh_from_db()
        assert member.points_available == 20
        expiries = LedgerEntry.objects.filter(member=member, kind="expire")
        assert [entry.points for entry in expiries] == [-50]
        assert_reconciles(member)
    # Points left due lots only by expiry, never by a redemption.
    on_due_lots = LotMovement.objects.filter(lot_id__in=[pk for (pk,) in due_lots])
    assert not on_due_lots.filter(~Q(entry__kind="expire")).exists()
    assert on_due_lots.count() == len(members)
