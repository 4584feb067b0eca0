"""Each KPI definition on hand-built histories whose answers are known."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from metrics.models import CohortCell, KpiSnapshot
from metrics.periods import Period
from metrics.services import kpi_period_recompute
from rewards.models import LedgerEntry, Program, Redemption, Tier
from tests.metrics.history import (
    entry,
    feedback,
    members_create,
    purchase,
    purchase_row,
    purchases_create,
    refund,
    shop_get,
    tier_change,
)

pytestmark = pytest.mark.django_db

Kind = LedgerEntry.Kind
MARCH = Period("month", date(2025, 3, 1), date(2025, 4, 1))
START = datetime(2025, 3, 1, tzinfo=UTC)
END = datetime(2025, 4, 1, tzinfo=UTC)
LONG_AGO = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def window_30_days(program):
    Program.objects.filter(pk=1).update(activity_window_days=30)


def snapshot(period: Period = MARCH, key: str = "all") -> KpiSnapshot:
    kpi_period_recompute(period=period)
    return KpiSnapshot.objects.get(
        granularity=period.granularity, period_start=period.start, group_key=key
    )


def test_worked_example_1000_900_200_gives_70_percent_retention_and_30_churn():
    shop = shop_get()
    members = members_create(1200, enrolled_at=LONG_AGO)
    rows = []
    for index, member in enumerate(members):
        if index < 1000:  # active at the start
            rows.append(purchase_row(member, "10", START - timedelta(days=10), shop=shop))
        if index < 700 or index >= 1000:  # active at the end: 700 kept, 200 new
            rows.append(purchase_row(member, "20", END - timedelta(days=5), shop=shop))
    purchases_create(rows)

    kpis = snapshot()

    assert (kpis.active_start, kpis.active_end, kpis.new_active) == (1000, 900, 200)
    assert kpis.retained == 700
    assert kpis.retention_rate == Decimal("70.00")
    assert kpis.churn_rate == Decimal("30.00")


def test_a_purchase_exactly_at_the_start_is_in_the_period_and_makes_the_member_active_at_it():
    member = members_create(1, enrolled_at=LONG_AGO)[0]
    purchase(member, "10", START)

    kpis = snapshot()

    assert kpis.active_start == 1
    assert (kpis.purchases, kpis.purchasing_members) == (1, 1)


def test_a_purchase_exactly_at_the_end_is_in_the_next_period_but_active_at_the_end():
    member = members_create(1, enrolled_at=LONG_AGO)[0]
    purchase(member, "10", END)

    kpis = snapshot()
    april = snapshot(Period("month", date(2025, 4, 1), date(2025, 5, 1)))

    assert (kpis.active_start, kpis.active_end, kpis.new_active) == (0, 1, 1)
    assert kpis.purchases == 0
    assert april.purchases == 1
    # Active at the end of March is active at the start of April: the same instant.
    assert april.active_start == kpis.active_end


def test_a_purchase_exactly_the_window_before_is_outside_it_and_a_moment_later_inside():
    outside, inside = members_create(2, enrolled_at=LONG_AGO)
    purchase(outside, "10", START - timedelta(days=30))
    purchase(inside, "10", START - timedelta(days=30) + timedelta(microseconds=1))

    kpis = snapshot()

    assert kpis.active_start == 1


def test_the_activity_window_is_the_programs_setting():
    member = members_create(1, enrolled_at=LONG_AGO)[0]
    purchase(member, "10", START - timedelta(days=100))
    assert snapshot().active_start == 0

    Program.objects.filter(pk=1).update(activity_window_days=365)
    assert snapshot().active_start == 1


def test_a_fully_refunded_purchase_does_not_make_a_member_active():
    refunded, partly = members_create(2, enrolled_at=LONG_AGO)
    first = purchase(refunded, "50", START + timedelta(days=3))
    refund(first, "30", START + timedelta(days=4))
    refund(first, "20", START + timedelta(days=5))
    second = purchase(partly, "50", START + timedelta(days=3))
    refund(second, "49.99", START + timedelta(days=4))

    kpis = snapshot()

    assert kpis.active_end == 1  # the partly refunded member only
    assert kpis.purchase_amount == Decimal("100")
    assert kpis.refund_amount == Decimal("99.99")
    assert kpis.net_revenue == Decimal("0.01")


def test_a_refund_made_after_a_moment_does_not_change_who_was_active_at_it():
    member = members_create(1, enrolled_at=LONG_AGO)[0]
    bought = purchase(member, "50", START - timedelta(days=3))
    refund(bought, "50", START + timedelta(days=1))

    kpis = snapshot()

    assert (kpis.active_start, kpis.active_end) == (1, 0)
    # The refund is dated in March, so it lowers March's net revenue.
    assert kpis.net_revenue == Decimal("-50")


def test_purchase_figures_repeat_rate_frequency_average_order_value():
    shop, other_shop = shop_get(), shop_get("Harbour")
    once, twice, thrice = members_create(3, enrolled_at=LONG_AGO)
    purchase(once, "10", START + timedelta(days=1), shop=shop)
    purchase(twice, "20", START + timedelta(days=2), shop=shop)
    purchase(twice, "30", START + timedelta(days=3), shop=other_shop)
    for day in (4, 5, 6):
        purchase(thrice, "40", START + timedelta(days=day), shop=shop)

    kpis = snapshot()
    at_shop = KpiSnapshot.objects.get(period_start=MARCH.start, group_key=f"shop:{shop.pk}")

    assert (kpis.purchases, kpis.purchasing_members, kpis.repeat_members) == (6, 3, 2)
    assert kpis.repeat_purchase_rate == Decimal("66.67")
    assert kpis.purchase_frequency == Decimal("2.00")
    assert kpis.average_order_value == Decimal("30.00")  # 180 / 6
    # At one shop, a repeat customer is one who bought twice there.
    assert (at_shop.purchases, at_shop.purchasing_members, at_shop.repeat_members) == (5, 3, 1)
    assert at_shop.repeat_purchase_rate == Decimal("33.33")
    assert at_shop.net_revenue == Decimal("150")
    assert at_shop.retention_rate is None and at_shop.members_total is None


def test_rates_without_a_denominator_are_null_not_zero():
    members_create(3, enrolled_at=LONG_AGO)

    kpis = snapshot()

    assert kpis.members_total == 3
    for name in (
        "retention_rate",
        "churn_rate",
        "repeat_purchase_rate",
        "purchase_frequency",
        "average_order_value",
        "redemption_rate",
        "breakage_rate",
        "burn_earn_ratio",
        "nps",
        "csat",
    ):
        assert getattr(kpis, name) is None, name
    assert kpis.purchases == 0


def test_lifetime_value_is_net_revenue_to_date_per_member_enrolled():
    early, late = members_create(2, enrolled_at=LONG_AGO)
    members_create(1, enrolled_at=END + timedelta(days=1))  # enrolled after March
    bought = purchase(early, "100", LONG_AGO + timedelta(days=10))
    refund(bought, "40", LONG_AGO + timedelta(days=11))
    purchase(late, "20", START + timedelta(days=1))
    purchase(late, "999", END + timedelta(days=2))  # after March

    kpis = snapshot()

    assert kpis.members_total == 2
    assert kpis.customer_lifetime_value == Decimal("40.00")  # (100 - 40 + 20) / 2


def test_members_total_and_new_enrollments():
    members_create(4, enrolled_at=LONG_AGO)
    members_create(2, enrolled_at=START)
    members_create(1, enrolled_at=END - timedelta(microseconds=1))
    members_create(5, enrolled_at=END)

    kpis = snapshot()

    assert (kpis.members_total, kpis.members_enrolled) == (7, 3)


def test_points_issued_redeemed_expired_and_outstanding_reconcile_with_the_ledger(program):
    Program.objects.filter(pk=1).update(point_value=Decimal("0.05"))
    shop = shop_get()
    member = members_create(1, enrolled_at=LONG_AGO)[0]
    before = START - timedelta(days=40)
    entry(member, Kind.EARN, 1000, before, shop=shop)
    entry(member, Kind.REDEEM, -100, before, shop=shop)
    during = START + timedelta(days=2)
    entry(member, Kind.EARN, 500, during, shop=shop)
    entry(member, Kind.BONUS, 50, during, shop=shop)
    entry(member, Kind.ADJUST, -20, during)
    entry(member, Kind.REFUND, -30, during, shop=shop)
    entry(member, Kind.REDEEM, -200, during, shop=shop)
    redemption = Redemption.objects.create(
        shop=shop,
        member=member,
        idempotency_key="k",
        points=60,
        discount_amount=Decimal(3),
        currency="EUR",
        status=Redemption.Status.VOIDED,
        created_at=during,
        request_hash="",
        response={},
    )
    entry(member, Kind.HOLD, -60, during, shop=shop, redemption=redemption, held_change=60)
    entry(member, Kind.RELEASE, 60, during, redemption=redemption, held_change=-60)
    entry(member, Kind.CANCEL, 40, during, shop=shop)
    entry(member, Kind.EXPIRE, -300, during)
    entry(member, Kind.EARN, 7777, END, shop=shop)  # next period

    kpis = snapshot()

    assert kpis.points_issued == 500 + 50 - 20 - 30
    assert kpis.points_redeemed == 200 + 60 - 60 - 40
    assert kpis.points_expired == 300
    assert (kpis.points_issued_to_date, kpis.points_redeemed_to_date) == (1500, 260)
    ledger_sum = sum(
        LedgerEntry.objects.filter(effective_at__lt=END).values_list("points", flat=True)
    )
    assert kpis.points_outstanding == ledger_sum == 1500 - 260 - 300
    assert kpis.points_liability == Decimal("47.00")  # 940 × 0.05
    assert kpis.redemption_rate == Decimal("17.33")  # 260 / 1500
    assert kpis.breakage_rate == Decimal("20.00")  # 300 / 1500
    assert kpis.burn_earn_ratio == Decimal("32.00")  # 160 / 500
    at_shop = KpiSnapshot.objects.get(period_start=MARCH.start, group_key=f"shop:{shop.pk}")
    # The adjustment and the expiry have no shop; the released hold is the shop's.
    assert (at_shop.points_issued, at_shop.points_redeemed) == (520, 160)
    assert at_shop.points_outstanding is None


def test_tier_breakdown_groups_members_by_their_tier_at_the_start():
    bronze = Tier.objects.create(name="Bronze", rank=1, threshold=0)
    gold = Tier.objects.create(name="Gold", rank=2, threshold=500)
    stays_bronze, gold_before, gold_during = members_create(3, enrolled_at=LONG_AGO)
    tier_change(gold_before, gold, START - timedelta(days=3), from_tier=bronze)
    tier_change(gold_during, gold, START + timedelta(days=3), from_tier=bronze)
    # Exactly at the start counts as "at or before the start".
    late_gold = members_create(1, enrolled_at=LONG_AGO)[0]
    tier_change(late_gold, gold, START, from_tier=bronze)
    members_create(1, enrolled_at=START + timedelta(days=1))  # new: the entry tier
    for member in (stays_bronze, gold_before, gold_during, late_gold):
        purchase(member, "10", START + timedelta(days=5))

    kpis = snapshot()
    at_bronze = KpiSnapshot.objects.get(period_start=MARCH.start, group_key=f"tier:{bronze.pk}")
    at_gold = KpiSnapshot.objects.get(period_start=MARCH.start, group_key=f"tier:{gold.pk}")

    assert (at_bronze.members_total, at_bronze.members_enrolled, at_bronze.purchases) == (3, 1, 2)
    assert (at_gold.members_total, at_gold.purchases) == (2, 2)
    assert kpis.tier_distribution == [
        {"tier": "Bronze", "members": 2},
        {"tier": "Gold", "members": 3},
    ]
    # Bronze members at the start: one of them moved up during March.
    assert at_bronze.tier_distribution == [
        {"tier": "Bronze", "members": 2},
        {"tier": "Gold", "members": 1},
    ]
    assert not KpiSnapshot.objects.filter(group_key="tier:none").exists()


def test_nps_and_csat():
    shop, other = shop_get(), shop_get("Harbour")
    members = members_create(10, enrolled_at=LONG_AGO)
    at = START + timedelta(days=1)
    for member, score in zip(members, [10, 9, 9, 8, 7, 6, 0, 3, 10, 5], strict=True):
        feedback(member, "nps", score, at, shop=shop)
    for member, score in zip(members, [5, 4, 3, 1], strict=False):
        feedback(member, "csat", score, at, shop=other)
    feedback(members[0], "nps", 0, END)  # next period

    kpis = snapshot()
    at_other = KpiSnapshot.objects.get(period_start=MARCH.start, group_key=f"shop:{other.pk}")

    # 4 promoters (9-10), 4 detractors (0-6) of 10: 40% − 40%.
    assert (kpis.nps, kpis.nps_responses) == (Decimal("0.00"), 10)
    assert (kpis.csat, kpis.csat_responses) == (Decimal("50.00"), 4)
    assert (at_other.nps, at_other.csat) == (None, Decimal("50.00"))


def test_cohort_cells_count_the_members_of_each_enrollment_month_who_bought_in_a_month():
    january = members_create(4, enrolled_at=datetime(2025, 1, 15, tzinfo=UTC))
    february = members_create(2, enrolled_at=datetime(2025, 2, 3, tzinfo=UTC))
    purchase(january[0], "10", START + timedelta(days=1))
    purchase(january[0], "10", START + timedelta(days=2))  # counted once
    purchase(january[1], "10", START + timedelta(days=1))
    refunded = purchase(january[2], "10", START + timedelta(days=1))
    refund(refunded, "10", START + timedelta(days=2))
    purchase(february[0], "10", START + timedelta(days=9))
    purchase(february[1], "10", END)  # April

    kpi_period_recompute(period=MARCH)

    cells = {
        (cell.cohort, cell.month): (cell.members, cell.active) for cell in CohortCell.objects.all()
    }
    assert cells == {
        (date(2025, 1, 1), MARCH.start): (4, 2),
        (date(2025, 2, 1), MARCH.start): (2, 1),
    }


def test_recomputing_a_past_period_with_no_new_data_stores_identical_numbers():
    bronze = Tier.objects.create(name="Bronze", rank=1, threshold=0)
    shop = shop_get()
    members = members_create(20, enrolled_at=LONG_AGO)
    for index, member in enumerate(members):
        purchase(member, f"{index + 1}.25", START - timedelta(days=index * 3), shop=shop)
        entry(member, Kind.EARN, index * 10 + 1, START + timedelta(days=index % 28), shop=shop)
        feedback(member, "nps", index % 11, START + timedelta(hours=index))
    tier_change(members[0], bronze, START - timedelta(days=1))

    def stored() -> list[dict]:
        return list(
            KpiSnapshot.objects.order_by("group_key").values(
                *[f.name for f in KpiSnapshot._meta.fields if f.name not in ("id", "computed_at")]
            )
        )

    kpi_period_recompute(period=MARCH)
    first = stored()
    kpi_period_recompute(period=MARCH)

    assert stored() == first
    assert len(first) == 3  # all, Bronze, the shop
