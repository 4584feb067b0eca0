"""Excluding from earning (issue 17): lines the program or a rule excludes, and the part
of a purchase paid with points."""

from decimal import Decimal

import pytest

from rewards.models import EarnRule, Purchase, Tier, TierBasis
from rewards.selectors import program_get
from tests.conftest import earn
from tests.ledger_checks import assert_reconciles

pytestmark = pytest.mark.django_db

Kind = EarnRule.Kind

GIFT = ("GIFT-CARD", "gifts", "1", "50.00")
COFFEE = ("ESP-01", "coffee", "2", "10.00")


@pytest.fixture
def gift_cards_excluded(program):
    program.excluded_skus = "gift-card"
    program.save()
    return program


def post(client, path, member, **body):
    return client.post(
        path,
        {"member": member.external_id, "currency": "EUR", **body},
        format="json",
    )


def lines(*rows):
    return [
        {"sku": sku, "category": category, "quantity": qty, "unit_price": price}
        for sku, category, qty, price in rows
    ]


def test_an_excluded_sku_earns_no_base_points_and_the_response_says_why(
    shop_client, member, gift_cards_excluded
):
    response = post(
        shop_client,
        "/api/v1/purchases",
        member,
        order_id="G-1",
        amount="70.00",
        lines=lines(GIFT, COFFEE),
    )
    assert response.status_code == 201
    body = response.json()
    assert body["points_earned"] == 20
    assert body["items"][0]["description"] == "1 point per EUR on €20.00"
    assert body["excluded"] == [
        {
            "sku": "GIFT-CARD",
            "category": "gifts",
            "amount": "50.00",
            "rule_id": None,
            "reason": "Earns no points: the product GIFT-CARD is excluded from earning.",
        }
    ]
    purchase = Purchase.objects.get(order_id="G-1")
    assert purchase.not_earning_amount == Decimal(50)
    assert_reconciles(member)


def test_an_excluded_category_earns_no_multiplier_either(shop, member, program):
    program.excluded_categories = "tobacco"
    program.save()
    EarnRule.objects.create(
        name="Double everything", kind=Kind.SKU_MULTIPLIER, multiplier=2, targets="CIGS,ESP-01"
    )
    response = earn(
        shop,
        member,
        "40.00",
        lines=[("CIGS", "Tobacco", "1", "20.00"), ("ESP-01", "coffee", "1", "20.00")],
    )
    # 20 base on the coffee, +20 for its ×2; the cigarettes earn nothing at all.
    assert response["points_earned"] == 40
    assert [line["sku"] for line in response["excluded"]] == ["CIGS"]
    assert "×2 on 1 matching line (€20.00)" in response["items"][1]["description"]


def test_a_preview_shows_the_excluded_lines_like_the_purchase(
    shop_client, member, gift_cards_excluded
):
    body = dict(amount="70.00", lines=lines(GIFT, COFFEE))
    preview = post(shop_client, "/api/v1/purchases/preview", member, order_id="P-1", **body)
    preview = preview.json()
    real = post(shop_client, "/api/v1/purchases", member, order_id="P-1", **body).json()
    assert preview["points_earned"] == real["points_earned"] == 20
    assert preview["excluded"] == real["excluded"]
    assert Purchase.objects.count() == 1


def test_a_purchase_without_exclusions_has_no_excluded_list(shop_client, member):
    response = post(
        shop_client, "/api/v1/purchases", member, order_id="N-1", amount="20.00",
        lines=lines(COFFEE),
    )  # fmt: skip
    assert "excluded" not in response.json()


def test_excluded_lines_do_not_count_toward_a_minimum_spend(shop, member, gift_cards_excluded):
    EarnRule.objects.create(
        name="Big basket", kind=Kind.MIN_SPEND_BONUS, bonus_points=25, min_amount=60
    )
    below = earn(shop, member, "70.00", lines=[GIFT, COFFEE])
    assert below["points_earned"] == 20
    above = earn(shop, member, "80.00", lines=[("ESP-01", "coffee", "4", "20.00")])
    assert above["points_earned"] == 105


def test_a_rule_exclusion_leaves_the_line_out_of_that_rule_only(shop, member):
    campaign = EarnRule.objects.create(
        name="Double weekend",
        kind=Kind.CAMPAIGN_MULTIPLIER,
        multiplier=2,
        excluded_categories="coffee",
    )
    response = earn(
        shop, member, "40.00",
        lines=[("ESP-01", "coffee", "1", "20.00"), ("MUG", "homeware", "1", "20.00")],
    )  # fmt: skip
    # Base points on both lines (40), the campaign doubles the mug only (+20).
    assert response["points_earned"] == 60
    assert response["items"][1]["description"] == "×2 on €20.00"
    assert response["excluded"] == [
        {
            "sku": "ESP-01",
            "category": "coffee",
            "amount": "20.00",
            "rule_id": campaign.pk,
            "reason": "Double weekend does not apply to the category coffee.",
        }
    ]


def test_a_rule_exclusion_also_leaves_the_line_out_of_its_minimum_spend(shop, member):
    EarnRule.objects.create(
        name="Big basket",
        kind=Kind.MIN_SPEND_BONUS,
        bonus_points=25,
        min_amount=30,
        excluded_skus="MUG",
    )
    response = earn(
        shop, member, "40.00",
        lines=[("ESP-01", "coffee", "1", "20.00"), ("MUG", "homeware", "1", "20.00")],
    )  # fmt: skip
    assert response["points_earned"] == 40


