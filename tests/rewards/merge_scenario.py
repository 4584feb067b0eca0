"""A member with a bit of everything a merge moves: available and pending points, an open
hold, owed points and a voucher. Shared by the merge tests on SQLite and PostgreSQL."""

import itertools
from datetime import timedelta

from django.utils import timezone

from members.models import Member

_tags = itertools.count(1)


def member_with_everything(client, external_id: str, reward_id: int, *, scale: int = 1) -> Member:
    """Through the API: 100×scale points earned 20 days ago (available), 50×scale now
    (pending for the 14-day returns window), a voucher for 10 points, a hold of 20, and the
    first purchase refunded in full, so that the points spent become owed."""
    old = (timezone.now() - timedelta(days=20)).isoformat()
    # Order ids and keys that don't contain the external id (the erasure test looks for it).
    tag = f"x{next(_tags)}"

    def ok(response):
        assert response.status_code in (200, 201), response.json()
        return response.json()

    ok(client.post("/api/v1/members", {"external_id": external_id}, format="json"))
    ok(
        client.post(
            "/api/v1/purchases",
            {
                "member": external_id,
                "order_id": f"{tag}-old",
                "amount": f"{100 * scale}.00",
                "currency": "EUR",
                "occurred_at": old,
            },
            format="json",
        )
    )
    ok(
        client.post(
            "/api/v1/purchases",
            {
                "member": external_id,
                "order_id": f"{tag}-new",
                "amount": f"{50 * scale}.00",
                "currency": "EUR",
            },
            format="json",
        )
    )
    ok(
        client.post(
            "/api/v1/redemptions",
            {"member": external_id, "reward_id": reward_id},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"{tag}-voucher",
        )
    )
    hold = ok(
        client.post(
            "/api/v1/redemptions",
            {"member": external_id, "points": 20, "hold": True},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"{tag}-hold",
        )
    )
    ok(
        client.post(
            "/api/v1/redemptions",
            {"member": external_id, "points": 100 * scale - 10 - 20 - 5},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"{tag}-spend",
        )
    )
    ok(
        client.post(
            f"/api/v1/purchases/{tag}-old/refunds",
            {"refund_id": f"{tag}-refund", "amount": f"{100 * scale}.00"},
            format="json",
        )
    )
    member = Member.objects.get(external_id=external_id)
    member.hold_id = hold["redemption_id"]
    return member
