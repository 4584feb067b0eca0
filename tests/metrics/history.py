"""Hand-built histories for the KPI tests, written straight into the tables in bulk: the
KPIs only read purchases, refunds, the ledger, the tier history and feedback, so these
rows need not come through the earning services (which would be slow for thousands)."""

import itertools
from datetime import datetime
from decimal import Decimal

from members.models import Member, Shop
from metrics.models import Feedback
from rewards.models import LedgerEntry, Purchase, Refund, TierChange

_numbers = itertools.count(1)


def shop_get(name: str = "Main street") -> Shop:
    return Shop.objects.get_or_create(name=name)[0]


def members_create(count: int, *, enrolled_at: datetime, prefix: str = "m") -> list[Member]:
    return Member.objects.bulk_create(
        Member(external_id=f"{prefix}-{next(_numbers):07d}", enrolled_at=enrolled_at)
        for _ in range(count)
    )


def purchase_row(member: Member, amount, at: datetime, *, shop: Shop) -> Purchase:
    number = next(_numbers)
    return Purchase(
        shop=shop,
        member=member,
        order_id=f"o-{number}",
        amount=Decimal(amount),
        currency="EUR",
        occurred_at=at,
        created_at=at,
        points_earned=int(Decimal(amount)),
        request_hash=f"h-{number}",
        response={},
    )


def purchases_create(rows: list[Purchase]) -> list[Purchase]:
    return Purchase.objects.bulk_create(rows, batch_size=500)


def purchase(member: Member, amount, at: datetime, *, shop: Shop | None = None) -> Purchase:
    return purchases_create([purchase_row(member, amount, at, shop=shop or shop_get())])[0]


def refund(purchase: Purchase, amount, at: datetime) -> Refund:
    number = next(_numbers)
    amount = Decimal(amount)
    Purchase.objects.filter(pk=purchase.pk).update(
        refunded_amount=purchase.refunded_amount + amount
    )
    purchase.refunded_amount += amount
    return Refund.objects.create(
        shop=purchase.shop,
        purchase=purchase,
        refund_id=f"r-{number}",
        amount=amount,
        points_reversed=0,
        created_at=at,
        request_hash=f"h-{number}",
        response={},
    )


def entry(member: Member, kind: str, points: int, at: datetime, *, shop=None, **links):
    return LedgerEntry.objects.create(
        member=member,
        kind=kind,
        points=points,
        held_change=links.pop("held_change", 0),
        reason="test",
        actor_kind=LedgerEntry.Actor.SHOP if shop else LedgerEntry.Actor.SYSTEM,
        actor_shop=shop,
        effective_at=at,
        created_at=at,
        **links,
    )


def tier_change(member: Member, to_tier, at: datetime, from_tier=None) -> TierChange:
    return TierChange.objects.create(
        member=member,
        from_tier=from_tier,
        to_tier=to_tier,
        reason=TierChange.Reason.QUALIFIED,
        detail="test",
        qualifying_value=0,
        changed_at=at,
    )


def feedback(member: Member, kind: str, score: int, at: datetime, *, shop=None) -> Feedback:
    return Feedback.objects.create(
        shop=shop or shop_get(),
        member=member,
        kind=kind,
        score=score,
        answered_at=at,
        created_at=at,
        request_hash="",
        response={},
    )