def test_excluded_lines_do_not_count_toward_a_spend_tier(shop, member, gift_cards_excluded):
    program = program_get()
    program.tier_basis = TierBasis.SPEND
    program.save()
    Tier.objects.create(name="Bronze", rank=1, threshold=0)
    Tier.objects.create(name="Silver", rank=2, threshold=60)
    response = earn(shop, member, "70.00", lines=[GIFT, COFFEE])
    assert response["tier"] == "Bronze"
    response = earn(shop, member, "40.00", lines=[("ESP-01", "coffee", "2", "20.00")])
    assert response["tier"] == "Silver"  # 20 + 40, the gift card not counted


def test_the_points_paid_part_named_by_amount_earns_nothing(shop_client, member):
    response = post(
        shop_client, "/api/v1/purchases", member, order_id="PP-1", amount="50.00",
        points_paid_amount="10.00",
    )  # fmt: skip
    assert response.status_code == 201
    body = response.json()
    assert body["points_earned"] == 40
    assert body["excluded"][0]["reason"] == (
        "Paid with points: this part of the order earns no points."
    )
    purchase = Purchase.objects.get(order_id="PP-1")
    assert (purchase.points_paid_amount, purchase.not_earning_amount) == (10, 10)


def test_the_points_paid_part_named_by_redemption_earns_nothing(shop, shop_client, member):
    earn(shop, member, "500.00")
    redemption = shop_client.post(
        "/api/v1/redemptions",
        {"member": member.external_id, "points": 300},
        format="json",
        HTTP_IDEMPOTENCY_KEY="pay-1",
    ).json()
    assert redemption["discount_amount"] == "3.00"
    response = post(
        shop_client, "/api/v1/purchases", member, order_id="PR-1", amount="50.00",
        redemption_id=redemption["redemption_id"],
    )  # fmt: skip
    assert response.status_code == 201
    assert response.json()["points_earned"] == 47


def test_the_points_paid_part_earns_when_the_program_says_so(shop, member, program):
    program.points_paid_earns = True
    program.save()
    response = earn(shop, member, "50.00", points_paid_amount=Decimal(10))
    assert response["points_earned"] == 50
    assert "excluded" not in response


def test_a_line_multiplier_covers_only_the_cash_part_of_its_line(shop, member):
    EarnRule.objects.create(
        name="Coffee ×3", kind=Kind.CATEGORY_MULTIPLIER, multiplier=3, targets="coffee"
    )
    response = earn(
        shop, member, "40.00", lines=[("ESP-01", "coffee", "1", "40.00")],
        points_paid_amount=Decimal(20),
    )  # fmt: skip
    # 20 EUR paid in cash: 20 base, +40 for ×3 on them.
    assert response["points_earned"] == 60


def test_a_redemption_of_another_member_is_refused_and_nothing_is_written(
    shop, shop_client, member
):
    from tests.factories import MemberFactory

    other = MemberFactory()
    earn(shop, other, "500.00")
    redemption = shop_client.post(
        "/api/v1/redemptions",
        {"member": other.external_id, "points": 100},
        format="json",
        HTTP_IDEMPOTENCY_KEY="other-1",
    ).json()
    response = post(
        shop_client, "/api/v1/purchases", member, order_id="X-1", amount="50.00",
        redemption_id=redemption["redemption_id"],
    )  # fmt: skip
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "redemption_not_found"
    assert not Purchase.objects.filter(order_id="X-1").exists()


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"points_paid_amount": "60.00"}, "points_paid_amount"),
        ({"points_paid_amount": "-1.00"}, "points_paid_amount"),
        ({"points_paid_amount": "1.001"}, "points_paid_amount"),
        ({"redemption_id": "not-a-uuid"}, "redemption_id"),
        (
            {
                "points_paid_amount": "1.00",
                "redemption_id": "6f1c2a4e-0000-4000-8000-000000000000",
            },
            "points_paid_amount",
        ),
    ],
)
def test_bad_points_paid_input_is_refused_with_the_field_named(shop_client, member, extra, field):
    response = post(
        shop_client, "/api/v1/purchases", member, order_id="B-1", amount="50.00", **extra
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert field in response.json()["error"]["fields"]
    assert not Purchase.objects.exists()


def test_the_program_page_says_what_does_not_earn(client, program, gift_cards_excluded):
    rule = EarnRule.objects.create(
        name="Double weekend", kind=Kind.CAMPAIGN_MULTIPLIER, multiplier=2, excluded_skus="MUG"
    )
    body = client.get("/api/v1/program").json()
    not_earning = body["earning"]["not_earning"]
    assert not_earning["skus"] == ["gift-card"]
    assert not_earning["points_paid_earns"] is False
    assert "These products earn no points: gift-card." in not_earning["text"]
    assert "The part of an order you pay with points earns no points." in not_earning["text"]
    text = next(r["text"] for r in body["earning"]["rules"] if r["id"] == rule.pk)
    assert text == "×2 points on every purchase; not on MUG."


def test_no_extra_query_when_nothing_is_excluded(shop, member, django_assert_max_num_queries):
    """The pinned earn count of test_purchases_api (10, with the events insert) and the
    lines' insert: nothing more for exclusions (12 before issue 18)."""
    earn(shop, member, "10.00")
    with django_assert_max_num_queries(11):
        earn(shop, member, "10.00", lines=[COFFEE])


def test_excluded_amounts_are_shown_in_the_currencys_minor_units(shop, member, program):
    program.currency = "JPY"
    program.excluded_skus = "GIFT-CARD"
    program.save()
    response = earn(
        shop, member, "1000", currency="JPY",
        lines=[("GIFT-CARD", "gifts", "1", "333"), ("TEA", "tea", "1", "700")],
    )  # fmt: skip
    # The lines add up to 1033 JPY for a 1000 JPY order: each is scaled down to it.
    assert response["excluded"][0]["amount"] == "322"
    assert response["points_earned"] == 677
