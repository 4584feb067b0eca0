"""Shared by the nightly job tests: members with lots at chosen times, and a snapshot of
the whole ledger to compare runs by."""

import itertools
import uuid
from datetime import datetime
from decimal import Decimal

from members.models import Member
from rewards.models import LedgerEntry, LotMovement, PointLot, Redemption
from rewards.services.purchases import refund_record
from rewards.services.redemptions import redemption_create
from tests.conftest import earn

_keys = itertools.count(1)


def earn_at(shop, member, amount: str, at: datetime, **kwargs) -> dict:
    """Earn as if the purchase was recorded at `at` (its lot expires from `at`)."""
    return earn(shop, member, amount, occurred_at=at, as_of=at, **kwargs)


def redeem_at(shop, member, points: int, at: datetime, *, hold: bool = False) -> dict:
    key = f"redeem-{next(_keys)}"
    return redemption_create(
        shop=shop,
        member_external_id=member.external_id,
        points=points,
        idempotency_key=key,
        hold=hold,
        request_hash=key,
        as_of=at,
    ).response


def refund_at(shop, order_id: str, amount: str, at: datetime) -> None:
    refund_id = f"refund-{uuid.uuid4()}"
    refund_record(
        shop=shop,
        order_id=order_id,
        refund_id=refund_id,
        amount=Decimal(amount),
        request_hash=refund_id,
        as_of=at,
    )


def ledger_snapshot() -> dict:
    """Everything the nightly jobs may write, in a comparable form."""
    return {
        "entries": list(
            LedgerEntry.objects.order_by("id").values_list(
                "id", "member_id", "kind", "points", "held_change", "owed_change", "reason"
            )
        ),
        "movements": list(
            LotMovement.objects.order_by("id").values_list("entry_id", "lot_id", "points")
        ),
        "lots": list(PointLot.objects.order_by("id").values_list("id", "remaining", "is_pending")),
        "members": list(
            Member.objects.order_by("id").values_list(
                "id", "points_available", "points_pending", "points_held", "points_owed"
            )
        ),
        "holds": list(Redemption.objects.order_by("id").values_list("id", "status")),
    }
